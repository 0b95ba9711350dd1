// An effectful test plugin: appends a line to $REPLAY_EFFECT_MARKER whenever it is called. A
// recording run calls it; a replay must never.
#include <cstdlib>
#include <fstream>
#include <string>

#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class EffectProbe final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"effect_probe", "1.0", sdk::PluginKind::effectful,
            {events::EventType::RunStarted, events::EventType::SuiteStarted, events::EventType::SuiteFinished,
             events::EventType::FailureDetected, events::EventType::FailureClassified, events::EventType::FlakeDetected,
             events::EventType::SourceScanned, events::EventType::RunFinished},
            "test: writes a marker file when called"};
  }
  Status on_event(const events::Event& e, sdk::Emitter&) override {
    if (const char* path = std::getenv("REPLAY_EFFECT_MARKER"); path && *path) {
      std::ofstream out(path, std::ios::app);
      out << "effect_probe called on " << events::event_type_name(e.type) << " seq " << e.seq << "\n";
    }
    return Status::ok();
  }
};

FIXHOST_PLUGIN(EffectProbe)
