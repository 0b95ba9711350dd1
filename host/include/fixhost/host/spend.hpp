#pragma once
// What the agents of one run said they spent (FIXHOST_USAGE_FILE, docs/USAGE.md), added up
// for the cost rails. Thread-safe: a build's streams report from their own threads.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "fixhost/events/payloads.hpp"

namespace fixhost::host {

struct SpendTotals {
  double cost_usd = 0;                  // the sum of the known costs
  std::uint32_t attempts_costed = 0;    // attempts that reported a cost
  std::uint32_t attempts_cost_unknown = 0;  // attempts that reported none (no file, no cost_usd, malformed)
  std::int64_t input_tokens = 0, output_tokens = 0;  // sums of the reported ones
};

class Spend {
 public:
  // Adds one attempt's report; returns the totals after it.
  SpendTotals add(const events::AgentUsage& u);
  SpendTotals totals() const;
  // True the first time it is called with `what` (a warning said, an event recorded once per run).
  bool first(const std::string& what);

 private:
  mutable std::mutex mu_;
  SpendTotals t_;
  std::set<std::string> said_;
};

// An agent's usage file, read: `usage.known` false when the file is absent or malformed, and
// then `warning` says (for a malformed one) which file and what was wrong. Never throws.
struct UsageRead {
  events::AgentUsage usage;
  std::string warning;
};
UsageRead read_usage_file(const std::filesystem::path& file);

// "$0.0123" (4 decimals below $1, else 2), or "unknown" for a negative cost.
std::string format_usd(double usd);

}  // namespace fixhost::host
