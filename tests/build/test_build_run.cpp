// Whole builds: real git worktrees, scripted stream agents, the real worktree_merger and policy
// plugins, pytest and tsc as the integration commands. Each case asserts the events, what
// landed on fixhost/build-<run> and that the user's checkout stayed byte-identical.
#include <doctest/doctest.h>

#include <signal.h>

#include <csignal>
#include <thread>

#include "build_fixture.hpp"

using namespace fixhost::test;
using namespace fixhost::test::build;
using nlohmann::json;

namespace {

const json* stream_event(const std::vector<json>& evs, const std::string& stream) {
  for (const auto& e : evs)
    if (e["stream"] == stream) return &e;
  return nullptr;
}

std::string run_id_of(const BuildRepo& repo) {
  auto started = repo.events("RunStarted");
  REQUIRE_FALSE(started.empty());
  auto runs = repo.hostctl({"runs", "--json"});
  auto j = json::parse(runs.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  for (const auto& r : j)
    if (r.value("mode", "") == "build") return r["run_id"].get<std::string>();
  FAIL("no build run in `hostctl runs`: " << runs.out);
  return "";
}

}  // namespace

TEST_CASE("a correct build: contract first, backend and frontend in parallel, tests last, one squashed commit") {
  BuildRepo repo;
  const std::string head = repo.rev("HEAD");
  const auto before = checkout_bytes(repo.dir());
  auto r = repo.build(good_scenario(), manifest());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto j = json_of(r);
  CHECK(j["landed"] == true);
  const std::string run = j["run_id"];

  auto finished = repo.events("StreamFinished");
  REQUIRE(finished.size() == 4);
  for (const auto& f : finished) CHECK(f["outcome"] == "ok");
  const auto* contract = stream_event(finished, "contract");
  const auto* backend = stream_event(finished, "backend");
  const auto* frontend = stream_event(finished, "frontend");
  const auto* tests = stream_event(finished, "tests");
  REQUIRE((contract && backend && frontend && tests));

  // Backend and frontend started from the contract stream's commit, tests from their merge.
  auto created = repo.events("WorktreeCreated");
  CHECK((*stream_event(created, "backend"))["base_commit"] == (*contract)["commit"]);
  CHECK((*stream_event(created, "frontend"))["base_commit"] == (*contract)["commit"]);
  CHECK((*stream_event(created, "contract"))["base_commit"] == head);
  const std::string tests_base = (*stream_event(created, "tests"))["base_commit"];
  auto parents = repo.git({"rev-list", "--parents", "-n", "1", tests_base});
  CHECK(parents.find((*backend)["commit"].get<std::string>()) != std::string::npos);
  CHECK(parents.find((*frontend)["commit"].get<std::string>()) != std::string::npos);
  CHECK((*stream_event(created, "backend"))["branch"] == "fixhost/build-" + run + "-backend");

  // They really overlapped in time.
  auto start = [](const json* e) { return (*e)["started_ms"].get<std::int64_t>(); };
  auto end = [](const json* e) { return (*e)["started_ms"].get<std::int64_t>() + (*e)["duration_ms"].get<std::int64_t>(); };
  CHECK(start(backend) < end(frontend));
  CHECK(start(frontend) < end(backend));
  CHECK(start(backend) >= end(contract) - 50);
  CHECK(start(tests) >= std::max(end(backend), end(frontend)) - 50);

  auto plans = repo.events("MergePlanned");
  REQUIRE(plans.size() == 1);
  CHECK(plans[0]["order"] == json::array({"contract", "backend", "frontend", "tests"}));
  auto checks = repo.events("IntegrationChecked");
  REQUIRE(checks.size() == 3);
  CHECK(checks[0]["kind"] == "contract_check");
  CHECK(checks[1]["kind"] == "tests");
  CHECK(checks[2]["kind"] == "types");
  for (const auto& c : checks) CHECK_MESSAGE(c["passed"] == true, c["output"]["data"]);

  // One squashed commit on fixhost/build-<run>, parent the user's HEAD, naming the feature,
  // the spec and each stream's summary.
  auto committed = repo.events("Committed");
  REQUIRE(committed.size() == 1);
  CHECK(committed[0]["branch"] == "fixhost/build-" + run);
  const std::string sha = committed[0]["commit"];
  CHECK(repo.rev("fixhost/build-" + run) == sha);
  CHECK(repo.rev(sha + "^") == head);
  CHECK(run_in(repo.dir(), {"git", "rev-parse", "-q", "--verify", sha + "^2"}).out.empty());
  auto msg = repo.git({"log", "-1", "--format=%B", sha});
  CHECK(msg.find("order history") != std::string::npos);
  CHECK(msg.find("docs/specs/orders.md") != std::string::npos);
  CHECK(msg.find("total() over Order[]") != std::string::npos);
  auto files = repo.git({"show", "--name-only", "--format=", sha});
  for (const char* f : {"backend/orders.py", "frontend/src/orders.ts", "tests/test_orders.py", "contract/openapi.json"})
    CHECK(files.find(f) != std::string::npos);

  auto merged = repo.events("WorktreesMerged");
  REQUIRE(merged.size() == 1);
  CHECK(merged[0]["integration_passed"] == true);
  CHECK(merged[0]["critical_ms"].get<std::int64_t>() > 0);
  // The serial sum is the streams' durations added up (exact, not a time bound).
  std::int64_t serial = 0;
  for (const auto& f : finished) serial += f["duration_ms"].get<std::int64_t>();
  CHECK(merged[0]["serial_ms"].get<std::int64_t>() == serial);
  CHECK(repo.events("ReportWritten").size() == 1);

  // The user's branch and checkout are untouched.
  CHECK(repo.rev("HEAD") == head);
  CHECK(repo.rev("main") == head);
  CHECK(checkout_bytes(repo.dir()) == before);

  // Replay re-decides the merge from the recorded facts: the same plugin, the same decision.
  auto replay = repo.hostctl({"replay", run, "--json"});
  CHECK_MESSAGE(replay.code == 0, replay.out << replay.err);

  // stats --mode build reads the figures back.
  auto stats = json_of(repo.hostctl({"stats", "--json", "--mode", "build"}));
  CHECK(stats["build"]["merges"]["value"] == 1);
  CHECK(stats["build"]["contract_accuracy"]["value"] == 1.0);
}

TEST_CASE("a stream that writes outside what it owns fails, with the stray paths, and nothing lands") {
  BuildRepo repo;
  auto sc = good_scenario();
  sc["backend"]["write"]["frontend/src/hack.ts"] = "export const x = 1;\n";
  auto r = repo.build(sc, manifest());
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto finished = repo.events("StreamFinished");
  const auto* backend = stream_event(finished, "backend");
  REQUIRE(backend);
  CHECK((*backend)["outcome"] == "policy");
  CHECK((*backend)["stray"] == json::array({"frontend/src/hack.ts"}));
  CHECK((*backend)["commit"] == "");
  CHECK((*stream_event(finished, "tests"))["outcome"] == "skipped");
  auto plans = repo.events("MergePlanned");
  REQUIRE(plans.size() == 1);
  CHECK(plans[0]["excluded"].size() == 2);
  CHECK(repo.events("Committed").empty());
  auto merged = repo.events("WorktreesMerged");
  REQUIRE(merged.size() == 1);
  CHECK(merged[0]["failure_cause"] == "stream");
  CHECK_FALSE(repo.has_branch("fixhost/build-" + run_id_of(repo)));
}

TEST_CASE("two streams editing a shared file: three-way without a conflict lands, with one stops") {
  SUBCASE("different lines merge") {
    BuildRepo repo;
    auto sc = good_scenario();
    sc["backend"]["replace"]["package.json"] = {"\"field0\": 0", "\"field0\": \"backend\""};
    sc["frontend"]["replace"]["package.json"] = {"\"field7\": 7", "\"field7\": \"frontend\""};
    auto r = repo.build(sc, manifest());
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto plans = repo.events("MergePlanned");
    REQUIRE(plans[0]["decisions"].size() == 1);
    CHECK(plans[0]["decisions"][0]["file"] == "package.json");
    CHECK(plans[0]["decisions"][0]["resolution"] == "three_way");
    auto sha = repo.events("Committed")[0]["commit"].get<std::string>();
    auto pkg = repo.git({"show", sha + ":package.json"});
    CHECK(pkg.find("\"field0\": \"backend\"") != std::string::npos);
    CHECK(pkg.find("\"field7\": \"frontend\"") != std::string::npos);
    CHECK(repo.events("MergeConflict").empty());
  }
  SUBCASE("the same line conflicts: MergeConflict with the hunks, nothing lands") {
    BuildRepo repo;
    auto sc = good_scenario();
    sc["backend"]["replace"]["package.json"] = {"\"version\": \"1.0.0\"", "\"version\": \"1.1.0\""};
    sc["frontend"]["replace"]["package.json"] = {"\"version\": \"1.0.0\"", "\"version\": \"2.0.0\""};
    auto r = repo.build(sc, manifest());
    INFO(r.out << r.err);
    CHECK(r.code == 1);
    auto conflicts = repo.events("MergeConflict");
    REQUIRE(conflicts.size() == 1);
    CHECK(conflicts[0]["file"] == "package.json");
    CHECK(conflicts[0]["resolution"] == "manual");
    CHECK(conflicts[0]["hunks"]["data"].get<std::string>().find("<<<<<<<") != std::string::npos);
    CHECK(conflicts[0]["streams"] == json::array({"backend", "frontend"}));
    CHECK(repo.events("Committed").empty());
    CHECK(repo.events("WorktreesMerged")[0]["failure_cause"] == "conflict");
    CHECK(repo.events("IntegrationChecked").empty());  // stopped before integration
    // Found when the tests stream's base was merged from backend and frontend: it never ran.
    CHECK((*stream_event(repo.events("StreamFinished"), "tests"))["outcome"] == "skipped");
  }
}

TEST_CASE("a frontend that contradicts the contract: the contract wins and tsc catches the frontend") {
  BuildRepo repo;
  auto sc = good_scenario();
  // The frontend rewrites the generated types (total as a string) and codes against its version.
  sc["frontend"]["write"]["frontend/src/api/types.ts"] =
      k_types_v1 + "\nexport interface Order {\n  id: number;\n  total: string;\n}\n";
  sc["frontend"]["write"]["frontend/src/orders.ts"] =
      "import { Order } from \"./api/types\";\n\nexport function label(o: Order): string {\n  return o.total.toUpperCase();\n}\n";
  auto r = repo.build(sc, manifest());
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto plans = repo.events("MergePlanned");
  REQUIRE(plans.size() == 1);
  REQUIRE(plans[0]["decisions"].size() == 1);
  CHECK(plans[0]["decisions"][0]["file"] == "frontend/src/api/types.ts");
  CHECK(plans[0]["decisions"][0]["resolution"] == "contract_wins");
  auto conflicts = repo.events("MergeConflict");
  REQUIRE(conflicts.size() == 1);
  CHECK(conflicts[0]["resolution"] == "contract_wins");
  CHECK(conflicts[0]["stream"] == "frontend");
  auto checks = repo.events("IntegrationChecked");
  REQUIRE(checks.size() == 3);
  CHECK(checks[0]["passed"] == true);  // the contract's own types are consistent
  CHECK(checks[2]["kind"] == "types");
  CHECK(checks[2]["passed"] == false);
  CHECK(checks[2]["owners"] == json::array({"frontend"}));
  CHECK(repo.events("WorktreesMerged")[0]["failure_cause"] == "types");
  CHECK(repo.events("Committed").empty());
}

TEST_CASE("a stream that hangs is killed at its budget, what depends on it is skipped") {
  BuildRepo repo;
  auto sc = good_scenario();
  sc["backend"]["hang"] = true;
  auto r = repo.build(sc, manifest({{"backend", "budget_s = 2"}}));
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto finished = repo.events("StreamFinished");
  const auto* backend = stream_event(finished, "backend");
  REQUIRE(backend);
  CHECK((*backend)["outcome"] == "budget_exceeded");
  CHECK((*backend)["duration_ms"].get<std::int64_t>() < 30000);
  CHECK((*stream_event(finished, "frontend"))["outcome"] == "ok");
  CHECK((*stream_event(finished, "tests"))["outcome"] == "skipped");
  auto budget = repo.events("BudgetExceeded");
  REQUIRE(budget.size() == 1);
  CHECK(budget[0]["test_id"] == "stream:backend");
  CHECK(repo.events("Committed").empty());
}

TEST_CASE("a stream that commits or moves HEAD fails on git tampering") {
  BuildRepo repo;
  auto sc = good_scenario();
  // The commit itself is refused by the sandbox (git's objects are read-only there); moving HEAD
  // in its own worktree is not, and is caught on the snapshots.
  sc["frontend"]["run"] = json::array({json::array({"git", "-c", "user.name=a", "-c", "user.email=a@b", "commit",
                                                    "-q", "--allow-empty", "-m", "sneaky"}),
                                       json::array({"git", "checkout", "-q", "--detach"})});
  auto r = repo.build(sc, manifest());
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto finished = repo.events("StreamFinished");
  const auto* frontend = stream_event(finished, "frontend");
  REQUIRE(frontend);
  CHECK((*frontend)["outcome"] == "policy");
  CHECK((*frontend)["detail"].get<std::string>().find("git_tampering") != std::string::npos);
  bool tampering = false;
  for (const auto& v : repo.events("PolicyViolation"))
    if (v["rule"] == "git_tampering" && v["test_id"] == "stream:frontend") tampering = true;
  CHECK(tampering);
  CHECK(repo.events("Committed").empty());
  // The backend, running at the same time, is not blamed for it.
  CHECK((*stream_event(finished, "backend"))["outcome"] == "ok");
}

TEST_CASE("SIGKILL of hostctl mid-build: the checkout is untouched, runs lists the stale worktrees, discard cleans") {
  BuildRepo repo;
  const std::string head = repo.rev("HEAD");
  const auto before = checkout_bytes(repo.dir());
  auto sc = good_scenario();
  sc["backend"]["sleep"] = 30;
  sc["frontend"]["sleep"] = 30;
  write_file(repo.manifest_path(), manifest());
  const auto pidfile = repo.dir().string() + ".pid";
  std::thread bg([&] {
    // hostctl in the background; its pid is written for the kill.
    run_in(repo.dir(),
           {"/bin/sh", "-c", "\"$0\" build --manifest \"$1\" & echo $! > \"$2\"; wait", FIXHOST_HOSTCTL,
            repo.manifest_path().string(), pidfile},
           {{"BUILD_SCENARIO", sc.dump()}});
  });
  // Wait until backend and frontend are running (their attempts started), then SIGKILL.
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    running = repo.events("AttemptStarted").size() >= 3;
  }
  REQUIRE(running);
  const int pid = std::stoi(read_file(pidfile));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  bg.join();
  std::filesystem::remove(pidfile);

