// CappedCapture: head/tail/cut accounting, including a 100 MB stream.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "fixhost/store/capture.hpp"

using fixhost::store::CappedCapture;

namespace {

// The deterministic stream: line i is "line <i> ...\n"; returns its first `n` bytes from `offset`.
struct Stream {
  std::string text;
  explicit Stream(std::size_t bytes) {
    text.reserve(bytes + 64);
    for (std::size_t i = 0; text.size() < bytes; ++i)
      text += "line " + std::to_string(i) + " of the captured output, as a test runner prints it\n";
    text.resize(bytes);
  }
};

}  // namespace

TEST_CASE("output within the caps is kept whole") {
  for (std::size_t n : {0u, 1u, 10u, 15u, 16u}) {
    Stream s(n);
    CappedCapture cap(8, 8);
    for (char c : s.text) cap.append(std::string_view(&c, 1));
    auto blob = std::move(cap).finish();
    CHECK(blob.data == s.text);
    CHECK(blob.total_bytes == n);
    CHECK(blob.cut_bytes == 0);
  }
}

TEST_CASE("output past the caps keeps head and tail around a marker line") {
  Stream s(1000);
  for (std::size_t chunk : {1u, 3u, 7u, 64u, 100u, 1000u}) {
    CAPTURE(chunk);
    CappedCapture cap(100, 50);
    for (std::size_t i = 0; i < s.text.size(); i += chunk) cap.append(std::string_view(s.text).substr(i, chunk));
    CHECK(cap.total_bytes() == 1000);
    auto blob = std::move(cap).finish();
    CHECK(blob.total_bytes == 1000);
    CHECK(blob.cut_bytes == 850);
    const std::string head = s.text.substr(0, 100), tail = s.text.substr(950);
    const std::string marker = CappedCapture::cut_marker(850, 1000);
    CHECK(marker == "[fixhost: 850 bytes cut here (1000 bytes in all)]");
    const std::string sep = head.back() == '\n' ? "" : "\n";
    CHECK(blob.data == head + sep + marker + "\n" + tail);
  }
}

TEST_CASE("a zero tail keeps the head only and still counts the cut") {
  CappedCapture cap(4, 0);
  cap.append("abcdefgh\n");
  auto blob = std::move(cap).finish();
  CHECK(blob.cut_bytes == 5);
  CHECK(blob.data == "abcd\n" + CappedCapture::cut_marker(5, 9) + "\n");
}

TEST_CASE("a 100 MB stream under the default caps") {
  constexpr std::size_t k_total = 100u << 20;
  Stream s(k_total);
  CappedCapture cap;  // 16 MiB head + 16 MiB tail
  std::mt19937 rng(7);
  std::size_t pos = 0;
  while (pos < s.text.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 70000, s.text.size() - pos);
    cap.append(std::string_view(s.text).substr(pos, n));
    pos += n;
  }
  auto blob = std::move(cap).finish();
  const std::size_t head = CappedCapture::k_default_head_cap, tail = CappedCapture::k_default_tail_cap;
  CHECK(blob.total_bytes == k_total);
  CHECK(blob.cut_bytes == k_total - head - tail);
  const std::string marker = CappedCapture::cut_marker(blob.cut_bytes, k_total);
  REQUIRE(blob.data.size() >= head + tail + marker.size() + 1);
  CHECK(blob.data.size() <= head + tail + marker.size() + 2);
  CHECK(std::string_view(blob.data).substr(0, head) == std::string_view(s.text).substr(0, head));
  CHECK(std::string_view(blob.data).substr(blob.data.size() - tail) == std::string_view(s.text).substr(k_total - tail));
  CHECK(blob.data.find(marker) != std::string::npos);
}
