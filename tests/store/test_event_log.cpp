// EventLog in one process: appends, reopen, scans, indexes, errors, corruption and repair.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <rocksdb/db.h>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/capture.hpp"
#include "fixhost/store/event_log.hpp"
#include "store_test_util.hpp"

using namespace fixhost;
using fixhost::events::Event;
using fixhost::events::EventType;
using fixhost::store::EventLog;
using fixhost::store::StoreOptions;
using store_test::TempDir;

namespace fs = std::filesystem;

namespace {

std::unique_ptr<EventLog> open_ok(const fs::path& dir, StoreOptions o = {}) {
  auto r = EventLog::open(dir, o);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r.value());
}

StoreOptions read_only() {
  StoreOptions o;
  o.writable = false;
  return o;
}

std::vector<Event> scan_all(const EventLog& log, std::uint64_t from = 1, std::uint64_t to = 0) {
  std::vector<Event> out;
  auto s = log.scan(from, to, [&](const Event& e) {
    out.push_back(e);
    return true;
  });
  REQUIRE_MESSAGE(s.is_ok(), s.to_string());
  return out;
}

std::vector<std::uint64_t> seqs_of(const std::vector<Event>& evs) {
  std::vector<std::uint64_t> out;
  for (const auto& e : evs) out.push_back(e.seq);
  return out;
}

// Fills a store with events of three runs and two types; returns them as appended.
std::vector<Event> fill(EventLog& log, int n) {
  std::vector<Event> all;
  for (int i = 0; i < n;) {
    std::vector<Event> batch;
    for (int j = 0; j < 7 && i < n; ++j, ++i) {
      const std::string run = "run-" + std::to_string(i % 3);
      const std::string test_id = std::to_string(i);
      batch.push_back(i % 4 == 0 ? store_test::failure_event(run, test_id)
                                 : store_test::rerun_event(run, test_id, static_cast<std::uint32_t>(i)));
    }
    auto r = log.append_batch(batch);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    all.insert(all.end(), batch.begin(), batch.end());
  }
  return all;
}

std::vector<fs::path> files_with(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Repairs the store; the failure message says why it did not.
#define REQUIRE_REPAIRED(dir)                                           \
  do {                                                                  \
    auto repaired_ = EventLog::repair(dir);                             \
    REQUIRE_MESSAGE(repaired_.is_ok(), repaired_.status().to_string()); \
  } while (0)

}  // namespace

TEST_CASE("appends get gap-free seqs from 1 that continue after reopen") {
  TempDir tmp;
  const auto dir = tmp / "store";
  {
    auto log = open_ok(dir);
    CHECK(log->last_seq() == 0);
    CHECK(fs::exists(dir / "FIXHOST_STORE"));
    for (std::uint64_t i = 1; i <= 5; ++i) {
      Event e = store_test::rerun_event("r1", std::to_string(i));
      auto r = log->append(e);
      REQUIRE(r.is_ok());
      CHECK(*r == i);
      CHECK(e.seq == i);
    }
    std::vector<Event> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(store_test::failure_event("r2", std::to_string(i)));
    auto r = log->append_batch(batch);
    REQUIRE(r.is_ok());
    CHECK(*r == 6);
    CHECK(batch.back().seq == 15);
    CHECK(log->last_seq() == 15);
  }
  auto log = open_ok(dir);
  CHECK(log->last_seq() == 15);
  Event e = store_test::rerun_event("r3", "after-reopen");
  auto r = log->append(e);
  REQUIRE(r.is_ok());
  CHECK(*r == 16);
  auto all = scan_all(*log);
  REQUIRE(all.size() == 16);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].seq == i + 1);
  CHECK(all[15].run_id == "r3");
  auto p = events::decode<events::TestRerun>(all[15]);
  REQUIRE(p.is_ok());
  CHECK(p->test_id == "after-reopen");
  auto f = events::decode<events::FailureDetected>(all[5]);
  REQUIRE(f.is_ok());
  CHECK(f->message == "assert 1 == 2");
  CHECK(all[5].run_id == "r2");
  CHECK(all[5].source == "host");
}

