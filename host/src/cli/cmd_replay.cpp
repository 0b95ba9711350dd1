// hostctl replay: re-derive recorded runs through today's pure plugins and print what differs.
// Never runs a process (no test, agent, git or network command) and never calls an effectful
// plugin; it only appends its own run of mode "replay". docs/REPLAY.md.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <tuple>

#include "commands.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/replay.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/runs.hpp"
#include "fixhost/host/stats.hpp"  // parse_since, shared with hostctl stats

namespace fixhost::host::cli {
namespace fs = std::filesystem;

namespace {

// The repository root without asking git (a replay runs no command): the nearest directory,
// from `dir` up, that has a `.git` entry; else `dir` itself.
fs::path root_without_git(const fs::path& dir) {
  std::error_code ec;
  fs::path start = fs::weakly_canonical(fs::absolute(dir), ec);
  for (fs::path p = start; !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / ".git", ec)) return p;
    if (p == p.parent_path()) break;
  }
  return start;
}

std::string arrow(const Difference& d) {
  switch (d.kind) {
    case DiffKind::only_recorded: return d.old_value + " -> (not derived now)";
    case DiffKind::only_replayed: return "(not derived then) -> " + d.new_value;
    default: return d.old_value + " -> " + d.new_value;
  }
}

std::string_view short_kind(DiffKind k) {
  switch (k) {
    case DiffKind::only_recorded: return "only old";
    case DiffKind::only_replayed: return "only new";
    case DiffKind::category: return "category";
    case DiffKind::order: return "order";
    case DiffKind::severity: return "severity";
  }
  return "?";
}

nlohmann::json difference_json(const Difference& d) {
  nlohmann::json j = {{"type", events::event_type_name(d.type)},
                      {"context", d.context},
                      {"purpose", d.purpose},
                      {"suite", d.suite}};
  j[d.type == events::EventType::IssueTriaged ? "group" : "test_id"] = d.subject;
  switch (d.kind) {
    case DiffKind::only_recorded:
      j["event"] = d.old_value;
      j["recorded_seq"] = d.recorded_seq;
      break;
    case DiffKind::only_replayed:
      j["event"] = d.new_value;
      break;
    default:
      j["old"] = d.old_value;
      j["new"] = d.new_value;
      if (d.recorded_seq) j["recorded_seq"] = d.recorded_seq;
  }
  return j;
}

nlohmann::json counts_json(std::uint32_t only_recorded, std::uint32_t only_replayed, std::uint32_t category,
                           std::uint32_t order, std::uint32_t severity) {
  return {{"only_recorded", only_recorded},
          {"only_replayed", only_replayed},
          {"category_changes", category},
          {"order_changes", order},
          {"severity_changes", severity},
          {"differences", only_recorded + only_replayed + category + order + severity}};
}

nlohmann::json report_json(const ReplayReport& rep, const fs::path& store) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : rep.runs) {
    nlohmann::json j = {{"run", r.run},
                        {"mode", r.mode},
                        {"facts", r.facts},
                        {"recorded_derived", r.recorded_derived},
                        {"replayed_derived", r.replayed_derived},
                        {"plugin_failures", r.plugin_failures}};
    const std::pair<DiffKind, const char*> lists[] = {{DiffKind::only_recorded, "only_recorded"},
                                                      {DiffKind::only_replayed, "only_replayed"},
                                                      {DiffKind::category, "category_changes"},
                                                      {DiffKind::order, "order_changes"},
                                                      {DiffKind::severity, "severity_changes"}};
    for (const auto& [kind, name] : lists) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& d : r.differences)
        if (d.kind == kind) arr.push_back(difference_json(d));
      j[name] = std::move(arr);
    }
    // Severity and decision changes summed per triage group: "P1 (severity 3) fix" -> "P0 (severity 10) human".
    std::map<std::tuple<std::string, std::string, std::string>, std::uint32_t> by_group;
    for (const auto& d : r.differences)
      if (d.kind == DiffKind::severity && d.type == events::EventType::IssueTriaged)
        ++by_group[{d.subject, d.old_value, d.new_value}];
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& [k, n] : by_group)
      groups.push_back({{"group", std::get<0>(k)}, {"old", std::get<1>(k)}, {"new", std::get<2>(k)}, {"events", n}});
    j["triage_changes_by_group"] = std::move(groups);
    j["counts"] = counts_json(r.count(DiffKind::only_recorded), r.count(DiffKind::only_replayed),
                              r.count(DiffKind::category), r.count(DiffKind::order), r.count(DiffKind::severity));
    runs.push_back(std::move(j));
  }
  nlohmann::json totals = counts_json(rep.total(DiffKind::only_recorded), rep.total(DiffKind::only_replayed),
                                      rep.total(DiffKind::category), rep.total(DiffKind::order),
                                      rep.total(DiffKind::severity));
  totals["runs"] = rep.runs.size();
  return {{"replay_run", rep.replay_run},
          {"store", store.string()},
          {"plugins", rep.plugins},
          {"runs", std::move(runs)},
          {"totals", std::move(totals)}};
}

