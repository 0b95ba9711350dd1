#pragma once
// Projection records in the store's default column family (internal):
//   "p/" name "/" key  -> the projection's record
//   "c/" name          -> be32 version | be64 seq (its checkpoint)
// An Overlay is the state a projection folds into: pending changes over the stored records.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "fixhost/store/projection.hpp"

namespace fixhost::store::detail {

std::string projection_prefix(std::string_view name);
std::string checkpoint_key(std::string_view name);
std::string encode_checkpoint(const ProjectionCheckpoint& c);
std::optional<ProjectionCheckpoint> decode_checkpoint(std::string_view bytes);
// The first key after every key that starts with `prefix` (prefix has no trailing 0xff bytes).
std::string prefix_end(std::string_view prefix);

// Not thread-safe; one folder at a time.
class Overlay final : public ProjectionState {
 public:
  // `snapshot` may be null; `cleared` hides every stored record (a state folded from seq 0).
  Overlay(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string prefix, const rocksdb::Snapshot* snapshot,
          bool cleared, std::uint64_t seq, std::filesystem::path dir);

  Result<std::optional<std::string>> get(std::string_view key) const override;
  Status scan(std::string_view prefix, const RecordVisitor& visit) const override;
  std::uint64_t seq() const override { return seq_; }
  void put(std::string_view key, std::string_view value) override;
  void erase(std::string_view key) override;

  void set_seq(std::uint64_t seq) { seq_ = seq; }
  bool cleared() const { return cleared_; }
  std::size_t pending_bytes() const { return pending_bytes_; }
  // Adds the pending changes (and, for a cleared state, the deletion of every stored record)
  // to `wb`.
  Status write_to(rocksdb::WriteBatch& wb) const;
  // After write_to's batch was written: the store now holds what the overlay held.
  void committed();

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::string prefix_;
  rocksdb::ReadOptions ro_;
  bool cleared_;
  std::uint64_t seq_;
  std::filesystem::path dir_;
  std::map<std::string, std::optional<std::string>, std::less<>> changes_;
  std::size_t pending_bytes_ = 0;
};

}  // namespace fixhost::store::detail
