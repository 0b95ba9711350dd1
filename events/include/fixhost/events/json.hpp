#pragma once
// JSON export of events: the envelope's fields plus `payload` as an object with the payload's
// field names (strings that are not valid UTF-8 have bad bytes replaced by U+FFFD).
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "fixhost/events/event.hpp"
#include "fixhost/result.hpp"

namespace fixhost::events {

// The payload alone as a JSON object; an error if it does not decode.
Result<nlohmann::json> payload_to_json(const Event& e);
// {"seq":..,"ts_us":..,"time":"2026-11-25T10:00:00.123Z","run_id":..,"type":"FailureDetected",
//  "type_id":6,"schema":2,"source":..,"causation":..,"payload":{...}}
// A payload that does not decode renders as {"error": "..."} instead.
nlohmann::json to_json(const Event& e);
// One line of JSON Lines (no trailing newline).
std::string to_json_line(const Event& e);
// The reverse of payload_to_json for a payload of `type` at its current schema: fields by name,
// a missing field keeps its default, an unknown field or a wrong JSON type is an InvalidArgument
// naming the field (external plugins emit events this way, docs/PLUGINS.md).
Result<std::string> payload_from_json(EventType type, const nlohmann::json& payload);
// The schema version this fixhost writes `type` with (its payload's k_schema); 0 for none.
std::uint16_t current_schema(EventType type);
// The type whose name (event_type_name) is `name`; Reserved when none is.
EventType event_type_from_name(std::string_view name);
// Dumps any json with invalid UTF-8 replaced rather than throwing.
std::string dump_json(const nlohmann::json& j, int indent = -1);
std::string format_time_utc(std::int64_t ts_us);

}  // namespace fixhost::events
