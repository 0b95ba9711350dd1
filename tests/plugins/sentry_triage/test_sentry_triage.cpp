// sentry_triage, loaded from its built .so as the host loads it: grouping (Sentry's app variant),
// severity rules as data and their overrides, exclusions and decisions.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../classifier/plugin_harness.hpp"
#include "fixhost/events/codec.hpp"

namespace ev = fixhost::events;
using fixhost::testing::feed;
using fixhost::testing::LoadedPlugin;
using nlohmann::json;

namespace {

json frame(const std::string& file, const std::string& module, const std::string& fn, int line, const std::string& ctx,
           bool in_app = true) {
  return {{"filename", file}, {"abs_path", "/srv/app/" + file}, {"module", module}, {"function", fn},
          {"lineno", line},   {"context_line", ctx},             {"in_app", in_app}};
}

// An SDK event JSON as python3-sentry-sdk sends it to /store/.
json sdk_event(const std::string& type, const std::string& value, const json& frames, const std::string& level = "error") {
  return {{"event_id", "0123456789abcdef0123456789abcdef"},
          {"level", level},
          {"platform", "python"},
          {"release", "shop@1.0.0"},
          {"environment", "production"},
          {"user", {{"id", "u1"}}},
          {"exception", {{"values", json::array({{{"type", type}, {"value", value}, {"module", nullptr},
                                                  {"mechanism", {{"type", "generic"}, {"handled", true}}},
                                                  {"stacktrace", {{"frames", frames}}}}})}}}};
}

ev::SentryIssueIngested ingested(const json& raw, const std::string& via = "store") {
  ev::SentryIssueIngested p;
  p.via = via;
  p.raw.data = raw.dump();
  p.raw.total_bytes = p.raw.data.size();
  return p;
}

ev::IssueTriaged triage(const LoadedPlugin& plugin, const json& raw) {
  auto out = feed<ev::IssueTriaged>(plugin, ingested(raw));
  REQUIRE(out.size() == 1);
  return out[0];
}

json cart_trace(int shift) {
  return json::array({frame("app.py", "__main__", "checkout", 30 + shift, "return cart.average_price(items)"),
                      frame("shop/cart.py", "shop.cart", "average_price", 3 + shift, "return total / len(items)")});
}

}  // namespace

TEST_CASE("sentry_triage: grouping follows the in-app frames, not their line numbers") {
  LoadedPlugin plugin("sentry_triage");
  REQUIRE(plugin->configure("").is_ok());
  auto a = triage(plugin, sdk_event("ZeroDivisionError", "division by zero", cart_trace(0)));
  auto shifted = triage(plugin, sdk_event("ZeroDivisionError", "division by zero", cart_trace(4)));
  CHECK(a.group.size() == 16);
  CHECK(a.grouping == "in_app");
  CHECK(shifted.group == a.group);  // same frames, lines shifted: one group
  CHECK(a.culprit == "shop/cart.py:3");
  CHECK(shifted.culprit == "shop/cart.py:7");

  SUBCASE("another function is another group") {
    auto frames = cart_trace(0);
    frames[1]["function"] = "median_price";
    CHECK(triage(plugin, sdk_event("ZeroDivisionError", "division by zero", frames)).group != a.group);
  }
  SUBCASE("frames outside the app do not count: a library frame added changes nothing") {
    auto frames = cart_trace(0);
    frames.push_back(frame("site-packages/lib.py", "lib", "helper", 10, "x()", false));
    CHECK(triage(plugin, sdk_event("ZeroDivisionError", "division by zero", frames)).group == a.group);
  }
  SUBCASE("without a module, the lowercased file basename stands in") {
    auto frames = cart_trace(0);
    for (auto& f : frames) f.erase("module");
    auto upper = frames;
    upper[1]["filename"] = "shop/CART.py";
    CHECK(triage(plugin, sdk_event("ZeroDivisionError", "x", frames)).group ==
          triage(plugin, sdk_event("ZeroDivisionError", "x", upper)).group);
  }
  SUBCASE("an explicit fingerprint decides the group") {
    auto e1 = sdk_event("ZeroDivisionError", "division by zero", cart_trace(0));
    auto e2 = sdk_event("KeyError", "'nobody'", json::array({frame("shop/users.py", "shop.users", "lookup", 5, "return USERS[name]")}));
    e1["fingerprint"] = e2["fingerprint"] = json::array({"checkout-broken"});
    auto t1 = triage(plugin, e1), t2 = triage(plugin, e2);
    CHECK(t1.group == t2.group);
    CHECK(t1.grouping == "fingerprint");
    auto d = sdk_event("ZeroDivisionError", "division by zero", cart_trace(0));
    d["fingerprint"] = json::array({"{{ default }}"});
    CHECK(triage(plugin, d).group == a.group);  // {{ default }} alone is the default grouping
  }
  SUBCASE("no stack trace: exception type and message, numbers folded") {
    json e1 = {{"level", "error"}, {"exception", {{"values", json::array({{{"type", "LookupError"}, {"value", "order 41 missing"}}})}}}};
    json e2 = e1;
    e2["exception"]["values"][0]["value"] = "order 42 missing";
    auto t1 = triage(plugin, e1);
    CHECK(t1.grouping == "exception");
    CHECK(t1.group == triage(plugin, e2).group);
  }
}

