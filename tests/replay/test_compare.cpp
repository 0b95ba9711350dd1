// The comparison behind hostctl replay, on hand-made runs: every kind of difference, matching per
// sweep, derivations missing only because their parent is missing, and run selection.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/replay.hpp"

namespace ev = fixhost::events;
using fixhost::host::compare_derivations;
using fixhost::host::DiffKind;
using fixhost::host::Difference;
using fixhost::host::RunComparison;

namespace {

// Builds one side of a run: events with explicit seqs and causation.
struct Log {
  std::vector<ev::Event> events;
  template <class P>
  std::uint64_t add(std::uint64_t seq, const P& p, std::uint64_t causation = 0) {
    ev::Event e = ev::make_event(p, "r1", "test", causation);
    e.seq = seq;
    events.push_back(e);
    return seq;
  }
};

ev::SuiteFinished suite(const std::string& purpose, const std::string& test_id = "") {
  ev::SuiteFinished s;
  s.suite = "py";
  s.runner = "pytest";
  s.purpose = purpose;
  s.test_id = test_id;
  return s;
}
ev::FailureDetected failure(const std::string& id) {
  ev::FailureDetected f;
  f.runner = "pytest";
  f.suite = "py";
  f.test_id = id;
  f.error_type = "AssertionError";
  f.message = "assert 1 == 2";
  return f;
}
ev::FailureClassified category(const std::string& id, const std::string& cat) {
  ev::FailureClassified c;
  c.test_id = id;
  c.category = cat;
  return c;
}
ev::FailureOrdered ordered(const std::string& id, int depth, const std::string& module) {
  ev::FailureOrdered o;
  o.test_id = id;
  o.depth = depth;
  o.module = module;
  return o;
}

std::vector<Difference> of_kind(const RunComparison& c, DiffKind k) {
  std::vector<Difference> out;
  for (const auto& d : c.differences)
    if (d.kind == k) out.push_back(d);
  return out;
}

}  // namespace

TEST_CASE("compare: identical derivations are no difference, even with other seqs") {
  Log rec, rep;
  rec.add(1, suite("detect"));
  rec.add(2, failure("t::a"), 1);
  rec.add(3, category("t::a", "logic_bug"), 2);
  rec.add(4, ordered("t::a", 1, "calc.py"), 2);
  rep.add(101, failure("t::a"), 1);
  rep.add(102, category("t::a", "logic_bug"), 101);
  rep.add(103, ordered("t::a", 1, "calc.py"), 101);
  auto c = compare_derivations(rec.events, rep.events);
  CHECK(c.differences.empty());
  CHECK(c.recorded_derived == 3);
  CHECK(c.replayed_derived == 3);
}

TEST_CASE("compare: category, order and severity changes, failures found by one side only") {
  Log rec, rep;
  rec.add(1, suite("detect"));
  rec.add(2, failure("t::a"), 1);
  rec.add(3, category("t::a", "logic_bug"), 2);
  rec.add(4, ordered("t::a", 0, "calc.py"), 2);
  rec.add(5, failure("t::gone"), 1);
  rec.add(6, category("t::gone", "type_error"), 5);  // goes with its failure: not counted again
  ev::SentryIssueIngested issue;
  issue.issue_id = "SENTRY-1";
  rec.add(7, issue);
  ev::IssueTriaged tri;
  tri.issue_id = "SENTRY-1";
  tri.priority = "P2";
  tri.severity = 2;
  rec.add(8, tri, 7);
  ev::AttemptFinished att;
  att.test_id = "t::a";
  att.attempt = 1;
  rec.add(9, att);
  ev::PolicyViolation pv;
  pv.test_id = "t::a";
  pv.attempt = 1;
  pv.rule = "skip_marker";
  pv.path = "tests/test_a.py";
  rec.add(10, pv, 9);

  rep.add(101, failure("t::a"), 1);
  rep.add(102, category("t::a", "stale_mock"), 101);
  rep.add(103, ordered("t::a", 2, "util.py"), 101);
  rep.add(104, failure("t::new"), 1);
  rep.add(105, category("t::new", "logic_bug"), 104);
  ev::IssueTriaged tri2 = tri;
  tri2.priority = "P0";
  tri2.severity = 5;
  rep.add(106, tri2, 7);
  ev::PolicyViolation pv2 = pv;
  pv2.rule = "assertion_weakened";
  rep.add(107, pv2, 9);

  auto c = compare_derivations(rec.events, rep.events);
  auto cats = of_kind(c, DiffKind::category);
  REQUIRE(cats.size() == 1);
  CHECK(cats[0].subject == "t::a");
  CHECK(cats[0].old_value == "logic_bug");
  CHECK(cats[0].new_value == "stale_mock");
  CHECK(cats[0].purpose == "detect");
  CHECK(cats[0].suite == "py");
  CHECK(cats[0].recorded_seq == 3);

  auto orders = of_kind(c, DiffKind::order);
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].old_value == "depth 0 calc.py");
  CHECK(orders[0].new_value == "depth 2 util.py");

  auto sev = of_kind(c, DiffKind::severity);
  REQUIRE(sev.size() == 1);
  CHECK(sev[0].subject == "SENTRY-1");
  CHECK(sev[0].old_value == "P2 (severity 2)");
  CHECK(sev[0].new_value == "P0 (severity 5)");
  CHECK(sev[0].context == "SentryIssueIngested");

  auto old_only = of_kind(c, DiffKind::only_recorded);
  auto new_only = of_kind(c, DiffKind::only_replayed);
  // t::gone and the old skip_marker verdict; t::new and the new assertion_weakened verdict.
  REQUIRE(old_only.size() == 2);
  REQUIRE(new_only.size() == 2);
  CHECK(old_only[0].subject == "t::gone");
  CHECK(old_only[0].type == ev::EventType::FailureDetected);
  CHECK(old_only[0].old_value.find("AssertionError") != std::string::npos);
  CHECK(old_only[1].type == ev::EventType::PolicyViolation);
  CHECK(old_only[1].old_value.find("skip_marker") != std::string::npos);
  CHECK(new_only[0].subject == "t::new");
  CHECK(new_only[1].new_value.find("assertion_weakened") != std::string::npos);

  // The ReplayCompared payload carries the counts and one JSON line per difference.
  auto p = c.to_payload();
  CHECK(p.only_recorded == 2);
  CHECK(p.only_replayed == 2);
  CHECK(p.category_changes == 1);
  CHECK(p.order_changes == 1);
  CHECK(p.severity_changes == 1);
  std::size_t lines = 0;
  for (char ch : p.detail) lines += ch == '\n';
  CHECK(lines == 7);
  auto first = nlohmann::json::parse(p.detail.substr(0, p.detail.find('\n')));
  CHECK(first.contains("kind"));
  CHECK(first.contains("test_id"));
}

