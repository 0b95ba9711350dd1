#include "fixhost/store/event_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "fixhost/events/codec.hpp"
#include "keys.hpp"
#include "projection_state.hpp"
#include "rocks_options.hpp"
#include "store_dir.hpp"

namespace fs = std::filesystem;

namespace fixhost::store {

using detail::k_cf_by_run;
using detail::k_cf_by_type;
using detail::k_cf_count;
using detail::k_cf_default;
using detail::k_cf_events;

using namespace detail;

namespace {

enum class DirState { missing, not_a_dir, empty, store, foreign };

DirState classify(const fs::path& dir, std::error_code& ec) {
  auto st = fs::status(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      ec.clear();
      return DirState::missing;
    }
    return DirState::foreign;
  }
  if (!fs::exists(st)) return DirState::missing;
  if (!fs::is_directory(st)) return DirState::not_a_dir;
  if (fs::exists(dir / k_marker_file, ec)) return DirState::store;
  bool empty = true;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename();
    if (name == k_lock_file || name == k_ignore_file) continue;  // left by an interrupted create
    empty = false;
    break;
  }
  return empty ? DirState::empty : DirState::foreign;
}

// A reader found a store whose database is not complete yet: either its creator is still at it,
// or it was stopped before the first event (then the store holds nothing, and the next writer
// finishes it).
Status incomplete_store(const fs::path& dir) {
  if (auto w = live_writer(dir))
    return make_error(Errc::not_found, "store " + q(dir) + " is still being created by " + w->holder + " (pid " +
                                           std::to_string(w->pid) + ") and has no events yet; try again");
  return make_error(Errc::not_found, "store " + q(dir) +
                                         " holds no events: its creator stopped before the first one; the next "
                                         "writing command (hostctl autofix, serve, ...) completes it");
}

// RocksDB data files exist but CURRENT does not: opening with create_if_missing would start a
// new database over them.
bool has_data_without_current(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir / "CURRENT", ec)) return false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto ext = entry.path().extension();
    if (ext == ".sst" || ext == ".log" || ext == ".blob") return true;
  }
  return false;
}

// ---- seq of the last event ----------------------------------------------------------------

Result<std::uint64_t> read_last_seq(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const fs::path& dir) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  it->SeekToLast();
  if (!it->Valid()) {
    if (auto s = from_rocks(it->status(), dir, "finding the last event"); !s) return s;
    return std::uint64_t{0};
  }
  auto key = it->key();
  if (key.size() != 8) return damaged(dir, "the last events key has " + std::to_string(key.size()) + " bytes, not 8");
  return detail::get_be64(key.data());
}


// Whether the database has the store's column families, checked before a writer could create
// them in a database that is not a store's. True: all of them. False: a store whose creation was
// cut short (some missing, the others empty). Corruption otherwise.
Result<bool> check_column_families(const fs::path& dir) {
  std::vector<std::string> have;
  auto s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &have);
  if (!s.ok()) return from_rocks(s, dir, "listing its column families");
  std::string missing, foreign;
  for (const char* name : detail::k_cf_names)
    if (std::find(have.begin(), have.end(), name) == have.end()) missing += std::string(missing.empty() ? "" : ", ") + name;
  for (const auto& name : have)
    if (std::find(std::begin(detail::k_cf_names), std::end(detail::k_cf_names), name) == std::end(detail::k_cf_names))
      foreign += std::string(foreign.empty() ? "" : ", ") + name;
  if (!foreign.empty())
    return damaged(dir, "its RocksDB database has column families fixhost does not use (" + foreign +
                            "): a database fixhost did not write");
  if (missing.empty()) return true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const auto& name : have) descs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir.string(), descs, &handles, &db);
  if (!s.ok()) return from_rocks(s, dir, "opening");
  bool empty = true;
  for (auto* h : handles) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
    it->SeekToFirst();
    if (it->Valid() || !it->status().ok()) empty = false;
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  if (!empty)
    return damaged(dir, "its RocksDB database lacks the column families " + missing +
                            " but holds data: a database fixhost did not write, or one that lost them");
  return false;
}

// What a read-only open depends on: CURRENT, the MANIFEST and the write-ahead logs, each by
// name, inode, size and modification time. A reader reopens only when it changed.
std::string files_state(const fs::path& dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name != "CURRENT" && !name.starts_with("MANIFEST-") && !name.ends_with(".log")) continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    entries.push_back(name + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
                      std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& e : entries) out += e + "\n";
  return out;
}

// The seqs a repair recorded as lost ("r/lost" in the default family); 0 when none.
Result<std::uint64_t> read_lost_max(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const fs::path& dir) {
  std::string v;
  auto s = db->Get(rocksdb::ReadOptions(), cf, detail::k_lost_key, &v);
  if (s.IsNotFound()) return std::uint64_t{0};
  if (!s.ok()) return from_rocks(s, dir, "reading the seqs lost to a repair");
  auto ranges = detail::parse_ranges(v);
  if (!ranges) return damaged(dir, "its record of the seqs lost to a repair does not parse");
  return ranges->empty() ? std::uint64_t{0} : ranges->back().last;
}


}  // namespace


// ---- Impl ---------------------------------------------------------------------------------

struct EventLog::Impl {
  fs::path dir;
  StoreOptions options;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  int lock_fd = -1;
  WriterInfo me;
  int high_water_fd = -1;    // writable: HIGH_WATER, rewritten after every write
  std::uint64_t lost_max = 0;  // the highest seq a repair recorded as lost (0: none)
  std::string files_seen;    // read-only: the database files as of the last open (files_state)

  std::atomic<std::uint64_t> last_seq{0};

