// hostctl build's ways in that run no stream: --template, --plan-only and the planner agent.
#include <doctest/doctest.h>

#include "build_fixture.hpp"

using namespace fixhost::test;
using namespace fixhost::test::build;
using nlohmann::json;

TEST_CASE("--template writes a manifest with the feature, --plan-only validates and shows it") {
  BuildRepo repo;
  auto r = repo.hostctl({"build", "--template", "api-endpoint", "--feature", "order \"history\""});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto text = read_file(repo.dir() / "build.toml");
  CHECK(text.find("order \"history\"") != std::string::npos);  // quoted as TOML, read back below

  // A second time needs --force.
  auto again = repo.hostctl({"build", "--template", "api-endpoint", "--feature", "x"});
  CHECK(again.code == 2);
  CHECK(again.err.find("exists; pass --force") != std::string::npos);
  auto unknown = repo.hostctl({"build", "--template", "nope", "--feature", "x", "--force"});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("api-endpoint, ui-feature, data-model") != std::string::npos);

  // The template names no agent: refused, one line naming the stream and the key.
  auto plan = repo.hostctl({"build", "--plan-only"});
  CHECK(plan.code == 2);
  CHECK(plan.err.find("build.toml: stream 'contract': agent: missing") != std::string::npos);
  auto ok = repo.hostctl({"build", "--plan-only", "--json", "--agent", "sh agent.sh"});
  INFO(ok.out << ok.err);
  REQUIRE(ok.code == 0);
  auto j = json_of(ok);
  CHECK(j["order"] == json::array({"contract", "backend", "frontend", "tests"}));
  CHECK(j["streams"][1]["agent"] == "sh agent.sh");
  CHECK(j["feature"] == "order \"history\"");
  CHECK(repo.events("RunStarted").empty());  // nothing ran
}

TEST_CASE("the planner writes the manifest, the host validates it like a hand-written one") {
  BuildRepo repo;
  const std::string spec = (repo.dir() / "docs/specs/orders.md").string();
  // A planner that reads the spec and writes the fixture's manifest where it is told.
  write_file(repo.dir() / ".planned.toml", manifest());
  const std::string planner = "test -s \"$FIXHOST_SPEC_FILE\" && cp " + (repo.dir() / ".planned.toml").string() +
                              " \"$FIXHOST_MANIFEST_FILE\"";
  auto r = repo.hostctl({"build", "--spec", spec, "--planner", planner, "--plan-only", "--json"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto j = json_of(r);
  CHECK(j["feature"] == "order history");
  CHECK(j["order"] == json::array({"contract", "backend", "frontend", "tests"}));
  CHECK(j["manifest"].get<std::string>().find("/plans/") != std::string::npos);

  SUBCASE("a manifest with a cycle is refused naming the stream") {
    std::string bad = manifest();
    auto at = bad.find("depends_on = [\"contract\"]");
    bad.replace(at, std::string("depends_on = [\"contract\"]").size(), "depends_on = [\"tests\"]");
    write_file(repo.dir() / ".planned.toml", bad);
    auto b = repo.hostctl({"build", "--spec", spec, "--planner", planner, "--plan-only"});
    CHECK(b.code == 2);
    CHECK(b.err.find("stream 'backend': depends_on: dependency cycle backend -> tests -> backend") != std::string::npos);
  }
  SUBCASE("a planner that writes nothing, or fails") {
    auto none = repo.hostctl({"build", "--spec", spec, "--planner", "true", "--plan-only"});
    CHECK(none.code == 2);
    CHECK(none.err.find("wrote no manifest to FIXHOST_MANIFEST_FILE") != std::string::npos);
    auto failed = repo.hostctl({"build", "--spec", spec, "--planner", "echo no idea; exit 3", "--plan-only"});
    CHECK(failed.code == 2);
    CHECK(failed.err.find("exited 3: no idea") != std::string::npos);
  }
  SUBCASE("--planner without --spec") {
    auto b = repo.hostctl({"build", "--planner", planner});
    CHECK(b.code == 2);
    CHECK(b.err.find("--planner needs --spec FILE") != std::string::npos);
  }
}
