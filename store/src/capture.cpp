#include "fixhost/store/capture.hpp"

#include <algorithm>
#include <cstring>

namespace fixhost::store {

CappedCapture::CappedCapture(std::size_t head_cap, std::size_t tail_cap) : head_cap_(head_cap), tail_cap_(tail_cap) {}

void CappedCapture::append(std::string_view chunk) {
  total_ += chunk.size();
  if (head_.size() < head_cap_) {
    const std::size_t take = std::min(chunk.size(), head_cap_ - head_.size());
    head_.append(chunk.data(), take);
    chunk.remove_prefix(take);
  }
  if (chunk.empty() || tail_cap_ == 0) return;
  if (chunk.size() >= tail_cap_) {
    tail_.assign(chunk.substr(chunk.size() - tail_cap_));
    tail_pos_ = 0;
    return;
  }
  if (tail_.size() < tail_cap_) {
    const std::size_t take = std::min(chunk.size(), tail_cap_ - tail_.size());
    tail_.append(chunk.data(), take);
    chunk.remove_prefix(take);
  }
  while (!chunk.empty()) {
    const std::size_t take = std::min(chunk.size(), tail_cap_ - tail_pos_);
    std::memcpy(tail_.data() + tail_pos_, chunk.data(), take);
    tail_pos_ = (tail_pos_ + take) % tail_cap_;
    chunk.remove_prefix(take);
  }
}

std::string CappedCapture::cut_marker(std::uint64_t cut_bytes, std::uint64_t total_bytes) {
  return "[fixhost: " + std::to_string(cut_bytes) + " bytes cut here (" + std::to_string(total_bytes) +
         " bytes in all)]";
}

events::Blob CappedCapture::finish() && {
  events::Blob blob;
  blob.total_bytes = total_;
  const std::uint64_t kept = head_.size() + tail_.size();
  blob.cut_bytes = total_ - kept;
  std::string data = std::move(head_);
  if (blob.cut_bytes > 0) {
    if (!data.empty() && data.back() != '\n') data.push_back('\n');
    data += cut_marker(blob.cut_bytes, total_);
    data.push_back('\n');
  }
  data.reserve(data.size() + tail_.size());
  data.append(tail_, tail_pos_, std::string::npos);
  data.append(tail_, 0, tail_pos_);
  blob.data = std::move(data);
  tail_.clear();
  tail_.shrink_to_fit();
  return blob;
}

}  // namespace fixhost::store
