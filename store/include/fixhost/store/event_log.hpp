#pragma once
// The append-only event log on RocksDB. On-disk layout and size policy: docs/STORE.md.
// An EventLog is safe for concurrent use from several threads of one process. At most one
// process holds a store open for writing (the writer lock); any number may read.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/event.hpp"
#include "fixhost/result.hpp"
#include "fixhost/store/projection.hpp"

namespace fixhost::store {

struct StoreOptions {
  // Open for appending, taking the store's writer lock; false opens read-only (no lock).
  // Default: true
  bool writable = true;
  // Create the store when the directory is missing or empty (writable only).
  // Default: true
  bool create_if_missing = true;
  // fsync the write-ahead log on every append (one fsync per batch, not per event).
  // Default: true
  bool sync = true;
  // Who is writing, recorded in the lock file and named to anyone refused the lock.
  // Default: "hostctl"
  std::string holder = "hostctl";
  // Projections kept with the events (projection.hpp): a writable log folds every appended batch
  // into them in the same atomic write and catches them up from their checkpoints when opened.
  // Default: none
  std::vector<std::shared_ptr<const Projection>> projections;
  // Whether scan_type and scan_run keep the event blocks they read in the block cache (64 MiB,
  // shared by the process). false for a reader that passes once over a log larger than the
  // cache (hostctl triage): the blocks are read and decompressed once either way, and the cache
  // is not churned. Default: true
  bool cache_scans = true;
};

// Who holds a store's writer lock.
struct WriterInfo {
  int pid = 0;
  std::string holder;
  std::int64_t since_us = 0;
};

// Seqs first..last, both included.
struct SeqRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  bool operator==(const SeqRange&) const = default;
};

// What `EventLog::repair` found and did.
struct RepairReport {
  // Nothing needed repair: every event reads, the indexes agree, the write-ahead log holds
  // nothing the database does not show. The store was left as it was.
  bool healthy = false;
  // Events in the store afterwards, and the highest seq it has ever handed out.
  std::uint64_t events = 0;
  std::uint64_t high_water = 0;
  // Seqs this repair could not recover (none when healthy), and those an earlier repair had
  // already recorded as lost.
  std::vector<SeqRange> lost;
  std::vector<SeqRange> lost_before;
  // Where the damaged original now is (empty when healthy).
  std::filesystem::path backup;
  // What was wrong, one line each (the errors the damaged store gave).
  std::vector<std::string> damage;
};

// Visits events in sequence order; return false to stop.
using EventVisitor = std::function<bool(const events::Event&)>;

class EventLog {
 public:
  // Opens (or creates) the store in `dir`. Errors: Busy (another process writes; names it),
  // InvalidArgument (not a fixhost store), Corruption (damaged; says what to do),
  // NotFound (read-only open of a missing store), Unsupported (newer store format).
  static Result<std::unique_ptr<EventLog>> open(const std::filesystem::path& dir, const StoreOptions& options = {});
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Appends the events as one atomic, durable write with their index entries. Assigns each
  // event's seq in order (gap-free, the first event ever is 1). Returns the first seq assigned.
  // On error nothing is appended and no seq is consumed.
  Result<std::uint64_t> append_batch(std::span<events::Event> batch);
  // The same, but with durable = false the write is not fsynced: it is atomic and ordered
  // (a crash of the process loses nothing; a power loss may lose a suffix of such writes, never
  // a middle) and durable at the next durable append or sync(). For a cascade of appends that
  // are acknowledged together (one fsync for an event and all its derivations).
  Result<std::uint64_t> append_batch(std::span<events::Event> batch, bool durable);
  // Makes every append so far durable (one fsync of the write-ahead log).
  Status sync();
  Result<std::uint64_t> append(events::Event& event);

  // Highest seq in the log (0 when empty). For a read-only log: as of the last refresh().
  std::uint64_t last_seq() const;

  // The event with this seq; NotFound when there is none.
  Result<events::Event> get(std::uint64_t seq) const;
  // Events with from <= seq <= to (to = 0: up to the end).
  Status scan(std::uint64_t from, std::uint64_t to, const EventVisitor& visit) const;
  // Events of one run, in sequence order, starting at from_seq.
  Status scan_run(std::string_view run_id, const EventVisitor& visit, std::uint64_t from_seq = 0) const;
  // Events of one type, in sequence order, starting at from_seq.
  Status scan_type(events::EventType type, const EventVisitor& visit, std::uint64_t from_seq = 0) const;

  // Delivers events with seq >= from_seq, then waits for new ones (polling every `poll`) and
  // delivers them as they are appended by this or another process, until visit returns false
  // or `keep_going` (checked at each poll) returns false.
  Status follow(std::uint64_t from_seq, const EventVisitor& visit, const std::function<bool()>& keep_going,
                std::chrono::milliseconds poll = std::chrono::milliseconds(100)) const;

  // Read-only logs: catch up with what the writer appended since open. No-op for the writer.
  Status refresh() const;

  // Who holds the writer lock now, if anyone (for `hostctl runs`: a run whose writer is gone
  // without RunFinished was aborted).
  std::optional<WriterInfo> writer() const;

  const std::filesystem::path& dir() const;
  bool writable() const;

  // Checks that every index entry points at an event of the right run and type and that every
  // event is indexed; Corruption names the first mismatch.
  Status verify_indexes() const;

  // Calls `read` with the state of the registered projection `name` as of last_seq(): its stored
  // records, caught up in memory with the events appended since its checkpoint (a read-only log,
  // a store appended to without the projection, or a projection left behind by an error).
  // Errors: NotFound (no projection of that name is registered), the projection's own error.
  Status read_projection(std::string_view name, const std::function<Status(const ProjectionView&)>& read) const;
  // The checkpoint stored for projection `name`, registered or not; nullopt when none is stored.
  Result<std::optional<ProjectionCheckpoint>> projection_checkpoint(std::string_view name) const;
  // Writable logs: deletes what is stored of projection `name`, then, when it is registered,
  // folds it again from the first event.
  Status reset_projection(std::string_view name);

  // For `hostctl repair`: checks the store and, when it is damaged, builds a new one in a sibling
  // directory from every event that still reads (tables, write-ahead logs), verifies it, moves
  // the original aside as a backup and only then puts the new one in its place. Seqs are kept;
  // the lost ones are reported and recorded, and never handed out again. Takes the writer lock.
  static Result<RepairReport> repair(const std::filesystem::path& dir);

  struct Impl;

 private:
  explicit EventLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fixhost::store
