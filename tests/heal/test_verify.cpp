// heal verify: each fixhost PR asked of gh (a recording stand-in on [heal] gh that checks its
// arguments), PrResolved for merged and closed ones, recurrence by release after the merge.
#include "heal_support.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/test/repo.hpp"

using namespace fixhost;
using namespace fixhost::test;
using nlohmann::json;

namespace {
std::string event(const std::string& type, const std::string& release) {
  json e = {{"level", "error"},
            {"release", release},
            {"exception", {{"values", json::array({{{"type", type}, {"value", "boom"},
                                                    {"stacktrace", {{"frames", json::array({{{"filename", "shop/cart.py"},
                                                                                             {"function", "f_" + type}, {"lineno", 3},
                                                                                             {"in_app", true}}})}}}}})}}}};
  return e.dump();
}
std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

TEST_CASE("heal verify: merged, closed and open PRs, recurrence only in a release newer than the merge") {
  TempDir tools("fixhost-gh");
  const auto gh = tools.path() / "gh";
  const auto calls = tools.path() / "calls";
  GitRepo repo(std::map<std::string, std::string>{
      {"fixhost.toml", "[heal]\ningest_keys = [\"k1\"]\ngh = \"" + gh.string() + "\"\n"}});
  std::string merged_at;
  {
    ServeProcess serve(repo.dir());
    auto post = [&](const std::string& type, const std::string& release) {
      REQUIRE(http_request(serve.url(), "POST", "/api/7/store/?sentry_key=k1", event(type, release),
                           {{"Content-Type", "application/json"}}).status == 200);
    };
    post("KeyError", "shop@1.0.0");
    post("TypeError", "shop@1.0.0");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    merged_at = iso_now();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    post("KeyError", "shop@1.0.0");   // the old release still running: not a recurrence
    post("TypeError", "shop@1.0.1");  // a release after the merge: the error came back
    CHECK(serve.stop() == 0);
  }
  auto t = json_of(repo.hostctl({"triage", "--json", "--since", "all"}));
  std::map<std::string, std::string> group;  // exception type -> group
  for (const auto& g : t["groups"]) group[g["title"].get<std::string>().substr(0, g["title"].get<std::string>().find(':'))] = g["group"];
  REQUIRE(group.size() == 2);
  {
    auto log = store::EventLog::open(repo.store());
    REQUIRE(log.is_ok());
    auto pr = [&](std::uint64_t n, const std::string& issue) {
      events::PrOpened p;
      p.provider = "github";
      p.number = n;
      p.url = "https://github.example/shop/pull/" + std::to_string(n);
      p.branch = "fix/sentry-" + issue;
      p.base = "main";
      p.issue_id = issue;
      auto e = events::make_event(p, "heal-run");
      REQUIRE((*log)->append(e).is_ok());
    };
    pr(41, group["KeyError"]);
    pr(42, group["TypeError"]);
    pr(43, "closed-one");
    pr(44, "still-open");
  }
  write_file(gh, "#!/bin/sh\n"
                 "echo \"$@\" >> '" + calls.string() + "'\n"
                 "[ \"$1 $2\" = \"pr view\" ] && [ \"$4 $5\" = \"--json state,mergedAt,commits,reviews\" ] || { echo \"bad args: $@\" >&2; exit 3; }\n"
                 "case $3 in\n"
                 "41) echo '{\"state\":\"MERGED\",\"mergedAt\":\"" + merged_at + "\",\"commits\":[{\"messageHeadline\":\"fix: [Sentry-1] KeyError\"},{\"messageHeadline\":\"review: rename\"}],\"reviews\":[]}';;\n"
                 "42) echo '{\"state\":\"MERGED\",\"mergedAt\":\"" + merged_at + "\",\"commits\":[{\"messageHeadline\":\"fix: [Sentry-2] TypeError\"}],\"reviews\":[]}';;\n"
                 "43) echo '{\"state\":\"CLOSED\",\"mergedAt\":null,\"commits\":[],\"reviews\":[]}';;\n"
                 "*) echo '{\"state\":\"OPEN\",\"mergedAt\":null,\"commits\":[],\"reviews\":[]}';;\n"
                 "esac\n");
  ::chmod(gh.c_str(), 0755);

  auto r = repo.hostctl({"heal", "verify", "--json", "--window", "1s"});
  REQUIRE_MESSAGE(r.code == 0, r.err << r.out);
  auto j = json_of(r);
  std::map<std::uint64_t, json> by;
  for (const auto& p : j["prs"]) by[p["number"].get<std::uint64_t>()] = p;
  REQUIRE(by.size() == 4);
  CHECK(by[41]["state"] == "merged");
  CHECK(by[41]["human_commits"] == 1);
  CHECK(by[41]["recurrence"] == "stopped");
  CHECK(by[41]["events_since"] == 0);
  CHECK(by[42]["state"] == "merged");
  CHECK(by[42]["recurrence"] == "recurred");
  CHECK(by[42]["events_since"] == 1);
  CHECK(by[43]["state"] == "closed");
  CHECK(by[44]["state"] == "open");
  auto resolved = repo.events("PrResolved");
  REQUIRE(resolved.size() == 3);
  auto checks = repo.events("ErrorRecurrenceChecked");
  REQUIRE(checks.size() == 2);
  CHECK(read_file(calls).find("pr view 41 --json state,mergedAt,commits,reviews") != std::string::npos);

  // Again: resolved PRs are not asked again, settled recurrences not checked again.
  auto again = repo.hostctl({"heal", "verify", "--json", "--window", "1s"});
  CHECK(again.code == 0);
  CHECK(repo.events("PrResolved").size() == 3);
  CHECK(repo.events("ErrorRecurrenceChecked").size() == 2);

  // A gh that fails is named, exit 2.
  write_file(gh, "#!/bin/sh\necho 'gh: not logged in' >&2\nexit 4\n");
  auto broken = repo.hostctl({"heal", "verify", "--json"});
  CHECK(broken.code == 2);
  CHECK(json_of(broken)["prs"][3]["error"].get<std::string>().find("not logged in") != std::string::npos);
}

TEST_CASE("heal verify: [heal] resolve resolves a merged PR's Sentry issue inNextRelease") {
  StandIn sentry([](const SeenRequest&) { return StandInAnswer{200, "{}", {}}; });
  TempDir tools("fixhost-gh");
  const auto gh = tools.path() / "gh";
  write_file(gh, "#!/bin/sh\necho '{\"state\":\"MERGED\",\"mergedAt\":\"2026-01-01T00:00:00Z\",\"commits\":[],\"reviews\":[]}'\n");
  ::chmod(gh.c_str(), 0755);
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", "[heal]\nresolve = true\ngh = \"" + gh.string() + "\"\n"}});
  {
    auto log = store::EventLog::open(repo.store());
    REQUIRE(log.is_ok());
    events::PrOpened p;
    p.number = 7;
    p.issue_id = "4711";
    auto e = events::make_event(p, "heal-run");
    REQUIRE((*log)->append(e).is_ok());
  }
  auto r = repo.hostctl({"heal", "verify", "--json"},
                        {{"SENTRY_URL", sentry.url()}, {"SENTRY_ORG", "acme"}, {"SENTRY_AUTH_TOKEN", "tok-9"}});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto j = json_of(r);
  CHECK(j["prs"][0]["resolved_in_sentry"] == true);
  std::vector<SeenRequest> puts;
  for (auto& seen : sentry.seen())
    if (seen.method == "PUT") puts.push_back(seen);
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].target == "/api/0/organizations/acme/issues/4711/");
  CHECK(json::parse(puts[0].body)["status"] == "resolvedInNextRelease");
  CHECK(puts[0].headers["Authorization"] == "Bearer tok-9");
}