TEST_CASE("sentry_triage: severity and decisions from the shipped rules") {
  LoadedPlugin plugin("sentry_triage");
  REQUIRE(plugin->configure("").is_ok());
  SUBCASE("an exception at error level is P1, to fix") {
    auto t = triage(plugin, sdk_event("ZeroDivisionError", "division by zero", cart_trace(0)));
    CHECK(t.priority == "P1");
    CHECK(t.severity == 3);
    CHECK(t.decision == "fix");
    CHECK(t.rules == "p1.exception");
    CHECK(t.release == "shop@1.0.0");
    CHECK(t.user == "u1");
  }
  SUBCASE("fatal is P0") {
    auto t = triage(plugin, sdk_event("RuntimeError", "boom", cart_trace(0), "fatal"));
    CHECK(t.priority == "P0");
    CHECK(t.severity == 10);
    CHECK(t.decision == "fix");
  }
  SUBCASE("an HTTP 5xx is P1 even for a message") {
    json e = {{"level", "error"}, {"message", "upstream failed"}, {"contexts", {{"response", {{"status_code", 502}}}}}};
    auto t = triage(plugin, e);
    CHECK(t.priority == "P1");
    CHECK(t.rules == "p1.http_5xx");
  }
  SUBCASE("a warning is P2: documented, never fixed") {
    json e = {{"level", "warning"}, {"message", "cart is slow"}};
    auto t = triage(plugin, e);
    CHECK(t.priority == "P2");
    CHECK(t.decision == "document");
  }
  SUBCASE("P0 in payment code is for a human, never fixed automatically") {
    auto t = triage(plugin, sdk_event("ValueError", "amount must be positive",
                                      json::array({frame("shop/payments.py", "shop.payments", "charge", 3, "raise ValueError(...)")})));
    CHECK(t.priority == "P0");
    CHECK(t.rules == "p0.payment");
    CHECK(t.decision == "human");
    CHECK(t.reason.find("payment code") != std::string::npos);
  }
  SUBCASE("data loss is P0") {
    auto t = triage(plugin, sdk_event("IntegrityError", "duplicate key", cart_trace(0)));
    CHECK(t.priority == "P0");
    CHECK(t.rules == "p0.data_loss");
  }
  SUBCASE("infrastructure errors are skipped with the reason") {
    auto t = triage(plugin, sdk_event("ConnectionRefusedError", "[Errno 111] Connection refused", cart_trace(0)));
    CHECK(t.decision == "skip");
    CHECK(t.reason.find("infrastructure: connection refused") != std::string::npos);
    auto oom = triage(plugin, sdk_event("MemoryError", "", cart_trace(0)));
    CHECK(oom.decision == "skip");
    CHECK(oom.reason.find("out of memory") != std::string::npos);
    auto disk = triage(plugin, sdk_event("OSError", "[Errno 28] No space left on device", cart_trace(0)));
    CHECK(disk.reason.find("disk full") != std::string::npos);
    auto timeout = triage(plugin, sdk_event("TimeoutError", "timed out", cart_trace(0)));
    CHECK(timeout.reason.find("timeout") != std::string::npos);
  }
  SUBCASE("frames all outside the app are skipped") {
    auto t = triage(plugin, sdk_event("KeyError", "x", json::array({frame("lib/x.py", "x", "f", 1, "y", false)})));
    CHECK(t.decision == "skip");
    CHECK(t.grouping == "system");
    CHECK(t.reason.find("outside the app") != std::string::npos);
  }
}

