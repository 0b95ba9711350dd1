#include "fixhost/host/run_context.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "fixhost/events/json.hpp"
#include "fixhost/host/stats.hpp"

namespace fixhost::host {

std::string new_run_id() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(buf) + suffix;
}

Status ChannelSink::append(std::span<events::Event> batch) {
  auto r = channel_.append(batch);
  return r.is_ok() ? Status::ok() : r.status();
}

Status LogSink::append(std::span<events::Event> batch) {
  auto r = log_.append_batch(batch, durable_);
  return r.is_ok() ? Status::ok() : r.status();
}

LoadReport load_configured_plugins(const Config& config, const std::vector<std::filesystem::path>& extra_dirs) {
  LoaderOptions lo;
  lo.dirs.push_back(builtin_plugin_dir());
  for (const auto& d : extra_dirs) lo.dirs.push_back(d);
  for (const auto& d : config.plugin_dirs) lo.dirs.push_back(d);
  lo.config = config.plugin_config;
  lo.external = config.external_plugins;
  lo.external_cwd = config.repo;
  return load_plugins(lo);
}

Result<std::unique_ptr<RunContext>> RunContext::start(const Config& config, const RunOptions& options) {
  std::unique_ptr<RunContext> ctx(new RunContext());
  store::StoreOptions so;
  so.holder = "hostctl " + options.mode;
  so.projections.push_back(stats_projection());
  auto log = store::EventLog::open(options.store_dir, so);
  if (!log && log.status().code() == Errc::busy) {
    // serve is the writer: hand it our batches, read through a read-only open.
    auto channel = WriterChannel::connect(options.store_dir);
    if (!channel) {
      if (channel.status().code() != Errc::not_found)
        spdlog::warn("the store's writer holds the lock; its writer channel: {}", channel.status().to_string());
      return log.status();
    }
    store::StoreOptions ro;
    ro.writable = false;
    ro.create_if_missing = false;
    ro.projections = so.projections;
    log = store::EventLog::open(options.store_dir, ro);
    if (!log) return log.status();
    ctx->channel_ = std::move(*channel);
    spdlog::info("hostctl serve writes this store: recording through {}", writer_socket_path(options.store_dir).string());
  }
  if (!log) return log.status();
  ctx->log_ = std::move(log.value());
  ctx->plugins_ = load_configured_plugins(config, options.extra_plugin_dirs);
  for (const auto& r : ctx->plugins_.refused) spdlog::warn("plugin refused: {}", r.reason);
  ctx->bus_ = std::make_unique<Bus>();
  ctx->bus_->add(ctx->plugins_.loaded);
  ctx->bus_->observe([c = ctx.get()](const events::Event& e) { c->collected_.push_back(e); });
  ctx->id_ = options.run_id.empty() ? new_run_id() : options.run_id;
  ctx->started_us_ = events::now_us();

  events::RunStarted rs;
  rs.mode = options.mode;
  rs.repo = config.repo.string();
  rs.worktree = options.worktree;
  rs.branch = options.branch;
  rs.head = options.head;
  rs.argv = options.argv;
  rs.config = config.text;
  rs.source_runs = options.source_runs;
  rs.host_version = FIXHOST_VERSION;
  auto r = ctx->publish(rs);
  if (!r) return r.status();
  ctx->started_seq_ = r->front().seq;
  return ctx;
}

Result<std::vector<events::Event>> RunContext::publish_event(events::Event e) {
  std::lock_guard<std::mutex> lock(publish_mu_);
  collected_.clear();
  if (channel_) {
    // Through serve: each batch is durable once serve answers it.
    ChannelSink sink(*channel_);
    auto r = bus_->publish(std::span<events::Event>(&e, 1), sink);
    if (!r) return r.status();
    std::vector<events::Event> out;
    out.swap(collected_);
    return out;
  }
  // The fact and everything the plugins derive from it are acknowledged together: one fsync.
  LogSink sink(*log_, false);
  auto r = bus_->publish(std::span<events::Event>(&e, 1), sink);
  if (auto st = log_->sync(); !st) return st;
  if (!r) return r.status();
  std::vector<events::Event> out;
  out.swap(collected_);
  return out;
}

store::EventLog& RunContext::log() {
  if (channel_ && log_->last_seq() < channel_->last_seq()) {
    if (auto st = log_->refresh(); !st) spdlog::warn("could not refresh the store's read-only view: {}", st.to_string());
  }
  return *log_;
}

Status RunContext::finish(const std::string& outcome, int exit_code, const std::string& summary) {
  if (finished_) return Status::ok();
  finished_ = true;
  events::RunFinished f;
  f.outcome = outcome;
  f.exit_code = exit_code;
  f.summary = summary;
  f.duration_ms = (events::now_us() - started_us_) / 1000;
  auto r = publish(f, started_seq_);
  return r.is_ok() ? Status::ok() : r.status();
}

RunContext::~RunContext() {
  if (!finished_ && log_) {
    auto st = finish("aborted", 2, "the run ended without finishing (an error stopped it)");
    if (!st) spdlog::error("could not record the end of run {}: {}", id_, st.to_string());
  }
  // Plugins must go before the bus and log that reference nothing of theirs; order is explicit.
  bus_.reset();
  plugins_.loaded.clear();
}

}  // namespace fixhost::host