void print_report(const ReplayReport& rep, const fs::path& store) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rep.runs)
    rows.push_back({r.run, r.mode, std::to_string(r.facts), std::to_string(r.count(DiffKind::only_recorded)),
                    std::to_string(r.count(DiffKind::only_replayed)), std::to_string(r.count(DiffKind::category)),
                    std::to_string(r.count(DiffKind::order)), std::to_string(r.count(DiffKind::severity))});
  std::cout << render_table({"RUN", "MODE", "FACTS", "ONLY OLD", "ONLY NEW", "CATEGORY", "ORDER", "SEVERITY"}, rows);
  for (const auto& r : rep.runs) {
    if (r.differences.empty()) continue;
    std::cout << "\n" << r.run << ":\n";
    std::vector<std::vector<std::string>> diff_rows;
    for (const auto& d : r.differences)
      diff_rows.push_back({"  " + std::string(short_kind(d.kind)), d.context, d.subject,
                           std::string(events::event_type_name(d.type)), arrow(d)});
    std::cout << render_table({"  DIFFERENCE", "FROM", "TEST", "EVENT", "OLD -> NEW"}, diff_rows, 90);
    std::map<std::tuple<std::string, std::string, std::string>, std::uint32_t> by_group;
    for (const auto& d : r.differences)
      if (d.kind == DiffKind::severity && d.type == events::EventType::IssueTriaged)
        ++by_group[{d.subject, d.old_value, d.new_value}];
    if (!by_group.empty()) {
      std::vector<std::vector<std::string>> group_rows;
      for (const auto& [k, n] : by_group)
        group_rows.push_back({"  " + std::get<0>(k), std::get<1>(k) + " -> " + std::get<2>(k), std::to_string(n)});
      std::cout << "triage changes per group:\n" << render_table({"  GROUP", "SEVERITY AND DECISION", "EVENTS"}, group_rows, 90);
    }
  }
  std::cout << "\ntotal: " << rep.runs.size() << (rep.runs.size() == 1 ? " run, " : " runs, ")
            << rep.total_differences() << " differences (" << rep.total(DiffKind::only_recorded) << " only old, "
            << rep.total(DiffKind::only_replayed) << " only new, " << rep.total(DiffKind::category)
            << " category changes, " << rep.total(DiffKind::order) << " order changes, "
            << rep.total(DiffKind::severity) << " severity changes)\n";
  std::cout << "replay run " << rep.replay_run << " recorded in " << store.string() << "\n";
}

}  // namespace

