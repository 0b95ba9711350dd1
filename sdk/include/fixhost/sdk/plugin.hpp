#pragma once
// The plugin API: the only header a plugin includes. A plugin is a shared library that defines
// one class deriving from fixhost::sdk::Plugin and exports it with FIXHOST_PLUGIN(Class).
// See docs/PLUGINS.md. API version rule: the host loads a plugin built against the same major
// and a minor no newer than its own.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/event.hpp"
#include "fixhost/events/payloads.hpp"
#include "fixhost/result.hpp"

#define FIXHOST_API_MAJOR 1
#define FIXHOST_API_MINOR 2  // 1: RoundStarted, ProtectionTooWide; 2: TriageDeriver

extern "C" {
struct fixhost_api_version {
  std::uint16_t major;
  std::uint16_t minor;
};
}

namespace fixhost::sdk {

using events::Event;
using events::EventType;

enum class PluginKind : std::uint8_t {
  pure = 1,       // derives events from events alone; replay re-runs it
  effectful = 2,  // touches the world (processes, files, network); replay never calls it
};

struct PluginInfo {
  std::string name;     // unique among loaded plugins, e.g. "pytest_parser"
  std::string version;  // the plugin's own version, e.g. "1.2.0"
  PluginKind kind = PluginKind::pure;
  std::vector<EventType> subscriptions;  // the event types on_event receives
  std::string description;               // one line for `hostctl plugins`
};

// Where a plugin puts the events it derives. The host appends them after on_event returns ok,
// with causation = the triggering event, source = "name@version", run = the trigger's run.
// Valid only during the on_event call that received it.
class Emitter {
 public:
  virtual void emit(EventType type, std::uint16_t schema, std::string payload) = 0;
  template <class P>
  void emit(const P& payload) {
    emit(P::k_type, P::k_schema, events::encode(payload));
  }

 protected:
  ~Emitter() = default;
};

// One instance per loaded library. The host calls it from one thread at a time.
// Exceptions must not escape: return a Status instead (the host also catches, and records
// PluginFailed either way).
class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual PluginInfo info() const = 0;
  // Called once after loading with the plugin's `[plugins.<name>]` table of fixhost.toml,
  // re-serialised as TOML text ("" when there is none).
  virtual Status configure(std::string_view toml) {
    (void)toml;
    return Status::ok();
  }
  // Called for each event of a subscribed type, in log order. Events emitted into `out` are
  // appended only when this returns ok; on error they are dropped and PluginFailed recorded.
  virtual Status on_event(const Event& event, Emitter& out) = 0;
};

// Optional second base of a pure plugin subscribed to SentryIssueIngested that emits exactly one
// IssueTriaged per event (sentry_triage): that verdict returned as a value, from the payload the
// host already decoded. Readers that fold verdicts in memory (`hostctl triage`, heal) call it
// instead of on_event: no second decode, no encode and decode of the verdict. It must return what
// on_event emits for the same event, or the error on_event returns (let on_event call it). Same
// threading rule as Plugin; exceptions must not escape. The host finds it with dynamic_cast and
// falls back to on_event for a plugin without it.
class TriageDeriver {
 public:
  virtual Result<events::IssueTriaged> derive_triage(const Event& event, const events::SentryIssueIngested& fact) = 0;

 protected:
  ~TriageDeriver() = default;
};

}  // namespace fixhost::sdk

#define FIXHOST_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

// Exports the three entry points the loader looks for. `err` receives a message (NUL-terminated,
// at most errlen bytes) when creation fails; the object is destroyed by the same library.
#define FIXHOST_PLUGIN(Class)                                                             \
  FIXHOST_PLUGIN_EXPORT fixhost_api_version fixhost_plugin_api_version() {                \
    return fixhost_api_version{FIXHOST_API_MAJOR, FIXHOST_API_MINOR};                      \
  }                                                                                       \
  FIXHOST_PLUGIN_EXPORT ::fixhost::sdk::Plugin* fixhost_plugin_create(char* err,          \
                                                                      std::size_t errlen) { \
    try {                                                                                 \
      return new Class();                                                                 \
    } catch (const std::exception& e) {                                                   \
      if (err && errlen) { std::strncpy(err, e.what(), errlen - 1); err[errlen - 1] = 0; } \
    } catch (...) {                                                                       \
      if (err && errlen) { std::strncpy(err, "unknown exception", errlen - 1); err[errlen - 1] = 0; } \
    }                                                                                     \
    return nullptr;                                                                       \
  }                                                                                       \
  FIXHOST_PLUGIN_EXPORT void fixhost_plugin_destroy(::fixhost::sdk::Plugin* p) { delete p; }
