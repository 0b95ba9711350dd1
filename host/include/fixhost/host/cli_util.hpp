#pragma once
// Small pieces every hostctl command uses: where the repository and the store are, terminal
// tables, and the exit codes scripts rely on (docs/CLI.md).
#include <filesystem>
#include <string>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host {

// Exit codes of hostctl, for scripts and CI.
enum ExitCode : int {
  k_exit_ok = 0,           // success; detect: no failure; autofix: all fixed and committed
  k_exit_failures = 1,     // detect: failures found; autofix: some failures unfixable
  k_exit_cannot_run = 2,   // bad input, usage error, store or suite could not be used
  k_exit_budget = 3,       // autofix: a time budget ran out
  k_exit_rate_guard = 4,   // heal: more errors in the last hour than [heal] max_errors_per_hour
};

struct GlobalOptions {
  std::string store;                // --store DIR
  std::vector<std::string> plugins; // --plugins DIR (repeatable)
  bool verbose = false;
  bool quiet = false;
};

// The repository root for `dir`: git's top level if it is in a work tree, else `dir` itself.
std::filesystem::path repo_root(const std::filesystem::path& dir);

// --store, else $FIXHOST_STORE, else <repo root>/.fixhost.
std::filesystem::path resolve_store(const GlobalOptions& g, const std::filesystem::path& repo);

// Left-aligned columns, the widest cell of each column sets its width; cells are cut at
// `max_width` characters with "…".
std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                         std::size_t max_width = 60);

// One line, shortened to n characters.
std::string one_line(std::string_view s, std::size_t n);

}  // namespace fixhost::host
