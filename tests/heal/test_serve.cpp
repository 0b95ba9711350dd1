// hostctl serve as a real process on loopback: the real python3-sentry-sdk reporting to it,
// auth, limits, bombs, webhooks (signed, forged, stale, replayed), metrics, SIGTERM draining.
#include "heal_support.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "fixhost/host/world/http/body.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
using nlohmann::json;
namespace http = fixhost::host::http;

namespace {

const char* k_toml = R"(
[heal]
ingest_keys = ["pubkey1", "pubkey2"]
exclude = ["vendor/**"]
)";

std::string app_path() { return std::string(FIXHOST_SOURCE_DIR) + "/tests/fixtures/heal_app/app.py"; }

std::string dsn(const ServeProcess& s, const std::string& key = "pubkey1") {
  return "http://" + key + "@" + s.url().substr(7) + "/7";
}

std::map<std::string, std::string> auth(const std::string& key = "pubkey1") {
  return {{"X-Sentry-Auth", "Sentry sentry_key=" + key + ", sentry_version=7, sentry_client=test/1.0"},
          {"Content-Type", "application/json"}};
}

std::string event_json(const std::string& id, const std::string& type = "KeyError") {
  json e = {{"event_id", id},
            {"level", "error"},
            {"platform", "python"},
            {"exception",
             {{"values", json::array({{{"type", type},
                                       {"value", "'x'"},
                                       {"stacktrace",
                                        {{"frames", json::array({{{"filename", "shop/users.py"}, {"module", "shop.users"},
                                                                  {"function", "lookup"}, {"lineno", 5},
                                                                  {"context_line", "return USERS[name]"}, {"in_app", true}}})}}}}})}}}};
  return e.dump();
}

json triage_json(const GitRepo& repo) {
  auto r = repo.hostctl({"triage", "--json", "--since", "all"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  return json_of(r);
}

const json* group_titled(const json& t, const std::string& prefix) {
  for (const auto& g : t["groups"])
    if (g["title"].get<std::string>().rfind(prefix, 0) == 0) return &g;
  return nullptr;
}

}  // namespace

TEST_CASE("heal serve: the real python3-sentry-sdk reports to hostctl serve, triage groups what it recorded") {
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}, {"README.md", "shop\n"}});
  ServeProcess serve(repo.dir());
  auto v1 = run_in(repo.dir(), {"/usr/bin/python3", app_path(), dsn(serve), "v1"});
  REQUIRE_MESSAGE(v1.code == 0, v1.out << v1.err);
  // v2: the same bug with its lines shifted, then an unhandled crash in the payment code.
  auto v2 = run_in(repo.dir(), {"/usr/bin/python3", app_path(), dsn(serve), "v2", "--crash"});
  CHECK(v2.code == 1);
  CHECK(v2.err.find("amount must be positive") != std::string::npos);

  // Readers work while serve writes: triage reads the store serve holds.
  auto live = triage_json(repo);
  CHECK(live["events"] == 13);
  // A second writable open is refused, naming serve (commands record through serve instead:
  // test_writer_channel.cpp).
  {
    auto busy = fixhost::store::EventLog::open(repo.store());
    REQUIRE_FALSE(busy.is_ok());
    CHECK(busy.status().code() == fixhost::Errc::busy);
    CHECK(busy.status().message().find("hostctl serve") != std::string::npos);
  }

  CHECK(serve.stop() == 0);
  auto ingested = repo.events("SentryIssueIngested");
  REQUIRE(ingested.size() == 13);  // 6 events per release + the crash
  for (const auto& p : ingested) {
    CHECK(p["via"] == "store");
    CHECK(p["event_id"].get<std::string>().size() == 32);
    CHECK(p["raw"]["data"].get<std::string>().find("\"sdk\"") != std::string::npos);  // the payload as sent
    CHECK(p["environment"] == "production");
  }
  CHECK(repo.events("IssueTriaged").size() == 13);  // serve's bus ran sentry_triage on each
  auto runs = repo.events("RunStarted");
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["mode"] == "serve");
  auto finished = repo.events("RunFinished");
  REQUIRE(finished.size() == 1);
  CHECK(finished[0]["outcome"] == "ok");

  auto t = triage_json(repo);
  CHECK(t["events"] == 13);
  // One thread or two: the same groups, the same figures.
  auto one = repo.hostctl({"triage", "--json", "--since", "all", "--threads", "1"});
  auto two = repo.hostctl({"triage", "--json", "--since", "all", "--threads", "2"});
  CHECK(json_of(one) == json_of(two));
  const json* zero = group_titled(t, "ZeroDivisionError");
  REQUIRE(zero);
  CHECK((*zero)["count"] == 6);  // both releases in one group: only the line numbers moved
  CHECK((*zero)["users"] == 2);
  CHECK((*zero)["severity"] == "P1");
  CHECK((*zero)["decision"] == "fix");
  CHECK((*zero)["culprit"].get<std::string>().rfind("shop/cart.py:", 0) == 0);
  CHECK((*zero)["priority"] == 18.0);  // 6 x P1 weight 3
  CHECK(t["groups"][0]["group"] == (*zero)["group"]);  // the highest priority comes first
  const json* key = group_titled(t, "KeyError");
  REQUIRE(key);
  CHECK((*key)["count"] == 2);
  const json* refused = group_titled(t, "ConnectionRefusedError");
  REQUIRE(refused);
  CHECK((*refused)["decision"] == "skip");
  CHECK((*refused)["reason"].get<std::string>().find("infrastructure") != std::string::npos);
  const json* slow = group_titled(t, "cart is slow");
  REQUIRE(slow);
  CHECK((*slow)["severity"] == "P2");
  CHECK((*slow)["decision"] == "document");
  CHECK((*slow)["count"] == 2);
  const json* crash = group_titled(t, "ValueError");
  REQUIRE(crash);
  CHECK((*crash)["severity"] == "P0");
  CHECK((*crash)["decision"] == "human");
  CHECK((*crash)["release"] == "shop@1.0.1");
  CHECK(t["groups"].size() == 5);
}

