#include "fixhost/events/json.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <stdexcept>
#include <type_traits>

#include "fixhost/events/codec.hpp"

namespace fixhost::events {
namespace {

template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};

template <class T>
nlohmann::json value_json(const T& v) {
  if constexpr (detail::NestedFields<T>) {
    nlohmann::json o = nlohmann::json::object();
    const_cast<T&>(v).fields([&](const char* name, auto& m) { o[name] = value_json(m); });
    return o;
  } else if constexpr (is_vector<T>::value) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : v) a.push_back(value_json(x));
    return a;
  } else {
    return nlohmann::json(v);
  }
}

template <class P>
Result<nlohmann::json> render(const Event& e) {
  auto p = decode<P>(e);
  if (!p) return p.status();
  nlohmann::json o = nlohmann::json::object();
  p->fields([&](const char* name, auto& m) { o[name] = value_json(m); }, e.schema);
  return o;
}

template <class T>
void value_from_json(const nlohmann::json& j, T& v, const std::string& where) {
  if constexpr (detail::NestedFields<T>) {
    if (!j.is_object()) throw std::invalid_argument(where + " must be an object");
    v.fields([&](const char* name, auto& m) {
      if (auto it = j.find(name); it != j.end()) value_from_json(*it, m, where + "." + name);
    });
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) throw std::invalid_argument(where + " must be an array");
    v.clear();
    for (std::size_t i = 0; i < j.size(); ++i) value_from_json(j[i], v.emplace_back(), where + "[" + std::to_string(i) + "]");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) throw std::invalid_argument(where + " must be true or false");
    v = j.get<bool>();
  } else if constexpr (std::is_arithmetic_v<T>) {
    if (!j.is_number()) throw std::invalid_argument(where + " must be a number");
    if constexpr (std::is_integral_v<T>) {
      if (!j.is_number_integer()) throw std::invalid_argument(where + " must be a whole number");
    }
    v = j.get<T>();
  } else {
    if (!j.is_string()) throw std::invalid_argument(where + " must be a string");
    v = j.get<std::string>();
  }
}

template <class P>
Result<std::string> parse_payload(const nlohmann::json& j) {
  const std::string type_name(event_type_name(P::k_type));
  if (!j.is_object()) return make_error(Errc::invalid_argument, type_name + " payload must be a JSON object");
  P p;
  std::vector<std::string> known;
  try {
    p.fields([&](const char* name, auto& m) {
      known.emplace_back(name);
      if (auto it = j.find(name); it != j.end()) value_from_json(*it, m, type_name + "." + name);
    }, P::k_schema);
  } catch (const std::exception& e) {
    return make_error(Errc::invalid_argument, e.what());
  }
  for (const auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      return make_error(Errc::invalid_argument, type_name + " has no field '" + key + "' (schema " +
                                                    std::to_string(P::k_schema) + "; see payloads.hpp)");
  return encode(p);
}

}  // namespace

Result<std::string> payload_from_json(EventType type, const nlohmann::json& payload) {
  switch (type) {
#define FIXHOST_X(name, id, kind) \
  case EventType::name:           \
    return parse_payload<name>(payload);
    FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
    case EventType::Reserved:
      break;
  }
  return make_error(Errc::invalid_argument, "type id " + std::to_string(static_cast<unsigned>(type)) +
                                                " is not an event type this fixhost knows");
}

std::uint16_t current_schema(EventType type) {
  switch (type) {
#define FIXHOST_X(name, id, kind) \
  case EventType::name:           \
    return name::k_schema;
    FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
    case EventType::Reserved:
      break;
  }
  return 0;
}

EventType event_type_from_name(std::string_view name) {
#define FIXHOST_X(n, id, kind) \
  if (name == #n) return EventType::n;
  FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
  return EventType::Reserved;
}

Result<nlohmann::json> payload_to_json(const Event& e) {
  switch (e.type) {
#define FIXHOST_X(name, id, kind) \
  case EventType::name:           \
    return render<name>(e);
    FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
    case EventType::Reserved:
      break;
  }
  return make_error(Errc::unsupported, "event " + std::to_string(e.seq) + " has type id " +
                                           std::to_string(static_cast<unsigned>(e.type)) +
                                           ", unknown to this fixhost; upgrade fixhost to read it");
}

std::string format_time_utc(std::int64_t ts_us) {
  std::time_t secs = static_cast<std::time_t>(ts_us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>((ts_us / 1000) % 1000));
  return buf;
}

nlohmann::json to_json(const Event& e) {
  nlohmann::json o = nlohmann::json::object();
  o["seq"] = e.seq;
  o["ts_us"] = e.ts_us;
  o["time"] = format_time_utc(e.ts_us);
  o["run_id"] = e.run_id;
  o["type"] = std::string(event_type_name(e.type));
  o["type_id"] = static_cast<unsigned>(e.type);
  o["schema"] = e.schema;
  o["source"] = e.source;
  o["causation"] = e.causation;
  auto p = payload_to_json(e);
  if (p) o["payload"] = std::move(p.value());
  else o["payload"] = nlohmann::json{{"error", p.status().to_string()}};
  return o;
}

std::string dump_json(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string to_json_line(const Event& e) { return dump_json(to_json(e)); }

}  // namespace fixhost::events
