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
const std::vector<std::string> k_unfixable_reasons = {"test_failed", "policy", "regression", "budget", "gave_up", "none"};
const std::vector<std::string> k_modes = {"detect", "autofix", "build", "heal", "replay", "sample"};

// ---- the projection's records -------------------------------------------------------------
// "w/<run>": RunWork, what the fold needs to go on; "s/<run>": RunSummary, what queries read;
// "pr/<number>": the run that opened pull request <number>. All cereal binary.

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
  template <class Ar> void serialize(Ar& ar) {
    ar(detected, flake, classified, attempted, attempt_category, first_attempt_us, outcome, attempts, resolved_us,
       last_revert, reverts, violations);
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

struct RunWork {
  bool started = false;
  std::string mode;
  std::int64_t start_us = 0;
  std::vector<std::uint64_t> detect_suites;  // seqs of the run's SuiteFinished with purpose detect
  std::map<std::string, TestWork> tests;
  std::map<std::string, std::int64_t> issues;  // issue id -> ts of its first SentryIssueIngested
  std::vector<PrWork> prs;
  std::uint64_t merges = 0, integration_failed = 0, conflicts = 0;
  std::int64_t wall_ms = 0, serial_ms = 0;
  std::map<std::string, StreamWork> streams;
  template <class Ar> void serialize(Ar& ar) {
    ar(started, mode, start_us, detect_suites, tests, issues, prs, merges, integration_failed, conflicts, wall_ms,
       serial_ms, streams);
  }
};

// Autofix figures of one category, summable over runs.
void sub_counts(std::map<std::string, std::uint64_t>& m, const std::map<std::string, std::uint64_t>& o) {
  for (const auto& [k, v] : o) {
    auto it = m.find(k);
    if (it == m.end()) continue;
    it->second -= std::min(it->second, v);
    if (it->second == 0) m.erase(it);
  }
}

struct CategorySum {
  std::uint64_t present = 0;  // runs that have the category
  std::uint64_t failures = 0, fixed = 0, unfixable = 0, flaky = 0, attempts_fixed = 0;
  std::map<std::string, std::uint64_t> reverts, violations, unfixable_reasons;
  std::vector<std::int64_t> fix_wall_us;
  template <class Ar> void serialize(Ar& ar) {
    ar(present, failures, fixed, unfixable, flaky, attempts_fixed, reverts, violations, unfixable_reasons, fix_wall_us);
  }
  // Without fix_wall_us (the totals keep those apart).
  void sub(const CategorySum& o) {
    present -= o.present, failures -= o.failures, fixed -= o.fixed, unfixable -= o.unfixable, flaky -= o.flaky;
    attempts_fixed -= o.attempts_fixed;
    sub_counts(reverts, o.reverts);
    sub_counts(violations, o.violations);
    sub_counts(unfixable_reasons, o.unfixable_reasons);
  }
  void add(const CategorySum& o) {
    present += o.present;
    failures += o.failures;
    fixed += o.fixed;
    unfixable += o.unfixable;
    flaky += o.flaky;
    attempts_fixed += o.attempts_fixed;
    for (const auto& [k, v] : o.reverts) reverts[k] += v;
    for (const auto& [k, v] : o.violations) violations[k] += v;
    for (const auto& [k, v] : o.unfixable_reasons) unfixable_reasons[k] += v;
    fix_wall_us.insert(fix_wall_us.end(), o.fix_wall_us.begin(), o.fix_wall_us.end());
  }
};

struct HealSum {
  std::uint64_t prs = 0, checked = 0, stopped = 0, resolved = 0, false_positive = 0, merged = 0, overridden = 0;
  std::int64_t time_to_pr_us = 0;
  template <class Ar> void serialize(Ar& ar) { ar(prs, checked, stopped, resolved, false_positive, merged, overridden, time_to_pr_us); }
  void add(const HealSum& o, int sign = 1) {
    auto u = [sign](std::uint64_t& a, std::uint64_t b) { a = sign > 0 ? a + b : a - b; };
    u(prs, o.prs), u(checked, o.checked), u(stopped, o.stopped), u(resolved, o.resolved);
    u(false_positive, o.false_positive), u(merged, o.merged), u(overridden, o.overridden);
    time_to_pr_us += sign * o.time_to_pr_us;
  }
};

struct BuildSum {
  std::uint64_t merges = 0, integration_failed = 0, conflicts = 0, streams = 0, streams_conflicted = 0;
  std::int64_t wall_ms = 0, serial_ms = 0;
  template <class Ar> void serialize(Ar& ar) { ar(merges, integration_failed, conflicts, streams, streams_conflicted, wall_ms, serial_ms); }
  void add(const BuildSum& o, int sign = 1) {
    auto u = [sign](std::uint64_t& a, std::uint64_t b) { a = sign > 0 ? a + b : a - b; };
    u(merges, o.merges), u(integration_failed, o.integration_failed), u(conflicts, o.conflicts);
    u(streams, o.streams), u(streams_conflicted, o.streams_conflicted);
    wall_ms += sign * o.wall_ms, serial_ms += sign * o.serial_ms;
  }
};

struct RunSummary {
  bool started = false;
  std::string mode;
  std::int64_t start_us = 0;
  std::map<std::string, CategorySum> categories;
  HealSum heal;
  BuildSum build;
  template <class Ar> void serialize(Ar& ar) { ar(started, mode, start_us, categories, heal, build); }
};

// Every started run's summary added up, by mode ("t/modes"); the autofix fix wall times of a
// category are kept sorted apart ("t/wall/<category>") so that most updates leave them alone.
struct ModeTotals {
  std::uint64_t runs = 0;
  std::map<std::string, CategorySum> categories;  // fix_wall_us empty
  HealSum heal;
  BuildSum build;
  template <class Ar> void serialize(Ar& ar) { ar(runs, categories, heal, build); }
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

RunSummary summarize(const RunWork& w) {
  RunSummary s;
  s.started = w.started;
  s.mode = w.mode;
  s.start_us = w.start_us;
  for (const auto& [id, t] : w.tests) {
    const std::string& cat = !t.attempt_category.empty() ? t.attempt_category
                             : !t.classified.empty()     ? t.classified
                                                         : k_categories.back();
    CategorySum& c = s.categories[cat];
    c.present = 1;
    for (const auto& [k, v] : t.reverts) c.reverts[k] += v;
    for (const auto& [k, v] : t.violations) c.violations[k] += v;
    if (!t.detected && t.outcome.empty()) continue;  // not one of the run's failures
    ++c.failures;
    if (t.flake || t.outcome == "flaky") ++c.flaky;
    if (t.outcome == "fixed") {
      ++c.fixed;
      c.attempts_fixed += t.attempts;
      if (t.attempted) c.fix_wall_us.push_back(t.resolved_us - t.first_attempt_us);
    } else if (t.outcome == "unfixable") {
      ++c.unfixable;
      ++c.unfixable_reasons[t.last_revert.empty() ? "none" : t.last_revert];
    }
  }
  for (const auto& pr : w.prs) {
    ++s.heal.prs;
    s.heal.time_to_pr_us += pr.opened_us - pr.from_us;
    if (pr.recurrence >= 0) ++s.heal.checked;
    if (pr.recurrence == 1) ++s.heal.stopped;
    if (pr.resolved) {
      ++s.heal.resolved;
      if (pr.state != "merged" || pr.recurrence == 0) ++s.heal.false_positive;
      if (pr.state == "merged") {
        ++s.heal.merged;
        if (pr.human_commits > 0) ++s.heal.overridden;
      }
    }
  }
  s.build.merges = w.merges;
  s.build.integration_failed = w.integration_failed;
  s.build.conflicts = w.conflicts;
  s.build.wall_ms = w.wall_ms;
  s.build.serial_ms = w.serial_ms;
  for (const auto& [name, st] : w.streams) {
    if (!st.finished) continue;
    ++s.build.streams;
    if (st.conflicted) ++s.build.streams_conflicted;
  }
  return s;
}

// ---- the fold -----------------------------------------------------------------------------

class StatsProjection final : public store::Projection {
 public:
  std::string name() const override { return std::string(k_stats_projection); }
  std::uint32_t version() const override { return 1; }
  Status apply(std::span<const events::Event> evs, store::ProjectionState& state) const override;
};

bool wanted(EventType t) {
  switch (t) {
    case EventType::RunStarted: case EventType::SuiteFinished: case EventType::FailureDetected:
    case EventType::FailureClassified: case EventType::FlakeDetected: case EventType::AttemptStarted:
    case EventType::PolicyViolation: case EventType::Reverted: case EventType::FailureResolved:
    case EventType::SentryIssueIngested: case EventType::PrOpened: case EventType::PrResolved:
    case EventType::ErrorRecurrenceChecked: case EventType::StreamFinished: case EventType::MergeConflict:
    case EventType::WorktreesMerged:
      return true;
    default:
      return false;
  }
}

Status StatsProjection::apply(std::span<const events::Event> evs, store::ProjectionState& state) const {
  std::unordered_map<std::string, RunWork> cache;
  std::vector<std::string> dirty;
  auto work = [&](const std::string& run) -> Result<RunWork*> {
    auto it = cache.find(run);
    if (it != cache.end()) return &it->second;
    const std::string key = "w/" + run;
    auto rec = state.get(key);
    if (!rec) return rec.status();
    RunWork w;
    if (*rec) {
      auto d = from_bytes<RunWork>(**rec, key);
      if (!d) return d.status();
      w = std::move(*d);
    }
    dirty.push_back(run);
    return &cache.emplace(run, std::move(w)).first->second;
  };
  // The PR with this number and the run that opened it (nullptr when no PrOpened has it).
  auto find_pr = [&](std::uint64_t number) -> Result<PrWork*> {
    auto rec = state.get("pr/" + std::to_string(number));
    if (!rec) return rec.status();
    if (!*rec) return static_cast<PrWork*>(nullptr);
    auto w = work(**rec);
    if (!w) return w.status();
    for (auto it = (*w)->prs.rbegin(); it != (*w)->prs.rend(); ++it)
      if (it->number == number) return &*it;
    return static_cast<PrWork*>(nullptr);
  };
#define FIXHOST_DECODE(Type, var)                 \
  auto var##_r = events::decode<events::Type>(e); \
  if (!var##_r) return var##_r.status();          \
  const events::Type& var = *var##_r

  for (const auto& e : evs) {
    if (!wanted(e.type)) continue;
    auto wr = work(e.run_id);
    if (!wr) return wr.status();
    RunWork& w = **wr;
    switch (e.type) {
      case EventType::RunStarted: {
        FIXHOST_DECODE(RunStarted, p);
        w.started = true;
        w.mode = p.mode;
        w.start_us = e.ts_us;
        break;
      }
      case EventType::SuiteFinished: {
        FIXHOST_DECODE(SuiteFinished, p);
        if (p.purpose == "detect") w.detect_suites.push_back(e.seq);
        break;
      }
      case EventType::FailureDetected: {
        if (std::find(w.detect_suites.begin(), w.detect_suites.end(), e.causation) == w.detect_suites.end()) break;
        FIXHOST_DECODE(FailureDetected, p);
        w.tests[p.test_id].detected = true;
        break;
      }
      case EventType::FailureClassified: {
        FIXHOST_DECODE(FailureClassified, p);
        auto& t = w.tests[p.test_id];
        if (t.classified.empty()) t.classified = p.category;
        break;
      }
      case EventType::FlakeDetected: {
        FIXHOST_DECODE(FlakeDetected, p);
        w.tests[p.test_id].flake = true;
        break;
      }
      case EventType::AttemptStarted: {
        FIXHOST_DECODE(AttemptStarted, p);
        auto& t = w.tests[p.test_id];
        if (!t.attempted) {
          t.attempted = true;
          t.attempt_category = p.category;
          t.first_attempt_us = e.ts_us;
        }
        break;
      }
      case EventType::PolicyViolation: {
        FIXHOST_DECODE(PolicyViolation, p);
        ++w.tests[p.test_id].violations[p.rule];
        break;
      }
      case EventType::Reverted: {
        FIXHOST_DECODE(Reverted, p);
        auto& t = w.tests[p.test_id];
        ++t.reverts[p.reason];
        t.last_revert = p.reason;
        break;
      }
      case EventType::FailureResolved: {
        FIXHOST_DECODE(FailureResolved, p);
        auto& t = w.tests[p.test_id];
        t.outcome = p.outcome;
        t.attempts = p.attempts;
        t.resolved_us = e.ts_us;
        break;
      }
      case EventType::SentryIssueIngested: {
        FIXHOST_DECODE(SentryIssueIngested, p);
        w.issues.emplace(p.issue_id, e.ts_us);
        break;
      }
      case EventType::PrOpened: {
        FIXHOST_DECODE(PrOpened, p);
        PrWork pr;
        pr.number = p.number;
        pr.opened_us = e.ts_us;
        auto it = w.issues.find(p.issue_id);
        pr.from_us = it != w.issues.end() ? it->second : w.started ? w.start_us : e.ts_us;
        w.prs.push_back(pr);
        state.put("pr/" + std::to_string(p.number), e.run_id);
        break;
      }
      case EventType::PrResolved: {
        FIXHOST_DECODE(PrResolved, p);
        auto pr = find_pr(p.number);
        if (!pr) return pr.status();
        if (*pr) {
          (*pr)->resolved = true;
          (*pr)->state = p.state;
          (*pr)->human_commits = p.human_commits;
        }
        break;
      }
      case EventType::ErrorRecurrenceChecked: {
        FIXHOST_DECODE(ErrorRecurrenceChecked, p);
        auto pr = find_pr(p.pr_number);
        if (!pr) return pr.status();
        if (*pr) (*pr)->recurrence = p.stopped ? 1 : 0;
        break;
      }
      case EventType::StreamFinished: {
        FIXHOST_DECODE(StreamFinished, p);
        w.streams[p.stream].finished = true;
        break;
      }
      case EventType::MergeConflict: {
        FIXHOST_DECODE(MergeConflict, p);
        w.streams[p.stream].conflicted = true;
        ++w.conflicts;
        break;
      }
      case EventType::WorktreesMerged: {
        FIXHOST_DECODE(WorktreesMerged, p);
        ++w.merges;
        w.wall_ms += p.wall_ms;
        w.serial_ms += p.serial_ms;
        if (!p.integration_passed) ++w.integration_failed;
        break;
      }
      default:
        break;
    }
  }
#undef FIXHOST_DECODE
  if (dirty.empty()) return Status::ok();
  auto totals_rec = state.get("t/modes");
  if (!totals_rec) return totals_rec.status();
  Totals totals;
  if (*totals_rec) {
    auto t = from_bytes<Totals>(**totals_rec, "t/modes");
    if (!t) return t.status();
    totals = std::move(*t);
  }
  std::map<std::string, std::vector<std::int64_t>> walls;  // categories whose wall times change
  auto wall_of = [&](const std::string& cat) -> Result<std::vector<std::int64_t>*> {
    auto it = walls.find(cat);
    if (it != walls.end()) return &it->second;
    const std::string key = "t/wall/" + cat;
    auto rec = state.get(key);
    if (!rec) return rec.status();
    std::vector<std::int64_t> v;
    if (*rec) {
      auto d = from_bytes<std::vector<std::int64_t>>(**rec, key);
      if (!d) return d.status();
      v = std::move(*d);
    }
    return &walls.emplace(cat, std::move(v)).first->second;
  };
  for (const auto& run : dirty) {
    const RunWork& w = cache.at(run);
    const std::string key = "s/" + run;
    auto old_rec = state.get(key);
    if (!old_rec) return old_rec.status();
    RunSummary now = summarize(w);
    std::optional<RunSummary> before;
    if (*old_rec) {
      auto d = from_bytes<RunSummary>(**old_rec, key);
      if (!d) return d.status();
      before = std::move(*d);
    }
    // Take the run's old figures out of the totals and put its new ones in.
    for (int sign : {-1, 1}) {
      const RunSummary* r = sign < 0 ? (before ? &*before : nullptr) : &now;
      if (!r || !r->started) continue;
      ModeTotals& m = totals[r->mode];
      m.runs = sign > 0 ? m.runs + 1 : m.runs - 1;
      m.heal.add(r->heal, sign);
      m.build.add(r->build, sign);
      for (const auto& [cat, c] : r->categories) {
        if (sign > 0) {
          CategorySum copy = c;
          copy.fix_wall_us.clear();
          m.categories[cat].add(copy);
        } else if (auto it = m.categories.find(cat); it != m.categories.end()) {
          it->second.sub(c);
          if (it->second.present == 0) m.categories.erase(it);
        }
        if (r->mode != "autofix" || c.fix_wall_us.empty()) continue;
        auto wv = wall_of(cat);
        if (!wv) return wv.status();
        for (std::int64_t us : c.fix_wall_us) {
          auto pos = std::lower_bound((*wv)->begin(), (*wv)->end(), us);
          if (sign > 0) (*wv)->insert(pos, us);
          else if (pos != (*wv)->end() && *pos == us) (*wv)->erase(pos);
        }
      }
      if (sign < 0 && m.runs == 0) totals.erase(r->mode);
    }
    state.put("w/" + run, to_bytes(w));
    state.put(key, to_bytes(now));
  }
  state.put("t/modes", to_bytes(totals));
  for (const auto& [cat, v] : walls) {
    if (v.empty()) state.erase("t/wall/" + cat);
    else state.put("t/wall/" + cat, to_bytes(v));
  }
  return Status::ok();
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

Json autofix_figures(const CategorySum& c, std::uint64_t runs, double minutes, bool with_runs) {
  Json j = Json::object();
  if (with_runs) j["runs"] = total(static_cast<double>(runs), runs);
  j["failures_detected"] = total(static_cast<double>(c.failures), runs);
  j["fixed"] = total(static_cast<double>(c.fixed), runs);
  j["unfixable"] = total(static_cast<double>(c.unfixable), runs);
  j["flaky"] = total(static_cast<double>(c.flaky), runs);
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
// ("t/modes", "t/wall/*"); otherwise from the summaries of the selected runs added up here.
Result<nlohmann::ordered_json> compute(const store::ProjectionView& view, const StatsQuery& q, bool use_totals) {
  if (auto s = check_stats_mode(q.mode); !s) return s;
  if (!q.run.empty())
    if (auto s = check_run_id(view, q.run); !s) return s;
  std::map<std::string, std::uint64_t> runs_by_mode;
  std::uint64_t runs = 0, autofix_runs = 0, heal_runs = 0, build_runs = 0;
  std::map<std::string, CategorySum> categories;
  HealSum heal;
  BuildSum build;
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
    ++runs;
    ++runs_by_mode[r.mode];
    if (r.mode == "autofix") {
      ++autofix_runs;
      for (const auto& [cat, c] : r.categories) categories[cat].add(c);
    } else if (r.mode == "heal") {
      ++heal_runs;
      heal.add(r.heal);
    } else if (r.mode == "build") {
      ++build_runs;
      build.add(r.build);
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
      runs_by_mode[mode] += m.runs;
      if (mode == "autofix") {
        autofix_runs += m.runs;
        for (auto& [cat, c] : m.categories) {
          const std::string key = "t/wall/" + cat;
          auto wall = view.get(key);
          if (!wall) return wall.status();
          if (*wall) {
            auto v = from_bytes<std::vector<std::int64_t>>(**wall, key);
            if (!v) return v.status();
            c.fix_wall_us = std::move(*v);
          }
          categories[cat] = std::move(c);
        }
      } else if (mode == "heal") {
        heal_runs += m.runs;
        heal = m.heal;
      } else if (mode == "build") {
        build_runs += m.runs;
        build = m.build;
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
    b["contract_accuracy"] = ratio(static_cast<double>(build.streams - build.streams_conflicted), build.streams);
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
      const bool list = key.ends_with("_by_reason") || key.ends_with("_by_rule") || key == "runs_by_mode";
      if (list && depth >= 2) continue;
      if (label == "list" && is_figure(f) && f["value"] == 0) continue;
      if (depth == 2 && f.is_object() && f.contains("failures_detected")) {
        auto zero = [](const Json& m) { return std::all_of(m.begin(), m.end(), [](const Json& x) { return x["value"] == 0; }); };
        if (f["failures_detected"]["value"] == 0 && zero(f["reverts_by_reason"]) && zero(f["policy_violations_by_rule"]))
          continue;
      }
      if (is_figure(f)) {
        std::string text = value_text(f);
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
