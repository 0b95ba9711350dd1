// fixhost.toml parsing and suite detection, on real files in a temp directory.
#include <unistd.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <vector>
#include <fstream>

#include "fixhost/host/config.hpp"
#include "fixhost/host/world/suite_runner.hpp"

using namespace fixhost::host;
namespace fs = std::filesystem;

namespace {
struct TempRepo {
  fs::path dir;
  TempRepo() {
    dir = fs::temp_directory_path() / ("fixhost-cfg-" + std::to_string(::getpid()) + "-" + std::to_string(rand()));
    fs::create_directories(dir);
  }
  ~TempRepo() { fs::remove_all(dir); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel) << text;
  }
};
}  // namespace

TEST_CASE("a full fixhost.toml is read") {
  TempRepo r;
  r.write("fixhost.toml", R"(
python = "/usr/bin/python3"
agent = "my-agent --fix"
max_attempts = 2
flaky_reruns = 0
protected = ["billing/**"]
lint = ["flake8", "src"]
[budget]
run = "1h30m"
attempt = 90
[[suites]]
name = "py"
runner = "pytest"
command = ["/usr/bin/python3", "-m", "pytest", "tests"]
timeout = "2m"
[[suites]]
runner = "jest"
cwd = "web"
[plugins.classifier]
replace_defaults = true
)");
  auto c = load_config(r.dir);
  REQUIRE_MESSAGE(c.is_ok(), c.status().to_string());
  CHECK(c->agent == "my-agent --fix");
  CHECK(c->max_attempts == 2);
  CHECK(c->flaky_reruns == 0);
  CHECK(c->run_budget.count() == 5400);
  CHECK(c->attempt_budget.count() == 90);
  REQUIRE(c->suites.size() == 2);
  CHECK(c->suites[0].timeout.count() == 120);
  CHECK(c->suites[1].name == "jest");
  CHECK(c->suites[1].cwd == "web");
  CHECK(c->protected_paths == std::vector<std::string>{"billing/**"});
  REQUIRE(c->plugin_config.count("classifier") == 1);
  CHECK(c->plugin_config["classifier"].find("replace_defaults = true") != std::string::npos);
}

TEST_CASE("errors name the file, the place and the fix") {
  TempRepo r;
  r.write("fixhost.toml", "[[suites]]\nrunner = \"mocha\"\n");
  auto c = load_config(r.dir);
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().message().find("fixhost.toml") != std::string::npos);
  CHECK(c.status().message().find("runner") != std::string::npos);
  CHECK(c.status().message().find("\"pytest\", \"jest\" or \"junit\"") != std::string::npos);  // issue 12: junit runners

  r.write("fixhost.toml", "max_attempts = = 3\n");
  auto bad = load_config(r.dir);
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("line 1") != std::string::npos);

  r.write("fixhost.toml", "[budget]\nrun = \"soon\"\n");
  auto d = load_config(r.dir);
  REQUIRE_FALSE(d.is_ok());
  CHECK(d.status().message().find("budget.run") != std::string::npos);
}

TEST_CASE("without fixhost.toml pytest and jest are detected and the choice explained") {
  TempRepo r;
  r.write("tests/test_x.py", "def test_x():\n    assert True\n");
  r.write("package.json", R"({"devDependencies": {"jest": "^30"}})");
  ::setenv("FIXHOST_PYTHON", "/usr/bin/python3", 1);
  auto c = load_config(r.dir);
  ::unsetenv("FIXHOST_PYTHON");
  REQUIRE(c.is_ok());
  REQUIRE(c->suites.size() == 2);
  CHECK(c->suites[0].runner == "pytest");
  CHECK(c->suites[0].command[0] == "/usr/bin/python3");
  CHECK(c->suites[1].runner == "jest");
  bool explained = false;
  for (const auto& n : c->notes) explained |= n.find("fixhost.toml") != std::string::npos;
  CHECK(explained);
}

TEST_CASE("single-test argv drops path arguments and adds the test id") {
  TempRepo r;
  r.write("tests/test_x.py", "");
  SuiteConfig s;
  s.runner = "pytest";
  s.command = {"/usr/bin/python3", "-m", "pytest", "tests", "-x"};
  SuiteRequest req;
  req.root = r.dir;
  req.test_ids = {"tests/test_x.py::test_a[it's a \"b\"]"};
  auto argv = suite_argv(s, req, "/tmp/r.xml");
  CHECK(std::find(argv.begin(), argv.end(), "tests") == argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "-x") != argv.end());
  CHECK(std::find(argv.begin(), argv.end(), req.test_ids[0]) != argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "--continue-on-collection-errors") != argv.end());
  CHECK(std::find(argv.begin(), argv.end(), "--junitxml=/tmp/r.xml") != argv.end());

  auto [file, name] = split_jest_test_id("__tests__/a.test.js::outer \xE2\x80\xBA inner \xE2\x80\xBA adds (1+1)");
  CHECK(file == "__tests__/a.test.js");
  CHECK(name == "outer inner adds (1+1)");
  SuiteConfig j;
  j.runner = "jest";
  j.command = {"node", "node_modules/.bin/jest"};
  req.test_ids = {"__tests__/a.test.js::outer \xE2\x80\xBA adds (1+1)"};
  auto jargv = suite_argv(j, req, "/tmp/r.json");
  auto t = std::find(jargv.begin(), jargv.end(), "-t");
  REQUIRE(t != jargv.end());
  // Each " › " matches a space (between describe blocks) or itself (inside a test.each title).
  CHECK(*(t + 1) == "^outer(?: | \xE2\x80\xBA )adds \\(1\\+1\\)$");
}

