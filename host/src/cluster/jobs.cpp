// The job queue and the worker (docs/CLUSTER.md, "Jobs and workers"). An adapter at the edge: a
// job runs as a `hostctl autofix`, `hostctl build --stream` or `hostctl heal` child in a fresh
// clone; this file only moves jobs and records.
#include "fixhost/host/cluster_jobs.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/build/build.hpp"
#include "fixhost/host/world/jetstream.hpp"
#include "../workflows/build/text.hpp"
#include "nats_options.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string new_job_id() {
  std::random_device rd;
  char buf[24];
  std::snprintf(buf, sizeof buf, "j-%08x%08x", rd(), rd());
  return buf;
}

bool valid_job_id(const std::string& id) {
  if (id.size() < 3 || id.size() > 40) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

Status publish_one(world::JetStream& js, const std::string& subject, const std::string& data, const std::string& msg_id) {
  std::vector<world::NatsOutMsg> msgs(1);
  msgs[0].subject = subject;
  msgs[0].data = data;
  msgs[0].headers = {{"Nats-Msg-Id", msg_id}};
  return js.publish_all(msgs, std::chrono::seconds(10));
}

struct Git {
  int code = -1;
  std::string out;
};

Git git(const std::vector<std::string>& args, const fs::path& cwd = {}) {
  ProcessSpec s;
  s.argv = {"git"};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.cwd = cwd.string();
  s.env = {{"GIT_TERMINAL_PROMPT", "0"}};
  s.timeout = std::chrono::minutes(10);
  s.interruptible = false;
  auto r = run_process(s);
  if (!r) return {-1, r.status().to_string()};
  return {r->exit_code, r->output.data};
}

std::string tail(const std::string& s, std::size_t n = 600) {
  std::string t = s.size() > n ? "…" + s.substr(s.size() - n) : s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

// The sha of refs/heads/<branch> on the remote, "" when it has no such branch.
Result<std::string> remote_branch(const std::string& remote, const std::string& branch) {
  auto r = git({"ls-remote", "--heads", remote, "refs/heads/" + branch});
  if (r.code != 0) return make_error(Errc::io_error, "git ls-remote '" + remote + "' failed: " + tail(r.out));
  auto sp = r.out.find_first_of(" \t");
  return sp == std::string::npos ? std::string() : r.out.substr(0, sp);
}

struct Outcome {
  bool ok = false;
  JobRecord done;      // when ok
  std::string reason;  // when not
};

// What a kind of job runs in its clone, and which exit codes are results (not failures).
struct JobCommand {
  std::vector<std::string> argv;
  std::vector<int> results;
  std::string what;  // "hostctl autofix", for messages
};

Result<JobCommand> job_command(const Job& job, const fs::path& hostctl, const fs::path& repo, const fs::path& store,
                               const fs::path& tmp) {
  JobCommand c;
  c.argv = {hostctl.empty() ? std::string("/proc/self/exe") : hostctl.string(), "-q", "--store", store.string()};
  if (job.kind == "autofix") {
    c.argv.insert(c.argv.end(), {"autofix", "--repo", repo.string(), "--json"});
    if (job.max_attempts > 0) c.argv.insert(c.argv.end(), {"--max-attempts", std::to_string(job.max_attempts)});
    if (!job.budget.empty()) c.argv.insert(c.argv.end(), {"--budget", job.budget});
    c.results = {0, 1, 3};
  } else if (job.kind == "build") {
    // The manifest travels in the job: the coordinator's may not be committed anywhere.
    const fs::path manifest = tmp / "build.toml";
    std::ofstream(manifest, std::ios::binary) << job.manifest;
    if (!fs::exists(manifest)) return make_error(Errc::io_error, "cannot write " + manifest.string());
    c.argv.insert(c.argv.end(), {"build", "--repo", repo.string(), "--manifest", manifest.string(), "--stream", job.stream,
                                 "--stream-of", job.build_run, "--json"});
    c.results = {0, 1, 3};
  } else {  // heal
    c.argv.insert(c.argv.end(), {"heal", "--repo", repo.string(), "--json", "--source", job.source.empty() ? "api" : job.source});
    if (job.max_fixes > 0) c.argv.insert(c.argv.end(), {"--max-fixes", std::to_string(job.max_fixes)});
    c.results = {0, 1, 4};
  }
  if (!job.agent.empty()) c.argv.insert(c.argv.end(), {"--agent", job.agent});
  c.what = "hostctl " + job.kind;
  return c;
}

// One delivery of a job: clone at the commit, run the kind's hostctl command there, push the
// commit it made to the job's branch with a lease that the branch must not exist yet (a
// redelivery never pushes a second state).
Outcome run_job(const Job& job, const ClusterConfig& config, const std::string& worker, std::uint64_t delivery,
                const WorkerOptions& o) {
  Outcome out;
  JobRecord& d = out.done;
  d.what = "done";
  d.job_id = job.id;
  d.kind = job.kind;
  d.worker = worker;
  d.delivery = delivery;
  if (auto a = job_allowed(job, config); !a) return {false, {}, a.message()};
  const std::string branch = job.branch();
  if (!branch.empty()) {
    auto before = remote_branch(job.remote, branch);
    if (!before) return {false, {}, before.status().message()};
    if (!before->empty()) {  // an earlier delivery pushed it, then died before its ack
      d.branch = branch;
      d.commit = *before;
      d.already_pushed = true;
      out.ok = true;
      return out;
    }
  }
  const fs::path base = o.work_dir.empty() ? fs::temp_directory_path() : o.work_dir;
  const fs::path tmp = base / ("fixhost-job-" + job.id + "-" + worker + "-" + std::to_string(delivery));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{tmp};
  const fs::path repo = tmp / "repo", store = tmp / "store";
  if (auto r = git({"clone", "-q", "--no-checkout", job.remote, repo.string()}); r.code != 0)
    return {false, {}, "cannot clone '" + job.remote + "': " + tail(r.out)};
  if (auto r = git({"checkout", "-q", "-B", "fixhost-job-base", job.commit}, repo); r.code != 0)
    return {false, {}, "commit '" + job.commit + "' is not in '" + job.remote + "': " + tail(r.out) +
                           " (submit a commit the remote has: push it first)"};
  auto cmd = job_command(job, o.hostctl, repo, store, tmp);
  if (!cmd) return {false, {}, cmd.status().message()};
  ProcessSpec ps;
  ps.argv = cmd->argv;
  ps.cwd = repo.string();
  ps.interruptible = false;  // a stopping worker finishes the job in hand
  auto r = run_process(ps);
  if (!r) return {false, {}, "cannot run " + cmd->what + ": " + r.status().to_string()};
  d.exit_code = r->exit_code;
  if (std::find(cmd->results.begin(), cmd->results.end(), r->exit_code) == cmd->results.end())
    return {false, {}, cmd->what + " exited " + std::to_string(r->exit_code) + ": " + tail(r->output.data)};
  const std::string& text = r->output.data;
  auto at = text.find("\n{");
  at = at == std::string::npos ? text.find('{') : at + 1;
  json res = at == std::string::npos ? json() : json::parse(text.substr(at), nullptr, false);
  if (!res.is_object()) return {false, {}, cmd->what + " printed no JSON result: " + tail(text)};
  d.run_id = res.value("run_id", res.value("run", ""));
  if (job.kind != "autofix") {
    res.erase("report");  // the markdown stays in the worker's events; the record stays small
    d.result = res.dump();
  }
  const std::string commit = res["commit"].is_string() ? res["commit"].get<std::string>() : "";
  if (!commit.empty() && !branch.empty()) {
    auto p = git({"push", "-q", "--force-with-lease=refs/heads/" + branch + ":", job.remote, commit + ":refs/heads/" + branch},
                 repo);
    if (p.code != 0) {
      auto now = remote_branch(job.remote, branch);
      if (!now || now->empty()) return {false, {}, "cannot push " + branch + " to '" + job.remote + "': " + tail(p.out)};
      d.commit = *now;  // another delivery pushed first; its state stands
      d.already_pushed = true;
    } else {
      d.commit = commit;
    }
    d.branch = branch;
  }
  // The run's events join the team's stream under "<worker>-<job>", so `--cluster` views show
  // the run (best effort: the job's result does not depend on it).
  ClusterConfig fc = config;
  fc.host_id = worker.substr(0, 40) + "-" + job.id;
  if (auto f = forward_events(fc, store); !f && o.progress) o.progress("job " + job.id + ": events not forwarded: " + f.status().to_string());
  out.ok = true;
  return out;
}

JobRecord record_from_json(const std::string& text, std::uint64_t seq) {
  JobRecord r;
  r.stream_seq = seq;
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return r;
  r.what = j.value("what", "");
  r.job_id = j.value("job_id", "");
  r.worker = j.value("worker", "");
  r.delivery = j.value("delivery", std::uint64_t{0});
  r.branch = j.value("branch", "");
  r.commit = j.value("commit", "");
  r.already_pushed = j.value("already_pushed", false);
  r.exit_code = j.value("exit_code", -1);
  r.run_id = j.value("run_id", "");
  r.reason = j.value("reason", "");
  r.kind = j.value("kind", "");
  r.job = j.value("job", "");
  r.result = j.value("result", "");
  r.ts_us = j.value("ts_us", std::int64_t{0});
  return r;
}

}  // namespace

Status job_allowed(const Job& job, const ClusterConfig& config) {
  if (config.worker_remotes) {
    const auto& globs = *config.worker_remotes;
    if (std::none_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return ::fnmatch(g.c_str(), job.remote.c_str(), 0) == 0; })) {
      return make_error(Errc::refused, "job " + job.id + ": its remote '" + job.remote +
                                           "' matches none of this worker's [cluster] worker_remotes (" +
                                           (globs.empty() ? "empty" : build::join(globs)) +
                                           "); add a pattern for it to take its jobs");
    }
  }
  if (config.worker_commands) {
    std::vector<std::pair<std::string, std::string>> carried;  // what, command
    if (!job.agent.empty()) carried.emplace_back("agent", job.agent);
    if (job.kind == "build") {
      // Commands the manifest leaves to the repository (no agent of its own) are the remote's.
      const std::string from_repo = "\x1f(the repository's agent)";
      auto m = build::parse_manifest(job.manifest, "job " + job.id, from_repo);
      if (!m) return make_error(Errc::refused, "job " + job.id + ": its build manifest does not read: " + m.status().message());
      for (const auto& st : m->streams) {
        if (!job.stream.empty() && st.id != job.stream) continue;
        if (st.agent != from_repo) carried.emplace_back("stream '" + st.id + "' agent", st.agent);
        if (!st.check.empty()) carried.emplace_back("stream '" + st.id + "' check", build::join(st.check, " "));
      }
    }
    const auto& ok = *config.worker_commands;
    for (const auto& [what, cmd] : carried)
      if (std::find(ok.begin(), ok.end(), cmd) == ok.end())
        return make_error(Errc::refused, "job " + job.id + " carries a command (its " + what + ": '" + cmd +
                                             "') that is not in this worker's [cluster] worker_commands; add it "
                                             "there, exactly as written, to run such jobs");
  }
  return Status::ok();
}


