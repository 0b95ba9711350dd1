// hostctl repair (EventLog::repair): salvage every event that still reads into a new store
// beside the damaged one, verify it, then swap. Steps and guarantees: docs/STORE.md.
#include <fcntl.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/table_properties.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"
#include "keys.hpp"
#include "rocks_options.hpp"
#include "store_dir.hpp"

namespace fs = std::filesystem;

namespace fixhost::store {

using namespace detail;

namespace {

// The new store being filled: events under their original seqs, each checked to decode.
class Salvage {
 public:
  static Result<std::unique_ptr<Salvage>> create(const fs::path& dir) {
    std::unique_ptr<Salvage> s(new Salvage());
    s->dir_ = dir;
    rocksdb::DBOptions dbo = db_options();
    dbo.create_if_missing = true;
    dbo.create_missing_column_families = true;
    auto rs = rocksdb::DB::Open(dbo, dir.string(), column_families(), &s->cfs_, &s->db_);
    if (!rs.ok()) {
      s->db_ = nullptr;
      s->cfs_.clear();
      return make_error(Errc::io_error, "cannot create the repaired store in " + q(dir) + ": " + rs.ToString());
    }
    return s;
  }
  ~Salvage() { close(); }

  // Keeps the value when it is an envelope of this seq and the seq has none yet (the sources are
  // read in order of trust: what readers see first); false when it is not an envelope.
  bool add(const rocksdb::Slice& key, const rocksdb::Slice& value) {
    if (key.size() != 8) return false;
    const std::uint64_t seq = get_be64(key.data());
    auto ev = events::decode_envelope(std::string_view(value.data(), value.size()));
    if (!ev || ev->seq != seq) return false;
    auto [pos, added] = digests_.try_emplace(seq, std::hash<std::string_view>{}(value.ToStringView()));
    if (!added) {
      // Two different events under one seq (a writer that reused seqs before issue 9).
      if (pos->second != std::hash<std::string_view>{}(value.ToStringView())) conflicts_.push_back(seq);
      return true;
    }
    (void)batch_.Put(cfs_[k_cf_events], key, value);
    seqs_.push_back(seq);
    if (batch_.GetDataSize() > (8u << 20)) flush();
    return true;
  }
  // Seqs for which another, different event was found and dropped.
  std::vector<std::uint64_t> conflicts() const {
    auto c = conflicts_;
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end()), c.end());
    return c;
  }

  Status flush() {
    if (batch_.Count() == 0) return Status::ok();
    auto s = db_->Write(rocksdb::WriteOptions(), &batch_);
    batch_.Clear();
    if (!s.ok() && error_.is_ok())
      error_ = make_error(Errc::io_error, "writing the repaired store " + q(dir_) + " failed: " + s.ToString());
    return error_;
  }

  // The seqs salvaged so far, ascending and unique.
  const std::vector<std::uint64_t>& seqs() {
    std::sort(seqs_.begin(), seqs_.end());
    seqs_.erase(std::unique(seqs_.begin(), seqs_.end()), seqs_.end());
    return seqs_;
  }

  // Writes one by_run and one by_type entry per event, and the record of lost seqs; syncs.
  Status finish(const std::vector<SeqRange>& lost) {
    if (auto s = flush(); !s) return s;
    rocksdb::ReadOptions ro;
    ro.readahead_size = k_scan_readahead;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[k_cf_events]));
    std::string run_key_buf;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto ev = events::decode_envelope(it->value().ToStringView());
      if (!ev) return make_error(Errc::internal, "the repaired store lost an event it had checked: " + ev.status().message());
      run_key(run_key_buf, ev->run_id, ev->seq);
      (void)batch_.Put(cfs_[k_cf_by_run], run_key_buf, rocksdb::Slice());
      const TypeKey tkey(static_cast<std::uint16_t>(ev->type), ev->seq);
      (void)batch_.Put(cfs_[k_cf_by_type], rocksdb::Slice(tkey.bytes, 10), rocksdb::Slice());
      if (batch_.Count() >= 30000)
        if (auto s = flush(); !s) return s;
    }
    if (!it->status().ok())
      return make_error(Errc::io_error, "reading the repaired store " + q(dir_) + " failed: " + it->status().ToString());
    it.reset();
    if (!lost.empty()) (void)batch_.Put(cfs_[k_cf_default], k_lost_key, format_ranges(lost));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto s = db_->Write(wo, &batch_);
    batch_.Clear();
    if (s.ok()) s = db_->Flush(rocksdb::FlushOptions(), cfs_);
    if (!s.ok()) return make_error(Errc::io_error, "writing the repaired store " + q(dir_) + " failed: " + s.ToString());
    close();
    return error_;
  }

  void close() {
    if (!db_) return;
    for (auto* h : cfs_) db_->DestroyColumnFamilyHandle(h);
    cfs_.clear();
    (void)db_->Close();
    delete db_;
    db_ = nullptr;
  }

 private:
  Salvage() = default;
  fs::path dir_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  rocksdb::WriteBatch batch_;
  std::vector<std::uint64_t> seqs_;
  std::unordered_map<std::uint64_t, std::size_t> digests_;
  std::vector<std::uint64_t> conflicts_;
  Status error_;
};

