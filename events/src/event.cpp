#include <chrono>
#include <cctype>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/event.hpp"

namespace fixhost::events {

std::optional<EventType> parse_event_type(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  bool numeric = true;
  unsigned v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') { numeric = false; break; }
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > 65535) return std::nullopt;
  }
  if (numeric) {
    if (!is_known_event_type(static_cast<std::uint16_t>(v))) return std::nullopt;
    return static_cast<EventType>(v);
  }
  auto iequal = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  };
  for (std::uint16_t i = 1; i <= k_max_event_type; ++i) {
    if (!is_known_event_type(i)) continue;
    auto t = static_cast<EventType>(i);
    if (iequal(event_type_name(t), text)) return t;
  }
  return std::nullopt;
}

void encode_envelope(const Event& e, std::string& out) {
  detail::OutBuf buf(out);
  std::ostream os(&buf);
  cereal::BinaryOutputArchive ar(os);
  ar(e.seq, e.ts_us, e.run_id, static_cast<std::uint16_t>(e.type), e.schema, e.source, e.causation, e.payload);
}

std::string encode_envelope(const Event& e) {
  std::string out;
  out.reserve(64 + e.run_id.size() + e.source.size() + e.payload.size());
  encode_envelope(e, out);
  return out;
}

Result<Event> decode_envelope(std::string_view bytes) {
  Event e;
  std::uint16_t type = 0;
  try {
    detail::InBuf buf(bytes.data(), bytes.size());
    detail::BoundedInputArchive ar(buf);
    ar(e.seq, e.ts_us, e.run_id, type, e.schema, e.source, e.causation, e.payload);
  } catch (const std::exception& ex) {
    return make_error(Errc::corruption, std::string("event envelope of ") + std::to_string(bytes.size()) +
                                            " bytes does not decode: " + ex.what());
  }
  if (type == 0)
    return make_error(Errc::corruption, "event " + std::to_string(e.seq) + " has the reserved type id 0");
  e.type = static_cast<EventType>(type);
  return e;
}

}  // namespace fixhost::events