Status ensure_job_streams_once(const ClusterConfig& config);

std::string Job::branch() const {
  if (kind == "build") return build::stream_branch(build_run, stream);
  if (kind == "heal") return "";
  return "fixhost/autofix-" + id;
}

bool is_job_kind(const std::string& kind) {
  return std::find(k_job_kinds.begin(), k_job_kinds.end(), kind) != k_job_kinds.end();
}

std::string job_to_json(const Job& j) {
  json o{{"kind", j.kind},     {"id", j.id},         {"remote", j.remote},
         {"commit", j.commit}, {"agent", j.agent},   {"max_attempts", j.max_attempts},
         {"budget", j.budget}, {"submitted_by", j.submitted_by}, {"submitted_us", j.submitted_us}};
  if (j.kind == "build") {
    o["build_run"] = j.build_run;
    o["stream"] = j.stream;
    o["manifest"] = j.manifest;
  }
  if (j.kind == "heal") {
    o["source"] = j.source;
    o["max_fixes"] = j.max_fixes;
  }
  return o.dump();
}

Result<Job> job_from_json(const std::string& text) {
  json o = json::parse(text, nullptr, false);
  if (!o.is_object()) return make_error(Errc::invalid_argument, "job is not a JSON object: " + tail(text, 200));
  Job j;
  try {
    j.kind = o.value("kind", "");
    j.id = o.value("id", "");
    j.remote = o.value("remote", "");
    j.commit = o.value("commit", "");
    j.agent = o.value("agent", "");
    j.max_attempts = o.value("max_attempts", 0);
    j.budget = o.value("budget", "");
    j.submitted_by = o.value("submitted_by", "");
    j.submitted_us = o.value("submitted_us", std::int64_t{0});
    j.build_run = o.value("build_run", "");
    j.stream = o.value("stream", "");
    j.manifest = o.value("manifest", "");
    j.source = o.value("source", "");
    j.max_fixes = o.value("max_fixes", 0);
  } catch (const std::exception& e) {
    return make_error(Errc::invalid_argument, std::string("job has a field of the wrong type: ") + e.what());
  }
  if (!valid_job_id(j.id)) return make_error(Errc::invalid_argument, "job id '" + j.id + "' must be 3-40 of [A-Za-z0-9_-]");
  if (j.kind.empty()) return make_error(Errc::invalid_argument, "job " + j.id + " has no kind (autofix, build or heal)");
  if (j.remote.empty()) return make_error(Errc::invalid_argument, "job " + j.id + " has no remote (a git URL)");
  if (j.commit.empty()) return make_error(Errc::invalid_argument, "job " + j.id + " has no commit");
  if (j.kind == "build") {
    // Both end up in a branch name the worker pushes to: only what a run id and a stream id are.
    if (!valid_job_id(j.build_run) || !valid_job_id(j.stream))
      return make_error(Errc::invalid_argument, "build job " + j.id + " needs build_run and stream of 3-40 [A-Za-z0-9_-] (got '" +
                                                    j.build_run + "', '" + j.stream + "')");
    if (j.manifest.empty()) return make_error(Errc::invalid_argument, "build job " + j.id + " has no manifest");
  }
  if (j.kind == "heal" && !j.source.empty() && j.source != "api")
    return make_error(Errc::invalid_argument, "heal job " + j.id + " has source '" + j.source +
                                                  "': a worker's heal reads Sentry's API (api), its store is new per job");
  return j;
}

