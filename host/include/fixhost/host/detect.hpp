#pragma once
// DETECT and DIAGNOSE: record the repository's import graph, run every suite, let the parser,
// classifier and orderer plugins derive the failures, re-run each failure alone to catch
// flakes, and return the failures in fix order. Shared by `hostctl detect` and autofix.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/run_context.hpp"

namespace fixhost::host {

struct DetectedFailure {
  events::FailureDetected failure;
  std::uint64_t seq = 0;  // of the FailureDetected
  std::string category = "unknown";
  double confidence = 0;
  std::vector<events::Evidence> evidence;
  std::int32_t depth = 0;
  std::string module;
  std::string order_reason;
  bool flaky = false;
  std::uint32_t order = 0;  // 1-based fix order
};

// One failure as `hostctl detect --json` prints it and FIXHOST_FAILURE_FILE holds it: the
// FailureDetected fields plus category, confidence, evidence, order, depth, module and flakiness.
nlohmann::json failure_json(const DetectedFailure& d);

struct SuiteSummary {
  std::string suite;
  std::string runner;
  std::uint32_t tests = 0;
  std::uint32_t failures = 0;  // failures + errors
  std::int32_t exit_code = 0;
  std::string error;  // why it could not run, "" when it ran
};

struct DetectResult {
  std::vector<DetectedFailure> failures;  // in fix order
  std::vector<SuiteSummary> suites;
  std::uint32_t tests = 0;
  std::uint32_t flaky = 0;
  // Set when no suite could be run at all (exit 2 for detect).
  std::string error;
};

// One pass over every configured suite.
struct SweepResult {
  std::vector<DetectedFailure> failures;  // in report order, not yet in fix order
  std::vector<SuiteSummary> suites;
  std::uint32_t tests = 0;
  std::size_t runnable = 0;  // suites that ran (produced a parsed result)
};

// Runs every suite with `purpose` (detect | verify) in `root` and gathers what the plugins
// derived from each: failures with their category and depth.
Result<SweepResult> sweep_suites(RunContext& run, const Config& config, const std::filesystem::path& root,
                                 const std::string& purpose,
                                 const std::function<void(const std::string&)>& progress);

// The suite a failure came from.
const SuiteConfig* suite_named(const Config& config, const std::string& name);

struct DetectOptions {
  // Where the suites run (the repository, or a run's worktree).
  std::filesystem::path root;
  // Skip the flaky re-runs. Default: false
  bool skip_flaky_check = false;
  // Progress lines for the terminal ("" to stay quiet).
  std::function<void(const std::string&)> progress;
};

Result<DetectResult> run_detect(RunContext& run, const Config& config, const DetectOptions& options);

// Runs one test alone through the bus; true when it passed. `purpose` as in SuiteStarted.
// `last_error` receives the first line of its failure when it failed.
Result<bool> run_single_test(RunContext& run, const SuiteConfig& suite, const std::filesystem::path& root,
                             const std::string& test_id, const std::string& purpose, std::string* last_error = nullptr,
                             const std::map<std::string, std::string>& env = {});

// Sorts by (depth, file, line, test id) and numbers them 1..n.
void assign_fix_order(std::vector<DetectedFailure>& failures);

}  // namespace fixhost::host
