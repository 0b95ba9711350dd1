// Issue 9, item 8: the cost of an append does not grow with the log. Measured in bytes written to
// the write-ahead log (never as a time: times are for bench/many_failures).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost;
namespace fs = std::filesystem;

namespace {

std::uintmax_t wal_bytes(const fs::path& dir) {
  std::uintmax_t total = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log") total += fs::file_size(e.path());
  return total;
}

}  // namespace

TEST_CASE("issue 9: with the stats projection, the 3000th failure of a run writes no more than the 1st") {
  fixhost::test::TempDir tmp;
  const fs::path dir = tmp / "store";
  store::StoreOptions o;
  o.sync = false;
  o.projections.push_back(host::stats_projection());
  auto opened = store::EventLog::open(dir, o);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().to_string());
  auto& log = **opened;
  auto put = [&](events::Event e) {
    auto r = log.append(e);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return e;
  };
  events::RunStarted rs;
  rs.mode = "autofix";
  put(events::make_event(rs, "long-run"));
  events::SuiteFinished sf;
  sf.suite = "unit";
  sf.purpose = "detect";
  const std::uint64_t suite = put(events::make_event(sf, "long-run")).seq;
  // As detect appends them: each failure, then its category, one write each.
  std::vector<std::uintmax_t> wal_at;
  std::uintmax_t envelopes = 0;
  for (int i = 0; i < 3000; ++i) {
    if (i % 1000 == 0) wal_at.push_back(wal_bytes(dir));
    events::FailureDetected fd;
    fd.runner = "pytest";
    fd.test_id = "tests/test_many.py::test_case_" + std::to_string(i);
    fd.file = "tests/test_many.py";
    fd.line = i;
    fd.message = "assert " + std::to_string(i) + " == -1";
    events::Event e = events::make_event(fd, "long-run");
    e.causation = suite;
    const auto detected = put(std::move(e));
    events::FailureClassified fc;
    fc.test_id = fd.test_id;
    fc.category = "logic_bug";
    const auto classified = put(events::make_event(fc, "long-run", "classifier@1", detected.seq));
    std::string a, b;
    events::encode_envelope(detected, a);
    events::encode_envelope(classified, b);
    envelopes += a.size() + b.size();
  }
  wal_at.push_back(wal_bytes(dir));
  const auto first = wal_at[1] - wal_at[0], last = wal_at[3] - wal_at[2];
  MESSAGE("WAL bytes for failures 1-1000: " << first << ", 2001-3000: " << last << "; envelopes: " << envelopes);
  // Before issue 9 every append re-wrote the run's whole record: the last thousand cost ~5x the
  // first, and the log ~100x its events.
  CHECK(last <= first + first / 4);
  CHECK(wal_at[3] < 8 * envelopes);
  // And the figures are still those of a full scan.
  auto proj = host::stats_from_projection(log, {});
  auto scan = host::stats_from_scan(log, {});
  REQUIRE(proj.is_ok());
  REQUIRE(scan.is_ok());
  (*proj).erase("source");
  (*scan).erase("source");
  CHECK((*proj)["autofix"]["failures_detected"]["value"] == 3000);
  CHECK((*proj)["autofix"]["by_category"]["logic_bug"]["failures_detected"]["value"] == 3000);
  CHECK(proj->dump() == scan->dump());
}
