#pragma once
// The store directory outside RocksDB (internal): the marker, the writer lock, the high-water
// mark, and the one-line errors every part of the store reports (docs/STORE.md).
#include <rocksdb/db.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/result.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::store::detail {

inline constexpr const char* k_marker_file = "FIXHOST_STORE";
inline constexpr std::string_view k_format_name = "fixhost-store";
inline constexpr int k_format_version = 1;
inline constexpr const char* k_lock_file = "WRITER";
inline constexpr const char* k_high_water_file = "HIGH_WATER";
// Keeps the store (and the run worktrees under it) out of the repository it lives in.
inline constexpr const char* k_ignore_file = ".gitignore";
// A leader stops adding queued batches to its group past this many envelope bytes.
inline constexpr std::size_t k_group_bytes = 16 << 20;
inline constexpr std::size_t k_scan_readahead = 2 << 20;

std::string q(const std::filesystem::path& p);
std::string errno_text(int e);
// Corruption with the repair advice.
Status damaged(const std::filesystem::path& dir, const std::string& what);
Status not_found_store(const std::filesystem::path& dir);
// Maps a RocksDB status; `doing` says what the store was doing ("opening", "reading event 12").
Status from_rocks(const rocksdb::Status& s, const std::filesystem::path& dir, const std::string& doing);
std::string utc_time(std::int64_t us);

// Ok when `dir` holds a marker of a format this build reads.
Status check_marker(const std::filesystem::path& dir);
Status sync_path(const std::filesystem::path& p, int flags);
Status write_marker(const std::filesystem::path& dir);
// Writes `.gitignore` (ignore everything) by rename when it is missing, so a `git add -A` or a
// status of the repository never sees the store, even one killed while it was being created.
Status write_ignore(const std::filesystem::path& dir);

// Takes the writer lock (flock on WRITER) and records the holder; Busy names whoever has it.
Result<int> take_lock(const std::filesystem::path& dir, const std::string& holder, WriterInfo& me);
// The holder recorded in a lock file someone else holds.
std::optional<WriterInfo> read_holder(int fd);
// The process holding `dir`'s writer lock now, if any (its pid 0 when the lock file is unreadable).
std::optional<WriterInfo> live_writer(const std::filesystem::path& dir);

// The high-water mark: HIGH_WATER holds "<seq> <seq>\n" (the same 20-digit number twice), the
// highest seq ever acknowledged to an appender. The writer rewrites it in place after every
// successful write, so it never lags what was acknowledged before a crash of the process; a log
// that ends below it has lost acknowledged events.
// Reads it; nullopt when the file does not exist. Corruption when it does not parse (after a
// few re-reads, since a writer may be rewriting it).
Result<std::optional<std::uint64_t>> read_high_water(const std::filesystem::path& dir);
// Opens (creating) the file for the writer.
Result<int> open_high_water(const std::filesystem::path& dir);
// Rewrites it in place (no fsync unless `sync`).
Status write_high_water(int fd, std::uint64_t seq, const std::filesystem::path& dir, bool sync);

// The seq ranges a repair could not recover, under this key in the default family as text:
// "first-last,seq,..." ascending (a range of one is written as one number).
inline constexpr const char* k_lost_key = "r/lost";
std::optional<std::vector<SeqRange>> parse_ranges(std::string_view text);
std::string format_ranges(const std::vector<SeqRange>& ranges);

}  // namespace fixhost::store::detail
