// hostctl stats against a known history in a real store (history.hpp): every figure's exact
// value (worked out by hand from docs/STATS.md), the projection against --rebuild's full scan,
// catch-up from a checkpoint, and a read-only answer while another process holds the store.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fixhost/test/files.hpp"

#include "fixhost/host/stats.hpp"
#include "history.hpp"

extern char** environ;

namespace fs = std::filesystem;
using namespace fixhost;
using json = nlohmann::json;
using fixhost::test::read_file;
using fixhost::test::TempDir;
using fixhost::test::write_file;

namespace {

struct Ran {
  int exit_code = -1;
  std::string out, err;
};

// Runs a program (argv, no shell) and collects its stdout, stderr and exit code.
Ran run(std::vector<std::string> args, const fs::path& scratch) {
  const fs::path out_file = scratch / "stdout.txt", err_file = scratch / "stderr.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Ran r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_file);
  r.err = slurp(err_file);
  return r;
}

Ran hostctl(const fs::path& store, std::vector<std::string> args, const fs::path& scratch) {
  args.insert(args.begin(), {FIXHOST_HOSTCTL, "--store", store.string(), "stats"});
  return run(args, scratch);
}

json stats_json(const fs::path& store, std::vector<std::string> args, const fs::path& scratch) {
  args.push_back("--json");
  auto r = hostctl(store, args, scratch);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// ---- expected figures ---------------------------------------------------------------------

json fig(std::int64_t v, std::uint64_t count) { return {{"value", v}, {"count", count}}; }
json dfig(double v, std::uint64_t count) { return {{"value", v}, {"count", count}}; }
json null_fig() { return {{"value", nullptr}, {"count", 0}}; }
// A count over `runs` runs: null when there were none.
json cnt(std::int64_t v, std::uint64_t runs) { return runs ? fig(v, runs) : null_fig(); }

json keyed(const std::vector<std::string>& keys, const std::map<std::string, std::int64_t>& values, std::uint64_t runs) {
  json j = json::object();
  for (const auto& k : keys) j[k] = cnt(values.count(k) ? values.at(k) : 0, runs);
  return j;
}

const std::vector<std::string> k_reasons = {"test_failed", "policy", "regression", "budget", "gave_up"};
const std::vector<std::string> k_rules = {"protected_path", "test_deleted", "skip_marker", "assertion_weakened",
                                          "test_edited", "git_tampering", "path_escape", "tests_collected_dropped"};
const std::vector<std::string> k_unfixable = {"attempts", "test_failed", "policy",        "regression", "budget",
                                              "gave_up",  "unverified",  "not_attempted", "none"};
const std::vector<std::string> k_cats = {"missing_dependency", "type_error", "logic_bug", "stale_mock",
                                         "env_mismatch", "flaky", "unknown"};

struct Af {
  std::int64_t failures = 0, fixed = 0, unfixable = 0, flaky = 0, cured = 0;
  json fix_success_rate = null_fig(), avg_attempts = null_fig(), regression_rate = null_fig(), flaky_rate = null_fig(),
       median = null_fig();
  double saved = 0;  // minutes; null when nothing was fixed
  std::map<std::string, std::int64_t> reverts, violations, unfixable_reasons;
  double cost = 0;  // Σ known attempt costs, over `costed` attempts; `cost_unknown` reported none
  std::uint64_t costed = 0, cost_unknown = 0;
};

json usd(const json& v, std::uint64_t count) { return {{"value", v}, {"count", count}, {"unit", "usd"}}; }

json autofix(const Af& a, std::uint64_t runs, bool with_runs, double minutes = 30) {
  json j = json::object();
  if (with_runs) j["runs"] = cnt(static_cast<std::int64_t>(runs), runs);
  j["failures_detected"] = cnt(a.failures, runs);
  j["fixed"] = cnt(a.fixed, runs);
  j["unfixable"] = cnt(a.unfixable, runs);
  j["flaky"] = cnt(a.flaky, runs);
  j["cured"] = cnt(a.cured, runs);
  j["fix_success_rate"] = a.fix_success_rate;
  j["avg_attempts_per_fix"] = a.avg_attempts;
  j["regression_rate"] = a.regression_rate;
  j["flaky_rate"] = a.flaky_rate;
  j["median_wall_ms_per_fix"] = a.median;
  json saved = a.fixed ? dfig(a.saved, static_cast<std::uint64_t>(a.fixed)) : null_fig();
  saved["estimate"] = true;
  saved["minutes_per_manual_fix"] = minutes;
  j["estimated_time_saved_min"] = saved;
  j["reverts_by_reason"] = keyed(k_reasons, a.reverts, runs);
  j["policy_violations_by_rule"] = keyed(k_rules, a.violations, runs);
  j["unfixable_by_reason"] = keyed(k_unfixable, a.unfixable_reasons, runs);
  const json spent = a.costed ? json(a.cost) : json(nullptr);
  j["cost_usd"] = usd(spent, a.costed);
  if (with_runs) j["cost_per_run_usd"] = usd(a.costed && runs ? json(a.cost / static_cast<double>(runs)) : json(nullptr), runs);
  const auto fixed = static_cast<std::uint64_t>(a.fixed);
  j["cost_per_fixed_failure_usd"] = usd(a.costed && fixed ? json(a.cost / static_cast<double>(fixed)) : json(nullptr), fixed);
  j["attempts_cost_unknown"] = cnt(static_cast<std::int64_t>(a.cost_unknown), runs);
  return j;
}

// autofix.cost_by_category.<category> for that category's figures.
json cost_entry(const Af& a) {
  json e = usd(a.costed ? json(a.cost) : json(nullptr), a.costed);
  e["attempts_cost_unknown"] = a.cost_unknown;
  e["fixed"] = a.fixed;
  e["cost_per_fixed_failure_usd"] = a.costed && a.fixed ? json(a.cost / static_cast<double>(a.fixed)) : json(nullptr);
  return e;
}

json zero_category(std::uint64_t runs) {
  Af z;
  return autofix(z, runs, false);
}

// The whole report for the history with no filter, worked out by hand:
//  autofix runs af-1, af-2, af-old (det-1 is a detect run, orphan never started);
//  failures t1 t2 t3 t4 (af-1), u1 u2 (af-2), z1 (af-old) = 7; t9 came from a verify sweep.
//  fixed t1 (2 attempts, 70-10 = 60 s), t2 (1, 30 s), u1 (1, 45 s), z1 (1, 20 s) = 4;
//  unfixable t3 (last revert gave_up), u2 (regression) = 2; flaky t4 = 1.
json expected_full(std::uint64_t last_seq) {
  const std::uint64_t runs = 3;
  Af all;
  all.failures = 7, all.fixed = 4, all.unfixable = 2, all.flaky = 1;
  all.fix_success_rate = dfig(4.0 / 6.0, 6);
  all.avg_attempts = dfig(5.0 / 4.0, 4);
  all.regression_rate = dfig(1.0 / 4.0, 4);
  all.flaky_rate = dfig(1.0 / 7.0, 7);
  all.median = dfig((30000.0 + 45000.0) / 2.0, 4);  // 20 30 45 60 s
  all.saved = 120;
  all.reverts = {{"policy", 1}, {"test_failed", 1}, {"gave_up", 1}, {"regression", 1}};
  all.violations = {{"test_edited", 1}, {"protected_path", 1}};
  all.unfixable_reasons = {{"gave_up", 1}, {"regression", 1}};
  all.cost = 0.25, all.costed = 1;  // t1's first attempt; no other AttemptFinished

  Af logic;  // t1 t3 (af-1), u2 (af-2), z1 (af-old)
  logic.failures = 4, logic.fixed = 2, logic.unfixable = 2;
  logic.fix_success_rate = dfig(2.0 / 4.0, 4);
  logic.avg_attempts = dfig(3.0 / 2.0, 2);
  logic.regression_rate = dfig(1.0 / 2.0, 2);
  logic.flaky_rate = dfig(0.0, 4);
  logic.median = dfig((20000.0 + 60000.0) / 2.0, 2);
  logic.saved = 60;
  logic.reverts = all.reverts;
  logic.violations = all.violations;
  logic.unfixable_reasons = all.unfixable_reasons;
  logic.cost = 0.25, logic.costed = 1;

  auto one_fix = [](double wall_ms) {
    Af a;
    a.failures = 1, a.fixed = 1;
    a.fix_success_rate = dfig(1.0, 1);
    a.avg_attempts = dfig(1.0, 1);
    a.regression_rate = dfig(0.0, 1);
    a.flaky_rate = dfig(0.0, 1);
    a.median = dfig(wall_ms, 1);
    a.saved = 30;
    return a;
  };
  Af missing;  // t4: its first classification; flaky, never handed to the agent
  missing.failures = 1, missing.flaky = 1;
  missing.flaky_rate = dfig(1.0, 1);

  json cats = json::object();
  cats["missing_dependency"] = autofix(missing, runs, false);
  cats["type_error"] = autofix(one_fix(30000), runs, false);
  cats["logic_bug"] = autofix(logic, runs, false);
  cats["stale_mock"] = autofix(one_fix(45000), runs, false);
  for (const char* c : {"env_mismatch", "flaky", "unknown"}) cats[c] = zero_category(runs);
  json a = autofix(all, runs, true);
  a["by_category"] = cats;
  json spend = json::object();
  spend["missing_dependency"] = cost_entry(missing);
  spend["type_error"] = cost_entry(one_fix(30000));
  spend["logic_bug"] = cost_entry(logic);
  spend["stale_mock"] = cost_entry(one_fix(45000));
  for (const char* c : {"env_mismatch", "flaky", "unknown"}) spend[c] = cost_entry(Af{});
  a["cost_by_category"] = spend;

  json j;
  j["as_of_seq"] = last_seq;
  j["source"] = "projection";
  j["filters"] = {{"run", nullptr}, {"since", nullptr}, {"since_us", nullptr}, {"mode", nullptr}};
  j["runs"] = fig(8, 8);
  j["failed_starts"] = fig(0, 8);
  j["runs_by_mode"] = {{"detect", fig(1, 8)}, {"autofix", fig(3, 8)}, {"build", fig(2, 8)},
                       {"heal", fig(2, 8)},   {"replay", fig(0, 8)},  {"sample", fig(0, 8)}};
  j["autofix"] = a;
  // PRs 101 (300 s after I1 was ingested), 102 (1600 s after I2 was first seen, by det-1), 103 (200 s);
  // checked 101 (stopped) and 102 (came back); resolved 101 merged, 102 merged with 2 human
  // commits, 103 closed; 999 was never opened.
  j["heal"] = {{"runs", fig(2, 2)},
               {"prs_opened", fig(3, 2)},
               {"mean_time_to_pr_ms", dfig(2100000000.0 / 3.0 / 1000.0, 3)},
               {"fix_success_rate", dfig(1.0 / 2.0, 2)},
               {"false_positive_rate", dfig(2.0 / 3.0, 3)},
               {"human_override_rate", dfig(1.0 / 2.0, 2)},
               {"reproductions_failed", fig(1, 3)},  // I4 of I1, I4, I5
               {"cost_usd", usd(nullptr, 0)},
               {"cost_per_run_usd", usd(nullptr, 2)},
               {"attempts_cost_unknown", fig(0, 2)}};
  // build-1: 1000 ms wall, 3500 serial, integration failed, frontend conflicted twice (4 streams);
  // build-2: 500 / 800, passed (2 streams).
  j["build"] = {{"runs", fig(2, 2)},
                {"merges", fig(2, 2)},
                {"parallel_wall_ms", fig(1500, 2)},
                {"serial_sum_ms", fig(4300, 2)},
                {"parallel_speedup", dfig(4300.0 / 1500.0, 2)},
                {"integration_failure_rate", dfig(1.0 / 2.0, 2)},
                {"merge_conflicts", fig(2, 2)},
                {"streams_without_conflict", dfig(5.0 / 6.0, 6)},
                // critical paths 900 and 450; build-1 failed on a conflict; build-2 passed first try
                {"critical_path_ms", fig(1350, 2)},
                {"build_overhead", dfig(1500.0 / 1350.0, 2)},
                {"integration_failures_stream", dfig(0, 2)},
                {"integration_failures_conflict", dfig(1.0 / 2.0, 2)},
                {"integration_failures_contract_check", dfig(0, 2)},
                {"integration_failures_tests", dfig(0, 2)},
                {"integration_failures_lint", dfig(0, 2)},
                {"integration_failures_types", dfig(0, 2)},
                {"contract_accuracy", dfig(1.0 / 2.0, 2)},
                {"cost_usd", usd(nullptr, 0)},
                {"cost_per_run_usd", usd(nullptr, 2)},
                {"attempts_cost_unknown", fig(0, 2)}};
  return j;
}

// Diffs two reports key by key so a failure names the figure.
void check_same(const json& got, const json& want, const std::string& path = "") {
  if (want.is_object() && got.is_object()) {
    for (const auto& [k, v] : want.items()) {
      INFO("missing key " << path << "." << k);
      REQUIRE(got.contains(k));
      check_same(got[k], v, path + "." + k);
    }
    for (const auto& [k, v] : got.items()) {
      INFO("unexpected key " << path << "." << k);
      CHECK(want.contains(k));
    }
    return;
  }
  INFO(path << ": got " << got.dump() << ", want " << want.dump());
  CHECK(got == want);
}

std::uint64_t write_store(const fs::path& dir, bool with_projection, std::size_t batch = 3) {
  store::StoreOptions so;
  so.sync = false;
  if (with_projection) so.projections.push_back(host::stats_projection());
  auto log = store::EventLog::open(dir, so);
  REQUIRE(log);
  stats_test::write_history(**log, batch);
  return (*log)->last_seq();
}

std::optional<store::ProjectionCheckpoint> checkpoint_of(const fs::path& dir) {
  store::StoreOptions so;
  so.writable = false;
  auto log = store::EventLog::open(dir, so);
  REQUIRE(log);
  auto c = (*log)->projection_checkpoint(host::k_stats_projection);
  REQUIRE(c);
  return *c;
}

json without_source(json j) {
  j.erase("source");
  return j;
}

}  // namespace

TEST_CASE("every figure has its exact value on a known history") {
  TempDir tmp;
  const auto store = tmp / "store";
  const std::uint64_t last = write_store(store, true);
  auto c = checkpoint_of(store);
  REQUIRE(c.has_value());
  CHECK(c->seq == last);
  CHECK(c->version == 5);

  check_same(stats_json(store, {}, tmp / ""), expected_full(last));

  SUBCASE("one run: af-2") {
    json j = stats_json(store, {"--run", "af-2"}, tmp / "");
    CHECK(j["filters"]["run"] == "af-2");
    CHECK(j["runs"] == fig(1, 1));
    CHECK(j["runs_by_mode"]["autofix"] == fig(1, 1));
    CHECK(j["runs_by_mode"]["heal"] == fig(0, 1));
    Af a;  // u1 fixed in 45 s; u2 reverted for a regression, unfixable
    a.failures = 2, a.fixed = 1, a.unfixable = 1;
    a.fix_success_rate = dfig(0.5, 2);
    a.avg_attempts = dfig(1.0, 1);
    a.regression_rate = dfig(1.0, 1);
    a.flaky_rate = dfig(0.0, 2);
    a.median = dfig(45000.0, 1);
    a.saved = 30;
    a.reverts = {{"regression", 1}};
    a.violations = {{"protected_path", 1}};
    a.unfixable_reasons = {{"regression", 1}};
    json want = autofix(a, 1, true);
    json got = j["autofix"];
    json got_cats = got["by_category"];
    got.erase("by_category");
    CHECK(got["cost_by_category"]["logic_bug"] == cost_entry(Af{}));  // af-2's attempts reported nothing
    got.erase("cost_by_category");
    check_same(got, want);
    Af logic;
    logic.failures = 1, logic.unfixable = 1;
    logic.fix_success_rate = dfig(0.0, 1);
    logic.flaky_rate = dfig(0.0, 1);
    logic.reverts = a.reverts;
    logic.violations = a.violations;
    logic.unfixable_reasons = a.unfixable_reasons;
    check_same(got_cats["logic_bug"], autofix(logic, 1, false));
    check_same(got_cats["type_error"], zero_category(1));
    // No heal or build run is selected: every figure there is null, counted over nothing.
    for (const auto& [k, v] : j["heal"].items()) CHECK((v["value"].is_null() && v["count"] == 0));
    for (const auto& [k, v] : j["build"].items()) CHECK((v["value"].is_null() && v["count"] == 0));
  }
  SUBCASE("PRs belong to the run that opened them") {
    json j = stats_json(store, {"--run", "heal-2"}, tmp / "");
    CHECK(j["heal"]["runs"] == fig(1, 1));
    CHECK(j["heal"]["prs_opened"] == fig(0, 1));
    CHECK(j["heal"]["mean_time_to_pr_ms"] == null_fig());
    CHECK(j["heal"]["false_positive_rate"] == null_fig());
    j = stats_json(store, {"--run", "heal-1"}, tmp / "");
    CHECK(j["heal"]["prs_opened"] == fig(3, 1));
    CHECK(j["heal"]["false_positive_rate"] == dfig(2.0 / 3.0, 3));
  }
  SUBCASE("since a date leaves out af-old") {
    json j = stats_json(store, {"--since", "2026-11-01"}, tmp / "");
    CHECK(j["filters"]["since"] == "2026-11-01");
    CHECK(j["filters"]["since_us"] == stats_test::utc_us(2026, 11, 1));
    CHECK(j["runs"] == fig(7, 7));
    const json& a = j["autofix"];
    CHECK(a["runs"] == fig(2, 2));
    CHECK(a["failures_detected"] == fig(6, 2));
    CHECK(a["fixed"] == fig(3, 2));
    CHECK(a["fix_success_rate"] == dfig(3.0 / 5.0, 5));
    CHECK(a["avg_attempts_per_fix"] == dfig(4.0 / 3.0, 3));
    CHECK(a["regression_rate"] == dfig(1.0 / 3.0, 3));
    CHECK(a["flaky_rate"] == dfig(1.0 / 6.0, 6));
    CHECK(a["median_wall_ms_per_fix"] == dfig(45000.0, 3));  // 30 45 60 s
    CHECK(a["estimated_time_saved_min"]["value"] == 90.0);
    CHECK(a["by_category"]["logic_bug"]["median_wall_ms_per_fix"] == dfig(60000.0, 1));
  }
  SUBCASE("mode selects runs and one section") {
    json j = stats_json(store, {"--mode", "heal"}, tmp / "");
    CHECK(j["runs"] == fig(2, 2));
    CHECK_FALSE(j.contains("autofix"));
    CHECK_FALSE(j.contains("build"));
    check_same(j["heal"], expected_full(last)["heal"]);
    CHECK(j["runs_by_mode"].size() == 1);
  }
  SUBCASE("minutes per manual fix") {
    json j = stats_json(store, {"--minutes-per-manual-fix", "45"}, tmp / "");
    CHECK(j["autofix"]["estimated_time_saved_min"]["value"] == 180.0);
    CHECK(j["autofix"]["estimated_time_saved_min"]["minutes_per_manual_fix"] == 45.0);
    CHECK(j["autofix"]["estimated_time_saved_min"]["estimate"] == true);
  }
  SUBCASE("the table shows metric, value and count") {
    auto r = hostctl(store, {}, tmp / "");
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("METRIC") != std::string::npos);
    CHECK(r.out.find("BASED ON") != std::string::npos);
    CHECK(r.out.find("fix success rate") != std::string::npos);
    CHECK(r.out.find("0.667") != std::string::npos);  // 4 of 6
    CHECK(r.out.find("estimate") != std::string::npos);
    CHECK(r.out.find("contract accuracy") != std::string::npos);
  }
}

