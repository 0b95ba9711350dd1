// Emits an alert, then throws: the alert must be dropped and PluginFailed recorded.
#include <stdexcept>

#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Thrower final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"thrower", "1.0", sdk::PluginKind::pure, {events::EventType::SuiteFinished}, "test: throws"};
  }
  Status on_event(const events::Event&, sdk::Emitter& out) override {
    events::HumanAlert alert;
    alert.summary = "from thrower, must be dropped";
    out.emit(alert);
    throw std::runtime_error("thrower exploded");
  }
};

FIXHOST_PLUGIN(Thrower)
