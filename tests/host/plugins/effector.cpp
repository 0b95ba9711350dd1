// An effectful plugin: replay (pure_only) must never call it.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Effector final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"effector", "1.0", sdk::PluginKind::effectful, {events::EventType::SuiteFinished}, "test: effects"};
  }
  Status on_event(const events::Event&, sdk::Emitter& out) override {
    events::HumanAlert alert;
    alert.summary = "effector was called";
    out.emit(alert);
    return Status::ok();
  }
};

FIXHOST_PLUGIN(Effector)