  // Group commit: appenders queue up; the one at the front (the leader) writes the batches of
  // everyone queued behind it in one WriteBatch with one sync, then wakes them.
  struct Pending {
    std::span<events::Event> batch;
    bool durable = true;  // fsync before answering (false: a later sync() does)
    Status status;
    std::uint64_t first_seq = 0;
    bool done = false;
    std::condition_variable cv;
  };
  std::mutex write_mu;
  std::deque<Pending*> queue;
  std::uint64_t next_seq = 1;  // guarded by write_mu, advanced only by a successful write
  rocksdb::WriteBatch wb;      // used by the leader only
  std::string key_buf, value_buf, index_buf;
  // Index groups of the write being built: each run's and each type's seqs, ascending.
  std::vector<std::pair<std::string_view, std::vector<std::uint64_t>>> run_groups;
  std::array<std::vector<std::uint64_t>, events::k_max_event_type + 1> type_groups;

  // Wakes follow() in this process when events were appended.
  mutable std::mutex appended_mu;
  mutable std::condition_variable appended_cv;

  // Read-only logs: refresh() reopens the database under the exclusive lock; every read holds
  // it shared. Writable logs never reopen and take neither.
  mutable std::shared_mutex db_mu;

  // A registered projection. `current`: its stored state is folded up to last_seq and each
  // append keeps it so (writable logs). `mem`: a state caught up in memory for readers, valid
  // while the stored checkpoint is still `mem_base`.
  struct Registered {
    std::shared_ptr<const Projection> projection;
    std::string name;
    std::atomic<bool> current{false};
    Status error;  // why it fell behind (guarded by projection_mu)
    std::unique_ptr<detail::Overlay> mem;
    std::optional<ProjectionCheckpoint> mem_base;
  };
  std::vector<std::unique_ptr<Registered>> projections;
  mutable std::mutex projection_mu;

  ~Impl() {
    if (db) {
      if (options.writable && lock_fd >= 0) {
        // Readers replay the write-ahead log in memory on every open: leave them none to replay.
        rocksdb::FlushOptions fo;
        (void)db->Flush(fo, cfs);
      }
      close_db();
    }
    if (high_water_fd >= 0) {
      (void)::fdatasync(high_water_fd);
      ::close(high_water_fd);
    }
    if (lock_fd >= 0) {
      (void)::ftruncate(lock_fd, 0);
      ::close(lock_fd);  // releases the flock
    }
  }

  rocksdb::ColumnFamilyHandle* cf(int i) const { return cfs[static_cast<std::size_t>(i)]; }

  void close_db() {
    for (auto* h : cfs)
      if (h) db->DestroyColumnFamilyHandle(h);
    cfs.clear();
    (void)db->Close();
    delete db;
    db = nullptr;
  }

  // Reads take db_mu shared on a read-only log (refresh() may swap the database meanwhile).
  std::shared_lock<std::shared_mutex> read_guard() const {
    return options.writable ? std::shared_lock<std::shared_mutex>() : std::shared_lock<std::shared_mutex>(db_mu);
  }
  // Opens the database read-only into db/cfs.
  Status open_read_only();
  // After the database is open: the last seq, checked against the high-water mark and the
  // seqs a repair recorded as lost; `high_water` was read before the database was opened.
  Status load_last_seq(const std::optional<std::uint64_t>& high_water);

  Status corrupt_event(std::uint64_t seq, const std::string& why) const {
    return damaged(dir, "event " + std::to_string(seq) + " does not decode: " + why);
  }

  // Decodes the value at `it` (an events iterator) whose key is `seq`.
  Result<events::Event> decode_at(const rocksdb::Slice& key, const rocksdb::Slice& value) const {
    if (key.size() != 8) return damaged(dir, "an events key has " + std::to_string(key.size()) + " bytes, not 8");
    const std::uint64_t seq = detail::get_be64(key.data());
    auto ev = events::decode_envelope(std::string_view(value.data(), value.size()));
    if (!ev) return corrupt_event(seq, ev.status().message());
    if (ev->seq != seq)
      return damaged(dir, "events key " + std::to_string(seq) + " holds event " + std::to_string(ev->seq));
    return ev;
  }

  Status write_group(std::unique_lock<std::mutex>& lk, Pending& leader);

  Registered* find_projection(std::string_view name) const {
    for (const auto& r : projections)
      if (r->name == name) return r.get();
    return nullptr;
  }
  Result<std::optional<ProjectionCheckpoint>> read_checkpoint(std::string_view name,
                                                              const rocksdb::Snapshot* snap) const;
  // Folds the events after ov.seq() up to `to` into `ov`; with `persist`, writes the state and
  // its checkpoint every few megabytes of changes. `apply_failed` tells the projection's own
  // errors from the store's.
  Status fold(const Registered& r, detail::Overlay& ov, std::uint64_t to, bool persist, bool& apply_failed);
  // Writable open and reset: brings the stored state of `r` up to last_seq.
  Status catch_up_stored(Registered& r, bool reset);
  Status scan_index(int cf_index, const std::string& prefix, std::uint64_t from_seq, const EventVisitor& visit,
                    const char* what) const;
};

Status EventLog::Impl::open_read_only() {
  rocksdb::DBOptions dbo = detail::db_options();
  // Every table file opened at once, so that files the writer compacts away stay readable; in
  // this thread, without the compaction statistics only a writer uses.
  dbo.max_open_files = -1;
  dbo.max_file_opening_threads = 1;
  dbo.skip_stats_update_on_db_open = true;
  // The writer may replace the MANIFEST or remove a log while we open: retry while the files
  // change under us, report at once when they do not (that is damage, not a race).
  for (int attempt = 0;; ++attempt) {
    const std::string before = files_state(dir);
    auto high_water = read_high_water(dir);
    if (!high_water) return high_water.status();
    rocksdb::DB* opened = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::Status rs;
    try {
      rs = rocksdb::DB::OpenForReadOnly(dbo, dir.string(), detail::column_families(), &handles, &opened);
    } catch (const std::exception& ex) {
      return damaged(dir, std::string("opening it threw: ") + ex.what());
    }
    Status st = rs.ok() ? Status::ok() : from_rocks(rs, dir, "opening");
    if (st) {
      if (db) {
        // In-memory projection states read through the old database: fold them again.
        std::lock_guard<std::mutex> g(projection_mu);
        for (auto& r : projections) {
          r->mem.reset();
          r->mem_base.reset();
        }
        close_db();
      }
      db = opened;
      cfs = std::move(handles);
      if (cfs.size() != k_cf_count) return damaged(dir, "it lacks column families");
      st = load_last_seq(*high_water);
      if (st) {
        files_seen = before;
        return st;
      }
    }
    if (attempt >= 20 || files_state(dir) == before) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * (attempt + 1)));
  }
}