std::string job_record_json(const JobRecord& r) {
  json o{{"what", r.what},     {"job_id", r.job_id}, {"kind", r.kind},         {"worker", r.worker},
         {"delivery", r.delivery}, {"branch", r.branch}, {"commit", r.commit}, {"already_pushed", r.already_pushed},
         {"exit_code", r.exit_code}, {"run_id", r.run_id}, {"reason", r.reason}, {"job", r.job}, {"result", r.result},
         {"ts_us", r.ts_us},   {"stream_seq", r.stream_seq}};
  return o.dump();
}

Status ensure_job_streams(const ClusterConfig& config) {
  // Right after a cluster (re)starts, JetStream answers Timeout until it has elected its
  // leaders: a few tries over ~15 s.
  Status s = Status::ok();
  for (int attempt = 0; attempt < 15; ++attempt) {
    s = ensure_job_streams_once(config);
    if (s.is_ok() || s.code() != Errc::timeout) return s;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return s;
}

Status ensure_job_streams_once(const ClusterConfig& config) {
  auto js = world::JetStream::connect(nats_options(config, "fixhost-jobs"));
  if (!js) return js.status();
  if (auto s = (*js)->ensure_stream(k_jobs_stream, {"fixhost.jobs.queue.>"}, config.replicas, true); !s) return s;
  if (auto s = (*js)->ensure_stream(k_jobs_log_stream,
                                    {"fixhost.jobs.started.>", "fixhost.jobs.failed.>", "fixhost.jobs.done.>", k_jobs_dead_subject},
                                    config.replicas);
      !s)
    return s;
  return (*js)->ensure_pull_consumer(k_jobs_stream, k_jobs_consumer, "fixhost.jobs.queue.>",
                                     std::chrono::seconds(config.job_ack_wait_s), -1);
}

Result<std::string> submit_job(const ClusterConfig& config, Job job) {
  if (job.id.empty()) job.id = new_job_id();
  if (job.submitted_us == 0) job.submitted_us = events::now_us();
  if (auto v = job_from_json(job_to_json(job)); !v) return v.status();
  if (!is_job_kind(job.kind))
    return make_error(Errc::invalid_argument, "job kind '" + job.kind + "' is not one a worker runs; use autofix, build or heal");
  if (auto s = ensure_job_streams(config); !s) return s;
  auto js = world::JetStream::connect(nats_options(config, "fixhost-submit"));
  if (!js) return js.status();
  // A stream created a moment ago may have no leader yet ("No responders"): retry; the job id
  // is the Nats-Msg-Id, so a publish that did land and is sent again is dropped by JetStream.
  Status s = Status::ok();
  for (int attempt = 0; attempt < 15; ++attempt) {
    s = publish_one(**js, "fixhost.jobs.queue." + job.kind, job_to_json(job), job.id);
    const bool not_ready = s.code() == Errc::timeout || s.message().find("No responders") != std::string::npos;
    if (s.is_ok() || !not_ready) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (!s) return s;
  return job.id;
}

JobLogReader::JobLogReader(ClusterConfig config, std::uint64_t from_seq)
    : config_(std::move(config)), from_(std::max<std::uint64_t>(from_seq, 1)) {}
JobLogReader::~JobLogReader() = default;

Result<std::vector<JobRecord>> JobLogReader::next(const std::string& job_id) {
  if (!js_) {
    auto js = world::JetStream::connect(nats_options(config_, "fixhost-jobs"));
    if (!js) return js.status();
    js_ = std::move(*js);
  }
  std::vector<JobRecord> out;
  auto st = js_->stream_state(k_jobs_log_stream);
  if (!st) {
    if (st.status().code() == Errc::not_found) return out;
    js_.reset();  // the next poll connects again
    return st.status();
  }
  if (st->last_seq < from_) return out;
  std::uint64_t next = from_;
  auto s = js_->read(k_jobs_log_stream, "fixhost.jobs.>", from_, [&](const world::NatsInMsg& m) {
    next = std::max(next, m.stream_seq + 1);
    auto r = record_from_json(m.data, m.stream_seq);
    if (job_id.empty() || r.job_id == job_id) out.push_back(std::move(r));
    return true;
  });
  if (!s) {
    js_.reset();
    return s;
  }
  from_ = next;
  return out;
}

Result<std::vector<JobRecord>> read_job_log(const ClusterConfig& config, const std::string& job_id, std::uint64_t from_seq) {
  JobLogReader reader(config, from_seq);
  return reader.next(job_id);
}

Result<std::uint64_t> jobs_pending(const ClusterConfig& config) {
  auto js = world::JetStream::connect(nats_options(config, "fixhost-jobs"));
  if (!js) return js.status();
  auto st = (*js)->stream_state(k_jobs_stream);
  if (!st) return st.status().code() == Errc::not_found ? Result<std::uint64_t>(std::uint64_t{0}) : st.status();
  return st->messages;
}

Result<WorkerReport> run_worker(const ClusterConfig& config, const WorkerOptions& o) {
  if (!config.enabled()) return make_error(Errc::invalid_argument, "the cluster is off: set [cluster] url in fixhost.toml or $FIXHOST_CLUSTER_URL");
  auto id = cluster_host_id(config, o.store);
  if (!id) return id.status();
  const std::string worker = *id;
  if (auto s = ensure_job_streams(config); !s) return s;
  std::atomic<std::uint64_t> taken{0}, done{0}, failed{0}, dead{0};
  std::mutex err_mu;
  Status first_error = Status::ok();
  auto say = [&](const std::string& m) {
    if (o.progress) o.progress("worker " + worker + ": " + m);
  };
  std::vector<std::string> unset;
  if (!config.worker_remotes) unset.push_back("worker_remotes");
  if (!config.worker_commands) unset.push_back("worker_commands");
  if (!unset.empty())
    say(std::string("WARNING: taking jobs for ") + (config.worker_remotes ? "the allowed remotes" : "any remote") +
        (config.worker_commands ? "" : " with any agent or check command they carry") +
        ": whoever can publish on fixhost.jobs.queue.> runs code here; set [cluster] " + build::join(unset, " and ") +
        " in fixhost.toml (docs/CLUSTER.md)");
  auto slot = [&](int n) {
    auto js = world::JetStream::connect(nats_options(config, "fixhost-worker-" + worker + "-" + std::to_string(n)));
    if (!js) {
      std::lock_guard lock(err_mu);
      if (first_error.is_ok()) first_error = js.status();
      return;
    }
    auto record = [&](JobRecord r, const std::string& subject, const std::string& msg_id) {
      r.ts_us = events::now_us();
      if (r.worker.empty()) r.worker = worker;
      // A lost record is not worth losing the job for: retried a few times, then reported.
      for (int i = 0; i < 5; ++i) {
        auto s = publish_one(**js, subject, job_record_json(r), msg_id);
        if (s) return;
        if (i == 4) say("cannot record " + r.what + " of job " + r.job_id + ": " + s.to_string());
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
      }
    };
    auto to_dead = [&](world::JetStream::Pulled& m, const std::string& job_id, const std::string& kind, const std::string& reason) {
      JobRecord r;
      r.what = "dead";
      r.job_id = job_id;
      r.kind = kind;
      r.delivery = m.delivered;
      r.reason = reason;
      r.job = m.msg.data;
      record(r, k_jobs_dead_subject, "dead-" + (job_id.empty() ? std::to_string(m.msg.stream_seq) : job_id));
      // Acknowledged: the dead letter holds it now (a work queue removes an acknowledged job).
      if (!m.ack()) (void)m.term();
      ++dead;
      say("job " + job_id + " dead: " + reason);
    };
    while (o.keep_going()) {
      if (o.max_jobs > 0 && taken.load() >= static_cast<std::uint64_t>(o.max_jobs)) break;
      auto p = (*js)->pull(k_jobs_stream, k_jobs_consumer, "fixhost.jobs.queue.>", std::chrono::milliseconds(1000));
      if (!p) {
        say(p.status().to_string());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      if (!*p) continue;
      auto& m = **p;
      ++taken;
      auto job = job_from_json(m.msg.data);
      if (!job) {
        to_dead(m, "", "", job.status().message());
        continue;
      }
      if (!is_job_kind(job->kind)) {
        to_dead(m, job->id, job->kind, "job kind '" + job->kind + "' is not one this worker runs (autofix, build, heal)");
        continue;
      }
      if (m.delivered > static_cast<std::uint64_t>(config.job_max_deliver)) {
        to_dead(m, job->id, job->kind,
                "delivered " + std::to_string(m.delivered) + " times (job_max_deliver " + std::to_string(config.job_max_deliver) +
                    "); the workers that took it never finished it (killed, or stalled past job_ack_wait)");
        continue;
      }
      JobRecord st;
      st.what = "started";
      st.job_id = job->id;
      st.kind = job->kind;
      st.delivery = m.delivered;
      record(st, "fixhost.jobs.started." + job->id, "started-" + job->id + "-" + std::to_string(m.delivered) + "-" + worker);
      say("job " + job->id + " (delivery " + std::to_string(m.delivered) + ") started");
      auto fut = std::async(std::launch::async, [&, j = *job, delivery = m.delivered] {
        return run_job(j, config, worker, delivery, o);
      });
      // Heartbeats: the consumer keeps the job for us while we work, however long it takes.
      const auto beat = std::chrono::milliseconds(std::max(200, config.job_ack_wait_s * 1000 / 3));
      while (fut.wait_for(beat) != std::future_status::ready)
        if (auto s = m.in_progress(); !s) say("heartbeat for job " + job->id + ": " + s.to_string());
      Outcome out = fut.get();
      if (out.ok) {
        record(out.done, "fixhost.jobs.done." + job->id, "done-" + job->id);
        if (auto s = m.ack(); !s) say("ack of job " + job->id + ": " + s.to_string() + " (it will be redelivered; the branch is not pushed twice)");
        ++done;
        say("job " + job->id + " done" +
            (!out.done.branch.empty() ? ", " + out.done.branch
             : job->kind == "heal"    ? " (hostctl heal exited " + std::to_string(out.done.exit_code) + ")"
                                      : std::string(" (nothing committed)")));
        continue;
      }
      ++failed;
      JobRecord f;
      f.what = "failed";
      f.job_id = job->id;
      f.kind = job->kind;
      f.delivery = m.delivered;
      f.reason = out.reason;
      record(f, "fixhost.jobs.failed." + job->id, "failed-" + job->id + "-" + std::to_string(m.delivered));
      say("job " + job->id + " failed (delivery " + std::to_string(m.delivered) + "): " + out.reason);
      if (m.delivered >= static_cast<std::uint64_t>(config.job_max_deliver))
        to_dead(m, job->id, job->kind,
                "failed " + std::to_string(m.delivered) + " times (job_max_deliver); last: " + out.reason);
      else
        (void)m.nak(std::chrono::seconds(1));
    }
  };
  const int n = std::max(1, o.jobs);
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back(slot, i);
  slot(0);
  for (auto& t : threads) t.join();
  if (!first_error.is_ok()) return first_error;
  return WorkerReport{taken.load(), done.load(), failed.load(), dead.load()};
}

}  // namespace fixhost::host
