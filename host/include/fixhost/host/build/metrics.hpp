#pragma once
// The figures of a parallel build (docs/BUILD.md, "The figures"), as pure functions of recorded
// durations: no clock, no I/O, so tests and `hostctl stats` get exactly the same numbers.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fixhost::host::build {

struct StreamTiming {
  std::string id;
  std::vector<std::string> depends_on;
  std::int64_t started_ms = 0;  // after the build started
  std::int64_t duration_ms = 0;
};

struct CriticalPath {
  std::int64_t ms = 0;              // chain + merge + integration
  std::int64_t chain_ms = 0;        // the longest dependency chain of stream durations
  std::vector<std::string> chain;   // its streams, first to last
};

// The longest chain of stream durations along depends_on (streams unknown to `streams` count 0;
// a cycle is cut where it closes), plus merge_ms and integration_ms.
CriticalPath critical_path(const std::vector<StreamTiming>& streams, std::int64_t merge_ms = 0,
                           std::int64_t integration_ms = 0);

// Σ duration_ms.
std::int64_t serial_sum(const std::vector<StreamTiming>& streams);

// numerator / denominator; nullopt when the denominator is not positive.
std::optional<double> ratio(double numerator, double denominator);
// serial sum / wall clock: how much faster than one agent after another.
inline std::optional<double> speedup(std::int64_t serial_ms, std::int64_t wall_ms) {
  return ratio(static_cast<double>(serial_ms), static_cast<double>(wall_ms));
}
// wall clock / critical path: 1.0 is a perfect scheduler; above it, time lost to the pool,
// worktrees, merging and waiting.
inline std::optional<double> overhead(std::int64_t wall_ms, std::int64_t critical_ms) {
  return ratio(static_cast<double>(wall_ms), static_cast<double>(critical_ms));
}

// One build's outcome as the rates need it.
struct BuildOutcome {
  bool integration_passed = false;
  std::string failure_cause;      // "" | stream | conflict | contract_check | tests | lint | types
  bool first_try = false;         // passed without --fix attempts
  bool contract_changed = false;  // a contract-owned file changed after the contract stream
};

inline const std::vector<std::string>& failure_causes() {
  static const std::vector<std::string> k = {"stream", "conflict", "contract_check", "tests", "lint", "types"};
  return k;
}

// Per cause: builds that failed for it / builds (every cause present, 0 included); empty for none.
std::map<std::string, double> failure_rate_by_cause(const std::vector<BuildOutcome>& builds);
// Builds whose integration passed at the first try with no contract file changed after the
// contract stream / builds.
std::optional<double> contract_accuracy(const std::vector<BuildOutcome>& builds);

// A text Gantt line per stream over `wall_ms`, `width` columns: "backend   |   ####     |  1.2s".
std::vector<std::string> gantt(const std::vector<StreamTiming>& streams, std::int64_t wall_ms, int width = 40);

}  // namespace fixhost::host::build