using IteratorFactory = std::function<std::unique_ptr<rocksdb::Iterator>()>;

// Reads every entry an iterator can reach. On a damaged block the iterator stops with an error;
// the reading goes on at the first key after it that reads (found by seeking further and further,
// then bisecting back), so one bad block costs only its own keys. Keys are be64 seqs.
// Returns the first error met (ok when none).
rocksdb::Status read_around_damage(const IteratorFactory& make, const std::function<void(const rocksdb::Iterator&)>& take) {
  rocksdb::Status first_error;
  auto it = make();
  it->SeekToFirst();
  std::uint64_t next = 0;  // the smallest seq not yet read past
  for (int skips = 0; skips < 100000; ++skips) {
    for (; it->Valid(); it->Next()) {
      take(*it);
      if (it->key().size() == 8) next = get_be64(it->key().data()) + 1;
    }
    if (it->status().ok()) return first_error;
    if (first_error.ok()) first_error = it->status();
    // `next` is unreadable: find the smallest p > next whose seek works.
    auto seek_ok = [&](std::uint64_t p) {
      it = make();
      const SeqKey k(p);
      it->Seek(rocksdb::Slice(k.bytes, 8));
      return it->status().ok();
    };
    std::uint64_t bad = next, step = 1, good = 0;
    for (;;) {
      if (step == 0 || bad + step <= bad) return first_error;  // no seq after it reads
      const std::uint64_t probe = bad + step;
      if (seek_ok(probe)) {
        good = probe;
        break;
      }
      bad = probe;
      step *= 2;
    }
    while (good - bad > 1) {
      const std::uint64_t mid = bad + (good - bad) / 2;
      if (seek_ok(mid)) good = mid;
      else bad = mid;
    }
    (void)seek_ok(good);
    next = good;
  }
  return first_error;
}

// A store error without its repair advice (the repair is what is running).
std::string without_advice(const std::string& message) {
  const auto at = message.find("; copy it aside and run 'hostctl repair");
  return at == std::string::npos ? message : message.substr(0, at);
}

std::vector<fs::path> files_ending(const fs::path& dir, std::string_view ext) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().ends_with(ext)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// 1. The store as a read-only open of the whole database shows it, reading around damage, and
//    with every write-ahead log record that still checks out (not only those before the first
//    bad one). Also the seqs an earlier repair recorded as lost.
void salvage_database(const fs::path& dir, Salvage& out, std::vector<SeqRange>& lost_before,
                      std::vector<std::string>& damage) {
  rocksdb::DBOptions dbo = db_options();
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
  dbo.paranoid_checks = false;
  dbo.max_open_files = -1;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  auto rs = rocksdb::DB::OpenForReadOnly(dbo, dir.string(), column_families(), &cfs, &db);
  if (!rs.ok()) {
    damage.push_back("the database does not open: " + rs.ToString());
    return;
  }
  std::string lost;
  if (db->Get(rocksdb::ReadOptions(), cfs[k_cf_default], k_lost_key, &lost).ok())
    if (auto r = parse_ranges(lost)) lost_before = *r;
  rocksdb::ReadOptions ro;
  ro.readahead_size = k_scan_readahead;
  auto s = read_around_damage(
      [&] { return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro, cfs[k_cf_events])); },
      [&](const rocksdb::Iterator& it) { (void)out.add(it.key(), it.value()); });
  if (!s.ok()) damage.push_back("reading the events: " + s.ToString());
  for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
  (void)db->Close();
  delete db;
}

