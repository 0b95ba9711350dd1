// A well-behaved pure plugin: on SuiteFinished it emits SuiteParsed for the same suite.
// Config: marker = "<file>" (written by the destructor), fail = "yes" (configure returns an
// error), throw = "yes" (configure throws).
#include <stdexcept>

#include "common.hpp"
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class Good final : public sdk::Plugin {
 public:
  ~Good() override { test_plugin::append_line(marker_, "destroyed"); }
  sdk::PluginInfo info() const override {
    return {"good", "1.2.0", sdk::PluginKind::pure, {events::EventType::SuiteFinished}, "test: echoes suites"};
  }
  Status configure(std::string_view toml) override {
    marker_ = test_plugin::config_value(toml, "marker");
    if (test_plugin::config_value(toml, "throw") == "yes") throw std::runtime_error("good: configure exploded");
    if (test_plugin::config_value(toml, "fail") == "yes")
      return Status(Errc::invalid_argument, "good: setting 'fail' is not allowed");
    return Status::ok();
  }
  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    auto finished = events::decode<events::SuiteFinished>(event);
    if (!finished) return finished.status();
    events::SuiteParsed parsed;
    parsed.suite = finished->suite;
    parsed.runner = finished->runner;
    parsed.failures = 2;
    out.emit(parsed);
    return Status::ok();
  }

 private:
  std::string marker_;
};

FIXHOST_PLUGIN(Good)
