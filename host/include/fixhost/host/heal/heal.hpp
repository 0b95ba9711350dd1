#pragma once
// `hostctl heal`: from recorded or fetched Sentry errors to fixes (docs/HEAL.md). The phases, in
// order: SOURCE (the log serve wrote, or Sentry's REST API, recorded as SentryIssueIngested),
// TRIAGE (sentry_triage, re-derived for the window), RATE GUARD (too many errors in the last
// hour: a HumanAlert, nothing fixed), SELECT (fixable P0/P1 groups in priority order, at most
// max_fixes, none with an open fixhost PR; protected P0 groups alert a human), FIX (not yet: it
// runs the shared attempt engine, which is not merged), REPORT (the incident report).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixhost/host/config.hpp"
#include "fixhost/host/heal/sentry_api.hpp"
#include "fixhost/host/heal/triage_view.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host::heal {

struct HealOptions {
  std::filesystem::path store_dir;
  std::vector<std::filesystem::path> extra_plugin_dirs;
  std::vector<std::string> argv;
  // log | api | "" (api when SENTRY_ORG and SENTRY_AUTH_TOKEN are set, else log)
  std::string source;
  // The API to fetch from (source api); from the environment when unset.
  std::optional<SentryApiConfig> api;
  FetchOptions fetch;
  // Groups fixed per run. Default: [heal] max_fixes
  std::optional<int> max_fixes;
  // Plan only: nothing recorded, no agent run, no alert sent. Default: false
  bool dry_run = false;
  // Only errors recorded since then. Default: 24 h before now
  std::optional<std::int64_t> since_us;
  // Also write the incident report here. Default: none
  std::filesystem::path report_file;
  std::function<void(const std::string&)> progress;
};

// What heal decided for one group.
struct HealAction {
  TriageGroup group;
  std::string action;  // fix | alert | skip | document | over_limit | open_pr | not_attempted
  std::string why;
};

struct HealResult {
  std::string run;     // "" for a dry run
  std::string source;  // log | api
  bool cached = false; // api: what an earlier run fetched within [heal] api_cache was used
  FetchReport fetch;
  TriageView triage;
  bool rate_guard = false;
  std::vector<HealAction> actions;
  std::vector<std::string> alerts;
  std::string report;  // markdown
  int exit_code = 0;   // 0 nothing left to fix; 1 groups not fixed; 4 the rate guard tripped
};

Result<HealResult> run_heal(const Config& config, const HealOptions& options);

nlohmann::ordered_json to_json(const HealResult& r);

// `hostctl heal verify`: each PR fixhost opened (PrOpened) asked of gh (`gh pr view N --json
// state,mergedAt,commits,reviews`): merged or closed is recorded as PrResolved (with the commits
// a human pushed to it, those not titled `fix: [Sentry-`); for a merged one, whether its group
// came back after the merge in a release not seen before the merge (ErrorRecurrenceChecked:
// recurred with events_since > 0, stopped once `window` has passed without one, else too early
// to tell: stopped = false, events_since = 0). Events from a release already running before the
// merge are not a recurrence.
struct VerifyOptions {
  std::filesystem::path store_dir;
  std::vector<std::filesystem::path> extra_plugin_dirs;
  std::vector<std::string> argv;
  // How long without a recurrence counts as stopped. Default: 24 h
  std::chrono::seconds window{86400};
  std::function<void(const std::string&)> progress;
};

struct PrCheck {
  std::uint64_t number = 0;
  std::string issue_id;
  std::string url;
  std::string state;       // open | merged | closed | unknown (gh failed: see error)
  std::uint32_t human_commits = 0;
  std::string recurrence;  // stopped | recurred | too_early | "" (not merged)
  std::uint64_t events_since = 0;
  bool resolved_in_sentry = false;  // [heal] resolve: PUT status resolvedInNextRelease answered 2xx
  std::string error;
};

struct VerifyResult {
  std::string run;
  std::vector<PrCheck> prs;
  int exit_code = 0;  // 0; 2 when gh failed for a PR
};

Result<VerifyResult> run_heal_verify(const Config& config, const VerifyOptions& options);
nlohmann::ordered_json to_json(const VerifyResult& r);

}  // namespace fixhost::host::heal
