#pragma once
// A build's report, read back from its events (docs/BUILD.md, "The report"): a terminal table,
// markdown and JSON with the streams, the timeline (a text Gantt line per stream), the merge
// and integration results and the figures. Pure: it renders what the log holds.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "fixhost/events/event.hpp"
#include "fixhost/events/payloads.hpp"
#include "fixhost/host/build/metrics.hpp"

namespace fixhost::host::build {

struct BuildRecord {
  std::string run_id;
  std::string feature, spec;
  std::vector<events::StreamPlanned> planned;
  std::vector<events::StreamFinished> finished;  // in the order they finished
  std::vector<events::WorktreeCreated> worktrees;
  std::optional<events::MergePlanned> plan;
  std::vector<events::MergeConflict> conflicts;
  std::vector<events::ConflictResolved> resolutions;  // the [build] resolver's, in log order
  std::vector<events::IntegrationChecked> checks;
  std::optional<events::WorktreesMerged> merged;
  std::string outcome;  // RunFinished's, "" while running or killed

  const events::StreamFinished* finished_of(const std::string& stream) const;
  std::vector<StreamTiming> timings() const;  // planned order, finished streams only
};

// Folds a run's events (any order of types, log order within) into a record.
BuildRecord collect_build(const std::vector<events::Event>& run_events);

std::string report_table(const BuildRecord& r);
std::string report_markdown(const BuildRecord& r);
nlohmann::ordered_json report_json(const BuildRecord& r);

}  // namespace fixhost::host::build