  CHECK(repo.rev("HEAD") == head);
  CHECK(repo.rev("main") == head);
  CHECK(checkout_bytes(repo.dir()) == before);
  const std::string run = run_id_of(repo);
  auto runs = json_of(repo.hostctl({"runs", "--json"}));
  json mine;
  for (const auto& r : runs)
    if (r["run_id"] == run) mine = r;
  CHECK(mine["outcome"] == "aborted");
  CHECK(mine["worktrees"].size() == 3);  // contract, backend, frontend
  auto table = repo.hostctl({"runs"});
  CHECK(table.out.find("3 stale worktrees (hostctl discard " + run + ")") != std::string::npos);

  // The contract stream's commit landed nowhere: discard refuses without --force.
  CHECK(repo.has_branch("fixhost/build-" + run + "-contract"));
  auto refused = repo.hostctl({"discard", run});
  CHECK(refused.code == 1);
  CHECK(refused.err.find("fixhost/build-" + run + "-contract") != std::string::npos);
  CHECK(repo.has_branch("fixhost/build-" + run + "-contract"));
  CHECK(std::filesystem::exists(repo.store() / "worktrees" / run / "backend"));
  auto forced = repo.hostctl({"discard", run, "--force", "--json"});
  INFO(forced.out << forced.err);
  CHECK(forced.code == 0);
  CHECK_FALSE(repo.has_branch("fixhost/build-" + run + "-contract"));
  CHECK_FALSE(repo.has_branch("fixhost/build-" + run + "-backend"));
  CHECK_FALSE(std::filesystem::exists(repo.store() / "worktrees" / run));
  auto wts = repo.git({"worktree", "list"});
  CHECK(wts.find(".fixhost") == std::string::npos);
  CHECK(checkout_bytes(repo.dir()) == before);
}

