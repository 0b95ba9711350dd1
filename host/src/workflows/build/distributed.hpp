#pragma once
// `hostctl build --distributed` (docs/CLUSTER.md, "Distributed builds"): the coordinator's side of
// a stream that runs on a cluster worker. The build computes the stream's base as it does for a
// local stream; this pushes that base to the shared git remote, publishes the stream as a build
// job (the manifest of that one stream travels in the job), waits for the job's record on
// FIXHOST_JOBS_LOG, and fetches the branch the worker pushed. The build then judges the fetched
// commit as it judges a local one (ownership on the diff, the contract's files, the merge).
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "fixhost/host/build/manifest.hpp"
#include "fixhost/host/cluster.hpp"
#include "fixhost/host/cluster_jobs.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host::build {

// The manifest a worker runs for one stream: that stream alone, its dependencies dropped (they
// are merged into the base the job names), no integration (the coordinator integrates).
Manifest stream_manifest(const Manifest& m, const Stream& s);

class RemoteStreams {
 public:
  RemoteStreams(ClusterConfig cluster, std::filesystem::path repo, std::string remote, std::string submitter)
      : cluster_(std::move(cluster)), repo_(std::move(repo)), remote_(std::move(remote)), submitter_(std::move(submitter)) {}

  // The queue exists and the remote answers; errors name which one and how to fix it.
  Status check() const;
  // Pushes `base` to fixhost/build-<run>-<stream>-base on the remote (the worker clones that
  // commit: it may be a merge the coordinator made) and publishes the job; returns its id.
  Result<std::string> submit(const std::string& run, const Manifest& m, const Stream& s, const std::string& base) const;
  // The job's `done` record, or its dead letter; Timeout when `deadline` passed first, Refused
  // when `stop` said so (an interrupt).
  // `started` hears of each delivery (which worker took it), for progress.
  Result<JobRecord> await(const std::string& job_id, std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& stop, const std::function<void(const JobRecord&)>& started = {}) const;
  // Fetches `branch` from the remote into refs/fixhost/remote/<branch> and returns its commit.
  Result<std::string> fetch(const std::string& branch) const;
  // Removes from the remote the base branches this build pushed and the streams' branches it
  // fetched (those only while they still point at what was fetched); best effort.
  void cleanup(const std::string& run, const std::vector<std::string>& streams) const;

  const std::string& remote() const { return remote_; }

 private:
  ClusterConfig cluster_;
  std::filesystem::path repo_;
  std::string remote_;
  std::string submitter_;
};

std::string base_branch(const std::string& run, const std::string& stream);

}  // namespace fixhost::host::build
