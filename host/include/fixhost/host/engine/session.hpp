#pragma once
// What one run of a workflow (autofix, heal, build) shares with the engine: the config, the
// run's log, its worktree, how agents are contained, the clock, and the run's record of what
// went wrong. Not thread-safe: one thread drives a session (the log has one writer).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fixhost/host/config.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/sandbox.hpp"

namespace fixhost::host::engine {

using Clock = std::chrono::steady_clock;
class Workspace;

// The run's cost cap (max_cost_usd) for code that starts attempts without a session at hand
// (a build's scheduler): the reason when the run's known spend has reached it, recording
// BudgetExceeded run_cost once per run; nullopt while there is money left or no cap.
Result<std::optional<std::string>> run_cost_cap(RunContext& run, const Config& cfg, const std::string& test_id,
                                                std::uint32_t attempt);

struct Session {
  Session(const Config& c, RunContext& r, Workspace& w) : cfg(c), run(r), ws(w) {}
  const Config& cfg;
  RunContext& run;
  Workspace& ws;
  RunSandbox sandbox;  // how agents, lint and typecheck are contained
  std::string agent;   // the agent command (sh -c)
  Clock::time_point deadline = Clock::now() + std::chrono::hours(24 * 365);
  std::function<void(const std::string&)> progress;

  // The run's state, shared by the phases.
  bool stop = false;         // no more attempts
  std::string stop_reason;   // why (shown for each failure not attempted)
  std::string commit_note;   // why nothing may be committed ("" = it may)
  bool budget_exceeded = false;
  bool cost_exceeded = false;  // a cost budget (max_cost_usd, max_attempt_cost_usd) stopped it
  std::uint32_t agent_calls = 0;
  std::vector<std::string> violations;   // for the report: "`test` attempt N: rule path: detail"
  std::vector<std::string> regressions;  // "`broken` (check) broken by the fix for `test`"

  void say(const std::string& s) const {
    if (progress) progress(s);
  }
  std::chrono::milliseconds remaining() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  }
  bool over_budget() const { return remaining().count() <= 0; }
  // At least 1 s and at most what is left of the run (for the host's own commands).
  std::chrono::milliseconds command_timeout(std::chrono::milliseconds limit) const;
  // The config with every suite's timeout cut to what is left of the run's budget.
  Config bounded() const;
  // One suite of bounded(), by name (it exists: failures name the suite they came from).
  SuiteConfig bounded_suite(const std::string& name) const;
  // Records BudgetExceeded and stops the run.
  Status exceed(const std::string& budget, std::int64_t limit_ms, std::int64_t used_ms, const std::string& test_id,
                std::uint32_t attempt);
  // The run's cost cap (max_cost_usd, docs/USAGE.md), asked before each new attempt: true when
  // the known spend of the run has reached it; BudgetExceeded run_cost is then recorded (once
  // per run) and the session stops.
  Result<bool> cost_cap_reached(const std::string& test_id, std::uint32_t attempt);
  // Records BudgetExceeded for a cost budget (run_cost | attempt_cost) and stops the run.
  Status exceed_cost(const std::string& budget, double limit_usd, double used_usd, const std::string& test_id,
                     std::uint32_t attempt);
  // Records a fact, dropping what plugins derived from it.
  template <class P>
  Status record(const P& payload, std::uint64_t cause = 0) {
    auto r = run.publish(payload, cause);
    return r.is_ok() ? Status::ok() : r.status();
  }
};

}  // namespace fixhost::host::engine
