#include "fixhost/host/bus.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/external_plugin.hpp"
#include "fixhost/host/memory_sink.hpp"

namespace fixhost::host {

namespace {

using events::Event;
using events::EventType;

struct Emitted {
  EventType type;
  std::uint16_t schema;
  std::string payload;
};

// Collects what one plugin emits during one on_event call; its buffer is reused across calls.
class Collector final : public sdk::Emitter {
 public:
  void emit(EventType type, std::uint16_t schema, std::string payload) override {
    items.push_back(Emitted{type, schema, std::move(payload)});
  }
  std::vector<Emitted> items;
};

struct Pending {
  Event event;
  int depth = 0;
};

std::string describe(const Event& trigger) {
  return std::string(events::event_type_name(trigger.type)) + " seq " + std::to_string(trigger.seq);
}

bool known_type(EventType type) {
  auto id = static_cast<std::uint16_t>(type);
  return events::is_known_event_type(id);
}

// Clears `dispatching` when a publish or dispatch call returns, however it returns.
class BusyGuard {
 public:
  explicit BusyGuard(bool& flag) : flag_(flag) { flag_ = true; }
  ~BusyGuard() { flag_ = false; }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  bool& flag_;
};

Status reentered() {
  return make_error(Errc::internal,
                    "the bus was re-entered from a plugin or observer while dispatching; collect the events and "
                    "publish them after the current publish/dispatch returns");
}

}  // namespace

std::string plugin_failed_error(const std::string& source, const Event& trigger, const Status& error) {
  return "plugin '" + source + "' failed on " + describe(trigger) + ": " + error.to_string() +
         "; its events for this trigger were dropped";
}

std::string plugin_threw_error(const std::string& source, const Event& trigger, const char* what) {
  if (!what)
    return "plugin '" + source + "' threw a non-std::exception on " + describe(trigger) +
           "; return a Status instead of throwing (its events for this trigger were dropped)";
  return "plugin '" + source + "' threw on " + describe(trigger) + ": " + what +
         "; return a Status instead of throwing (its events for this trigger were dropped)";
}

struct Bus::Sub {
  sdk::Plugin* plugin = nullptr;
  std::string source;  // "name@version"
  bool pure = true;
};

// An external plugin and the type ids it subscribes to: the events of a batch are sent to it
// at once before they are delivered one by one (ExternalPlugin::prefetch).
struct ExternalSub {
  ExternalPlugin* plugin = nullptr;
  std::vector<bool> types;
  bool pure = true;
};

struct Bus::State {
  std::vector<std::shared_ptr<LoadedPlugin>> plugins;  // keeps the libraries mapped
  std::vector<std::vector<Sub>> subscribers;            // indexed by type id
  std::vector<std::function<void(const Event&)>> observers;
  std::vector<ExternalSub> externals;
  std::vector<const Event*> prefetch_buf;
  Collector collector;
  std::vector<Event> batch;     // what one trigger caused, appended as one batch
  std::vector<Pending> queue;   // appended but not yet dispatched, in log order
  std::size_t head = 0;
  bool dispatching = false;
  // Also forgets what an earlier call left undispatched when it stopped on a sink error.
  void clear_queue() {
    queue.clear();
    head = 0;
  }
};

Bus::Bus(BusOptions options) : options_(options), state_(std::make_unique<State>()) {}
Bus::~Bus() = default;
Bus::Bus(Bus&&) noexcept = default;
Bus& Bus::operator=(Bus&&) noexcept = default;

void Bus::add(std::shared_ptr<LoadedPlugin> plugin) {
  if (!plugin || !plugin->instance) return;
  auto& plugins = state_->plugins;
  if (std::find(plugins.begin(), plugins.end(), plugin) != plugins.end()) return;
  std::vector<std::uint16_t> ids;
  for (EventType type : plugin->info.subscriptions)
    if (known_type(type)) ids.push_back(static_cast<std::uint16_t>(type));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  auto& subscribers = state_->subscribers;
  for (std::uint16_t id : ids) {
    if (subscribers.size() <= id) subscribers.resize(id + 1u);
    subscribers[id].push_back(Sub{plugin->instance.get(), plugin->id(), plugin->pure()});
  }
  if (!plugin->external.empty()) {
    ExternalSub x{static_cast<ExternalPlugin*>(plugin->instance.get()), {}, plugin->pure()};
    for (std::uint16_t id : ids) {
      if (x.types.size() <= id) x.types.resize(id + 1u);
      x.types[id] = true;
    }
    state_->externals.push_back(std::move(x));
  }
  plugins.push_back(std::move(plugin));
}

template <class It, class Get>
void Bus::prefetch(It first, It last, Get get) {
  State& s = *state_;
  for (ExternalSub& x : s.externals) {
    if (options_.pure_only && !x.pure) continue;
    s.prefetch_buf.clear();
    for (It it = first; it != last; ++it) {
      const Event& e = get(*it);
      auto id = static_cast<std::size_t>(e.type);
      if (id < x.types.size() && x.types[id]) s.prefetch_buf.push_back(&e);
    }
    if (s.prefetch_buf.size() > 1) x.plugin->prefetch(s.prefetch_buf);
  }
}

void Bus::add(const std::vector<std::shared_ptr<LoadedPlugin>>& plugins) {
  for (const auto& p : plugins) add(p);
}

void Bus::observe(std::function<void(const Event&)> observer) {
  state_->observers.push_back(std::move(observer));
}

bool Bus::has_subscribers(EventType type) const {
  auto id = static_cast<std::size_t>(type);
  if (id >= state_->subscribers.size()) return false;
  const auto& subs = state_->subscribers[id];
  if (!options_.pure_only) return !subs.empty();
  return std::any_of(subs.begin(), subs.end(), [](const Sub& s) { return s.pure; });
}

Result<DispatchStats> Bus::publish(std::span<Event> batch, EventSink& sink) {
  if (state_->dispatching) return reentered();
  BusyGuard guard(state_->dispatching);
  state_->clear_queue();
  DispatchStats stats;
  if (batch.empty()) return stats;
  if (auto st = sink.append(batch); !st.is_ok()) return st;
  for (const Event& e : batch)
    for (const auto& observer : state_->observers) observer(e);
  if (!state_->externals.empty()) prefetch(batch.begin(), batch.end(), [](const Event& e) -> const Event& { return e; });
  for (const Event& e : batch)
    if (auto st = deliver(e, 0, sink, stats); !st.is_ok()) return st;
  if (auto st = drain(sink, stats); !st.is_ok()) return st;
  return stats;
}

Result<DispatchStats> Bus::dispatch(const Event& appended, EventSink& sink) {
  if (state_->dispatching) return reentered();
  if (appended.seq == 0)
    return make_error(Errc::invalid_argument,
                      "cannot dispatch a " + std::string(events::event_type_name(appended.type)) +
                          " event with seq 0: it was never appended; use Bus::publish to append and dispatch it");
  BusyGuard guard(state_->dispatching);
  state_->clear_queue();
  DispatchStats stats;
  if (auto st = deliver(appended, 0, sink, stats); !st.is_ok()) return st;
  if (auto st = drain(sink, stats); !st.is_ok()) return st;
  return stats;
}

Status Bus::drain(EventSink& sink, DispatchStats& stats) {
  State& s = *state_;
  Status result;
  std::size_t prefetched_to = 0;
  while (s.head < s.queue.size()) {
    // A generation of the queue (what the events before it caused) goes to external plugins at once.
    if (!s.externals.empty() && s.head >= prefetched_to) {
      prefetch(s.queue.begin() + static_cast<std::ptrdiff_t>(s.head), s.queue.end(),
               [](const Pending& p) -> const Event& { return p.event; });
      prefetched_to = s.queue.size();
    }
    // Moved out first: delivering may grow the queue.
    Pending next = std::move(s.queue[s.head++]);
    result = deliver(next.event, next.depth, sink, stats);
    if (!result.is_ok()) break;
  }
  s.clear_queue();
  return result;
}

Status Bus::deliver(const Event& trigger, int depth, EventSink& sink, DispatchStats& stats) {
  State& s = *state_;
  const auto id = static_cast<std::size_t>(trigger.type);
  if (id >= s.subscribers.size()) return Status::ok();
  const auto& subs = s.subscribers[id];
  if (subs.empty()) return Status::ok();

  auto failed = [&](const Sub& sub, std::string error) {
    events::PluginFailed p;
    p.plugin = sub.source;
    p.trigger_seq = trigger.seq;
    p.trigger_type = static_cast<std::uint16_t>(trigger.type);
    p.error = std::move(error);
    s.batch.push_back(events::make_event(p, trigger.run_id, "host", trigger.seq));
    ++stats.failures;
  };

  s.batch.clear();
  for (const Sub& sub : subs) {
    if (options_.pure_only && !sub.pure) continue;
    s.collector.items.clear();
    ++stats.delivered;
    try {
      Status st = sub.plugin->on_event(trigger, s.collector);
      if (!st.is_ok()) {
        failed(sub, plugin_failed_error(sub.source, trigger, st));
        continue;
      }
    } catch (const std::exception& e) {
      failed(sub, plugin_threw_error(sub.source, trigger, e.what()));
      continue;
    } catch (...) {
      failed(sub, plugin_threw_error(sub.source, trigger, nullptr));
      continue;
    }
    auto& items = s.collector.items;
    if (items.empty()) continue;

    auto bad = std::find_if(items.begin(), items.end(),
                            [](const Emitted& e) { return !known_type(e.type) || e.schema == 0; });
    if (bad != items.end()) {
      auto bad_id = static_cast<std::uint16_t>(bad->type);
      failed(sub, "plugin '" + sub.source + "' emitted an event with " +
                      (known_type(bad->type) ? "schema 0 (" + std::string(events::event_type_name(bad->type)) + ")"
                                             : "unknown type id " + std::to_string(bad_id)) +
                      " in reply to " + describe(trigger) +
                      "; emit typed payloads from fixhost/events/payloads.hpp (out.emit(payload))");
      continue;
    }
    if (depth + 1 > options_.max_depth) {
      failed(sub, "reaction chain deeper than " + std::to_string(options_.max_depth) + " events: plugin '" +
                      sub.source + "' emitted " + std::string(events::event_type_name(items.front().type)) +
                      " in reply to " + describe(trigger) +
                      " and keeps reacting to its own output (or to a plugin that reacts to it); check its "
                      "subscriptions");
      continue;
    }
    const std::int64_t now = events::now_us();
    for (Emitted& item : items) {
      Event& e = s.batch.emplace_back();
      e.ts_us = now;
      e.run_id = trigger.run_id;
      e.type = item.type;
      e.schema = item.schema;
      e.source = sub.source;
      e.causation = trigger.seq;
      e.payload = std::move(item.payload);
    }
  }
  if (s.batch.empty()) return Status::ok();

  if (auto st = sink.append(s.batch); !st.is_ok()) return st;
  stats.emitted += s.batch.size();
  for (const Event& e : s.batch)
    for (const auto& observer : s.observers) observer(e);
  // Events past the depth bound (a PluginFailed about the trigger at max_depth) are recorded but
  // not dispatched, which ends the chain.
  if (depth + 1 <= options_.max_depth)
    for (Event& e : s.batch) s.queue.push_back(Pending{std::move(e), depth + 1});
  s.batch.clear();
  return Status::ok();
}

// ---- MemorySink ----------------------------------------------------------------------------

Status MemorySink::append(std::span<Event> batch) {
  for (Event& e : batch) {
    e.seq = ++last_seq_;
    events_.push_back(e);
  }
  return Status::ok();
}

const Event* MemorySink::get(std::uint64_t seq) const {
  if (seq < first_seq_ || seq > last_seq_) return nullptr;
  return &events_[seq - first_seq_];
}

std::vector<Event> MemorySink::of_type(EventType type) const {
  std::vector<Event> out;
  for (const Event& e : events_)
    if (e.type == type) out.push_back(e);
  return out;
}

}  // namespace fixhost::host