TEST_CASE("sentry_triage: fixhost.toml overrides the rules, [heal] exclude paths are skipped") {
  LoadedPlugin plugin("sentry_triage");
  SUBCASE("a rule with a shipped id replaces it; weights change the priority score") {
    REQUIRE(plugin->configure(R"(
[weights]
P1 = 5
[[severity]]
id = "p1.exception"
severity = "P0"
fields = ["exception_type"]
regex = "ZeroDivisionError"
reason = "division by zero breaks checkout"
)").is_ok());
    auto t = triage(plugin, sdk_event("ZeroDivisionError", "division by zero", cart_trace(0)));
    CHECK(t.priority == "P0");
    CHECK(t.reason.find("division by zero breaks checkout") == 0);
    auto other = triage(plugin, sdk_event("KeyError", "x", cart_trace(0)));
    CHECK(other.priority == "P2");  // p1.exception no longer matches KeyError: the default rule does
  }
  SUBCASE("disable drops a shipped rule") {
    REQUIRE(plugin->configure("disable = [\"infra.connection_refused\"]\n").is_ok());
    auto t = triage(plugin, sdk_event("ConnectionRefusedError", "Connection refused", cart_trace(0)));
    CHECK(t.decision == "fix");
  }
  SUBCASE("exclude_paths (merged from [heal] exclude) skip errors whose culprit is there") {
    REQUIRE(plugin->configure("exclude_paths = [\"vendor/**\", \"migrations/*\"]\n").is_ok());
    auto t = triage(plugin, sdk_event("KeyError", "x", json::array({frame("vendor/lib/x.py", "vendor.lib.x", "f", 1, "y")})));
    CHECK(t.decision == "skip");
    CHECK(t.reason.find("vendor/**") != std::string::npos);
    auto m = triage(plugin, sdk_event("KeyError", "x", json::array({frame("migrations/0001.py", "m", "up", 1, "y")})));
    CHECK(m.decision == "skip");
    CHECK(triage(plugin, sdk_event("KeyError", "x", cart_trace(0))).decision == "fix");
  }
  SUBCASE("bad configuration names the problem") {
    auto sev = plugin->configure("[[severity]]\nid = \"x\"\nseverity = \"P9\"\nfields = [\"level\"]\nregex = \".\"\n");
    CHECK(!sev.is_ok());
    CHECK(sev.message().find("P0") != std::string::npos);
    auto field = plugin->configure("[[exclude]]\nid = \"x\"\nfields = [\"stdout\"]\nregex = \".\"\n");
    CHECK(field.message().find("stdout") != std::string::npos);
    auto key = plugin->configure("severities = []\n");
    CHECK(key.message().find("unknown key 'severities'") != std::string::npos);
    auto regex = plugin->configure("[[exclude]]\nid = \"x\"\nfields = [\"message\"]\nregex = \"(\"\n");
    CHECK(regex.message().find("does not compile") != std::string::npos);
    auto disable = plugin->configure("disable = [\"no.such\"]\n");
    CHECK(disable.message().find("no.such") != std::string::npos);
  }
}

TEST_CASE("sentry_triage: the REST API's camelCase event and a webhook's wrapped event read the same") {
  LoadedPlugin plugin("sentry_triage");
  REQUIRE(plugin->configure("").is_ok());
  auto sdk = triage(plugin, sdk_event("ZeroDivisionError", "division by zero", cart_trace(0)));
  json rest = {
      {"eventID", "0123456789abcdef0123456789abcdef"},
      {"tags", json::array({{{"key", "level"}, {"value", "error"}}, {{"key", "release"}, {"value", "shop@1.0.0"}}})},
      {"entries",
       json::array({{{"type", "exception"},
                     {"data",
                      {{"values",
                        json::array({{{"type", "ZeroDivisionError"},
                                      {"value", "division by zero"},
                                      {"stacktrace",
                                       {{"frames", json::array({{{"filename", "app.py"}, {"absPath", "/srv/app/app.py"}, {"module", "__main__"},
                                                                 {"function", "checkout"}, {"lineNo", 31}, {"inApp", true},
                                                                 {"context", json::array({json::array({30, "def checkout(items):"}),
                                                                                          json::array({31, "    return cart.average_price(items)"})})}},
                                                                {{"filename", "shop/cart.py"}, {"absPath", "/srv/app/shop/cart.py"}, {"module", "shop.cart"},
                                                                 {"function", "average_price"}, {"lineNo", 9}, {"inApp", true},
                                                                 {"context", json::array({json::array({9, "    return total / len(items)"})})}}})}}}}})}}}}})}};
  auto from_rest = feed<ev::IssueTriaged>(plugin, ingested(rest, "api"));
  REQUIRE(from_rest.size() == 1);
  CHECK(from_rest[0].group == sdk.group);
  CHECK(from_rest[0].priority == "P1");
  CHECK(from_rest[0].release == "shop@1.0.0");

  // Events Sentry already grouped (an issue id) are grouped by that issue, whatever their frames.
  json with_issue = sdk_event("ZeroDivisionError", "division by zero", cart_trace(0));
  with_issue["issue_id"] = "4711";
  json other = sdk_event("KeyError", "x", json::array({frame("shop/users.py", "shop.users", "lookup", 5, "return USERS[name]")}));
  other["issue_id"] = "4711";
  auto t1 = triage(plugin, with_issue), t2 = triage(plugin, other);
  CHECK(t1.group == t2.group);
  CHECK(t1.grouping == "sentry_issue");
  CHECK(t1.issue_id == "4711");

  json hook = {{"action", "triggered"}, {"data", {{"event", sdk_event("ZeroDivisionError", "division by zero", cart_trace(2))}}}};
  auto from_hook = feed<ev::IssueTriaged>(plugin, ingested(hook, "webhook"));
  REQUIRE(from_hook.size() == 1);
  CHECK(from_hook[0].group == sdk.group);
}

TEST_CASE("sentry_triage: derive_triage returns what on_event emits, verdicts and errors alike") {
  LoadedPlugin plugin("sentry_triage");
  REQUIRE(plugin->configure("exclude_paths = [\"vendor/**\"]\n").is_ok());
  auto* typed = dynamic_cast<fixhost::sdk::TriageDeriver*>(plugin.operator->());
  REQUIRE(typed != nullptr);
  std::vector<ev::SentryIssueIngested> inputs = {
      ingested(sdk_event("ZeroDivisionError", "division by zero", cart_trace(0))),
      ingested(sdk_event("RuntimeError", "boom", cart_trace(3), "fatal")),
      ingested(sdk_event("ValueError", "amount", json::array({frame("shop/payments.py", "shop.payments", "charge", 3, "x")}))),
      ingested(sdk_event("KeyError", "x", json::array({frame("vendor/lib/x.py", "vendor.lib.x", "f", 1, "y")}))),
      ingested(sdk_event("KeyError", "x", json::array({frame("lib/x.py", "x", "f", 1, "y", false)}))),
      ingested({{"level", "warning"}, {"message", "cart 7 is slow"}, {"fingerprint", {"{{ default }}", "cart"}}}),
      ingested({{"data", {{"event", sdk_event("TimeoutError", "timed out", cart_trace(1))}}}}, "webhook"),
  };
  ev::SentryIssueIngested api;  // no raw payload: the fact's own fields
  api.via = "api";
  api.issue_id = "4711";
  api.title = "KeyError: y";
  api.count = 12;
  inputs.push_back(api);
  ev::SentryIssueIngested bad = ingested({});
  bad.raw.data = "{not json";
  bad.title = "boom";
  inputs.push_back(bad);
  for (const auto& in : inputs) {
    auto event = ev::make_event(in, "run-1");
    fixhost::testing::Collector out;
    REQUIRE(plugin->on_event(event, out).is_ok());
    REQUIRE(out.out.size() == 1);
    auto direct = typed->derive_triage(event, in);
    REQUIRE(direct);
    CHECK(ev::encode(*direct) == out.out[0].payload);
  }

  LoadedPlugin refused("sentry_triage");
  auto st = refused->configure("severities = []\n");
  REQUIRE(!st.is_ok());
  auto event = ev::make_event(inputs[0], "run-1");
  fixhost::testing::Collector out;
  auto on_event = refused->on_event(event, out);
  auto direct = dynamic_cast<fixhost::sdk::TriageDeriver*>(refused.operator->())->derive_triage(event, inputs[0]);
  CHECK(!on_event.is_ok());
  REQUIRE(!direct);
  CHECK(direct.status().to_string() == on_event.to_string());
  CHECK(out.out.empty());
}
