// hostctl cluster status | forward | sync | events: this runner's link to the team's NATS
// JetStream (docs/CLUSTER.md).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>

#include "commands.hpp"
#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/cluster.hpp"
#include "fixhost/host/cluster_jobs.hpp"
#include "fixhost/host/world/jetstream.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop(int) { g_stop = true; }

struct Target {
  ClusterConfig config;
  fs::path store;
};

Result<Target> target(const Shared& shared, const std::string& repo_dir) {
  fs::path repo = repo_root(repo_dir);
  auto c = load_cluster_config(repo);
  if (!c) return c.status();
  if (!c->enabled())
    return make_error(Errc::invalid_argument, "the cluster is off for '" + repo.string() +
                                                  "': set [cluster] url = \"nats://host:4222\" in fixhost.toml or $FIXHOST_CLUSTER_URL");
  return Target{*c, resolve_store(shared.global, repo)};
}

void register_status(CLI::App& parent, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("status", "Host id, stream, forwarder lag (events and seconds) and the last error");
  cmd->add_flag("--json", o->json, "One JSON object");
  cmd->add_option("--repo", o->repo, "Repository whose store and fixhost.toml to read (default: the current directory)");
  cmd->callback([o, &shared] {
    auto t = target(shared, o->repo);
    if (!t) return void(shared.exit_code = fail(t.status().to_string()));
    auto id = cluster_host_id(t->config, t->store);
    if (!id) return void(shared.exit_code = fail(id.status().to_string()));
    auto st = read_forwarder_state(t->store);
    if (!st) return void(shared.exit_code = fail(st.status().to_string()));
    store::StoreOptions so;
    so.writable = false;
    so.create_if_missing = false;
    std::uint64_t last = 0;
    double lag_s = 0;
    if (auto log = store::EventLog::open(t->store, so)) {
      last = (*log)->last_seq();
      if (last > st->acked_seq)
        if (auto e = (*log)->get(st->acked_seq + 1)) lag_s = std::max(0.0, (events::now_us() - e->ts_us) / 1e6);
    }
    nlohmann::ordered_json j;
    j["host_id"] = *id;
    j["url"] = t->config.url;
    j["stream"] = t->config.stream;
    j["replicas"] = t->config.replicas;
    j["local_last_seq"] = last;
    j["acked_seq"] = st->acked_seq;
    j["lag_events"] = last > st->acked_seq ? last - st->acked_seq : 0;
    j["lag_seconds"] = lag_s;
    j["last_error"] = st->last_error;
    j["last_error_us"] = st->last_error_us;
    if (o->json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& [k, v] : j.items()) rows.push_back({k, v.is_string() ? v.get<std::string>() : v.dump()});
    std::cout << render_table({"field", "value"}, rows, 200);
  });
}

