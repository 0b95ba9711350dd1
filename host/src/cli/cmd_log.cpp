// hostctl events | runs | stats | repair: reading the log.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <map>

#include "commands.hpp"
#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/runs.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

Result<std::unique_ptr<store::EventLog>> open_read(const Shared& shared, const std::string& repo = ".",
                                                   const fs::path& cluster_view = {}) {
  fs::path dir = cluster_view.empty() ? resolve_store(shared.global, repo_root(repo)) : cluster_view;
  store::StoreOptions so;
  so.writable = false;
  so.create_if_missing = false;
  return store::EventLog::open(dir, so);
}

std::string duration_text(std::int64_t us) {
  if (us <= 0) return "";
  std::int64_t s = us / 1000000;
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof buf, "%.1fs", us / 1e6);
  return buf;
}

void register_events(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string run, type, repo = ".";
    std::uint64_t since = 0;
    bool follow = false, json = false, cluster = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("events", "Print events from the log, oldest first (JSON Lines with --json)");
  cmd->add_option("--run", o->run, "Only this run's events");
  cmd->add_option("--type", o->type, "Only this event type (name such as FailureDetected, or its numeric id)");
  cmd->add_option("--since", o->since, "Only events with seq >= SEQ");
  cmd->add_flag("--follow,-f", o->follow, "Keep printing new events as they are appended (Ctrl-C to stop)");
  cmd->add_flag("--json", o->json, "One JSON object per line, with the decoded payload");
  cmd->add_option("--repo", o->repo, "Repository whose store to read (default: the current directory)");
  cmd->add_flag("--cluster", o->cluster,
                "Every runner's events through the local cache of FIXHOST_EVENTS (seqs are the cache's; by host: "
                "hostctl cluster events --host H)");
  cmd->callback([o, &shared] {
    std::optional<events::EventType> type;
    if (!o->type.empty()) {
      type = events::parse_event_type(o->type);
      if (!type) {
        shared.exit_code = fail("--type '" + o->type +
                                "' is not an event type; use a name such as FailureDetected or an id from 1 to " +
                                std::to_string(events::k_max_event_type) + " (see events/include/fixhost/events/event_type.hpp)");
        return;
      }
    }
    fs::path view;
    if (o->cluster && (view = cluster_view_store(shared, o->repo)).empty()) return;
    auto log = open_read(shared, o->repo, view);
    if (!log) {
      shared.exit_code = fail(log.status().to_string());
      return;
    }
    if (!o->run.empty()) {
      auto r = find_run(**log, o->run);
      if (!r) {
        shared.exit_code = fail(r.status().to_string());
        return;
      }
    }
    auto print = [&](const events::Event& e) {
      if (type && e.type != *type) return true;
      if (!o->run.empty() && e.run_id != o->run) return true;
      if (o->json) {
        std::cout << events::to_json_line(e) << "\n";
      } else {
        auto p = events::payload_to_json(e);
        std::string body = p ? events::dump_json(*p) : p.status().to_string();
        std::cout << e.seq << "  " << events::format_time_utc(e.ts_us) << "  " << e.run_id << "  "
                  << events::event_type_name(e.type) << "  " << e.source
                  << (e.causation ? "  <-" + std::to_string(e.causation) : std::string()) << "  "
                  << one_line(body, 160) << "\n";
      }
      return static_cast<bool>(std::cout);
    };
    Status st;
    if (o->follow) {
      std::signal(SIGINT, on_sigint);
      std::signal(SIGTERM, on_sigint);
      st = (*log)->follow(std::max<std::uint64_t>(o->since, 1), [&](const events::Event& e) {
        bool ok = print(e);
        std::cout.flush();
        return ok;
      }, [] { return !g_interrupted.load(); });
    } else if (!o->run.empty()) {
      st = (*log)->scan_run(o->run, print, o->since);
    } else if (type) {
      st = (*log)->scan_type(*type, print, o->since);
    } else {
      st = (*log)->scan(o->since, 0, print);
    }
    if (!st) shared.exit_code = fail(st.to_string());
  });
}

