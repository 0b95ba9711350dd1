#pragma once
// The triage table: every SentryIssueIngested in a window re-derived through today's pure
// plugins (sentry_triage) in memory, and the IssueTriaged verdicts summed per group: count,
// users, first and last seen, the most severe verdict, priority = count x severity weight.
// Read-only: works while `hostctl serve` writes. `hostctl triage` prints it; heal acts on it.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/result.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::heal {

struct TriageGroup {
  std::string group;
  std::string issue_id;  // the Sentry issue id when one came with the events, else the group id
  std::string title;
  std::string culprit;   // file:line
  std::string level;
  std::string severity;  // P0 | P1 | P2
  std::string decision;  // fix | document | skip | human
  std::string reason;
  std::string rule;      // the severity rule that matched
  std::string grouping;  // fingerprint | in_app | system | exception | message
  std::string release;   // of the newest event
  std::string environment;
  std::uint64_t count = 0;
  std::uint64_t users = 0;
  std::uint32_t weight = 0;
  double priority = 0;   // count x weight
  std::int64_t first_seen_us = 0;
  std::int64_t last_seen_us = 0;
  std::uint64_t latest_seq = 0;  // the newest SentryIssueIngested of the group
};

struct TriageQuery {
  // Only events recorded at or after this time. Default: none (all)
  std::optional<std::int64_t> since_us;
  // The end of the window the error rate is measured over ("now"). Default: the clock
  std::optional<std::int64_t> now_us;
  // Called with each fact and its verdict (heal verify: which events belong to a group).
  // Default: none
  std::function<void(const events::Event& fact, const events::IssueTriaged& verdict)> on_verdict;
};

struct TriageView {
  std::vector<TriageGroup> groups;  // priority descending, then last seen descending
  std::uint64_t events = 0;          // SentryIssueIngested in the window
  std::uint64_t errors_last_hour = 0;  // error and fatal events recorded in the hour before now
  std::vector<std::string> plugin_failures;
};

// Errors: NotFound when no loaded plugin triages SentryIssueIngested; the store's read errors.
Result<TriageView> triage_view(const store::EventLog& log, const std::vector<std::shared_ptr<LoadedPlugin>>& plugins,
                               const TriageQuery& query);

// The same, the events split over one thread per plugin set (each set loaded on its own, so no
// plugin instance is shared between threads); sets.size() <= 1 is the call above.
Result<TriageView> triage_view(const store::EventLog& log,
                               const std::vector<std::vector<std::shared_ptr<LoadedPlugin>>>& plugin_sets,
                               const TriageQuery& query);

// The same over facts in memory (seq set, e.g. fetched but not recorded by a dry run).
Result<TriageView> triage_events(const std::vector<events::Event>& facts,
                                 const std::vector<std::shared_ptr<LoadedPlugin>>& plugins, const TriageQuery& query);

nlohmann::ordered_json to_json(const TriageGroup& g);
// The terminal table of `hostctl triage`.
std::string triage_table(const TriageView& view);

}  // namespace fixhost::host::heal
