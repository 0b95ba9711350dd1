// A replacement classifier for the replay tests: named like the built-in one, it puts every
// failure in env_mismatch and ignores FlakeDetected, so a replay with it shows category changes
// (and a missing flaky classification).
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class ClassifierV2 final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"classifier", "2.0.0-test", sdk::PluginKind::pure, {events::EventType::FailureDetected},
            "test: every failure is env_mismatch"};
  }
  Status on_event(const events::Event& e, sdk::Emitter& out) override {
    auto f = events::decode<events::FailureDetected>(e);
    if (!f) return f.status();
    events::FailureClassified c;
    c.test_id = f->test_id;
    c.category = "env_mismatch";
    c.confidence = 0.5;
    out.emit(c);
    return Status::ok();
  }
};

FIXHOST_PLUGIN(ClassifierV2)
