#include "fixhost/host/heal/ingest.hpp"

#include <simdjson.h>

#include <cctype>
#include <cstdlib>

#include "fixhost/host/world/http/body.hpp"
#include "fixhost/sdk/sentry_event.hpp"

namespace fixhost::host::heal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

IngestOutcome error(int status, std::string detail) {
  IngestOutcome o;
  o.status = status;
  o.detail = std::move(detail);
  return o;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

events::SentryIssueIngested from_event(const sdk::SentryEvent& ev, std::string_view raw, std::string via,
                                       std::string_view project) {
  events::SentryIssueIngested p;
  p.via = std::move(via);
  p.project = ev.project.empty() ? std::string(project) : ev.project;
  p.issue_id = ev.issue_id;
  p.short_id = ev.short_id;
  p.event_id = ev.event_id;
  p.title = ev.title;
  p.culprit = ev.culprit;
  p.level = ev.level;
  p.platform = ev.platform;
  p.count = ev.count == 0 ? 1 : ev.count;
  p.user_count = ev.user_count != 0 ? ev.user_count : (ev.user.empty() ? 0 : 1);
  p.first_seen = ev.first_seen.empty() ? ev.timestamp : ev.first_seen;
  p.last_seen = ev.last_seen.empty() ? ev.timestamp : ev.last_seen;
  for (std::size_t i = 0; i < ev.fingerprint.size(); ++i) p.fingerprint += (i ? "\n" : "") + ev.fingerprint[i];
  for (const auto& f : ev.frames) {
    events::Frame fr;
    fr.file = f.filename.empty() ? f.abs_path : f.filename;
    fr.line = f.lineno;
    fr.function = f.function;
    fr.in_app = f.in_app;
    p.frames.push_back(std::move(fr));
  }
  p.release = ev.release;
  p.environment = ev.environment;
  p.exception_type = ev.exception_type;
  p.exception_value = ev.exception_value;
  p.user = ev.user;
  p.raw.data.assign(raw);
  p.raw.total_bytes = raw.size();
  return p;
}

// Parses `json` as an object; on failure fills `why`.
bool parse_object(std::string_view json, element& out, std::string& why, std::string_view what) {
  if (json.empty()) {  // also keeps a null data() away from simdjson's memcpy (found by fuzz_sentry_ingest)
    why = std::string(what) + " is empty";
    return false;
  }
  auto r = thread_parser().parse(json.data(), json.size(), true);
  if (r.error()) {
    why = std::string(what) + " is not valid JSON (" + simdjson::error_message(r.error()) + ")";
    return false;
  }
  out = r.value_unsafe();
  if (out.type() != element_type::OBJECT) {
    why = std::string(what) + " must be a JSON object";
    return false;
  }
  return true;
}

}  // namespace

std::string sentry_key_from_auth(std::string_view header) {
  std::string_view h = header;
  auto pos = h.find("sentry_key=");
  if (pos == std::string_view::npos) return {};
  h.remove_prefix(pos + 11);
  auto end = h.find_first_of(", ");
  return trim(h.substr(0, end));
}

