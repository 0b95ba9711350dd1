// Subscribes to an event type id this host does not know.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class BadSub final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"bad_sub", "1.0", sdk::PluginKind::pure,
            {events::EventType::SuiteFinished, static_cast<events::EventType>(999)}, ""};
  }
  Status on_event(const events::Event&, sdk::Emitter&) override { return Status::ok(); }
};

FIXHOST_PLUGIN(BadSub)