void register_forward(CLI::App& parent, Shared& shared) {
  struct Opts {
    bool follow = false;
    std::string repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("forward",
                                    "Publish this store's events to the stream from the checkpoint; --follow keeps at it "
                                    "(retrying through outages) until SIGINT/SIGTERM. Exit 0 caught up, 2 could not publish");
  cmd->add_flag("--follow,-f", o->follow, "Keep forwarding new events");
  cmd->add_option("--repo", o->repo, "Repository whose store and fixhost.toml to use (default: the current directory)");
  cmd->callback([o, &shared] {
    auto t = target(shared, o->repo);
    if (!t) return void(shared.exit_code = fail(t.status().to_string()));
    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    ForwardOptions fo;
    fo.follow = o->follow;
    fo.keep_going = [] { return !g_stop.load(); };
    fo.progress = progress_printer(shared);
    auto r = forward_events(t->config, t->store, fo);
    if (!r) return void(shared.exit_code = fail(r.status().to_string()));
    if (!shared.global.quiet)
      std::cerr << "cluster: " << r->published << " events published, acknowledged up to seq " << r->acked_seq << "\n";
  });
}

void register_sync(CLI::App& parent, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string repo = ".";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("sync", "Bring the --cluster view cache up to date with the stream");
  cmd->add_flag("--json", o->json, "One JSON object");
  cmd->add_option("--repo", o->repo, "Repository whose store and fixhost.toml to use (default: the current directory)");
  cmd->callback([o, &shared] {
    auto t = target(shared, o->repo);
    if (!t) return void(shared.exit_code = fail(t.status().to_string()));
    auto r = sync_cluster_cache(t->config, t->store);
    if (!r) return void(shared.exit_code = fail(r.status().to_string()));
    nlohmann::ordered_json j{{"cache", r->dir.string()}, {"read", r->read}, {"added", r->added}, {"stream_seq", r->stream_seq}};
    std::cout << (o->json ? j.dump(2) : j.dump()) << "\n";
  });
}

void register_cluster_events(CLI::App& parent, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string repo = ".", host;
    std::uint64_t since = 1;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("events", "Print the stream's events, oldest first (all hosts, or --host H)");
  cmd->add_option("--host", o->host, "Only this host id's events");
  cmd->add_option("--since", o->since, "From this stream seq");
  cmd->add_flag("--json", o->json, "One JSON object per line, with host, host seq and stream seq");
  cmd->add_option("--repo", o->repo, "Repository whose fixhost.toml to use (default: the current directory)");
  cmd->callback([o, &shared] {
    auto t = target(shared, o->repo);
    if (!t) return void(shared.exit_code = fail(t.status().to_string()));
    world::NatsOptions no;
    no.url = t->config.url;
    no.token = t->config.token;
    no.creds = t->config.creds;
    auto js = world::JetStream::connect(no);
    if (!js) return void(shared.exit_code = fail(js.status().to_string()));
    const std::string filter = o->host.empty() ? "fixhost.events.>" : "fixhost.events." + o->host + ".>";
    auto s = (*js)->read(t->config.stream, filter, o->since, [&](const world::NatsInMsg& m) {
      auto e = events::decode_envelope(m.data);
      if (!e) return true;
      auto host = m.headers.count("Fixhost-Host") ? m.headers.at("Fixhost-Host") : "";
      if (o->json) {
        auto j = events::to_json(*e);
        j["host"] = host;
        j["stream_seq"] = m.stream_seq;
        std::cout << events::dump_json(j) << "\n";
      } else {
        std::cout << m.stream_seq << "  " << host << ":" << e->seq << "  " << e->run_id << "  "
                  << events::event_type_name(e->type) << "\n";
      }
      return true;
    });
    if (!s) shared.exit_code = fail(s.to_string());
  });
}

void register_submit(CLI::App& parent, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string repo = ".", remote, commit, agent, budget, id, source = "api";
    int max_attempts = 0, max_fixes = 0;
  };
  auto* cmd = parent.add_subcommand("submit", "Put a job on the FIXHOST_JOBS queue for any `hostctl worker --cluster`; prints its id");
  cmd->require_subcommand(1);
  // What every kind takes; `fill` sets the kind's own fields.
  auto kind = [&](const std::string& name, const std::string& help, std::function<void(CLI::App&, Opts&)> more,
                  std::function<void(Job&, const Opts&)> fill) {
    auto o = std::make_shared<Opts>();
    auto* k = cmd->add_subcommand(name, help);
    k->add_option("--remote", o->remote, "Git URL the worker clones and pushes to")->required();
    k->add_option("--commit", o->commit, "Commit (SHA or a ref of the remote) to run on")->required();
    k->add_option("--agent", o->agent, "Agent command for the run (default: the repository's fixhost.toml `agent`)");
    more(*k, *o);
    k->add_option("--id", o->id, "Job id (default: generated); a re-submit with the same id within 2 min is dropped");
    k->add_flag("--json", o->json, "One JSON object: the job as queued");
    k->add_option("--repo", o->repo, "Directory whose fixhost.toml [cluster] to use (default: the current directory)");
    k->callback([o, &shared, name, fill] {
      auto t = target(shared, o->repo);
      if (!t) return void(shared.exit_code = fail(t.status().to_string()));
      Job job;
      job.kind = name;
      job.id = o->id;
      job.remote = o->remote;
      job.commit = o->commit;
      job.agent = o->agent;
      fill(job, *o);
      if (auto h = cluster_host_id(t->config, t->store)) job.submitted_by = *h;
      auto id = submit_job(t->config, job);
      if (!id) return void(shared.exit_code = fail(id.status().to_string()));
      job.id = *id;
      if (o->json) {
        auto j = nlohmann::ordered_json::parse(job_to_json(job));
        j["branch"] = job.branch();
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << *id << "\n";
      }
    });
  };
  kind("autofix",
       "An autofix run on COMMIT of REMOTE: a worker clones it, runs `hostctl autofix` and pushes\n"
       "fixhost/autofix-<job id> to REMOTE when the run committed fixes. Exit 0: queued, 2: not queued",
       [](CLI::App& k, Opts& o) {
         k.add_option("--max-attempts", o.max_attempts, "Attempts per failure (default: the repository's)");
         k.add_option("--budget", o.budget, "Wall time for the run, e.g. 20m (default: the repository's)");
       },
       [](Job& j, const Opts& o) {
         j.max_attempts = o.max_attempts;
         j.budget = o.budget;
       });
  kind("heal",
       "A heal run on COMMIT of REMOTE: a worker clones it and runs `hostctl heal` there, which fetches\n"
       "the errors from Sentry's API (the worker's SENTRY_ORG, SENTRY_AUTH_TOKEN, SENTRY_URL), pushes\n"
       "fix/sentry-<id> to REMOTE and opens the PR with gh (a PR already open is not opened again).\n"
       "Exit 0: queued, 2: not queued",
       [](CLI::App& k, Opts& o) {
         k.add_option("--max-fixes", o.max_fixes, "Groups fixed by the run (default: the repository's [heal] max_fixes)")
             ->check(CLI::Range(0, 1000));
       },
       [](Job& j, const Opts& o) {
         j.max_fixes = o.max_fixes;
         j.source = "api";  // a worker's store is a fresh one per job: the errors come from Sentry
       });
}