Status EventLog::Impl::load_last_seq(const std::optional<std::uint64_t>& high_water) {
  auto last = read_last_seq(db, cf(k_cf_events), dir);
  if (!last) return last.status();
  auto lost = read_lost_max(db, cf(k_cf_default), dir);
  if (!lost) return lost.status();
  const std::uint64_t accounted = std::max(*last, *lost);
  if (high_water && *high_water > accounted)
    return damaged(dir, "its log ends at event " + std::to_string(*last) + " but events up to " +
                            std::to_string(*high_water) + " were written (" + k_high_water_file +
                            "): events " + std::to_string(accounted + 1) + ".." + std::to_string(*high_water) +
                            " are missing");
  lost_max = *lost;
  last_seq.store(*last, std::memory_order_release);
  next_seq = accounted + 1;
  return Status::ok();
}

Status EventLog::Impl::write_group(std::unique_lock<std::mutex>& lk, Pending& leader) {
  // Take the leader and whoever queued behind it, up to k_group_bytes.
  std::vector<Pending*> group;
  std::size_t bytes = 0;
  for (Pending* p : queue) {
    std::size_t b = 0;
    for (const auto& e : p->batch) b += e.payload.size() + e.run_id.size() + e.source.size() + 64;
    if (!group.empty() && bytes + b > k_group_bytes) break;
    group.push_back(p);
    bytes += b;
  }
  const std::uint64_t first = next_seq;
  lk.unlock();  // others may queue meanwhile; the leader stays at the front

  std::uint64_t seq = first;
  Status status;
  bool synced = false;
  try {
    wb.Clear();
    run_groups.clear();
    for (auto& g : type_groups) g.clear();
    for (Pending* p : group) {
      p->first_seq = seq;
      for (auto& e : p->batch) {
        e.seq = seq++;
        value_buf.clear();
        events::encode_envelope(e, value_buf);
        const detail::SeqKey key(e.seq);
        rocksdb::Status s = wb.Put(cf(k_cf_events), rocksdb::Slice(key.bytes, 8), value_buf);
        if (!s.ok()) throw std::runtime_error("building the write batch: " + s.ToString());
        auto run = std::find_if(run_groups.rbegin(), run_groups.rend(),
                                [&](const auto& g) { return g.first == e.run_id; });
        if (run == run_groups.rend()) run_groups.emplace_back(e.run_id, std::vector<std::uint64_t>{e.seq});
        else run->second.push_back(e.seq);
        type_groups[static_cast<std::size_t>(e.type)].push_back(e.seq);
      }
    }
    // The indexes: one entry per run and per type of this write, not one per event (a write
    // usually holds one run and a few types, so this costs a handful of puts, not 2 per event).
    for (const auto& [run, seqs] : run_groups) {
      detail::run_key(key_buf, run, seqs.front());
      index_buf.clear();
      detail::put_seq_deltas(index_buf, seqs.front(), seqs.data() + 1, seqs.size() - 1);
      auto s = wb.Put(cf(k_cf_by_run), key_buf, index_buf);
      if (!s.ok()) throw std::runtime_error("building the write batch: " + s.ToString());
    }
    for (std::size_t t = 0; t < type_groups.size(); ++t) {
      const auto& seqs = type_groups[t];
      if (seqs.empty()) continue;
      const detail::TypeKey tkey(static_cast<std::uint16_t>(t), seqs.front());
      index_buf.clear();
      detail::put_seq_deltas(index_buf, seqs.front(), seqs.data() + 1, seqs.size() - 1);
      auto s = wb.Put(cf(k_cf_by_type), rocksdb::Slice(tkey.bytes, 10), index_buf);
      if (!s.ok()) throw std::runtime_error("building the write batch: " + s.ToString());
    }
    for (auto& r : projections) {
      if (!r->current.load(std::memory_order_acquire)) continue;
      detail::Overlay ov(db, cf(k_cf_default), detail::projection_prefix(r->name), nullptr, false, first - 1, dir);
      Status ps;
      for (Pending* p : group) {
        ps = r->projection->apply(std::span<const events::Event>(p->batch.data(), p->batch.size()), ov);
        if (!ps) break;
      }
      if (ps) ps = ov.write_to(wb);
      if (!ps) {
        // Appends go on; the projection stays at its checkpoint and readers see why.
        std::lock_guard<std::mutex> g(projection_mu);
        r->current.store(false, std::memory_order_release);
        r->error = make_error(ps.code(), "projection '" + r->name + "' stopped at event " + std::to_string(first - 1) +
                                             ": " + ps.message());
        continue;
      }
      auto s = wb.Put(cf(k_cf_default), detail::checkpoint_key(r->name),
                      detail::encode_checkpoint({r->projection->version(), seq - 1}));
      if (!s.ok()) throw std::runtime_error("building the write batch: " + s.ToString());
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync && std::any_of(group.begin(), group.end(), [](const Pending* p) { return p->durable; });
    synced = wo.sync || !options.sync;
    status = from_rocks(db->Write(wo, &wb), dir, "appending events " + std::to_string(first) + ".." + std::to_string(seq - 1));
  } catch (const std::exception& ex) {
    status = make_error(Errc::io_error, "store " + q(dir) + ": appending events failed: " + ex.what());
  }
  if (wb.GetDataSize() > (64u << 20)) wb = rocksdb::WriteBatch();  // do not keep a huge buffer

  lk.lock();
  if (status) {
    next_seq = seq;
    last_seq.store(seq - 1, std::memory_order_release);
    // After the write is durable and before anyone is told: the mark never runs ahead of the log
    // and never lags what was acknowledged. A failure here loses only the safety net. A write
    // not yet synced moves it at sync().
    if (synced) (void)write_high_water(high_water_fd, seq - 1, dir, false);
  }
  for (Pending* p : group) {
    if (!status) {
      for (auto& e : p->batch) e.seq = 0;
      p->first_seq = 0;
    }
    p->status = status;
    p->done = true;
    queue.pop_front();
    if (p != &leader) p->cv.notify_one();
  }
  if (!queue.empty()) queue.front()->cv.notify_one();
  if (status) {
    std::lock_guard<std::mutex> g(appended_mu);
    appended_cv.notify_all();
  }
  return status;
}

// Visits the events named by an index family's entries under `prefix`, seq >= from_seq.
Status EventLog::Impl::scan_index(int cf_index, const std::string& prefix, std::uint64_t from_seq,
                                  const EventVisitor& visit, const char* what) const {
  std::string start = prefix;
  char b[8];
  detail::put_be64(b, from_seq);
  start.append(b, 8);
  // Upper bound: the prefix incremented (prefixes here never end in 0xff bytes only).
  std::string upper = prefix;
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff) upper.pop_back();
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions index_ro;
  index_ro.readahead_size = k_scan_readahead;
  if (!upper.empty()) {
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    upper_slice = rocksdb::Slice(upper);
    index_ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> idx(db->NewIterator(index_ro, cf(cf_index)));
  rocksdb::ReadOptions ev_ro;
  ev_ro.readahead_size = k_scan_readahead;
  ev_ro.fill_cache = options.cache_scans;
  std::unique_ptr<rocksdb::Iterator> ev_it(db->NewIterator(ev_ro, cf(k_cf_events)));
  // The group holding from_seq may start before it: begin at the last entry at or before it.
  idx->SeekForPrev(start);
  if (!idx->Valid() || !idx->key().starts_with(prefix)) {
    if (auto s = from_rocks(idx->status(), dir, std::string("reading the ") + what + " index"); !s) return s;
    idx->Seek(start);
  }
  std::vector<std::uint64_t> seqs;
  for (; idx->Valid(); idx->Next()) {
    auto k = idx->key();
    if (k.size() < prefix.size() + 8 || !k.starts_with(prefix))
      return damaged(dir, std::string(what) + " key of " + std::to_string(k.size()) + " bytes is malformed");
    seqs.clear();
    const bool well_formed = detail::for_each_seq(detail::get_be64(k.data() + k.size() - 8), idx->value().ToStringView(),
                                                  [&](std::uint64_t s) {
                                                    if (s >= from_seq) seqs.push_back(s);
                                                    return true;
                                                  });
    if (!well_formed) return damaged(dir, std::string(what) + " entry value is malformed");
    for (const std::uint64_t seq : seqs) {
    const detail::SeqKey want(seq);
    const rocksdb::Slice want_slice(want.bytes, 8);
    if (ev_it->Valid()) ev_it->Next();
    if (!ev_it->Valid() || ev_it->key() != want_slice) ev_it->Seek(want_slice);
    if (!ev_it->Valid() || ev_it->key() != want_slice) {
      if (auto s = from_rocks(ev_it->status(), dir, std::string("reading event ") + std::to_string(seq)); !s) return s;
      return damaged(dir, std::string(what) + " entry for event " + std::to_string(seq) + " points at no event");
    }
    auto ev = decode_at(ev_it->key(), ev_it->value());
    if (!ev) return ev.status();
    if (!visit(*ev)) return Status::ok();
    }
  }
  return from_rocks(idx->status(), dir, std::string("reading the ") + what + " index");
}

// ---- EventLog -----------------------------------------------------------------------------

EventLog::EventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventLog::~EventLog() = default;

Result<std::unique_ptr<EventLog>> EventLog::open(const fs::path& dir_in, const StoreOptions& options) {
  std::error_code ec;
  fs::path dir = dir_in.empty() ? dir_in : fs::absolute(dir_in, ec).lexically_normal();
  if (dir.empty() || ec) return make_error(Errc::invalid_argument, "store directory " + q(dir_in) + " is not a valid path");
  if (dir.has_filename() == false && dir.has_parent_path()) dir = dir.parent_path();

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;

  DirState state = classify(dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot read " + q(dir) + ": " + ec.message());
  const bool may_create = options.writable && options.create_if_missing;
  switch (state) {
    case DirState::missing:
      if (!may_create) return not_found_store(dir);
      fs::create_directories(dir, ec);
      if (ec) return make_error(Errc::io_error, "cannot create the store directory " + q(dir) + ": " + ec.message());
      break;
    case DirState::not_a_dir:
      return make_error(Errc::invalid_argument, q(dir) + " is a file, not a fixhost store; pass the store directory "
                                                         "(--store DIR / FIXHOST_STORE)");
    case DirState::empty:
      if (!may_create) return not_found_store(dir);
      break;
    case DirState::foreign:
      return make_error(Errc::invalid_argument,
                        q(dir) + " is not a fixhost store (it is a non-empty directory without a " + k_marker_file +
                            " file); pass the store directory (--store DIR / FIXHOST_STORE), or an empty or new "
                            "directory to create a store there");
    case DirState::store:
      if (auto s = check_marker(dir); !s) return s;
      break;
  }

  if (options.writable) {
    // First, before the lock and the database: a store killed at any point of its creation is
    // already out of git's sight.
    if (auto s = write_ignore(dir); !s) return s;
    auto fd = take_lock(dir, options.holder, impl->me);
    if (!fd) return fd.status();
    impl->lock_fd = *fd;
    if (state != DirState::store) {
      if (auto s = write_marker(dir); !s) return s;
    }
    if (has_data_without_current(dir)) return damaged(dir, "its CURRENT file is missing");
    const bool exists = fs::exists(dir / "CURRENT", ec);
    bool complete = false;
    if (exists) {
      auto c = check_column_families(dir);
      if (!c) return c.status();
      complete = *c;
    }
    auto high_water = read_high_water(dir);
    if (!high_water) return high_water.status();
    rocksdb::DBOptions dbo = detail::db_options();
    dbo.create_if_missing = !exists;
    dbo.create_missing_column_families = !complete;
    rocksdb::Status rs;
    try {
      rs = rocksdb::DB::Open(dbo, dir.string(), detail::column_families(), &impl->cfs, &impl->db);
    } catch (const std::exception& ex) {
      return damaged(dir, std::string("opening it threw: ") + ex.what());
    }
    if (!rs.ok()) {
      impl->db = nullptr;
      impl->cfs.clear();
      return from_rocks(rs, dir, "opening");
    }
    if (impl->cfs.size() != k_cf_count) return damaged(dir, "it lacks column families");
    if (auto s = impl->load_last_seq(*high_water); !s) return s;
    auto hw_fd = open_high_water(dir);
    if (!hw_fd) return hw_fd.status();
    impl->high_water_fd = *hw_fd;
    if (!*high_water || **high_water != impl->next_seq - 1)
      if (auto s = write_high_water(impl->high_water_fd, impl->next_seq - 1, dir, true); !s) return s;
  } else {
    if (!fs::exists(dir / "CURRENT", ec)) {
      if (has_data_without_current(dir)) return damaged(dir, "its CURRENT file is missing");
      return incomplete_store(dir);
    }
    auto complete = check_column_families(dir);
    if (!complete) return complete.status();
    if (!*complete) return incomplete_store(dir);
    if (auto s = impl->open_read_only(); !s) return s;
  }

  for (const auto& p : options.projections) {
    if (!p) return make_error(Errc::invalid_argument, "opening store " + q(dir) + ": a registered projection is null");
    auto r = std::make_unique<Impl::Registered>();
    r->projection = p;
    r->name = p->name();
    const bool valid_name = !r->name.empty() && std::all_of(r->name.begin(), r->name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!valid_name)
      return make_error(Errc::invalid_argument, "opening store " + q(dir) + ": projection name '" + r->name +
                                                    "' is not [a-z0-9_]+");
    if (impl->find_projection(r->name))
      return make_error(Errc::invalid_argument,
                        "opening store " + q(dir) + ": projection '" + r->name + "' is registered twice");
    impl->projections.push_back(std::move(r));
  }
  if (options.writable)
    for (auto& r : impl->projections)
      if (auto s = impl->catch_up_stored(*r, false); !s) return s;
  return std::unique_ptr<EventLog>(new EventLog(std::move(impl)));
}

Result<std::uint64_t> EventLog::append_batch(std::span<events::Event> batch) { return append_batch(batch, true); }

Status EventLog::sync() {
  Impl& m = *impl_;
  if (!m.options.writable) return Status::ok();
  if (auto s = from_rocks(m.db->SyncWAL(), m.dir, "syncing the write-ahead log"); !s) return s;
  std::lock_guard<std::mutex> lk(m.write_mu);
  (void)write_high_water(m.high_water_fd, m.next_seq - 1, m.dir, false);
  return Status::ok();
}

Result<std::uint64_t> EventLog::append_batch(std::span<events::Event> batch, bool durable) {
  Impl& m = *impl_;
  if (!m.options.writable)
    return make_error(Errc::invalid_argument, "store " + q(m.dir) + " was opened read-only; open it writable to append");
  for (const auto& e : batch) {
    if (!events::is_known_event_type(static_cast<std::uint16_t>(e.type)))
      return make_error(Errc::invalid_argument, "cannot append to store " + q(m.dir) + ": an event has type id " +
                                                    std::to_string(static_cast<unsigned>(e.type)) +
                                                    ", which is reserved or unknown");
    if (e.run_id.find('\0') != std::string::npos)
      return make_error(Errc::invalid_argument,
                        "cannot append to store " + q(m.dir) + ": a run id contains a NUL byte; run ids are text");
  }
  if (batch.empty()) return m.last_seq.load(std::memory_order_acquire) + 1;

  Impl::Pending me;
  me.batch = batch;
  me.durable = durable;
  std::unique_lock<std::mutex> lk(m.write_mu);
  m.queue.push_back(&me);
  while (!me.done && m.queue.front() != &me) me.cv.wait(lk);
  if (!me.done) (void)m.write_group(lk, me);
  if (!me.status) return me.status;
  return me.first_seq;
}

Result<std::uint64_t> EventLog::append(events::Event& event) { return append_batch(std::span<events::Event>(&event, 1)); }

std::uint64_t EventLog::last_seq() const { return impl_->last_seq.load(std::memory_order_acquire); }

Result<events::Event> EventLog::get(std::uint64_t seq) const {
  const Impl& m = *impl_;
  auto guard = m.read_guard();
  const detail::SeqKey key(seq);
  rocksdb::PinnableSlice value;
  auto s = m.db->Get(rocksdb::ReadOptions(), m.cf(k_cf_events), rocksdb::Slice(key.bytes, 8), &value);
  if (s.IsNotFound())
    return make_error(Errc::not_found, "store " + q(m.dir) + " has no event " + std::to_string(seq) + " (the last is " +
                                           std::to_string(last_seq()) + ")");
  if (!s.ok()) return from_rocks(s, m.dir, "reading event " + std::to_string(seq));
  return m.decode_at(rocksdb::Slice(key.bytes, 8), value);
}

Status EventLog::scan(std::uint64_t from, std::uint64_t to, const EventVisitor& visit) const {
  const Impl& m = *impl_;
  auto guard = m.read_guard();
  if (to != 0 && to < from) return Status::ok();
  rocksdb::ReadOptions ro;
  ro.readahead_size = k_scan_readahead;
  const detail::SeqKey upper(to + 1);
  rocksdb::Slice upper_slice(upper.bytes, 8);
  if (to != 0 && to != UINT64_MAX) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf(k_cf_events)));
  const detail::SeqKey start(from);
  for (it->Seek(rocksdb::Slice(start.bytes, 8)); it->Valid(); it->Next()) {
    auto ev = m.decode_at(it->key(), it->value());
    if (!ev) return ev.status();
    if (!visit(*ev)) return Status::ok();
  }
  return from_rocks(it->status(), m.dir, "scanning events from " + std::to_string(from));
}

