#pragma once
// DETECT and DIAGNOSE: record the repository's import graph, run every suite, let the parser,
// classifier and orderer plugins derive the failures, re-run each failure alone to catch
// flakes, and return the failures in fix order. Shared by `hostctl detect` and autofix.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/suite_runner.hpp"

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
  // Set when the parser's file:line does not exist in the file (code instrumented for coverage
  // reports lines of its own): what was done about it.
  std::string location_note;
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
  std::uint32_t collected = 0;          // what the runner said it collected (0: it did not say)
  std::vector<std::string> uncollected;  // files that failed to import: their tests did not run
  std::string interrupted;              // why the run stopped early, "" when it ran to the end
  // One line for the user when the suite ran fewer tests than it has ("" when it ran them all).
  std::string warning() const;
};

struct DetectResult {
  std::vector<DetectedFailure> failures;  // in fix order
  std::vector<SuiteSummary> suites;
  std::uint32_t tests = 0;
  std::uint32_t flaky = 0;
  // Failures not put through the flaky check (flaky_check_max), reported as real.
  std::uint32_t flaky_unchecked = 0;
  // Built-in protections that cover most of the repository (the policy plugin's verdict on the
  // import scan): autofix refuses to start while there is one.
  std::vector<events::ProtectionTooWide> wide_protections;
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
// With `warm`, a WarmRun is started beside each pytest suite's run, for the re-run that follows
// (detect's flaky check), and kept there by suite name.
Result<SweepResult> sweep_suites(RunContext& run, const Config& config, const std::filesystem::path& root,
                                 const std::string& purpose,
                                 const std::function<void(const std::string&)>& progress,
                                 std::map<std::string, std::unique_ptr<WarmRun>>* warm = nullptr);

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

// One run of some tests of one suite, all in one process.
struct BatchResult {
  std::set<std::string> passed;   // asked for, ran and passed
  std::set<std::string> failing;  // asked for and failed
  std::set<std::string> unknown;  // asked for, but the run does not tell (it broke, nothing matched)
  // Failures of tests not asked for: a file that failed to import now imports and some of its
  // tests fail (hidden failures), with what the plugins derived.
  std::vector<DetectedFailure> revealed;
  std::map<std::string, DetectedFailure> failures;  // the failing ones, by id
  std::string note;  // why some are unknown
};
Result<BatchResult> run_tests(RunContext& run, const SuiteConfig& suite, const std::filesystem::path& root,
                              const std::vector<std::string>& test_ids, const std::string& purpose,
                              const std::map<std::string, std::string>& env = {}, WarmRun* warm = nullptr);

// Sorts by (depth, file, line, test id) and numbers them 1..n.
void assign_fix_order(std::vector<DetectedFailure>& failures);

}  // namespace fixhost::host
