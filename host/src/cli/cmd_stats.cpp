// hostctl stats: what the log says about the automation, answered from the stats projection
// (docs/STATS.md); --rebuild recomputes the same figures from a full scan of the log.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "fixhost/events/event.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/dashboard.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_stats(CLI::App& app, Shared& shared) {
  struct Opts {
    bool json = false, rebuild = false, cluster = false, charts = false;
    std::string run, since, mode, repo = ".", html;
    double minutes = -1;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("stats", "Figures from the log: autofix, heal and build (definitions: docs/STATS.md)");
  cmd->add_option("--run", o->run, "Only this run");
  cmd->add_option("--since", o->since, "Only runs started since: a duration back from now (30d, 12h) or a date (2026-11-01)");
  cmd->add_option("--mode", o->mode, "Only this mode's runs and figures: autofix | build | heal");
  cmd->add_flag("--json", o->json, "One JSON object with every figure as {value, count} (null value: nothing to compute it from)");
  cmd->add_option("--html", o->html,
                  "Write the dashboard to FILE: one self-contained HTML page of charts (inline SVG, nothing fetched "
                  "when viewed; docs/STATS.md#the-dashboard)")
      ->type_name("FILE");
  cmd->add_flag("--charts", o->charts,
                "Print each dashboard chart's data instead of the figures (with --json: one object per chart)");
  cmd->add_flag("--rebuild", o->rebuild, "Recompute from a full scan of the log instead of the projection");
  cmd->add_option("--minutes-per-manual-fix", o->minutes,
                  "Minutes one manual fix takes, for the time-saved estimate (default: fixhost.toml's, else 30)");
  cmd->add_option("--repo", o->repo, "Repository whose store and fixhost.toml to read (default: the current directory)");
  cmd->add_flag("--cluster", o->cluster, "Every runner's events: the stream FIXHOST_EVENTS through a local cache (docs/CLUSTER.md)");
  cmd->callback([o, &shared, cmd] {
    if (o->rebuild && (o->charts || !o->html.empty())) {
      shared.exit_code = fail("--rebuild recomputes the figures only; drop it with --charts or --html");
      return;
    }
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
    if (o->charts || !o->html.empty()) {
      auto data = dashboard_data(**log, q);
      if (!data) {
        shared.exit_code = fail(data.status().to_string());
        return;
      }
      if (!o->html.empty()) {
        const fs::path tmp = o->html + ".tmp";
        {
          std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
          out << dashboard_html(*data);
          out.close();
          if (!out) {
            shared.exit_code = fail("cannot write '" + tmp.string() + "'; check that its directory exists and is writable");
            return;
          }
        }
        std::error_code ec;
        fs::rename(tmp, o->html, ec);
        if (ec) {
          shared.exit_code = fail("cannot write '" + o->html + "': " + ec.message());
          return;
        }
      }
      if (o->charts) {
        if (o->json) std::cout << (*data)["charts"].dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
        else std::cout << dashboard_text(*data);
      } else if (o->json) {
        nlohmann::ordered_json j;
        j["html"] = o->html;
        j["as_of_seq"] = (*data)["as_of_seq"];
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << "wrote " << o->html << " (as of event " << (*data)["as_of_seq"].dump() << ")\n";
      }
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