TEST_CASE("--rebuild's full scan gives the projection's numbers") {
  TempDir tmp;
  const auto store = tmp / "store";
  write_store(store, true, 1);
  for (std::vector<std::string> q : {std::vector<std::string>{}, {"--run", "af-1"}, {"--since", "2026-11-06"},
                                     {"--mode", "build"}, {"--mode", "autofix", "--since", "2026-10-01"}}) {
    json proj = stats_json(store, q, tmp / "");
    q.push_back("--rebuild");
    json scan = stats_json(store, q, tmp / "");
    CHECK(proj["source"] == "projection");
    CHECK(scan["source"] == "scan");
    check_same(without_source(scan), without_source(proj));
  }
}

TEST_CASE("a store appended to without the projection is caught up from its checkpoint") {
  TempDir tmp;
  const auto store = tmp / "store";
  const std::uint64_t last = write_store(store, false);
  CHECK_FALSE(checkpoint_of(store).has_value());
  // Read-only: caught up in memory, nothing stored.
  check_same(stats_json(store, {}, tmp / ""), expected_full(last));
  CHECK_FALSE(checkpoint_of(store).has_value());
  {
    // Half of a store with the projection, the rest appended by a writer without it.
    store::StoreOptions so;
    so.sync = false;
    so.projections.push_back(host::stats_projection());
    auto log = store::EventLog::open(tmp / "half", so);
    REQUIRE(log);
    stats_test::write_extra_run(**log, "x-1");
  }
  {
    store::StoreOptions so;
    so.sync = false;
    auto log = store::EventLog::open(tmp / "half", so);
    REQUIRE(log);
    stats_test::write_history(**log, 5);
  }
  auto c = checkpoint_of(tmp / "half");
  REQUIRE(c.has_value());
  CHECK(c->seq == 7);
  json half = stats_json(tmp / "half", {}, tmp / "");
  CHECK(half["autofix"]["runs"] == fig(4, 4));
  check_same(without_source(half), without_source(stats_json(tmp / "half", {"--rebuild"}, tmp / "")));

  // A writable open with the projection folds the rest and stores it.
  {
    store::StoreOptions so;
    so.projections.push_back(host::stats_projection());
    auto log = store::EventLog::open(store, so);
    REQUIRE(log);
  }
  c = checkpoint_of(store);
  REQUIRE(c.has_value());
  CHECK(c->seq == last);
  check_same(stats_json(store, {}, tmp / ""), expected_full(last));
}