Status EventLog::scan_run(std::string_view run_id, const EventVisitor& visit, std::uint64_t from_seq) const {
  std::string prefix(run_id);
  prefix.push_back('\0');
  auto guard = impl_->read_guard();
  return impl_->scan_index(k_cf_by_run, prefix, from_seq, visit, "by_run");
}

Status EventLog::scan_type(events::EventType type, const EventVisitor& visit, std::uint64_t from_seq) const {
  char b[2];
  detail::put_be16(b, static_cast<std::uint16_t>(type));
  auto guard = impl_->read_guard();
  return impl_->scan_index(k_cf_by_type, std::string(b, 2), from_seq, visit, "by_type");
}

Status EventLog::follow(std::uint64_t from_seq, const EventVisitor& visit, const std::function<bool()>& keep_going,
                        std::chrono::milliseconds poll) const {
  const Impl& m = *impl_;
  std::uint64_t next = std::max<std::uint64_t>(from_seq, 1);
  for (;;) {
    if (auto s = refresh(); !s) return s;
    bool stopped = false;
    const std::uint64_t seen = last_seq();
    if (seen >= next) {
      auto s = scan(next, 0, [&](const events::Event& e) {
        next = e.seq + 1;
        if (!visit(e)) {
          stopped = true;
          return false;
        }
        return true;
      });
      if (!s) return s;
      if (stopped) return Status::ok();
    }
    if (keep_going && !keep_going()) return Status::ok();
    std::unique_lock<std::mutex> lk(m.appended_mu);
    m.appended_cv.wait_for(lk, poll, [&] { return m.options.writable && last_seq() >= next; });
  }
}

