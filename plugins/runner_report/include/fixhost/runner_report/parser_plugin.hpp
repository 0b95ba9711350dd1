#pragma once
// The plugin around a report parser: for each SuiteFinished of its runner, one FailureDetected
// per failure, then one SuiteParsed. `Spec` names the plugin and supplies the parse function:
//   static constexpr const char* name, runner, description;
//   static ParseOutcome parse(const events::SuiteFinished&);
#include <exception>
#include <string>
#include <vector>

#include "fixhost/sdk/plugin.hpp"

namespace fixhost::runner_report {

struct ParseOutcome {
  std::vector<events::FailureDetected> failures;  // in the order the source lists them
  events::SuiteParsed summary;
};

// Stateless; the host calls it from one thread at a time.
template <class Spec>
class ParserPlugin final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    sdk::PluginInfo i;
    i.name = Spec::name;
    i.version = "1.0.0";
    i.kind = sdk::PluginKind::pure;
    i.subscriptions = {sdk::EventType::SuiteFinished};
    i.description = Spec::description;
    return i;
  }

  Status on_event(const sdk::Event& event, sdk::Emitter& out) override {
    auto run = events::decode<events::SuiteFinished>(event);
    if (!run) return run.status();
    if (run->runner != Spec::runner) return Status::ok();
    try {
      ParseOutcome o = Spec::parse(*run);
      for (auto& f : o.failures) {
        f.runner = run->runner;
        f.suite = run->suite;
        out.emit(f);
      }
      o.summary.suite = run->suite;
      o.summary.runner = run->runner;
      o.summary.purpose = run->purpose;
      o.summary.test_id = run->test_id;
      out.emit(o.summary);
    } catch (const std::exception& e) {
      return Status(Errc::internal, std::string(Spec::name) + ": parsing suite '" + run->suite + "' (event " +
                                        std::to_string(event.seq) + ") failed: " + e.what() +
                                        "; this is a parser bug: report it with the run's events (see `hostctl events`)");
    }
    return Status::ok();
  }
};

}  // namespace fixhost::runner_report
