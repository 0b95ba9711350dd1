#pragma once
// Runs one configured suite (or one test of it) as a child process and records what happened
// as a SuiteFinished payload: exit, signal, timeout, captured output and the runner's machine
// report (pytest --junitxml, jest --json --outputFile). Never parses: the parser plugins do.
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::host {

struct SuiteRequest {
  // detect | flaky_check | rerun | verify
  std::string purpose = "detect";
  // When set, only these tests run (pytest node ids, or jest "<file>::<a › b › title>"), all
  // in one process.
  std::vector<std::string> test_ids;
  // Directory the suite's `cwd` is relative to (the repository or a run's worktree).
  std::filesystem::path root;
  // Extra environment for the suite.
  std::map<std::string, std::string> env;
  // A process started ahead for this run (WarmRun below); used when it stands for the argv this
  // request runs, else the run starts its own. Default: none
  class WarmRun* warm = nullptr;
};

// A suite's next run, started before its tests are known: the flaky check's re-run starts
// beside the suite's main run, so that the interpreter and pytest are loaded by the time the
// failures are. Only for a pytest suite whose command runs pytest through a Python interpreter
// fixhost can see: `<python> [flags] -m pytest ...`, or a pytest script whose #! names python.
// The process imports pytest, then waits on stdin for the arguments and runs exactly what the
// command would have run (runpy, as `-m` and a script do), in the same directory and
// environment, under the same timeout, which starts when the arguments are given. Nothing of
// the repository is read before then. Unused, it gets EOF and ends. docs/DETECT.md.
class WarmRun {
 public:
  // nullptr when the suite cannot be started this way (another runner, a command that does not
  // name its interpreter, a sandboxed suite).
  static std::unique_ptr<WarmRun> start(const SuiteConfig& suite, const SuiteRequest& req);
  ~WarmRun();
  WarmRun(const WarmRun&) = delete;
  WarmRun& operator=(const WarmRun&) = delete;

  // Runs `argv` (as suite_argv made it) in the warm process when it starts with the command
  // this process stands for and `req` runs in the same place and environment; nullopt when not,
  // or when the process is gone (the caller then runs argv itself). Once only.
  std::optional<Result<ProcessResult>> run(const std::vector<std::string>& argv, const SuiteRequest& req,
                                           const std::function<void(std::string_view)>& on_output);
  // How many times run() handed its work to a warm process (for tests and progress).
  static std::uint64_t used_count();

 private:
  WarmRun() = default;
  void finish();
  std::vector<std::string> prefix_;  // the command's words up to the runner (python3 -m pytest)
  std::filesystem::path root_;
  std::map<std::string, std::string> env_;
  int feed_fd_ = -1;  // our end of its stdin
  std::atomic<bool> hold_{true};
  std::mutex mu_;
  std::function<void(std::string_view)> sink_;
  bool ended_ = false;
  std::optional<Result<ProcessResult>> result_;
  std::thread thread_;
};

// The argv the host runs for `suite` (report flags included); `report_path` is where the
// runner is asked to write its machine report. For a request naming tests, the suite's
// `rerun` template when it has one, else its command narrowed: path arguments after the
// runner's name are dropped and the selection appended (after "--" for npm/yarn/pnpm).
std::vector<std::string> suite_argv(const SuiteConfig& suite, const SuiteRequest& req, const std::string& report_path);

// The argv that lists a suite's tests without running them (pytest --collect-only -q, jest
// --listTests), or empty when the command does not name the runner (a script).
std::vector<std::string> collect_argv(const SuiteConfig& suite);

// "" when fixhost can tell how to run single tests of `suite`, else a note saying why not and
// what to configure (its command does not name the runner, so the selection is appended to it
// and may be ignored).
std::string narrowing_note(const SuiteConfig& suite);

// Reads at most `cap` bytes of a report file the way a hostile runner cannot abuse: no symlink
// is followed, a FIFO or device is refused without blocking, only a regular file is read.
// Returns "" with `why` set when it cannot be read.
std::string read_report_file(const std::filesystem::path& path, std::size_t cap, std::uint64_t& total,
                             std::uint64_t& cut, std::string& why);

// Splits a jest test id into its file and the full name jest's -t matches ("a b title"); the
// "::<line>" that tells apart tests of one file sharing a name is dropped.
std::pair<std::string, std::string> split_jest_test_id(std::string_view test_id);

// Runs it; `on_output` sees output as it arrives (progress). SuiteStarted is returned through
// `started` before the process starts so the caller can record it first.
events::SuiteFinished run_suite(const SuiteConfig& suite, const SuiteRequest& req,
                                const std::function<void(const events::SuiteStarted&)>& started,
                                const std::function<void(std::string_view)>& on_output = nullptr);

}  // namespace fixhost::host
