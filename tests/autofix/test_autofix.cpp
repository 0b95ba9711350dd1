// The autofix loop end to end: real pytest, real git worktrees, scripted agents.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <thread>

#include "project.hpp"

using namespace fixhost::test;

namespace {

// Everything of the user's checkout a run must leave alone: every file outside .git and the
// store, the index, HEAD, the refs (stash included) and git's own view of the changes.
std::string checkout_fingerprint(const Project& p) {
  std::ostringstream s;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(p.dir); it != fs::recursive_directory_iterator(); ++it) {
    const auto name = it->path().filename().string();
    if (it->is_directory() && (name == ".git" || name == ".fixhost" || name == "__pycache__" || name == ".pytest_cache")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) s << f.string() << "\n" << read_file(f) << "\n";
  s << "index:" << read_file(p.dir / ".git/index").size() << std::hash<std::string>{}(read_file(p.dir / ".git/index"));
  s << "\nHEAD:" << read_file(p.dir / ".git/HEAD");
  s << "\nrefs:" << p.git("for-each-ref --format='%(refname) %(objectname)' refs/heads/main refs/stash");
  s << "\nstatus:" << p.git("--no-optional-locks status --porcelain=v2 --untracked-files=all");
  s << "\nstash:" << p.git("stash list");
  return s.str();
}

// Uncommitted work of every kind: a stash, a staged change, an unstaged change, an untracked file.
void make_dirty(Project& p) {
  write_file(p.dir / "NOTES.md", "stash me\n");
  REQUIRE(sh("git add NOTES.md && git stash -q", p.dir).code == 0);
  write_file(p.dir / "calc/fmt.py", read_file(p.dir / "calc/fmt.py") + "\n# my staged comment\n");
  REQUIRE(sh("git add calc/fmt.py", p.dir).code == 0);
  write_file(p.dir / "calc/util.py", read_file(p.dir / "calc/util.py") + "\n# my unstaged comment\n");
  write_file(p.dir / "scratch.txt", "untracked work in progress\n");
}

// Starts `hostctl autofix --agent CMD` in the background and returns once `ready` holds of the
// log (polled), a moment later.
pid_t start_autofix(const Project& p, const std::string& agent_cmd, const std::function<bool()>& ready) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    if (::chdir(p.dir.c_str()) != 0) ::_exit(127);
    ::execl(FIXHOST_HOSTCTL, "hostctl", "-q", "autofix", "--agent", agent_cmd.c_str(), (char*)nullptr);
    ::_exit(127);
  }
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    started = ready();
  }
  REQUIRE(started);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return pid;
}

// The hanging agent (its command line carries `marker`), once it is running.
pid_t start_hanging_autofix(const Project& p, const std::string& marker) {
  return start_autofix(p, agent("hang " + marker), [&] { return !p.events("AttemptStarted").empty(); });
}

}  // namespace

