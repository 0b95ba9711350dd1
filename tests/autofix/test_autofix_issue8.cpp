// Issue 8 on autofix: the loop on what real repositories have. Real pytest (and jest), real git
// worktrees; the agent is tests/agents/agent.py in `plan` mode, which knows each seeded bug.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
namespace fs = std::filesystem;

namespace {

const std::string k_suite =
    "[[suites]]\nname = \"py\"\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n"
    "timeout = \"2m\"\n";

struct Run {
  Ran ran;
  nlohmann::json result;
  std::vector<nlohmann::json> calls;  // one per agent call (AGENT_LOG lines with "mode")
};

// hostctl autofix --json with the plan agent; `plan` is the JSON the agent follows.
Run autofix(const GitRepo& repo, const nlohmann::json& plan, std::vector<std::string> extra = {}) {
  TempDir t("fixhost-plan");
  write_file(t.path() / "plan.json", plan.dump());
  const std::string agent = "/usr/bin/python3 " FIXHOST_SOURCE_DIR "/tests/agents/agent.py plan " +
                            (t.path() / "plan.json").string();
  std::vector<std::string> args{"autofix", "--json", "--agent", agent};
  args.insert(args.end(), extra.begin(), extra.end());
  Run r;
  r.ran = repo.hostctl(args, {{"AGENT_LOG", (t.path() / "agent.log").string()}, {"FIXHOST_SANDBOX_WRITABLE", t.path().string()}});
  r.result = nlohmann::json::parse(r.ran.out, nullptr, false);
  std::istringstream in(read_file(t.path() / "agent.log"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.find("\"mode\"") != std::string::npos) r.calls.push_back(nlohmann::json::parse(line));
  return r;
}

std::map<std::string, std::string> outcomes(const nlohmann::json& result) {
  std::map<std::string, std::string> out;
  for (const auto& f : result["fixes"]) out[f["test_id"]] = f["outcome"];
  return out;
}

// The run's branch, checked out on its own, is green under the plain runner.
void check_green_after(const GitRepo& repo, const std::string& branch) {
  TempDir t("fixhost-green");
  auto r = run_in(repo.dir(), {"git", "worktree", "add", "-q", "--detach", (t.path() / "wt").string(), branch});
  REQUIRE(r.code == 0);
  auto py = run_in(t.path() / "wt", {"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"},
                   {{"PYTHONDONTWRITEBYTECODE", "1"}});
  CHECK_MESSAGE(py.code == 0, py.out);
  run_in(repo.dir(), {"git", "worktree", "remove", "--force", (t.path() / "wt").string()});
}

}  // namespace

TEST_CASE("issue 8: one fix of a shared utility cures the failures waiting behind it, with no agent call for them") {
  GitRepo repo({{"pytest.ini", "[pytest]\npythonpath = .\n"},
                {".gitignore", "__pycache__/\n"},
                {"fixhost.toml", "flaky_reruns = 0\n" + k_suite},
                {"pkg/__init__.py", ""},
                {"pkg/text.py", "def norm(s):\n    return s.strip()\n"},
                {"pkg/names.py", "from pkg.text import norm\n\n\ndef key(name):\n    return norm(name)\n"},
                {"tests/test_text.py",
                 "from pkg.text import norm\n\n\ndef test_norm():\n    assert norm(' A ') == 'a'\n\n\n"
                 "def test_norm_plain():\n    assert norm('b') == 'b'\n"},
                {"tests/test_names.py",
                 "from pkg.names import key\n\n\ndef test_key():\n    assert key('Ann') == 'ann'\n\n\n"
                 "def test_key_spaces():\n    assert key(' Bo ') == 'bo'\n\n\ndef test_key_upper():\n    assert key('CY') == 'cy'\n"}});
  nlohmann::json plan = {{"tests/", {{"pkg/text.py", "return s.strip()", "return s.strip().lower()"}}}};
  auto r = autofix(repo, plan);
  INFO("stderr:\n" << r.ran.err << "\nstdout:\n" << r.ran.out);
  REQUIRE(r.result.is_object());
  CHECK(r.ran.code == 0);
  CHECK(r.calls.size() == 1);  // the other three were re-checked in one batch and passed
  CHECK(r.result["agent_calls"] == 1);
  CHECK(r.result["fixed"] == 1);
  CHECK(r.result["cured"] == 3);
  CHECK(r.result["total"] == 4);
  REQUIRE_FALSE(r.result["commit"].is_null());
  std::uint32_t cured = 0;
  for (const auto& e : repo.events("FailureResolved"))
    if (e["outcome"] == "cured") {
      ++cured;
      CHECK(e["resolved_by"] == r.calls[0]["test_id"]);
    }
  CHECK(cured == 3);
  std::uint32_t batches = 0;
  for (const auto& s : repo.events("SuiteStarted"))
    if (s["purpose"] == "recheck") ++batches;
  CHECK(batches == 1);
  check_green_after(repo, r.result["branch"]);
}

TEST_CASE("issue 8: failures hidden behind a file that failed to import are a next round, and the import fix is kept") {
  GitRepo repo({{"pytest.ini", "[pytest]\npythonpath = .\n"},
                {".gitignore", "__pycache__/\n"},
                {"fixhost.toml", "flaky_reruns = 0\n" + k_suite},
                {"pkg/__init__.py", ""},
                {"pkg/m.py", "def one():\n    return 1\n\n\ndef two():\n    return 3\n"},
                {"tests/test_broken.py",
                 "from pkg.m import three\n\n\ndef test_three():\n    assert three() == 3\n\n\n"
                 "def test_three_str():\n    assert str(three()) == '3'\n"},
                {"tests/test_a.py", "from pkg.m import one, two\n\n\ndef test_one():\n    assert one() == 1\n\n\n"
                                    "def test_two():\n    assert two() == 2\n"}});
  // The import fix adds `three` with a wrong value: its tests, hidden until then, fail.
  nlohmann::json plan = nlohmann::json::object();
  plan["::test_three"] = {{"pkg/m.py", "return 4", "return 3"}};
  plan["tests/test_broken.py"] = {{"pkg/m.py", "def two():", "def three():\n    return 4\n\n\ndef two():"}};
  plan["test_two"] = {{"pkg/m.py", "return 3\n", "return 2\n"}};
  auto r = autofix(repo, plan);
  INFO("stderr:\n" << r.ran.err << "\nstdout:\n" << r.ran.out);
  REQUIRE(r.result.is_object());
  CHECK(r.ran.code == 0);
  auto o = outcomes(r.result);
  CHECK(o["tests/test_broken.py"] == "fixed");  // never taken back for the failures it revealed
  CHECK(o["tests/test_a.py::test_two"] == "fixed");
  CHECK(o["tests/test_broken.py::test_three"] == "fixed");
  CHECK(o["tests/test_broken.py::test_three_str"] == "cured");
  CHECK(r.calls.size() == 3);
  REQUIRE(r.result["rounds"].size() == 2);
  CHECK(r.result["rounds"][1]["round"] == 2);
  std::set<std::string> round2(r.result["rounds"][1]["test_ids"].begin(), r.result["rounds"][1]["test_ids"].end());
  CHECK(round2 == std::set<std::string>{"tests/test_broken.py::test_three", "tests/test_broken.py::test_three_str"});
  CHECK(repo.events("RegressionDetected").empty());
  CHECK(repo.events("RoundStarted").size() == 2);
  CHECK(r.result["report"].get<std::string>().find("round 2: 2 failure(s)") != std::string::npos);
  REQUIRE_FALSE(r.result["commit"].is_null());
  check_green_after(repo, r.result["branch"]);
}

TEST_CASE("issue 8: a fix that was not committed is not counted as fixed, and runs shows the summary whole") {
  // The lint takes a minute once the fix is in: the run's budget ends during verification.
  GitRepo repo({{"pytest.ini", "[pytest]\npythonpath = .\n"},
                {".gitignore", "__pycache__/\n"},
                {"fixhost.toml", "flaky_reruns = 0\nlint = [\"/bin/sh\", \"-c\", \"grep -q 'return 2' pkg/m.py && sleep 60; "
                                 "exit 0\"]\n[budget]\nrun = \"12s\"\n" + k_suite},
                {"pkg/__init__.py", ""},
                {"pkg/m.py", "def two():\n    return 3\n"},
                {"tests/test_a.py", "from pkg.m import two\n\n\ndef test_two():\n    assert two() == 2\n"}});
  nlohmann::json plan = {{"test_two", {{"pkg/m.py", "return 3", "return 2"}}}};
  auto r = autofix(repo, plan);
  INFO("stderr:\n" << r.ran.err << "\nstdout:\n" << r.ran.out);
  REQUIRE(r.result.is_object());
  CHECK(r.ran.code == 3);
  CHECK(r.result["commit"].is_null());
  CHECK(r.result["fixed"] == 0);
  CHECK(outcomes(r.result)["tests/test_a.py::test_two"] == "unverified");
  auto resolved = repo.events("FailureResolved");
  REQUIRE_FALSE(resolved.empty());
  CHECK(resolved.back()["outcome"] == "unverified");
  auto finished = repo.events("RunFinished");
  REQUIRE_FALSE(finished.empty());
  const std::string summary = finished.back()["summary"];
  CHECK(summary.find("0/1 failures fixed") == 0);  // never "1/1 failures fixed; nothing committed"
  CHECK(summary.find("nothing committed") != std::string::npos);
  CHECK(summary.find("1 fix(es) made but not committed") != std::string::npos);
  auto runs = repo.hostctl({"runs"});
  CHECK(runs.out.find(summary) != std::string::npos);  // whole, not cut
}

TEST_CASE("issue 8: a suite that does not run in the worktree is said before any agent, and the worktree is gone") {
  std::map<std::string, std::string> files{
      {"pytest.ini", "[pytest]\npythonpath = .\n"},
      {".gitignore", "__pycache__/\nsettings_local.py\n"},
      {"fixhost.toml", "flaky_reruns = 0\n" + k_suite},
      {"conftest.py", "import settings_local  # generated, not in git\n"},
      {"settings_local.py", "DEBUG = True\n"},
      {"pkg/__init__.py", ""},
      {"pkg/m.py", "def two():\n    return 3\n"},
      {"tests/test_a.py", "from pkg.m import two\n\n\ndef test_two():\n    assert two() == 2\n"}};
  nlohmann::json plan = {{"test_two", {{"pkg/m.py", "return 3", "return 2"}}}};
  {
    GitRepo repo(files);
    REQUIRE(fs::exists(repo.dir() / "settings_local.py"));
    auto r = autofix(repo, plan);
    INFO("stderr:\n" << r.ran.err << "\nstdout:\n" << r.ran.out);
    CHECK(r.ran.code == 2);
    CHECK(r.calls.empty());
    CHECK(r.ran.err.find("does not run in the run's worktree") != std::string::npos);
    CHECK(r.ran.err.find("settings_local.py") != std::string::npos);
    CHECK(r.ran.err.find("worktree_include") != std::string::npos);
    CHECK(r.ran.err.find("setup") != std::string::npos);
    CHECK(repo.git({"branch", "--list", "fixhost/*"}).empty());
    CHECK(repo.git({"worktree", "list", "--porcelain"}).find("worktrees") == std::string::npos);
  }
  {
    // A setup command that makes the file in the worktree: the run goes on and fixes.
    files["fixhost.toml"] = "flaky_reruns = 0\n" + k_suite +
                            "setup = [\"/bin/sh\", \"-c\", \"echo 'DEBUG = False' > settings_local.py\"]\n";
    GitRepo repo(files);
    auto r = autofix(repo, plan);
    INFO("stderr:\n" << r.ran.err << "\nstdout:\n" << r.ran.out);
    CHECK(r.ran.code == 0);
    CHECK(r.calls.size() == 1);
    CHECK(repo.git({"show", "--name-only", "--format=", r.result["branch"]}).find("settings_local") == std::string::npos);
  }
}

TEST_CASE("issue 8: a jest suite's node_modules is linked into the worktree by default") {
  const fs::path modules = fs::path(FIXHOST_SOURCE_DIR) / "tests/fixtures/node_modules";
  REQUIRE_MESSAGE(fs::exists(modules / "jest"), "run scripts/setup.sh: tests/fixtures needs its jest");
  GitRepo repo({{"package.json", "{\"name\": \"lnk\", \"private\": true, \"jest\": {\"testEnvironment\": \"node\"}}\n"},
                {".gitignore", "node_modules\n"},
                {"fixhost.toml", "flaky_reruns = 0\n[[suites]]\nname = \"js\"\nrunner = \"jest\"\n"
                                 "command = [\"node\", \"node_modules/jest/bin/jest.js\"]\ntimeout = \"2m\"\n"},
                {"src/sum.js", "module.exports = (a, b) => a - b;\n"},
                {"__tests__/sum.test.js", "const sum = require('../src/sum');\ntest('adds', () => { expect(sum(1, 2)).toBe(3); });\n"}});
  fs::create_directory_symlink(modules, repo.dir() / "node_modules");
  nlohmann::json plan = {{"adds", {{"src/sum.js", "a - b", "a + b"}}}};
  auto r = autofix(repo, plan);
  INFO("stderr:\n" << r.ran.err << "\nstdout:\n" << r.ran.out);
  CHECK(r.ran.code == 0);
  CHECK(r.ran.err.find("linked") != std::string::npos);
  CHECK(r.calls.size() == 1);
  REQUIRE_FALSE(r.result["commit"].is_null());
  CHECK(repo.git({"show", "--name-only", "--format=", r.result["branch"]}) == "src/sum.js\n");
}

TEST_CASE("issue 8: a package named after a protected word is said before the run, with the lines to write") {
  std::map<std::string, std::string> files{
      {"pytest.ini", "[pytest]\npythonpath = .\n"},
      {".gitignore", "__pycache__/\n"},
      {"fixhost.toml", "flaky_reruns = 0\n" + k_suite},
      {"ledger/__init__.py", ""},
      {"ledger/accounts.py", "def balance(xs):\n    return sum(xs) + 1\n"},
      {"ledger/journal.py", "X = 1\n"},
      {"ledger/report.py", "Y = 2\n"},
      {"tests/test_accounts.py", "from ledger.accounts import balance\n\n\ndef test_balance():\n    assert balance([1, 2]) == 3\n"}};
  nlohmann::json plan = {{"test_balance", {{"ledger/accounts.py", "sum(xs) + 1", "sum(xs)"}}}};
  {
    GitRepo repo(files);
    auto r = autofix(repo, plan);
    INFO("stderr:\n" << r.ran.err);
    CHECK(r.ran.code == 2);
    CHECK(r.calls.empty());
    CHECK(r.ran.err.find("'payments' (the word 'ledger') covers 4 of 4 source files") != std::string::npos);
    CHECK(r.ran.err.find("unprotect = [\"ledger/**\"]") != std::string::npos);
    CHECK(repo.git({"branch", "--list", "fixhost/*"}).empty());
  }
  {
    files["fixhost.toml"] = "flaky_reruns = 0\nunprotect = [\"ledger/**\"]\n" + k_suite;
    GitRepo repo(files);
    auto r = autofix(repo, plan);
    INFO("stderr:\n" << r.ran.err);
    CHECK(r.ran.code == 0);
    CHECK(r.calls.size() == 1);
  }
}