std::string sentry_key_from_query(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    if (kv.substr(0, 11) == "sentry_key=") return std::string(kv.substr(11));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::string key_from_dsn(std::string_view dsn) {
  auto scheme = dsn.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = dsn.substr(scheme + 3);
  auto at = rest.find('@');
  if (at == std::string_view::npos) return {};
  std::string_view user = rest.substr(0, at);
  return std::string(user.substr(0, user.find(':')));
}

IngestOutcome read_store(std::string_view project, std::string_view body, const IngestLimits& limits) {
  if (body.size() > limits.max_event_bytes)
    return error(413, "event of " + std::to_string(body.size()) + " bytes is over the limit of " +
                          std::to_string(limits.max_event_bytes) + " bytes per event");
  element root;
  std::string why;
  if (!parse_object(body, root, why, "the store body")) return error(400, why + "; send one Sentry event as JSON");
  IngestOutcome o;
  sdk::SentryEvent ev = sdk::read_sentry_event(root);
  if (sdk::sentry_detail::str(root, "type") == "transaction") {
    o.skipped = 1;  // performance data, not an error
  } else {
    o.events.push_back(from_event(ev, body, "store", project));
  }
  o.event_id = ev.event_id;
  return o;
}

IngestOutcome read_envelope(std::string_view project, std::string_view body, const IngestLimits& limits) {
  if (body.size() > limits.max_request_bytes)
    return error(413, "envelope of " + std::to_string(body.size()) + " bytes is over the limit of " +
                          std::to_string(limits.max_request_bytes) + " bytes per request");
  IngestOutcome o;
  std::size_t pos = 0;
  auto next_line = [&](std::string_view& line) {
    if (pos >= body.size()) return false;
    auto nl = body.find('\n', pos);
    line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? body.size() : nl + 1;
    return true;
  };
  std::string_view header_line;
  if (!next_line(header_line) || trim(header_line).empty())
    return error(400, "the envelope has no header line; the first line must be a JSON object such as {\"event_id\":\"...\"}");
  element header;
  std::string why;
  if (!parse_object(header_line, header, why, "the envelope header")) return error(400, why);
  o.event_id = sdk::sentry_detail::str(header, "event_id");
  o.dsn_key = key_from_dsn(sdk::sentry_detail::str(header, "dsn"));
  int item_no = 0;
  while (pos < body.size()) {
    std::string_view item_line;
    if (!next_line(item_line)) break;
    if (trim(item_line).empty()) continue;  // a trailing newline
    ++item_no;
    element item;
    if (!parse_object(item_line, item, why, "envelope item " + std::to_string(item_no) + "'s header"))
      return error(400, why);
    const std::string type = sdk::sentry_detail::str(item, "type");
    const std::string length_text = sdk::sentry_detail::str(item, "length");
    std::string_view payload;
    if (!length_text.empty()) {
      char* end = nullptr;
      unsigned long long len = std::strtoull(length_text.c_str(), &end, 10);
      if (!end || *end || len > body.size() - pos)
        return error(400, "envelope item " + std::to_string(item_no) + " says length " + length_text + " but only " +
                              std::to_string(body.size() - pos) + " bytes follow");
      payload = body.substr(pos, len);
      pos += len;
      if (pos < body.size() && body[pos] == '\n') ++pos;
    } else {
      next_line(payload);
    }
    if (type != "event") {
      ++o.skipped;  // transaction, session, attachment, client_report, unknown: not errors
      continue;
    }
    if (payload.size() > limits.max_event_bytes)
      return error(413, "envelope item " + std::to_string(item_no) + " (event) of " + std::to_string(payload.size()) +
                            " bytes is over the limit of " + std::to_string(limits.max_event_bytes) + " bytes per event");
    element ev_json;
    if (!parse_object(payload, ev_json, why, "envelope item " + std::to_string(item_no) + " (event)"))
      return error(400, why);
    sdk::SentryEvent ev = sdk::read_sentry_event(ev_json);
    if (ev.event_id.empty()) ev.event_id = o.event_id;
    o.events.push_back(from_event(ev, payload, "envelope", project));
    if (o.event_id.empty()) o.event_id = ev.event_id;
  }
  return o;
}

IngestOutcome read_webhook(std::string_view resource, std::string_view body, std::string_view request_id,
                           const IngestLimits& limits) {
  if (body.size() > limits.max_request_bytes)
    return error(413, "webhook body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                          std::to_string(limits.max_request_bytes) + " bytes");
  element root;
  std::string why;
  if (!parse_object(body, root, why, "the webhook body")) return error(400, why);
  IngestOutcome o;
  std::string_view inner_key = resource == "issue" ? "issue" : resource == "event_alert" ? "event" : resource == "error" ? "error" : "";
  if (inner_key.empty()) return o;  // installation, metric_alert, comment, ...: nothing to record
  auto data = sdk::sentry_detail::child(root, "data");
  auto inner = data ? sdk::sentry_detail::child(*data, inner_key) : std::nullopt;
  if (!inner || inner->type() != element_type::OBJECT)
    return error(400, "a '" + std::string(resource) + "' webhook must carry data." + std::string(inner_key) +
                          " as an object; this one has none");
  sdk::SentryEvent ev = sdk::read_sentry_event(*inner);
  if (resource == "issue") ev.issue_id = sdk::sentry_detail::str(*inner, "id");
  auto p = from_event(ev, body, "webhook", "");
  p.delivery_id = std::string(request_id);
  o.event_id = ev.event_id;
  o.events.push_back(std::move(p));
  return o;
}

IngestOutcome read_api_issue(std::string_view issue_json, std::string_view latest_event_json) {
  element issue;
  std::string why;
  if (!parse_object(issue_json, issue, why, "the issue")) return error(400, why);
  sdk::SentryEvent from_issue = sdk::read_sentry_event(issue);
  from_issue.issue_id = sdk::sentry_detail::str(issue, "id");
  sdk::SentryEvent ev = from_issue;
  std::string_view raw = issue_json;
  if (!latest_event_json.empty()) {
    // Parse the event after the issue is read: the thread's parser is reused.
    element event;
    if (!parse_object(latest_event_json, event, why, "the latest event")) return error(400, why);
    ev = sdk::read_sentry_event(event);
    raw = latest_event_json;
  }
  IngestOutcome o;
  auto p = from_event(ev, raw, "api", from_issue.project);
  // The issue's figures are Sentry's, not the one event's.
  p.issue_id = from_issue.issue_id;
  p.short_id = from_issue.short_id;
  p.title = from_issue.title.empty() ? p.title : from_issue.title;
  p.culprit = from_issue.culprit.empty() ? p.culprit : from_issue.culprit;
  if (!from_issue.level.empty()) p.level = from_issue.level;
  p.count = from_issue.count;
  p.user_count = from_issue.user_count;
  p.first_seen = from_issue.first_seen;
  p.last_seen = from_issue.last_seen;
  o.event_id = p.event_id;
  o.events.push_back(std::move(p));
  return o;
}

std::string check_webhook_signature(std::string_view secret, std::string_view body, std::string_view signature) {
  if (secret.empty()) return "webhooks are refused: SENTRY_CLIENT_SECRET is not set in hostctl serve's environment";
  if (signature.empty()) return "missing Sentry-Hook-Signature header";
  const std::string expected = http::hmac_sha256_hex(secret, body);
  std::string given;
  for (char c : signature) given.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (!http::constant_time_equal(expected, given))
    return "Sentry-Hook-Signature does not match the body signed with SENTRY_CLIENT_SECRET";
  return {};
}

std::string check_webhook_timestamp(std::string_view timestamp, double now_s, double tolerance_s) {
  if (timestamp.empty()) return "missing Sentry-Hook-Timestamp header";
  std::string t(timestamp);
  char* end = nullptr;
  double ts = std::strtod(t.c_str(), &end);
  if (!end || *end || t.empty()) return "Sentry-Hook-Timestamp '" + t + "' is not a number of seconds";
  if (ts < now_s - tolerance_s || ts > now_s + tolerance_s)
    return "Sentry-Hook-Timestamp " + t + " is more than " + std::to_string(static_cast<long long>(tolerance_s)) +
           " s from now (stale or replayed delivery); [heal] webhook_tolerance sets the window";
  return {};
}

}  // namespace fixhost::host::heal