void register_runs(CLI::App& app, Shared& shared) {
  struct Opts {
    bool json = false, cluster = false;
    std::string repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("runs", "List recorded runs: id, mode, start, end, outcome");
  cmd->add_flag("--json", o->json, "A JSON array instead of the table");
  cmd->add_option("--repo", o->repo, "Repository whose store to read (default: the current directory)");
  cmd->add_flag("--cluster", o->cluster, "Every runner's runs: the stream FIXHOST_EVENTS through a local cache (docs/CLUSTER.md)");
  cmd->callback([o, &shared] {
    fs::path view;
    if (o->cluster && (view = cluster_view_store(shared, o->repo)).empty()) return;
    auto log = open_read(shared, o->repo, view);
    if (!log) {
      shared.exit_code = fail(log.status().to_string());
      return;
    }
    auto runs = list_runs(**log);
    if (!runs) {
      shared.exit_code = fail(runs.status().to_string());
      return;
    }
    // A build's worktrees (<store>/worktrees/<run>/<stream>) left behind: `hostctl discard RUN`.
    auto worktrees_of = [&](const RunInfo& r) {
      std::vector<std::string> out;
      std::error_code ec;
      const auto dir = (*log)->dir() / "worktrees" / r.id;
      if (r.mode == "build" && std::filesystem::is_directory(dir, ec))
        for (const auto& e : std::filesystem::directory_iterator(dir, ec))
          if (e.is_directory()) out.push_back(e.path().string());
      std::sort(out.begin(), out.end());
      return out;
    };
    if (o->json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& r : *runs)
        arr.push_back({{"run_id", r.id},
                       {"mode", r.mode},
                       {"repo", r.repo},
                       {"start", events::format_time_utc(r.start_us)},
                       {"end", r.end_us ? nlohmann::json(events::format_time_utc(r.end_us)) : nlohmann::json(nullptr)},
                       {"outcome", r.outcome},
                       {"exit_code", r.exit_code},
                       {"summary", r.summary},
                       {"source_runs", r.source_runs},
                       {"worktrees", worktrees_of(r)}});
      std::cout << events::dump_json(arr, 2) << "\n";
      return;
    }
    // The summary is the last column and is printed whole: its lines joined with "; ".
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> summaries;
    for (const auto& r : *runs) {
      rows.push_back({r.id, r.mode, events::format_time_utc(r.start_us), r.end_us ? events::format_time_utc(r.end_us) : "-",
                      duration_text(r.end_us ? r.end_us - r.start_us : 0), r.outcome, ""});
      std::string s = r.summary;
      for (std::size_t p; (p = s.find('\n')) != std::string::npos;) s.replace(p, 1, "; ");
      if (auto wts = worktrees_of(r); !wts.empty() && r.outcome == "aborted")
        s += (s.empty() ? "" : "; ") + std::to_string(wts.size()) + " stale worktrees (hostctl discard " + r.id + ")";
      summaries.push_back(std::move(s));
    }
    if (rows.empty()) {
      std::cout << "no runs recorded in " << (*log)->dir().string() << "\n";
    } else {
      std::istringstream table(render_table({"RUN", "MODE", "START", "END", "TOOK", "OUTCOME", "SUMMARY"}, rows, 70));
      std::string line;
      std::size_t column = 0;
      for (std::size_t i = 0; std::getline(table, line); ++i) {
        if (i == 0) column = line.find("SUMMARY");
        else if (i - 1 < summaries.size()) line.append(column > line.size() ? column - line.size() : 2, ' ') += summaries[i - 1];
        std::cout << line << "\n";
      }
    }
  });
}

std::string ranges_text(const std::vector<store::SeqRange>& ranges, std::uint64_t& count) {
  std::string out;
  count = 0;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ", ";
    out += std::to_string(r.first);
    if (r.last != r.first) out += ".." + std::to_string(r.last);
    count += r.last - r.first + 1;
  }
  return out;
}

void register_repair(CLI::App& app, Shared& shared) {
  auto repo = std::make_shared<std::string>(".");
  auto* cmd = app.add_subcommand("repair",
                                 "Check the store and, if it is damaged, rebuild it from every event that still "
                                 "reads (the damaged original is kept beside it)");
  cmd->add_option("--repo", *repo, "Repository whose store to repair (default: the current directory)");
  cmd->callback([repo, &shared] {
    fs::path dir = resolve_store(shared.global, repo_root(*repo));
    auto r = store::EventLog::repair(dir);
    if (!r) {
      shared.exit_code = fail(r.status().to_string());
      return;
    }
    const store::RepairReport& rep = *r;
    if (rep.healthy) {
      std::cout << "store '" << dir.string() << "' is healthy: " << rep.events
                << " events, indexes consistent; nothing was changed\n";
      return;
    }
    for (const auto& d : rep.damage) std::cerr << "note: found: " << d << "\n";
    std::uint64_t lost = 0, lost_before = 0;
    const std::string lost_text = ranges_text(rep.lost, lost);
    const std::string before_text = ranges_text(rep.lost_before, lost_before);
    std::cout << "repaired '" << dir.string() << "': " << rep.events << " events kept, ";
    if (lost == 0) std::cout << "none lost";
    else std::cout << lost << " lost (seqs " << lost_text << ")";
    if (lost_before > 0) std::cout << "; lost in an earlier repair: seqs " << before_text;
    std::cout << "; the damaged original is in '" << rep.backup.string() << "'\n";
    if (lost > 0) shared.exit_code = k_exit_failures;
  });
}

}  // namespace

void register_stats(CLI::App& app, Shared& shared);

void register_log_commands(CLI::App& app, Shared& shared) {
  register_events(app, shared);
  register_runs(app, shared);
  register_stats(app, shared);
  register_repair(app, shared);
}

}  // namespace fixhost::host::cli