TEST_CASE("autofix fixes both failures in import order, commits on its branch and leaves a dirty checkout byte-identical") {
  // An untracked, ignored file a test needs reaches the worktree through worktree_include.
  Project p("worktree_include = [\".env\"]\n");
  write_file(p.dir / ".gitignore", "__pycache__/\n.env\n");
  write_file(p.dir / "tests/test_env.py", "import pathlib\n\n\ndef test_env_file():\n    assert pathlib.Path('.env').read_text() == 'TOKEN=1\\n'\n");
  REQUIRE(sh("git add -A && git -c user.name=t -c user.email=t@e commit -qm env", p.dir).code == 0);
  write_file(p.dir / ".env", "TOKEN=1\n");
  make_dirty(p);
  const auto before = checkout_fingerprint(p);
  const auto main_before = p.git("rev-parse main");
  auto r = p.autofix("correct", "--report " + (p.dir / ".fixhost/report.md").string());
  INFO(r.out);
  CHECK(r.code == 0);
  auto j = Project::json_of(r);
  CHECK(j["fixed"] == 2);
  CHECK(j["total"] == 2);
  REQUIRE(j["commit"].is_string());
  const std::string run = j["run_id"];
  const std::string branch = "fixhost/autofix-" + run;
  CHECK(j["branch"] == branch);

  // The user's checkout: untouched, on the same commit, with all of its uncommitted work.
  CHECK(checkout_fingerprint(p) == before);
  CHECK(p.git("rev-parse main") == main_before);

  // Utilities first: util.py (imported by fmt.py) before fmt.py.
  auto calls = p.agent_calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0]["test_id"] == "tests/test_util.py::test_add");
  CHECK(calls[1]["test_id"] == "tests/test_fmt.py::test_label");
  // The agent ran in the worktree, was told so, and its prompt carries the test's source.
  CHECK(calls[0]["cwd"] == j["worktree"]);
  CHECK(calls[0]["repo"] == j["worktree"]);
  CHECK(calls[0]["prompt_has_test"] == true);
  CHECK(calls[0]["history"].empty());

  // One commit on the run branch with both fixes and a per-fix summary; the user's uncommitted
  // edits are not in it.
  CHECK(p.git("rev-parse " + branch + "^") == main_before);
  CHECK(fs::exists(fs::path(j["worktree"].get<std::string>()) / ".env"));
  const auto msg = p.git("log -1 --format=%B " + branch);
  CHECK(msg.find("tests/test_util.py::test_add") != std::string::npos);
  CHECK(msg.find("category: logic_bug") != std::string::npos);
  CHECK(msg.find("files: calc/util.py") != std::string::npos);
  CHECK(p.git("show " + branch + ":calc/util.py").find("return a + b") != std::string::npos);
  CHECK(p.git("show " + branch + ":calc/fmt.py").find("my staged comment") == std::string::npos);
  CHECK(p.git("ls-tree -r --name-only " + branch).find(".env\n") == std::string::npos);  // brought in, never committed

  // The story is in the log.
  CHECK(p.events("AttemptStarted").size() == 2);
  auto reruns = p.events("TestRerun");
  REQUIRE(reruns.size() == 2);
  CHECK(reruns[0]["passed"] == true);
  auto committed = p.events("Committed");
  REQUIRE(committed.size() == 1);
  CHECK(committed[0]["commit"] == j["commit"]);
  auto resolved = p.events("FailureResolved");
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0]["outcome"] == "fixed");
  CHECK(resolved[0]["approach"] == "util.add subtracted; made it add");
  auto report = read_file(p.dir / ".fixhost/report.md");
  CHECK(report.find("2/2 failures fixed") != std::string::npos);
  CHECK(report.find("| calc") == std::string::npos);  // the file column is the test's file
  CHECK(report.find("tests/test_util.py:5") != std::string::npos);
  CHECK(p.events("ReportWritten").size() == 1);
  auto runs = nlohmann::json::parse(p.hostctl("runs --json").out);
  CHECK(runs.back()["outcome"] == "ok");
}

TEST_CASE("a failed attempt is reverted and the next one sees it in its history") {
  Project p;
  auto r = p.autofix("second_try");
  INFO(r.out);
  CHECK(r.code == 0);
  auto calls = p.agent_calls();
  REQUIRE(calls.size() == 4);  // two attempts for each failure
  CHECK(calls[0]["test_id"] == "tests/test_util.py::test_add");
  CHECK(calls[1]["test_id"] == "tests/test_util.py::test_add");
  CHECK(calls[0]["attempt"] == 1);
  CHECK(calls[1]["attempt"] == 2);
  REQUIRE(calls[1]["history"].size() == 1);
  CHECK(calls[1]["history"][0]["outcome"] == "test_failed");
  CHECK(calls[1]["history"][0]["diff"].get<std::string>().find("# looked at") != std::string::npos);
  auto reverted = p.events("Reverted");
  REQUIRE(reverted.size() == 2);
  CHECK(reverted[0]["reason"] == "test_failed");
  // The harmless first change is not in the commit: the attempt was reverted exactly.
  auto j = Project::json_of(r);
  CHECK(p.git("show " + j["branch"].get<std::string>() + ":calc/util.py").find("looked at") == std::string::npos);
  CHECK(j["fixes"][0]["attempts"] == 2);
}

