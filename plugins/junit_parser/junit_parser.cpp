// junit_parser: a pure plugin that turns each SuiteFinished of runner "junit" (vitest, mocha,
// gotestsum, cargo nextest, Maven Surefire, PHPUnit, ...) into one FailureDetected per failing
// testcase and then one SuiteParsed (docs/RUNNERS.md). Its configuration is fixhost.toml's
// [junit_families] (handed over by the host), applied over families.toml.
#include "fixhost/sdk/plugin.hpp"
#include "junit_parse.hpp"

namespace fixhost::junit_parser {

class JunitParser final : public sdk::Plugin {
 public:
  JunitParser() {
    auto f = families("");
    if (f) families_ = std::move(f.value());
  }

  sdk::PluginInfo info() const override {
    sdk::PluginInfo i;
    i.name = "junit_parser";
    i.version = "1.0.0";
    i.kind = sdk::PluginKind::pure;
    i.subscriptions = {sdk::EventType::SuiteFinished};
    i.description = "failures and counts from the JUnit XML of any runner (runner = \"junit\")";
    return i;
  }

  Status configure(std::string_view toml) override {
    auto f = families(toml);
    if (!f) return f.status();
    families_ = std::move(f.value());
    return Status::ok();
  }

  Status on_event(const sdk::Event& event, sdk::Emitter& out) override {
    return runner_report::emit_parsed("junit_parser", "junit", event, out,
                                      [this](const events::SuiteFinished& run) { return parse_junit_run(run, families_); });
  }

 private:
  Families families_;
};

}  // namespace fixhost::junit_parser

FIXHOST_PLUGIN(fixhost::junit_parser::JunitParser)
