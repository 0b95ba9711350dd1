#pragma once
// Replay: feed the recorded facts of past runs through today's pure plugins, into a scratch
// in-memory log, and compare what they derive with what was derived when the runs were recorded.
// Nothing effectful runs: no process is started and effectful plugins are never called. The only
// write is the replay's own run (mode "replay"), appended after the source runs. docs/REPLAY.md.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/event.hpp"
#include "fixhost/events/payloads.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/host/runs.hpp"
#include "fixhost/result.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host {

struct ReplaySelection {
  // Runs named on the command line, in that order.
  std::vector<std::string> runs;
  // Every run in the store. Default: false
  bool all = false;
  // Only runs whose RunStarted is at or after this time (with `all`, or alone); `hostctl replay`
  // reads it with parse_since (stats.hpp). Default: none
  std::optional<std::int64_t> since_us;
};

// The runs to replay, oldest first. Replay runs are never picked by `all`/`since_us`; naming one,
// or naming a run the store does not have, is an InvalidArgument/NotFound that names it.
Result<std::vector<RunInfo>> select_runs(const std::vector<RunInfo>& runs, const ReplaySelection& selection,
                                         const std::string& store_dir);

enum class DiffKind : std::uint8_t {
  only_recorded,  // derived when recorded, not by today's plugins (e.g. a failure the parser no longer finds)
  only_replayed,  // derived by today's plugins only
  category,       // FailureClassified.category
  order,          // FailureOrdered depth or module (the fix-order key)
  severity,       // IssueTriaged priority or severity
};
std::string_view diff_kind_name(DiffKind k) noexcept;

// One difference between the recorded and the re-derived events of a run.
struct Difference {
  DiffKind kind = DiffKind::only_recorded;
  events::EventType type = events::EventType::Reserved;  // the derived type that differs
  // The recorded fact the derivation comes from (through causation): a SuiteFinished gives
  // purpose and suite; other facts leave them empty and name themselves in `context`.
  std::string context;  // "detect pytest", "flaky_check pytest", "FlakeDetected", ...
  std::string purpose;
  std::string suite;
  std::string subject;  // the test id (issue id for IssueTriaged)
  // Changes: the recorded and the re-derived value ("(none)" when one side derived nothing).
  // only_recorded / only_replayed: a short description of the event in old or new.
  std::string old_value;
  std::string new_value;
  std::uint64_t recorded_seq = 0;  // the recorded event's seq in the source run, 0 if none
};

struct RunComparison {
  std::string run;
  std::string mode;
  std::uint64_t facts = 0;             // facts re-dispatched
  std::uint64_t recorded_derived = 0;  // derived events recorded in the run
  std::uint64_t replayed_derived = 0;  // derived events today's plugins produced
  std::vector<std::string> plugin_failures;  // PluginFailed raised during the replay
  std::vector<Difference> differences;       // in the order of the facts they come from

  std::uint32_t count(DiffKind k) const;
  // The ReplayCompared payload: counts and one JSON line per difference.
  events::ReplayCompared to_payload() const;
};

// Compares the derived events of one run. `recorded` holds every event of the source run;
// `replayed` the events derived from its facts today, whose causation points at a recorded
// fact or at another replayed event (their seqs must not collide with the recorded ones).
// Derivations are matched per (originating fact, type, test id, n-th occurrence), so sweeps
// of one run (detect, flaky_check, rerun, verify) never mix. A derivation that is missing only
// because its parent derivation is missing on that side is not counted again.
RunComparison compare_derivations(const std::vector<events::Event>& recorded,
                                  const std::vector<events::Event>& replayed);

// Re-dispatches the facts of `recorded` (every event of one run, in seq order) in seq order
// through the pure plugins (an internal pure-only bus; effectful plugins are left out) into an
// in-memory log whose seqs start at `first_free_seq`, then compares. Plugins keep their state
// between calls, as they do in a host that records several runs.
class Replayer {
 public:
  explicit Replayer(const std::vector<std::shared_ptr<LoadedPlugin>>& plugins);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  Result<RunComparison> replay(const std::vector<events::Event>& recorded, std::uint64_t first_free_seq);
  // The plugins replay calls (the pure ones), "name@version".
  std::vector<std::string> plugin_ids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ReplayOptions {
  std::vector<std::string> argv;  // recorded in the replay run's RunStarted
  std::string repo;
  std::string config_text;        // fixhost.toml in force
  // Progress lines ("" never); called between runs and every few thousand facts.
  std::function<void(const std::string&)> progress;
};

struct ReplayReport {
  std::string replay_run;  // the run recorded for this replay
  std::vector<std::string> plugins;
  std::vector<RunComparison> runs;
  std::uint32_t total(DiffKind k) const;
  std::uint32_t total_differences() const;
};

// Records a run of mode "replay" naming `sources` in RunStarted.source_runs, replays each source
// run, records one ReplayCompared per source run and RunFinished ("ok", or "differences" with
// exit code 1). `log` must be writable; the source runs' events are only read.
Result<ReplayReport> replay_runs(store::EventLog& log, const std::vector<std::shared_ptr<LoadedPlugin>>& plugins,
                                 const std::vector<RunInfo>& sources, const ReplayOptions& options);

}  // namespace fixhost::host
