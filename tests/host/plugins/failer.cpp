// Emits an alert, then returns an error: the alert must be dropped and PluginFailed recorded.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Failer final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"failer", "1.0", sdk::PluginKind::pure, {events::EventType::SuiteFinished}, "test: fails"};
  }
  Status on_event(const events::Event&, sdk::Emitter& out) override {
    events::HumanAlert alert;
    alert.summary = "from failer, must be dropped";
    out.emit(alert);
    return Status(Errc::corruption, "failer: report of suite is garbage");
  }
};

FIXHOST_PLUGIN(Failer)