TEST_CASE("a fix that breaks another test is found at verify time and reverted, the rest is committed") {
  Project p;
  auto r = p.autofix("breaks_other");
  INFO(r.out);
  CHECK(r.code == 1);
  auto j = Project::json_of(r);
  CHECK(j["fixed"] == 1);
  REQUIRE(j["commit"].is_string());
  auto reg = p.events("RegressionDetected");
  REQUIRE(reg.size() == 1);
  CHECK(reg[0]["broken"] == "tests/test_other.py::test_mul");
  CHECK(reg[0]["caused_by"] == "tests/test_util.py::test_add");
  bool regression_revert = false;
  for (const auto& e : p.events("Reverted"))
    if (e["reason"] == "regression" && e["test_id"] == "tests/test_util.py::test_add") regression_revert = true;
  CHECK(regression_revert);
  const std::string branch = j["branch"];
  CHECK(p.git("show " + branch + ":calc/util.py").find("a * b + 1") == std::string::npos);
  CHECK(p.git("show " + branch + ":calc/fmt.py").find("str(x)") != std::string::npos);
  for (const auto& f : j["fixes"])
    if (f["test_id"] == "tests/test_util.py::test_add") {
      CHECK(f["outcome"] == "unfixable");
      CHECK(f["reason"].get<std::string>().find("tests/test_other.py::test_mul") != std::string::npos);
    }
}

TEST_CASE("a lint finding a fix introduces is a regression, one that was there before is not") {
  // fmt.py starts with an unused import (a finding before any change).
  Project p("lint = [\"/usr/bin/python3\", \"-m\", \"flake8\", \"--select=F\", \"calc\"]\n");
  write_file(p.dir / "calc/fmt.py", "import sys\n" + read_file(p.dir / "calc/fmt.py"));
  REQUIRE(sh("git commit -qam 'unused import' --author='t <t@e>' -c user.name=t 2>/dev/null || "
             "git -c user.name=t -c user.email=t@e commit -qam 'unused import'",
             p.dir)
              .code == 0);
  SUBCASE("a clean fix keeps the old finding and commits") {
    auto r = p.autofix("correct");
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(p.events("RegressionDetected").empty());
  }
  SUBCASE("a fix adding an unused import is reverted") {
    write_file(p.dir / "calc/util.py", read_file(p.dir / "calc/util.py"));
    auto r = p.autofix("unused_import");
    INFO(r.out);
    CHECK(r.code == 1);
    auto reg = p.events("RegressionDetected");
    REQUIRE(reg.size() == 1);
    CHECK(reg[0]["check"] == "lint");
    CHECK(reg[0]["broken"].get<std::string>().find("F401") != std::string::npos);
    CHECK(reg[0]["caused_by"] == "tests/test_util.py::test_add");
  }
}

TEST_CASE("autofix refuses a directory that is not a git repository, and a missing agent") {
  auto dir = fs::temp_directory_path() / ("fixhost-nogit-" + std::to_string(::getpid()));
  fs::create_directories(dir / "tests");
  write_file(dir / "tests/test_a.py", "def test_a():\n    assert False\n");
  write_file(dir / "fixhost.toml", "[[suites]]\nname = \"py\"\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n");
  auto r = sh(std::string(FIXHOST_HOSTCTL) + " autofix --agent true --store " + (dir / "store").string(), dir);
  CHECK(r.code == 2);
  CHECK(r.out.find("is not a git repository") != std::string::npos);
  fs::remove_all(dir);

  Project p;
  auto r2 = p.hostctl("autofix");
  CHECK(r2.code == 2);
  CHECK(r2.out.find("no agent command") != std::string::npos);
}

TEST_CASE("SIGKILL of hostctl mid-attempt: the log stays readable, the run shows aborted, the checkout is untouched, discard cleans up") {
  Project p;
  make_dirty(p);
  const auto before = checkout_fingerprint(p);
  const std::string marker = "sigkill-" + std::to_string(::getpid());
  // Once the agent is running, kill hostctl outright.
  const pid_t pid = start_hanging_autofix(p, marker);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // The agent lives in its own process group; the test cleans it up.
  sh("pkill -KILL -f 'agent[.]py hang " + marker + "'; true");

  auto runs = p.hostctl("runs --json");
  REQUIRE(runs.code == 0);
  auto rj = nlohmann::json::parse(runs.out);
  REQUIRE(rj.size() == 1);
  CHECK(rj[0]["outcome"] == "aborted");
  const std::string run = rj[0]["run_id"];
  CHECK(p.hostctl("events --json").code == 0);
  CHECK(checkout_fingerprint(p) == before);

  CHECK(fs::exists(p.dir / ".fixhost/worktrees" / run));
  auto d = p.hostctl("discard " + run);
  INFO(d.out);
  CHECK(d.code == 0);
  CHECK_FALSE(fs::exists(p.dir / ".fixhost/worktrees" / run));
  CHECK(p.git("branch --list 'fixhost/*'").empty());
  CHECK(checkout_fingerprint(p) == before);
  // And the store still takes a new run.
  CHECK(p.hostctl("detect --no-flaky-check").code == 1);
}

