// detect and autofix on the conformance corpus (tests/fixtures/corpus/, issue 8 item 9): every
// figure is checked against the seed file and the runner's own report, and the run branch is
// green under the plain runner afterwards. The agent is tests/agents/corpus_agent.py.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
namespace fs = std::filesystem;

namespace {

const fs::path k_corpus = fs::path(FIXHOST_SOURCE_DIR) / "tests/fixtures/corpus";

nlohmann::json seeded(const std::string& project) {
  return nlohmann::json::parse(read_file(k_corpus / project / "SEEDED.json"));
}

// The project copied into a fresh git repository, with a fixhost.toml for it.
std::unique_ptr<GitRepo> corpus_repo(const std::string& project, const std::string& toml) {
  std::map<std::string, std::string> files;
  const fs::path src = k_corpus / project;
  for (auto it = fs::recursive_directory_iterator(src); it != fs::recursive_directory_iterator(); ++it) {
    const auto name = it->path().filename().string();
    if (it->is_directory() && (name == "node_modules" || name == "__pycache__" || name == "coverage")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && name != "SEEDED.json")
      files[it->path().lexically_relative(src).generic_string()] = read_file(it->path());
  }
  files["fixhost.toml"] = toml;
  return std::make_unique<GitRepo>(files, "fixhost-corpus");
}

// The id without the "::<line>" that tells apart tests sharing a name.
std::string base_id(const std::string& id) {
  static const std::regex dup("::[0-9]+$");
  return std::regex_replace(id, dup, "");
}

std::set<std::string> seeded_failures(const nlohmann::json& seed, bool with_hidden) {
  std::set<std::string> out;
  for (const auto& b : seed["bugs"])
    if (with_hidden || !b.contains("hidden_until"))
      for (const auto& f : b["fails"]) out.insert(f.get<std::string>());
  return out;
}

struct Autofix {
  Ran ran;
  nlohmann::json result;
  std::vector<nlohmann::json> calls;
  double seconds = 0;
};

Autofix autofix(const GitRepo& repo, const std::string& project) {
  TempDir t("fixhost-corpus-agent");
  const std::string agent = "/usr/bin/python3 " FIXHOST_SOURCE_DIR "/tests/agents/corpus_agent.py " +
                            (k_corpus / project / "SEEDED.json").string();
  Autofix a;
  auto t0 = std::chrono::steady_clock::now();
  a.ran = repo.hostctl({"autofix", "--json", "--agent", agent}, {{"AGENT_LOG", (t.path() / "log").string()}, {"FIXHOST_SANDBOX_WRITABLE", t.path().string()}},
                       std::chrono::seconds(900));
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  a.result = nlohmann::json::parse(a.ran.out, nullptr, false);
  std::istringstream in(read_file(t.path() / "log"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) a.calls.push_back(nlohmann::json::parse(line));
  return a;
}

// The run branch checked out on its own passes under the plain runner `argv`.
void check_green(const GitRepo& repo, const std::string& branch, std::vector<std::string> argv, bool link_modules) {
  TempDir t("fixhost-corpus-green");
  const fs::path wt = t.path() / "wt";
  REQUIRE(run_in(repo.dir(), {"git", "worktree", "add", "-q", "--detach", wt.string(), branch}).code == 0);
  if (link_modules) fs::create_directory_symlink(fs::path(FIXHOST_SOURCE_DIR) / "tests/fixtures/node_modules", wt / "node_modules");
  auto r = run_in(wt, argv, {{"PYTHONDONTWRITEBYTECODE", "1"}, {"CI", "true"}}, std::chrono::seconds(300));
  CHECK_MESSAGE(r.code == 0, r.out << r.err);
  run_in(repo.dir(), {"git", "worktree", "remove", "--force", wt.string()});
}

}  // namespace

TEST_CASE("corpus pylib: detect finds what pytest reports, autofix calls the agent once per bug, the tree ends green") {
  const auto seed = seeded("pylib");
  auto repo = corpus_repo("pylib", "flaky_reruns = 1\n[[suites]]\nname = \"py\"\nrunner = \"pytest\"\n"
                                   "command = [\"/usr/bin/python3\", \"-m\", \"pytest\"]\ntimeout = \"3m\"\n");

  // The runner's own report: what pytest itself counts with the flag fixhost adds.
  TempDir t("fixhost-corpus-junit");
  auto own = run_in(repo->dir(), {"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "--continue-on-collection-errors", "--junitxml=" + (t.path() / "r.xml").string()},
                    {{"PYTHONDONTWRITEBYTECODE", "1"}});
  std::smatch m;
  const std::string xml = read_file(t.path() / "r.xml");
  REQUIRE(std::regex_search(xml, m, std::regex("errors=\"([0-9]+)\" failures=\"([0-9]+)\"")));
  const std::size_t reported = std::stoul(m[1]) + std::stoul(m[2]);

  auto det = repo->hostctl({"detect", "--json"});
  INFO("detect stderr:\n" << det.err);
  CHECK(det.code == 1);
  auto arr = json_of(det);
  std::set<std::string> ids;
  for (const auto& f : arr) ids.insert(f["test_id"].get<std::string>());
  CHECK(arr.size() == reported);
  CHECK(arr.size() == seed["totals"]["failing"].get<std::size_t>());
  CHECK(ids == seeded_failures(seed, false));
  for (const auto& b : seed["bugs"])
    if (b.contains("category"))
      for (const auto& f : arr)
        if (std::find(b["fails"].begin(), b["fails"].end(), f["test_id"]) != b["fails"].end()) {
          INFO(f["test_id"]);
          CHECK(f["category"] == b["category"]);
        }
  CHECK(det.err.find("tests/test_rounding.py") != std::string::npos);  // the collection error, said loudly

  auto a = autofix(*repo, "pylib");
  INFO("autofix stderr:\n" << a.ran.err);
  REQUIRE(a.result.is_object());
  MESSAGE("pylib autofix: " << a.calls.size() << " agent calls, " << a.result["fixed"] << " fixed, " << a.result["cured"]
                            << " cured, " << a.result["rounds"].size() << " rounds, " << a.seconds << " s");
  CHECK(a.ran.code == 0);
  std::size_t wasted = 0;
  for (const auto& c : a.calls) wasted += !c.value("applied", false);
  CHECK(wasted == 0);  // no agent call for a failure an earlier fix had cured
  CHECK(a.calls.size() == seed["bugs"].size());
  CHECK(a.result["total"] == seed["totals"]["failing_in_all_rounds"]);
  CHECK(a.result["fixed"].get<int>() + a.result["cured"].get<int>() == a.result["total"].get<int>());
  CHECK(a.result["rounds"].size() == 2);  // the bug hidden behind the collection error is round 2
  REQUIRE_FALSE(a.result["commit"].is_null());
  check_green(*repo, a.result["branch"], {"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"}, false);
}

TEST_CASE("corpus jslib: jest with coverage, a missing module, duplicate titles, lines not in the file") {
  const auto seed = seeded("jslib");
  auto repo = corpus_repo("jslib", "flaky_reruns = 0\n[[suites]]\nname = \"js\"\nrunner = \"jest\"\n"
                                   "command = [\"node\", \"node_modules/jest/bin/jest.js\"]\ntimeout = \"5m\"\n");
  fs::create_directory_symlink(fs::path(FIXHOST_SOURCE_DIR) / "tests/fixtures/node_modules", repo->dir() / "node_modules");

  auto det = repo->hostctl({"detect", "--json"});
  INFO("detect stderr:\n" << det.err);
  CHECK(det.code == 1);
  auto arr = json_of(det);
  CHECK(arr.size() == seed["totals"]["failing"].get<std::size_t>());
  std::set<std::string> ids, bases;
  for (const auto& f : arr) {
    ids.insert(f["test_id"].get<std::string>());
    bases.insert(base_id(f["test_id"]));
  }
  CHECK(ids.size() == arr.size());  // duplicate titles are distinct failures
  CHECK(bases == seeded_failures(seed, true));
  for (const auto& f : arr) {
    if (f["test_id"] == "__tests__/legacy.test.js") CHECK(f["category"] == "missing_dependency");
    // No file:line past the end of its file is passed on (coverage instruments the code).
    const fs::path file = repo->dir() / f["file"].get<std::string>();
    if (f["line"].get<int>() > 0 && fs::is_regular_file(file)) {
      const auto text = read_file(file);
      CHECK_MESSAGE(f["line"].get<long>() <= std::count(text.begin(), text.end(), '\n') + 1,
                    f["test_id"] << " " << f["file"] << ":" << f["line"]);
    }
  }

  auto a = autofix(*repo, "jslib");
  INFO("autofix stderr:\n" << a.ran.err);
  REQUIRE(a.result.is_object());
  MESSAGE("jslib autofix: " << a.calls.size() << " agent calls, " << a.result["fixed"] << " fixed, " << a.result["cured"]
                            << " cured, " << a.seconds << " s");
  CHECK(a.ran.code == 0);
  std::size_t wasted = 0;
  for (const auto& c : a.calls) wasted += !c.value("applied", false);
  CHECK(wasted == 0);
  CHECK(a.calls.size() == seed["bugs"].size());
  CHECK(a.result["fixed"].get<int>() + a.result["cured"].get<int>() == seed["totals"]["failing"].get<int>());
  REQUIRE_FALSE(a.result["commit"].is_null());
  check_green(*repo, a.result["branch"], {"node", "node_modules/jest/bin/jest.js", "--ci"}, true);
}