void register_jobs(CLI::App& parent, Shared& shared) {
  struct Opts {
    bool json = false;
    std::string repo = ".", job;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("jobs", "What happened to the queued jobs: started, failed, done (by which worker), dead");
  cmd->add_option("job", o->job, "Only this job id");
  cmd->add_flag("--json", o->json, "One JSON object per record (FIXHOST_JOBS_LOG), oldest first");
  cmd->add_option("--repo", o->repo, "Directory whose fixhost.toml [cluster] to use (default: the current directory)");
  cmd->callback([o, &shared] {
    auto t = target(shared, o->repo);
    if (!t) return void(shared.exit_code = fail(t.status().to_string()));
    auto recs = read_job_log(t->config, o->job);
    if (!recs) return void(shared.exit_code = fail(recs.status().to_string()));
    if (o->json) {
      for (const auto& r : *recs) std::cout << job_record_json(r) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : *recs)
      rows.push_back({std::to_string(r.stream_seq), r.job_id, r.what, r.worker, std::to_string(r.delivery),
                      r.what == "done" ? (r.branch.empty() ? "(nothing committed)" : r.branch + " " + r.commit.substr(0, 12) +
                                                                                         (r.already_pushed ? " (pushed earlier)" : ""))
                                       : r.reason});
    std::cout << render_table({"seq", "job", "what", "worker", "delivery", "branch / reason"}, rows, 120);
    if (auto n = jobs_pending(t->config)) std::cout << *n << " job(s) in " << k_jobs_stream << "\n";
  });
}

void register_worker(CLI::App& app, Shared& shared) {
  struct Opts {
    bool cluster = false;
    int jobs = 1, max_jobs = 0;
    std::string repo = ".", work_dir;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "worker",
      "Take jobs from the cluster's FIXHOST_JOBS queue and run them (docs/CLUSTER.md): each job is cloned at\n"
      "its commit and run there: autofix by `hostctl autofix` (its branch pushed to the job's remote), a\n"
      "build stream by `hostctl build --stream` (its commit pushed on the stream's branch), heal by\n"
      "`hostctl heal` (which pushes fix/sentry-<id> and opens the PR). Heartbeats\n"
      "keep a long job; a killed worker's job goes to another after [cluster] job_ack_wait; a job that fails\n"
      "job_max_deliver times goes to fixhost.jobs.dead. SIGINT/SIGTERM: finish the job in hand, then exit 0.\n"
      "Exit 2: the cluster could not be used.");
  cmd->add_flag("--cluster", o->cluster, "Required: take jobs from the cluster ([cluster] url)")->required();
  cmd->add_option("--jobs,-j", o->jobs, "Jobs run at the same time (default 1)")->check(CLI::Range(1, 64));
  cmd->add_option("--max-jobs", o->max_jobs, "Exit after taking this many jobs (default: run until stopped)")->check(CLI::Range(0, 1000000));
  cmd->add_option("--work-dir", o->work_dir, "Where the job clones go (default: the system temp dir); each is removed after its job");
  cmd->add_option("--repo", o->repo, "Directory whose fixhost.toml [cluster] and store (host id) to use (default: the current directory)");
  cmd->callback([o, &shared] {
    auto t = target(shared, o->repo);
    if (!t) return void(shared.exit_code = fail(t.status().to_string()));
    std::signal(SIGINT, on_stop);
    std::signal(SIGTERM, on_stop);
    WorkerOptions wo;
    wo.store = t->store;
    wo.jobs = o->jobs;
    wo.max_jobs = o->max_jobs;
    wo.work_dir = o->work_dir;
    wo.keep_going = [] { return !g_stop.load(); };
    wo.progress = progress_printer(shared);
    auto r = run_worker(t->config, wo);
    if (!r) return void(shared.exit_code = fail(r.status().to_string()));
    if (!shared.global.quiet)
      std::cerr << "worker: " << r->taken << " jobs taken, " << r->done << " done, " << r->failed << " failed deliveries, "
                << r->dead << " dead-lettered\n";
  });
}

}  // namespace

fs::path cluster_view_store(Shared& shared, const std::string& repo_dir) {
  auto t = target(shared, repo_dir);
  if (!t) {
    shared.exit_code = fail(t.status().to_string());
    return {};
  }
  auto r = sync_cluster_cache(t->config, t->store);
  if (!r) {
    shared.exit_code = fail(r.status().to_string());
    return {};
  }
  return r->dir;
}

void register_cluster(CLI::App& app, Shared& shared) {
  auto* cmd = app.add_subcommand("cluster", "This runner and the team's NATS JetStream ([cluster], docs/CLUSTER.md)");
  cmd->require_subcommand(1);
  register_status(*cmd, shared);
  register_forward(*cmd, shared);
  register_sync(*cmd, shared);
  register_cluster_events(*cmd, shared);
  register_submit(*cmd, shared);
  register_jobs(*cmd, shared);
  register_worker(app, shared);  // `hostctl worker --cluster`: a top-level command, registered here
}

}  // namespace fixhost::host::cli
