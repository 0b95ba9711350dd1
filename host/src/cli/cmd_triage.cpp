// hostctl triage: the error groups in the log, ranked (docs/HEAL.md#hostctl-triage).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <thread>

#include "commands.hpp"
#include "fixhost/events/event.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/heal/triage_view.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_triage(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string repo = ".", since = "24h";
    bool json = false;
    int threads = std::thread::hardware_concurrency() > 1 ? 2 : 1;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "triage",
      "Group the Sentry errors recorded in the log (by in-app frames, like Sentry's app variant),\n"
      "give each group a severity (P0/P1/P2) and a decision (fix, document, skip or human, with the\n"
      "reason) with today's sentry_triage rules, and rank them by count x severity weight.\n"
      "Read-only: works while hostctl serve runs. Exit 0: printed; 2: could not read the store.");
  cmd->add_option("--repo", o->repo, "Repository whose store and fixhost.toml to read (default: the current directory)");
  cmd->add_option("--since", o->since, "Only events recorded since: a duration back from now (24h, 7d) or a date (2026-11-01); \"all\" for every event (default: 24h)");
  cmd->add_flag("--json", o->json, "One JSON object: {groups: [...], events, errors_last_hour, max_errors_per_hour}");
  cmd->add_option("--threads", o->threads, "Threads that triage (1 or 2; default: 2 on a machine with more than one core)")
      ->check(CLI::Range(1, 2));
  cmd->callback([o, &shared] {
    fs::path root;
    auto config = load_repo_config(shared, o->repo, root, false);
    if (!config) return;
    heal::TriageQuery q;
    if (o->since != "all") {
      auto since = parse_since(o->since, events::now_us());
      if (!since) {
        shared.exit_code = fail(since.status().message());
        return;
      }
      q.since_us = *since;
    }
    store::StoreOptions so;
    so.writable = false;
    so.create_if_missing = false;
    so.cache_scans = false;  // one pass over a log that may be larger than the cache
    auto log = store::EventLog::open(resolve_store(shared.global, root), so);
    if (!log) {
      shared.exit_code = fail(log.status().to_string());
      return;
    }
    std::vector<fs::path> extra;
    for (const auto& p : shared.global.plugins) extra.push_back(fs::absolute(p));
    auto plugins = load_configured_plugins(*config, extra);
    for (const auto& r : plugins.refused) std::cerr << "hostctl: warning: plugin refused: " << r.reason << "\n";
    // A second set of plugin instances for a second thread, when there are two cores.
    std::vector<std::vector<std::shared_ptr<LoadedPlugin>>> sets{plugins.loaded};
    LoadReport second;
    if (o->threads > 1) {
      second = load_configured_plugins(*config, extra);
      sets.push_back(second.loaded);
    }
    auto view = heal::triage_view(**log, sets, q);
    if (!view) {
      shared.exit_code = fail(view.status().to_string());
      return;
    }
    for (const auto& f : view->plugin_failures) std::cerr << "hostctl: warning: plugin failed: " << f << "\n";
    if (o->json) {
      nlohmann::ordered_json j;
      j["since"] = o->since;
      j["events"] = view->events;
      j["errors_last_hour"] = view->errors_last_hour;
      j["max_errors_per_hour"] = config->heal.max_errors_per_hour;
      j["groups"] = nlohmann::ordered_json::array();
      for (const auto& g : view->groups) j["groups"].push_back(heal::to_json(g));
      std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    } else {
      std::cout << heal::triage_table(*view);
    }
    shared.exit_code = k_exit_ok;
  });
}

}  // namespace fixhost::host::cli
