// The build figures on known histories, worked out by hand.
#include <doctest/doctest.h>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/build/metrics.hpp"
#include "fixhost/host/build/report.hpp"

namespace b = fixhost::host::build;
namespace ev = fixhost::events;

TEST_CASE("critical path: the longest dependency chain of durations, plus merge and integration") {
  // contract 1000 -> backend 3000, frontend 2000 -> tests 500: chain contract, backend, tests.
  std::vector<b::StreamTiming> s = {{"contract", {}, 0, 1000},
                                    {"backend", {"contract"}, 1000, 3000},
                                    {"frontend", {"contract"}, 1000, 2000},
                                    {"tests", {"backend", "frontend"}, 4000, 500}};
  auto cp = b::critical_path(s, 200, 300);
  CHECK(cp.chain_ms == 4500);
  CHECK(cp.ms == 5000);
  CHECK(cp.chain == std::vector<std::string>{"contract", "backend", "tests"});
  CHECK(b::serial_sum(s) == 6500);
  CHECK(*b::speedup(6500, 5200) == doctest::Approx(1.25));
  CHECK(*b::overhead(5200, 5000) == doctest::Approx(1.04));
  CHECK_FALSE(b::speedup(6500, 0).has_value());

  // Independent streams: the longest one alone.
  std::vector<b::StreamTiming> flat = {{"a", {}, 0, 700}, {"b", {}, 0, 900}, {"c", {}, 0, 800}};
  CHECK(b::critical_path(flat).ms == 900);
  CHECK(b::critical_path(flat).chain == std::vector<std::string>{"b"});
  // A dependency the list does not have counts 0; a cycle is cut, not followed forever.
  std::vector<b::StreamTiming> odd = {{"x", {"ghost"}, 0, 100}, {"y", {"z"}, 0, 10}, {"z", {"y"}, 0, 20}};
  CHECK(b::critical_path(odd).chain_ms == 100);
  CHECK(b::critical_path({}).ms == 0);
}

TEST_CASE("failure rate by cause and contract accuracy over builds") {
  std::vector<b::BuildOutcome> builds = {
      {true, "", true, false},             // accurate
      {true, "", false, false},            // passed after --fix: not first try
      {true, "", true, true},              // a contract file changed later
      {false, "conflict", false, false},
      {false, "types", false, false},
      {false, "types", false, false},
      {false, "contract_check", false, false},
      {true, "", true, false},             // accurate
  };
  auto rates = b::failure_rate_by_cause(builds);
  CHECK(rates.at("conflict") == doctest::Approx(1.0 / 8));
  CHECK(rates.at("types") == doctest::Approx(2.0 / 8));
  CHECK(rates.at("contract_check") == doctest::Approx(1.0 / 8));
  CHECK(rates.at("tests") == 0);
  CHECK(rates.at("lint") == 0);
  CHECK(rates.at("stream") == 0);
  CHECK(*b::contract_accuracy(builds) == doctest::Approx(2.0 / 8));
  CHECK_FALSE(b::contract_accuracy({}).has_value());
  CHECK(b::failure_rate_by_cause({}).empty());
}

TEST_CASE("the Gantt lines place each stream on the wall clock") {
  std::vector<b::StreamTiming> s = {{"contract", {}, 0, 1000}, {"backend", {"contract"}, 1000, 2000},
                                    {"frontend", {"contract"}, 1000, 1000}, {"tests", {"backend"}, 3000, 1000}};
  auto g = b::gantt(s, 4000, 8);
  REQUIRE(g.size() == 4);
  CHECK(g[0] == "contract |##      |    0.0s -    1.0s");
  CHECK(g[1] == "backend  |  ####  |    1.0s -    3.0s");
  CHECK(g[2] == "frontend |  ##    |    1.0s -    2.0s");
  CHECK(g[3] == "tests    |      ##|    3.0s -    4.0s");
}

TEST_CASE("the report reads a build back from its events") {
  std::vector<ev::Event> evs;
  auto add = [&](const auto& p) { evs.push_back(ev::make_event(p, "b-1")); };
  for (auto [id, deps] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"contract", {}}, {"backend", {"contract"}}, {"frontend", {"contract"}}}) {
    ev::StreamPlanned p;
    p.stream = id, p.role = id, p.owns = {id + "/**"}, p.depends_on = deps, p.agent = "sh a.sh";
    p.feature = "order history", p.spec = "spec.md";
    add(p);
  }
  auto fin = [&](std::string id, std::int64_t start, std::int64_t dur, std::string outcome) {
    ev::StreamFinished f;
    f.stream = id, f.started_ms = start, f.duration_ms = dur, f.outcome = outcome, f.files = {id + "/x"};
    add(f);
  };
  fin("contract", 0, 1000, "ok");
  fin("backend", 1000, 2000, "ok");
  fin("frontend", 1000, 1500, "ok");
  ev::WorktreesMerged m;
  m.wall_ms = 3500, m.merge_ms = 200, m.integration_ms = 300, m.integration_passed = true, m.commit = "abcdef1234567890";
  add(m);
  auto r = b::collect_build(evs);
  CHECK(r.feature == "order history");
  auto j = b::report_json(r);
  CHECK(j["figures"]["serial_ms"] == 4500);
  CHECK(j["figures"]["critical_ms"] == 3500);  // 1000 + 2000 + 200 + 300
  CHECK(j["figures"]["critical_chain"] == std::vector<std::string>{"contract", "backend"});
  CHECK(j["figures"]["speedup"].get<double>() == doctest::Approx(4500.0 / 3500.0));
  CHECK(j["figures"]["overhead"].get<double>() == doctest::Approx(1.0));
  CHECK(j["figures"]["streams_speedup"].get<double>() == doctest::Approx(4500.0 / 3000.0));  // wall 3500 - 200 - 300
  auto table = b::report_table(r);
  CHECK(table.find("landed: abcdef123456 on fixhost/build-b-1") != std::string::npos);
  CHECK(table.find("speed-up 1.29x") != std::string::npos);
  auto md = b::report_markdown(r);
  CHECK(md.find("| backend | backend | `sh a.sh` | 2.0s | 1 | ok |") != std::string::npos);
}