TEST_CASE("heal serve: auth, malformed bodies, limits and decompression bombs") {
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}});
  ServeProcess serve(repo.dir());
  const std::string ev = event_json("00000000000000000000000000000001");
  int accepted = 0;

  auto no_key = http_request(serve.url(), "POST", "/api/7/store/", ev, {{"Content-Type", "application/json"}});
  CHECK(no_key.status == 401);
  CHECK(json::parse(no_key.body)["detail"].get<std::string>().find("sentry_key") != std::string::npos);
  auto bad_key = http_request(serve.url(), "POST", "/api/7/store/", ev, auth("nope"));
  CHECK(bad_key.status == 401);
  CHECK(json::parse(bad_key.body)["detail"].get<std::string>().find("'nope'") != std::string::npos);

  auto ok = http_request(serve.url(), "POST", "/api/7/store/", ev, auth());
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body)["id"] == "00000000000000000000000000000001");
  ++accepted;
  // Each accepted event its own id: one sent again is a duplicate (below).
  int next_id = 10;
  auto fresh = [&] {
    char id[40];
    std::snprintf(id, sizeof id, "%032d", next_id++);
    return event_json(id);
  };
  auto query = http_request(serve.url(), "POST", "/api/7/store/?sentry_version=7&sentry_key=pubkey2", fresh(),
                            {{"Content-Type", "application/json"}});
  CHECK(query.status == 200);
  ++accepted;
  for (const char* enc : {"gzip", "deflate", "br"}) {
    auto h = auth();
    h["Content-Encoding"] = enc;
    auto r = http_request(serve.url(), "POST", "/api/7/store/", http::encode_body(enc, fresh()), h);
    CHECK_MESSAGE(r.status == 200, enc << ": " << r.body);
    ++accepted;
  }

  auto malformed = http_request(serve.url(), "POST", "/api/7/store/", "{oops", auth());
  CHECK(malformed.status == 400);
  CHECK(json::parse(malformed.body)["detail"].get<std::string>().find("not valid JSON") != std::string::npos);
  auto bad_gzip = auth();
  bad_gzip["Content-Encoding"] = "gzip";
  CHECK(http_request(serve.url(), "POST", "/api/7/store/", "not gzip at all", bad_gzip).status == 400);

  // An event over 1 MiB, plain and as a bomb (64 MiB of spaces inside a JSON string, gzip'd).
  std::string big = R"({"event_id":"00000000000000000000000000000002","message":")" + std::string(1100000, 'a') + "\"}";
  CHECK(http_request(serve.url(), "POST", "/api/7/store/", big, auth()).status == 413);
  std::string huge = R"({"message":")" + std::string(64u << 20, ' ') + "\"}";
  for (const char* enc : {"gzip", "br"}) {
    auto h = auth();
    h["Content-Encoding"] = enc;
    auto bomb = http_request(serve.url(), "POST", "/api/7/store/", http::encode_body(enc, huge), h);
    CHECK(bomb.status == 413);
    auto env_bomb = http_request(serve.url(), "POST", "/api/7/envelope/",
                                 http::encode_body(enc, "{}\n{\"type\":\"event\"}\n" + huge + "\n"), h);
    CHECK(env_bomb.status == 413);
  }
  // A request body over 20 MiB before decompression.
  CHECK(http_request(serve.url(), "POST", "/api/7/envelope/", std::string(21u << 20, 'x'), auth()).status == 413);
  CHECK(http_request(serve.url(), "GET", "/healthz").status == 200);

  // Envelopes: auth by the header's dsn; unknown items skipped.
  const std::string env_ev = fresh();
  const std::string env = "{\"event_id\":\"00000000000000000000000000000003\",\"dsn\":\"" + dsn(serve, "pubkey2") +
                          "\"}\n{\"type\":\"client_report\"}\n{}\n{\"type\":\"event\",\"length\":" +
                          std::to_string(env_ev.size()) + "}\n" + env_ev + "\n";
  auto by_dsn = http_request(serve.url(), "POST", "/api/7/envelope/", env, {{"Content-Type", "application/x-sentry-envelope"}});
  CHECK_MESSAGE(by_dsn.status == 200, by_dsn.body);
  ++accepted;
  std::string wrong_dsn = env;
  wrong_dsn.replace(wrong_dsn.find("pubkey2"), 7, "badkey9");
  CHECK(http_request(serve.url(), "POST", "/api/7/envelope/", wrong_dsn, {}).status == 401);

  CHECK(http_request(serve.url(), "POST", "/api/abc/store/", ev, auth()).status == 404);
  CHECK(http_request(serve.url(), "GET", "/api/7/store/", "", auth()).status == 405);

  auto metrics = http_request(serve.url(), "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.headers["Content-Type"].find("text/plain") == 0);
  CHECK(metrics.body.find("fixhost_events_received_total{outcome=\"accepted\"} " + std::to_string(accepted)) !=
        std::string::npos);
  CHECK(metrics.body.find("fixhost_events_received_total{outcome=\"unauthorized\"} 3") != std::string::npos);
  CHECK(metrics.body.find("fixhost_events_received_total{outcome=\"too_large\"} 6") != std::string::npos);
  CHECK(metrics.body.find("fixhost_groups 1") != std::string::npos);
  CHECK(metrics.body.find("fixhost_prs_open 0") != std::string::npos);

  // An event sent again (an SDK that did not read its answer retries): 200 with its id, recorded
  // once, as Sentry does; after a restart of serve too.
  auto again = http_request(serve.url(), "POST", "/api/7/store/", ev, auth());
  CHECK(again.status == 200);
  CHECK(json::parse(again.body)["id"] == "00000000000000000000000000000001");
  CHECK(http_request(serve.url(), "POST", "/api/7/envelope/", env, {}).status == 200);
  CHECK(http_request(serve.url(), "GET", "/metrics").body.find("fixhost_events_received_total{outcome=\"duplicate\"} 2") !=
        std::string::npos);

  CHECK(serve.stop() == 0);
  CHECK(repo.events("SentryIssueIngested").size() == static_cast<std::size_t>(accepted));
  ServeProcess restarted(repo.dir());
  CHECK(http_request(restarted.url(), "POST", "/api/7/store/", ev, auth()).status == 200);
  CHECK(http_request(restarted.url(), "POST", "/api/8/store/", ev, auth()).status == 200);  // another project: its own
  CHECK(restarted.stop() == 0);
  CHECK(repo.events("SentryIssueIngested").size() == static_cast<std::size_t>(accepted) + 1);
}

