// Emits an event with a type id the host does not know.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class BadType final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"bad_type", "1.0", sdk::PluginKind::pure, {events::EventType::SuiteFinished}, "test: bad type"};
  }
  Status on_event(const events::Event&, sdk::Emitter& out) override {
    out.emit(static_cast<events::EventType>(999), 1, "x");
    return Status::ok();
  }
};

FIXHOST_PLUGIN(BadType)
