#pragma once
// The event bus: appends events to a sink and dispatches each appended event, in log order, to
// the plugins subscribed to its type; what they emit is appended (causation = the trigger,
// source = plugin@version, run = the trigger's run) and dispatched in turn.
// Not thread-safe: one dispatching thread per bus.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fixhost/events/event.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host {

// Where the bus appends: the EventLog, or an in-memory log during replay and in tests.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Appends atomically, assigning each event's seq.
  virtual Status append(std::span<events::Event> batch) = 0;
};

// The error of the PluginFailed the bus records when the plugin `source` ("name@version")
// returns `error` for `trigger`, or throws (`what`; nullptr for a non-std exception). Readers
// that call a plugin's typed entry point instead (heal/triage_view) report in the same words.
std::string plugin_failed_error(const std::string& source, const events::Event& trigger, const Status& error);
std::string plugin_threw_error(const std::string& source, const events::Event& trigger, const char* what);

struct BusOptions {
  // A chain of reactions deeper than this (root event = depth 0) is cut with PluginFailed.
  // Default: 16
  int max_depth = 16;
  // Only pure plugins are dispatched to (replay).
  // Default: false
  bool pure_only = false;
};

struct DispatchStats {
  std::uint64_t delivered = 0;  // plugin calls made
  std::uint64_t emitted = 0;    // events appended on plugins' behalf (PluginFailed included)
  std::uint64_t failures = 0;   // PluginFailed recorded
};

// Dispatches in log order: every event a publish or dispatch call appends is delivered after
// the events appended before it. Subscribers of one type are called in the order they were added.
// Not thread-safe; plugins and observers must not re-enter the bus they are called from.
class Bus {
 public:
  explicit Bus(BusOptions options = {});
  ~Bus();
  Bus(Bus&&) noexcept;
  Bus& operator=(Bus&&) noexcept;

  // Subscribes the plugin to the types in its info().subscriptions and keeps it (and so its
  // library) alive as long as the bus. Adding the same plugin twice has no effect.
  void add(std::shared_ptr<LoadedPlugin> plugin);
  void add(const std::vector<std::shared_ptr<LoadedPlugin>>& plugins);

  // Appends `batch` to `sink` (assigning seqs), then dispatches each event and everything it
  // causes until quiet. Returns the first error of the sink; plugin errors become PluginFailed
  // events.
  Result<DispatchStats> publish(std::span<events::Event> batch, EventSink& sink);
  // Dispatches an event that is already in the log (seq != 0; replay, tests).
  Result<DispatchStats> dispatch(const events::Event& appended, EventSink& sink);

  // Observers see every event the bus appends (including the published ones), after append.
  void observe(std::function<void(const events::Event&)> observer);

  // Whether dispatch would call any plugin for this type (pure ones only under pure_only).
  bool has_subscribers(events::EventType type) const;

  const BusOptions& options() const { return options_; }

 private:
  struct Sub;
  struct State;
  Status deliver(const events::Event& trigger, int depth, EventSink& sink, DispatchStats& stats);
  Status drain(EventSink& sink, DispatchStats& stats);
  template <class It, class Get>
  void prefetch(It first, It last, Get get);

  BusOptions options_;
  std::unique_ptr<State> state_;  // subscribers indexed by type id, observers, reused buffers
};

}  // namespace fixhost::host