TEST_CASE("heal serve: webhooks are verified, stale and forged ones refused, redeliveries recorded once") {
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}});
  const std::string secret = "client-secret-for-tests";
  auto hook = [&](const ServeProcess& s, const std::string& resource, const std::string& body, const std::string& request_id,
                  const std::string& sig, long long ts) {
    return http_request(s.url(), "POST", "/webhooks/sentry", body,
                        {{"Content-Type", "application/json"},
                         {"Sentry-Hook-Resource", resource},
                         {"Sentry-Hook-Timestamp", std::to_string(ts)},
                         {"Sentry-Hook-Signature", sig},
                         {"Request-ID", request_id}});
  };
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json issue = {{"action", "created"},
                {"data", {{"issue", {{"id", "4711"}, {"shortId", "SHOP-1"}, {"title", "KeyError: 'x'"}, {"level", "error"},
                                     {"count", "3"}, {"userCount", 1}, {"culprit", "shop.users in lookup"},
                                     {"metadata", {{"type", "KeyError"}, {"value", "'x'"}}}}}}}};
  const std::string body = issue.dump();
  const std::string sig = http::hmac_sha256_hex(secret, body);
  {
    ServeProcess serve(repo.dir(), {{"SENTRY_CLIENT_SECRET", secret}});
    CHECK(hook(serve, "issue", body, "req-1", sig, now).status == 200);
    auto again = hook(serve, "issue", body, "req-1", sig, now);
    CHECK(again.status == 200);
    CHECK(json::parse(again.body)["detail"].get<std::string>().find("duplicate") != std::string::npos);
    auto forged = hook(serve, "issue", body, "req-2", http::hmac_sha256_hex("wrong-secret", body), now);
    CHECK(forged.status == 401);
    auto tampered = hook(serve, "issue", body + " ", "req-3", sig, now);
    CHECK(tampered.status == 401);
    CHECK(hook(serve, "issue", body, "req-4", "", now).status == 401);
    auto stale = hook(serve, "issue", body, "req-5", sig, now - 3600);
    CHECK(stale.status == 401);
    CHECK(json::parse(stale.body)["detail"].get<std::string>().find("stale") != std::string::npos);
    json alert = {{"action", "triggered"}, {"data", {{"event", json::parse(event_json("00000000000000000000000000000009"))}}}};
    alert["data"]["event"]["issue_id"] = "4711";
    const std::string abody = alert.dump();
    CHECK(hook(serve, "event_alert", abody, "req-6", http::hmac_sha256_hex(secret, abody), now).status == 200);
    const std::string install = R"({"action":"created","data":{"installation":{"uuid":"x"}}})";
    CHECK(hook(serve, "installation", install, "req-7", http::hmac_sha256_hex(secret, install), now).status == 200);
    auto metrics = http_request(serve.url(), "GET", "/metrics").body;
    CHECK(metrics.find("outcome=\"forged\"} 3") != std::string::npos);
    CHECK(metrics.find("outcome=\"stale\"} 1") != std::string::npos);
    CHECK(metrics.find("outcome=\"duplicate\"} 1") != std::string::npos);
    CHECK(serve.stop() == 0);
  }
  {
    // Without the secret every webhook is refused; after a restart a redelivery is still a duplicate.
    ServeProcess no_secret(repo.dir(), {{"SENTRY_CLIENT_SECRET", ""}});
    CHECK(hook(no_secret, "issue", body, "req-8", sig, now).status == 401);
    CHECK(no_secret.stop() == 0);
    ServeProcess serve(repo.dir(), {{"SENTRY_CLIENT_SECRET", secret}});
    CHECK(hook(serve, "issue", body, "req-1", sig, now).status == 200);
    CHECK(serve.stop() == 0);
  }
  auto ingested = repo.events("SentryIssueIngested");
  REQUIRE(ingested.size() == 2);
  CHECK(ingested[0]["via"] == "webhook");
  CHECK(ingested[0]["issue_id"] == "4711");
  CHECK(ingested[0]["delivery_id"] == "req-1");
  CHECK(ingested[0]["count"] == 3);
  CHECK(ingested[1]["delivery_id"] == "req-6");
  auto t = triage_json(repo);
  REQUIRE(t["groups"].size() == 1);  // the issue and its event are one group, counted by Sentry's figure + the event
  CHECK(t["groups"][0]["issue_id"] == "4711");
}