TEST_CASE("appends that are not durable yet are ordered and readable, and HIGH_WATER moves only once they are synced") {
  TempDir tmp;
  const auto dir = tmp / "store";
  auto high_water = [&] {
    std::ifstream in(dir / "HIGH_WATER");
    unsigned long long a = 0;
    in >> a;
    return a;
  };
  {
    auto log = open_ok(dir);
    Event first = store_test::rerun_event("r1", "durable");
    REQUIRE(log->append(first).is_ok());
    CHECK(high_water() == 1);
    for (int i = 0; i < 3; ++i) {
      std::vector<Event> batch{store_test::failure_event("r1", std::to_string(i))};
      auto r = log->append_batch(batch, false);
      REQUIRE(r.is_ok());
      CHECK(*r == static_cast<std::uint64_t>(2 + i));
    }
    CHECK(log->last_seq() == 4);
    CHECK(scan_all(*log).size() == 4);
    // The mark never claims what a power loss could take: it waits for the sync.
    CHECK(high_water() == 1);
    REQUIRE(log->sync().is_ok());
    CHECK(high_water() == 4);
  }
  auto log = open_ok(dir);
  CHECK(log->last_seq() == 4);
}

TEST_CASE("a refused batch appends nothing and consumes no seq") {
  TempDir tmp;
  auto log = open_ok(tmp / "s");
  fill(*log, 3);
  std::vector<Event> batch{store_test::rerun_event("r", "a"), Event{}, store_test::rerun_event("r", "b")};
  auto r = log->append_batch(batch);
  CHECK(r.status().code() == Errc::invalid_argument);
  CHECK(log->last_seq() == 3);
  CHECK(batch[0].seq == 0);
  std::vector<Event> nul{store_test::rerun_event(std::string("bad\0run", 7), "a")};
  CHECK(log->append_batch(nul).status().code() == Errc::invalid_argument);
  CHECK(scan_all(*log).size() == 3);
  Event ok = store_test::rerun_event("r", "c");
  auto r2 = log->append(ok);
  REQUIRE(r2.is_ok());
  CHECK(*r2 == 4);
}

TEST_CASE("concurrent batches share writes and stay whole and in order") {
  TempDir tmp;
  auto log = open_ok(tmp / "s");
  constexpr int k_threads = 4, k_batches = 60;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::pair<std::uint64_t, std::size_t>>> got(k_threads);  // (first seq, size)
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < k_batches; ++b) {
        std::vector<Event> batch;
        const std::size_t n = 1 + static_cast<std::size_t>((t * 31 + b * 7) % 23);
        for (std::size_t i = 0; i < n; ++i)
          batch.push_back(store_test::rerun_event("thread-" + std::to_string(t), std::to_string(b) + ":" + std::to_string(i)));
        auto r = log->append_batch(batch);
        if (!r) return;
        for (std::size_t i = 0; i < n; ++i)
          if (batch[i].seq != *r + i) return;
        got[t].emplace_back(*r, n);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::size_t total = 0;
  for (int t = 0; t < k_threads; ++t) {
    REQUIRE(got[t].size() == static_cast<std::size_t>(k_batches));
    for (std::size_t b = 1; b < got[t].size(); ++b) CHECK(got[t][b].first > got[t][b - 1].first);
    for (auto& [first, n] : got[t]) total += n;
  }
  CHECK(log->last_seq() == total);
  auto all = scan_all(*log);
  REQUIRE(all.size() == total);
  // Each batch occupies a contiguous seq range holding exactly its own events, in order.
  for (int t = 0; t < k_threads; ++t) {
    for (std::size_t b = 0; b < got[t].size(); ++b) {
      auto [first, n] = got[t][b];
      for (std::size_t i = 0; i < n; ++i) {
        const Event& e = all[first - 1 + i];
        CHECK(e.seq == first + i);
        CHECK(e.run_id == "thread-" + std::to_string(t));
        CHECK(events::decode<events::TestRerun>(e)->test_id == std::to_string(b) + ":" + std::to_string(i));
      }
    }
  }
  CHECK(log->verify_indexes().is_ok());
}

