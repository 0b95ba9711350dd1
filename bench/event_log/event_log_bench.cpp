// bench_event_log: the store's durable appends and replay, each against bare RocksDB doing the
// same work without the store.
//   (a) raw_append    WriteBatches of --batch pre-encoded envelopes, sync, into one bare column family
//   (b) store_append  EventLog::append_batch of --batch events, sync, with its indexes
//   (c) raw_replay    iterate (a)'s database and decode_envelope every value
//   (d) bus_replay    EventLog::scan of (b)'s store, every event through Bus::dispatch to a no-op plugin
// Prints `name: value unit` lines, and last `append_ratio` (b/a) and `replay_ratio` (d/c).
// Usage: bench_event_log [--events N] [--batch N] [--dir DIR] [--keep]
#include <CLI/CLI.hpp>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/sdk/plugin.hpp"
#include "fixhost/store/event_log.hpp"
#include "keys.hpp"
#include "rocks_options.hpp"

using namespace fixhost;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::size_t events = 1'000'000;
  std::size_t batch = 1000;
  fs::path dir;
  bool keep = false;
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_event_log: " << what << "\n";
  std::exit(1);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void figure(const std::string& name, double value, const char* unit) {
  std::printf("%s: %.6g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

std::uintmax_t dir_bytes(const fs::path& dir) {
  std::uintmax_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

// A realistic small event: one rerun of a failing test, about 200 bytes as an envelope.
std::vector<events::Event> make_events(std::size_t n) {
  std::vector<events::Event> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    events::TestRerun p;
    p.test_id = "tests/unit/test_scheduler.py::TestQueue::test_drain_" + std::to_string(i % 5000);
    p.attempt = static_cast<std::uint32_t>(i % 3);
    p.passed = i % 5 != 0;
    p.detail = p.passed ? "" : "AssertionError: assert 41 == 42 (queue not drained after 3 ticks)";
    p.detail += std::string(60 - std::min<std::size_t>(60, p.detail.size()), ' ');
    out.push_back(events::make_event(p, "run-20240601-" + std::to_string(i / 10000)));
  }
  return out;
}

// Pure plugin that reacts to nothing it sees.
class NoopPlugin final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"noop", "1.0.0", sdk::PluginKind::pure, {events::EventType::TestRerun}, "benchmark no-op"};
  }
  Status on_event(const events::Event& e, sdk::Emitter&) override {
    seen_ += e.seq;
    return Status::ok();
  }
  std::uint64_t seen_ = 0;
};

// Accepts nothing: replay of a no-op plugin emits nothing.
class NullSink final : public host::EventSink {
 public:
  Status append(std::span<events::Event> batch) override {
    return make_error(Errc::internal, "the benchmark's no-op plugin emitted " + std::to_string(batch.size()) + " events");
  }
};

struct RawDb {
  rocksdb::DB* db = nullptr;
  ~RawDb() { delete db; }
};

void open_raw(RawDb& raw, const fs::path& dir) {
  rocksdb::Options o(store::detail::db_options(), store::detail::events_cf_options());
  o.create_if_missing = true;
  auto s = rocksdb::DB::Open(o, dir.string(), &raw.db);
  if (!s.ok()) die("opening the raw database: " + s.ToString());
}