TEST_CASE("heal serve: SIGTERM drains, every request answered 200 is in the log") {
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}});
  ServeProcess serve(repo.dir());
  std::atomic<int> ok{0}, answered{0};
  std::atomic<bool> go{true};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; i < 400 && go; ++i) {
        char id[40];
        std::snprintf(id, sizeof id, "%08d%024d", c, i);
        try {
          auto r = http_request(serve.url(), "POST", "/api/7/store/", event_json(id), auth());
          if (r.status == 200) ++ok;
          if (r.status > 0) ++answered;
        } catch (const std::exception&) {
          // connection refused once serve stopped listening
        }
      }
    });
  while (ok < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int code = serve.stop();
  go = false;
  for (auto& t : clients) t.join();
  CHECK(code == 0);
  CHECK(ok >= 50);
  // Every 200 is in the log. A request in flight at the stop may be in the log without its
  // client having read the 200 (the connection closed under it): at most one per client.
  const auto ingested = repo.events("SentryIssueIngested").size();
  CHECK(ingested >= static_cast<std::size_t>(ok.load()));
  CHECK(ingested <= static_cast<std::size_t>(ok.load()) + clients.size());
  auto fin = repo.events("RunFinished");
  REQUIRE(fin.size() == 1);
  CHECK(fin[0]["outcome"] == "ok");
}
