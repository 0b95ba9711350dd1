// Reacts to FailureDetected with another FailureDetected, forever (until the bus cuts it).
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Looper final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"looper", "1", sdk::PluginKind::pure, {events::EventType::FailureDetected}, "test: loops"};
  }
  Status on_event(const events::Event&, sdk::Emitter& out) override {
    events::FailureDetected f;
    f.test_id = "again";
    out.emit(f);
    return Status::ok();
  }
};

FIXHOST_PLUGIN(Looper)
