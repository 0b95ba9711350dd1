#pragma once
// The dashboard (docs/STATS.md#the-dashboard): one JSON object per chart, computed from the log
// (the headline figures are the `hostctl stats` ones, the per-run, per-fix and per-stream points
// come from one scan), and one self-contained HTML page drawn from it with inline SVG: no
// script, style sheet or font is fetched when it is viewed. `hostctl stats --html`, `hostctl
// stats --charts --json` and `GET /` of `hostctl serve` all use these two functions.
#include <nlohmann/json.hpp>

#include <string>

#include "fixhost/host/stats.hpp"
#include "fixhost/result.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host {

// The charts, in page order. Each is an object with "title", "summary" (one line of text) and
// its numbers, every one with the count it rests on (docs/STATS.md lists the keys).
inline constexpr const char* k_dashboard_charts[] = {
    "fix_success_over_time", "attempts_per_fix", "reverts_by_reason", "policy_violations_by_rule",
    "time_per_fix",          "cost_per_fix",     "flaky_tests",       "heal",
    "build_speedup",         "build_timelines"};

// {"as_of_seq", "filters", "stats": the `hostctl stats --json` report, "charts": {name: chart}}.
// The log must have the stats projection registered (a read-only open with it is enough).
// The query's run, since and mode select runs as they do for `hostctl stats`.
Result<nlohmann::ordered_json> dashboard_data(const store::EventLog& log, const StatsQuery& query);

struct DashboardHtmlOptions {
  // Adds a small inline script that polls `poll_url` every `poll_seconds` and reloads the page
  // when the log has moved on (its as_of_seq changed). Default: "" (a static page, no script)
  std::string poll_url;
  // Seconds between polls. Default: 5
  int poll_seconds = 5;
};

// The page: every chart as a <section id="chart-<name>" data-chart="<name>" data-*=numbers>
// with an inline <svg>; every mark carries its numbers as data-* attributes, and every string
// from the log (test ids, rule names, run ids) is HTML-escaped.
std::string dashboard_html(const nlohmann::ordered_json& data, const DashboardHtmlOptions& options = {});

// One line per chart: name, title, summary (the text form of --charts).
std::string dashboard_text(const nlohmann::ordered_json& data);

// `s` with & < > " ' replaced by entities.
std::string html_escape(std::string_view s);

}  // namespace fixhost::host
