// hostctl stats: what the log says about the automation. This first version scans the log;
// the projections of docs/STATS.md replace the scan (issue: replay and stats).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

#include "commands.hpp"
#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/runs.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_stats(CLI::App& app, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string run, repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("stats", "Figures from the log: runs, failures found, fixed, categories");
  cmd->add_flag("--json", o->json, "A JSON object instead of the table");
  cmd->add_option("--run", o->run, "Only this run");
  cmd->add_option("--repo", o->repo, "Repository whose store to read (default: the current directory)");
  cmd->callback([o, &shared] {
    store::StoreOptions so;
    so.writable = false;
    so.create_if_missing = false;
    auto log = store::EventLog::open(resolve_store(shared.global, repo_root(o->repo)), so);
    if (!log) {
      shared.exit_code = fail(log.status().to_string());
      return;
    }
    auto runs = list_runs(**log);
    if (!runs) {
      shared.exit_code = fail(runs.status().to_string());
      return;
    }
    std::map<std::string, std::uint64_t> runs_by_mode, by_category, resolved;
    std::uint64_t failures = 0, flaky = 0, attempts = 0, violations = 0, reverts = 0;
    std::map<std::uint64_t, std::string> suite_purpose;  // SuiteFinished seq -> purpose
    auto in_scope = [&](const events::Event& e) { return o->run.empty() || e.run_id == o->run; };
    for (const auto& r : *runs)
      if (o->run.empty() || r.id == o->run) ++runs_by_mode[r.mode];
    auto st = (*log)->scan(1, 0, [&](const events::Event& e) {
      if (!in_scope(e)) return true;
      switch (e.type) {
        case events::EventType::SuiteFinished:
          if (auto p = events::decode<events::SuiteFinished>(e)) suite_purpose[e.seq] = p->purpose;
          break;
        case events::EventType::FailureDetected:
          if (suite_purpose[e.causation] == "detect") ++failures;
          break;
        case events::EventType::FailureClassified:
          if (auto p = events::decode<events::FailureClassified>(e)) ++by_category[p->category];
          break;
        case events::EventType::FlakeDetected: ++flaky; break;
        case events::EventType::AttemptFinished: ++attempts; break;
        case events::EventType::PolicyViolation: ++violations; break;
        case events::EventType::Reverted: ++reverts; break;
        case events::EventType::FailureResolved:
          if (auto p = events::decode<events::FailureResolved>(e)) ++resolved[p->outcome];
          break;
        default: break;
      }
      return true;
    });
    if (!st) {
      shared.exit_code = fail(st.to_string());
      return;
    }
    std::uint64_t fixed = resolved["fixed"];
    std::uint64_t handled = fixed + resolved["unfixable"];
    nlohmann::json j = {{"runs", runs_by_mode},
                        {"failures_detected", failures},
                        {"flaky", flaky},
                        {"classified_by_category", by_category},
                        {"attempts", attempts},
                        {"policy_violations", violations},
                        {"reverts", reverts},
                        {"fixed", fixed},
                        {"unfixable", resolved["unfixable"]},
                        {"fix_success_rate", handled ? nlohmann::json(double(fixed) / double(handled)) : nlohmann::json(nullptr)},
                        {"fix_success_rate_count", handled}};
    if (o->json) {
      std::cout << events::dump_json(j, 2) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& [mode, n] : runs_by_mode) rows.push_back({"runs (" + mode + ")", std::to_string(n), ""});
    rows.push_back({"failures detected", std::to_string(failures), ""});
    rows.push_back({"flaky", std::to_string(flaky), std::to_string(failures) + " failures"});
    for (auto& [cat, n] : by_category) rows.push_back({"  category " + cat, std::to_string(n), ""});
    rows.push_back({"attempts", std::to_string(attempts), ""});
    rows.push_back({"fixed", std::to_string(fixed), std::to_string(handled) + " handled"});
    char rate[32] = "-";
    if (handled) std::snprintf(rate, sizeof rate, "%.0f%%", 100.0 * double(fixed) / double(handled));
    rows.push_back({"fix success rate", rate, std::to_string(handled) + " handled"});
    rows.push_back({"policy violations", std::to_string(violations), ""});
    rows.push_back({"reverts", std::to_string(reverts), ""});
    std::cout << render_table({"METRIC", "VALUE", "BASED ON"}, rows);
  });
}

}  // namespace fixhost::host::cli
