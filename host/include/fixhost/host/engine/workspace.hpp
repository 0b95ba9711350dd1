#pragma once
// A run's git worktree of the user's repository, on a branch of its own: made from a base
// commit, given what the suites need that git does not track, snapshotted before and after
// every agent attempt (tree, HEAD, refs, .git files, the user's checkout) and restored exactly.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixhost/host/config.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host::engine {

struct Session;

struct Snapshot {
  std::string tree;
  std::string head;
  std::string branch;
  std::map<std::string, std::string> refs;
  std::map<std::string, std::string> meta;  // .git files: path -> contents
  std::string user_state;                   // the user's checkout as git sees it
};

struct WorkspaceSpec {
  std::filesystem::path repo;    // the user's checkout
  std::filesystem::path path;    // where the worktree goes
  std::string branch;            // made by create()
  std::string base;              // the commit it starts from
  std::string stream;            // WorktreeCreated.stream ("" = the run's own worktree)
  bool bring_untracked = true;   // worktree_include
};

class Workspace {
 public:
  // `git worktree add -b branch path base`, WorktreeCreated recorded, worktree_include brought in.
  static Result<std::unique_ptr<Workspace>> create(RunContext& run, const Config& cfg, const WorkspaceSpec& spec,
                                                   const std::function<void(const std::string&)>& progress = {});

  const std::filesystem::path& repo() const { return repo_; }
  const std::filesystem::path& path() const { return wt_; }
  const std::filesystem::path& common() const { return common_; }  // the shared .git directory
  const std::string& branch() const { return branch_; }
  const std::string& base() const { return base_; }
  // Untracked paths brought in (kept out of snapshots and commits).
  const std::vector<std::string>& excludes() const { return excludes_; }
  void exclude(const std::string& rel) { excludes_.push_back(rel); }

  // With `before`, .git files changed since it are put back first (what was seen stays in meta).
  Result<Snapshot> snapshot(const Snapshot* before = nullptr) const;
  // Tree, HEAD, the branch and .git files back as in `before`.
  Status restore(const Snapshot& before) const;
  // What changed in git's state between two snapshots, one line each.
  std::vector<std::string> git_changes(const Snapshot& before, const Snapshot& after) const;
  // Touched paths (git status form) that are symlinks pointing out of the worktree.
  std::vector<std::string> escapes(const std::vector<std::string>& touched) const;
  // Removes the worktree and its branch (for a run refused before any agent ran).
  void remove(const std::function<void(const std::string&)>& progress = {}) const;

  std::string first_tree;  // the tree before the first attempt (what the suites left there)

 private:
  Workspace() = default;
  Status bring_untracked(const Config& cfg, const std::function<void(const std::string&)>& progress);
  std::filesystem::path repo_, wt_, common_;
  std::string branch_, base_;
  std::vector<std::string> excludes_;
};

// Each suite must see in the worktree what it sees in the checkout: a jest suite's
// node_modules linked, each suite's `setup` run, and a collect-only listing compared between
// checkout and worktree. An error names the suite and the fix.
Status prepare_suites(Session& s);

// Runs a command of the host's own (setup, collect, lint, typecheck) and records it as a
// SuiteStarted/SuiteFinished pair of runner "command".
Result<ProcessResult> record_command(RunContext& run, const std::string& suite, const std::string& purpose,
                                     const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                     std::chrono::milliseconds timeout,
                                     const std::map<std::string, std::string>& env = {});

// Files an agent can reach, read without following a symlink or blocking on a FIFO, capped
// at 8 MiB; anything else reads as "".
std::string read_reachable(const std::filesystem::path& p);
Status write_file(const std::filesystem::path& p, const std::string& text);

}  // namespace fixhost::host::engine
