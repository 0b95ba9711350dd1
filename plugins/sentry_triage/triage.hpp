#pragma once
// sentry_triage's logic, apart from the plugin shell so tests and benchmarks call it directly:
// the rule set (shipped rules.toml + [plugins.sentry_triage] overrides), the grouping key of an
// event the way Sentry's app variant builds it, and the verdict (severity, decision, reason).
// triage() is pure (same event and rules, same verdict). A Rules object memoises regex results
// per value (std::regex is slow and values repeat: paths, types), so it is not thread-safe.
#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/result.hpp"
#include "fixhost/sdk/sentry_event.hpp"

namespace fixhost::sentry_triage {

struct Rule {
  std::string id;
  std::string kind;      // severity | exclude | protect
  std::string severity;  // P0 | P1 | P2 (severity rules)
  std::string reason;
  std::vector<std::string> fields;
  std::string pattern;
  std::regex regex;
  bool in_app_only = true;  // path: only in-app frames
  // value -> whether regex finds a match in it; bounded (cleared past 65536 entries).
  mutable std::unordered_map<std::string, bool> memo;
  bool search(const std::string& value) const {
    if (auto it = memo.find(value); it != memo.end()) return it->second;
    if (memo.size() >= 65536) memo.clear();
    const bool hit = std::regex_search(value, regex);
    memo.emplace(value, hit);
    return hit;
  }
};

// The part of a verdict the rules decide, memoised per rule input (triage.cpp, verdict_key).
struct RuleVerdict {
  std::string priority, rule, decision, reason;
  std::uint32_t weight = 0;
};

struct Rules {
  std::vector<Rule> severity, exclude, protect;
  std::map<std::string, std::uint32_t> weights{{"P0", 10}, {"P1", 3}, {"P2", 1}};
  std::vector<std::string> exclude_paths;  // globs ([heal] exclude, merged in by the host)
  // Every field the rules read (level, type, message, culprit, frames' paths, tags, ...) ->
  // the verdict they gave; bounded (cleared past 65536 entries). Events of one bug repeat them.
  mutable std::unordered_map<std::string, RuleVerdict> verdicts;
  mutable std::string verdict_key_buffer;  // the key of the event being triaged
};

// The shipped rules with the overrides of `toml` (the [plugins.sentry_triage] table as text,
// "" for none). InvalidArgument names the key or the rule and what is expected.
Result<Rules> load_rules(std::string_view toml);

struct Grouping {
  std::string group;   // 16 hex digits
  std::string method;  // sentry_issue | fingerprint | in_app | system | exception | message
};
Grouping group_of(const sdk::SentryEvent& ev);

// The verdict for one ingested event (ev: its raw payload read, or the payload's own fields;
// taken by value: the strings the rules do not read move into the verdict).
events::IssueTriaged triage(const events::SentryIssueIngested& in, sdk::SentryEvent ev, const Rules& rules);

// The event the verdict is made from: the raw payload read as a Sentry event, with the payload's
// own fields filling what the raw bytes do not carry (an issue without an event, a webhook).
sdk::SentryEvent event_of(const events::SentryIssueIngested& in, simdjson::dom::parser& parser);

}  // namespace fixhost::sentry_triage