TEST_CASE("scan ranges, early stop and get") {
  TempDir tmp;
  auto log = open_ok(tmp / "s");
  fill(*log, 50);
  CHECK(seqs_of(scan_all(*log, 10, 12)) == std::vector<std::uint64_t>{10, 11, 12});
  CHECK(scan_all(*log, 45).size() == 6);
  CHECK(scan_all(*log, 0).size() == 50);
  CHECK(scan_all(*log, 51).empty());
  CHECK(scan_all(*log, 12, 10).empty());
  CHECK(seqs_of(scan_all(*log, 50, 50)) == std::vector<std::uint64_t>{50});
  CHECK(scan_all(*log, 1, UINT64_MAX).size() == 50);
  int seen = 0;
  CHECK(log->scan(1, 0, [&](const Event&) { return ++seen < 3; }).is_ok());
  CHECK(seen == 3);
  auto e = log->get(17);
  REQUIRE(e.is_ok());
  CHECK(e->seq == 17);
  auto missing = log->get(51);
  CHECK(missing.status().code() == Errc::not_found);
  CHECK(missing.status().message().find("no event 51") != std::string::npos);
}

TEST_CASE("scan_run and scan_type match a filtered full scan") {
  TempDir tmp;
  auto log = open_ok(tmp / "s");
  fill(*log, 200);
  // A run whose name is a prefix of another must not pick up the other's events.
  std::vector<Event> extra{store_test::rerun_event("run-1x", "x"), store_test::rerun_event("run-", "y")};
  REQUIRE(log->append_batch(extra).is_ok());
  const auto all = scan_all(*log);
  for (std::string run : {"run-0", "run-1", "run-2", "run-1x", "run-", "nope"}) {
    for (std::uint64_t from : {0, 1, 57, 199}) {
      std::vector<std::uint64_t> want, have;
      for (const auto& e : all)
        if (e.run_id == run && e.seq >= from) want.push_back(e.seq);
      CHECK(log->scan_run(run, [&](const Event& e) {
                   CHECK(e.run_id == run);
                   have.push_back(e.seq);
                   return true;
                 }, from).is_ok());
      CHECK_MESSAGE(have == want, "run " << run << " from " << from);
    }
  }
  for (EventType type : {EventType::TestRerun, EventType::FailureDetected, EventType::RunStarted}) {
    for (std::uint64_t from : {0, 100}) {
      std::vector<std::uint64_t> want, have;
      for (const auto& e : all)
        if (e.type == type && e.seq >= from) want.push_back(e.seq);
      CHECK(log->scan_type(type, [&](const Event& e) {
                   have.push_back(e.seq);
                   return e.type == type;
                 }, from).is_ok());
      CHECK(have == want);
    }
  }
  CHECK(log->verify_indexes().is_ok());
}

TEST_CASE("a read-only open works beside the writer and sees new events after refresh") {
  TempDir tmp;
  const auto dir = tmp / "s";
  auto writer = open_ok(dir);
  fill(*writer, 10);
  auto reader = open_ok(dir, read_only());
  CHECK_FALSE(reader->writable());
  CHECK(reader->last_seq() == 10);
  CHECK(scan_all(*reader).size() == 10);
  fill(*writer, 5);
  CHECK(reader->last_seq() == 10);
  REQUIRE(reader->refresh().is_ok());
  CHECK(reader->last_seq() == 15);
  CHECK(seqs_of(scan_all(*reader, 11)) == std::vector<std::uint64_t>{11, 12, 13, 14, 15});
  int n = 0;
  CHECK(reader->scan_run("run-1", [&](const Event&) { return ++n > 0; }).is_ok());
  CHECK(n == 5);
  Event e = store_test::rerun_event("r", "x");
  CHECK(reader->append(e).status().code() == Errc::invalid_argument);
  auto w = reader->writer();
  REQUIRE(w.has_value());
  CHECK(w->pid == ::getpid());
  CHECK(w->holder == "hostctl");
  CHECK(writer->writer()->pid == ::getpid());
}

