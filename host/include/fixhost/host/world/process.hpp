#pragma once
// Child processes on a leash: each runs from an argv (no shell unless the argv says so) in its
// own process group, below a small process of ours that is their child subreaper
// (PR_SET_CHILD_SUBREAPER), so every descendant, even one that double-forked into a new
// session, stays in its tree instead of going to init. On timeout the group and every
// descendant get SIGTERM, then SIGKILL; when the child exits (or hostctl dies) everything it
// left is killed and reaped before run_process returns. Output (stdout and stderr
// interleaved) is captured under the head+tail size cap.
// run_process is safe to call from several threads; each call blocks until its child is gone.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH
  std::string cwd;                // "" = the current directory
  std::map<std::string, std::string> env;  // set on top of the inherited environment
  // Killed (SIGTERM to the group, then SIGKILL after `grace`) when this runs out. 0 = none.
  // Default: none
  std::chrono::milliseconds timeout{0};
  // Time between SIGTERM and SIGKILL. Default: 2 s
  std::chrono::milliseconds grace{2000};
  // Bytes of output kept from the start and from the end (docs/STORE.md). Default: 16 MiB each
  std::size_t head_cap = 16u << 20;
  std::size_t tail_cap = 16u << 20;
  // Stopped by request_interrupt() (agents, suites); false for the host's own bookkeeping
  // (git). Default: true
  bool interruptible = true;
  // The child's stdin: this descriptor (the child gets a copy; the caller keeps and closes its
  // own), or /dev/null when -1. Default: -1
  int stdin_fd = -1;
  // A child started ahead of its work (suite_runner's WarmRun): while *on_hold is true, the
  // timeout has not started and the time does not count in duration_ms; both start when it
  // turns false. Default: none (they start at the fork)
  const std::atomic<bool>* on_hold = nullptr;
};

struct ProcessResult {
  int exit_code = -1;  // -1 when it did not exit normally
  int signal = 0;      // signal that ended it (the one we sent on timeout), 0 for none
  bool timed_out = false;
  std::int64_t duration_ms = 0;
  events::Blob output;
  std::string spawn_error;  // set when it could not be started at all (exec failed)
  bool interrupted = false; // stopped because request_interrupt() was called
};

// Interrupt (SIGINT/SIGTERM to hostctl): every running and later child whose spec is
// `interruptible` is stopped as on a timeout, and ProcessResult::interrupted is set; the rest
// (git, which the revert needs) run on. Async-signal-safe; for signal handlers.
void request_interrupt() noexcept;
bool interrupt_requested() noexcept;

// Runs to completion. `on_output` (optional) sees every chunk as it arrives, before capping.
// Errors: IOError when pipes or fork fail. An exec failure is not an error: it is reported in
// ProcessResult::spawn_error with exit_code 127.
Result<ProcessResult> run_process(const ProcessSpec& spec,
                                  const std::function<void(std::string_view)>& on_output = nullptr);

}  // namespace fixhost::host