Status EventLog::refresh() const {
  Impl& m = *impl_;
  if (m.options.writable) return Status::ok();
  std::unique_lock<std::shared_mutex> lk(m.db_mu);
  // A read-only database sees the files as they were when it opened: reopen it when they changed.
  if (files_state(m.dir) == m.files_seen) return Status::ok();
  return m.open_read_only();
}

std::optional<WriterInfo> EventLog::writer() const {
  const Impl& m = *impl_;
  if (m.lock_fd >= 0) return m.me;
  return live_writer(m.dir);
}

const fs::path& EventLog::dir() const { return impl_->dir; }
bool EventLog::writable() const { return impl_->options.writable; }

Status EventLog::verify_indexes() const {
  const Impl& m = *impl_;
  auto guard = m.read_guard();
  struct Rec {
    std::uint64_t seq;
    std::uint32_t run;
    std::uint16_t type;
    std::uint8_t seen;  // bit 0: by_run entry found, bit 1: by_type entry found
  };
  std::vector<Rec> recs;
  std::vector<std::string> runs;
  std::unordered_map<std::string, std::uint32_t> run_ids;
  rocksdb::ReadOptions ro;
  ro.readahead_size = k_scan_readahead;
  {
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf(k_cf_events)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto ev = m.decode_at(it->key(), it->value());
      if (!ev) return ev.status();
      auto [pos, added] = run_ids.try_emplace(ev->run_id, static_cast<std::uint32_t>(runs.size()));
      if (added) runs.push_back(ev->run_id);
      recs.push_back(Rec{ev->seq, pos->second, static_cast<std::uint16_t>(ev->type), 0});
    }
    if (auto s = from_rocks(it->status(), m.dir, "verifying the events"); !s) return s;
  }
  auto find = [&](std::uint64_t seq) -> Rec* {
    auto it = std::lower_bound(recs.begin(), recs.end(), seq, [](const Rec& r, std::uint64_t s) { return r.seq < s; });
    return it != recs.end() && it->seq == seq ? &*it : nullptr;
  };
  {
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf(k_cf_by_run)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto k = it->key();
      if (k.size() < 9 || k[k.size() - 9] != '\0')
        return damaged(m.dir, "a by_run key of " + std::to_string(k.size()) + " bytes is malformed");
      std::string_view run(k.data(), k.size() - 9);
      Status bad;
      const bool well_formed =
          detail::for_each_seq(detail::get_be64(k.data() + k.size() - 8), it->value().ToStringView(), [&](std::uint64_t seq) {
            Rec* r = find(seq);
            if (!r)
              bad = damaged(m.dir, "by_run entry (run '" + std::string(run) + "', seq " + std::to_string(seq) +
                                       ") points at no event");
            else if (runs[r->run] != run)
              bad = damaged(m.dir, "by_run entry (run '" + std::string(run) + "', seq " + std::to_string(seq) +
                                       ") points at an event of run '" + runs[r->run] + "'");
            else
              r->seen |= 1;
            return bad.is_ok();
          });
      if (!bad) return bad;
      if (!well_formed) return damaged(m.dir, "a by_run entry of run '" + std::string(run) + "' has a malformed value");
    }
    if (auto s = from_rocks(it->status(), m.dir, "verifying the by_run index"); !s) return s;
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf(k_cf_by_type)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto k = it->key();
      if (k.size() != 10) return damaged(m.dir, "a by_type key of " + std::to_string(k.size()) + " bytes is malformed");
      const std::uint16_t type = detail::get_be16(k.data());
      const std::string tname(events::event_type_name(static_cast<events::EventType>(type)));
      Status bad;
      const bool well_formed =
          detail::for_each_seq(detail::get_be64(k.data() + 2), it->value().ToStringView(), [&](std::uint64_t seq) {
            Rec* r = find(seq);
            if (!r)
              bad = damaged(m.dir, "by_type entry (" + tname + ", seq " + std::to_string(seq) + ") points at no event");
            else if (r->type != type)
              bad = damaged(m.dir, "by_type entry (" + tname + ", seq " + std::to_string(seq) +
                                       ") points at an event of type " +
                                       std::string(events::event_type_name(static_cast<events::EventType>(r->type))));
            else
              r->seen |= 2;
            return bad.is_ok();
          });
      if (!bad) return bad;
      if (!well_formed) return damaged(m.dir, "a by_type entry of " + tname + " has a malformed value");
    }
    if (auto s = from_rocks(it->status(), m.dir, "verifying the by_type index"); !s) return s;
  }
  for (const Rec& r : recs) {
    if (!(r.seen & 1)) return damaged(m.dir, "event " + std::to_string(r.seq) + " has no by_run entry");
    if (!(r.seen & 2)) return damaged(m.dir, "event " + std::to_string(r.seq) + " has no by_type entry");
  }
  return Status::ok();
}

