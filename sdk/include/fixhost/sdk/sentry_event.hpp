#pragma once
// One Sentry error event read out of the JSON shapes it arrives in: the SDKs' event JSON (the
// body of /store/, an envelope's `event` item, a webhook's data.event / data.error) and the REST
// API's camelCase event (`entries`, `lineNo`, `inApp`, `context` pairs), plus the REST/webhook
// issue object. For the host (the payload fields of SentryIssueIngested) and the sentry_triage
// plugin (grouping, severity). Header-only; link simdjson (simdjson::simdjson).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

namespace fixhost::sdk {

struct SentryFrame {
  std::string filename;
  std::string abs_path;
  std::string module;
  std::string function;
  std::int64_t lineno = 0;
  std::string context_line;
  bool in_app = false;
};

struct SentryEvent {
  std::string event_id;
  std::string timestamp;  // as sent (ISO 8601, or seconds since the epoch as a number's text)
  std::string level;      // fatal | error | warning | info | debug ("error" when absent)
  std::string platform;
  std::string logger;
  std::string release;
  std::string environment;
  std::string transaction;
  std::string culprit;
  std::string message;          // logentry/message text (message events)
  std::string exception_type;   // the innermost (last) exception value's type
  std::string exception_value;
  std::string exception_module;
  int handled = -1;             // mechanism.handled: 1, 0, or -1 when not said
  std::string mechanism;
  std::vector<SentryFrame> frames;  // innermost last
  std::vector<std::string> fingerprint;
  std::string user;  // id, else email, else username, else ip_address
  std::vector<std::pair<std::string, std::string>> tags;
  std::string request_url;
  std::string request_method;
  std::string http_status;  // contexts.response.status_code or the http.status_code tag
  std::string server_name;
  // Issue-level fields (REST issues, webhook issues, events that carry them).
  std::string issue_id;
  std::string short_id;
  std::string title;
  std::string project;
  std::uint64_t count = 0;
  std::uint64_t user_count = 0;
  std::string first_seen;
  std::string last_seen;
};

namespace sentry_detail {

using simdjson::dom::element;
using simdjson::dom::element_type;

inline std::string text(element j) {
  switch (j.type()) {
    case element_type::STRING: return std::string(std::string_view(j.get_string().value_unsafe()));
    case element_type::INT64: return std::to_string(int64_t(j.get_int64().value_unsafe()));
    case element_type::UINT64: return std::to_string(uint64_t(j.get_uint64().value_unsafe()));
    case element_type::DOUBLE: {
      double d = j.get_double().value_unsafe();
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.6f", d);
      return buf;
    }
    case element_type::BOOL: return j.get_bool().value_unsafe() ? "true" : "false";
    default: return {};
  }
}

// Copies out of the simdjson_result (a range-for over a temporary result's value would dangle).
inline simdjson::dom::array array_of(element e) {
  simdjson::dom::array a = e.get_array().value_unsafe();
  return a;
}
inline simdjson::dom::object object_of(element e) {
  simdjson::dom::object o = e.get_object().value_unsafe();
  return o;
}

// The member `key` of an object, nullopt when j is not an object, has no such key, or it is null.
inline std::optional<element> child(element j, std::string_view key) {
  if (j.type() != element_type::OBJECT) return std::nullopt;
  simdjson::dom::object obj = object_of(j);
  auto r = obj[key];
  if (r.error()) return std::nullopt;
  element e = r.value_unsafe();
  if (e.type() == element_type::NULL_VALUE) return std::nullopt;
  return e;
}

inline std::string str(element obj, std::string_view key) {
  auto c = child(obj, key);
  return c ? text(*c) : std::string();
}

inline bool is_array(element e) { return e.type() == element_type::ARRAY; }


inline std::uint64_t count_of(element obj, std::string_view key) {
  auto c = child(obj, key);
  if (!c) return 0;
  if (c->type() == element_type::UINT64) return c->get_uint64().value_unsafe();
  if (c->type() == element_type::INT64) {
    std::int64_t v = c->get_int64().value_unsafe();
    return v < 0 ? 0 : static_cast<std::uint64_t>(v);
  }
  if (c->type() == element_type::STRING) {  // the REST API sends "count": "12"
    std::uint64_t v = 0;
    for (char ch : std::string_view(c->get_string().value_unsafe())) {
      if (ch < '0' || ch > '9') return 0;
      v = v * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return v;
  }
  return 0;
}

inline bool is_library_path(std::string_view p) {
  for (std::string_view marker : {"site-packages", "dist-packages", "node_modules", "/usr/lib/python", "<frozen"})
    if (p.find(marker) != std::string_view::npos) return true;
  return false;
}

// One pass over the frame's members (a lookup per key would scan the object each time).
inline SentryFrame frame_from(element f) {
  SentryFrame out;
  if (f.type() != element_type::OBJECT) return out;
  std::optional<element> ctx, in_app;
  std::string abs_camel, line;
  for (auto field : object_of(f)) {
    const std::string_view k = field.key;
    if (field.value.type() == element_type::NULL_VALUE) continue;
    if (k == "filename") out.filename = text(field.value);
    else if (k == "abs_path") out.abs_path = text(field.value);
    else if (k == "absPath") abs_camel = text(field.value);
    else if (k == "module") out.module = text(field.value);
    else if (k == "function") out.function = text(field.value);
    else if (k == "lineno" || k == "lineNo") line = text(field.value);
    else if (k == "context_line") out.context_line = text(field.value);
    else if (k == "context") ctx = field.value;
    else if (k == "in_app" || k == "inApp") in_app = field.value;
  }
  if (out.abs_path.empty()) out.abs_path = std::move(abs_camel);
  out.lineno = line.empty() ? 0 : std::strtoll(line.c_str(), nullptr, 10);
  if (ctx && out.context_line.empty() && is_array(*ctx)) {
    // REST: [[lineno, "code"], ...]; the pair at lineNo is the context line.
    for (element pair : array_of(*ctx)) {
      if (!is_array(pair)) continue;
      simdjson::dom::array arr = array_of(pair);
      if (arr.size() != 2) continue;
      auto n = arr.at(0).value_unsafe();
      if ((n.type() == element_type::INT64 || n.type() == element_type::UINT64) && text(n) == line)
        out.context_line = text(arr.at(1).value_unsafe());
    }
  }
  if (in_app && in_app->type() == element_type::BOOL) out.in_app = in_app->get_bool().value_unsafe();
  else out.in_app = !is_library_path(out.abs_path.empty() ? out.filename : out.abs_path);
  return out;
}

inline void read_frames(element frames, SentryEvent& ev) {
  if (!is_array(frames)) return;
  simdjson::dom::array a = array_of(frames);
  ev.frames.reserve(ev.frames.size() + a.size());
  for (element f : a) ev.frames.push_back(frame_from(f));
}

inline void read_exception_values(element values, SentryEvent& ev) {
  if (!is_array(values)) return;
  // The last value, and the last one with a non-empty stack trace, in one pass.
  std::optional<element> last, with_frames;
  for (element v : array_of(values)) {
    last = v;
    auto st = child(v, "stacktrace");
    auto frames = st ? child(*st, "frames") : std::nullopt;
    if (frames && is_array(*frames) && array_of(*frames).size() > 0) with_frames = frames;
  }
  if (!last) return;
  const element& exc = *last;  // Sentry orders chained exceptions oldest first
  ev.exception_type = str(exc, "type");
  ev.exception_value = str(exc, "value");
  ev.exception_module = str(exc, "module");
  if (auto mech = child(exc, "mechanism")) {
    ev.mechanism = str(*mech, "type");
    if (auto h = child(*mech, "handled"); h && h->type() == element_type::BOOL) ev.handled = h->get_bool().value_unsafe() ? 1 : 0;
  }
  // Frames of the innermost exception that has a stack trace.
  if (with_frames) read_frames(*with_frames, ev);
}

inline void read_tags(element tags, SentryEvent& ev) {
  if (tags.type() == element_type::OBJECT) {
    for (auto field : object_of(tags)) ev.tags.emplace_back(std::string(field.key), text(field.value));
  } else if (is_array(tags)) {
    for (element t : array_of(tags)) {
      if (is_array(t)) {
        simdjson::dom::array arr = array_of(t);
        if (arr.size() == 2) ev.tags.emplace_back(text(arr.at(0).value_unsafe()), text(arr.at(1).value_unsafe()));
      } else if (t.type() == element_type::OBJECT) {
        ev.tags.emplace_back(str(t, "key"), str(t, "value"));
      }
    }
  }
}

inline std::string tag(const SentryEvent& ev, std::string_view key) {
  for (const auto& [k, v] : ev.tags)
    if (k == key) return v;
  return {};
}

}  // namespace sentry_detail

// Reads an event (SDK or REST shape) or an issue object; fields it does not carry stay empty.
// Never throws; a non-object gives an empty event.
inline SentryEvent read_sentry_event(simdjson::dom::element j) {
  using namespace sentry_detail;
  SentryEvent ev;
  if (j.type() != element_type::OBJECT) return ev;
  // One pass over the members; the nested ones are read below.
  std::optional<element> logentry, message, exception, stacktrace, entries, metadata, fingerprint, user, tags, request,
      contexts, release, project;
  std::string event_id_camel, date_created, group_id;
  for (auto field : object_of(j)) {
    const std::string_view k = field.key;
    const element v = field.value;
    if (v.type() == element_type::NULL_VALUE) continue;
    switch (k.empty() ? 0 : k[0]) {
      case 'c':
        if (k == "culprit") ev.culprit = text(v);
        else if (k == "count") ev.count = count_of(j, "count");
        else if (k == "contexts") contexts = v;
        break;
      case 'd':
        if (k == "dateCreated") date_created = text(v);
        break;
      case 'e':
        if (k == "event_id") ev.event_id = text(v);
        else if (k == "eventID") event_id_camel = text(v);
        else if (k == "environment") ev.environment = text(v);
        else if (k == "exception") exception = v;
        else if (k == "entries") entries = v;
        break;
      case 'f':
        if (k == "fingerprint") fingerprint = v;
        else if (k == "firstSeen") ev.first_seen = text(v);
        break;
      case 'g':
        if (k == "groupID") group_id = text(v);
        break;
      case 'i':
        if (k == "issue_id") ev.issue_id = text(v);
        break;
      case 'l':
        if (k == "level") ev.level = text(v);
        else if (k == "logger") ev.logger = text(v);
        else if (k == "logentry") logentry = v;
        else if (k == "lastSeen") ev.last_seen = text(v);
        break;
      case 'm':
        if (k == "message") message = v;
        else if (k == "metadata") metadata = v;
        break;
      case 'p':
        if (k == "platform") ev.platform = text(v);
        else if (k == "project") project = v;
        break;
      case 'r':
        if (k == "release") release = v;
        else if (k == "request") request = v;
        break;
      case 's':
        if (k == "server_name") ev.server_name = text(v);
        else if (k == "stacktrace") stacktrace = v;
        else if (k == "shortId") ev.short_id = text(v);
        break;
      case 't':
        if (k == "timestamp") ev.timestamp = text(v);
        else if (k == "transaction") ev.transaction = text(v);
        else if (k == "title") ev.title = text(v);
        else if (k == "tags") tags = v;
        break;
      case 'u':
        if (k == "user") user = v;
        else if (k == "userCount") ev.user_count = count_of(j, "userCount");
        break;
      default:
        break;
    }
  }
  if (ev.event_id.empty()) ev.event_id = std::move(event_id_camel);
  if (ev.timestamp.empty()) ev.timestamp = std::move(date_created);
  if (ev.issue_id.empty()) ev.issue_id = std::move(group_id);
  if (release) ev.release = release->type() == element_type::OBJECT ? str(*release, "version") : text(*release);
  if (project) ev.project = project->type() == element_type::OBJECT ? str(*project, "slug") : text(*project);

  if (logentry) {
    ev.message = str(*logentry, "formatted");
    if (ev.message.empty()) ev.message = str(*logentry, "message");
  }
  if (auto m = message; ev.message.empty() && m) {
    if (m->type() == element_type::OBJECT) {
      ev.message = str(*m, "formatted");
      if (ev.message.empty()) ev.message = str(*m, "message");
    } else {
      ev.message = text(*m);
    }
  }
  if (auto exc = exception) {
    if (is_array(*exc)) read_exception_values(*exc, ev);
    else if (auto values = child(*exc, "values")) read_exception_values(*values, ev);
  }
  if (ev.frames.empty())
    if (auto st = stacktrace)
      if (auto frames = child(*st, "frames")) read_frames(*frames, ev);
  // REST event: entries[] of {type, data}.
  if (entries && is_array(*entries)) {
    for (element e : array_of(*entries)) {
      const std::string type = str(e, "type");
      auto data = child(e, "data");
      if (!data) continue;
      if (type == "exception" && ev.exception_type.empty()) {
        if (auto values = child(*data, "values")) read_exception_values(*values, ev);
      } else if (type == "message" && ev.message.empty()) {
        ev.message = str(*data, "formatted");
        if (ev.message.empty()) ev.message = str(*data, "message");
      } else if (type == "request") {
        ev.request_url = str(*data, "url");
        ev.request_method = str(*data, "method");
      } else if (type == "stacktrace" && ev.frames.empty()) {
        if (auto frames = child(*data, "frames")) read_frames(*frames, ev);
      }
    }
  }
  // Issue objects carry the exception in metadata.
  if (auto md = metadata; md && ev.exception_type.empty()) {
    ev.exception_type = str(*md, "type");
    ev.exception_value = str(*md, "value");
  }
  if (auto fp = fingerprint; fp && is_array(*fp))
    for (element f : array_of(*fp)) ev.fingerprint.push_back(text(f));
  if (auto u = user; u && u->type() == element_type::OBJECT) {
    for (std::string_view k : {"id", "email", "username", "ip_address"})
      if (ev.user.empty()) ev.user = str(*u, k);
  }
  if (tags) read_tags(*tags, ev);
  if (auto req = request; req && req->type() == element_type::OBJECT) {
    if (ev.request_url.empty()) ev.request_url = str(*req, "url");
    if (ev.request_method.empty()) ev.request_method = str(*req, "method");
  }
  if (auto ctx = contexts)
    if (auto resp = child(*ctx, "response")) ev.http_status = str(*resp, "status_code");
  if (ev.http_status.empty()) ev.http_status = tag(ev, "http.status_code");
  if (ev.level.empty()) ev.level = tag(ev, "level");
  if (ev.environment.empty()) ev.environment = tag(ev, "environment");
  if (ev.release.empty()) ev.release = tag(ev, "sentry:release");
  if (ev.release.empty()) ev.release = tag(ev, "release");
  if (ev.level.empty()) ev.level = "error";
  if (ev.title.empty()) {
    if (!ev.exception_type.empty()) ev.title = ev.exception_type + (ev.exception_value.empty() ? "" : ": " + ev.exception_value);
    else ev.title = ev.message;
  }
  if (ev.culprit.empty()) {
    for (auto it = ev.frames.rbegin(); it != ev.frames.rend(); ++it)
      if (it->in_app) {
        ev.culprit = (it->module.empty() ? it->filename : it->module) + (it->function.empty() ? "" : " in " + it->function);
        break;
      }
    if (ev.culprit.empty()) ev.culprit = ev.transaction;
  }
  return ev;
}

// Parses `text` as JSON with `parser` (reused across calls; not thread-safe) and reads it;
// nullopt when it is not a JSON object.
inline std::optional<SentryEvent> parse_sentry_event(simdjson::dom::parser& parser, std::string_view text) {
  if (text.empty()) return std::nullopt;
  auto r = parser.parse(text.data(), text.size(), true);
  if (r.error()) return std::nullopt;
  simdjson::dom::element root = r.value_unsafe();
  if (root.type() != simdjson::dom::element_type::OBJECT) return std::nullopt;
  return read_sentry_event(root);
}

}  // namespace fixhost::sdk
