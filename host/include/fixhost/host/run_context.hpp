#pragma once
// One run of hostctl that records: the store opened for writing, the plugins loaded onto a
// bus, and the run's id. publish() appends facts and returns them together with everything
// the plugins derived from them. One thread drives a run; publish() alone may also be called
// from other threads (a build's stream workers): appends are serialised by a mutex, so the log
// keeps one writer and the plugins see one event at a time.
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/host/spend.hpp"
#include "fixhost/host/writer_channel.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host {

struct RunOptions {
  std::filesystem::path store_dir;
  std::vector<std::filesystem::path> extra_plugin_dirs;  // --plugins, before fixhost.toml's
  std::string mode;                                      // detect | autofix | ...
  std::vector<std::string> argv;
  std::string worktree;
  std::string branch;  // the user's branch the run starts from ("" detached or not git)
  std::string head;    // the commit it starts from
  std::vector<std::string> source_runs;
  std::string run_id;  // "" = a new one
};

// "20261125-101502-3fa9": sortable by start time, unique enough per store.
std::string new_run_id();

class RunContext {
 public:
  // Opens the store for writing (Busy names the other writer), loads plugins (refusals are
  // logged as warnings) and records RunStarted. When `hostctl serve` holds the writer lock, the
  // run records through serve instead (writer_channel.hpp): the store is opened read-only and
  // every batch is appended, durably, by serve's recorder.
  static Result<std::unique_ptr<RunContext>> start(const Config& config, const RunOptions& options);
  ~RunContext();

  const std::string& id() const { return id_; }
  // The store, for reading (and, without serve, writing). Through serve it is a read-only open,
  // refreshed here when serve has answered appends it does not show yet.
  store::EventLog& log();
  // Whether appends go through a running `hostctl serve`.
  bool through_serve() const { return channel_ != nullptr; }
  const LoadReport& plugins() const { return plugins_; }
  std::uint64_t started_seq() const { return started_seq_; }

  // Appends `payload` as a host fact and dispatches it; returns it (seq set) followed by
  // every event the plugins derived from it, in log order.
  template <class P>
  Result<std::vector<events::Event>> publish(const P& payload, std::uint64_t causation = 0) {
    return publish_event(events::make_event(payload, id_, "host", causation));
  }
  Result<std::vector<events::Event>> publish_event(events::Event e);

  // What the run's agent attempts reported spending, over every session of the run (the
  // cost rails: docs/USAGE.md).
  Spend& spend() { return spend_; }

  // Records RunFinished. Called once; the destructor records "aborted" if it never was.
  Status finish(const std::string& outcome, int exit_code, const std::string& summary);

 private:
  RunContext() = default;
  std::string id_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<WriterChannel> channel_;  // set when serve is the writer
  LoadReport plugins_;
  std::unique_ptr<Bus> bus_;
  std::mutex publish_mu_;  // publish_event() is the one place appends go through
  std::vector<events::Event> collected_;
  std::uint64_t started_seq_ = 0;
  std::int64_t started_us_ = 0;
  bool finished_ = false;
  Spend spend_;
};

// An EventSink over the EventLog.
// With durable = false its appends are not fsynced one by one; the caller syncs the log once
// the cascade is done (RunContext::publish: one fsync per fact and all it caused).
class LogSink : public EventSink {
 public:
  explicit LogSink(store::EventLog& log, bool durable = true) : log_(log), durable_(durable) {}
  Status append(std::span<events::Event> batch) override;

 private:
  store::EventLog& log_;
  bool durable_;
};

// An EventSink over serve's writer channel: every batch durable when append returns.
class ChannelSink : public EventSink {
 public:
  explicit ChannelSink(WriterChannel& channel) : channel_(channel) {}
  Status append(std::span<events::Event> batch) override;

 private:
  WriterChannel& channel_;
};

// Loads the plugins for a config: built-in dir, then extra dirs, then fixhost.toml's.
LoadReport load_configured_plugins(const Config& config, const std::vector<std::filesystem::path>& extra_dirs);

}  // namespace fixhost::host
