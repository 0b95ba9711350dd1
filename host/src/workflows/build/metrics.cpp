// The build figures (metrics.hpp): critical path over the dependency DAG, rates, the Gantt lines.
#include "fixhost/host/build/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

namespace fixhost::host::build {

CriticalPath critical_path(const std::vector<StreamTiming>& streams, std::int64_t merge_ms, std::int64_t integration_ms) {
  std::map<std::string, const StreamTiming*> by_id;
  for (const auto& s : streams) by_id[s.id] = &s;
  // finish[id] = duration + max finish of its dependencies, memoised; `on_stack` cuts cycles.
  std::map<std::string, std::pair<std::int64_t, std::string>> memo;  // id -> (finish, predecessor)
  std::set<std::string> on_stack;
  std::function<std::int64_t(const std::string&)> finish = [&](const std::string& id) -> std::int64_t {
    auto it = by_id.find(id);
    if (it == by_id.end() || on_stack.count(id)) return 0;
    if (auto m = memo.find(id); m != memo.end()) return m->second.first;
    on_stack.insert(id);
    std::int64_t best = 0;
    std::string pred;
    for (const auto& d : it->second->depends_on) {
      if (!by_id.count(d)) continue;
      std::int64_t f = finish(d);
      if (pred.empty() || f > best) best = f, pred = d;
    }
    on_stack.erase(id);
    std::int64_t total = best + it->second->duration_ms;
    memo[id] = {total, pred};
    return total;
  };
  CriticalPath cp;
  std::string last;
  for (const auto& s : streams) {
    std::int64_t f = finish(s.id);
    if (last.empty() || f > cp.chain_ms) cp.chain_ms = f, last = s.id;
  }
  for (std::string at = last; !at.empty(); at = memo[at].second) cp.chain.insert(cp.chain.begin(), at);
  cp.ms = cp.chain_ms + merge_ms + integration_ms;
  return cp;
}

std::int64_t serial_sum(const std::vector<StreamTiming>& streams) {
  std::int64_t sum = 0;
  for (const auto& s : streams) sum += s.duration_ms;
  return sum;
}

std::optional<double> ratio(double numerator, double denominator) {
  if (!(denominator > 0)) return std::nullopt;
  return numerator / denominator;
}

std::map<std::string, double> failure_rate_by_cause(const std::vector<BuildOutcome>& builds) {
  std::map<std::string, double> out;
  if (builds.empty()) return out;
  for (const auto& c : failure_causes()) out[c] = 0;
  for (const auto& b : builds)
    if (!b.integration_passed && !b.failure_cause.empty()) out[b.failure_cause] += 1;
  for (auto& [c, n] : out) n /= static_cast<double>(builds.size());
  return out;
}

std::optional<double> contract_accuracy(const std::vector<BuildOutcome>& builds) {
  double good = 0;
  for (const auto& b : builds)
    if (b.integration_passed && b.first_try && !b.contract_changed) good += 1;
  return ratio(good, static_cast<double>(builds.size()));
}

std::vector<std::string> gantt(const std::vector<StreamTiming>& streams, std::int64_t wall_ms, int width) {
  std::size_t name_w = 0;
  for (const auto& s : streams) name_w = std::max(name_w, s.id.size());
  std::int64_t span = wall_ms;
  for (const auto& s : streams) span = std::max(span, s.started_ms + s.duration_ms);
  std::vector<std::string> out;
  for (const auto& s : streams) {
    std::string bar(static_cast<std::size_t>(width), ' ');
    if (span > 0) {
      auto col = [&](std::int64_t ms) {
        return static_cast<int>(std::clamp<std::int64_t>(ms * width / span, 0, width));
      };
      int from = col(s.started_ms);
      int to = std::max(col(s.started_ms + s.duration_ms), from + 1);
      for (int i = from; i < std::min(to, width); ++i) bar[static_cast<std::size_t>(i)] = '#';
    }
    char times[64];
    std::snprintf(times, sizeof times, " %6.1fs - %6.1fs", static_cast<double>(s.started_ms) / 1000.0,
                  static_cast<double>(s.started_ms + s.duration_ms) / 1000.0);
    std::string name = s.id;
    name.resize(name_w, ' ');
    out.push_back(name + " |" + bar + "|" + times);
  }
  return out;
}

}  // namespace fixhost::host::build