namespace {
// The stats fold under another version number, as a later fixhost would register it.
class OtherVersion final : public store::Projection {
 public:
  std::string name() const override { return host::stats_projection()->name(); }
  std::uint32_t version() const override { return 99; }
  Status apply(std::span<const events::Event> evs, store::ProjectionState& state) const override {
    state.put("s/ghost-of-v99", "not a summary");
    return host::stats_projection()->apply(evs, state);
  }
};
}  // namespace

TEST_CASE("deleted or other-version projection state is folded again") {
  TempDir tmp;
  const auto store = tmp / "store";
  const std::uint64_t last = write_store(store, true);
  {
    // Deleting the state: the next open folds it again from the first event.
    store::StoreOptions so;
    auto log = store::EventLog::open(store, so);
    REQUIRE(log);
    REQUIRE((*log)->reset_projection(host::k_stats_projection));
  }
  CHECK_FALSE(checkpoint_of(store).has_value());
  check_same(stats_json(store, {}, tmp / ""), expected_full(last));
  {
    store::StoreOptions so;
    so.projections.push_back(std::make_shared<OtherVersion>());
    auto log = store::EventLog::open(store, so);
    REQUIRE(log);
  }
  auto c = checkpoint_of(store);
  REQUIRE(c.has_value());
  CHECK(c->version == 99);
  // This build's version 2 ignores version 99's records (a read-only open folds in memory;
  // "s/ghost-of-v99" would not decode if it were read).
  check_same(stats_json(store, {}, tmp / ""), expected_full(last));
  {
    store::StoreOptions so;
    so.projections.push_back(host::stats_projection());
    auto log = store::EventLog::open(store, so);
    REQUIRE(log);
    // reset_projection of a registered projection folds it at once.
    REQUIRE((*log)->reset_projection(host::k_stats_projection));
    auto cp = (*log)->projection_checkpoint(host::k_stats_projection);
    REQUIRE(cp);
    REQUIRE(cp->has_value());
    CHECK((*cp)->seq == last);
  }
  c = checkpoint_of(store);
  REQUIRE(c.has_value());
  CHECK(c->version == 5);
  CHECK(c->seq == last);
  check_same(stats_json(store, {}, tmp / ""), expected_full(last));
}

