#pragma once
// The agent's sandbox: an argv run under bubblewrap (bwrap) sees the whole file system
// read-only, a private /tmp, its own PID namespace (everything in it dies with the command)
// and may write only where a SandboxLayout says (docs/SAFETY.md#the-sandbox).
// Stateless and safe to call from several threads; sandbox_unavailable caches its probe.
#include <filesystem>
#include <string>
#include <vector>

#include "fixhost/host/config.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host {

// What one sandboxed command may see and write. Every path is absolute; bind order is the
// order of the fields: a later entry wins over an earlier one that contains it.
struct SandboxLayout {
  // Hidden (an empty directory, or /dev/null for a file): secrets the agent has no need of.
  std::vector<std::filesystem::path> hidden;
  // Visible read-only even when it lies under /tmp (the user's checkout).
  std::vector<std::filesystem::path> read_only;
  // Writable ([sandbox] writable: the agent's own config and caches).
  std::vector<std::filesystem::path> writable;
  // Read-only whatever `writable` says (the store, the common .git).
  std::vector<std::filesystem::path> locked;
  // Writable, the command's work: the run's worktree (its `.git` link stays read-only).
  std::filesystem::path worktree;
  // The worktree's own git metadata (<common .git>/worktrees/<name>), writable but for the
  // `commondir` and `gitdir` files that point git elsewhere. "" = none
  std::filesystem::path git_dir;
  // More writable directories of fixhost's own (the attempt's prompt and summary files).
  std::vector<std::filesystem::path> scratch;
  // false: a network namespace of its own with only loopback (--unshare-net). Default: true
  bool network = true;
  // The bubblewrap program. Default: "bwrap"
  std::string bwrap = "bwrap";
};

// `argv` wrapped in bwrap with `layout`; run it with run_process as any argv. An argv[0] that
// cannot be found on PATH is returned unwrapped, so that run_process reports it as such.
std::vector<std::string> sandbox_argv(const SandboxLayout& layout, const std::vector<std::string>& argv);

// "" when bwrap runs here with the namespaces the sandbox needs, else one line: what failed
// and the fix. Probes once per (program, network) and remembers.
std::string sandbox_unavailable(const std::string& bwrap, bool network);

// The paths of [sandbox] (and $FIXHOST_SANDBOX_WRITABLE / $FIXHOST_SANDBOX_READ_ONLY, colon-separated,
// added to `writable` / `read_only`)
// resolved into `layout`: "~/x" is under $HOME, a relative path is relative to `repo`.
// A read_only or hidden path that does not exist is left out (nothing to show or hide).
// Errors (InvalidArgument): a writable path that does not exist, named with the key and the fix.
Status add_configured_paths(SandboxLayout& layout, const SandboxConfig& config, const std::filesystem::path& repo);

// How a run contains its agents: decided once at the start of the run.
struct RunSandbox {
  bool on = false;
  SandboxLayout layout;  // when on: the run's worktree, its git metadata, the store locked
  std::string state;     // "bwrap", "bwrap, no network", "off: <why>" (AttemptStarted.sandbox)
  std::string warning;   // one line for the user when it is off without being asked to be
};

// The sandbox for the agents of a run working in `worktree` (already made) of `repo`, whose
// store is `store` and common git directory `common_git`. Errors: bad [sandbox] paths, or the
// worktree's git directory cannot be read.
Result<RunSandbox> run_sandbox(const Config& config, const std::filesystem::path& store,
                               const std::filesystem::path& common_git, const std::filesystem::path& worktree);

}  // namespace fixhost::host