TEST_CASE("follow delivers the backlog and then events appended in this process") {
  TempDir tmp;
  auto log = open_ok(tmp / "s");
  fill(*log, 4);
  std::vector<std::uint64_t> seen;
  std::thread follower([&] {
    CHECK(log->follow(2, [&](const Event& e) {
                 seen.push_back(e.seq);
                 return e.seq < 9;
               }, [] { return true; }, std::chrono::milliseconds(20)).is_ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fill(*log, 7);
  follower.join();
  CHECK(seen == std::vector<std::uint64_t>{2, 3, 4, 5, 6, 7, 8, 9});
  int polls = 0;
  CHECK(log->follow(100, [](const Event&) { return true; }, [&] { return ++polls < 3; },
                    std::chrono::milliseconds(1)).is_ok());
  CHECK(polls == 3);
}

TEST_CASE("open explains missing stores, foreign directories and newer formats") {
  TempDir tmp;
  auto missing = EventLog::open(tmp / "nope", read_only());
  CHECK(missing.status().code() == Errc::not_found);
  CHECK(missing.status().message().find("no fixhost store at '" + (tmp / "nope").string() + "'") != std::string::npos);
  CHECK(missing.status().message().find("hostctl detect") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp / "nope"));

  StoreOptions no_create;
  no_create.create_if_missing = false;
  CHECK(EventLog::open(tmp / "nope", no_create).status().code() == Errc::not_found);

  fs::create_directories(tmp / "empty");
  CHECK(EventLog::open(tmp / "empty", read_only()).status().code() == Errc::not_found);
  CHECK(EventLog::open(tmp / "empty").is_ok());  // an empty directory becomes a store

  fs::create_directories(tmp / "src");
  std::ofstream(tmp / "src" / "main.cpp") << "int main() {}\n";
  auto foreign = EventLog::open(tmp / "src");
  CHECK(foreign.status().code() == Errc::invalid_argument);
  CHECK(foreign.status().message().find("is not a fixhost store") != std::string::npos);
  CHECK(foreign.status().message().find("--store") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp / "src" / "FIXHOST_STORE"));
  CHECK(EventLog::open(tmp / "src" / "main.cpp").status().code() == Errc::invalid_argument);

  { open_ok(tmp / "newer"); }
  std::ofstream(tmp / "newer" / "FIXHOST_STORE", std::ios::trunc) << "fixhost-store 2\n";
  auto newer = EventLog::open(tmp / "newer");
  CHECK(newer.status().code() == Errc::unsupported);
  CHECK(newer.status().message().find("format version 2") != std::string::npos);
}

TEST_CASE("a second writer in the same process is refused with Busy") {
  TempDir tmp;
  StoreOptions o;
  o.holder = "hostctl autofix";
  auto first = open_ok(tmp / "s", o);
  auto second = EventLog::open(tmp / "s");
  CHECK(second.status().code() == Errc::busy);
  CHECK(second.status().message().find("hostctl autofix (pid " + std::to_string(::getpid())) != std::string::npos);
  first.reset();
  CHECK(EventLog::open(tmp / "s").is_ok());
}

TEST_CASE("large values stay in the compressed tables and come back whole") {
  TempDir tmp;
  const auto dir = tmp / "s";
  // 32 MiB of test output, the capture cap, as a runner would produce it.
  store::CappedCapture cap;
  std::string line;
  for (int i = 0; cap.total_bytes() < (40u << 20); ++i) {
    line = "tests/test_mod_" + std::to_string(i % 97) + ".py::test_case_" + std::to_string(i) +
           " PASSED                                   [ " + std::to_string(i % 100) + "%]\n";
    cap.append(line);
  }
  events::SuiteFinished p;
  p.suite = "unit";
  p.output = std::move(cap).finish();
  CHECK(p.output.cut_bytes > 0);
  const std::string output = p.output.data;
  {
    auto log = open_ok(dir);
    Event e = events::make_event(p, "big");
    REQUIRE(log->append(e).is_ok());
  }
  auto log = open_ok(dir);  // reopening flushes the recovered log to tables and blob files
  auto e = log->get(1);
  REQUIRE(e.is_ok());
  auto back = events::decode<events::SuiteFinished>(*e);
  REQUIRE(back.is_ok());
  CHECK(back->output.data == output);
  CHECK(back->output.total_bytes == p.output.total_bytes);
  CHECK(files_with(dir, ".blob").empty());  // blob files break readers and repair (issue 9)
  auto reader = open_ok(dir, read_only());
  auto r = reader->get(1);
  REQUIRE(r.is_ok());
  CHECK(events::decode<events::SuiteFinished>(*r)->output.data == output);
  std::uintmax_t on_disk = 0;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().extension() == ".blob" || f.path().extension() == ".sst") on_disk += fs::file_size(f.path());
  CHECK(on_disk < output.size() / 4);
}

