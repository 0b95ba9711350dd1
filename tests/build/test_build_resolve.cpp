// The two integration hand-overs of a build to an agent, with real git, real tsc and scripted
// agents: conflicts a three-way merge left go to the `[build] resolver` in the integration
// worktree (and are judged before anything lands); `--fix` hands a failing integration command
// (a tsc type error) to the engine's fix loop, verified by re-running that command.
#include <doctest/doctest.h>

#include "build_fixture.hpp"

using namespace fixhost::test;
using namespace fixhost::test::build;
using nlohmann::json;

namespace {

const std::string k_py = "/usr/bin/python3 " + std::string(FIXHOST_SOURCE_DIR) + "/tests/build/";

// backend and frontend both change package.json's version line: a conflict three-way cannot merge.
json conflict_scenario() {
  auto sc = good_scenario();
  sc["backend"]["replace"]["package.json"] = {"\"version\": \"1.0.0\"", "\"version\": \"1.1.0\""};
  sc["frontend"]["replace"]["package.json"] = {"\"version\": \"1.0.0\"", "\"version\": \"2.0.0\""};
  return sc;
}

// The fixture's manifest with `[build] resolver` (RESOLVE_MODE for tests/build/resolve_agent.py).
std::string with_resolver(std::string text, const std::string& mode) {
  const std::string at = "stream_budget_s = 60\n";
  text.replace(text.find(at), at.size(), at + "resolver = \"RESOLVE_MODE=" + mode + " " + k_py + "resolve_agent.py\"\n");
  return text;
}

std::vector<json> attempts_for(const BuildRepo& repo, const std::string& test_id) {
  std::vector<json> out;
  for (const auto& a : repo.events("AttemptStarted"))
    if (a["test_id"] == test_id) out.push_back(a);
  return out;
}

std::string build_run_id(const BuildRepo& repo) {
  auto started = repo.events("RunStarted");
  REQUIRE(started.size() == 1);
  auto runs = json_of(repo.hostctl({"runs", "--json"}));
  for (const auto& r : runs)
    if (r.value("mode", "") == "build") return r["run_id"].get<std::string>();
  FAIL("no build run");
  return "";
}

// The conflict stopped the build: nothing on fixhost/build-<run>, the checkout as it was.
void check_nothing_landed(const BuildRepo& repo, const std::string& head, const std::map<std::string, std::string>& before) {
  CHECK(repo.events("Committed").empty());
  auto merged = repo.events("WorktreesMerged");
  REQUIRE(merged.size() == 1);
  CHECK(merged[0]["failure_cause"] == "conflict");
  CHECK(merged[0]["integration_passed"] == false);
  CHECK(repo.events("IntegrationChecked").empty());
  CHECK_FALSE(repo.has_branch("fixhost/build-" + build_run_id(repo)));
  CHECK(repo.rev("main") == head);
  CHECK(checkout_bytes(repo.dir()) == before);
}

}  // namespace

