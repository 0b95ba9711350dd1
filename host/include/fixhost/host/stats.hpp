#pragma once
// The figures of `hostctl stats` (definitions: docs/STATS.md). They come from the `stats`
// projection, which keeps one summary record per run in the store, so a query reads the
// summaries of the runs it selects and never scans the log; `stats_from_scan` folds the whole
// log in memory with the same code, for `hostctl stats --rebuild` and the tests.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fixhost/result.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/store/projection.hpp"

namespace fixhost::host {

inline constexpr std::string_view k_stats_projection = "stats";

// The projection every hostctl that writes registers with its EventLog. Thread-safe.
std::shared_ptr<const store::Projection> stats_projection();

struct StatsQuery {
  // Only this run. Default: "" (every run)
  std::string run;
  // Only runs started at or after this time (microseconds since the epoch). Default: none
  std::optional<std::int64_t> since_us;
  // What --since said, echoed in the report. Default: ""
  std::string since_text;
  // Only runs of this mode and only its section: autofix | build | heal. Default: "" (all)
  std::string mode;
  // Minutes a person would spend on one fix, for the time-saved estimate. Default: 30
  double minutes_per_manual_fix = 30;
};

// "30d", "12h", "90m", "2w", "45s" before `now_us`, or a UTC date "2026-11-01" (its midnight).
// InvalidArgument names the text and the accepted forms.
Result<std::int64_t> parse_since(std::string_view text, std::int64_t now_us);

// InvalidArgument unless mode is "", autofix, build or heal.
Status check_stats_mode(std::string_view mode);

// The report: every figure as {"value": number or null, "count": what it rests on}, in the
// order of docs/STATS.md. NotFound when --run names a run the store does not have.
Result<nlohmann::ordered_json> stats_from_projection(const store::EventLog& log, const StatsQuery& query);
Result<nlohmann::ordered_json> stats_from_scan(const store::EventLog& log, const StatsQuery& query);
// The same figures from the records of a stats projection state (a view handed out by the log).
Result<nlohmann::ordered_json> stats_from_view(const store::ProjectionView& view, const StatsQuery& query);

// A compact table: metric, value, and the count it rests on.
std::string stats_table(const nlohmann::ordered_json& report);

// `minutes_per_manual_fix` of <repo>/fixhost.toml; 30 when the file or the key is absent.
Result<double> read_minutes_per_manual_fix(const std::filesystem::path& repo);

}  // namespace fixhost::host