TEST_CASE("a damaged store is reported as Corruption with the advice, and repair restores it") {
  TempDir tmp;
  const auto dir = tmp / "s";
  {
    auto log = open_ok(dir);
    fill(*log, 100);
  }
  { open_ok(dir); }  // flush to tables
  REQUIRE_FALSE(files_with(dir, ".sst").empty());
  const std::string advice = "hostctl repair --store " + dir.string();

  SUBCASE("garbled CURRENT") {
    std::ofstream(dir / "CURRENT", std::ios::trunc) << "MANIFEST-999999";
    auto r = EventLog::open(dir);
    REQUIRE(r.status().code() == Errc::corruption);
    CHECK(r.status().message().find(advice) != std::string::npos);
    CHECK(r.status().message().find("store '" + dir.string() + "' is damaged") != std::string::npos);
    CHECK(EventLog::open(dir, read_only()).status().code() == Errc::corruption);
    REQUIRE_REPAIRED(dir);
    auto log = open_ok(dir);
    CHECK(log->last_seq() == 100);
    CHECK(scan_all(*log).size() == 100);
    CHECK(log->verify_indexes().is_ok());
  }
  SUBCASE("missing CURRENT") {
    fs::remove(dir / "CURRENT");
    auto r = EventLog::open(dir);
    REQUIRE(r.status().code() == Errc::corruption);
    CHECK(r.status().message().find(advice) != std::string::npos);
    REQUIRE_REPAIRED(dir);
    auto log = open_ok(dir);
    CHECK(scan_all(*log).size() == 100);
  }
  SUBCASE("truncated MANIFEST") {
    auto manifests = files_with(dir, "");
    for (const auto& f : fs::directory_iterator(dir))
      if (f.path().filename().string().starts_with("MANIFEST-")) fs::resize_file(f.path(), 10);
    auto r = EventLog::open(dir);
    REQUIRE(r.status().code() == Errc::corruption);
    CHECK(r.status().message().find(advice) != std::string::npos);
    REQUIRE_REPAIRED(dir);
    auto log = open_ok(dir);
    CHECK(scan_all(*log).size() == 100);
  }
  SUBCASE("garbled table files") {
    for (const auto& f : files_with(dir, ".sst")) {
      std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
      const auto size = fs::file_size(f);
      io.seekp(static_cast<std::streamoff>(size / 4));
      const std::string junk(std::min<std::uintmax_t>(size / 4, 512), '\x5a');
      io.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    // Either open or the first read finds it; no crash either way.
    auto r = EventLog::open(dir);
    Status s = r.status();
    if (r.is_ok()) {
      s = (*r)->scan(1, 0, [](const Event&) { return true; });
      if (s) s = (*r)->verify_indexes();
    }
    REQUIRE(s.code() == Errc::corruption);
    CHECK(s.message().find(advice) != std::string::npos);
  }
  SUBCASE("missing table file") {
    fs::remove(files_with(dir, ".sst").front());
    auto r = EventLog::open(dir);
    REQUIRE(r.status().code() == Errc::corruption);
    CHECK(r.status().message().find(advice) != std::string::npos);
  }
}

namespace {
// Opens the store's RocksDB directly to damage it on purpose.
struct RawDb {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;  // default, events, by_run, by_type
  explicit RawDb(const fs::path& dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const char* name : {"default", "events", "by_run", "by_type"}) descs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), descs, &cfs, &db);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
  }
  ~RawDb() {
    for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  static std::string be64(std::uint64_t v) {
    std::string k(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) k[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    return k;
  }
};
}  // namespace

