// What every attempt costs (docs/USAGE.md): the agent's usage file recorded in AttemptFinished,
// summed by `hostctl stats` and the report, unknown (never zero) when missing or malformed, and
// the cost rails max_cost_usd and max_attempt_cost_usd stopping a run with BudgetExceeded.
#include <cmath>

#include "fixhost/host/spend.hpp"
#include "project.hpp"

using namespace fixhost::test;

namespace {

const std::string k_usage = R"({"input_tokens": 1200, "output_tokens": 340, "cost_usd": 0.0125, "model": "m-1"})";

std::string quoted(const std::string& s) { return "'" + s + "'"; }
// AGENT_USAGE='<json>' inside the single-quoted --agent argument.
std::string usage_env(const std::string& json) { return "AGENT_USAGE='\\''" + json + "'\\''"; }

Cmd autofix_with(const Project& p, const std::string& env, const std::string& mode = "correct",
                 const std::string& extra = "") {
  return p.hostctl("autofix --json --agent " + quoted(env + " " + agent(mode)) + " " + extra);
}

nlohmann::json stats(const Project& p, const std::string& args = "") {
  auto r = p.hostctl("stats --json " + args);
  INFO(r.out);
  REQUIRE(r.code == 0);
  return Project::json_of(r);
}

bool near(const nlohmann::json& v, double want) { return v.is_number() && std::fabs(v.get<double>() - want) < 1e-9; }

}  // namespace

TEST_CASE("cost: the usage file an agent writes is recorded in AttemptFinished and summed exactly by stats and the report") {
  Project p;
  auto r = autofix_with(p, usage_env(k_usage));
  INFO(r.out);
  REQUIRE(r.code == 0);
  auto j = Project::json_of(r);
  auto fin = p.events("AttemptFinished");
  REQUIRE(fin.size() == 2);
  for (const auto& f : fin) {
    CHECK(f["usage"]["known"] == true);
    CHECK(f["usage"]["input_tokens"] == 1200);
    CHECK(f["usage"]["output_tokens"] == 340);
    CHECK(near(f["usage"]["cost_usd"], 0.0125));
    CHECK(f["usage"]["model"] == "m-1");
  }
  CHECK(near(j["cost_usd"], 0.025));
  CHECK(j["attempts_costed"] == 2);
  CHECK(j["attempts_cost_unknown"] == 0);
  CHECK(j["input_tokens"] == 2400);
  for (const auto& f : j["fixes"]) CHECK(near(f["cost_usd"], 0.0125));
  const std::string report = j["report"];
  CHECK(report.find("| cost |") != std::string::npos);
  CHECK(report.find("| $0.0125 |") != std::string::npos);
  CHECK(report.find("- agent cost: $0.0250") != std::string::npos);

  for (const std::string args : {"", "--rebuild"}) {
    CAPTURE(args);
    auto s = stats(p, args)["autofix"];
    CHECK(near(s["cost_usd"]["value"], 0.025));
    CHECK(s["cost_usd"]["count"] == 2);
    CHECK(near(s["cost_per_run_usd"]["value"], 0.025));
    CHECK(s["cost_per_run_usd"]["count"] == 1);
    CHECK(near(s["cost_per_fixed_failure_usd"]["value"], 0.0125));
    CHECK(s["cost_per_fixed_failure_usd"]["count"] == 2);
    CHECK(s["attempts_cost_unknown"]["value"] == 0);
    double by_cat = 0;
    std::uint64_t attempts = 0;
    for (const auto& [cat, c] : s["cost_by_category"].items()) {
      if (c["value"].is_number()) by_cat += c["value"].get<double>();
      attempts += c["count"].get<std::uint64_t>();
      CHECK(c["attempts_cost_unknown"] == 0);
    }
    CHECK(std::fabs(by_cat - 0.025) < 1e-9);
    CHECK(attempts == 2);
  }
  auto text = p.hostctl("stats");
  CHECK(text.out.find("$0.0250") != std::string::npos);
}

TEST_CASE("cost: a missing and a malformed usage file count as unknown, never as zero, with a warning naming the file") {
  struct Case {
    std::string env;     // AGENT_USAGE=...
    std::string warned;  // what the warning says ("" = no file, no warning)
  };
  for (const auto& c : {Case{"", ""}, Case{R"(AGENT_USAGE='\''{"cost_usd": "lots"}'\'')", "cost_usd"},
                        Case{R"(AGENT_USAGE='\''not json'\'')", "is not valid JSON"},
                        Case{R"(AGENT_USAGE='\''{"input_tokens": -3}'\'')", "input_tokens"},
                        Case{R"(AGENT_USAGE='\'''\'')", "is empty"}}) {
    CAPTURE(c.env);
    Project p;
    auto r = autofix_with(p, c.env);
    INFO(r.out);
    REQUIRE(r.code == 0);  // usage is no rail without a cap: the fixes are kept
    auto j = Project::json_of(r);
    for (const auto& f : p.events("AttemptFinished")) {
      CHECK(f["usage"]["known"] == false);
      CHECK(f["usage"]["cost_usd"] == -1);
      CHECK(f["usage"]["input_tokens"] == -1);
    }
    if (c.warned.empty()) {
      CHECK(r.out.find("usage file") == std::string::npos);
    } else {
      CHECK(r.out.find("warning:") != std::string::npos);
      CHECK(r.out.find("usage.json") != std::string::npos);
      CHECK(r.out.find(c.warned) != std::string::npos);
    }
    CHECK(j["cost_usd"].is_null());
    CHECK(j["attempts_cost_unknown"] == 2);
    CHECK(j["report"].get<std::string>().find("| unknown |") != std::string::npos);
    auto s = stats(p)["autofix"];
    CHECK(s["cost_usd"]["value"].is_null());
    CHECK(s["cost_per_run_usd"]["value"].is_null());
    CHECK(s["cost_per_fixed_failure_usd"]["value"].is_null());
    CHECK(s["attempts_cost_unknown"]["value"] == 2);
    auto text = p.hostctl("stats");
    CHECK(text.out.find("unknown") != std::string::npos);
  }
}

