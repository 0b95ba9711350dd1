#pragma once
// Caps captured output (test output, diffs, agent logs) at capture time under the size policy in
// docs/STORE.md: keeps the first `head_cap` bytes and a ring buffer of the last `tail_cap` bytes,
// never more, so a 100 MB stream costs at most head_cap + tail_cap of memory. What is cut is
// recorded in the Blob (`total_bytes`, `cut_bytes`) and marked in its data, never silently dropped.
// Not thread-safe: one producer appends.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fixhost/events/payloads.hpp"

namespace fixhost::store {

class CappedCapture {
 public:
  static constexpr std::size_t k_default_head_cap = 16u << 20;
  static constexpr std::size_t k_default_tail_cap = 16u << 20;

  CappedCapture() : CappedCapture(k_default_head_cap, k_default_tail_cap) {}
  explicit CappedCapture(std::size_t head_cap, std::size_t tail_cap);

  void append(std::string_view chunk);
  // Bytes appended so far.
  std::uint64_t total_bytes() const noexcept { return total_; }

  // The captured bytes: all of them when they fit in head_cap + tail_cap; otherwise the head, a
  // marker line "[fixhost: N bytes cut here (T bytes in all)]", and the tail.
  events::Blob finish() &&;

  // The marker line finish() puts between head and tail, without its newlines.
  static std::string cut_marker(std::uint64_t cut_bytes, std::uint64_t total_bytes);

 private:
  std::size_t head_cap_;
  std::size_t tail_cap_;
  std::string head_;
  std::string tail_;       // grows to tail_cap_, then is overwritten as a ring
  std::size_t tail_pos_ = 0;  // the oldest byte of a full ring; 0 while it fills
  std::uint64_t total_ = 0;
};

}  // namespace fixhost::store
