#pragma once
// Key encodings of the store's column families (docs/STORE.md):
//   events:  be64 seq
//   by_run:  run_id | 0x00 | be64 seq   -> value: the run's further seqs of the same write
//   by_type: be16 type | be64 seq       -> value: the type's further seqs of the same write
// An index entry names the first seq of a group in its key and the others (ascending) in its
// value as LEB128 deltas, each from the previous seq; an empty value is a group of one (the
// only form stores written before grouping hold, so they read unchanged).
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fixhost::store::detail {

inline void put_be64(char* p, std::uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
inline std::uint64_t get_be64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
inline void put_be16(char* p, std::uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
inline std::uint16_t get_be16(const char* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}

// An events key on the stack.
struct SeqKey {
  char bytes[8];
  explicit SeqKey(std::uint64_t seq) { put_be64(bytes, seq); }
  std::string_view view() const { return {bytes, 8}; }
};

inline void run_key(std::string& out, std::string_view run_id, std::uint64_t seq) {
  out.assign(run_id);
  out.push_back('\0');
  char b[8];
  put_be64(b, seq);
  out.append(b, 8);
}

struct TypeKey {
  char bytes[10];
  TypeKey(std::uint16_t type, std::uint64_t seq) {
    put_be16(bytes, type);
    put_be64(bytes + 2, seq);
  }
  std::string_view view() const { return {bytes, 10}; }
};

// Appends the seqs after `first` (ascending, all > first) as LEB128 deltas.
inline void put_seq_deltas(std::string& out, std::uint64_t first, const std::uint64_t* more, std::size_t n) {
  std::uint64_t prev = first;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t d = more[i] - prev;
    prev = more[i];
    while (d >= 0x80) {
      out.push_back(static_cast<char>((d & 0x7f) | 0x80));
      d >>= 7;
    }
    out.push_back(static_cast<char>(d));
  }
}

// Calls `f(seq)` for the key's seq and each seq of the value; false when the value is malformed.
template <class F>
bool for_each_seq(std::uint64_t first, std::string_view value, F&& f) {
  std::uint64_t seq = first;
  if (!f(seq)) return true;
  std::size_t i = 0;
  while (i < value.size()) {
    std::uint64_t d = 0;
    int shift = 0;
    for (;;) {
      if (i >= value.size() || shift > 63) return false;
      const auto byte = static_cast<unsigned char>(value[i++]);
      d |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
      shift += 7;
    }
    if (d == 0) return false;
    seq += d;
    if (!f(seq)) return true;
  }
  return true;
}

}  // namespace fixhost::store::detail