TEST_CASE("discard of a landed and approved build removes everything without --force") {
  BuildRepo repo;
  auto r = repo.build(good_scenario(), manifest());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::string run = json_of(r)["run_id"];
  auto unapproved = repo.hostctl({"discard", run});
  CHECK(unapproved.code == 1);  // landed on its branch, but not in the user's: still unlanded work
  auto approve = repo.hostctl({"approve", run});
  INFO(approve.out << approve.err);
  REQUIRE(approve.code == 0);
  CHECK(repo.git({"show", "main:backend/orders.py"}).find("order_history") != std::string::npos);
  auto d = repo.hostctl({"discard", run, "--json"});
  CHECK(d.code == 0);
  CHECK_FALSE(repo.has_branch("fixhost/build-" + run));
  CHECK_FALSE(repo.has_branch("fixhost/build-" + run + "-frontend"));
}

TEST_CASE("--jobs 1 runs one stream at a time, a non-test stream that edits a test file fails (policy)") {
  BuildRepo repo;
  auto sc = good_scenario();
  sc["frontend"]["write"]["frontend/src/orders.test.ts"] = "test('x', () => {});\n";
  auto r = repo.build(sc, manifest(), {"--jobs", "1"});
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  auto finished = repo.events("StreamFinished");
  const auto* backend = stream_event(finished, "backend");
  const auto* frontend = stream_event(finished, "frontend");
  REQUIRE((backend && frontend));
  // One after the other: the second starts after the first ended.
  auto start = [](const json* e) { return (*e)["started_ms"].get<std::int64_t>(); };
  auto end = [](const json* e) { return (*e)["started_ms"].get<std::int64_t>() + (*e)["duration_ms"].get<std::int64_t>(); };
  CHECK((start(frontend) >= end(backend) - 50 || start(backend) >= end(frontend) - 50));
  CHECK((*backend)["outcome"] == "ok");
  CHECK((*frontend)["outcome"] == "policy");
  CHECK((*frontend)["detail"].get<std::string>().find("test_edited") != std::string::npos);
  CHECK(repo.events("Committed").empty());
}

