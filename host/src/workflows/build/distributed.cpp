// The coordinator's side of a distributed build's remote streams (distributed.hpp).
#include "distributed.hpp"

#include <thread>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/build/build.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/world/git.hpp"
#include "text.hpp"

namespace fixhost::host::build {

std::string base_branch(const std::string& run, const std::string& stream) { return stream_branch(run, stream) + "-base"; }

Manifest stream_manifest(const Manifest& m, const Stream& s) {
  Manifest one = m;
  one.streams = {s};
  one.streams[0].depends_on.clear();
  one.commands.clear();
  one.contract_check.clear();
  one.jobs = 1;
  one.budget_s = s.budget_s + 60;  // the stream's own budget bounds its agent; setup and commit on top
  return one;
}

Status RemoteStreams::check() const {
  if (!cluster_.enabled())
    return make_error(Errc::invalid_argument,
                      "--distributed needs the cluster: set [cluster] url in fixhost.toml or $FIXHOST_CLUSTER_URL (docs/CLUSTER.md)");
  if (auto r = git::run(repo_, {"ls-remote", "--heads", remote_, "refs/heads/fixhost/none"}); !r)
    return make_error(Errc::invalid_argument, "--distributed: the workers clone from and push to the remote '" + remote_ +
                                                  "', which does not answer: " + one_line(r.status().message(), 300) +
                                                  " (pass --remote URL of a repository every worker can reach)");
  return ensure_job_streams(cluster_);
}

Result<std::string> RemoteStreams::submit(const std::string& run, const Manifest& m, const Stream& s,
                                          const std::string& base) const {
  const std::string ref = "refs/heads/" + base_branch(run, s.id);
  if (auto p = git::run(repo_, {"push", "-q", "--force", remote_, base + ":" + ref}); !p)
    return make_error(Errc::io_error, "cannot push the base of stream '" + s.id + "' to '" + remote_ + "': " +
                                          one_line(p.status().message(), 300));
  Job job;
  job.kind = "build";
  // One id per build and stream: a re-submit after a coordinator restart is dropped by JetStream.
  job.id = "b-" + run + "-" + s.id;
  if (job.id.size() > 40) job.id = "b-" + std::to_string(std::hash<std::string>{}(run + "/" + s.id));
  job.remote = remote_;
  job.commit = base;
  job.build_run = run;
  job.stream = s.id;
  job.manifest = to_toml(stream_manifest(m, s));
  job.submitted_by = submitter_;
  return submit_job(cluster_, job);
}

Result<JobRecord> RemoteStreams::await(const std::string& job_id, std::chrono::steady_clock::time_point deadline,
                                       const std::function<bool()>& stop,
                                       const std::function<void(const JobRecord&)>& started) const {
  JobLogReader log(cluster_);
  for (;;) {
    auto recs = log.next(job_id);
    if (recs)
      for (const auto& r : *recs) {
        if (r.what == "done" || r.what == "dead") return r;  // a dead letter is found by its record's job id
        if (r.what == "started" && started) started(r);
      }
    if (stop && stop()) return make_error(Errc::refused, "interrupted while job " + job_id + " ran");
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(Errc::timeout, "job " + job_id + " was not done within the build's time budget" +
                                           (recs ? "" : " (last error reading FIXHOST_JOBS_LOG: " + recs.status().to_string() + ")"));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
}

Result<std::string> RemoteStreams::fetch(const std::string& branch) const {
  const std::string local = "refs/fixhost/remote/" + branch;
  if (auto f = git::run(repo_, {"fetch", "-q", "--no-tags", remote_, "+refs/heads/" + branch + ":" + local}); !f)
    return make_error(Errc::io_error, "cannot fetch " + branch + " from '" + remote_ + "': " + one_line(f.status().message(), 300));
  return git::run(repo_, {"rev-parse", "--verify", local + "^{commit}"});
}

void RemoteStreams::cleanup(const std::string& run, const std::vector<std::string>& streams) const {
  std::vector<std::string> args = {"push", "-q"}, refs;
  for (const auto& s : streams) {
    refs.push_back(":refs/heads/" + base_branch(run, s));
    // A stream branch fetched here is kept in refs/fixhost/remote/ (hostctl discard removes it):
    // removed from the remote only while it still holds what was fetched.
    const std::string branch = stream_branch(run, s);
    if (auto sha = git::run(repo_, {"rev-parse", "--verify", "-q", "refs/fixhost/remote/" + branch}); sha && !sha->empty()) {
      std::string id = *sha;
      while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
      args.push_back("--force-with-lease=refs/heads/" + branch + ":" + id);
      refs.push_back(":refs/heads/" + branch);
    }
  }
  if (refs.empty()) return;
  args.push_back(remote_);
  args.insert(args.end(), refs.begin(), refs.end());
  (void)git::run(repo_, args);
}

}  // namespace fixhost::host::build
