#pragma once
// The known event history the stats tests check every figure against (the expected values are
// worked out by hand in test_stats.cpp from docs/STATS.md). Appended in small batches so that
// the projection folds it across many writes.
#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"

namespace stats_test {

using namespace fixhost;

// Microseconds since the epoch of a UTC date and time.
inline std::int64_t utc_us(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000000;
}

// Appends events `batch` at a time, knowing each one's seq before it is written.
class Writer {
 public:
  Writer(store::EventLog& log, std::size_t batch) : log_(log), batch_(batch), next_(log.last_seq() + 1) {}
  ~Writer() noexcept(false) { flush(); }

  template <class P>
  std::uint64_t add(const std::string& run, std::int64_t ts_us, const P& p, std::uint64_t causation = 0) {
    auto e = events::make_event(p, run, "host", causation);
    e.ts_us = ts_us;
    pending_.push_back(std::move(e));
    const std::uint64_t seq = next_++;
    if (pending_.size() >= batch_) flush();
    return seq;
  }
  void flush() {
    if (pending_.empty()) return;
    auto r = log_.append_batch(pending_);
    if (!r) throw std::runtime_error(r.status().to_string());
    pending_.clear();
  }

 private:
  store::EventLog& log_;
  std::size_t batch_;
  std::uint64_t next_;
  std::vector<events::Event> pending_;
};

inline events::RunStarted started(const std::string& mode) {
  events::RunStarted p;
  p.mode = mode;
  p.repo = "/repo";
  return p;
}
inline events::RunFinished finished(const std::string& outcome) {
  events::RunFinished p;
  p.outcome = outcome;
  return p;
}
inline events::SuiteFinished suite(const std::string& purpose) {
  events::SuiteFinished p;
  p.suite = "python";
  p.runner = "pytest";
  p.purpose = purpose;
  p.exit_code = 1;
  return p;
}
inline events::FailureDetected detected(const std::string& test) {
  events::FailureDetected p;
  p.runner = "pytest";
  p.suite = "python";
  p.test_id = test;
  p.message = "assert 1 == 2";
  return p;
}
inline events::FailureClassified classified(const std::string& test, const std::string& category) {
  events::FailureClassified p;
  p.test_id = test;
  p.category = category;
  p.confidence = 0.9;
  return p;
}
inline events::FlakeDetected flake(const std::string& test) {
  events::FlakeDetected p;
  p.test_id = test;
  p.reruns = 1;
  p.passes = 1;
  return p;
}
inline events::AttemptStarted attempt(const std::string& test, std::uint32_t n, const std::string& category) {
  events::AttemptStarted p;
  p.test_id = test;
  p.attempt = n;
  p.category = category;
  return p;
}
// `cost_usd` < 0: the agent reported no usage (unknown).
inline events::AttemptFinished attempt_done(const std::string& test, std::uint32_t n, const std::string& category,
                                            double cost_usd = -1) {
  events::AttemptFinished p;
  p.test_id = test;
  p.attempt = n;
  p.category = category;
  p.duration_ms = 1234;
  if (cost_usd >= 0) p.usage = {true, 1000, 200, cost_usd, "m-1"};
  return p;
}
inline events::PolicyViolation violation(const std::string& test, const std::string& rule) {
  events::PolicyViolation p;
  p.test_id = test;
  p.attempt = 1;
  p.rule = rule;
  return p;
}
inline events::Reverted reverted(const std::string& test, const std::string& reason) {
  events::Reverted p;
  p.test_id = test;
  p.reason = reason;
  return p;
}
inline events::FailureResolved resolved(const std::string& test, const std::string& outcome, std::uint32_t attempts,
                                        const std::string& reason = "") {
  events::FailureResolved p;
  p.test_id = test;
  p.outcome = outcome;
  p.attempts = attempts;
  p.reason = reason;
  return p;
}
inline events::SentryIssueIngested ingested(const std::string& issue) {
  events::SentryIssueIngested p;
  p.issue_id = issue;
  p.via = "webhook";
  return p;
}
inline events::PrOpened pr_opened(std::uint64_t number, const std::string& issue) {
  events::PrOpened p;
  p.provider = "github";
  p.number = number;
  p.issue_id = issue;
  p.branch = "fix/sentry-" + issue;
  return p;
}
inline events::PrResolved pr_resolved(std::uint64_t number, const std::string& state, std::uint32_t human) {
  events::PrResolved p;
  p.number = number;
  p.state = state;
  p.human_commits = human;
  return p;
}
inline events::ErrorRecurrenceChecked recurrence(std::uint64_t pr, bool stopped) {
  events::ErrorRecurrenceChecked p;
  p.pr_number = pr;
  p.stopped = stopped;
  p.window_s = 3600;
  return p;
}
inline events::StreamFinished stream(const std::string& name) {
  events::StreamFinished p;
  p.stream = name;
  p.outcome = "ok";
  return p;
}
inline events::MergeConflict conflict(const std::string& stream, const std::string& file) {
  events::MergeConflict p;
  p.stream = stream;
  p.file = file;
  p.resolution = "contract_wins";
  return p;
}
inline events::WorktreesMerged merged(std::int64_t wall, std::int64_t serial, bool passed, std::int64_t critical = 0,
                                      std::string cause = "") {
  events::WorktreesMerged p;
  p.wall_ms = wall;
  p.serial_ms = serial;
  p.integration_passed = passed;
  p.critical_ms = critical;
  p.failure_cause = std::move(cause);
  p.first_try = passed;
  return p;
}

// Runs af-1, af-2, det-1, af-old, heal-1, heal-2, build-1, build-2 and events of a run that
// never started ("orphan"). The figures they give are worked out in test_stats.cpp.
inline void write_history(store::EventLog& log, std::size_t batch) {
  Writer w(log, batch);
  const std::string tf = "test_failed";
  {  // af-1: four failures from the detect sweep; t1 and t2 fixed, t3 unfixable, t4 flaky.
    const std::string r = "af-1";
    const auto t0 = utc_us(2026, 11, 5, 10);
    const auto s = 1000000;
    w.add(r, t0, started("autofix"));
    const auto sweep = w.add(r, t0 + 1 * s, suite("detect"));
    for (auto [t, c] : {std::pair{"t1", "logic_bug"}, {"t2", "type_error"}, {"t3", "logic_bug"}, {"t4", "missing_dependency"}}) {
      const auto f = w.add(r, t0 + 2 * s, detected(t), sweep);
      w.add(r, t0 + 2 * s, classified(t, c), f);
    }
    const auto fl = w.add(r, t0 + 3 * s, flake("t4"));
    w.add(r, t0 + 3 * s, classified("t4", "flaky"), fl);
    w.add(r, t0 + 10 * s, attempt("t1", 1, "logic_bug"));
    w.add(r, t0 + 15 * s, attempt_done("t1", 1, "logic_bug", 0.25));
    w.add(r, t0 + 15 * s, violation("t1", "test_edited"));
    w.add(r, t0 + 16 * s, reverted("t1", "policy"));
    w.add(r, t0 + 20 * s, attempt("t1", 2, "logic_bug"));
    w.add(r, t0 + 70 * s, resolved("t1", "fixed", 2));
    w.add(r, t0 + 100 * s, attempt("t2", 1, "type_error"));
    w.add(r, t0 + 130 * s, resolved("t2", "fixed", 1));
    w.add(r, t0 + 200 * s, attempt("t3", 1, "logic_bug"));
    w.add(r, t0 + 210 * s, reverted("t3", tf));
    w.add(r, t0 + 220 * s, attempt("t3", 2, "logic_bug"));
    w.add(r, t0 + 230 * s, reverted("t3", "gave_up"));
    w.add(r, t0 + 231 * s, resolved("t3", "unfixable", 2, "used all 2 attempts; still failing"));
    w.add(r, t0 + 232 * s, resolved("t4", "flaky", 0, "it passed when re-run alone"));
    // The verify sweep finds t9 broken: not one of the run's failures.
    const auto verify = w.add(r, t0 + 240 * s, suite("verify"));
    const auto f9 = w.add(r, t0 + 241 * s, detected("t9"), verify);
    w.add(r, t0 + 241 * s, classified("t9", "env_mismatch"), f9);
    w.add(r, t0 + 250 * s, finished("unfixable"));
  }
  {  // af-2: u1 fixed (stale_mock), u2 reverted for a regression and unfixable.
    const std::string r = "af-2";
    const auto t0 = utc_us(2026, 11, 6, 9);
    const auto s = 1000000;
    w.add(r, t0, started("autofix"));
    const auto sweep = w.add(r, t0 + s, suite("detect"));
    const auto f1 = w.add(r, t0 + 2 * s, detected("u1"), sweep);
    w.add(r, t0 + 2 * s, classified("u1", "stale_mock"), f1);
    const auto f2 = w.add(r, t0 + 2 * s, detected("u2"), sweep);
    w.add(r, t0 + 2 * s, classified("u2", "logic_bug"), f2);
    w.add(r, t0 + 10 * s, attempt("u1", 1, "stale_mock"));
    w.add(r, t0 + 55 * s, resolved("u1", "fixed", 1));
    w.add(r, t0 + 100 * s, attempt("u2", 1, "logic_bug"));
    w.add(r, t0 + 120 * s, violation("u2", "protected_path"));
    w.add(r, t0 + 190 * s, reverted("u2", "regression"));
    w.add(r, t0 + 191 * s, resolved("u2", "unfixable", 1, "its fix broke tests/test_b.py::test_x; reverted"));
    // A later sweep classifies u1 again: its category stays the one of its first attempt.
    const auto verify = w.add(r, t0 + 200 * s, suite("verify"));
    const auto g1 = w.add(r, t0 + 201 * s, detected("u1"), verify);
    w.add(r, t0 + 201 * s, classified("u1", "logic_bug"), g1);
    w.add(r, t0 + 210 * s, finished("unfixable"));
  }
  {  // det-1: a detect run; its failures are no autofix figure.
    const std::string r = "det-1";
    const auto t0 = utc_us(2026, 11, 5, 8);
    w.add(r, t0, started("detect"));
    const auto sweep = w.add(r, t0 + 1, suite("detect"));
    const auto f = w.add(r, t0 + 2, detected("d1"), sweep);
    w.add(r, t0 + 2, classified("d1", "logic_bug"), f);
    w.add(r, t0 + 3, finished("failures"));
    // Issue I2 first seen by another run (as serve records it), 1000 s before heal-1 starts.
    w.add(r, utc_us(2026, 11, 7) - 1000LL * 1000000, ingested("I2"));
  }
  {  // af-old: before 2026-11-01; z1 fixed in 20 s.
    const std::string r = "af-old";
    const auto t0 = utc_us(2026, 10, 1, 12);
    const auto s = 1000000;
    w.add(r, t0, started("autofix"));
    const auto sweep = w.add(r, t0 + s, suite("detect"));
    const auto f = w.add(r, t0 + 2 * s, detected("z1"), sweep);
    w.add(r, t0 + 2 * s, classified("z1", "logic_bug"), f);
    w.add(r, t0 + 5 * s, attempt("z1", 1, "logic_bug"));
    w.add(r, t0 + 25 * s, resolved("z1", "fixed", 1));
    w.add(r, t0 + 30 * s, finished("ok"));
  }
  {  // heal-1 opens PRs 101 (issue I1, ingested 300 s before), 102 (I2, first seen by det-1
     // 1000 s before the run started, so 1600 s) and 103 (I3, ingested 200 s before); it asks
     // for three reproductions (I1, I4, I5) and I4's fails.
    const std::string r = "heal-1";
    const auto t0 = utc_us(2026, 11, 7);
    const auto s = 1000000;
    w.add(r, t0, started("heal"));
    w.add(r, t0 + 60 * s, ingested("I1"));
    w.add(r, t0 + 61 * s, attempt("sentry-I1", 1, "reproduce"));
    w.add(r, t0 + 62 * s, attempt("sentry-I4", 1, "reproduce"));
    {
      auto nr = resolved("sentry-I4", "unfixable", 1, "the agent wrote no test");
      nr.reason_kind = "not_reproduced";
      w.add(r, t0 + 63 * s, nr);
    }
    w.add(r, t0 + 64 * s, attempt("sentry-I5", 1, "reproduce"));
    w.add(r, t0 + 65 * s, attempt("sentry-I5", 2, "reproduce"));  // a second attempt is the same group
    w.add(r, t0 + 360 * s, pr_opened(101, "I1"));
    w.add(r, t0 + 600 * s, pr_opened(102, "I2"));
    w.add(r, t0 + 700 * s, ingested("I3"));
    w.add(r, t0 + 900 * s, pr_opened(103, "I3"));
    w.add(r, t0 + 1000 * s, finished("ok"));
  }
  {  // heal-2 sees them resolved: 101 merged as is and its error stopped; 102 merged after two
     // human commits and its error came back; 103 closed; 999 was never opened.
    const std::string r = "heal-2";
    const auto t0 = utc_us(2026, 11, 8);
    w.add(r, t0, started("heal"));
    w.add(r, t0 + 1, pr_resolved(101, "merged", 0));
    w.add(r, t0 + 2, recurrence(101, true));
    w.add(r, t0 + 3, pr_resolved(102, "merged", 2));
    w.add(r, t0 + 4, recurrence(102, true));
    w.add(r, t0 + 5, recurrence(102, false));
    w.add(r, t0 + 6, pr_resolved(103, "closed", 0));
    w.add(r, t0 + 7, pr_resolved(999, "merged", 5));
    w.add(r, t0 + 8, finished("ok"));
  }
  {  // build-1: four streams, two conflicts in frontend, integration failed.
    const std::string r = "build-1";
    const auto t0 = utc_us(2026, 11, 9);
    w.add(r, t0, started("build"));
    for (const char* st : {"contracts", "backend", "frontend", "tests"}) w.add(r, t0 + 1, stream(st));
    w.add(r, t0 + 2, conflict("frontend", "src/api.ts"));
    w.add(r, t0 + 2, conflict("frontend", "src/types.ts"));
    w.add(r, t0 + 3, merged(1000, 3500, false, 900, "conflict"));
    w.add(r, t0 + 4, finished("failures"));
  }
  {  // build-2: two streams, no conflict, integration passed.
    const std::string r = "build-2";
    const auto t0 = utc_us(2026, 11, 10);
    w.add(r, t0, started("build"));
    w.add(r, t0 + 1, stream("a"));
    w.add(r, t0 + 1, stream("b"));
    w.add(r, t0 + 3, merged(500, 800, true, 450));
    w.add(r, t0 + 4, finished("ok"));
  }
  {  // Events of a run without RunStarted count nowhere.
    const std::string r = "orphan";
    const auto t0 = utc_us(2026, 11, 11);
    const auto sweep = w.add(r, t0, suite("detect"));
    w.add(r, t0 + 1, detected("o1"), sweep);
    w.add(r, t0 + 2, attempt("o1", 1, "logic_bug"));
    w.add(r, t0 + 3, resolved("o1", "fixed", 1));
  }
  w.flush();
}

// One more autofix run (for the writer test): one failure, fixed in 10 s.
inline void write_extra_run(store::EventLog& log, const std::string& run) {
  Writer w(log, 2);
  const auto t0 = utc_us(2026, 11, 12);
  const auto s = 1000000;
  w.add(run, t0, started("autofix"));
  const auto sweep = w.add(run, t0 + s, suite("detect"));
  const auto f = w.add(run, t0 + 2 * s, detected("x1"), sweep);
  w.add(run, t0 + 2 * s, classified("x1", "type_error"), f);
  w.add(run, t0 + 3 * s, attempt("x1", 1, "type_error"));
  w.add(run, t0 + 13 * s, resolved("x1", "fixed", 1));
  w.add(run, t0 + 14 * s, finished("ok"));
  w.flush();
}

}  // namespace stats_test
