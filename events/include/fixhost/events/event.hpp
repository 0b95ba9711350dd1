#pragma once
// The envelope every event travels in. The store assigns `seq` (gap-free, from 1) when it
// appends; everything else is set by whoever creates the event.
#include <chrono>
#include <cstdint>
#include <string>

#include "fixhost/events/event_type.hpp"

namespace fixhost::events {

struct Event {
  std::uint64_t seq = 0;        // assigned by the store; 0 until appended
  std::int64_t ts_us = 0;       // wall clock, microseconds since the Unix epoch
  std::string run_id;           // the run this event belongs to
  EventType type = EventType::Reserved;
  std::uint16_t schema = 0;     // schema version of `payload` for this type
  std::string source;           // "host" or "plugin@version"
  std::uint64_t causation = 0;  // seq of the event that caused this one, 0 for none
  std::string payload;          // cereal binary of the typed payload (see payloads.hpp)
};

inline std::int64_t now_us() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace fixhost::events
