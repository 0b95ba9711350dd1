#include "fixhost/host/engine/session.hpp"

#include "fixhost/host/engine/detect.hpp"

#include <algorithm>

namespace fixhost::host::engine {

std::chrono::milliseconds Session::command_timeout(std::chrono::milliseconds limit) const {
  return std::max(std::chrono::milliseconds(1000), std::min(limit, remaining()));
}

Config Session::bounded() const {
  Config c = cfg;
  for (auto& s : c.suites) s = bounded_suite(s.name);
  return c;
}

SuiteConfig Session::bounded_suite(const std::string& name) const {
  SuiteConfig s = *suite_named(cfg, name);
  auto left = std::chrono::duration_cast<std::chrono::seconds>(remaining()) + std::chrono::seconds(1);
  s.timeout = std::min(s.timeout, std::max(left, std::chrono::seconds(1)));
  if (sandbox.on) s.sandbox = std::make_shared<const SandboxLayout>(sandbox.layout);
  return s;
}

Status Session::exceed(const std::string& budget, std::int64_t limit_ms, std::int64_t used_ms,
                       const std::string& test_id, std::uint32_t attempt) {
  events::BudgetExceeded b;
  b.budget = budget;
  b.limit = limit_ms;
  b.used = used_ms;
  b.test_id = test_id;
  b.attempt = attempt;
  budget_exceeded = true;
  stop = true;
  stop_reason = budget == "attempt_time" ? "an agent attempt ran out of its time budget; the run stopped"
                                         : "the run's time budget ran out";
  say("budget exceeded: " + budget + " (" + std::to_string(limit_ms / 1000) + " s)");
  return record(b);
}

namespace {
events::BudgetExceeded cost_budget(RunContext& run, const std::string& budget, double limit_usd, double used_usd,
                                   const std::string& test_id, std::uint32_t attempt) {
  events::BudgetExceeded b;
  b.budget = budget;
  b.limit_usd = limit_usd;
  b.used_usd = used_usd;
  b.attempts_cost_unknown = run.spend().totals().attempts_cost_unknown;
  b.test_id = test_id;
  b.attempt = attempt;
  return b;
}
std::string unknown_note(std::uint32_t n) {
  return n ? "; " + std::to_string(n) + " attempt(s) reported no cost and are not counted" : "";
}
std::string run_cost_reason(double limit_usd, double used_usd, std::uint32_t unknown) {
  return "the run's cost cap max_cost_usd = " + format_usd(limit_usd) + " was reached (" + format_usd(used_usd) +
         " spent" + unknown_note(unknown) + ")";
}
}  // namespace

Result<std::optional<std::string>> run_cost_cap(RunContext& run, const Config& cfg, const std::string& test_id,
                                                std::uint32_t attempt) {
  if (cfg.max_cost_usd <= 0) return std::optional<std::string>();
  const auto t = run.spend().totals();
  if (t.cost_usd < cfg.max_cost_usd) return std::optional<std::string>();
  if (run.spend().first("run_cost"))  // once per run, whichever session or scheduler sees it first
    if (auto r = run.publish(cost_budget(run, "run_cost", cfg.max_cost_usd, t.cost_usd, test_id, attempt)); !r)
      return r.status();
  return std::optional<std::string>(run_cost_reason(cfg.max_cost_usd, t.cost_usd, t.attempts_cost_unknown));
}

Result<bool> Session::cost_cap_reached(const std::string& test_id, std::uint32_t attempt) {
  auto why = run_cost_cap(run, cfg, test_id, attempt);
  if (!why) return why.status();
  if (!*why) return false;
  budget_exceeded = cost_exceeded = true;
  stop = true;
  stop_reason = **why;
  say("budget exceeded: " + stop_reason);
  return true;
}

Status Session::exceed_cost(const std::string& budget, double limit_usd, double used_usd, const std::string& test_id,
                            std::uint32_t attempt) {
  auto b = cost_budget(run, budget, limit_usd, used_usd, test_id, attempt);
  budget_exceeded = cost_exceeded = true;
  stop = true;
  stop_reason = budget == "run_cost" ? run_cost_reason(limit_usd, used_usd, b.attempts_cost_unknown)
                                     : "`" + test_id + "` attempt " + std::to_string(attempt) + " reported " +
                                           format_usd(used_usd) + ", over max_attempt_cost_usd = " +
                                           format_usd(limit_usd) + "; the run stopped";
  say("budget exceeded: " + stop_reason);
  return record(b);
}

}  // namespace fixhost::host::engine