TEST_CASE("compare: sweeps of one run are matched separately") {
  // The same test fails in the detect sweep and in its flaky check; only the flaky-check
  // classification changes, and the difference names that sweep.
  Log rec, rep;
  rec.add(1, suite("detect"));
  rec.add(2, failure("t::a"), 1);
  rec.add(3, category("t::a", "logic_bug"), 2);
  rec.add(4, suite("flaky_check", "t::a"));
  rec.add(5, failure("t::a"), 4);
  rec.add(6, category("t::a", "logic_bug"), 5);
  rep.add(101, failure("t::a"), 1);
  rep.add(102, category("t::a", "logic_bug"), 101);
  rep.add(103, failure("t::a"), 4);
  rep.add(104, category("t::a", "env_mismatch"), 103);
  auto c = compare_derivations(rec.events, rep.events);
  REQUIRE(c.differences.size() == 1);
  CHECK(c.differences[0].kind == DiffKind::category);
  CHECK(c.differences[0].purpose == "flaky_check");
  CHECK(c.differences[0].context == "flaky_check py");
}

TEST_CASE("compare: a classification no plugin derives any more is a change to (none)") {
  Log rec, rep;
  rec.add(1, suite("detect"));
  rec.add(2, failure("t::a"), 1);
  rec.add(3, category("t::a", "logic_bug"), 2);
  ev::FlakeDetected fl;
  fl.test_id = "t::a";
  fl.passes = 1;
  rec.add(4, fl, 2);  // a fact caused by a derived event
  rec.add(5, category("t::a", "flaky"), 4);
  rep.add(101, failure("t::a"), 1);
  rep.add(102, category("t::a", "logic_bug"), 101);
  auto c = compare_derivations(rec.events, rep.events);
  REQUIRE(c.differences.size() == 1);
  CHECK(c.differences[0].kind == DiffKind::category);
  CHECK(c.differences[0].old_value == "flaky");
  CHECK(c.differences[0].new_value == "(none)");
  CHECK(c.differences[0].context == "FlakeDetected");
}

TEST_CASE("compare: the same test failing twice in one report is matched by occurrence") {
  Log rec, rep;
  rec.add(1, suite("detect"));
  rec.add(2, failure("t::a"), 1);
  rec.add(3, failure("t::a"), 1);
  rep.add(101, failure("t::a"), 1);
  auto c = compare_derivations(rec.events, rep.events);
  REQUIRE(c.differences.size() == 1);
  CHECK(c.differences[0].kind == DiffKind::only_recorded);
  CHECK(c.differences[0].recorded_seq == 3);
}

TEST_CASE("replay: run selection never picks replays and names unknown runs") {
  using fixhost::host::ReplaySelection;
  using fixhost::host::RunInfo;
  using fixhost::host::select_runs;
  std::vector<RunInfo> runs(3);
  runs[0].id = "a";
  runs[0].mode = "detect";
  runs[0].start_us = 100;
  runs[1].id = "b";
  runs[1].mode = "replay";
  runs[1].start_us = 200;
  runs[1].source_runs = {"a"};
  runs[2].id = "c";
  runs[2].mode = "autofix";
  runs[2].start_us = 300;

  ReplaySelection all;
  all.all = true;
  auto r = select_runs(runs, all, "/s");
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].id == "a");
  CHECK((*r)[1].id == "c");

  ReplaySelection since;
  since.since_us = 250;
  r = select_runs(runs, since, "/s");
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].id == "c");

  ReplaySelection named;
  named.runs = {"c", "a", "c"};
  r = select_runs(runs, named, "/s");
  REQUIRE(r.is_ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].id == "c");

  named.runs = {"zzz"};
  r = select_runs(runs, named, "/s");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("'zzz'") != std::string::npos);
  CHECK(r.status().message().find("hostctl runs") != std::string::npos);

  named.runs = {"b"};
  r = select_runs(runs, named, "/s");
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("replay") != std::string::npos);

  CHECK_FALSE(select_runs(runs, ReplaySelection{}, "/s").is_ok());
}
