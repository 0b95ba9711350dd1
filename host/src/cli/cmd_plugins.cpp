// hostctl plugins: what is loaded, and why anything was refused.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "commands.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/run_context.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_plugins(CLI::App& app, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("plugins",
                                 "List plugins found in the plugin directories (built-in, --plugins, plugin_dirs in\n"
                                 "fixhost.toml): name, version, API, kind, subscriptions, path, or why refused.\n"
                                 "Exit 1 when any plugin was refused.");
  cmd->add_flag("--json", o->json, "A JSON array instead of the table");
  cmd->add_option("--repo", o->repo, "Repository whose fixhost.toml to read (default: the current directory)");
  cmd->callback([o, &shared] {
    Config config;
    fs::path root = repo_root(o->repo);
    if (fs::exists(root / "fixhost.toml")) {
      auto c = load_config(root);
      if (!c) {
        shared.exit_code = fail(c.status().to_string());
        return;
      }
      config = std::move(c.value());
    }
    std::vector<fs::path> extra;
    for (const auto& p : shared.global.plugins) extra.push_back(fs::absolute(p));
    auto report = load_configured_plugins(config, extra);
    auto subs = [](const sdk::PluginInfo& i) {
      std::vector<std::string> out;
      for (auto t : i.subscriptions) out.emplace_back(events::event_type_name(t));
      return out;
    };
    if (o->json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& p : report.loaded)
        arr.push_back({{"name", p->info.name},
                       {"version", p->info.version},
                       {"api", p->api.to_string()},
                       {"kind", p->pure() ? "pure" : "effectful"},
                       {"subscriptions", subs(p->info)},
                       {"description", p->info.description},
                       {"path", p->path.string()},
                       {"external", p->external},
                       {"loaded", true}});
      for (const auto& r : report.refused)
        arr.push_back({{"name", r.name}, {"path", r.path.string()}, {"loaded", false}, {"refused", r.reason}});
      std::cout << events::dump_json(arr, 2) << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& p : report.loaded) {
        std::string s;
        for (const auto& x : subs(p->info)) s += (s.empty() ? "" : ",") + x;
        rows.push_back({p->info.name, p->info.version, p->api.to_string(), p->pure() ? "pure" : "effectful", s,
                        p->external.empty() ? p->path.string() : "external: " + p->external});
      }
      std::cout << render_table({"NAME", "VERSION", "API", "KIND", "SUBSCRIBES", "PATH"}, rows, 80);
      for (const auto& r : report.refused) std::cout << "refused " << r.path.string() << ": " << r.reason << "\n";
      if (report.loaded.empty() && report.refused.empty())
        std::cout << "no plugins found (searched " << builtin_plugin_dir().string() << ")\n";
    }
    if (!report.refused.empty()) shared.exit_code = k_exit_failures;
  });
}

}  // namespace fixhost::host::cli
