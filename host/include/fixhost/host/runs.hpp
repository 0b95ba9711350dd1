#pragma once
// The runs recorded in a store, from their RunStarted and RunFinished events.
#include <optional>
#include <string>
#include <vector>

#include "fixhost/store/event_log.hpp"

namespace fixhost::host {

struct RunInfo {
  std::string id;
  std::string mode;
  std::string repo;
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;  // 0 while running or when aborted
  // ok | failures | unfixable | budget_exceeded | error | aborted | running
  std::string outcome;
  int exit_code = 0;
  std::string summary;
  std::uint64_t started_seq = 0;
  std::vector<std::string> source_runs;
};

// In start order. A run without RunFinished is "running" if the store's writer is alive and it
// is the newest such run, else "aborted" (its writer died: SIGKILL, power loss).
Result<std::vector<RunInfo>> list_runs(const store::EventLog& log);
Result<RunInfo> find_run(const store::EventLog& log, const std::string& id);

}  // namespace fixhost::host