TEST_CASE("heal verify: a Sentry that refuses to resolve (401 403 404 429) is named and the verify result is kept") {
  StandIn sentry([](const SeenRequest& r) {
    if (r.target.find("/issues/401/") != std::string::npos) return StandInAnswer{401, R"({"detail":"Invalid token"})", {}};
    if (r.target.find("/issues/403/") != std::string::npos) return StandInAnswer{403, R"({"detail":"no permission"})", {}};
    if (r.target.find("/issues/404/") != std::string::npos) return StandInAnswer{404, R"({"detail":"not found"})", {}};
    return StandInAnswer{429, R"({"detail":"slow down"})", {{"Retry-After", "30"}}};
  });
  TempDir tools("fixhost-gh");
  const auto gh = tools.path() / "gh";
  write_file(gh, "#!/bin/sh\necho '{\"state\":\"MERGED\",\"mergedAt\":\"2026-01-01T00:00:00Z\",\"commits\":[],\"reviews\":[]}'\n");
  ::chmod(gh.c_str(), 0755);
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", "[heal]\nresolve = true\ngh = \"" + gh.string() + "\"\n"}});
  {
    auto log = store::EventLog::open(repo.store());
    REQUIRE(log.is_ok());
    for (int n : {401, 403, 404, 429}) {
      events::PrOpened p;
      p.number = static_cast<std::uint64_t>(n);
      p.issue_id = std::to_string(n);
      auto e = events::make_event(p, "heal-run");
      REQUIRE((*log)->append(e).is_ok());
    }
  }
  auto r = repo.hostctl({"heal", "verify", "--json"},
                        {{"SENTRY_URL", sentry.url()}, {"SENTRY_ORG", "acme"}, {"SENTRY_AUTH_TOKEN", "secret-tok-9"}});
  CHECK_MESSAGE(r.code == 0, r.err);
  auto j = json_of(r);
  REQUIRE(j["prs"].size() == 4);
  std::map<std::string, std::string> hint{{"401", "not valid"}, {"403", "event:write"}, {"404", "no such issue"},
                                          {"429", "Retry-After 30"}};
  for (const auto& pr : j["prs"]) {
    const std::string id = pr["issue_id"];
    CHECK(pr["state"] == "merged");  // the verify result is kept
    CHECK(pr["resolved_in_sentry"] == false);
    CHECK(pr["recurrence"] != "");
    const std::string err = pr["error"];
    CHECK_MESSAGE(err.find("HTTP " + id) != std::string::npos, err);
    CHECK_MESSAGE(err.find(hint[id]) != std::string::npos, err);
  }
  CHECK(repo.events("PrResolved").size() == 4);
  CHECK(repo.events("ErrorRecurrenceChecked").size() == 4);
  CHECK(r.out.find("secret-tok-9") == std::string::npos);
  CHECK(r.err.find("secret-tok-9") == std::string::npos);
  auto all = repo.hostctl({"events", "--json"});
  CHECK(all.out.find("secret-tok-9") == std::string::npos);  // never recorded
}
