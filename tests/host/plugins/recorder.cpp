// Records every event it receives as "<seq> <type id> <causation> <source> <run>" in the file
// named by its config (log = "<file>"). Emits nothing.
#include "common.hpp"
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;
using events::EventType;

class Recorder final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"recorder",
            "0.3.0",
            sdk::PluginKind::pure,
            {EventType::SuiteFinished, EventType::SuiteParsed, EventType::FailureDetected, EventType::PluginFailed,
             EventType::HumanAlert},
            "test: records what it sees"};
  }
  Status configure(std::string_view toml) override {
    log_ = test_plugin::config_value(toml, "log");
    return Status::ok();
  }
  Status on_event(const events::Event& e, sdk::Emitter&) override {
    test_plugin::append_line(log_, std::to_string(e.seq) + " " + std::to_string(static_cast<int>(e.type)) + " " +
                                       std::to_string(e.causation) + " " + e.source + " " + e.run_id);
    return Status::ok();
  }

 private:
  std::string log_;
};

FIXHOST_PLUGIN(Recorder)
