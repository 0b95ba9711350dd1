#pragma once
// Each hostctl command registers itself on the CLI11 app; its callback sets the exit code.
#include <filesystem>
#include <functional>
#include <string>

#include "fixhost/host/cli_util.hpp"

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

}  // namespace fixhost::host::cli
