// EventLog across processes: the writer lock, following another writer, and crash safety.
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <thread>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"
#include "store_test_util.hpp"

using namespace fixhost;
using fixhost::events::Event;
using fixhost::store::EventLog;
using fixhost::store::StoreOptions;
using store_test::Child;
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

}  // namespace

TEST_CASE("a writer in another process makes a writable open Busy, naming its pid") {
  TempDir tmp;
  const auto dir = tmp / "s";
  { open_ok(dir); }
  Child holder({"hold", dir.string()});
  REQUIRE(holder.read_line() == "ready");
  const std::string pid = std::to_string(holder.pid());

  auto r = EventLog::open(dir);
  REQUIRE(r.status().code() == Errc::busy);
  const std::string& msg = r.status().message();
  CHECK(msg.find("store '" + dir.string() + "' is being written by store_helper hold (pid " + pid + ", since ") !=
        std::string::npos);
  CHECK(msg.find("UTC); wait for it to finish or stop it (kill " + pid + ")") != std::string::npos);

  auto reader = open_ok(dir, read_only());  // readers take no lock
  auto w = reader->writer();
  REQUIRE(w.has_value());
  CHECK(w->pid == holder.pid());
  CHECK(w->holder == "store_helper hold");
  CHECK(w->since_us > 0);

  holder.close_stdin();
  int status = holder.wait();
  CHECK(WIFEXITED(status));
  CHECK_FALSE(reader->writer().has_value());
  CHECK(EventLog::open(dir).is_ok());
}

TEST_CASE("a killed writer leaves no lock behind") {
  TempDir tmp;
  const auto dir = tmp / "s";
  { open_ok(dir); }
  Child holder({"hold", dir.string()});
  REQUIRE(holder.read_line() == "ready");
  holder.kill_and_wait(SIGKILL);
  auto reader = open_ok(dir, read_only());
  CHECK_FALSE(reader->writer().has_value());
  CHECK(EventLog::open(dir).is_ok());
}

TEST_CASE("follow on a read-only log delivers events appended by another process") {
  TempDir tmp;
  const auto dir = tmp / "s";
  {
    auto log = open_ok(dir);
    std::vector<Event> batch{store_test::rerun_event("before", "a"), store_test::rerun_event("before", "b"),
                             store_test::rerun_event("before", "c")};
    REQUIRE(log->append_batch(batch).is_ok());
  }
  auto reader = open_ok(dir, read_only());
  std::vector<Event> seen;
  std::atomic<bool> give_up{false};
  Status followed;
  std::thread follower([&] {
    followed = reader->follow(1, [&](const Event& e) {
      seen.push_back(e);
      return seen.size() < 3 + 60;
    }, [&] { return !give_up.load(); }, std::chrono::milliseconds(10));
  });
  Child appender({"append", dir.string(), "60", "from-child"});
  CHECK(appender.read_line() == "ok 63");
  int status = appender.wait();
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  // The follower stops by itself after the 63rd event; give it a generous bound to get there.
  for (int i = 0; i < 500 && seen.size() < 63; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  give_up = true;
  follower.join();
  CHECK_MESSAGE(followed.is_ok(), followed.to_string());
  REQUIRE(seen.size() == 63);
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i].seq == i + 1);
  CHECK(seen[2].run_id == "before");
  CHECK(seen[3].run_id == "from-child");
  CHECK(events::decode<events::TestRerun>(seen[62])->test_id == "tests/test_x.py::test_59");
  CHECK(reader->last_seq() == 63);
}

// Checks what a killed crash writer left: seqs 1..N, whole batches 1..K in order, all decodable,
// indexes consistent. Returns K.
static std::uint64_t check_crash_store(EventLog& log) {
  std::uint64_t expect_seq = 1, batch = 0, index = 0, size = 0;
  Status s = log.scan(1, 0, [&](const Event& e) {
    REQUIRE(e.seq == expect_seq);
    ++expect_seq;
    auto p = events::decode<events::TestRerun>(e);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    const auto& id = p->test_id;
    const auto c1 = id.find(':'), c2 = id.find(':', c1 + 1);
    const std::uint64_t k = std::stoull(id.substr(0, c1)), i = std::stoull(id.substr(c1 + 1, c2 - c1 - 1)),
                        m = std::stoull(id.substr(c2 + 1));
    if (i == 0) {
      REQUIRE_MESSAGE(index == size, "batch " << batch << " is torn: " << index << " of " << size << " events");
      REQUIRE(k == batch + 1);
      batch = k;
      index = 0;
      size = m;
    }
    REQUIRE(k == batch);
    REQUIRE(i == index);
    REQUIRE(m == size);
    REQUIRE(e.run_id == "batch-" + std::to_string(k));
    ++index;
    return true;
  });
  REQUIRE_MESSAGE(s.is_ok(), s.to_string());
  REQUIRE_MESSAGE(index == size, "the last batch " << batch << " is torn: " << index << " of " << size << " events");
  REQUIRE(log.last_seq() == expect_seq - 1);
  Status v = log.verify_indexes();
  REQUIRE_MESSAGE(v.is_ok(), v.to_string());
  return batch;
}

TEST_CASE("a writer killed at random points leaves whole batches, gap-free seqs and consistent indexes") {
  TempDir tmp;
  const auto dir = tmp / "s";
  std::mt19937 rng(std::random_device{}());
  std::uint64_t batches = 0, events_seen = 0;
  for (int round = 0; round < 6; ++round) {
    const int delay_ms = 20 + static_cast<int>(rng() % 281);
    CAPTURE(round);
    CAPTURE(delay_ms);
    {
      Child writer({"crash", dir.string(), std::to_string(rng())});
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      int status = writer.kill_and_wait(SIGKILL);
      REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "the crash writer stopped by itself");
    }
    if (!fs::exists(dir / "CURRENT")) continue;  // killed before it created the store
    auto log = open_ok(dir);
    const std::uint64_t k = check_crash_store(*log);
    CHECK(k >= batches);  // nothing acknowledged is lost, and the next round continues the store
    batches = k;
    events_seen = log->last_seq();
  }
  MESSAGE("crash rounds left " << batches << " batches, " << events_seen << " events");
  CHECK(events_seen > 0);
}