TEST_CASE("[build] resolver: a conflict on a shared file is resolved in the integration worktree and lands squashed") {
  SUBCASE("in the final merge") {
    BuildRepo repo;
    const std::string head = repo.rev("HEAD");
    const auto before = checkout_bytes(repo.dir());
    // tests depends on backend only: backend and frontend first meet in the final merge.
    std::string m = with_resolver(manifest(), "theirs");
    const std::string deps = "depends_on = [\"backend\", \"frontend\"]";
    m.replace(m.find(deps), deps.size(), "depends_on = [\"backend\"]");
    auto r = repo.build(conflict_scenario(), m);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);

    auto conflicts = repo.events("MergeConflict");
    REQUIRE(conflicts.size() == 1);
    CHECK(conflicts[0]["file"] == "package.json");
    CHECK(conflicts[0]["resolution"] == "resolver");
    auto resolved = repo.events("ConflictResolved");
    REQUIRE(resolved.size() == 1);
    CHECK(resolved[0]["step"] == "merge:frontend");
    CHECK(resolved[0]["outcome"] == "resolved");
    CHECK(resolved[0]["files"] == json::array({"package.json"}));
    CHECK(resolved[0]["streams"] == json::array({"backend", "frontend"}));
    CHECK(resolved[0]["attempt_seq"].get<std::uint64_t>() > 0);

    // One resolver attempt, told the hunks and both streams' summaries, in the integration
    // worktree (made once, then moved to the merged result for integration).
    auto attempts = attempts_for(repo, "resolve:merge:frontend");
    REQUIRE(attempts.size() == 1);
    const std::string prompt = attempts[0]["prompt"]["data"];
    CHECK(prompt.find("<<<<<<<") != std::string::npos);
    CHECK(prompt.find("order_history() in the backend") != std::string::npos);
    CHECK(prompt.find("total() over Order[]") != std::string::npos);
    int integration_worktrees = 0;
    for (const auto& w : repo.events("WorktreeCreated")) integration_worktrees += w["stream"] == "integration";
    CHECK(integration_worktrees == 1);

    auto checks = repo.events("IntegrationChecked");
    REQUIRE(checks.size() == 3);
    for (const auto& c : checks) CHECK_MESSAGE(c["passed"] == true, c["output"]["data"]);
    auto committed = repo.events("Committed");
    REQUIRE(committed.size() == 1);
    const std::string sha = committed[0]["commit"];
    CHECK(repo.rev(sha + "^") == head);
    CHECK(run_in(repo.dir(), {"git", "rev-parse", "-q", "--verify", sha + "^2"}).out.empty());
    const auto pkg = repo.git({"show", sha + ":package.json"});
    CHECK(pkg.find("\"version\": \"2.0.0\"") != std::string::npos);
    CHECK(pkg.find("<<<<<<<") == std::string::npos);
    CHECK_FALSE(json::parse(pkg, nullptr, false).is_discarded());
    CHECK(repo.git({"show", sha + ":frontend/src/orders.ts"}).find("total") != std::string::npos);
    CHECK(repo.rev("main") == head);
    CHECK(checkout_bytes(repo.dir()) == before);
  }
  SUBCASE("at the base of a stream depending on both, the same resolution reused in the final merge") {
    BuildRepo repo;
    auto r = repo.build(conflict_scenario(), with_resolver(manifest(), "theirs"));
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto resolved = repo.events("ConflictResolved");
    REQUIRE(resolved.size() == 2);
    CHECK(resolved[0]["step"] == "base:tests");
    CHECK(resolved[0]["outcome"] == "resolved");
    CHECK(resolved[1]["step"] == "merge:frontend");
    CHECK(resolved[1]["outcome"] == "reused");
    CHECK(resolved[1]["attempt_seq"] == 0);
    CHECK(resolved[1]["tree"] != "");
    CHECK(attempts_for(repo, "resolve:base:tests").size() == 1);
    CHECK(attempts_for(repo, "resolve:merge:frontend").empty());
    // The tests stream ran on the resolved base.
    auto finished = repo.events("StreamFinished");
    for (const auto& f : finished) CHECK(f["outcome"] == "ok");
    const std::string sha = repo.events("Committed")[0]["commit"];
    CHECK(repo.git({"show", sha + ":package.json"}).find("\"version\": \"2.0.0\"") != std::string::npos);
    CHECK(repo.git({"show", sha + ":tests/test_orders.py"}).find("order_history") != std::string::npos);
  }
}

TEST_CASE("[build] resolver that leaves conflict markers: the run stops before landing, and says why") {
  BuildRepo repo;
  const std::string head = repo.rev("HEAD");
  const auto before = checkout_bytes(repo.dir());
  auto r = repo.build(conflict_scenario(), with_resolver(manifest(), "markers"));
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto resolved = repo.events("ConflictResolved");
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0]["outcome"] == "markers_left");
  CHECK(resolved[0]["detail"].get<std::string>().find("package.json") != std::string::npos);
  CHECK(resolved[0]["tree"] == "");
  bool reverted = false;
  for (const auto& v : repo.events("Reverted")) reverted |= v["test_id"] == "resolve:base:tests" && v["reason"] == "markers_left";
  CHECK(reverted);
  bool tests_skipped = false;
  for (const auto& f : repo.events("StreamFinished")) tests_skipped |= f["stream"] == "tests" && f["outcome"] == "skipped";
  CHECK(tests_skipped);
  check_nothing_landed(repo, head, before);
}

