// heal's sources and guards: Sentry's REST API (a loopback stand-in speaking its JSON: two pages
// of Link cursors, camelCase frames, a 429 with Retry-After), the cache, the token kept out of
// the log, the rate guard, protected P0 alerts, the incident report and its webhook.
#include "heal_support.hpp"

#include <nlohmann/json.hpp>

#include "fixhost/host/heal/ingest.hpp"
#include "fixhost/host/heal/sentry_api.hpp"
#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
using nlohmann::json;
namespace heal = fixhost::host::heal;
using fixhost::test::sentry::issue;
using fixhost::test::sentry::latest;

namespace {

const std::string k_token = "tok-SECRET-123";

// Sentry's REST API as a stand-in: the organization "acme", three unresolved issues on two pages.
struct FakeSentry {
  int page2_calls = 0;
  StandIn server{[this](const SeenRequest& r) { return answer(r); }};

  StandInAnswer answer(const SeenRequest& r) {
    if (r.headers.count("Authorization") == 0 || r.headers.at("Authorization") != "Bearer " + k_token)
      return {401, R"({"detail":"Invalid token"})", {}};
    const std::string base = server.url() + "/api/0/organizations/acme/issues/";
    if (r.target.rfind("/api/0/organizations/acme/issues/?", 0) == 0) {
      if (r.target.find("cursor=0:100:0") == std::string::npos) {
        CHECK(r.target.find("query=is%3Aunresolved") != std::string::npos);
        CHECK(r.target.find("statsPeriod=24h") != std::string::npos);
        json page = json::array({issue("101", "ZeroDivisionError", "division by zero", "error", "25"),
                                 issue("102", "ValueError", "amount must be positive", "error", "4")});
        return {200, page.dump(),
                {{"Link", "<" + base + "?query=is%3Aunresolved&cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <" +
                              base + "?query=is%3Aunresolved&statsPeriod=24h&cursor=0:100:0>; rel=\"next\"; results=\"true\"; cursor=\"0:100:0\""}}};
      }
      if (++page2_calls == 1) return {429, R"({"detail":"Too many requests"})", {{"Retry-After", "1"}}};
      json page = json::array({issue("103", "ConnectionRefusedError", "[Errno 111] Connection refused", "error", "9")});
      return {200, page.dump(),
              {{"Link", "<" + base + "?cursor=0:0:1>; rel=\"previous\"; results=\"true\"; cursor=\"0:0:1\", <" + base +
                            "?cursor=0:200:0>; rel=\"next\"; results=\"false\"; cursor=\"0:200:0\""},
               {"X-Sentry-Rate-Limit-Remaining", "5"}}};
    }
    if (r.target == "/api/0/organizations/acme/issues/101/events/latest/")
      return {200, latest("101", "ZeroDivisionError", "division by zero", "shop/cart.py", "average_price", 7).dump(), {}};
    if (r.target == "/api/0/organizations/acme/issues/102/events/latest/")
      return {200, latest("102", "ValueError", "amount must be positive", "shop/payments.py", "charge", 3).dump(), {}};
    if (r.target == "/api/0/organizations/acme/issues/103/events/latest/")
      return {200, latest("103", "ConnectionRefusedError", "[Errno 111] Connection refused", "shop/db.py", "connect", 12).dump(), {}};
    return {404, R"({"detail":"not found"})", {}};
  }
};

std::map<std::string, std::string> sentry_env(const FakeSentry& s) {
  return {{"SENTRY_URL", s.server.url()}, {"SENTRY_ORG", "acme"}, {"SENTRY_AUTH_TOKEN", k_token}, {"SENTRY_PROJECT", ""}};
}

}  // namespace

TEST_CASE("heal api: every Link cursor is followed, a 429 waits Retry-After, frames come camelCase") {
  FakeSentry sentry;
  heal::SentryApiConfig api;
  api.url = sentry.server.url();
  api.org = "acme";
  api.token = k_token;
  heal::FetchOptions fo;
  std::vector<std::chrono::milliseconds> slept;
  fo.sleep = [&](std::chrono::milliseconds ms) { slept.push_back(ms); };
  auto r = heal::fetch_unresolved(api, fo);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  REQUIRE(r->issues.size() == 3);
  CHECK(r->pages == 2);
  CHECK(r->rate_limited == 1);
  REQUIRE(slept.size() == 1);
  CHECK(slept[0] == std::chrono::milliseconds(1000));
  CHECK(r->requests == 6);  // 2 pages + 1 retry + 3 latest events
  CHECK(r->issues[0].id == "101");
  auto in = heal::read_api_issue(r->issues[0].issue_json, r->issues[0].latest_json);
  REQUIRE(in.events.size() == 1);
  CHECK(in.events[0].count == 25);
  CHECK(in.events[0].frames.at(0).file == "shop/cart.py");
  CHECK(in.events[0].frames.at(0).line == 7);
  CHECK(in.events[0].release == "shop@1.0.1");

  SUBCASE("a wrong token is refused with a message that does not contain it") {
    api.token = "wrong-token-456";
    auto bad = heal::fetch_unresolved(api, fo);
    REQUIRE(!bad.is_ok());
    CHECK(bad.status().code() == fixhost::Errc::refused);
    CHECK(bad.status().message().find("wrong-token-456") == std::string::npos);
  }
  SUBCASE("a rate limit longer than max_wait is an error, not a hang") {
    sentry.page2_calls = 0;
    fo.max_wait = std::chrono::seconds(0);
    auto slow = heal::fetch_unresolved(api, fo);
    REQUIRE(!slow.is_ok());
    CHECK(slow.status().code() == fixhost::Errc::timeout);
  }
}

