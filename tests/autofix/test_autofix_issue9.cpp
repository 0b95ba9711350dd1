// Issue 9 on autofix: nothing unjudged is committed, and fixhost's own git commands run clean.
// Real pytest, real git; the agent is tests/agents/agent.py in `plan` mode.
#include <doctest/doctest.h>

#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
namespace fs = std::filesystem;

namespace {

const std::string k_suite =
    "flaky_reruns = 0\n[[suites]]\nname = \"py\"\nrunner = \"pytest\"\n"
    "command = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\ntimeout = \"2m\"\n";

std::map<std::string, std::string> project() {
  return {{"pytest.ini", "[pytest]\npythonpath = .\n"},
          {".gitignore", "__pycache__/\n"},
          {"fixhost.toml", k_suite},
          {"pkg/__init__.py", ""},
          {"pkg/m.py", "def two():\n    return 3\n"},
          {"pkg/payments.py", "RATE = 1\n"},
          {"tests/test_a.py", "from pkg.m import two\n\n\ndef test_two():\n    assert two() == 2\n"}};
}

Ran autofix(const GitRepo& repo, std::map<std::string, std::string> env = {}) {
  TempDir t("fixhost-plan");
  env["FIXHOST_SANDBOX_WRITABLE"] = t.path().string();  // the sandbox's /tmp is private: let the agent read its plan
  write_file(t.path() / "plan.json", R"({"test_two": [["pkg/m.py", "return 3", "return 2"]]})");
  return repo.hostctl({"autofix", "--json", "--agent",
                       "/usr/bin/python3 " FIXHOST_SOURCE_DIR "/tests/agents/agent.py plan " + (t.path() / "plan.json").string()},
                      env);
}

}  // namespace

TEST_CASE("issue 9: a change made after the attempts were judged is never committed and stops the run") {
  auto files = project();
  // Once the fix is in, this test (run at verify, after every attempt was judged) edits a
  // protected file and adds a new one: what a process left behind by an agent would do.
  files["tests/test_late.py"] =
      "import pathlib\n\n\ndef test_late():\n    if 'return 2' in pathlib.Path('pkg/m.py').read_text():\n"
      "        pathlib.Path('pkg/payments.py').write_text('RATE = 2\\n')\n        pathlib.Path('pkg/new.py').write_text('X = 1\\n')\n";
  GitRepo repo(files);
  auto r = autofix(repo);
  INFO("stderr:\n" << r.err << "\nstdout:\n" << r.out);
  auto result = json_of(r);
  CHECK(result["commit"].is_null());
  CHECK(r.code == 1);
  bool flagged = false;
  for (const auto& v : repo.events("PolicyViolation"))
    if (v["rule"] == "unjudged_change") {
      flagged = true;
      CHECK(v["detail"].get<std::string>().find("pkg/payments.py") != std::string::npos);
      CHECK(v["detail"].get<std::string>().find("pkg/new.py") != std::string::npos);
    }
  CHECK(flagged);
  CHECK_FALSE(repo.events("HumanAlert").empty());
  CHECK(repo.git({"branch", "--list", "--format=%(objectname)", result["branch"]}) ==
        repo.git({"rev-parse", "HEAD"}));  // the run branch never moved
}

TEST_CASE("issue 9: the commit holds only the judged diff, not files the suites wrote before the first attempt") {
  auto files = project();
  files["tests/test_writes.py"] = "import pathlib\n\n\ndef test_writes():\n    pathlib.Path('scratch.txt').write_text('x')\n";
  GitRepo repo(files);
  auto r = autofix(repo);
  INFO("stderr:\n" << r.err << "\nstdout:\n" << r.out);
  auto result = json_of(r);
  CHECK(r.code == 0);
  REQUIRE_FALSE(result["commit"].is_null());
  CHECK(repo.git({"show", "--name-only", "--format=", result["commit"]}) == "pkg/m.py\n");
}

TEST_CASE("issue 9: hooks and global git config never run inside fixhost's own git commands") {
  TempDir home("fixhost-home");
  const fs::path marker = home.path() / "ran";
  const std::string hook = "#!/bin/sh\necho \"$0\" >> " + marker.string() + "\n";
  write_file(home.path() / "hooks/post-checkout", hook);
  write_file(home.path() / "hooks/pre-commit", hook);
  write_file(home.path() / "fsmonitor.sh", hook);
  fs::permissions(home.path() / "hooks/post-checkout", fs::perms::owner_all);
  fs::permissions(home.path() / "hooks/pre-commit", fs::perms::owner_all);
  fs::permissions(home.path() / "fsmonitor.sh", fs::perms::owner_all);
  write_file(home.path() / ".gitconfig", "[core]\n\thooksPath = " + (home.path() / "hooks").string() +
                                             "\n\tfsmonitor = " + (home.path() / "fsmonitor.sh").string() + "\n");
  GitRepo repo(project());
  // A hook of the repository itself, as an agent (or the user) may have installed.
  write_file(repo.dir() / ".git/hooks/post-checkout", hook);
  fs::permissions(repo.dir() / ".git/hooks/post-checkout", fs::perms::owner_all);
  auto r = autofix(repo, {{"HOME", home.path().string()}, {"XDG_CONFIG_HOME", home.path().string()}});
  INFO("stderr:\n" << r.err << "\nstdout:\n" << r.out);
  CHECK(r.code == 0);
  CHECK_FALSE(json_of(r)["commit"].is_null());
  CHECK_MESSAGE(!fs::exists(marker), "a hook ran: " << read_file(marker));
}