TEST_CASE("[build] resolver that edits a file it was not handed is rejected, nothing lands") {
  BuildRepo repo;
  const std::string head = repo.rev("HEAD");
  const auto before = checkout_bytes(repo.dir());
  auto r = repo.build(conflict_scenario(), with_resolver(manifest(), "other"));
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto resolved = repo.events("ConflictResolved");
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0]["outcome"] == "rejected");
  CHECK(resolved[0]["detail"].get<std::string>().find("backend/app.py") != std::string::npos);
  bool violation = false;
  for (const auto& v : repo.events("PolicyViolation"))
    violation |= v["rule"] == "outside_conflict" && v["path"] == "backend/app.py" && v["test_id"] == "resolve:base:tests";
  CHECK(violation);
  check_nothing_landed(repo, head, before);
}

TEST_CASE("--fix hands a failing integration type check (tsc) to the fix loop, verified by re-running tsc") {
  BuildRepo repo;
  auto sc = good_scenario();
  // The frontend's code has a real type error at a line tsc names.
  sc["frontend"]["write"]["frontend/src/orders.ts"] =
      "import { Order } from \"./api/types\";\n\nexport function total(orders: Order[]): number {\n"
      "  return orders.reduce((s, o) => s + o.total, 0);\n}\n\nexport const count: number = \"three\";\n";
  SUBCASE("without --fix it stops, naming the stream that owns the file") {
    auto r = repo.build(sc, manifest());
    INFO(r.out << r.err);
    CHECK(r.code == 1);
    auto checks = repo.events("IntegrationChecked");
    REQUIRE(checks.size() == 3);
    CHECK(checks[2]["kind"] == "types");
    CHECK(checks[2]["passed"] == false);
    CHECK(checks[2]["files"] == json::array({"frontend/src/orders.ts"}));
    CHECK(checks[2]["owners"] == json::array({"frontend"}));
    CHECK(repo.events("WorktreesMerged")[0]["failure_cause"] == "types");
    auto fin = repo.events("RunFinished");
    REQUIRE(fin.size() == 1);
    CHECK(fin[0]["summary"].get<std::string>().find("types (files of frontend)") != std::string::npos);
    CHECK(json_of(r)["report"].get<std::string>().find("nothing landed: types (files owned by frontend)") !=
          std::string::npos);
    CHECK(repo.events("FailureResolved").empty());
    CHECK(repo.events("Committed").empty());
  }
  SUBCASE("with --fix the repaired line lands in the squashed commit") {
    auto r = repo.build(sc, manifest(), {"--fix", "--fix-agent", k_py + "fix_types_agent.py"});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto attempts = attempts_for(repo, "integration:types");
    REQUIRE(attempts.size() == 1);
    CHECK(attempts[0]["prompt"]["data"].get<std::string>().find("# Fix one failing check") != std::string::npos);
    auto reruns = repo.events("TestRerun");
    REQUIRE(reruns.size() == 1);
    CHECK(reruns[0]["test_id"] == "integration:types");
    CHECK(reruns[0]["passed"] == true);
    auto resolved = repo.events("FailureResolved");
    REQUIRE(resolved.size() == 1);
    CHECK(resolved[0]["test_id"] == "integration:types");
    CHECK(resolved[0]["outcome"] == "fixed");
    CHECK(resolved[0]["files"] == json::array({"frontend/src/orders.ts"}));
    auto checks = repo.events("IntegrationChecked");
    REQUIRE(checks.size() == 6);  // three, then the whole integration again after the fix
    CHECK(checks[2]["passed"] == false);
    for (std::size_t i = 3; i < 6; ++i) CHECK(checks[i]["passed"] == true);
    const std::string sha = repo.events("Committed")[0]["commit"];
    const auto ts = repo.git({"show", sha + ":frontend/src/orders.ts"});
    CHECK(ts.find("count: number = 3;") != std::string::npos);
    CHECK(ts.find("three") == std::string::npos);
    auto merged = repo.events("WorktreesMerged")[0];
    CHECK(merged["integration_passed"] == true);
    CHECK(merged["first_try"] == false);
  }
}