// Issue 8: a single-test re-run keeps the suite's command whole.
TEST_CASE("re-run argv keeps a script, goes after -- for npm, follows a rerun template, and batches") {
  TempRepo r;
  r.write("run-tests.sh", "exec /usr/bin/python3 -m pytest \"$@\"\n");
  r.write("tests/test_x.py", "");
  r.write("test/a.test.js", "");
  SuiteRequest req;
  req.root = r.dir;
  req.test_ids = {"tests/test_x.py::test_a", "tests/test_x.py::test_b"};

  SuiteConfig script;
  script.name = "py";
  script.runner = "pytest";
  script.command = {"/bin/sh", "run-tests.sh"};
  auto argv = suite_argv(script, req, "/tmp/r.xml");
  REQUIRE(argv.size() >= 4);
  CHECK(argv[0] == "/bin/sh");
  CHECK(argv[1] == "run-tests.sh");  // today's bug: the script was dropped as a path argument
  CHECK(argv[2] == "tests/test_x.py::test_a");
  CHECK(argv[3] == "tests/test_x.py::test_b");  // both tests in one process
  CHECK(narrowing_note(script).find("rerun") != std::string::npos);

  script.rerun = {"/bin/sh", "run-tests.sh", "-q", "{tests}"};
  argv = suite_argv(script, req, "/tmp/r.xml");
  CHECK(std::vector<std::string>(argv.begin(), argv.begin() + 5) ==
        std::vector<std::string>{"/bin/sh", "run-tests.sh", "-q", "tests/test_x.py::test_a", "tests/test_x.py::test_b"});
  CHECK(narrowing_note(script).empty());

  SuiteConfig npm;
  npm.name = "js";
  npm.runner = "jest";
  npm.command = {"npm", "test"};
  req.test_ids = {"test/a.test.js::adds::3", "test/a.test.js::adds::7"};
  auto jargv = suite_argv(npm, req, "/tmp/r.json");
  REQUIRE(jargv.size() >= 5);
  CHECK(jargv[0] == "npm");
  CHECK(jargv[1] == "test");  // not dropped although test/ exists
  CHECK(jargv[2] == "--");
  CHECK(jargv[3] == "test/a\\.test\\.js");
  auto t = std::find(jargv.begin(), jargv.end(), "-t");
  REQUIRE(t != jargv.end());
  CHECK(*(t + 1) == "^(?:(?:adds)|(?:adds))$");  // the "::<line>" of a duplicate name is not part of it
  CHECK(narrowing_note(npm).empty());
}

TEST_CASE("config notes: no fixhost.toml, a file without [[suites]], python only for pytest") {
  TempRepo r;
  r.write("package.json", "{\"devDependencies\": {\"jest\": \"^30\"}}\n");
  auto c = load_config(r.dir);
  REQUIRE(c.is_ok());
  std::string notes;
  for (const auto& n : c->notes) notes += n + "\n";
  CHECK(notes.find("no fixhost.toml") != std::string::npos);
  CHECK(notes.find("ython") == std::string::npos);  // no pytest suite: nothing about Python

  r.write("fixhost.toml", "max_attempts = 2\n");
  c = load_config(r.dir);
  REQUIRE(c.is_ok());
  notes.clear();
  for (const auto& n : c->notes) notes += n + "\n";
  CHECK(notes.find("no fixhost.toml") == std::string::npos);
  CHECK(notes.find("has no [[suites]]") != std::string::npos);

  r.write("fixhost.toml", "[[suites]]\nname = \"x\"\nrunner = \"pytest\"\nrerun = [\"sh\", \"t.sh\"]\n");
  c = load_config(r.dir);
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().message().find("{tests}") != std::string::npos);
}

TEST_CASE("issue 9: [sandbox] is on by default and each of its keys is read") {
  TempRepo r;
  r.write("pytest.ini", "[pytest]\n");
  auto d = load_config(r.dir, false);
  REQUIRE(d.is_ok());
  CHECK(d->sandbox.enabled);
  CHECK(d->sandbox.network);
  CHECK(d->sandbox.bwrap == "bwrap");
  CHECK(std::find(d->sandbox.hidden.begin(), d->sandbox.hidden.end(), "~/.ssh") != d->sandbox.hidden.end());
  r.write("fixhost.toml", R"(
[sandbox]
enabled = false
network = false
read_only = ["/opt/models"]
writable = ["~/.claude", "~/.claude.json"]
hidden = []
bwrap = "/usr/local/bin/bwrap"
)");
  auto c = load_config(r.dir, false);
  REQUIRE(c.is_ok());
  CHECK_FALSE(c->sandbox.enabled);
  CHECK_FALSE(c->sandbox.network);
  CHECK(c->sandbox.read_only == std::vector<std::string>{"/opt/models"});
  CHECK(c->sandbox.writable == std::vector<std::string>{"~/.claude", "~/.claude.json"});
  CHECK(c->sandbox.hidden.empty());
  CHECK(c->sandbox.bwrap == "/usr/local/bin/bwrap");
}

TEST_CASE("issue 9: a wrong [sandbox] key or value names the key and what it must be") {
  TempRepo r;
  r.write("pytest.ini", "[pytest]\n");
  for (auto [toml, says] : std::vector<std::pair<std::string, std::string>>{
           {"[sandbox]\nenabled = \"no\"\n", "sandbox.enabled must be true or false"},
           {"[sandbox]\nwritable = \"~/.claude\"\n", "sandbox.writable must be an array of strings"},
           {"[sandbox]\nnetwrok = false\n", "sandbox.netwrok is not a sandbox setting"},
           {"sandbox = true\n", "sandbox must be a table"}}) {
    CAPTURE(toml);
    r.write("fixhost.toml", toml);
    auto c = load_config(r.dir, false);
    REQUIRE_FALSE(c.is_ok());
    CHECK(c.status().message().find(says) != std::string::npos);
  }
}
