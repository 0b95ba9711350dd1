// sentry_triage: a pure plugin that gives each SentryIssueIngested its group (Sentry's app
// variant: in-app frames without line numbers, an explicit fingerprint, else exception type and
// message), a severity (P0/P1/P2 from data-driven rules: rules.toml, embedded at build time,
// overridable in fixhost.toml) and a decision (fix | document | skip | human) with the reason.
// Stateless per event: counts, users and priority per group are summed by whoever reads the
// IssueTriaged events (`hostctl triage`), so replay re-derives each event on its own.
#include <simdjson.h>

#include "fixhost/sdk/plugin.hpp"
#include "triage.hpp"

namespace fixhost::sentry_triage {
namespace {

// Not thread-safe; the host calls it from one thread at a time. on_event emits what
// derive_triage returns (the host's in-memory readers call derive_triage directly).
class SentryTriagePlugin final : public sdk::Plugin, public sdk::TriageDeriver {
 public:
  SentryTriagePlugin() { load(""); }

  sdk::PluginInfo info() const override {
    return {"sentry_triage", "1.0.0", sdk::PluginKind::pure, {events::EventType::SentryIssueIngested},
            "groups Sentry errors by in-app frames, gives each a severity (P0/P1/P2) and a decision"};
  }

  Status configure(std::string_view toml) override { return load(toml); }

  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    if (!status_) return status_;
    if (event.type != events::EventType::SentryIssueIngested) return Status::ok();
    auto in = events::decode<events::SentryIssueIngested>(event);
    if (!in) return in.status();
    auto verdict = derive_triage(event, *in);
    if (!verdict) return verdict.status();
    out.emit(*verdict);
    return Status::ok();
  }

  Result<events::IssueTriaged> derive_triage(const events::Event&, const events::SentryIssueIngested& in) override {
    if (!status_) return status_;
    return triage(in, event_of(in, parser_), rules_);
  }

 private:
  Status load(std::string_view toml) {
    auto r = load_rules(toml);
    status_ = r ? Status::ok() : r.status();
    if (r) rules_ = std::move(*r);
    return status_;
  }

  Rules rules_;
  Status status_;
  simdjson::dom::parser parser_;
};

}  // namespace
}  // namespace fixhost::sentry_triage

FIXHOST_PLUGIN(fixhost::sentry_triage::SentryTriagePlugin)