TEST_CASE("--fix hands an integration test failure to the fix loop, the fix lands in the squashed commit") {
  BuildRepo repo;
  auto sc = good_scenario();
  sc["backend"]["write"]["backend/orders.py"] = "def order_history():\n    return [{\"id\": 2, \"total\": 2.5}]\n";
  const std::string fixer = "/usr/bin/python3 " + std::string(FIXHOST_SOURCE_DIR) + "/tests/build/fix_agent.py";
  SUBCASE("without --fix nothing lands") {
    auto r = repo.build(sc, manifest());
    CHECK(r.code == 1);
    CHECK(repo.events("WorktreesMerged")[0]["failure_cause"] == "tests");
  }
  SUBCASE("with --fix") {
    auto r = repo.build(sc, manifest(), {"--fix", "--fix-agent", fixer});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto resolved = repo.events("FailureResolved");
    REQUIRE(resolved.size() == 1);
    CHECK(resolved[0]["test_id"].get<std::string>().find("test_orders") != std::string::npos);
    auto checks = repo.events("IntegrationChecked");
    REQUIRE(checks.size() == 6);  // three, then three again after the fix
    CHECK(checks[1]["passed"] == false);
    CHECK(checks[4]["passed"] == true);
    const std::string sha = repo.events("Committed")[0]["commit"];
    CHECK(repo.git({"show", sha + ":backend/orders.py"}).find("\"id\": 1") != std::string::npos);
    auto merged = repo.events("WorktreesMerged")[0];
    CHECK(merged["integration_passed"] == true);
    CHECK(merged["first_try"] == false);  // so it does not count for contract accuracy
  }
}

