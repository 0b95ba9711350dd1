// Wire formats into SentryIssueIngested: store JSON, envelopes, webhooks, the REST API.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "fixhost/host/heal/ingest.hpp"
#include "fixhost/host/world/http/body.hpp"

using namespace fixhost::host::heal;
using nlohmann::json;

namespace {
// What python3-sentry-sdk 1.9 sends for a captured exception (trimmed).
const char* k_store_event = R"json({
  "event_id": "9f2d2c1c0a5b4d2f8b8f6c3e1d2a7b10", "timestamp": "2026-12-02T06:00:00.000000Z",
  "level": "error", "platform": "python", "release": "shop@1.0.0", "environment": "production",
  "server_name": "web-1", "user": {"id": "user-7"},
  "sdk": {"name": "sentry.python", "version": "1.9.10"},
  "exception": {"values": [{"type": "ZeroDivisionError", "value": "division by zero", "module": null,
     "mechanism": {"type": "generic", "handled": true},
     "stacktrace": {"frames": [
       {"filename": "app.py", "abs_path": "/srv/app.py", "function": "<module>", "module": "__main__", "lineno": 33,
        "pre_context": [], "context_line": "    checkout(basket)", "post_context": [], "vars": {}, "in_app": true},
       {"filename": "shop/cart.py", "abs_path": "/srv/shop/cart.py", "function": "average_price", "module": "shop.cart",
        "lineno": 3, "context_line": "    return total / len(items)", "in_app": true}]}}]},
  "modules": {"sentry-sdk": "1.9.10"}, "extra": {"sys.argv": ["app.py"]}
})json";
IngestLimits limits() { return {}; }
}  // namespace

TEST_CASE("heal read_store: one SDK event is one SentryIssueIngested with the raw payload") {
  auto o = read_store("7", k_store_event, limits());
  REQUIRE(o.status == 200);
  REQUIRE(o.events.size() == 1);
  const auto& p = o.events[0];
  CHECK(p.via == "store");
  CHECK(p.project == "7");
  CHECK(p.event_id == "9f2d2c1c0a5b4d2f8b8f6c3e1d2a7b10");
  CHECK(o.event_id == p.event_id);
  CHECK(p.level == "error");
  CHECK(p.release == "shop@1.0.0");
  CHECK(p.environment == "production");
  CHECK(p.exception_type == "ZeroDivisionError");
  CHECK(p.title == "ZeroDivisionError: division by zero");
  CHECK(p.culprit == "shop.cart in average_price");
  CHECK(p.user == "user-7");
  REQUIRE(p.frames.size() == 2);
  CHECK(p.frames[1].file == "shop/cart.py");
  CHECK(p.frames[1].line == 3);
  CHECK(p.frames[1].in_app);
  CHECK(p.raw.data == k_store_event);
  CHECK(p.count == 1);
}

TEST_CASE("heal read_store: malformed and oversized bodies") {
  auto bad = read_store("7", "{not json", limits());
  CHECK(bad.status == 400);
  CHECK(bad.detail.find("not valid JSON") != std::string::npos);
  CHECK(read_store("7", "[1,2]", limits()).status == 400);
  IngestLimits small;
  small.max_event_bytes = 100;
  auto big = read_store("7", k_store_event, small);
  CHECK(big.status == 413);
  CHECK(big.detail.find("limit of 100 bytes per event") != std::string::npos);
  // A transaction is not an error: accepted, not recorded.
  auto tx = read_store("7", R"({"type":"transaction","event_id":"aa"})", limits());
  CHECK(tx.status == 200);
  CHECK(tx.events.empty());
  CHECK(tx.skipped == 1);
}

