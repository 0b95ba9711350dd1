#pragma once
// The event bus: appends events to a sink and dispatches each appended event, in log order, to
// the plugins subscribed to its type; what they emit is appended (causation = the trigger,
// source = plugin@version, run = the trigger's run) and dispatched in turn.
// Not thread-safe: one dispatching thread per bus.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
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

class Bus {
 public:
  explicit Bus(BusOptions options = {});
  void add(std::shared_ptr<LoadedPlugin> plugin);
  void add(const std::vector<std::shared_ptr<LoadedPlugin>>& plugins);

  // Appends `batch` to `sink`, then dispatches each event and everything it causes until
  // quiet. Returns the first error of the sink; plugin errors become PluginFailed events.
  Result<DispatchStats> publish(std::span<events::Event> batch, EventSink& sink);
  // Dispatches an event that is already in the log (replay, tests).
  Result<DispatchStats> dispatch(const events::Event& appended, EventSink& sink);

  // Observers see every event the bus appends (including the published ones), after append.
  void observe(std::function<void(const events::Event&)> observer);

  bool has_subscribers(events::EventType type) const;

 private:
  struct Sub;
  BusOptions options_;
  std::vector<std::vector<std::shared_ptr<LoadedPlugin>>> subscribers_;  // indexed by type id
  std::vector<std::function<void(const events::Event&)>> observers_;
};

}  // namespace fixhost::host