TEST_CASE("code a stream plants runs contained when the integration commands and stream checks run it") {
  BuildRepo repo;
  const auto before = checkout_bytes(repo.dir());
  // The backend's module and the tests stream's conftest.py write into the user's checkout when
  // imported: by the backend's own check, and by the integration's pytest. Both run in
  // worktrees holding the streams' work.
  const std::string escape = (repo.dir() / ".env").string();
  const std::string conftest = "import pathlib\ntry:\n    pathlib.Path(" + json(escape).dump() +
                               ").write_text('planted')\nexcept OSError:\n    pass\n";
  auto sc = good_scenario();
  sc["backend"]["write"]["backend/orders.py"] =
      conftest + "\n\ndef order_history():\n    return [{\"id\": 1, \"total\": 2.5}]\n";
  sc["tests"]["write"]["tests/conftest.py"] = conftest;
  auto r = repo.build(sc, manifest({{"backend", "[streams.check]\ncommand = [\"/usr/bin/python3\", \"-c\", "
                                                "\"import backend.orders\"]"}}));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_FALSE(std::filesystem::exists(escape));
  CHECK(checkout_bytes(repo.dir()) == before);
  // It ran: the integration passed and the build landed with the planted file in it.
  auto checked = repo.events("IntegrationChecked");
  CHECK(checked.size() == 3);
  for (const auto& c : checked) CHECK(c["passed"] == true);
  CHECK(repo.git({"show", "fixhost/build-" + run_id_of(repo) + ":tests/conftest.py"}).find("planted") != std::string::npos);
}
