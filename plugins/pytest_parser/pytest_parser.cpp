// pytest_parser: a pure plugin that turns each pytest SuiteFinished into one FailureDetected per
// failure and then one SuiteParsed (see docs/DETECT.md).
#include <exception>

#include "fixhost/sdk/plugin.hpp"
#include "pytest_parse.hpp"

namespace fixhost::pytest_parser {
namespace {

// Stateless; the host calls it from one thread at a time.
class PytestParserPlugin final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    sdk::PluginInfo i;
    i.name = "pytest_parser";
    i.version = "1.0.0";
    i.kind = sdk::PluginKind::pure;
    i.subscriptions = {sdk::EventType::SuiteFinished};
    i.description = "pytest failures and counts from the junit XML report, or from the terminal output";
    return i;
  }

  Status on_event(const sdk::Event& event, sdk::Emitter& out) override {
    auto run = events::decode<events::SuiteFinished>(event);
    if (!run) return run.status();
    if (run->runner != "pytest") return Status::ok();
    try {
      ParseOutcome o = parse_pytest_run(*run);
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
      return Status(Errc::internal, "pytest_parser: parsing suite '" + run->suite + "' (event " +
                                        std::to_string(event.seq) + ") failed: " + e.what() +
                                        "; this is a parser bug: report it with the run's events (see `hostctl log`)");
    }
    return Status::ok();
  }
};

}  // namespace
}  // namespace fixhost::pytest_parser

FIXHOST_PLUGIN(fixhost::pytest_parser::PytestParserPlugin)
