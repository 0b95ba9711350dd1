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

}  // namespace fixhost::host::engine
