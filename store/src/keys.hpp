#pragma once
// Key encodings of the store's column families (docs/STORE.md):
//   events:  be64 seq
//   by_run:  run_id | 0x00 | be64 seq
//   by_type: be16 type | be64 seq
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

}  // namespace fixhost::store::detail
