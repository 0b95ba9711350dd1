#include "rocks_options.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

namespace fixhost::store::detail {
namespace {

std::shared_ptr<rocksdb::Cache> shared_block_cache() {
  static const std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(64 << 20);
  return cache;
}

rocksdb::ColumnFamilyOptions base_cf_options(std::size_t block_size) {
  rocksdb::ColumnFamilyOptions o;
  o.compression = rocksdb::kLZ4Compression;
  o.bottommost_compression = rocksdb::kZSTD;
  o.level_compaction_dynamic_level_bytes = true;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = shared_block_cache();
  t.block_size = block_size;
  t.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// The part of an index key before its trailing be64 seq: by_run's run_id + NUL, by_type's be16
// type. Keys with the same prefix arrive in increasing order, so the memtable inserts each one
// next to the previous (insert hints) instead of searching the skip list from the top.
class IndexPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "fixhost.IndexPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return {key.data(), key.size() - 8}; }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() >= 8; }
};

}  // namespace

rocksdb::DBOptions db_options() {
  rocksdb::DBOptions o;
  o.max_background_jobs = 2;
  // A record torn at the end of a log (the process died writing it) is dropped; any other bad
  // record fails the open with Corruption instead of silently ending the log there.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.paranoid_checks = true;
  o.keep_log_file_num = 3;
  o.max_log_file_size = 4 << 20;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

rocksdb::ColumnFamilyOptions events_cf_options() {
  auto o = base_cf_options(16 * 1024);
  o.write_buffer_size = 64 << 20;
  // No blob files: RocksDB 7.8 cannot read them from a secondary instance and its RepairDB
  // drops them; large envelopes stay in the table blocks, compressed like everything else.
  o.enable_blob_files = false;
  // Keys are appended in increasing order: one insert hint (see IndexPrefix) for all of them.
  o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
  return o;
}

rocksdb::ColumnFamilyOptions index_cf_options() {
  auto o = base_cf_options(16 * 1024);
  o.write_buffer_size = 32 << 20;
  o.memtable_insert_with_hint_prefix_extractor = std::make_shared<IndexPrefix>();
  return o;
}

std::vector<rocksdb::ColumnFamilyDescriptor> column_families() {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(k_cf_names[k_cf_default], index_cf_options());
  cfs.emplace_back(k_cf_names[k_cf_events], events_cf_options());
  cfs.emplace_back(k_cf_names[k_cf_by_run], index_cf_options());
  cfs.emplace_back(k_cf_names[k_cf_by_type], index_cf_options());
  return cfs;
}

}  // namespace fixhost::store::detail
