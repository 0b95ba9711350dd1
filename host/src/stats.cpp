#include "fixhost/host/stats.hpp"

#include <cereal/archives/binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>
#include <unordered_map>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/spend.hpp"

namespace fixhost::host {
namespace {

using events::EventType;
using Json = nlohmann::ordered_json;

// Keys that are always present (with zeros) so that a report has the same shape on every store.
const std::vector<std::string> k_categories = {"missing_dependency", "type_error", "logic_bug", "stale_mock",
                                               "env_mismatch",       "flaky",      "unknown"};
const std::vector<std::string> k_revert_reasons = {"test_failed", "policy", "regression", "budget", "gave_up"};
const std::vector<std::string> k_policy_rules = {"protected_path", "test_deleted",  "skip_marker",
                                                 "assertion_weakened", "test_edited", "git_tampering",
                                                 "path_escape", "tests_collected_dropped"};
// FailureResolved::reason_kind, then (older logs) the last Reverted reason; "none" when neither.
const std::vector<std::string> k_unfixable_reasons = {"attempts",   "test_failed", "policy",        "regression", "budget",
                                                      "gave_up",    "unverified",  "not_attempted", "none"};
const std::vector<std::string> k_modes = {"detect", "autofix", "build", "heal", "replay", "sample"};

// ---- the projection's records -------------------------------------------------------------
// Each record is small and an event touches a fixed number of them, so folding an append costs
// the same on a log of any size. All values are cereal binary; a run id never holds a NUL, so
// "<run>\0" ends it:
//   s/<run>                            RunSummary: mode, start, per-category sums, heal, build
//   x/<run>\0<test_id>                 TestWork: what the fold knows of one test of the run
//   d/<run>\0<be64 seq>                a SuiteFinished of purpose detect (empty value)
//   f/<issue_id>                       be64 ts of the issue's first SentryIssueIngested or IssueTriaged
//                                      (any run; since version 5, before: i/<run>\0<issue_id>)
//   q/<run>\0<be64 seq>                PrWork of the PrOpened with that seq
//   pr/<number>                        <run>\0<be64 seq>: the PrOpened last seen with that number
//   st/<run>\0<stream>                 StreamWork
//   sw/<run>\0<category>\0<us><test>   a fix wall time of the run (empty value)
//   t/modes                            Totals: the summaries of all started runs, by mode
//   tw/<category>\0<us><run>\0<test>   a fix wall time of an autofix run (empty value)
// <us> is the wall time in microseconds as be64 with the sign bit flipped (key order is
// numeric order).

// One test in one run.
struct TestWork {
  bool detected = false;          // a FailureDetected caused by a SuiteFinished of purpose detect
  bool flake = false;             // a FlakeDetected
  std::string classified;         // category of its first FailureClassified
  bool attempted = false;
  std::string attempt_category;   // category of its first AttemptStarted
  std::int64_t first_attempt_us = 0;
  std::string outcome;            // of its last FailureResolved; "" when none
  std::uint32_t attempts = 0;
  std::int64_t resolved_us = 0;
  std::string last_revert;        // reason of its last Reverted; "" when none
  std::map<std::string, std::uint64_t> reverts;     // Reverted by reason
  std::map<std::string, std::uint64_t> violations;  // PolicyViolation by rule
  std::string reason_kind;        // of its last FailureResolved
  // Since version 5: what its attempts reported spending (AttemptFinished v2 usage), the cost in
  // micro-USD so that sums stay exact however often they are taken out and put back.
  std::int64_t cost_micro = 0;
  std::uint32_t attempts_costed = 0, attempts_cost_unknown = 0;
  template <class Ar> void serialize(Ar& ar) {
    ar(detected, flake, classified, attempted, attempt_category, first_attempt_us, outcome, attempts, resolved_us,
       last_revert, reverts, violations, reason_kind, cost_micro, attempts_costed, attempts_cost_unknown);
  }
};

struct PrWork {
  std::uint64_t number = 0;
  std::int64_t opened_us = 0;
  std::int64_t from_us = 0;  // first SentryIssueIngested of its issue in the run, else RunStarted
  bool resolved = false;
  std::string state;  // merged | closed
  std::uint32_t human_commits = 0;
  std::int32_t recurrence = -1;  // last ErrorRecurrenceChecked: -1 none, 0 came back, 1 stopped
  template <class Ar> void serialize(Ar& ar) { ar(number, opened_us, from_us, resolved, state, human_commits, recurrence); }
};

struct StreamWork {
  bool finished = false;
  bool conflicted = false;
  template <class Ar> void serialize(Ar& ar) { ar(finished, conflicted); }
};

// m += sign * o; entries that reach 0 are dropped.
void add_counts(std::map<std::string, std::uint64_t>& m, const std::map<std::string, std::uint64_t>& o, int sign) {
  for (const auto& [k, v] : o) {
    if (sign > 0) {
      m[k] += v;
      continue;
    }
    auto it = m.find(k);
    if (it == m.end()) continue;
    it->second -= std::min(it->second, v);
    if (it->second == 0) m.erase(it);
  }
}

// Autofix figures of one category, summable over tests and runs.
struct CategorySum {
  std::uint64_t tests = 0;  // tests of the category; a category with none is not listed
  std::uint64_t failures = 0, fixed = 0, unfixable = 0, flaky = 0, attempts_fixed = 0, cured = 0;
  std::map<std::string, std::uint64_t> reverts, violations, unfixable_reasons;
  std::vector<std::int64_t> fix_wall_us;  // filled in by queries from the wall records; not stored
  // Since version 5: the reported spend of the attempts on its tests (micro-USD), and how many
  // attempts reported a cost and how many did not.
  std::int64_t cost_micro = 0;
  std::uint64_t attempts_costed = 0, attempts_cost_unknown = 0;
  template <class Ar> void serialize(Ar& ar) {
    ar(tests, failures, fixed, unfixable, flaky, attempts_fixed, cured, reverts, violations, unfixable_reasons,
       cost_micro, attempts_costed, attempts_cost_unknown);
  }
  void add(const CategorySum& o, int sign = 1) {
    auto u = [sign](std::uint64_t& a, std::uint64_t b) { a = sign > 0 ? a + b : a - std::min(a, b); };
    u(tests, o.tests), u(failures, o.failures), u(fixed, o.fixed), u(unfixable, o.unfixable), u(flaky, o.flaky);
    u(attempts_fixed, o.attempts_fixed), u(cured, o.cured);
    cost_micro += sign * o.cost_micro;
    u(attempts_costed, o.attempts_costed), u(attempts_cost_unknown, o.attempts_cost_unknown);
    add_counts(reverts, o.reverts, sign);
    add_counts(violations, o.violations, sign);
    add_counts(unfixable_reasons, o.unfixable_reasons, sign);
    if (sign > 0) fix_wall_us.insert(fix_wall_us.end(), o.fix_wall_us.begin(), o.fix_wall_us.end());
  }
};

using Categories = std::map<std::string, CategorySum>;

void add_categories(Categories& m, const Categories& o, int sign) {
  for (const auto& [cat, c] : o) {
    if (sign > 0) {
      m[cat].add(c);
      continue;
    }
    auto it = m.find(cat);
    if (it == m.end()) continue;
    it->second.add(c, -1);
    if (it->second.tests == 0) m.erase(it);
  }
}

struct HealSum {
  std::uint64_t prs = 0, checked = 0, stopped = 0, resolved = 0, false_positive = 0, merged = 0, overridden = 0;
  std::int64_t time_to_pr_us = 0;
  // Since version 5: groups the agent was asked to reproduce (first reproduce attempts) and
  // those that ended not reproduced (FailureResolved reason_kind not_reproduced).
  std::uint64_t reproductions = 0, not_reproduced = 0;
  template <class Ar> void serialize(Ar& ar) {
    ar(prs, checked, stopped, resolved, false_positive, merged, overridden, time_to_pr_us, reproductions, not_reproduced);
  }
  void add(const HealSum& o, int sign = 1) {
    auto u = [sign](std::uint64_t& a, std::uint64_t b) { a = sign > 0 ? a + b : a - b; };
    u(prs, o.prs), u(checked, o.checked), u(stopped, o.stopped), u(resolved, o.resolved);
    u(false_positive, o.false_positive), u(merged, o.merged), u(overridden, o.overridden);
    u(reproductions, o.reproductions), u(not_reproduced, o.not_reproduced);
    time_to_pr_us += sign * o.time_to_pr_us;
  }
};

// The integration failure causes of WorktreesMerged.failure_cause, in report order.
const std::vector<std::string> k_build_causes = {"stream", "conflict", "contract_check", "tests", "lint", "types"};

struct BuildSum {
  std::uint64_t merges = 0, integration_failed = 0, conflicts = 0, streams = 0, streams_conflicted = 0;
  std::int64_t wall_ms = 0, serial_ms = 0;
  // Since version 4: merges with a critical path (WorktreesMerged v2), their wall and critical
  // sums, failures by cause (k_build_causes order) and the contract-accurate merges.
  std::uint64_t critical_merges = 0, contract_accurate = 0;
  std::int64_t critical_wall_ms = 0, critical_ms = 0;
  std::vector<std::uint64_t> causes = std::vector<std::uint64_t>(k_build_causes.size(), 0);
  template <class Ar> void serialize(Ar& ar) {
    ar(merges, integration_failed, conflicts, streams, streams_conflicted, wall_ms, serial_ms, critical_merges,
       contract_accurate, critical_wall_ms, critical_ms, causes);
  }
  void add(const BuildSum& o, int sign = 1) {
    auto u = [sign](std::uint64_t& a, std::uint64_t b) { a = sign > 0 ? a + b : a - b; };
    u(merges, o.merges), u(integration_failed, o.integration_failed), u(conflicts, o.conflicts);
    u(streams, o.streams), u(streams_conflicted, o.streams_conflicted);
    wall_ms += sign * o.wall_ms, serial_ms += sign * o.serial_ms;
    u(critical_merges, o.critical_merges), u(contract_accurate, o.contract_accurate);
    critical_wall_ms += sign * o.critical_wall_ms, critical_ms += sign * o.critical_ms;
    causes.resize(k_build_causes.size(), 0);
    for (std::size_t i = 0; i < k_build_causes.size() && i < o.causes.size(); ++i) u(causes[i], o.causes[i]);
  }
};

struct RunSummary {
  bool started = false;
  std::string mode;
  std::int64_t start_us = 0;
  Categories categories;
  HealSum heal;
  BuildSum build;
  // It ended with outcome "error" (it could not run: exit 2): a failed start, not a run.
  bool failed_start = false;
  template <class Ar> void serialize(Ar& ar) { ar(started, mode, start_us, categories, heal, build, failed_start); }
  bool autofix() const { return started && mode == "autofix"; }
};

// Every started run's summary added up, by mode ("t/modes"); the fix wall times of autofix runs
// are records of their own ("tw/...").
struct ModeTotals {
  std::uint64_t runs = 0;
  Categories categories;
  HealSum heal;
  BuildSum build;
  std::uint64_t failed_starts = 0;  // runs that could not run; nothing else of theirs is counted
  template <class Ar> void serialize(Ar& ar) { ar(runs, categories, heal, build, failed_starts); }
};
using Totals = std::map<std::string, ModeTotals>;

template <class T>
std::string to_bytes(const T& t) {
  std::string out;
  events::detail::OutBuf buf(out);
  std::ostream os(&buf);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(const_cast<T&>(t));
  }
  return out;
}

template <class T>
Result<T> from_bytes(std::string_view bytes, std::string_view key) {
  T t;
  try {
    events::detail::InBuf buf(bytes.data(), bytes.size());
    std::istream is(&buf);
    cereal::BinaryInputArchive ar(is);
    ar(t);
  } catch (const std::exception& ex) {
    return make_error(Errc::corruption, "stats record '" + std::string(key) + "' does not decode (" + ex.what() +
                                            "); run 'hostctl stats --rebuild' for figures from the log");
  }
  return t;
}

std::string be64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}
std::uint64_t get_be64(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
std::string us_key(std::int64_t us) { return be64(static_cast<std::uint64_t>(us) ^ (std::uint64_t{1} << 63)); }
std::int64_t us_of_key(std::string_view k) { return static_cast<std::int64_t>(get_be64(k) ^ (std::uint64_t{1} << 63)); }

std::string run_key(std::string_view kind, std::string_view run) {
  std::string k(kind);
  k += run;
  k.push_back('\0');
  return k;
}
std::string sw_prefix(std::string_view run) { return run_key("sw/", run); }
std::string tw_prefix(std::string_view category) { return run_key("tw/", category); }

// Calls f(category, us) for each wall record key under `prefix` (a sw/ or tw/ prefix with the
// category still to come for sw/, already given for tw/).
Status scan_walls(const store::ProjectionView& view, const std::string& prefix, bool with_category,
                  const std::function<void(std::string_view, std::int64_t)>& f) {
  return view.scan(prefix, [&](std::string_view key, std::string_view) {
    std::string_view rest = key.substr(prefix.size());
    std::string_view cat;
    if (with_category) {
      const auto nul = rest.find('\0');
      if (nul == std::string_view::npos) return true;
      cat = rest.substr(0, nul);
      rest = rest.substr(nul + 1);
    }
    if (rest.size() >= 8) f(cat, us_of_key(rest));
    return true;
  });
}

// What one test adds to its run's summary.
struct TestPart {
  std::string category;
  CategorySum sum;
  std::optional<std::int64_t> wall_us;
};

TestPart part_of(const TestWork& t) {
  TestPart p;
  p.category = !t.attempt_category.empty() ? t.attempt_category
               : !t.classified.empty()     ? t.classified
                                           : k_categories.back();
  CategorySum& c = p.sum;
  c.tests = 1;
  c.reverts = t.reverts;
  c.violations = t.violations;
  c.cost_micro = t.cost_micro;
  c.attempts_costed = t.attempts_costed;
  c.attempts_cost_unknown = t.attempts_cost_unknown;
  if (!t.detected && t.outcome.empty()) return p;  // not one of the run's failures
  ++c.failures;
  if (t.flake || t.outcome == "flaky") ++c.flaky;
  // A fix reverted for a regression after its FailureResolved (older logs record no second
  // one) is not a success, and neither is one that was never committed (unverified).
  const bool reverted_fix = t.outcome == "fixed" && t.last_revert == "regression";
  if (t.outcome == "fixed" && !reverted_fix) {
    ++c.fixed;
    c.attempts_fixed += t.attempts;
    if (t.attempted) p.wall_us = t.resolved_us - t.first_attempt_us;
  } else if (t.outcome == "cured") {
    ++c.cured;
  } else if (t.outcome == "unfixable" || t.outcome == "unverified" || reverted_fix) {
    ++c.unfixable;
    const std::string why = !t.reason_kind.empty()        ? t.reason_kind
                            : t.outcome == "unverified"    ? std::string("unverified")
                            : reverted_fix                 ? std::string("regression")
                            : !t.last_revert.empty()       ? t.last_revert
                                                           : std::string("none");
    ++c.unfixable_reasons[why];
  }
  return p;
}

HealSum part_of(const PrWork& pr) {
  HealSum h;
  h.prs = 1;
  h.time_to_pr_us = pr.opened_us - pr.from_us;
  if (pr.recurrence >= 0) ++h.checked;
  if (pr.recurrence == 1) ++h.stopped;
  if (pr.resolved) {
    ++h.resolved;
    if (pr.state != "merged" || pr.recurrence == 0) ++h.false_positive;
    if (pr.state == "merged") {
      ++h.merged;
      if (pr.human_commits > 0) ++h.overridden;
    }
  }
  return h;
}

BuildSum part_of(const StreamWork& s) {
  BuildSum b;
  if (s.finished) {
    b.streams = 1;
    if (s.conflicted) b.streams_conflicted = 1;
  }
  return b;
}

// ---- the fold -----------------------------------------------------------------------------

class StatsProjection final : public store::Projection {
 public:
  std::string name() const override { return std::string(k_stats_projection); }
  std::uint32_t version() const override { return 5; }
  Status apply(std::span<const events::Event> evs, store::ProjectionState& state) const override;
};

bool wanted(EventType t) {
  switch (t) {
    case EventType::RunStarted: case EventType::RunFinished: case EventType::SuiteFinished: case EventType::FailureDetected:
    case EventType::FailureClassified: case EventType::FlakeDetected: case EventType::AttemptStarted:
    case EventType::AttemptFinished:
    case EventType::PolicyViolation: case EventType::Reverted: case EventType::FailureResolved:
    case EventType::SentryIssueIngested: case EventType::IssueTriaged: case EventType::PrOpened: case EventType::PrResolved:
    case EventType::ErrorRecurrenceChecked: case EventType::StreamFinished: case EventType::MergeConflict:
    case EventType::WorktreesMerged:
      return true;
    default:
      return false;
  }
}

// One apply call: records read once, changed in memory, written back at the end; each event
// changes its run's summary by what it changes of one test, PR or stream.
class Fold {
 public:
  explicit Fold(store::ProjectionState& state) : state_(state) {}
  Status event(const events::Event& e);
  Status finish();

 private:
  struct Run {
    std::optional<RunSummary> before;  // as stored when the fold began
    RunSummary now;
  };
  template <class T>
  Result<std::optional<T>*> load(std::map<std::string, std::optional<T>>& cache, const std::string& key) {
    auto it = cache.find(key);
    if (it != cache.end()) return &it->second;
    auto rec = state_.get(key);
    if (!rec) return rec.status();
    std::optional<T> v;
    if (*rec) {
      auto d = from_bytes<T>(**rec, key);
      if (!d) return d.status();
      v = std::move(*d);
    }
    return &cache.emplace(key, std::move(v)).first->second;
  }
  Result<Run*> run(const std::string& id);
  // Changes one test with `change` and its run's summary (and the wall records) by the difference.
  Status test(const std::string& run_id, const std::string& test_id, const std::function<void(TestWork&)>& change);
  void put_part(Run& r, const std::string& run_id, const std::string& test_id, const TestPart& p, int sign);
  // The PR last opened with this number: its record key and its run; nullopt when none was.
  Result<std::optional<std::pair<std::string, std::string>>> find_pr(std::uint64_t number);
  Status change_pr(std::uint64_t number, const std::function<void(PrWork&)>& change);
  // Keeps the earliest time `issue` was seen.
  Status first_seen(const std::string& issue, std::int64_t ts_us) {
    if (issue.empty()) return Status::ok();
    const std::string key = "f/" + issue;
    auto have = state_.get(key);
    if (!have) return have.status();
    if (!*have || ((*have)->size() == 8 && static_cast<std::int64_t>(get_be64(**have)) > ts_us))
      state_.put(key, be64(static_cast<std::uint64_t>(ts_us)));
    return Status::ok();
  }
  Status change_stream(const std::string& run_id, const std::string& stream, const std::function<void(StreamWork&)>& change);

  store::ProjectionState& state_;
  std::map<std::string, Run> runs_;
  std::map<std::string, std::optional<TestWork>> tests_;
  std::map<std::string, std::optional<PrWork>> prs_;
  std::map<std::string, std::optional<StreamWork>> streams_;
};

Result<Fold::Run*> Fold::run(const std::string& id) {
  auto it = runs_.find(id);
  if (it != runs_.end()) return &it->second;
  const std::string key = "s/" + id;
  auto rec = state_.get(key);
  if (!rec) return rec.status();
  Run r;
  if (*rec) {
    auto d = from_bytes<RunSummary>(**rec, key);
    if (!d) return d.status();
    r.before = *d;
    r.now = std::move(*d);
  }
  return &runs_.emplace(id, std::move(r)).first->second;
}

void Fold::put_part(Run& r, const std::string& run_id, const std::string& test_id, const TestPart& p, int sign) {
  Categories one;
  one.emplace(p.category, p.sum);
  add_categories(r.now.categories, one, sign);
  if (!p.wall_us) return;
  std::string sw = sw_prefix(run_id) + p.category;
  sw.push_back('\0');
  sw += us_key(*p.wall_us);
  sw += test_id;
  if (sign > 0) state_.put(sw, "");
  else state_.erase(sw);
  if (!r.now.autofix()) return;
  std::string tw = tw_prefix(p.category) + us_key(*p.wall_us) + run_key("", run_id) + test_id;
  if (sign > 0) state_.put(tw, "");
  else state_.erase(tw);
}

Status Fold::test(const std::string& run_id, const std::string& test_id, const std::function<void(TestWork&)>& change) {
  auto r = run(run_id);
  if (!r) return r.status();
  auto t = load(tests_, run_key("x/", run_id) + test_id);
  if (!t) return t.status();
  std::optional<TestWork>& w = **t;
  if (w) put_part(**r, run_id, test_id, part_of(*w), -1);
  else w.emplace();
  change(*w);
  put_part(**r, run_id, test_id, part_of(*w), 1);
  return Status::ok();
}

Result<std::optional<std::pair<std::string, std::string>>> Fold::find_pr(std::uint64_t number) {
  using Found = std::optional<std::pair<std::string, std::string>>;
  auto rec = state_.get("pr/" + std::to_string(number));
  if (!rec) return rec.status();
  if (!*rec) return Found();
  const std::string& v = **rec;
  const auto nul = v.find('\0');
  if (nul == std::string::npos || v.size() != nul + 9)
    return make_error(Errc::corruption, "stats record 'pr/" + std::to_string(number) +
                                            "' is malformed; run 'hostctl stats --rebuild' for figures from the log");
  const std::string run_id = v.substr(0, nul);
  return Found(std::make_pair(run_key("q/", run_id) + v.substr(nul + 1), run_id));
}

Status Fold::change_pr(std::uint64_t number, const std::function<void(PrWork&)>& change) {
  auto found = find_pr(number);
  if (!found) return found.status();
  if (!*found) return Status::ok();  // events about a PR nobody opened are ignored
  auto r = run((*found)->second);
  if (!r) return r.status();
  auto pr = load(prs_, (*found)->first);
  if (!pr) return pr.status();
  if (!**pr) return Status::ok();
  (*r)->now.heal.add(part_of(***pr), -1);
  change(***pr);
  (*r)->now.heal.add(part_of(***pr), 1);
  return Status::ok();
}

Status Fold::change_stream(const std::string& run_id, const std::string& stream,
                           const std::function<void(StreamWork&)>& change) {
  auto r = run(run_id);
  if (!r) return r.status();
  auto s = load(streams_, run_key("st/", run_id) + stream);
  if (!s) return s.status();
  if (!**s) (*s)->emplace();
  (*r)->now.build.add(part_of(***s), -1);
  change(***s);
  (*r)->now.build.add(part_of(***s), 1);
  return Status::ok();
}

Status Fold::event(const events::Event& e) {
  if (!wanted(e.type)) return Status::ok();
  auto rr = run(e.run_id);
  if (!rr) return rr.status();
  Run& r = **rr;
#define FIXHOST_DECODE(Type, var)                 \
  auto var##_r = events::decode<events::Type>(e); \
  if (!var##_r) return var##_r.status();          \
  const events::Type& var = *var##_r
  switch (e.type) {
    case EventType::RunStarted: {
      FIXHOST_DECODE(RunStarted, p);
      const bool was_autofix = r.now.autofix();
      r.now.started = true;
      r.now.mode = p.mode;
      r.now.start_us = e.ts_us;
      if (was_autofix != r.now.autofix()) {
        // The run's wall times join or leave the autofix totals.
        std::vector<std::string> keys;
        auto s = state_.scan(sw_prefix(e.run_id), [&](std::string_view key, std::string_view) {
          keys.emplace_back(key.substr(sw_prefix(e.run_id).size()));
          return true;
        });
        if (!s) return s;
        for (const auto& k : keys) {
          const auto nul = k.find('\0');
          if (nul == std::string::npos || k.size() < nul + 9) continue;
          const std::string tw = tw_prefix(k.substr(0, nul)) + k.substr(nul + 1, 8) + run_key("", e.run_id) + k.substr(nul + 9);
          if (r.now.autofix()) state_.put(tw, "");
          else state_.erase(tw);
        }
      }
      break;
    }
    case EventType::RunFinished: {
      FIXHOST_DECODE(RunFinished, p);
      r.now.failed_start = p.outcome == "error";
      break;
    }
    case EventType::SuiteFinished: {
      FIXHOST_DECODE(SuiteFinished, p);
      if (p.purpose == "detect") state_.put(run_key("d/", e.run_id) + be64(e.seq), "");
      break;
    }
    case EventType::FailureDetected: {
      auto suite = state_.get(run_key("d/", e.run_id) + be64(e.causation));
      if (!suite) return suite.status();
      if (!*suite) break;
      FIXHOST_DECODE(FailureDetected, p);
      return test(e.run_id, p.test_id, [](TestWork& t) { t.detected = true; });
    }
    case EventType::FailureClassified: {
      FIXHOST_DECODE(FailureClassified, p);
      return test(e.run_id, p.test_id, [&](TestWork& t) {
        if (t.classified.empty()) t.classified = p.category;
      });
    }
    case EventType::FlakeDetected: {
      FIXHOST_DECODE(FlakeDetected, p);
      return test(e.run_id, p.test_id, [](TestWork& t) { t.flake = true; });
    }
    case EventType::AttemptStarted: {
      FIXHOST_DECODE(AttemptStarted, p);
      if (p.category == "reproduce" && p.attempt == 1) ++r.now.heal.reproductions;
      return test(e.run_id, p.test_id, [&](TestWork& t) {
        if (t.attempted) return;
        t.attempted = true;
        t.attempt_category = p.category;
        t.first_attempt_us = e.ts_us;
      });
    }
    case EventType::AttemptFinished: {
      FIXHOST_DECODE(AttemptFinished, p);
      return test(e.run_id, p.test_id, [&](TestWork& t) {
        if (p.usage.known && p.usage.cost_usd >= 0) {
          t.cost_micro += std::llround(p.usage.cost_usd * 1e6);
          ++t.attempts_costed;
        } else {
          ++t.attempts_cost_unknown;  // not reported: unknown, never zero
        }
      });
    }
    case EventType::PolicyViolation: {
      FIXHOST_DECODE(PolicyViolation, p);
      return test(e.run_id, p.test_id, [&](TestWork& t) { ++t.violations[p.rule]; });
    }
    case EventType::Reverted: {
      FIXHOST_DECODE(Reverted, p);
      return test(e.run_id, p.test_id, [&](TestWork& t) {
        ++t.reverts[p.reason];
        t.last_revert = p.reason;
      });
    }
    case EventType::FailureResolved: {
      FIXHOST_DECODE(FailureResolved, p);
      if (p.reason_kind == "not_reproduced") ++r.now.heal.not_reproduced;
      return test(e.run_id, p.test_id, [&](TestWork& t) {
        t.outcome = p.outcome;
        t.attempts = p.attempts;
        t.resolved_us = e.ts_us;
        t.reason_kind = p.reason_kind;
      });
    }
    case EventType::SentryIssueIngested: {
      FIXHOST_DECODE(SentryIssueIngested, p);
      return first_seen(p.issue_id, e.ts_us);
    }
    case EventType::IssueTriaged: {
      // Events from SDKs carry no issue id: the group sentry_triage gives them is the issue.
      FIXHOST_DECODE(IssueTriaged, p);
      return first_seen(p.issue_id, e.ts_us);
    }
    case EventType::PrOpened: {
      FIXHOST_DECODE(PrOpened, p);
      PrWork pr;
      pr.number = p.number;
      pr.opened_us = e.ts_us;
      // From the issue's first seen in this store (by whichever run: serve, a heal --source api),
      // else from the heal run's start.
      auto issue = state_.get("f/" + p.issue_id);
      if (!issue) return issue.status();
      if (*issue && (*issue)->size() == 8) pr.from_us = static_cast<std::int64_t>(get_be64(**issue));
      else pr.from_us = r.now.started ? r.now.start_us : e.ts_us;
      r.now.heal.add(part_of(pr));
      prs_[run_key("q/", e.run_id) + be64(e.seq)] = pr;
      state_.put("pr/" + std::to_string(p.number), run_key("", e.run_id) + be64(e.seq));
      break;
    }
    case EventType::PrResolved: {
      FIXHOST_DECODE(PrResolved, p);
      return change_pr(p.number, [&](PrWork& pr) {
        pr.resolved = true;
        pr.state = p.state;
        pr.human_commits = p.human_commits;
      });
    }
    case EventType::ErrorRecurrenceChecked: {
      FIXHOST_DECODE(ErrorRecurrenceChecked, p);
      return change_pr(p.pr_number, [&](PrWork& pr) { pr.recurrence = p.stopped ? 1 : 0; });
    }
    case EventType::StreamFinished: {
      FIXHOST_DECODE(StreamFinished, p);
      return change_stream(e.run_id, p.stream, [](StreamWork& s) { s.finished = true; });
    }
    case EventType::MergeConflict: {
      FIXHOST_DECODE(MergeConflict, p);
      ++r.now.build.conflicts;
      return change_stream(e.run_id, p.stream, [](StreamWork& s) { s.conflicted = true; });
    }
    case EventType::WorktreesMerged: {
      FIXHOST_DECODE(WorktreesMerged, p);
      ++r.now.build.merges;
      r.now.build.wall_ms += p.wall_ms;
      r.now.build.serial_ms += p.serial_ms;
      if (!p.integration_passed) ++r.now.build.integration_failed;
      if (p.critical_ms > 0) {
        ++r.now.build.critical_merges;
        r.now.build.critical_wall_ms += p.wall_ms;
        r.now.build.critical_ms += p.critical_ms;
      }
      if (p.integration_passed && p.first_try && !p.contract_changed) ++r.now.build.contract_accurate;
      if (!p.integration_passed) {
        auto c = std::find(k_build_causes.begin(), k_build_causes.end(), p.failure_cause);
        if (c != k_build_causes.end()) ++r.now.build.causes[static_cast<std::size_t>(c - k_build_causes.begin())];
      }
      break;
    }
    default:
      break;
  }
#undef FIXHOST_DECODE
  return Status::ok();
}

Status Fold::finish() {
  for (const auto& [key, t] : tests_)
    if (t) state_.put(key, to_bytes(*t));
  for (const auto& [key, pr] : prs_)
    if (pr) state_.put(key, to_bytes(*pr));
  for (const auto& [key, s] : streams_)
    if (s) state_.put(key, to_bytes(*s));
  if (runs_.empty()) return Status::ok();
  auto totals_rec = state_.get("t/modes");
  if (!totals_rec) return totals_rec.status();
  Totals totals;
  if (*totals_rec) {
    auto t = from_bytes<Totals>(**totals_rec, "t/modes");
    if (!t) return t.status();
    totals = std::move(*t);
  }
  // Take each run's old figures out of the totals and put its new ones in.
  for (const auto& [id, r] : runs_) {
    for (int sign : {-1, 1}) {
      const RunSummary* s = sign < 0 ? (r.before ? &*r.before : nullptr) : &r.now;
      if (!s || !s->started) continue;
      ModeTotals& m = totals[s->mode];
      if (s->failed_start) {
        m.failed_starts = sign > 0 ? m.failed_starts + 1 : m.failed_starts - 1;
      } else {
        m.runs = sign > 0 ? m.runs + 1 : m.runs - 1;
        m.heal.add(s->heal, sign);
        m.build.add(s->build, sign);
        add_categories(m.categories, s->categories, sign);
      }
      if (sign < 0 && m.runs == 0 && m.failed_starts == 0) totals.erase(s->mode);
    }
    state_.put("s/" + id, to_bytes(r.now));
  }
  state_.put("t/modes", to_bytes(totals));
  return Status::ok();
}

Status StatsProjection::apply(std::span<const events::Event> evs, store::ProjectionState& state) const {
  Fold fold(state);
  for (const auto& e : evs)
    if (auto s = fold.event(e); !s) return s;
  return fold.finish();
}

// A projection state held in memory alone, for the full scan.
class MemoryState final : public store::ProjectionState {
 public:
  Result<std::optional<std::string>> get(std::string_view key) const override {
    auto it = records_.find(key);
    if (it == records_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status scan(std::string_view prefix, const store::RecordVisitor& visit) const override {
    for (auto it = records_.lower_bound(prefix); it != records_.end() && std::string_view(it->first).starts_with(prefix); ++it)
      if (!visit(it->first, it->second)) break;
    return Status::ok();
  }
  std::uint64_t seq() const override { return seq_; }
  void put(std::string_view key, std::string_view value) override { records_.insert_or_assign(std::string(key), std::string(value)); }
  void erase(std::string_view key) override {
    if (auto it = records_.find(key); it != records_.end()) records_.erase(it);
  }
  void set_seq(std::uint64_t s) { seq_ = s; }

 private:
  std::map<std::string, std::string, std::less<>> records_;
  std::uint64_t seq_ = 0;
};

// ---- figures ------------------------------------------------------------------------------

Json figure(std::optional<double> value, std::uint64_t count, bool integer) {
  Json j = Json::object();
  if (!value) j["value"] = nullptr;
  else if (integer) j["value"] = static_cast<std::int64_t>(std::llround(*value));
  else j["value"] = *value;
  j["count"] = count;
  return j;
}
// A count or sum taken over `runs` runs: null when there were none.
Json total(double v, std::uint64_t runs) { return figure(runs ? std::optional<double>(v) : std::nullopt, runs, true); }
Json ratio(double num, std::uint64_t den) {
  return figure(den ? std::optional<double>(num / static_cast<double>(den)) : std::nullopt, den, false);
}

Json counts(const std::map<std::string, std::uint64_t>& m, const std::vector<std::string>& known, std::uint64_t runs) {
  Json j = Json::object();
  for (const auto& k : known) {
    auto it = m.find(k);
    j[k] = total(it == m.end() ? 0.0 : static_cast<double>(it->second), runs);
  }
  for (const auto& [k, v] : m)
    if (std::find(known.begin(), known.end(), k) == known.end()) j[k] = total(static_cast<double>(v), runs);
  return j;
}

Json median_ms(std::vector<std::int64_t> us) {
  if (us.empty()) return figure(std::nullopt, 0, false);
  const std::size_t n = us.size();
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(n / 2), us.end());
  const double upper = static_cast<double>(us[n / 2]);
  const double mid = n % 2 ? upper
                           : (static_cast<double>(*std::max_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(n / 2))) + upper) / 2.0;
  return figure(mid / 1000.0, n, false);
}

// A figure in US dollars ("unit": "usd"; the table shows a null one as "unknown").
Json usd(std::optional<double> value, std::uint64_t count) {
  Json j = figure(value, count, false);
  j["unit"] = "usd";
  return j;
}

// The cost figures of attempts summed in `c` over `runs` runs (docs/STATS.md, docs/USAGE.md):
// values from the attempts that reported a cost, null when none did; the attempts that did not
// are counted beside them, never as zero.
void cost_figures(Json& j, const CategorySum& c, std::uint64_t runs, bool with_runs, bool per_fix) {
  const std::optional<double> spent =
      c.attempts_costed ? std::optional<double>(static_cast<double>(c.cost_micro) / 1e6) : std::nullopt;
  j["cost_usd"] = usd(spent, c.attempts_costed);
  if (with_runs) j["cost_per_run_usd"] = usd(spent && runs ? std::optional<double>(*spent / static_cast<double>(runs)) : std::nullopt, runs);
  if (per_fix)
    j["cost_per_fixed_failure_usd"] =
        usd(spent && c.fixed ? std::optional<double>(*spent / static_cast<double>(c.fixed)) : std::nullopt, c.fixed);
  j["attempts_cost_unknown"] = total(static_cast<double>(c.attempts_cost_unknown), runs);
}

Json autofix_figures(const CategorySum& c, std::uint64_t runs, double minutes, bool with_runs) {
  Json j = Json::object();
  if (with_runs) j["runs"] = total(static_cast<double>(runs), runs);
  j["failures_detected"] = total(static_cast<double>(c.failures), runs);
  j["fixed"] = total(static_cast<double>(c.fixed), runs);
  j["unfixable"] = total(static_cast<double>(c.unfixable), runs);
  j["flaky"] = total(static_cast<double>(c.flaky), runs);
  j["cured"] = total(static_cast<double>(c.cured), runs);
  j["fix_success_rate"] = ratio(static_cast<double>(c.fixed), c.fixed + c.unfixable);
  j["avg_attempts_per_fix"] = ratio(static_cast<double>(c.attempts_fixed), c.fixed);
  auto reg = c.reverts.find("regression");
  j["regression_rate"] = ratio(reg == c.reverts.end() ? 0.0 : static_cast<double>(reg->second), c.fixed);
  j["flaky_rate"] = ratio(static_cast<double>(c.flaky), c.failures);
  j["median_wall_ms_per_fix"] = median_ms(c.fix_wall_us);
  Json saved = figure(c.fixed ? std::optional<double>(static_cast<double>(c.fixed) * minutes) : std::nullopt, c.fixed, false);
  saved["estimate"] = true;
  saved["minutes_per_manual_fix"] = minutes;
  j["estimated_time_saved_min"] = saved;
  cost_figures(j, c, runs, with_runs, true);
  j["reverts_by_reason"] = counts(c.reverts, k_revert_reasons, runs);
  j["policy_violations_by_rule"] = counts(c.violations, k_policy_rules, runs);
  j["unfixable_by_reason"] = counts(c.unfixable_reasons, k_unfixable_reasons, runs);
  return j;
}

Status check_run_id(const store::ProjectionView& view, const std::string& run) {
  auto rec = view.get("s/" + run);
  if (!rec) return rec.status();
  if (!*rec)
    return make_error(Errc::not_found, "--run: the store has no run '" + run + "'; 'hostctl runs' lists the runs it has");
  return Status::ok();
}

}  // namespace

std::shared_ptr<const store::Projection> stats_projection() {
  static const auto p = std::make_shared<const StatsProjection>();
  return p;
}

Status check_stats_mode(std::string_view mode) {
  if (mode.empty() || mode == "autofix" || mode == "build" || mode == "heal") return Status::ok();
  return make_error(Errc::invalid_argument,
                    "--mode '" + std::string(mode) + "' is not one of autofix, build, heal");
}

Result<std::int64_t> parse_since(std::string_view text, std::int64_t now_us) {
  const std::string t(text);
  auto bad = [&] {
    return make_error(Errc::invalid_argument, "--since '" + t +
                                                  "' is neither a duration (30d, 12h, 90m, 2w, 45s) nor a date "
                                                  "(YYYY-MM-DD, UTC)");
  };
  if (t.size() >= 2 && std::all_of(t.begin(), t.end() - 1, [](char c) { return c >= '0' && c <= '9'; }) &&
      t.size() <= 7) {
    std::int64_t unit = 0;
    switch (t.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 7 * 86400; break;
      default: return bad();
    }
    return now_us - std::stoll(t.substr(0, t.size() - 1)) * unit * 1000000;
  }
  std::tm tm{};
  std::istringstream in(t);
  in >> std::get_time(&tm, "%Y-%m-%d");
  if (in.fail() || in.peek() != std::char_traits<char>::eof() || t.size() != 10) return bad();
  const int year = tm.tm_year, mon = tm.tm_mon, day = tm.tm_mday;
  const std::time_t secs = ::timegm(&tm);
  if (tm.tm_year != year || tm.tm_mon != mon || tm.tm_mday != day) return bad();  // 2026-02-30
  return static_cast<std::int64_t>(secs) * 1000000;
}

namespace {

// With `use_totals` and no --run or --since, the figures come from the running totals
// ("t/modes", "tw/*"); otherwise from the summaries of the selected runs added up here.
Result<nlohmann::ordered_json> compute(const store::ProjectionView& view, const StatsQuery& q, bool use_totals) {
  if (auto s = check_stats_mode(q.mode); !s) return s;
  if (!q.run.empty())
    if (auto s = check_run_id(view, q.run); !s) return s;
  std::map<std::string, std::uint64_t> runs_by_mode;
  std::uint64_t runs = 0, autofix_runs = 0, heal_runs = 0, build_runs = 0, failed_starts = 0;
  std::map<std::string, CategorySum> categories;
  HealSum heal;
  BuildSum build;
  CategorySum heal_spend, build_spend;  // the cost sums of heal's and build's attempts
  Status err;
  auto take = [&](std::string_view key, std::string_view value) {
    auto s = from_bytes<RunSummary>(value, key);
    if (!s) {
      err = s.status();
      return false;
    }
    const RunSummary& r = *s;
    if (!r.started) return true;  // events of a run without RunStarted belong to no mode
    if (q.since_us && r.start_us < *q.since_us) return true;
    if (!q.mode.empty() && r.mode != q.mode) return true;
    if (r.failed_start) {
      ++failed_starts;
      return true;
    }
    ++runs;
    ++runs_by_mode[r.mode];
    if (r.mode == "autofix") {
      ++autofix_runs;
      for (const auto& [cat, c] : r.categories) categories[cat].add(c);
      const std::string run_id(key.substr(2));
      auto s = scan_walls(view, sw_prefix(run_id), true, [&](std::string_view cat, std::int64_t us) {
        categories[std::string(cat)].fix_wall_us.push_back(us);
      });
      if (!s) {
        err = s;
        return false;
      }
    } else if (r.mode == "heal") {
      ++heal_runs;
      heal.add(r.heal);
      for (const auto& [cat, c] : r.categories) heal_spend.add(c);
    } else if (r.mode == "build") {
      ++build_runs;
      build.add(r.build);
      for (const auto& [cat, c] : r.categories) build_spend.add(c);
    }
    return true;
  };
  if (!q.run.empty()) {
    auto rec = view.get("s/" + q.run);
    if (!rec) return rec.status();
    take("s/" + q.run, **rec);
  } else if (use_totals && !q.since_us) {
    auto rec = view.get("t/modes");
    if (!rec) return rec.status();
    Totals totals;
    if (*rec) {
      auto t = from_bytes<Totals>(**rec, "t/modes");
      if (!t) return t.status();
      totals = std::move(*t);
    }
    for (auto& [mode, m] : totals) {
      if (!q.mode.empty() && mode != q.mode) continue;
      runs += m.runs;
      failed_starts += m.failed_starts;
      if (m.runs > 0) runs_by_mode[mode] += m.runs;
      if (mode == "autofix") {
        autofix_runs += m.runs;
        for (auto& [cat, c] : m.categories) {
          auto s = scan_walls(view, tw_prefix(cat), false,
                              [&](std::string_view, std::int64_t us) { c.fix_wall_us.push_back(us); });
          if (!s) return s;
          categories[cat] = std::move(c);
        }
      } else if (mode == "heal") {
        heal_runs += m.runs;
        heal = m.heal;
        for (const auto& [cat, c] : m.categories) heal_spend.add(c);
      } else if (mode == "build") {
        build_runs += m.runs;
        build = m.build;
        for (const auto& [cat, c] : m.categories) build_spend.add(c);
      }
    }
  } else if (auto s = view.scan("s/", take); !s) {
    return s;
  }
  if (!err) return err;

  Json j = Json::object();
  j["as_of_seq"] = view.seq();
  Json f = Json::object();
  f["run"] = q.run.empty() ? Json(nullptr) : Json(q.run);
  f["since"] = q.since_us ? Json(q.since_text) : Json(nullptr);
  f["since_us"] = q.since_us ? Json(*q.since_us) : Json(nullptr);
  f["mode"] = q.mode.empty() ? Json(nullptr) : Json(q.mode);
  j["filters"] = f;
  j["runs"] = figure(static_cast<double>(runs), runs, true);
  // Runs that could not run at all (exit 2: no git, no agent, suites that do not run): counted
  // here and nowhere else.
  j["failed_starts"] = figure(static_cast<double>(failed_starts), runs + failed_starts, true);
  Json by_mode = Json::object();
  for (const auto& m : k_modes)
    if (q.mode.empty() || q.mode == m) by_mode[m] = figure(static_cast<double>(runs_by_mode[m]), runs, true);
  for (const auto& [m, n] : runs_by_mode)
    if (!by_mode.contains(m)) by_mode[m.empty() ? "(none)" : m] = figure(static_cast<double>(n), runs, true);
  j["runs_by_mode"] = by_mode;

  if (q.mode.empty() || q.mode == "autofix") {
    CategorySum all;
    for (const auto& [cat, c] : categories) all.add(c);
    Json a = autofix_figures(all, autofix_runs, q.minutes_per_manual_fix, true);
    Json cats = Json::object();
    for (const auto& cat : k_categories) cats[cat] = autofix_figures(categories[cat], autofix_runs, q.minutes_per_manual_fix, false);
    for (const auto& [cat, c] : categories)
      if (!cats.contains(cat)) cats[cat] = autofix_figures(c, autofix_runs, q.minutes_per_manual_fix, false);
    a["by_category"] = cats;
    // The spend by category in one place (each entry also in by_category): the known cost, the
    // attempts it rests on, those of unknown cost, and per fixed failure.
    Json spend = Json::object();
    auto spend_of = [&](const CategorySum& c) {
      Json e = usd(c.attempts_costed ? std::optional<double>(static_cast<double>(c.cost_micro) / 1e6) : std::nullopt,
                   c.attempts_costed);
      e["attempts_cost_unknown"] = c.attempts_cost_unknown;
      e["fixed"] = c.fixed;
      e["cost_per_fixed_failure_usd"] =
          c.attempts_costed && c.fixed ? Json(static_cast<double>(c.cost_micro) / 1e6 / static_cast<double>(c.fixed))
                                       : Json(nullptr);
      return e;
    };
    for (const auto& cat : k_categories) spend[cat] = spend_of(categories[cat]);
    for (const auto& [cat, c] : categories)
      if (!spend.contains(cat)) spend[cat] = spend_of(c);
    a["cost_by_category"] = spend;
    j["autofix"] = a;
  }
  if (q.mode.empty() || q.mode == "heal") {
    Json h = Json::object();
    h["runs"] = total(static_cast<double>(heal_runs), heal_runs);
    h["prs_opened"] = total(static_cast<double>(heal.prs), heal_runs);
    h["mean_time_to_pr_ms"] = figure(heal.prs ? std::optional<double>(static_cast<double>(heal.time_to_pr_us) /
                                                                       static_cast<double>(heal.prs) / 1000.0)
                                              : std::nullopt,
                                     heal.prs, false);
    h["fix_success_rate"] = ratio(static_cast<double>(heal.stopped), heal.checked);
    h["false_positive_rate"] = ratio(static_cast<double>(heal.false_positive), heal.resolved);
    h["human_override_rate"] = ratio(static_cast<double>(heal.overridden), heal.merged);
    h["reproductions_failed"] =
        figure(heal.reproductions ? std::optional<double>(static_cast<double>(heal.not_reproduced)) : std::nullopt,
               heal.reproductions, true);
    cost_figures(h, heal_spend, heal_runs, true, false);
    j["heal"] = h;
  }
  if (q.mode.empty() || q.mode == "build") {
    Json b = Json::object();
    b["runs"] = total(static_cast<double>(build_runs), build_runs);
    b["merges"] = total(static_cast<double>(build.merges), build_runs);
    b["parallel_wall_ms"] = figure(build.merges ? std::optional<double>(static_cast<double>(build.wall_ms)) : std::nullopt,
                                   build.merges, true);
    b["serial_sum_ms"] = figure(build.merges ? std::optional<double>(static_cast<double>(build.serial_ms)) : std::nullopt,
                                build.merges, true);
    b["parallel_speedup"] = figure(build.merges && build.wall_ms > 0
                                       ? std::optional<double>(static_cast<double>(build.serial_ms) /
                                                               static_cast<double>(build.wall_ms))
                                       : std::nullopt,
                                   build.merges && build.wall_ms > 0 ? build.merges : 0, false);
    b["integration_failure_rate"] = ratio(static_cast<double>(build.integration_failed), build.merges);
    b["merge_conflicts"] = total(static_cast<double>(build.conflicts), build_runs);
    b["streams_without_conflict"] = ratio(static_cast<double>(build.streams - build.streams_conflicted), build.streams);
    b["critical_path_ms"] = figure(build.critical_merges ? std::optional<double>(static_cast<double>(build.critical_ms))
                                                         : std::nullopt,
                                   build.critical_merges, true);
    b["build_overhead"] = figure(build.critical_merges && build.critical_ms > 0
                                     ? std::optional<double>(static_cast<double>(build.critical_wall_ms) /
                                                             static_cast<double>(build.critical_ms))
                                     : std::nullopt,
                                 build.critical_ms > 0 ? build.critical_merges : 0, false);
    for (std::size_t i = 0; i < k_build_causes.size(); ++i)
      b["integration_failures_" + k_build_causes[i]] =
          ratio(static_cast<double>(i < build.causes.size() ? build.causes[i] : 0), build.merges);
    b["contract_accuracy"] = ratio(static_cast<double>(build.contract_accurate), build.merges);
    cost_figures(b, build_spend, build_runs, true, false);
    j["build"] = b;
  }
  return j;
}

}  // namespace

Result<nlohmann::ordered_json> stats_from_view(const store::ProjectionView& view, const StatsQuery& q) {
  return compute(view, q, true);
}

Result<nlohmann::ordered_json> stats_from_projection(const store::EventLog& log, const StatsQuery& q) {
  Result<nlohmann::ordered_json> out = make_error(Errc::internal, "the stats projection was not read");
  auto s = log.read_projection(k_stats_projection, [&](const store::ProjectionView& view) {
    out = stats_from_view(view, q);
    return Status::ok();
  });
  if (!s) return s;
  if (out) (*out)["source"] = "projection";
  return out;
}

Result<nlohmann::ordered_json> stats_from_scan(const store::EventLog& log, const StatsQuery& q) {
  MemoryState state;
  const auto projection = stats_projection();
  std::vector<events::Event> chunk;
  chunk.reserve(4096);
  Status err;
  auto flush = [&]() -> bool {
    if (chunk.empty()) return true;
    if (auto s = projection->apply(std::span<const events::Event>(chunk.data(), chunk.size()), state); !s) {
      err = s;
      return false;
    }
    state.set_seq(chunk.back().seq);
    chunk.clear();
    return true;
  };
  const std::uint64_t last = log.last_seq();
  auto st = log.scan(1, last == 0 ? 1 : last, [&](const events::Event& e) {
    chunk.push_back(e);
    return chunk.size() < 4096 || flush();
  });
  if (!st) return st;
  if (!err) return err;
  if (!flush()) return err;
  auto out = compute(state, q, false);
  if (out) (*out)["source"] = "scan";
  return out;
}

std::string stats_table(const nlohmann::ordered_json& report) {
  std::vector<std::vector<std::string>> rows;
  auto value_text = [](const Json& f) -> std::string {
    const Json& v = f["value"];
    if (v.is_null()) return "-";
    if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
    const double d = v.get<double>();
    char buf[64];
    if (d == std::floor(d) && std::fabs(d) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", d);
    else if (std::fabs(d) >= 100) std::snprintf(buf, sizeof buf, "%.1f", d);
    else std::snprintf(buf, sizeof buf, "%.3g", d);
    return buf;
  };
  auto is_figure = [](const Json& f) { return f.is_object() && f.contains("value") && f.contains("count"); };
  // Compact: the JSON has every key; the table leaves out zero counts inside the by-reason
  // lists, the lists inside a category, and categories without a failure.
  std::function<void(const Json&, const std::string&, const std::string&, int)> walk = [&](const Json& obj,
                                                                                             const std::string& label,
                                                                                             const std::string& indent,
                                                                                             int depth) {
    for (const auto& [key, f] : obj.items()) {
      std::string name = key;
      std::replace(name.begin(), name.end(), '_', ' ');
      const bool list = key.ends_with("_by_reason") || key.ends_with("_by_rule") || key == "runs_by_mode" ||
                        key == "cost_by_category";
      if (list && depth >= 2) continue;
      if (label == "list" && is_figure(f) && f["value"] == 0) continue;
      // A category no attempt was made for has no spend to show.
      if (label == "list" && is_figure(f) && f.contains("attempts_cost_unknown") && f["count"] == 0 &&
          f["attempts_cost_unknown"] == 0)
        continue;
      if (depth == 2 && f.is_object() && f.contains("failures_detected")) {
        auto zero = [](const Json& m) { return std::all_of(m.begin(), m.end(), [](const Json& x) { return x["value"] == 0; }); };
        if (f["failures_detected"]["value"] == 0 && zero(f["reverts_by_reason"]) && zero(f["policy_violations_by_rule"]))
          continue;
      }
      if (is_figure(f)) {
        std::string text = value_text(f);
        if (f.value("unit", "") == "usd") {
          // A sum nobody reported is unknown; a ratio over nothing (no run, no fix) is just empty.
          const bool over_nothing = key != "cost_usd" && label != "list" && f["count"] == 0;
          text = !f["value"].is_null() ? format_usd(f["value"].get<double>()) : over_nothing ? "-" : "unknown";
          if (f.contains("attempts_cost_unknown") && f["attempts_cost_unknown"].get<std::uint64_t>() > 0)
            text += " (+" + std::to_string(f["attempts_cost_unknown"].get<std::uint64_t>()) + " unknown)";
        }
        if (f.contains("estimate")) text += " (estimate, " + value_text(Json{{"value", f["minutes_per_manual_fix"]}}) + " min/fix)";
        rows.push_back({indent + name, text, std::to_string(f["count"].get<std::uint64_t>())});
      } else if (f.is_object()) {
        rows.push_back({indent + name, "", ""});
        walk(f, list ? "list" : "", indent + "  ", depth + 1);
      }
    }
  };
  Json body = Json::object();
  for (const auto& [key, v] : report.items())
    if (key != "filters" && key != "as_of_seq" && key != "source") body[key] = v;
  walk(body, "", "", 0);
  std::string head = "as of event " + std::to_string(report.value("as_of_seq", std::uint64_t{0})) + " (" +
                     report.value("source", std::string("projection")) + ")";
  const Json& f = report["filters"];
  if (!f["run"].is_null()) head += ", run " + f["run"].get<std::string>();
  if (!f["since"].is_null()) head += ", runs since " + f["since"].get<std::string>();
  if (!f["mode"].is_null()) head += ", mode " + f["mode"].get<std::string>();
  return head + "\n" + render_table({"METRIC", "VALUE", "BASED ON"}, rows, 80);
}

Result<double> read_minutes_per_manual_fix(const std::filesystem::path& repo) {
  const auto file = repo / "fixhost.toml";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return 30.0;
  try {
    toml::table t = toml::parse_file(file.string());
    auto node = t.get("minutes_per_manual_fix");
    if (!node) return 30.0;
    auto v = node->value<double>();
    if (!v || *v < 0)
      return make_error(Errc::invalid_argument, "'" + file.string() + "': minutes_per_manual_fix must be a number >= 0");
    return *v;
  } catch (const toml::parse_error& ex) {
    return make_error(Errc::invalid_argument, "'" + file.string() + "' is not valid TOML: " + std::string(ex.description()));
  }
}

}  // namespace fixhost::host
