// policy: a pure plugin that judges every AttemptFinished against the safety rules in
// docs/SAFETY.md and emits one PolicyViolation per finding. The host reverts an attempt when any
// violation caused by its AttemptFinished exists. Being pure, it re-judges old attempts on replay.
#include "fixhost/sdk/plugin.hpp"
#include "policy_rules.hpp"

namespace fixhost::policy {
namespace {

// Not thread-safe; the host calls it from one thread at a time.
class PolicyPlugin final : public sdk::Plugin {
 public:
  PolicyPlugin() : policy_(std::move(*Policy::make(Settings{}))) {}

  sdk::PluginInfo info() const override {
    return {"policy", "1.1.0", sdk::PluginKind::pure,
            {events::EventType::AttemptFinished, events::EventType::SourceScanned},
            "judges each agent attempt: protected paths, deleted or skipped tests, weakened assertions, git tampering; "
            "warns when a built-in protection covers most of the repository"};
  }

  Status configure(std::string_view toml) override {
    auto settings = parse_settings(toml);
    if (!settings) return settings.status();
    auto policy = Policy::make(std::move(*settings));
    if (!policy) return policy.status();
    policy_ = std::move(*policy);
    return Status::ok();
  }

  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    if (event.type == events::EventType::SourceScanned) {
      auto scanned = events::decode<events::SourceScanned>(event);
      if (!scanned) return scanned.status();
      std::vector<std::string> paths;
      for (const auto& f : scanned->files) paths.push_back(f.path);
      for (auto& w : wide_protections(paths, policy_)) {
        events::ProtectionTooWide p;
        p.protection = std::move(w.protection);
        p.matched = std::move(w.word);
        p.files_covered = w.covered;
        p.files_total = w.total;
        p.examples = std::move(w.examples);
        p.suggestion = std::move(w.suggestion);
        out.emit(p);
      }
      return Status::ok();
    }
    if (event.type != events::EventType::AttemptFinished) return Status::ok();
    auto attempt = events::decode<events::AttemptFinished>(event);
    if (!attempt) return attempt.status();
    for (auto& v : policy_.judge(*attempt)) {
      events::PolicyViolation pv;
      pv.test_id = attempt->test_id;
      pv.attempt = attempt->attempt;
      pv.rule = std::move(v.rule);
      pv.path = std::move(v.path);
      pv.detail = std::move(v.detail);
      out.emit(pv);
    }
    return Status::ok();
  }

 private:
  Policy policy_;
};

}  // namespace
}  // namespace fixhost::policy

FIXHOST_PLUGIN(fixhost::policy::PolicyPlugin)
