#pragma once
// Work that any machine can pick up (docs/CLUSTER.md, "Jobs and workers"): jobs are JSON
// messages on the work-queue stream FIXHOST_JOBS (subject fixhost.jobs.queue.<kind>), taken by
// `hostctl worker --cluster` through one shared durable pull consumer with explicit acks. What
// happened to each job is recorded on the stream FIXHOST_JOBS_LOG: fixhost.jobs.started.<id>,
// .failed.<id>, .done.<id> (which worker finished it, the branch it pushed) and the dead-letter
// subject fixhost.jobs.dead (with the reason).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fixhost/host/cluster.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host::world {
class JetStream;
}

namespace fixhost::host {

inline constexpr const char* k_jobs_stream = "FIXHOST_JOBS";
inline constexpr const char* k_jobs_log_stream = "FIXHOST_JOBS_LOG";
inline constexpr const char* k_jobs_consumer = "fixhost-workers";
inline constexpr const char* k_jobs_dead_subject = "fixhost.jobs.dead";

// The kinds a worker runs: autofix (a `hostctl autofix` run, its branch pushed), build (one stream
// of a `hostctl build --distributed` run: `hostctl build --stream`, its commit pushed on the
// stream's branch) and heal (a `hostctl heal` run, which pushes fix/sentry-<id> and opens the PR).
inline const std::vector<std::string> k_job_kinds = {"autofix", "build", "heal"};

struct Job {
  std::string kind;          // autofix | build | heal
  std::string id;            // "j-" + 16 hex digits; also the Nats-Msg-Id (a re-submit is dropped)
  std::string remote;        // git URL the worker clones and pushes to
  std::string commit;        // the commit to run on (full or abbreviated SHA, or a ref of the remote)
  std::string agent;         // autofix: the agent command ("" = the repository's fixhost.toml `agent`)
  int max_attempts = 0;      // autofix: per failure (0 = the repository's setting)
  std::string budget;        // autofix: wall time for the run, e.g. "20m" ("" = the repository's)
  std::string submitted_by;  // host id of the submitter
  std::int64_t submitted_us = 0;
  // build: the coordinator's run, the stream, and the manifest that stream runs from (TOML: that
  // stream alone, its dependencies already merged into `commit`).
  std::string build_run;
  std::string stream;
  std::string manifest;
  // heal: where the errors come from (api: the worker's SENTRY_* environment) and how many
  // groups one run fixes (0 = the repository's [heal] max_fixes).
  std::string source;
  int max_fixes = 0;

  // The branch the worker pushes: autofix fixhost/autofix-<id>; build the stream's branch
  // fixhost/build-<run>-<stream>; heal "" (heal pushes its own fix/sentry-<id> branches).
  std::string branch() const;
};

bool is_job_kind(const std::string& kind);
std::string job_to_json(const Job& job);
// InvalidArgument names the missing or malformed field.
Result<Job> job_from_json(const std::string& text);

// Ok when a worker with `config` may run `job` ([cluster] worker_remotes and worker_commands);
// else Refused naming the remote or the command, and the setting that would let it in.
Status job_allowed(const Job& job, const ClusterConfig& config);

// Creates FIXHOST_JOBS (work queue, [cluster] replicas), FIXHOST_JOBS_LOG and the workers'
// consumer (job_ack_wait, no server-side delivery limit: the worker counts deliveries) if missing.
Status ensure_job_streams(const ClusterConfig& config);

// Publishes the job (a fresh id when job.id is empty) and returns its id once the stream stored it.
Result<std::string> submit_job(const ClusterConfig& config, Job job);

// One record of FIXHOST_JOBS_LOG.
struct JobRecord {
  std::string what;     // started | failed | done | dead
  std::string job_id;
  std::string worker;   // host id of the worker ("" for a dead letter written by nobody)
  std::uint64_t delivery = 0;
  std::string branch;   // done: the branch on the remote ("" when the run committed nothing)
  std::string commit;   // done: the commit the branch points at
  bool already_pushed = false;  // done: an earlier delivery had pushed the branch; nothing pushed now
  int exit_code = -1;   // the run's exit code (hostctl autofix, build --stream or heal)
  std::string run_id;   // the worker's run
  std::string reason;   // failed, dead: why
  std::string kind;
  std::string job;      // dead: the job's JSON as submitted
  std::string result;   // done: the run's --json result (build: the stream's outcome; heal: its actions)
  std::int64_t ts_us = 0;
  std::uint64_t stream_seq = 0;
};
std::string job_record_json(const JobRecord& r);

// Every record of FIXHOST_JOBS_LOG (for one job when job_id is set), oldest first, from the
// stream sequence `from_seq` on (a poller passes one past the last record it saw).
Result<std::vector<JobRecord>> read_job_log(const ClusterConfig& config, const std::string& job_id = "",
                                            std::uint64_t from_seq = 1);
// A poller of FIXHOST_JOBS_LOG: one connection for all its polls (made again after an error),
// and each poll reads only what was recorded since the last one, whichever job it was for.
class JobLogReader {
 public:
  // Reads from the stream sequence `from_seq` on.
  explicit JobLogReader(ClusterConfig config, std::uint64_t from_seq = 1);
  ~JobLogReader();
  JobLogReader(const JobLogReader&) = delete;
  JobLogReader& operator=(const JobLogReader&) = delete;
  // The records of `job_id` (every job's when empty) recorded since the last call, oldest first.
  Result<std::vector<JobRecord>> next(const std::string& job_id);

 private:
  ClusterConfig config_;
  std::unique_ptr<world::JetStream> js_;
  std::uint64_t from_ = 1;
};

// Jobs still in FIXHOST_JOBS (waiting or being worked on).
Result<std::uint64_t> jobs_pending(const ClusterConfig& config);

struct WorkerOptions {
  std::filesystem::path store;          // where this worker's host id is kept
  int jobs = 1;                         // jobs run at the same time (one connection each)
  std::filesystem::path hostctl;        // the binary run for each job (default /proc/self/exe)
  std::filesystem::path work_dir;       // temp clones go below it (default: the system temp dir)
  std::function<bool()> keep_going = [] { return true; };
  // Stop after this many jobs were taken (0 = never), for scripts and tests.
  int max_jobs = 0;
  std::function<void(const std::string&)> progress;
};

struct WorkerReport {
  std::uint64_t taken = 0, done = 0, failed = 0, dead = 0;
};

// Pulls jobs until keep_going returns false (the job in hand is finished first). Errors: the
// cluster could not be reached at start, or the host id could not be made.
Result<WorkerReport> run_worker(const ClusterConfig& config, const WorkerOptions& options);

}  // namespace fixhost::host
