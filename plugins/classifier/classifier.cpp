// classifier: a pure plugin that gives each FailureDetected a category from data-driven rules
// (rules.toml, embedded at build time; overridable in fixhost.toml) and marks tests that passed
// on a re-run (FlakeDetected) as flaky.
#include <string>
#include <utility>
#include <vector>

#include "fixhost/sdk/plugin.hpp"
#include "fixhost_classifier_rules.hpp"  // generated: k_shipped_rules_toml
#include "rules.hpp"

namespace fixhost::classifier {
namespace {

constexpr std::string_view k_shipped_origin = "classifier's shipped rules.toml";

// Not thread-safe; the host calls it from one thread at a time.
class ClassifierPlugin final : public sdk::Plugin {
 public:
  ClassifierPlugin() { status_ = load(""); }

  sdk::PluginInfo info() const override {
    return {"classifier", "1.0.0", sdk::PluginKind::pure,
            {events::EventType::FailureDetected, events::EventType::FlakeDetected},
            "categorises failures (missing_dependency, type_error, logic_bug, stale_mock, env_mismatch, flaky)"};
  }

  Status configure(std::string_view toml) override {
    status_ = load(toml);
    return status_;
  }

  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    if (!status_) return status_;
    if (event.type == events::EventType::FlakeDetected) {
      auto flake = events::decode<events::FlakeDetected>(event);
      if (!flake) return flake.status();
      if (flake->passes == 0) return Status::ok();
      events::FailureClassified c;
      c.test_id = flake->test_id;
      c.category = "flaky";
      c.confidence = 1.0;
      c.evidence.push_back({"rerun.passed", "passes > 0 when re-run alone",
                            "passed " + std::to_string(flake->passes) + " of " + std::to_string(flake->reruns) +
                                " re-runs"});
      out.emit(c);
      return Status::ok();
    }
    if (event.type != events::EventType::FailureDetected) return Status::ok();
    auto failure = events::decode<events::FailureDetected>(event);
    if (!failure) return failure.status();
    out.emit(classify(*failure, rules_));
    return Status::ok();
  }

 private:
  Status load(std::string_view toml) {
    auto shipped = parse_rules(k_shipped_rules_toml, k_shipped_origin);
    if (!shipped) return shipped.status();
    auto settings = parse_settings(toml);
    if (!settings) return settings.status();
    auto rules = effective_rules(std::move(*settings), std::move(*shipped));
    if (!rules) return rules.status();
    rules_ = std::move(*rules);
    return Status::ok();
  }

  std::vector<Rule> rules_;
  Status status_;
};

}  // namespace
}  // namespace fixhost::classifier

FIXHOST_PLUGIN(fixhost::classifier::ClassifierPlugin)