// 2. Every table file of the events family on its own, whether the MANIFEST still names it or not.
void salvage_tables(const fs::path& dir, Salvage& out, std::vector<std::string>& damage) {
  rocksdb::Options o(db_options(), events_cf_options());
  for (const auto& file : files_ending(dir, ".sst")) {
    rocksdb::SstFileReader reader(o);
    auto s = reader.Open(file.string());
    if (!s.ok()) {
      damage.push_back("table " + file.filename().string() + " does not open: " + s.ToString());
      continue;
    }
    auto props = reader.GetTableProperties();
    if (props && !props->column_family_name.empty() && props->column_family_name != k_cf_names[k_cf_events]) continue;
    rocksdb::ReadOptions ro;
    ro.readahead_size = k_scan_readahead;
    s = read_around_damage([&] { return std::unique_ptr<rocksdb::Iterator>(reader.NewIterator(ro)); },
                           [&](const rocksdb::Iterator& it) { (void)out.add(it.key(), it.value()); });
    if (!s.ok()) damage.push_back("table " + file.filename().string() + ": " + s.ToString());
  }
}

// 3. Every write-ahead log on its own, whatever the MANIFEST says: copied (renumbered, in order)
//    into an empty database with the store's column families, which replays each record that
//    checks out.
void salvage_logs(const fs::path& dir, const fs::path& scratch, Salvage& out, std::vector<std::string>& damage) {
  const auto logs = files_ending(dir, ".log");
  if (logs.empty()) return;
  std::error_code ec;
  fs::remove_all(scratch, ec);
  auto cleanup = [&] { fs::remove_all(scratch, ec); };
  {
    rocksdb::DBOptions dbo = db_options();
    dbo.create_if_missing = true;
    dbo.create_missing_column_families = true;
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> cfs;
    auto rs = rocksdb::DB::Open(dbo, scratch.string(), column_families(), &cfs, &db);
    if (!rs.ok()) {
      damage.push_back("cannot replay the write-ahead logs: " + rs.ToString());
      return cleanup();
    }
    for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
    (void)db->Close();
    delete db;
  }
  // Log numbers order the logs; the copies get numbers above anything the empty database used.
  std::vector<std::pair<std::uint64_t, fs::path>> numbered;
  for (const auto& f : logs) {
    try {
      numbered.emplace_back(std::stoull(f.stem().string()), f);
    } catch (const std::exception&) {
    }
  }
  std::sort(numbered.begin(), numbered.end());
  std::uint64_t n = 1000000;
  for (const auto& [num, f] : numbered) {
    char name[32];
    std::snprintf(name, sizeof name, "%06llu.log", static_cast<unsigned long long>(n++));
    fs::copy_file(f, scratch / name, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      damage.push_back("cannot copy " + f.filename().string() + ": " + ec.message());
      return cleanup();
    }
  }
  rocksdb::DBOptions dbo = db_options();
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
  dbo.paranoid_checks = false;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  auto rs = rocksdb::DB::OpenForReadOnly(dbo, scratch.string(), column_families(), &cfs, &db);
  if (!rs.ok()) {
    damage.push_back("cannot replay the write-ahead logs: " + rs.ToString());
    return cleanup();
  }
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cfs[k_cf_events]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) (void)out.add(it->key(), it->value());
  if (!it->status().ok()) damage.push_back("replaying the write-ahead logs: " + it->status().ToString());
  it.reset();
  for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
  (void)db->Close();
  delete db;
  cleanup();
}

// Seqs 1..high_water that are not in `have` (ascending).
std::vector<SeqRange> missing(const std::vector<std::uint64_t>& have, std::uint64_t high_water) {
  std::vector<SeqRange> out;
  std::uint64_t next = 1;
  for (std::uint64_t s : have) {
    if (s > next) out.push_back({next, s - 1});
    next = s + 1;
  }
  if (high_water >= next) out.push_back({next, high_water});
  return out;
}