TEST_CASE("an undecodable event value is Corruption naming its seq") {
  for (const bool compacted : {false, true}) {
  CAPTURE(compacted);
  TempDir tmp;
  const auto dir = tmp / "s";
  std::vector<Event> written;
  { written = fill(*open_ok(dir), 5); }
  {
    RawDb raw(dir);
    REQUIRE(raw.db->Put(rocksdb::WriteOptions(), raw.cfs[1], RawDb::be64(3), "\x01garbage").ok());
    // Compacted, the garbage is the only copy of event 3 left; else the table written before
    // still holds the good one.
    if (compacted) REQUIRE(raw.db->CompactRange(rocksdb::CompactRangeOptions(), raw.cfs[1], nullptr, nullptr).ok());
  }
  auto log = open_ok(dir);
  std::vector<std::uint64_t> seen;
  auto s = log->scan(1, 0, [&](const Event& e) {
    seen.push_back(e.seq);
    return true;
  });
  CHECK(s.code() == Errc::corruption);
  CHECK(s.message().find("event 3 does not decode") != std::string::npos);
  CHECK(s.message().find("hostctl repair --store") != std::string::npos);
  CHECK(seen == std::vector<std::uint64_t>{1, 2});
  CHECK(log->get(3).status().code() == Errc::corruption);
  CHECK(log->verify_indexes().code() == Errc::corruption);
  log.reset();
  auto report = EventLog::repair(dir);
  REQUIRE_MESSAGE(report.is_ok(), report.status().to_string());
  CHECK_FALSE(report->healthy);
  CHECK(fs::exists(report->backup / "CURRENT"));
  log = open_ok(dir);
  CHECK(log->verify_indexes().is_ok());
  CHECK(log->last_seq() == 5);
  if (compacted) {
    // Nothing readable is left of event 3: it is reported lost, and its seq is never reused.
    CHECK(report->lost == std::vector<store::SeqRange>{{3, 3}});
    CHECK(report->events == 4);
    CHECK(seqs_of(scan_all(*log)) == std::vector<std::uint64_t>{1, 2, 4, 5});
  } else {
    CHECK(report->lost.empty());
    auto all = scan_all(*log);
    REQUIRE(seqs_of(all) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
    CHECK(all[2].payload == written[2].payload);
  }
  Event next = store_test::rerun_event("after", "x");
  REQUIRE(log->append(next).is_ok());
  CHECK(next.seq == 6);
  }
}

TEST_CASE("verify_indexes names a missing or dangling index entry") {
  TempDir tmp;
  const auto dir = tmp / "s";
  { fill(*open_ok(dir), 20); }
  CHECK(open_ok(dir)->verify_indexes().is_ok());
  SUBCASE("missing by_run entry") {
    {
      RawDb raw(dir);
      std::string key = std::string("run-1") + '\0' + RawDb::be64(2);
      REQUIRE(raw.db->Delete(rocksdb::WriteOptions(), raw.cfs[2], key).ok());
    }
    auto s = open_ok(dir)->verify_indexes();
    CHECK(s.code() == Errc::corruption);
    CHECK(s.message().find("event 2 has no by_run entry") != std::string::npos);
    REQUIRE_REPAIRED(dir);
    auto log = open_ok(dir);
    CHECK(log->verify_indexes().is_ok());
    int n = 0;
    CHECK(log->scan_run("run-1", [&](const Event&) { return ++n > 0; }).is_ok());
    CHECK(n == 7);
  }
  SUBCASE("by_run entry of the wrong run") {
    {
      RawDb raw(dir);
      std::string key = std::string("run-2") + '\0' + RawDb::be64(2);
      REQUIRE(raw.db->Put(rocksdb::WriteOptions(), raw.cfs[2], key, "").ok());
    }
    auto s = open_ok(dir)->verify_indexes();
    CHECK(s.code() == Errc::corruption);
    CHECK(s.message().find("points at an event of run 'run-1'") != std::string::npos);
  }
  SUBCASE("dangling by_type entry") {
    {
      RawDb raw(dir);
      std::string key = std::string("\x00\x0c", 2) + RawDb::be64(999);
      REQUIRE(raw.db->Put(rocksdb::WriteOptions(), raw.cfs[3], key, "").ok());
    }
    auto s = open_ok(dir)->verify_indexes();
    CHECK(s.code() == Errc::corruption);
    CHECK(s.message().find("by_type entry (TestRerun, seq 999) points at no event") != std::string::npos);
    REQUIRE_REPAIRED(dir);
    CHECK(open_ok(dir)->verify_indexes().is_ok());
  }
}

TEST_CASE("repair refuses what is not a store") {
  TempDir tmp;
  fs::create_directories(tmp / "x");
  std::ofstream(tmp / "x" / "f") << "x";
  CHECK(EventLog::repair(tmp / "x").status().code() == Errc::invalid_argument);
  CHECK(EventLog::repair(tmp / "none").status().code() == Errc::not_found);
}

TEST_CASE("grouped index entries: scans start inside a group, and one-seq entries of older stores still read") {
  TempDir tmp;
  const auto dir = tmp / "s";
  {
    auto log = open_ok(dir);
    std::vector<Event> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(store_test::rerun_event("run-a", std::to_string(i), i));
    REQUIRE(log->append_batch(batch).is_ok());
    std::vector<std::uint64_t> got;
    REQUIRE(log->scan_run("run-a", [&](const Event& e) { got.push_back(e.seq); return true; }, 5).is_ok());
    CHECK(got == std::vector<std::uint64_t>{5, 6, 7, 8, 9, 10});
    got.clear();
    REQUIRE(log->scan_type(batch[0].type, [&](const Event& e) { got.push_back(e.seq); return true; }, 10).is_ok());
    CHECK(got == std::vector<std::uint64_t>{10});
    CHECK(log->verify_indexes().is_ok());
  }
  {
    // An index entry as written before grouping: key seq, empty value.
    RawDb raw(dir);
    auto log_event = std::string("run-old") + '\0' + RawDb::be64(3);
    REQUIRE(raw.db->Put(rocksdb::WriteOptions(), raw.cfs[2], log_event, "").ok());
  }
  {
    auto log = open_ok(dir);
    int n = 0;
    // run-old's entry names event 3, which belongs to run-a: verify says so, by name.
    auto s = log->verify_indexes();
    CHECK(s.message().find("by_run entry (run 'run-old', seq 3) points at an event of run 'run-a'") != std::string::npos);
    REQUIRE(log->scan_run("run-old", [&](const Event& e) { CHECK(e.seq == 3); return ++n > 0; }).is_ok());
    CHECK(n == 1);
  }
  {
    RawDb raw(dir);
    REQUIRE(raw.db->Put(rocksdb::WriteOptions(), raw.cfs[2], std::string("run-bad") + '\0' + RawDb::be64(1), "\x80").ok());
  }
  auto log = open_ok(dir);
  auto s = log->scan_run("run-bad", [](const Event&) { return true; });
  CHECK(s.code() == Errc::corruption);
  CHECK(s.message().find("malformed") != std::string::npos);
}
