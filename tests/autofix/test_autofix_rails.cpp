// The safety rails, each tripped by a scripted agent that misbehaves in one way. Every one must
// be enforced by the host (revert + event), whatever the agent does.
#include "project.hpp"

using namespace fixhost::test;

namespace {

std::vector<std::string> rules(const Project& p) {
  std::vector<std::string> out;
  for (const auto& v : p.events("PolicyViolation")) out.push_back(v["rule"]);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// A rejected attempt leaves nothing behind in the worktree: the test file is as committed.
void check_nothing_kept(const Project& p, const nlohmann::json& j) {
  CHECK(j["commit"].is_null());
  const std::string wt = j["worktree"];
  CHECK(read_file(fs::path(wt) / "tests/test_util.py") == read_file(p.dir / "tests/test_util.py"));
}

}  // namespace

TEST_CASE("rails: each kind of tampering is a policy violation and is reverted") {
  struct Case {
    const char* mode;
    const char* rule;
    bool sandboxed = true;  // a commit fails in the sandbox (test_autofix_sandbox.cpp); this is the fallback
  };
  for (auto c : {Case{"skip", "skip_marker"}, Case{"delete", "test_deleted"}, Case{"weaken", "assertion_weakened"},
                 Case{"protected", "protected_path"}, Case{"commit", "git_tampering", false},
                 Case{"escape", "path_escape"}}) {
    CAPTURE(c.mode);
    Project p(std::string("max_attempts = 2\n") + (c.sandboxed ? "" : "[sandbox]\nenabled = false\n"));
    const auto main_before = p.git("rev-parse main");
    auto r = p.autofix(c.mode);
    INFO(r.out);
    CHECK(r.code == 1);
    auto j = Project::json_of(r);
    auto found = rules(p);
    CHECK(has(found, c.rule));
    // Every attempt on every failure was rejected and reverted: nothing is kept or committed.
    bool policy_revert = false;
    for (const auto& e : p.events("Reverted")) policy_revert |= e["reason"] == "policy";
    CHECK(policy_revert);
    CHECK(j["fixed"] == 0);
    check_nothing_kept(p, j);
    CHECK(p.git("rev-parse main") == main_before);
    const std::string branch = j["branch"];
    CHECK(p.git("rev-parse " + branch) == main_before);  // an agent's commit was undone
    CHECK_FALSE(fs::exists(fs::path(j["worktree"].get<std::string>()) / "calc/auth/tokens.py"));
    CHECK_FALSE(fs::is_symlink(fs::path(j["worktree"].get<std::string>()) / "calc/passwd_link"));
    // The agent sees why in its next attempt's history.
    auto calls = p.agent_calls();
    REQUIRE(calls.size() >= 2);
    REQUIRE(calls[1]["history"].size() == 1);
    CHECK(calls[1]["history"][0]["outcome"] == "policy_violation");
    CHECK(calls[1]["history"][0]["reason"].get<std::string>().find(c.rule) != std::string::npos);
  }
}

TEST_CASE("rails: an agent that hangs is killed with its process group at the attempt budget and the run ends with its report") {
  Project p;
  auto r = p.hostctl("autofix --json --attempt-budget 2s --agent '" + agent("hang") + "'");
  INFO(r.out);
  CHECK(r.code == 3);
  auto j = Project::json_of(r);
  CHECK(j["budget_exceeded"] == true);
  auto b = p.events("BudgetExceeded");
  REQUIRE(b.size() == 1);
  CHECK(b[0]["budget"] == "attempt_time");
  CHECK(b[0]["limit"] == 2000);
  auto fin = p.events("AttemptFinished");
  REQUIRE(fin.size() == 1);
  CHECK(fin[0]["timed_out"] == true);
  // The agent's child (sleep 300, in its group, ignoring nothing) is gone too.
  CHECK(sh("pgrep -f 'agent[.]py hang$'").code != 0);
  CHECK(p.events("ReportWritten").size() == 1);
  // The second failure was never handed over: the run stopped.
  CHECK(p.agent_calls().size() == 1);
  CHECK(j["fixes"][1]["outcome"] == "not_attempted");
  auto runs = nlohmann::json::parse(p.hostctl("runs --json").out);
  CHECK(runs.back()["outcome"] == "budget_exceeded");
}

TEST_CASE("rails: the run's wall-time budget stops the run cleanly") {
  Project p;
  auto r = p.hostctl("autofix --json --budget 1s --agent '" + agent("correct") + "'");
  INFO(r.out);
  CHECK(r.code == 3);
  auto b = p.events("BudgetExceeded");
  REQUIRE_FALSE(b.empty());
  CHECK(b[0]["budget"] == "run_time");
  CHECK(p.events("ReportWritten").size() == 1);
}

TEST_CASE("rails: at most max_attempts attempts, then unfixable with the reason and the last error") {
  Project p;
  auto r = p.autofix("wrong");
  INFO(r.out);
  CHECK(r.code == 1);
  auto j = Project::json_of(r);
  auto calls = p.agent_calls();
  std::size_t on_add = 0;
  for (const auto& c : calls) on_add += c["test_id"] == "tests/test_util.py::test_add";
  CHECK(on_add == 3);
  const auto& f = j["fixes"][0];
  CHECK(f["outcome"] == "unfixable");
  CHECK(f["attempts"] == 3);
  CHECK(f["reason"].get<std::string>().find("used all 3 attempts") != std::string::npos);
  CHECK(f["last_error"].get<std::string>().find("AssertionError") != std::string::npos);
  CHECK_FALSE(f["suggestion"].get<std::string>().empty());
}

TEST_CASE("rails: an agent that gives up ends that failure at once") {
  Project p;
  auto r = p.autofix("give_up");
  INFO(r.out);
  CHECK(r.code == 1);
  auto j = Project::json_of(r);
  CHECK(p.agent_calls().size() == 2);  // once per failure
  CHECK(j["fixes"][0]["attempts"] == 1);
  CHECK(j["fixes"][0]["reason"].get<std::string>().find("gave up") != std::string::npos);
}

TEST_CASE("rails: an agent writing into the user's checkout is caught, alerted on, and the run stops") {
  Project p("[sandbox]\nenabled = false\n");  // the fallback: in the sandbox the write fails (test_autofix_sandbox.cpp)
  auto r = p.autofix("outside");
  INFO(r.out);
  CHECK(r.code == 1);
  auto alerts = p.events("HumanAlert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0]["summary"].get<std::string>().find("outside its worktree") != std::string::npos);
  CHECK(has(rules(p), "git_tampering"));
  CHECK(p.agent_calls().size() == 1);
}

TEST_CASE("rails: a fix after which fewer tests are collected is reverted (tests_collected_dropped)") {
  Project p;
  auto r = p.autofix("narrow_collection");
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(has(rules(p), "tests_collected_dropped"));
  auto reg = p.events("RegressionDetected");
  REQUIRE(reg.size() == 1);
  CHECK(reg[0]["caused_by"] == "tests/test_util.py::test_add");
  CHECK(reg[0]["broken"].get<std::string>().find("from 3 to 2") != std::string::npos);
  auto j = Project::json_of(r);
  REQUIRE(j["commit"].is_string());  // the other fix is kept and committed
  CHECK(p.git("show " + j["branch"].get<std::string>() + ":pytest.ini").find("python_files") == std::string::npos);
}