TEST_CASE("cost: max_cost_usd stops the run before the next attempt once the known spend reached it, committing nothing") {
  Project p("max_cost_usd = 0.01\n");
  const auto main_before = p.git("rev-parse main");
  auto r = autofix_with(p, R"(AGENT_USAGE='\''{"cost_usd": 0.02}'\'')");
  INFO(r.out);
  CHECK(r.code == 3);
  auto j = Project::json_of(r);
  CHECK(j["budget_exceeded"] == true);
  CHECK(j["cost_exceeded"] == true);
  CHECK(j["commit"].is_null());
  CHECK(p.git("rev-parse main") == main_before);
  CHECK(p.events("AttemptFinished").size() == 1);  // the second failure never reached the agent
  auto b = p.events("BudgetExceeded");
  REQUIRE(b.size() == 1);
  CHECK(b[0]["budget"] == "run_cost");
  CHECK(near(b[0]["limit_usd"], 0.01));
  CHECK(near(b[0]["used_usd"], 0.02));
  const std::string why = j["stop_reason"];
  CHECK(why.find("max_cost_usd = $0.0100") != std::string::npos);
  CHECK(why.find("$0.0200 spent") != std::string::npos);
  bool not_attempted = false;
  for (const auto& f : j["fixes"]) not_attempted |= f["outcome"] == "not_attempted";
  CHECK(not_attempted);
  CHECK(j["report"].get<std::string>().find("a cost budget was reached") != std::string::npos);
}

TEST_CASE("cost: an attempt reporting more than max_attempt_cost_usd is reverted and the run stops with BudgetExceeded") {
  Project p;
  auto r = autofix_with(p, R"(AGENT_USAGE='\''{"cost_usd": 0.5, "model": "big"}'\'')", "correct",
                        "--max-attempt-cost-usd 0.25");
  INFO(r.out);
  CHECK(r.code == 3);
  auto j = Project::json_of(r);
  CHECK(j["commit"].is_null());
  CHECK(j["fixed"] == 0);
  auto b = p.events("BudgetExceeded");
  REQUIRE(b.size() == 1);
  CHECK(b[0]["budget"] == "attempt_cost");
  CHECK(near(b[0]["limit_usd"], 0.25));
  CHECK(near(b[0]["used_usd"], 0.5));
  auto rev = p.events("Reverted");
  REQUIRE(rev.size() == 1);
  CHECK(rev[0]["reason"] == "budget");
  // Nothing of the rejected attempt is left in the worktree.
  CHECK(read_file(fs::path(j["worktree"].get<std::string>()) / "calc/util.py") == read_file(p.dir / "calc/util.py"));
  CHECK(p.events("AttemptFinished").size() == 1);
  CHECK(j["stop_reason"].get<std::string>().find("over max_attempt_cost_usd = $0.2500") != std::string::npos);
}

TEST_CASE("cost: with a cap set, attempts that report no cost are warned about once and do not count against it") {
  Project p("max_cost_usd = 0.01\n");
  auto r = autofix_with(p, "");
  INFO(r.out);
  CHECK(r.code == 0);
  std::size_t warnings = 0;
  for (std::size_t at = 0; (at = r.out.find("the cost caps cannot see it", at)) != std::string::npos; ++at) ++warnings;
  CHECK(warnings == 1);
  CHECK(p.events("BudgetExceeded").empty());
  CHECK(Project::json_of(r)["attempts_cost_unknown"] == 2);
}

TEST_CASE("cost: read_usage_file takes a partial report, refuses bad fields and says which file") {
  TempDir d;
  const auto f = d.path() / "usage.json";
  CHECK_FALSE(fixhost::host::read_usage_file(f).usage.known);
  CHECK(fixhost::host::read_usage_file(f).warning.empty());
  write_file(f, R"({"input_tokens": 10, "output_tokens": 2.0})");
  auto u = fixhost::host::read_usage_file(f);
  CHECK(u.usage.known);
  CHECK(u.usage.input_tokens == 10);
  CHECK(u.usage.output_tokens == 2);
  CHECK(u.usage.cost_usd == -1);  // not reported: unknown
  write_file(f, R"({"cost_usd": 0, "model": 7})");
  u = fixhost::host::read_usage_file(f);
  CHECK_FALSE(u.usage.known);
  CHECK(u.usage.cost_usd == -1);
  CHECK(u.warning.find(f.string()) != std::string::npos);
  CHECK(u.warning.find("model") != std::string::npos);
  write_file(f, R"([1, 2])");
  CHECK(fixhost::host::read_usage_file(f).warning.find("not an object") != std::string::npos);
  write_file(f, R"({"cost_usd": 0})");
  u = fixhost::host::read_usage_file(f);
  CHECK(u.usage.known);
  CHECK(u.usage.cost_usd == 0);  // a reported zero is a zero
  CHECK(fixhost::host::format_usd(-1) == "unknown");
  CHECK(fixhost::host::format_usd(0.0125) == "$0.0125");
  CHECK(fixhost::host::format_usd(12.5) == "$12.50");
}
