// A pure plugin that does nothing: the bus's fast path.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Noop final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"noop", "1.0", sdk::PluginKind::pure, {events::EventType::SuiteFinished}, "test: does nothing"};
  }
  Status on_event(const events::Event&, sdk::Emitter&) override { return Status::ok(); }
};

FIXHOST_PLUGIN(Noop)
