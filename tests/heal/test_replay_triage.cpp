// Replay over a serve run: a change to sentry_triage's rules shows as severity and decision
// changes, summed per group.
#include "heal_support.hpp"

#include <nlohmann/json.hpp>

#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
using nlohmann::json;

TEST_CASE("heal replay: new severity rules show as triage changes per group") {
  const std::string base = "[heal]\ningest_keys = [\"k1\"]\n";
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", base}});
  {
    ServeProcess serve(repo.dir());
    auto post = [&](const std::string& type, int line, int n) {
      json e = {{"level", "error"},
                {"exception", {{"values", json::array({{{"type", type}, {"value", "boom"},
                                                        {"stacktrace", {{"frames", json::array({{{"filename", "shop/cart.py"},
                                                                                                 {"function", "total"}, {"lineno", line},
                                                                                                 {"in_app", true}}})}}}}})}}}};
      for (int i = 0; i < n; ++i)
        REQUIRE(http_request(serve.url(), "POST", "/api/7/store/?sentry_key=k1", e.dump(), {{"Content-Type", "application/json"}})
                    .status == 200);
    };
    post("ZeroDivisionError", 3, 2);
    post("ZeroDivisionError", 5, 1);  // a shifted line: the same group
    post("KeyError", 9, 1);
    CHECK(serve.stop() == 0);
  }
  auto runs = json_of(repo.hostctl({"runs", "--json"}));
  REQUIRE(runs.size() == 1);
  const std::string run = runs[0]["run_id"];

  // Unchanged rules: nothing differs.
  auto same = repo.hostctl({"replay", run, "--json"});
  CHECK_MESSAGE(same.code == 0, same.err);

  write_file(repo.dir() / "fixhost.toml", base + R"(
[plugins.sentry_triage]
[[plugins.sentry_triage.severity]]
id = "checkout.division"
severity = "P0"
fields = ["exception_type"]
regex = "ZeroDivisionError"
reason = "checkout is down"
)");
  auto changed = repo.hostctl({"replay", run, "--json"});
  CHECK_MESSAGE(changed.code == 1, changed.err);
  auto j = json_of(changed);
  REQUIRE(j["runs"].size() == 1);
  const auto& r = j["runs"][0];
  CHECK(r["counts"]["severity_changes"] == 3);
  REQUIRE(r["triage_changes_by_group"].size() == 1);
  const auto& g = r["triage_changes_by_group"][0];
  CHECK(g["old"] == "P1 (severity 3) fix");
  CHECK(g["new"] == "P0 (severity 10) fix");
  CHECK(g["events"] == 3);
  CHECK(r["severity_changes"][0]["group"] == g["group"]);

  auto text = repo.hostctl({"replay", run});
  CHECK(text.out.find("triage changes per group") != std::string::npos);
}
