#include "projection_state.hpp"

#include <rocksdb/iterator.h>

#include <memory>

#include "keys.hpp"

namespace fixhost::store::detail {

std::string projection_prefix(std::string_view name) {
  std::string p = "p/";
  p += name;
  p += '/';
  return p;
}

std::string checkpoint_key(std::string_view name) {
  std::string k = "c/";
  k += name;
  return k;
}

std::string encode_checkpoint(const ProjectionCheckpoint& c) {
  char b[12];
  const std::uint32_t v = __builtin_bswap32(c.version);
  std::memcpy(b, &v, 4);
  put_be64(b + 4, c.seq);
  return std::string(b, 12);
}

std::optional<ProjectionCheckpoint> decode_checkpoint(std::string_view bytes) {
  if (bytes.size() != 12) return std::nullopt;
  std::uint32_t v;
  std::memcpy(&v, bytes.data(), 4);
  return ProjectionCheckpoint{__builtin_bswap32(v), get_be64(bytes.data() + 4)};
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

namespace {
Status read_error(const std::filesystem::path& dir, const rocksdb::Status& s, const std::string& doing) {
  const Errc code = s.IsCorruption() ? Errc::corruption : Errc::io_error;
  return make_error(code, "store '" + dir.string() + "': " + doing + " failed: " + s.ToString() +
                              (s.IsCorruption() ? "; copy it aside and run 'hostctl repair --store " + dir.string() + "'"
                                                : std::string()));
}
}  // namespace

Overlay::Overlay(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string prefix,
                 const rocksdb::Snapshot* snapshot, bool cleared, std::uint64_t seq, std::filesystem::path dir)
    : db_(db), cf_(cf), prefix_(std::move(prefix)), cleared_(cleared), seq_(seq), dir_(std::move(dir)) {
  ro_.snapshot = snapshot;
}

Result<std::optional<std::string>> Overlay::get(std::string_view key) const {
  if (auto it = changes_.find(key); it != changes_.end()) return it->second;
  if (cleared_) return std::optional<std::string>();
  std::string full = prefix_;
  full += key;
  std::string value;
  auto s = db_->Get(ro_, cf_, full, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return read_error(dir_, s, "reading projection record '" + full + "'");
  return std::optional<std::string>(std::move(value));
}

Status Overlay::scan(std::string_view prefix, const RecordVisitor& visit) const {
  auto mine = changes_.lower_bound(prefix);
  auto mine_ok = [&] { return mine != changes_.end() && std::string_view(mine->first).starts_with(prefix); };
  std::unique_ptr<rocksdb::Iterator> it;
  const std::string start = prefix_ + std::string(prefix);
  const std::string end = prefix_end(start);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro = ro_;
  ro.iterate_upper_bound = &upper;
  ro.readahead_size = 1 << 20;
  if (!cleared_) {
    it.reset(db_->NewIterator(ro, cf_));
    it->Seek(start);
  }
  auto stored_ok = [&] { return it && it->Valid(); };
  while (stored_ok() || mine_ok()) {
    std::string_view skey;
    if (stored_ok()) skey = std::string_view(it->key().data() + prefix_.size(), it->key().size() - prefix_.size());
    const bool take_mine = mine_ok() && (!stored_ok() || std::string_view(mine->first) <= skey);
    if (take_mine) {
      const bool shadows = stored_ok() && std::string_view(mine->first) == skey;
      if (mine->second && !visit(mine->first, *mine->second)) return Status::ok();
      ++mine;
      if (shadows) it->Next();
    } else {
      if (!visit(skey, std::string_view(it->value().data(), it->value().size()))) return Status::ok();
      it->Next();
    }
  }
  if (it && !it->status().ok()) return read_error(dir_, it->status(), "scanning projection records '" + start + "'");
  return Status::ok();
}

void Overlay::put(std::string_view key, std::string_view value) {
  pending_bytes_ += key.size() + value.size();
  auto it = changes_.find(key);
  if (it == changes_.end()) changes_.emplace(std::string(key), std::string(value));
  else it->second = std::string(value);
}

void Overlay::erase(std::string_view key) {
  auto it = changes_.find(key);
  if (it == changes_.end()) changes_.emplace(std::string(key), std::nullopt);
  else it->second.reset();
}

Status Overlay::write_to(rocksdb::WriteBatch& wb) const {
  rocksdb::Status s;
  if (cleared_) s = wb.DeleteRange(cf_, prefix_, prefix_end(prefix_));
  std::string full;
  for (const auto& [key, value] : changes_) {
    if (!s.ok()) break;
    full = prefix_;
    full += key;
    s = value ? wb.Put(cf_, full, *value) : wb.Delete(cf_, full);
  }
  if (!s.ok()) return make_error(Errc::io_error, "store '" + dir_.string() + "': building the projection write failed: " + s.ToString());
  return Status::ok();
}

void Overlay::committed() {
  changes_.clear();
  pending_bytes_ = 0;
  cleared_ = false;
}

}  // namespace fixhost::store::detail
