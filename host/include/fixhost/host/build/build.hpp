#pragma once
// The parallel build workflow (`hostctl build`, docs/BUILD.md): the manifest's streams run in
// dependency order on a bounded pool, each an agent attempt of the shared engine in its own
// worktree and branch fixhost/build-<run>-<stream>, based on the merged result of the streams it
// depends on; ownership is enforced on the diff; the worktree_merger plugin decides the merge,
// the host carries it out, runs the integration commands and, when green, makes one squashed
// commit on fixhost/build-<run>. The user's checkout and branch are never touched.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fixhost/host/build/manifest.hpp"
#include "fixhost/host/cluster.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host::build {

struct BuildOptions {
  std::filesystem::path store_dir;
  std::vector<std::filesystem::path> extra_plugin_dirs;
  std::vector<std::string> argv;
  Manifest manifest;
  // Streams running at once; 0 = as many as are ready. Default: the manifest's [build] jobs
  std::uint32_t jobs = 0;
  // Where the markdown report is also written ("" = only in the store).
  std::string report_path;
  // --fix: integration failures go to the engine's fix loop with this agent on the integration
  // worktree, attempts capped: failing tests (fixhost.toml's suites), and a failing type check,
  // lint or contract check as a failing command re-run to verify. Default: off ("")
  std::string fix_agent;
  // --distributed: every ready stream is published as a build job on the cluster's FIXHOST_JOBS
  // queue (docs/CLUSTER.md) instead of run here; `remote` is the git URL the workers clone the
  // stream's base from and push its branch to. The build judges, merges and integrates here.
  bool distributed = false;
  ClusterConfig cluster;
  std::string remote;
  std::string submitter;  // this host's id, recorded in each job
  // --stream ID (what a worker runs for a build job): that stream alone on HEAD, its dependencies
  // already merged into HEAD; its commit goes on fixhost/build-<stream_of>-<ID>; no merge, no
  // integration. The run is recorded with mode "build_stream".
  std::string only_stream;
  std::string stream_of;  // the coordinator's run id (its branch names); "" = this run's
  std::function<void(const std::string&)> progress;
};
// One stream as it finished (from its StreamFinished).
struct StreamResult {
  std::string id, outcome, detail, commit, summary, diffstat;
  std::vector<std::string> files, stray;
  std::int32_t agent_exit = 0;
  std::int64_t duration_ms = 0;
  std::string worker;  // --distributed: the worker that ran it
};

struct BuildResult {
  std::string run_id;
  std::string branch;  // fixhost/build-<run> (exists only when landed)
  std::string commit;  // the squashed commit, "" when nothing landed
  bool landed = false;
  std::string error;  // could not run
  std::string table, markdown;
  std::vector<StreamResult> streams;
  int exit_code = 0;  // 0 landed, 1 nothing landed (a stream, the merge or integration failed), 2 could not run, 3 budget
};

Result<BuildResult> run_build(const Config& config, const BuildOptions& options);

std::string build_branch(const std::string& run_id);
std::string stream_branch(const std::string& run_id, const std::string& stream);
// <store>/worktrees/<run>: the stream worktrees (<stream>/) and the integration one.
std::filesystem::path build_dir(const std::filesystem::path& store_dir, const std::string& run_id);

}  // namespace fixhost::host::build

namespace fixhost::host::build {

// `hostctl discard RUN` for a build: removes its worktrees (<store>/worktrees/<run>/*), its
// branches fixhost/build-<run>[-<stream>] and its attempt files. Refuses (Refused, naming each
// branch) to remove a branch holding commits that are in no landed commit (not reachable from
// a branch of the user's, and the build not approved) unless `force`. Returns what it removed.
struct DiscardReport {
  std::vector<std::string> removed;
  std::vector<std::string> kept_unlanded;  // branches it refused to remove (without force)
};
Result<DiscardReport> discard_build(const std::filesystem::path& repo, const std::filesystem::path& store_dir,
                                    const std::string& run_id, bool approved, bool force);

}  // namespace fixhost::host::build
