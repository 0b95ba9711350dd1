#pragma once
// An EventSink that keeps events in memory: replay's scratch log and the tests' log.
// Not thread-safe.
#include <cstdint>
#include <span>
#include <vector>

#include "fixhost/events/event.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host {

class MemorySink : public EventSink {
 public:
  // The first event appended gets seq `last_seq + 1`.
  explicit MemorySink(std::uint64_t last_seq = 0) : first_seq_(last_seq + 1), last_seq_(last_seq) {}

  // Assigns seq = last + 1 to each event in order and keeps a copy. Never fails.
  Status append(std::span<events::Event> batch) override;

  const std::vector<events::Event>& events() const { return events_; }
  std::uint64_t last_seq() const { return last_seq_; }
  // The kept event with this seq, or nullptr.
  const events::Event* get(std::uint64_t seq) const;
  // Events of one type, in seq order.
  std::vector<events::Event> of_type(events::EventType type) const;

 private:
  std::uint64_t first_seq_;
  std::uint64_t last_seq_;
  std::vector<events::Event> events_;
};

}  // namespace fixhost::host
