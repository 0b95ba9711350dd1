// hostctl stats: what the log says about the automation, answered from the stats projection
// (docs/STATS.md); --rebuild recomputes the same figures from a full scan of the log.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "fixhost/events/event.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_stats(CLI::App& app, Shared& shared) {
  struct Opts {
    bool json = false, rebuild = false, cluster = false;
    std::string run, since, mode, repo = ".";
    double minutes = -1;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("stats", "Figures from the log: autofix, heal and build (definitions: docs/STATS.md)");
  cmd->add_option("--run", o->run, "Only this run");
  cmd->add_option("--since", o->since, "Only runs started since: a duration back from now (30d, 12h) or a date (2026-11-01)");
  cmd->add_option("--mode", o->mode, "Only this mode's runs and figures: autofix | build | heal");
  cmd->add_flag("--json", o->json, "One JSON object with every figure as {value, count} (null value: nothing to compute it from)");
  cmd->add_flag("--rebuild", o->rebuild, "Recompute from a full scan of the log instead of the projection");
  cmd->add_option("--minutes-per-manual-fix", o->minutes,
                  "Minutes one manual fix takes, for the time-saved estimate (default: fixhost.toml's, else 30)");
  cmd->add_option("--repo", o->repo, "Repository whose store and fixhost.toml to read (default: the current directory)");
  cmd->add_flag("--cluster", o->cluster, "Every runner's events: the stream FIXHOST_EVENTS through a local cache (docs/CLUSTER.md)");
  cmd->callback([o, &shared, cmd] {
    StatsQuery q;
    q.run = o->run;
    q.mode = o->mode;
    if (auto s = check_stats_mode(q.mode); !s) {
      shared.exit_code = fail(s.message());
      return;
    }
    if (!o->since.empty()) {
      auto since = parse_since(o->since, events::now_us());
      if (!since) {
        shared.exit_code = fail(since.status().message());
        return;
      }
      q.since_us = *since;
      q.since_text = o->since;
    }
    // The repository is looked up (a git call) only when something needs it.
    const bool store_given = !shared.global.store.empty() || (std::getenv("FIXHOST_STORE") && *std::getenv("FIXHOST_STORE"));
    const bool repo_given = cmd->count("--repo") > 0;
    fs::path repo;
    if (!store_given || repo_given) repo = repo_root(o->repo);
    if (o->minutes >= 0) {
      q.minutes_per_manual_fix = o->minutes;
    } else if (!repo.empty()) {
      auto m = read_minutes_per_manual_fix(repo);
      if (!m) {
        shared.exit_code = fail(m.status().message());
        return;
      }
      q.minutes_per_manual_fix = *m;
    }
    store::StoreOptions so;
    so.writable = false;
    so.create_if_missing = false;
    so.projections.push_back(stats_projection());
    fs::path dir = resolve_store(shared.global, repo);
    if (o->cluster) {
      dir = cluster_view_store(shared, o->repo);
      if (dir.empty()) return;
    }
    auto log = store::EventLog::open(dir, so);
    if (!log) {
      shared.exit_code = fail(log.status().to_string());
      return;
    }
    auto report = o->rebuild ? stats_from_scan(**log, q) : stats_from_projection(**log, q);
    if (!report) {
      shared.exit_code = fail(report.status().to_string());
      return;
    }
    if (o->json) std::cout << report->dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    else std::cout << stats_table(*report);
  });
}

}  // namespace fixhost::host::cli