// ---- projections --------------------------------------------------------------------------

Result<std::optional<ProjectionCheckpoint>> EventLog::Impl::read_checkpoint(std::string_view name,
                                                                           const rocksdb::Snapshot* snap) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::string value;
  auto s = db->Get(ro, cf(k_cf_default), detail::checkpoint_key(name), &value);
  if (s.IsNotFound()) return std::optional<ProjectionCheckpoint>();
  if (!s.ok()) return from_rocks(s, dir, "reading the checkpoint of projection '" + std::string(name) + "'");
  auto c = detail::decode_checkpoint(value);
  if (!c) return damaged(dir, "the checkpoint of projection '" + std::string(name) + "' has " +
                                  std::to_string(value.size()) + " bytes, not 12");
  return std::optional<ProjectionCheckpoint>(*c);
}

Status EventLog::Impl::fold(const Registered& r, detail::Overlay& ov, std::uint64_t to, bool persist,
                            bool& apply_failed) {
  apply_failed = false;
  constexpr std::size_t k_chunk_events = 4096;
  constexpr std::size_t k_chunk_bytes = 8u << 20;
  std::vector<events::Event> chunk;
  std::size_t chunk_bytes = 0;
  Status err;
  auto flush_chunk = [&]() -> Status {
    if (chunk.empty()) return Status::ok();
    if (auto s = r.projection->apply(std::span<const events::Event>(chunk.data(), chunk.size()), ov); !s) {
      apply_failed = true;
      return make_error(s.code(), "projection '" + r.name + "' stopped at event " + std::to_string(ov.seq()) + ": " +
                                      s.message());
    }
    ov.set_seq(chunk.back().seq);
    chunk.clear();
    chunk_bytes = 0;
    if (!persist || (ov.pending_bytes() < k_chunk_bytes && ov.seq() != to)) return Status::ok();
    rocksdb::WriteBatch wb;
    if (auto s = ov.write_to(wb); !s) return s;
    auto s = wb.Put(cf(k_cf_default), detail::checkpoint_key(r.name),
                    detail::encode_checkpoint({r.projection->version(), ov.seq()}));
    if (!s.ok()) return make_error(Errc::io_error, "store " + q(dir) + ": building the projection write failed: " + s.ToString());
    rocksdb::WriteOptions wo;
    wo.sync = options.sync && ov.seq() == to;
    if (auto st = from_rocks(db->Write(wo, &wb), dir, "writing projection '" + r.name + "'"); !st) return st;
    ov.committed();
    return Status::ok();
  };
  const std::uint64_t from = ov.seq() + 1;
  if (from > to) return Status::ok();
  // Events are immutable once written, so the scan needs no snapshot.
  rocksdb::ReadOptions ro;
  ro.readahead_size = k_scan_readahead;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf(k_cf_events)));
  const detail::SeqKey start(from);
  for (it->Seek(rocksdb::Slice(start.bytes, 8)); it->Valid(); it->Next()) {
    auto ev = decode_at(it->key(), it->value());
    if (!ev) return ev.status();
    if (ev->seq > to) break;
    chunk_bytes += ev->payload.size();
    chunk.push_back(std::move(*ev));
    if (chunk.size() >= k_chunk_events || chunk_bytes >= k_chunk_bytes)
      if (auto s = flush_chunk(); !s) return s;
  }
  if (auto s = from_rocks(it->status(), dir, "reading events to fold projection '" + r.name + "'"); !s) return s;
  if (auto s = flush_chunk(); !s) return s;
  if (ov.seq() != to)
    return damaged(dir, "projection '" + r.name + "' was folded up to event " + std::to_string(ov.seq()) +
                            " but the log ends at " + std::to_string(to));
  return Status::ok();
}

