#pragma once
// Each hostctl command registers itself on the CLI11 app; its callback sets the exit code.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/config.hpp"

namespace CLI {
class App;
}

namespace fixhost::host::cli {

struct Shared {
  GlobalOptions global;
  int exit_code = k_exit_ok;
};

void register_detect(CLI::App& app, Shared& shared);
void register_log_commands(CLI::App& app, Shared& shared);  // events, runs, stats, repair
void register_plugins(CLI::App& app, Shared& shared);
void register_replay(CLI::App& app, Shared& shared);
void register_autofix_commands(CLI::App& app, Shared& shared);  // autofix, approve, discard
void register_serve(CLI::App& app, Shared& shared);   // docs/HEAL.md
void register_triage(CLI::App& app, Shared& shared);  // docs/HEAL.md
void register_heal(CLI::App& app, Shared& shared);    // docs/HEAL.md
void register_build(CLI::App& app, Shared& shared);
void register_cluster(CLI::App& app, Shared& shared);           // cluster status|forward|sync|events
// --cluster views: syncs the view cache of the repository's store and returns its directory
// (empty, with shared.exit_code set, on error).
std::filesystem::path cluster_view_store(Shared& shared, const std::string& repo_dir);

// Progress lines for commands that take a while: on stderr, silenced by --quiet.
std::function<void(const std::string&)> progress_printer(const Shared& shared);

// Prints "hostctl: <message>" on stderr and returns k_exit_cannot_run (or `code`).
int fail(const std::string& message, int code = k_exit_cannot_run);

// The repository root of `repo` (into `root`) and its fixhost.toml. On an error: prints it, sets
// the exit code (2) and returns nothing.
std::optional<Config> load_repo_config(Shared& shared, const std::string& repo, std::filesystem::path& root,
                                       bool probe_python = true);

}  // namespace fixhost::host::cli