void register_replay(CLI::App& app, Shared& shared) {
  struct Opts {
    std::vector<std::string> runs;
    bool all = false;
    std::string since;
    std::vector<std::string> plugins;
    bool json = false, cluster = false;
    std::string repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "replay",
      "Feed the recorded facts of past runs (suite outputs and reports, Sentry payloads, agent\n"
      "diffs) through the pure plugins loaded now and print what they derive differently:\n"
      "failures only the old or only the new plugins find, category, order and severity changes.\n"
      "Runs no test, agent, git or network command and calls no effectful plugin; records a run\n"
      "of mode replay. Exit 0: no difference; 1: differences; 2: could not replay.");
  auto* runs_opt = cmd->add_option("runs", o->runs, "Run ids to replay ('hostctl runs' lists them)");
  auto* all_opt = cmd->add_flag("--all", o->all, "Replay every recorded run (replays themselves excepted)");
  cmd->add_option("--since", o->since,
                  "Only runs started since: a duration back from now (30d, 12h, 90m, 2w) or a UTC date "
                  "(2026-11-01)");
  cmd->add_option("--plugins", o->plugins,
                  "Plugin directory to replay with (repeatable); its plugins replace built-in ones of the "
                  "same name")
      ->allow_extra_args(false);
  cmd->add_flag("--json", o->json, "Print the differences as one JSON object");
  cmd->add_flag("--cluster", o->cluster,
                "Replay every runner's runs: the stream FIXHOST_EVENTS through the local view cache; the replay "
                "run is recorded in that cache, not published (docs/CLUSTER.md)");
  cmd->add_option("--repo", o->repo,
                  "Repository whose fixhost.toml configures the plugins and whose store is read (default: the "
                  "current directory)");
  runs_opt->excludes(all_opt);
  cmd->callback([o, &shared] {
    auto progress = progress_printer(shared);
    fs::path root = root_without_git(o->repo);
    // A replay runs no suite: no probe for a Python with pytest (it would start a process).
    auto config = load_config(root, false);
    if (!config) {
      shared.exit_code = fail(config.status().to_string());
      return;
    }
    std::optional<std::int64_t> since;
    if (!o->since.empty()) {
      auto s = parse_since(o->since, events::now_us());
      if (!s) {
        shared.exit_code = fail(s.status().to_string());
        return;
      }
      since = *s;
    }

    // The plugins under test first, so that they replace built-in plugins of the same name.
    LoaderOptions lo;
    for (const auto& p : o->plugins) lo.dirs.push_back(fs::absolute(p));
    for (const auto& p : shared.global.plugins) lo.dirs.push_back(fs::absolute(p));
    for (const auto& p : config->plugin_dirs) lo.dirs.push_back(p);
    lo.dirs.push_back(builtin_plugin_dir());
    lo.config = config->plugin_config;
    lo.external = config->external_plugins;  // [[plugins.external]]; the pure ones are re-run
    lo.external_cwd = config->repo;
    const std::size_t named_dirs = o->plugins.size() + shared.global.plugins.size();
    for (std::size_t i = 0; i < named_dirs; ++i)
      if (const auto& d = lo.dirs[i]; !fs::is_directory(d)) {
        shared.exit_code = fail("--plugins '" + d.string() + "' is not a directory; pass a directory of plugin .so "
                                "files");
        return;
      }
    LoadReport plugins = load_plugins(lo);
    // A plugin left out would show everything it derives as a difference: refuse to compare.
    std::string refused;
    for (const auto& r : plugins.refused) {
      auto same = std::find_if(plugins.loaded.begin(), plugins.loaded.end(),
                               [&](const auto& p) { return !r.name.empty() && p->info.name == r.name; });
      if (same != plugins.loaded.end())
        progress("note: replaying with " + (*same)->id() + " from " + (*same)->path.string() + ", not the one in " +
                 r.path.string());
      else
        refused += "\n  " + r.reason;
    }
    if (!refused.empty()) {
      shared.exit_code = fail("cannot replay: a plugin was refused, and everything it derives would show as a "
                              "difference; fix it or move it out of the plugin directories:" + refused);
      return;
    }

    store::StoreOptions so;
    so.holder = "hostctl replay";
    so.create_if_missing = false;
    fs::path store_dir = resolve_store(shared.global, root);
    if (o->cluster && (store_dir = cluster_view_store(shared, o->repo)).empty()) return;
    auto log = store::EventLog::open(store_dir, so);
    if (!log) {
      shared.exit_code = fail(log.status().to_string());
      return;
    }
    auto runs = list_runs(**log);
    if (!runs) {
      shared.exit_code = fail(runs.status().to_string());
      return;
    }
    ReplaySelection sel;
    sel.runs = o->runs;
    sel.all = o->all;
    sel.since_us = since;
    auto picked = select_runs(*runs, sel, store_dir.string());
    if (!picked) {
      shared.exit_code = fail(picked.status().to_string());
      return;
    }
    if (picked->empty()) {
      std::string why = o->runs.empty() ? "no recorded run matches" : "none of the named runs started since " + o->since;
      if (o->json)
        std::cout << events::dump_json({{"replay_run", nullptr}, {"runs", nlohmann::json::array()}}, 2) << "\n";
      progress("nothing to replay: " + why + "; 'hostctl runs' lists the runs");
      shared.exit_code = k_exit_ok;
      return;
    }

    ReplayOptions ro;
    ro.argv = {"hostctl", "replay"};
    for (const auto& r : o->runs) ro.argv.push_back(r);
    if (o->all) ro.argv.push_back("--all");
    if (o->cluster) ro.argv.push_back("--cluster");
    if (!o->since.empty()) ro.argv.insert(ro.argv.end(), {"--since", o->since});
    for (const auto& d : o->plugins) ro.argv.insert(ro.argv.end(), {"--plugins", fs::absolute(d).string()});
    for (const auto& d : shared.global.plugins) ro.argv.insert(ro.argv.end(), {"--plugins", fs::absolute(d).string()});
    ro.repo = config->repo.string();
    ro.config_text = config->text;
    ro.progress = progress;
    std::string ids;
    for (const auto& p : plugins.loaded)
      if (p->pure()) ids += (ids.empty() ? "" : ", ") + p->id();
    progress("replaying " + std::to_string(picked->size()) + " run(s) through " +
             (ids.empty() ? std::string("no pure plugin (every derivation will be missing)") : ids));
    auto report = replay_runs(**log, plugins.loaded, *picked, ro);
    if (!report) {
      shared.exit_code = fail(report.status().to_string());
      return;
    }
    if (o->json) std::cout << events::dump_json(report_json(*report, store_dir), 2) << "\n";
    else print_report(*report, store_dir);
    shared.exit_code = report->total_differences() == 0 ? k_exit_ok : k_exit_failures;
  });
}

}  // namespace fixhost::host::cli