Status EventLog::Impl::catch_up_stored(Registered& r, bool reset) {
  auto ckpt = read_checkpoint(r.name, nullptr);
  if (!ckpt) return ckpt.status();
  const bool usable = !reset && ckpt->has_value() && (*ckpt)->version == r.projection->version();
  const std::uint64_t last = last_seq.load(std::memory_order_acquire);
  if (usable && (*ckpt)->seq > last)
    return damaged(dir, "projection '" + r.name + "' has folded event " + std::to_string((*ckpt)->seq) +
                            " but the log ends at " + std::to_string(last));
  detail::Overlay ov(db, cf(k_cf_default), detail::projection_prefix(r.name), nullptr, !usable,
                     usable ? (*ckpt)->seq : 0, dir);
  if (!usable || (*ckpt)->seq < last) {
    bool apply_failed = false;
    Status s = fold(r, ov, last, true, apply_failed);
    if (apply_failed) {
      // The projection's own error: the store stays usable, readers see why.
      std::lock_guard<std::mutex> g(projection_mu);
      r.error = s;
      r.current.store(false, std::memory_order_release);
      return Status::ok();
    }
    if (!s) return s;
    if (!usable && last == 0) {
      // Nothing to fold: still drop what another version stored and record the checkpoint.
      rocksdb::WriteBatch wb;
      if (auto st = ov.write_to(wb); !st) return st;
      (void)wb.Put(cf(k_cf_default), detail::checkpoint_key(r.name), detail::encode_checkpoint({r.projection->version(), 0}));
      rocksdb::WriteOptions wo;
      wo.sync = options.sync;
      if (auto st = from_rocks(db->Write(wo, &wb), dir, "writing projection '" + r.name + "'"); !st) return st;
    }
  }
  std::lock_guard<std::mutex> g(projection_mu);
  r.error = Status::ok();
  r.mem.reset();
  r.mem_base.reset();
  r.current.store(true, std::memory_order_release);
  return Status::ok();
}

