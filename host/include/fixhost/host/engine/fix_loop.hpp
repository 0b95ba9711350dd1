#pragma once
// The fix loop for one failure, shared by every workflow that fixes a test (autofix for each
// detected failure, heal for the test that reproduces a production error, build for an
// integration failure): up to max_attempts agent attempts, each judged by the rails and
// followed by a re-run of only that test; a passing attempt is kept (its patch returned), any
// other reverted, and what was tried goes into the next attempt's prompt.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fixhost/host/engine/detect.hpp"
#include "fixhost/host/engine/session.hpp"

namespace fixhost::host::engine {

// What became of one failure.
struct FixOutcome {
  std::string test_id;
  std::string file;
  std::int64_t line = 0;
  std::string category;
  std::uint32_t attempts = 0;
  // fixed | unfixable | flaky | not_attempted | cured (passes once another failure was
  // fixed; no agent call) | unverified (fixed, but the run ended before it was committed)
  std::string outcome;
  std::string approach;
  std::string reason;
  std::string last_error;
  std::string suggestion;
  std::vector<std::string> files;
  std::uint32_t round = 1;  // the round it was found in
  std::string resolved_by;  // for cured: the failure whose fix cured it
  std::string reason_kind;  // FailureResolved::reason_kind
  // What its attempts reported spending (docs/USAGE.md): the sum of the known costs, and how
  // many attempts reported one and how many did not.
  double cost_usd = 0;
  std::uint32_t attempts_costed = 0, attempts_cost_unknown = 0;
};

// A fix that passed its test, kept for verification and the commit.
struct KeptFix {
  std::size_t index = 0;  // into the workflow's outcomes
  std::string test_id;
  std::string patch;  // binary diff, for git apply
};

struct FixRequest {
  DetectedFailure* failure = nullptr;
  std::size_t order = 1, of = 1;          // "[order/of]" in progress lines
  std::uint32_t max_attempts = 3;
  std::filesystem::path attempts_dir;     // <dir>/<order>-<attempt>/ per attempt
  std::map<std::string, std::string> env;  // beyond the autofix contract's (heal: FIXHOST_PHASE, ...)
  std::vector<std::string> frozen;         // paths no attempt may touch (heal: the reproducing test)
  std::string prompt_extra;                // markdown appended to each prompt
  // A file that failed to import was fixed: the failures its tests now show (next round's work).
  std::function<void(std::vector<DetectedFailure>&&)> on_revealed;
  // The failure is a failing command, not a test (build: an integration type check, lint or the
  // contract check): non-empty `command` is its argv, shown in the prompt, and `verify` replaces
  // the re-run of the test: true when the command now passes, `last_error` its first error line.
  std::vector<std::string> command;
  std::function<Result<bool>(std::string& last_error)> verify;
};

// Runs the loop; on success `out.outcome` is "fixed" and the patch is returned, else
// `out` says why not (unfixable with reason, reason_kind, suggestion). Errors are the host's.
Result<std::optional<std::string>> fix_failure(Session& s, const FixRequest& req, FixOutcome& out);

// FailureResolved for `fo` (caused by `cause` when non-zero).
Status publish_resolved(Session& s, const FixOutcome& fo, std::uint64_t cause = 0);

}  // namespace fixhost::host::engine