TEST_CASE("heal read_envelope: items with and without length, only event items are errors") {
  const std::string event = json::parse(k_store_event).dump();
  const std::string env = std::string(R"({"event_id":"9f2d2c1c0a5b4d2f8b8f6c3e1d2a7b10","dsn":"http://pub123@127.0.0.1:8765/7"})") + "\n" +
                          R"({"type":"session"})" + "\n" + R"({"sid":"x","status":"ok"})" + "\n" +
                          R"({"type":"event","length":)" + std::to_string(event.size()) + "}\n" + event + "\n" +
                          R"({"type":"future_kind","length":5})" + "\nab\ncd\n" +
                          R"({"type":"event"})" + "\n" + event + "\n";
  auto o = read_envelope("7", env, limits());
  REQUIRE(o.status == 200);
  CHECK(o.dsn_key == "pub123");
  CHECK(o.skipped == 2);
  REQUIRE(o.events.size() == 2);
  CHECK(o.events[0].via == "envelope");
  CHECK(o.events[0].exception_type == "ZeroDivisionError");
  CHECK(o.events[0].raw.data == event);

  CHECK(read_envelope("7", "", limits()).status == 400);
  auto short_item = read_envelope("7", "{}\n{\"type\":\"event\",\"length\":500}\n{}", limits());
  CHECK(short_item.status == 400);
  CHECK(short_item.detail.find("length 500") != std::string::npos);
  auto bad_event = read_envelope("7", "{}\n{\"type\":\"event\"}\n{oops\n", limits());
  CHECK(bad_event.status == 400);
  IngestLimits small;
  small.max_event_bytes = 50;
  CHECK(read_envelope("7", env, small).status == 413);
}

TEST_CASE("heal auth keys: X-Sentry-Auth, the query and the DSN") {
  CHECK(sentry_key_from_auth("Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentry.python/1.9.10") == "abc123");
  CHECK(sentry_key_from_auth("Sentry sentry_version=7,sentry_key=k2,sentry_client=x") == "k2");
  CHECK(sentry_key_from_auth("Bearer x").empty());
  CHECK(sentry_key_from_query("/api/7/store/?sentry_version=7&sentry_key=qk") == "qk");
  CHECK(sentry_key_from_query("/api/7/store/").empty());
  CHECK(key_from_dsn("http://pub@127.0.0.1:8765/7") == "pub");
  CHECK(key_from_dsn("https://pub:secret@o1.ingest.sentry.io/7") == "pub");
  CHECK(key_from_dsn("nonsense").empty());
}

TEST_CASE("heal read_webhook: issue, event_alert and error resources, others record nothing") {
  json issue = {{"action", "created"},
                {"data", {{"issue", {{"id", "4711"}, {"shortId", "SHOP-1"}, {"title", "ZeroDivisionError: division by zero"},
                                     {"culprit", "shop.cart in average_price"}, {"level", "error"}, {"count", "12"},
                                     {"userCount", 3}, {"firstSeen", "2026-12-01T10:00:00Z"},
                                     {"lastSeen", "2026-12-02T06:00:00Z"}, {"project", {{"slug", "shop"}}},
                                     {"metadata", {{"type", "ZeroDivisionError"}, {"value", "division by zero"}}}}}}}};
  auto o = read_webhook("issue", issue.dump(), "req-1", limits());
  REQUIRE(o.events.size() == 1);
  const auto& p = o.events[0];
  CHECK(p.via == "webhook");
  CHECK(p.issue_id == "4711");
  CHECK(p.short_id == "SHOP-1");
  CHECK(p.count == 12);
  CHECK(p.user_count == 3);
  CHECK(p.project == "shop");
  CHECK(p.exception_type == "ZeroDivisionError");
  CHECK(p.delivery_id == "req-1");

  json alert = {{"action", "triggered"}, {"data", {{"event", json::parse(k_store_event)}}}};
  alert["data"]["event"]["issue_id"] = "4711";
  auto a = read_webhook("event_alert", alert.dump(), "req-2", limits());
  REQUIRE(a.events.size() == 1);
  CHECK(a.events[0].issue_id == "4711");
  CHECK(a.events[0].frames.size() == 2);
  json err = {{"action", "created"}, {"data", {{"error", json::parse(k_store_event)}}}};
  CHECK(read_webhook("error", err.dump(), "req-3", limits()).events.size() == 1);

  auto install = read_webhook("installation", R"({"action":"created","data":{}})", "req-4", limits());
  CHECK(install.status == 200);
  CHECK(install.events.empty());
  CHECK(read_webhook("issue", R"({"data":{}})", "r", limits()).status == 400);
}

TEST_CASE("heal webhook checks: signature and timestamp") {
  const std::string body = R"({"action":"created"})";
  // hex HMAC-SHA256 of the body with the secret, as Sentry computes it.
  const std::string sig = "b35a2fcd7e0dbc7a8d1e5bd0b2ec1f5fbc8f6a2d0d7e9b48f6d13d8c2a1b9e13";
  CHECK(check_webhook_signature("", body, sig).find("SENTRY_CLIENT_SECRET") != std::string::npos);
  CHECK(check_webhook_signature("s3cret", body, "").find("missing") != std::string::npos);
  CHECK(check_webhook_signature("s3cret", body, sig).find("does not match") != std::string::npos);
  const std::string good = fixhost::host::http::hmac_sha256_hex("s3cret", body);
  CHECK(check_webhook_signature("s3cret", body, good).empty());
  CHECK(check_webhook_signature("other", body, good).find("does not match") != std::string::npos);
  CHECK(check_webhook_signature("s3cret", body + " ", good).find("does not match") != std::string::npos);
  CHECK(check_webhook_timestamp("1000", 1000.0 + 299, 300).empty());
  CHECK(check_webhook_timestamp("1000", 1000.0 + 301, 300).find("stale") != std::string::npos);
  CHECK(check_webhook_timestamp("", 1000, 300).find("missing") != std::string::npos);
  CHECK(check_webhook_timestamp("soon", 1000, 300).find("not a number") != std::string::npos);
}

TEST_CASE("heal read_api_issue: the issue's figures with the latest event's frames (camelCase)") {
  json issue = {{"id", "4711"}, {"shortId", "SHOP-1"}, {"title", "ZeroDivisionError: division by zero"},
                {"culprit", "shop.cart in average_price"}, {"level", "error"}, {"count", "40"}, {"userCount", 9},
                {"firstSeen", "2026-12-01T10:00:00Z"}, {"lastSeen", "2026-12-02T06:00:00Z"}, {"project", {{"slug", "shop"}}}};
  json latest = {{"eventID", "aa11"}, {"groupID", "4711"},
                 {"tags", json::array({{{"key", "release"}, {"value", "shop@1.0.1"}}, {{"key", "environment"}, {"value", "production"}}})},
                 {"entries", json::array({{{"type", "exception"},
                                           {"data", {{"values", json::array({{{"type", "ZeroDivisionError"}, {"value", "division by zero"},
                                                                              {"stacktrace", {{"frames", json::array({{{"filename", "shop/cart.py"},
                                                                                                                      {"absPath", "/srv/shop/cart.py"},
                                                                                                                      {"function", "average_price"},
                                                                                                                      {"module", "shop.cart"},
                                                                                                                      {"lineNo", 7},
                                                                                                                      {"inApp", true}}})}}}}})}}}}})}};
  auto o = read_api_issue(issue.dump(), latest.dump());
  REQUIRE(o.status == 200);
  REQUIRE(o.events.size() == 1);
  const auto& p = o.events[0];
  CHECK(p.via == "api");
  CHECK(p.issue_id == "4711");
  CHECK(p.count == 40);
  CHECK(p.user_count == 9);
  CHECK(p.event_id == "aa11");
  CHECK(p.release == "shop@1.0.1");
  REQUIRE(p.frames.size() == 1);
  CHECK(p.frames[0].line == 7);
  CHECK(p.raw.data == latest.dump());
}

TEST_CASE("heal read_envelope: an event item with no payload is a 400, not undefined behaviour (fuzz_sentry_ingest)") {
  // fuzz/corpus/sentry_ingest/crash-issue10-empty-event.bin: the last item has no payload line, so
  // simdjson was handed a null pointer with length 0 (UBSan: memcpy's nonnull argument).
  auto o = read_envelope("7", "{\"event_id\":\"9\"}\n{\"type\":\"session\"}\n{}\n{\"type\":\"event\",\":515th\":515}", limits());
  CHECK(o.status == 400);
  CHECK(o.detail.find("is empty") != std::string::npos);
  CHECK(read_envelope("7", "{}\n{\"type\":\"event\",\"length\":0}\n\n", limits()).status == 400);
  CHECK(read_store("7", "", limits()).status == 400);
}