Status EventLog::read_projection(std::string_view name,
                                 const std::function<Status(const ProjectionView&)>& read) const {
  Impl& m = *impl_;
  Impl::Registered* r = m.find_projection(name);
  if (!r)
    return make_error(Errc::not_found, "store " + q(m.dir) + ": no projection '" + std::string(name) +
                                           "' is registered with this log (StoreOptions::projections)");
  // A consistent view: a snapshot on the writer; on a reader nothing changes the database but
  // refresh(), which waits for the read guard.
  auto frozen = m.read_guard();
  const rocksdb::Snapshot* snap = nullptr;
  if (m.options.writable) snap = m.db->GetSnapshot();
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snap;
    ~Release() {
      if (snap) db->ReleaseSnapshot(snap);
    }
  } release{m.db, snap};

  auto ckpt = m.read_checkpoint(name, snap);
  if (!ckpt) return ckpt.status();
  std::uint64_t last = 0;
  {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro, m.cf(k_cf_events)));
    it->SeekToLast();
    if (it->Valid()) {
      if (it->key().size() != 8) return damaged(m.dir, "the last events key is not 8 bytes");
      last = detail::get_be64(it->key().data());
    } else if (auto s = from_rocks(it->status(), m.dir, "finding the last event"); !s) {
      return s;
    }
  }
  const std::uint32_t version = r->projection->version();
  const bool usable = ckpt->has_value() && (*ckpt)->version == version && (*ckpt)->seq <= last;
  if (usable && (*ckpt)->seq == last) {
    detail::Overlay stored(m.db, m.cf(k_cf_default), detail::projection_prefix(r->name), snap, false, last, m.dir);
    return read(stored);
  }

  std::lock_guard<std::mutex> g(m.projection_mu);
  if (!r->error.is_ok() && r->current.load() == false && m.options.writable) return r->error;
  const std::optional<ProjectionCheckpoint> base = usable ? *ckpt : std::nullopt;
  const bool same_base = r->mem && ((!r->mem_base && !base) || (r->mem_base && base && r->mem_base->seq == base->seq &&
                                                                 r->mem_base->version == base->version));
  if (!same_base || r->mem->seq() > last) {
    // Readers hold no snapshot: the stored records they fold over stay as they are until the
    // next refresh(), after which the checkpoint shows whether they moved.
    r->mem = std::make_unique<detail::Overlay>(m.db, m.cf(k_cf_default), detail::projection_prefix(r->name), nullptr,
                                               !usable, usable ? base->seq : 0, m.dir);
    r->mem_base = base;
  }
  bool apply_failed = false;
  if (auto s = m.fold(*r, *r->mem, last, false, apply_failed); !s) {
    r->mem.reset();
    r->mem_base.reset();
    return s;
  }
  return read(*r->mem);
}

Result<std::optional<ProjectionCheckpoint>> EventLog::projection_checkpoint(std::string_view name) const {
  auto frozen = impl_->read_guard();
  return impl_->read_checkpoint(name, nullptr);
}

Status EventLog::reset_projection(std::string_view name) {
  Impl& m = *impl_;
  if (!m.options.writable)
    return make_error(Errc::invalid_argument, "store " + q(m.dir) + " was opened read-only; open it writable to reset projection '" +
                                                  std::string(name) + "'");
  // No append may run meanwhile: hold the write lock with nobody queued.
  std::unique_lock<std::mutex> lk(m.write_mu);
  while (!m.queue.empty()) {
    lk.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lk.lock();
  }
  if (Impl::Registered* r = m.find_projection(name)) {
    r->current.store(false, std::memory_order_release);
    return m.catch_up_stored(*r, true);
  }
  rocksdb::WriteBatch wb;
  const std::string prefix = detail::projection_prefix(name);
  auto s = wb.DeleteRange(m.cf(k_cf_default), prefix, detail::prefix_end(prefix));
  if (s.ok()) s = wb.Delete(m.cf(k_cf_default), detail::checkpoint_key(name));
  if (!s.ok()) return make_error(Errc::io_error, "store " + q(m.dir) + ": building the projection reset failed: " + s.ToString());
  rocksdb::WriteOptions wo;
  wo.sync = m.options.sync;
  return from_rocks(m.db->Write(wo, &wb), m.dir, "resetting projection '" + std::string(name) + "'");
}

}  // namespace fixhost::store