TEST_CASE("Ctrl-C stops the agent's group, reverts the attempt and ends the run with its report (exit 130)") {
  Project p;
  const std::string marker = "sigint-" + std::to_string(::getpid());
  const pid_t pid = start_hanging_autofix(p, marker);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(sh("pgrep -f 'agent[.]py hang " + marker + "'").code != 0);  // the agent's group is gone
  auto reverted = p.events("Reverted");
  REQUIRE(reverted.size() == 1);
  CHECK(reverted[0]["reason"] == "interrupted");
  CHECK(p.events("ReportWritten").size() == 1);
  auto runs = nlohmann::json::parse(p.hostctl("runs --json").out);
  CHECK(runs.back()["outcome"] == "aborted");
  CHECK(runs.back()["exit_code"] == 130);
}

TEST_CASE("Ctrl-C during verification commits nothing and ends the run with its report") {
  // The lint command hangs once the fix is in (at verify time), not at the baseline.
  Project p("lint = [\"/bin/sh\", \"-c\", \"grep -q 'a + b' calc/util.py && sleep 60; true\"]\n");
  const pid_t pid = start_autofix(p, agent("correct"), [&] {
    auto lint = p.events("SuiteStarted");
    return std::count_if(lint.begin(), lint.end(), [](const nlohmann::json& s) { return s["suite"] == "lint"; }) >= 2;
  });
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(p.events("Committed").empty());
  CHECK(p.events("RegressionDetected").empty());  // killed checks prove nothing
  CHECK(p.events("ReportWritten").size() == 1);
  auto runs = nlohmann::json::parse(p.hostctl("runs --json").out);
  CHECK(runs.back()["outcome"] == "aborted");
}

// Issue 9 (torture): SIGKILL of autofix at random points of a whole run (worktree creation,
// detect, an attempt, the re-run, verify, the commit): the checkout stays byte-identical, the
// log readable, and discard cleans up. FIXHOST_TORTURE_LONG=1 kills 40 times instead of 6.
TEST_CASE("issue 9: SIGKILL of autofix at random points leaves the checkout byte-identical and discard cleans up") {
  const int kills = std::getenv("FIXHOST_TORTURE_LONG") ? 40 : 6;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(50, 6000);
  for (int i = 0; i < kills; ++i) {
    Project p;
    make_dirty(p);
    const auto before = checkout_fingerprint(p);
    const int ms = delay_ms(rng);
    INFO("kill " << i << " after " << ms << " ms");
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::setpgid(0, 0);
      if (::chdir(p.dir.c_str()) != 0) ::_exit(127);
      const std::string a = agent("correct");
      ::execl(FIXHOST_HOSTCTL, "hostctl", "-q", "autofix", "--agent", a.c_str(), (char*)nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::kill(-pid, SIGKILL);  // what it had started, in its group
    std::this_thread::sleep_for(std::chrono::milliseconds(100));

    CHECK(checkout_fingerprint(p) == before);
    if (!fs::exists(p.dir / ".fixhost")) {  // killed before it opened the store: nothing to clean
      CHECK(p.git("branch --list 'fixhost/*'").empty());
      continue;
    }
    auto runs = p.hostctl("runs --json");
    if (runs.code != 0) {  // killed while the store was being created: it says so, and holds nothing
      CHECK_MESSAGE(runs.out.find("holds no events: its creator stopped") != std::string::npos, runs.out);
      CHECK(p.git("branch --list 'fixhost/*'").empty());
      continue;
    }
    CHECK(p.hostctl("events --json").code == 0);
    auto rj = nlohmann::json::parse(runs.out);
    for (const auto& r : rj) {
      const std::string run = r["run_id"];
      auto d = p.hostctl("discard " + run);
      CHECK_MESSAGE(d.code == 0, d.out);
      CHECK_FALSE(fs::exists(p.dir / ".fixhost/worktrees" / run));
    }
    CHECK(p.git("branch --list 'fixhost/*'").empty());
    CHECK(checkout_fingerprint(p) == before);
  }
}