std::unique_ptr<store::EventLog> open_store(const fs::path& dir) {
  store::StoreOptions o;
  o.holder = "bench_event_log";
  auto r = store::EventLog::open(dir, o);
  if (!r) die(r.status().to_string());
  return std::move(r.value());
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"bench_event_log: append and read throughput of the event log"};
  app.add_option("--events", args.events, "events to append")->capture_default_str();
  app.add_option("--batch", args.batch, "events per batch")->capture_default_str();
  app.add_option("--dir", args.dir, "where the store goes (default: a temporary directory)");
  app.add_flag("--keep", args.keep, "keep the store");
  CLI11_PARSE(app, argc, argv);
  const bool own_dir = args.dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "fixhost-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) die("cannot create a temporary directory");
    args.dir = tmpl;
  }
  const fs::path raw_dir = args.dir / "raw", store_dir = args.dir / "store";
  fs::remove_all(raw_dir);
  fs::remove_all(store_dir);
  const std::size_t n = args.events, batch = args.batch;

  auto evs = make_events(n);
  std::vector<std::string> encoded(n);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    events::Event e = evs[i];
    e.seq = i + 1;
    encoded[i] = events::encode_envelope(e);
    bytes += encoded[i].size();
  }
  const double mb = static_cast<double>(bytes) / 1e6;
  figure("events", static_cast<double>(n), "events");
  figure("envelope_bytes_avg", static_cast<double>(bytes) / static_cast<double>(n), "bytes");
  figure("batch", static_cast<double>(batch), "events");

  // (a) bare RocksDB, pre-encoded values, sync WriteBatches.
  double raw_append = 0;
  {
    RawDb raw;
    open_raw(raw, raw_dir);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::WriteBatch wb;
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; i += batch) {
      wb.Clear();
      for (std::size_t j = i; j < std::min(n, i + batch); ++j) {
        const store::detail::SeqKey key(j + 1);
        wb.Put(rocksdb::Slice(key.bytes, 8), encoded[j]);
      }
      auto s = raw.db->Write(wo, &wb);
      if (!s.ok()) die("raw write: " + s.ToString());
    }
    const double secs = seconds_since(t0);
    raw_append = static_cast<double>(n) / secs;
    figure("raw_append_seconds", secs, "s");
    figure("raw_append", raw_append, "events/s");
    figure("raw_append_mb", mb / secs, "MB/s");
  }

  // (b) the store: encoding, seq assignment and both indexes, sync batches.
  double store_append = 0;
  {
    auto log = open_store(store_dir);
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; i += batch) {
      auto r = log->append_batch(std::span<events::Event>(evs.data() + i, std::min(batch, n - i)));
      if (!r) die(r.status().to_string());
    }
    const double secs = seconds_since(t0);
    store_append = static_cast<double>(n) / secs;
    figure("store_append_seconds", secs, "s");
    figure("store_append", store_append, "events/s");
    figure("store_append_mb", mb / secs, "MB/s");
    if (log->last_seq() != n) die("the store holds " + std::to_string(log->last_seq()) + " events, not " + std::to_string(n));
  }
  evs.clear();
  evs.shrink_to_fit();
  encoded.clear();
  encoded.shrink_to_fit();

  // Reads run on reopened databases (the log replayed into tables), best of two passes each.
  double raw_replay = 0;
  {
    RawDb raw;
    open_raw(raw, raw_dir);
    figure("raw_db_size", static_cast<double>(dir_bytes(raw_dir)) / 1e6, "MB");
    for (int pass = 0; pass < 2; ++pass) {
      rocksdb::ReadOptions ro;
      ro.readahead_size = 2 << 20;
      std::unique_ptr<rocksdb::Iterator> it(raw.db->NewIterator(ro));
      std::size_t count = 0;
      std::uint64_t check = 0;
      auto t0 = Clock::now();
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        auto e = events::decode_envelope(std::string_view(it->value().data(), it->value().size()));
        if (!e) die(e.status().to_string());
        check += e->seq;
        ++count;
      }
      const double secs = seconds_since(t0);
      if (!it->status().ok()) die("raw iteration: " + it->status().ToString());
      if (count != n || check != n * (n + 1) / 2) die("raw iteration saw " + std::to_string(count) + " events");
      raw_replay = std::max(raw_replay, static_cast<double>(n) / secs);
    }
    figure("raw_replay", raw_replay, "events/s");
  }

  double store_scan = 0, bus_replay = 0;
  {
    auto log = open_store(store_dir);
    figure("store_size", static_cast<double>(dir_bytes(store_dir)) / 1e6, "MB");
    for (int pass = 0; pass < 2; ++pass) {
      std::size_t count = 0;
      auto t0 = Clock::now();
      auto s = log->scan(1, 0, [&](const events::Event&) {
        ++count;
        return true;
      });
      const double secs = seconds_since(t0);
      if (!s || count != n) die("store scan: " + s.to_string());
      store_scan = std::max(store_scan, static_cast<double>(n) / secs);
    }
    figure("store_scan", store_scan, "events/s");

    auto noop = std::make_shared<NoopPlugin>();
    auto loaded = std::make_shared<host::LoadedPlugin>();
    loaded->info = noop->info();
    loaded->api = host::k_host_api;
    loaded->path = "(in-process)";
    loaded->instance = noop;
    host::BusOptions bo;
    bo.pure_only = true;
    host::Bus bus(bo);
    bus.add(loaded);
    NullSink null_sink;
    for (int pass = 0; pass < 2; ++pass) {
      std::uint64_t delivered = 0;
      Status failed;
      auto t0 = Clock::now();
      auto s = log->scan(1, 0, [&](const events::Event& e) {
        auto r = bus.dispatch(e, null_sink);
        if (!r) {
          failed = r.status();
          return false;
        }
        delivered += r->delivered;
        return true;
      });
      const double secs = seconds_since(t0);
      if (!s) die("replay scan: " + s.to_string());
      if (!failed) die("replay dispatch: " + failed.to_string());
      if (delivered != n) die("the bus delivered " + std::to_string(delivered) + " of " + std::to_string(n) + " events");
      bus_replay = std::max(bus_replay, static_cast<double>(n) / secs);
    }
    figure("bus_replay", bus_replay, "events/s");
    figure("bus_replay_mb", bus_replay * mb / static_cast<double>(n), "MB/s");
  }

  if (!args.keep) {
    fs::remove_all(raw_dir);
    fs::remove_all(store_dir);
    if (own_dir) fs::remove(args.dir);
  }
  std::printf("append_ratio: %.3f\n", store_append / raw_append);
  std::printf("replay_ratio: %.3f\n", bus_replay / raw_replay);
  return 0;
}