// `all` without the seqs in `known` (both ascending, disjoint ranges).
std::vector<SeqRange> subtract(const std::vector<SeqRange>& all, const std::vector<SeqRange>& known) {
  std::vector<SeqRange> out;
  for (SeqRange r : all) {
    for (const auto& k : known) {
      if (k.last < r.first || k.first > r.last) continue;
      if (k.first > r.first) out.push_back({r.first, k.first - 1});
      if (k.last >= r.last) {
        r.first = 1, r.last = 0;  // used up
        break;
      }
      r.first = k.last + 1;
    }
    if (r.first <= r.last) out.push_back(r);
  }
  return out;
}

std::string utc_stamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

Result<RepairReport> EventLog::repair(const fs::path& dir_in) {
  std::error_code ec;
  const fs::path dir = fs::absolute(dir_in, ec).lexically_normal();
  if (ec || !fs::is_directory(dir, ec)) return not_found_store(dir_in);
  if (!fs::exists(dir / k_marker_file, ec))
    return make_error(Errc::invalid_argument, q(dir) + " is not a fixhost store (no " + std::string(k_marker_file) +
                                                  " file); repair only runs on a store directory");
  if (auto s = check_marker(dir); !s && s.code() != Errc::corruption) return s;

  WriterInfo me;
  auto fd = take_lock(dir, "hostctl repair", me);
  if (!fd) return fd.status();
  struct Unlock {
    int fd;
    ~Unlock() {
      (void)::ftruncate(fd, 0);  // as a writer's clean close leaves it
      ::close(fd);
    }
  } unlock{*fd};

  RepairReport report;
  const fs::path parent = dir.parent_path();
  const std::string base = dir.filename().string();
  const fs::path fresh = parent / ("." + base + ".repair-" + std::to_string(::getpid()));
  const fs::path scratch = parent / ("." + base + ".repair-logs-" + std::to_string(::getpid()));
  fs::remove_all(fresh, ec);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code e;
      if (!dir.empty()) fs::remove_all(dir, e);
    }
  } cleanup{fresh};

  // What a reader sees now, and whether that is all there is.
  std::vector<std::uint64_t> seen;
  bool reads_whole = false;
  std::uint64_t high_water = 0;
  {
    auto hw = read_high_water(dir);
    if (!hw) report.damage.push_back(without_advice(hw.status().message()));
    else if (*hw) high_water = **hw;
  }
  auto salvage = Salvage::create(fresh);
  if (!salvage) return salvage.status();
  {
    StoreOptions ro;
    ro.writable = false;
    ro.create_if_missing = false;
    auto log = EventLog::open(dir, ro);
    if (!log) {
      report.damage.push_back(without_advice(log.status().message()));
    } else {
      auto s = (*log)->scan(1, 0, [&](const events::Event& e) {
        seen.push_back(e.seq);
        std::string value;
        events::encode_envelope(e, value);
        const SeqKey k(e.seq);
        (void)(*salvage)->add(rocksdb::Slice(k.bytes, 8), value);
        return true;
      });
      if (!s) report.damage.push_back(without_advice(s.message()));
      auto v = s ? (*log)->verify_indexes() : Status::ok();
      if (!v) report.damage.push_back(without_advice(v.message()));
      reads_whole = s && v;
    }
  }
  salvage_database(dir, **salvage, report.lost_before, report.damage);
  salvage_tables(dir, **salvage, report.damage);
  salvage_logs(dir, scratch, **salvage, report.damage);
  if (auto s = (*salvage)->flush(); !s) return s;
  const std::vector<std::uint64_t> have = (*salvage)->seqs();
  const std::vector<std::uint64_t> conflicts = (*salvage)->conflicts();
  for (std::size_t i = 0; i < conflicts.size() && i < 10; ++i)
    report.damage.push_back("seq " + std::to_string(conflicts[i]) +
                            " holds two different events; kept the one readers saw (or the first found)");
  if (conflicts.size() > 10) report.damage.push_back(std::to_string(conflicts.size() - 10) + " more seqs hold two events");

  if (reads_whole && have == seen && conflicts.empty()) {
    // Readers see every event there is: leave the store as it is.
    report.healthy = true;
    report.events = seen.size();
    report.high_water = std::max(high_water, seen.empty() ? 0 : seen.back());
    report.damage.clear();
    return report;
  }
  if (have.empty()) {
    std::vector<std::string> cf_names;
    if (rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &cf_names).ok() &&
        std::find(cf_names.begin(), cf_names.end(), k_cf_names[k_cf_events]) == cf_names.end())
      return make_error(Errc::invalid_argument,
                        q(dir) + " holds a RocksDB database without fixhost's events column family, so there is "
                                 "nothing to repair; if it is not a fixhost store, remove its FIXHOST_STORE file, "
                                 "else restore it from a copy");
  }

  std::uint64_t lost_before_max = report.lost_before.empty() ? 0 : report.lost_before.back().last;
  report.high_water = std::max({high_water, have.empty() ? 0 : have.back(), lost_before_max});
  const std::vector<SeqRange> all_lost = missing(have, report.high_water);
  report.lost = subtract(all_lost, report.lost_before);
  report.events = have.size();
  if (auto s = (*salvage)->finish(all_lost); !s) return s;
  salvage->reset();
  if (auto s = write_marker(fresh); !s) return s;
  {
    auto hw = open_high_water(fresh);
    if (!hw) return hw.status();
    auto s = write_high_water(*hw, report.high_water, fresh, true);
    ::close(*hw);
    if (!s) return s;
  }

  // Verify the new store as a reader will see it before anything is swapped.
  {
    StoreOptions ro;
    ro.writable = false;
    ro.create_if_missing = false;
    auto log = EventLog::open(fresh, ro);
    if (!log)
      return make_error(Errc::internal, "the repaired store " + q(fresh) + " does not open (" + log.status().message() +
                                            "); the damaged store is unchanged");
    std::vector<std::uint64_t> back;
    auto s = (*log)->scan(1, 0, [&](const events::Event& e) {
      back.push_back(e.seq);
      return true;
    });
    if (s) s = (*log)->verify_indexes();
    if (!s || back != have)
      return make_error(Errc::internal, "the repaired store " + q(fresh) + " does not read back what was salvaged (" +
                                            (s ? std::string("other seqs") : s.message()) +
                                            "); the damaged store is unchanged");
  }

  // Swap: the original becomes the backup, the new store takes its place, and what is not part of
  // the log (autofix worktrees and attempt files) moves back in.
  WriterInfo fresh_me;
  auto fresh_lock = take_lock(fresh, "hostctl repair", fresh_me);
  if (!fresh_lock) return fresh_lock.status();
  struct UnlockFresh {
    int fd;
    ~UnlockFresh() { ::close(fd); }
  } unlock_fresh{*fresh_lock};
  fs::path backup = parent / (base + ".damaged-" + utc_stamp());
  for (int i = 2; fs::exists(backup, ec); ++i) backup = parent / (base + ".damaged-" + utc_stamp() + "-" + std::to_string(i));
  fs::rename(dir, backup, ec);
  if (ec)
    return make_error(Errc::io_error, "cannot move the damaged store " + q(dir) + " aside to " + q(backup) + ": " +
                                          ec.message() + "; it is unchanged");
  fs::rename(fresh, dir, ec);
  if (ec) {
    std::error_code back_ec;
    fs::rename(backup, dir, back_ec);
    return make_error(Errc::io_error, "cannot move the repaired store into " + q(dir) + ": " + ec.message() +
                                          (back_ec ? "; the damaged store is in " + q(backup)
                                                   : std::string("; the damaged store is back, unchanged")));
  }
  cleanup.dir.clear();
  for (const char* keep : {"worktrees", "attempts"}) {
    if (!fs::exists(backup / keep, ec)) continue;
    fs::rename(backup / keep, dir / keep, ec);
    if (ec) report.damage.push_back("could not move " + std::string(keep) + "/ back from " + q(backup) + ": " + ec.message());
  }
  (void)sync_path(parent, O_RDONLY | O_DIRECTORY);
  report.backup = backup;
  return report;
}

}  // namespace fixhost::store
