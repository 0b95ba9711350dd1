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

// For a SuiteFinished of `runner`: `parse(run)` (a ParseOutcome), then its failures and its
// summary emitted with the suite's names. A parser that throws is a Status naming the plugin.
template <class Parse>
Status emit_parsed(const char* plugin, const char* runner, const sdk::Event& event, sdk::Emitter& out, Parse&& parse) {
  auto run = events::decode<events::SuiteFinished>(event);
  if (!run) return run.status();
  if (run->runner != runner) return Status::ok();
  try {
    ParseOutcome o = parse(*run);
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
    return Status(Errc::internal, std::string(plugin) + ": parsing suite '" + run->suite + "' (event " +
                                      std::to_string(event.seq) + ") failed: " + e.what() +
                                      "; this is a parser bug: report it with the run's events (see `hostctl events`)");
  }
  return Status::ok();
}

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
    return emit_parsed(Spec::name, Spec::runner, event, out,
                       [](const events::SuiteFinished& run) { return Spec::parse(run); });
  }
};

}  // namespace fixhost::runner_report
