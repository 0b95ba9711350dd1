#pragma once
// RocksDB option sets of the store (internal). The benchmark's bare-RocksDB baseline uses the
// same sets so that the two are comparable.
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdint>

#include <string>
#include <vector>

namespace fixhost::store::detail {

// Column families in open order; the index in this list is the handle's index.
enum Cf : int { k_cf_default = 0, k_cf_events = 1, k_cf_by_run = 2, k_cf_by_type = 3, k_cf_count = 4 };
inline constexpr const char* k_cf_names[k_cf_count] = {"default", "events", "by_run", "by_type"};

rocksdb::DBOptions db_options();
// The events family: big-endian seq keys, envelope values (inline, whatever their size).
rocksdb::ColumnFamilyOptions events_cf_options();
// The index families: small keys, empty values.
rocksdb::ColumnFamilyOptions index_cf_options();
std::vector<rocksdb::ColumnFamilyDescriptor> column_families();

}  // namespace fixhost::store::detail
