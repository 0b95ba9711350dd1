#pragma once
// What Sentry's SDKs and integrations send, turned into SentryIssueIngested facts: the event
// JSON of `POST /api/<project>/store/`, the envelope of `/envelope/`, the integration webhooks of
// `/webhooks/sentry`, and the REST API's issue + latest event. Pure functions of their input
// (no clock, no I/O); thread-safe. The raw bytes are kept in each payload so triage replays.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"

namespace fixhost::host::heal {

struct IngestLimits {
  // Largest event, and largest request body (both after decompression). Default: 1 MiB, 20 MiB
  std::uint64_t max_event_bytes = 1u << 20;
  std::uint64_t max_request_bytes = 20u << 20;
};

struct IngestOutcome {
  int status = 200;    // the HTTP answer: 200, 400 (malformed), 413 (too large)
  std::string detail;  // why, for a JSON {"detail": ...} answer
  std::vector<events::SentryIssueIngested> events;  // facts to record
  std::string dsn_key;    // envelope: the public key of the header's dsn ("" if none)
  std::string event_id;   // the id answered to the SDK ({"id": ...})
  std::uint32_t skipped = 0;  // envelope items that are not error events (transactions, sessions, unknown)
};

// The sentry_key of an `X-Sentry-Auth: Sentry sentry_key=KEY, sentry_version=7, ...` header
// (also accepted in `Authorization`), "" when there is none.
std::string sentry_key_from_auth(std::string_view header);
// The sentry_key query parameter of a request target ("/api/7/store/?sentry_key=KEY&...").
std::string sentry_key_from_query(std::string_view target);
// The public key of a DSN ("http://KEY@host/7" or "http://KEY:SECRET@host/7").
std::string key_from_dsn(std::string_view dsn);

// POST /api/<project>/store/: one event JSON (body already decoded).
IngestOutcome read_store(std::string_view project, std::string_view body, const IngestLimits& limits);
// POST /api/<project>/envelope/: a header line, then items (a header line with optional
// `length`, then the payload). Only `event` items are errors; others are skipped and counted.
IngestOutcome read_envelope(std::string_view project, std::string_view body, const IngestLimits& limits);
// POST /webhooks/sentry, signature and timestamp already checked: Sentry-Hook-Resource `issue`
// (data.issue), `event_alert` (data.event) or `error` (data.error); other resources give no
// event and status 200. `request_id` is recorded as delivery_id.
IngestOutcome read_webhook(std::string_view resource, std::string_view body, std::string_view request_id,
                           const IngestLimits& limits);
// The REST API's issue object and its latest event (either may be "" when not fetched).
IngestOutcome read_api_issue(std::string_view issue_json, std::string_view latest_event_json);

// Webhook checks. The signature is the hex HMAC-SHA256 of the raw body with the client secret;
// the timestamp (seconds since the epoch) must be within `tolerance_s` of `now_s`.
// Returns "" when fine, else why not (for the 401 answer).
std::string check_webhook_signature(std::string_view secret, std::string_view body, std::string_view signature);
std::string check_webhook_timestamp(std::string_view timestamp, double now_s, double tolerance_s);

}  // namespace fixhost::host::heal
