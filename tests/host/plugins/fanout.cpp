// On SuiteParsed emits one FailureDetected per reported failure, in one batch.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Fanout final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"fanout", "2.0.0", sdk::PluginKind::pure, {events::EventType::SuiteParsed}, "test: one failure each"};
  }
  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    auto parsed = events::decode<events::SuiteParsed>(event);
    if (!parsed) return parsed.status();
    for (std::uint32_t i = 0; i < parsed->failures; ++i) {
      events::FailureDetected f;
      f.suite = parsed->suite;
      f.test_id = parsed->suite + "::test_" + std::to_string(i);
      out.emit(f);
    }
    return Status::ok();
  }
};

FIXHOST_PLUGIN(Fanout)
