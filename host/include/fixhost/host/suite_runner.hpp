#pragma once
// Runs one configured suite (or one test of it) as a child process and records what happened
// as a SuiteFinished payload: exit, signal, timeout, captured output and the runner's machine
// report (pytest --junitxml, jest --json --outputFile). Never parses: the parser plugins do.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/config.hpp"

namespace fixhost::host {

struct SuiteRequest {
  // detect | flaky_check | rerun | verify
  std::string purpose = "detect";
  // When set, only this test runs (a pytest node id, or a jest "<file>::<a › b › title>").
  std::string test_id;
  // Directory the suite's `cwd` is relative to (the repository or a run's worktree).
  std::filesystem::path root;
  // Extra environment for the suite.
  std::map<std::string, std::string> env;
};

// The argv the host runs for `suite` (report flags included); `report_path` is where the
// runner is asked to write its machine report.
std::vector<std::string> suite_argv(const SuiteConfig& suite, const SuiteRequest& req, const std::string& report_path);

// Splits a jest test id into its file and the full name jest's -t matches ("a b title").
std::pair<std::string, std::string> split_jest_test_id(std::string_view test_id);

// Runs it; `on_output` sees output as it arrives (progress). SuiteStarted is returned through
// `started` before the process starts so the caller can record it first.
events::SuiteFinished run_suite(const SuiteConfig& suite, const SuiteRequest& req,
                                const std::function<void(const events::SuiteStarted&)>& started,
                                const std::function<void(std::string_view)>& on_output = nullptr);

}  // namespace fixhost::host
