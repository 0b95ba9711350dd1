#pragma once
// Many runners on one NATS JetStream (docs/CLUSTER.md). The local log stays the source of truth
// and is the outbox: the forwarder publishes every event after its durable checkpoint (the last
// seq JetStream acknowledged) to FIXHOST_EVENTS, subject fixhost.events.<host id>.<type>, with
// Nats-Msg-Id = <host id>:<seq>, so a re-send after a fault is dropped by the stream's duplicate
// window. The cluster views read the stream into a local cache store with the same projections.
// Nothing here connects unless [cluster] url (or $FIXHOST_CLUSTER_URL) is set.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "fixhost/result.hpp"

namespace fixhost::host {

struct ClusterConfig {
  // nats://host:4222[,nats://...] or tls://...; empty: the cluster is off. $FIXHOST_CLUSTER_URL
  // overrides it. Default: "" (off)
  std::string url;
  // Credentials, from the environment only: $FIXHOST_NATS_TOKEN, $FIXHOST_NATS_CREDS (a .creds file).
  std::string token;
  std::string creds;
  // The event stream and how many servers keep a copy of it. Default: "FIXHOST_EVENTS", 3
  std::string stream = "FIXHOST_EVENTS";
  int replicas = 3;
  // This runner's name in subjects and message ids ([A-Za-z0-9_-]). Default: generated once per
  // store (hostname-xxxxxx) and kept in <store>-cluster/host_id
  std::string host_id;
  // Events per publish round (one wait for all their acks, then one checkpoint). Default: 1000
  int batch = 1000;
  // The job queue (hostctl worker --cluster, docs/CLUSTER.md): a delivery not acknowledged (nor
  // kept alive by the worker's heartbeats) within job_ack_wait seconds goes to another worker; a
  // job that failed (or whose workers died) job_max_deliver times goes to fixhost.jobs.dead.
  // Both are set when the FIXHOST_JOBS consumer is created. Default: 60, 3
  int job_ack_wait_s = 60;
  int job_max_deliver = 3;
  // What a worker of this configuration takes (`hostctl worker`): jobs whose remote matches one
  // of `worker_remotes` (shell globs, fnmatch), and whose own commands (an autofix or heal job's
  // agent, a build stream's agent and check) are each one of `worker_commands`, exactly as
  // written. A command that comes from the cloned repository (its fixhost.toml) is the
  // remote's, so worker_remotes covers it. Unset: anything (the worker says so when it starts).
  // A job refused here fails its delivery with the reason; another worker may take it.
  std::optional<std::vector<std::string>> worker_remotes;
  std::optional<std::vector<std::string>> worker_commands;

  bool enabled() const { return !url.empty(); }
};

// [cluster] of <repo>/fixhost.toml (url, stream, replicas, host_id, batch, job_ack_wait,
// job_max_deliver, worker_remotes, worker_commands), then the environment.
// InvalidArgument names the key and what it expects.
Result<ClusterConfig> load_cluster_config(const std::filesystem::path& repo);

// Where the cluster state of a store lives: a sibling directory "<store>-cluster" (host id,
// forwarder checkpoint, view cache).
std::filesystem::path cluster_dir(const std::filesystem::path& store_dir);

// The configured host id, else the one kept for this store (created on first use).
Result<std::string> cluster_host_id(const ClusterConfig& config, const std::filesystem::path& store_dir);

// The forwarder's checkpoint and health, <store>-cluster/forwarder.json (replaced atomically).
struct ForwarderState {
  std::string host_id;
  std::uint64_t acked_seq = 0;      // every seq <= this is in the stream
  std::int64_t updated_us = 0;      // when acked_seq last moved
  std::string last_error;           // "" when the last round succeeded
  std::int64_t last_error_us = 0;
};
Result<ForwarderState> read_forwarder_state(const std::filesystem::path& store_dir);

struct ForwardOptions {
  // Keep following the log (retrying through outages) until keep_going returns false; false
  // returns once everything appended so far is acknowledged, or with the first error.
  bool follow = false;
  std::function<bool()> keep_going = [] { return true; };
  // How long to wait for new events, and before a retry after an error. Default: 100 ms, 500 ms
  std::chrono::milliseconds poll{100};
  std::chrono::milliseconds retry{500};
  // Called (from the client library's thread) when JetStream acknowledged the event with this seq.
  std::function<void(std::uint64_t seq)> on_ack;
  std::function<void(const std::string&)> progress;
};

struct ForwardReport {
  std::uint64_t published = 0;   // events acknowledged in this call
  std::uint64_t acked_seq = 0;   // the checkpoint afterwards
};

// Publishes the store's events after the checkpoint. The store is opened read-only, so a run
// may be writing it at the same time. Errors: Refused (bad credentials), IOError (no server),
// Timeout (no acks); each is also recorded as last_error in the forwarder state.
Result<ForwardReport> forward_events(const ClusterConfig& config, const std::filesystem::path& store_dir,
                                     const ForwardOptions& options = {});

struct CacheReport {
  std::filesystem::path dir;     // the cache store, readable like any store
  std::uint64_t read = 0;        // messages read from the stream in this call
  std::uint64_t added = 0;       // events appended to the cache (duplicates skipped)
  std::uint64_t stream_seq = 0;  // stream checkpoint afterwards
};

// Brings the view cache of `store_dir` (<store>-cluster/cache) up to date with the stream: reads
// only what is new since its checkpoint, skips events it already has (by host and seq), and
// remaps causation to the cache's seqs. The cache registers the stats projection.
Result<CacheReport> sync_cluster_cache(const ClusterConfig& config, const std::filesystem::path& store_dir);

}  // namespace fixhost::host