namespace {
// The stats_writer helper, with pipes to its stdin and from its stdout.
class Writer {
 public:
  explicit Writer(std::vector<std::string> args) {
    args.insert(args.begin(), FIXHOST_STATS_WRITER);
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    REQUIRE(rc == 0);
  }
  ~Writer() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string read_line() {
    std::string line;
    char c;
    while (::read(out_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }
  void send(const std::string& line) {
    const std::string l = line + "\n";
    REQUIRE(::write(in_, l.data(), l.size()) == static_cast<ssize_t>(l.size()));
  }
  int finish() {
    ::close(in_);
    in_ = -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
};
}  // namespace

TEST_CASE("a read-only stats answers while another process holds the store") {
  TempDir tmp;
  const auto store = tmp / "store";
  for (bool with_projection : {true, false}) {
    CAPTURE(with_projection);
    fs::remove_all(store);
    std::vector<std::string> args = {store.string()};
    if (!with_projection) args.push_back("--no-projection");
    Writer w(args);
    REQUIRE(w.read_line() == "ready");
    // The writer still holds the lock, and its last writes may only be in its write-ahead log.
    json j = stats_json(store, {}, tmp / "");
    const std::uint64_t last = j["as_of_seq"].get<std::uint64_t>();
    check_same(j, expected_full(last));
    w.send("more extra-1");
    REQUIRE(w.read_line() == "ok");
    json k = stats_json(store, {}, tmp / "");
    CHECK(k["as_of_seq"].get<std::uint64_t>() == last + 7);
    CHECK(k["autofix"]["runs"] == fig(4, 4));
    CHECK(k["autofix"]["fixed"] == fig(5, 4));
    CHECK(k["autofix"]["by_category"]["type_error"]["median_wall_ms_per_fix"] == dfig(20000.0, 2));  // 10 and 30 s
    check_same(without_source(k), without_source(stats_json(store, {"--rebuild"}, tmp / "")));
    const int status = w.finish();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("bad arguments and missing stores exit 2 with a message") {
  TempDir tmp;
  const auto store = tmp / "store";
  write_store(store, true);
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& c : {Case{{"--since", "yesterday"}, "--since 'yesterday'"},
                        Case{{"--since", "2026-02-30"}, "--since '2026-02-30'"},
                        Case{{"--mode", "detect"}, "--mode 'detect'"},
                        Case{{"--run", "no-such-run"}, "no run 'no-such-run'"}}) {
    auto r = hostctl(store, c.args, tmp / "");
    CAPTURE(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.says) != std::string::npos);
    CHECK(r.out.empty());
  }
  auto r = hostctl(tmp / "nowhere", {}, tmp / "");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no fixhost store") != std::string::npos);
}

TEST_CASE("--since reads durations and dates") {
  const std::int64_t now = stats_test::utc_us(2026, 11, 30, 12);
  auto since = [&](const char* t) {
    auto r = host::parse_since(t, now);
    REQUIRE(r);
    return *r;
  };
  CHECK(since("30d") == now - 30LL * 86400 * 1000000);
  CHECK(since("12h") == now - 12LL * 3600 * 1000000);
  CHECK(since("90m") == now - 90LL * 60 * 1000000);
  CHECK(since("2w") == now - 14LL * 86400 * 1000000);
  CHECK(since("2026-11-01") == stats_test::utc_us(2026, 11, 1));
  for (const char* bad : {"", "d", "30", "30x", "-3d", "2026-13-01", "2026-11-1", "2026-11-01T00:00"})
    CHECK_FALSE(host::parse_since(bad, now));
}

// Issue 8: a run that never started is a failed start, not a run; a fix reverted for a
// regression or never committed is not a success nor time saved; cured failures are their
// own figure; unfixable_by_reason shows the recorded reasons.
TEST_CASE("issue 8: failed starts, reverted and uncommitted fixes, cured failures, recorded reasons") {
  TempDir tmp;
  const auto dir = tmp / "store";
  {
    store::StoreOptions so;
    so.sync = false;
    so.projections.push_back(host::stats_projection());
    auto log = store::EventLog::open(dir, so);
    REQUIRE(log);
    stats_test::Writer w(**log, 2);
    using namespace stats_test;
    const std::int64_t t0 = utc_us(2026, 12, 1, 10);
    w.add("refused", t0, started("autofix"));
    w.add("refused", t0 + 1, finished("error"));
    const std::string r = "af";
    w.add(r, t0, started("autofix"));
    const auto sf = w.add(r, t0 + 1, suite("detect"));
    for (const char* t : {"a", "b", "c", "d", "e"}) w.add(r, t0 + 2, detected(t), sf);
    w.add(r, t0 + 3, attempt("a", 1, "logic_bug"));
    w.add(r, t0 + 4, resolved("a", "fixed", 1));
    w.add(r, t0 + 5, reverted("a", "regression"));  // an older log: no second FailureResolved
    auto budget = resolved("b", "unfixable", 0, "the run's time budget ran out");
    budget.reason_kind = "budget";
    w.add(r, t0 + 6, budget);
    w.add(r, t0 + 7, attempt("c", 1, "logic_bug"));
    w.add(r, t0 + 8, resolved("c", "unverified", 1, "fixed, but not committed"));
    auto cured = resolved("d", "cured", 0);
    cured.resolved_by = "e";
    w.add(r, t0 + 9, cured);
    w.add(r, t0 + 9, attempt("e", 1, "logic_bug"));
    w.add(r, t0 + 10, resolved("e", "unverified", 1));
    w.add(r, t0 + 11, finished("unfixable"));
  }
  for (bool rebuild : {false, true}) {
    CAPTURE(rebuild);
    json j = stats_json(dir, rebuild ? std::vector<std::string>{"--rebuild"} : std::vector<std::string>{}, tmp / "");
    CHECK(j["runs"] == fig(1, 1));
    CHECK(j["failed_starts"] == fig(1, 2));
    CHECK(j["runs_by_mode"]["autofix"] == fig(1, 1));
    const json& a = j["autofix"];
    CHECK(a["runs"] == fig(1, 1));
    CHECK(a["failures_detected"] == fig(5, 1));
    CHECK(a["fixed"] == fig(0, 1));
    CHECK(a["cured"] == fig(1, 1));
    CHECK(a["unfixable"] == fig(4, 1));
    CHECK(a["estimated_time_saved_min"]["value"].is_null());
    CHECK(a["unfixable_by_reason"]["regression"] == fig(1, 1));
    CHECK(a["unfixable_by_reason"]["budget"] == fig(1, 1));
    CHECK(a["unfixable_by_reason"]["unverified"] == fig(2, 1));
    CHECK(a["unfixable_by_reason"]["none"] == fig(0, 1));
  }
}