TEST_CASE("heal api: next_page reads Sentry's Link header") {
  CHECK(heal::next_page("<https://s/x?cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", "
                        "<https://s/x?cursor=0:100:0>; rel=\"next\"; results=\"true\"; cursor=\"0:100:0\"") ==
        std::optional<std::string>("https://s/x?cursor=0:100:0"));
  CHECK(!heal::next_page("<https://s/x?cursor=0:100:0>; rel=\"next\"; results=\"false\"; cursor=\"0:100:0\""));
  CHECK(!heal::next_page(""));
}

TEST_CASE("heal --source api records what it fetched, alerts for protected P0, caches, never records the token") {
  FakeSentry sentry;
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", "[heal]\nmax_fixes = 5\n"}});
  auto env = sentry_env(sentry);
  auto r = repo.hostctl({"heal", "--source", "api", "--json", "--report", "incident.md"}, env);
  CHECK_MESSAGE(r.code == 1, r.err);  // a group to fix, not attempted (fix phase pending)
  auto j = json_of(r);
  CHECK(j["source"] == "api");
  CHECK(j["cached"] == false);
  CHECK(j["fetch"]["issues"] == 3);
  CHECK(j["fetch"]["rate_limited"] == 1);
  std::map<std::string, json> by_issue;
  for (const auto& g : j["groups"]) by_issue[g["issue_id"]] = g;
  REQUIRE(by_issue.size() == 3);
  CHECK(by_issue["101"]["action"] == "not_attempted");
  CHECK(by_issue["101"]["severity"] == "P1");
  CHECK(by_issue["101"]["count"] == 25);
  CHECK(by_issue["102"]["severity"] == "P0");  // payment path
  CHECK(by_issue["102"]["action"] == "alert");
  CHECK(by_issue["103"]["action"] == "skip");
  CHECK(j["groups"][0]["issue_id"] == "101");  // 25 x 3 = 75 before 4 x 10 = 40
  CHECK(read_file(repo.dir() / "incident.md").find("# Incident report") == 0);

  auto ingested = repo.events("SentryIssueIngested");
  REQUIRE(ingested.size() == 3);
  for (const auto& p : ingested) CHECK(p["via"] == "api");
  auto alerts = repo.events("HumanAlert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0]["reason"] == "protected_path");
  auto reports = repo.events("ReportWritten");
  REQUIRE(reports.size() == 1);
  CHECK(reports[0]["kind"] == "incident");
  CHECK(repo.events("IssueTriaged").size() == 3);  // derived in the heal run
  auto everything = repo.hostctl({"events", "--json"});
  CHECK(everything.out.find(k_token) == std::string::npos);
  CHECK(r.err.find(k_token) == std::string::npos);
  CHECK(r.out.find(k_token) == std::string::npos);

  // Within [heal] api_cache (default 10 min) a re-run does not fetch again.
  const auto requests_before = sentry.server.seen().size();
  auto again = repo.hostctl({"heal", "--source", "api", "--json"}, env);
  CHECK(again.code == 1);
  CHECK(json_of(again)["cached"] == true);
  CHECK(sentry.server.seen().size() == requests_before);
  CHECK(repo.events("SentryIssueIngested").size() == 3);

  // A dry run records nothing.
  const auto events_before = repo.hostctl({"events", "--json"}).out.size();
  auto dry = repo.hostctl({"heal", "--source", "api", "--dry-run", "--json"}, env);
  CHECK(dry.code == 1);
  CHECK(json_of(dry)["run"] == "");
  CHECK(repo.hostctl({"events", "--json"}).out.size() == events_before);
}

TEST_CASE("heal: the rate guard alerts a human and fixes nothing, the report goes to the webhook") {
  std::vector<std::string> posted;
  StandIn chat([&](const SeenRequest& r) {
    posted.push_back(r.body);
    return StandInAnswer{200, "ok", {}};
  });
  GitRepo repo(std::map<std::string, std::string>{
      {"fixhost.toml", "[heal]\ningest_keys = [\"k1\"]\nmax_errors_per_hour = 5\nreport_webhook = \"" + chat.url() + "/hook\"\n"}});
  {
    ServeProcess serve(repo.dir());
    for (int i = 0; i < 8; ++i) {
      json e = {{"event_id", "0000000000000000000000000000000" + std::to_string(i)},
                {"level", "error"},
                {"exception", {{"values", json::array({{{"type", "KeyError"}, {"value", "'x'"},
                                                        {"stacktrace", {{"frames", json::array({{{"filename", "shop/users.py"},
                                                                                                 {"function", "lookup"}, {"lineno", 5 + i},
                                                                                                 {"in_app", true}}})}}}}})}}}};
      auto a = http_request(serve.url(), "POST", "/api/7/store/?sentry_key=k1", e.dump(), {{"Content-Type", "application/json"}});
      REQUIRE(a.status == 200);
    }
    CHECK(serve.stop() == 0);
  }
  auto r = repo.hostctl({"heal", "--source", "log", "--json"});
  CHECK_MESSAGE(r.code == 4, r.err);
  auto j = json_of(r);
  CHECK(j["rate_guard"] == true);
  CHECK(j["errors_last_hour"] == 8);
  REQUIRE(j["groups"].size() == 1);
  CHECK(j["groups"][0]["action"] == "skip");
  CHECK(j["groups"][0]["why"].get<std::string>().find("rate guard") == 0);
  auto alerts = repo.events("HumanAlert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0]["reason"] == "infrastructure");
  CHECK(alerts[0]["error_rate"].get<double>() == doctest::Approx(8.0 / 60.0));
  REQUIRE(posted.size() == 1);
  auto text = json::parse(posted[0])["text"].get<std::string>();
  CHECK(text.find("Rate guard") != std::string::npos);
  auto fin = repo.events("RunFinished");
  CHECK(fin.back()["exit_code"] == 4);
}
