#include "fixhost/host/runs.hpp"

#include <map>

#include "fixhost/events/codec.hpp"

namespace fixhost::host {

Result<std::vector<RunInfo>> list_runs(const store::EventLog& log) {
  std::vector<RunInfo> runs;
  std::map<std::string, std::size_t> index;
  Status err;
  auto st = log.scan_type(events::EventType::RunStarted, [&](const events::Event& e) {
    auto p = events::decode<events::RunStarted>(e);
    if (!p) {
      err = p.status();
      return false;
    }
    RunInfo r;
    r.id = e.run_id;
    r.mode = p->mode;
    r.repo = p->repo;
    r.start_us = e.ts_us;
    r.started_seq = e.seq;
    r.source_runs = p->source_runs;
    index[r.id] = runs.size();
    runs.push_back(std::move(r));
    return true;
  });
  if (!st) return st;
  if (!err) return err;
  st = log.scan_type(events::EventType::RunFinished, [&](const events::Event& e) {
    auto it = index.find(e.run_id);
    if (it == index.end()) return true;
    auto p = events::decode<events::RunFinished>(e);
    if (!p) {
      err = p.status();
      return false;
    }
    RunInfo& r = runs[it->second];
    r.end_us = e.ts_us;
    r.outcome = p->outcome;
    r.exit_code = p->exit_code;
    r.summary = p->summary;
    return true;
  });
  if (!st) return st;
  if (!err) return err;
  // Holding the writer lock ourselves (approve, discard) means no other hostctl is running a
  // run, so every unfinished run is aborted; reading, a live writer may still be in one.
  bool writer_alive = !log.writable() && log.writer().has_value();
  bool newest_open_seen = false;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (!it->outcome.empty()) continue;
    if (writer_alive && !newest_open_seen) {
      it->outcome = "running";
      newest_open_seen = true;
    } else {
      it->outcome = "aborted";
      it->exit_code = 2;
    }
  }
  return runs;
}

Result<RunInfo> find_run(const store::EventLog& log, const std::string& id) {
  auto runs = list_runs(log);
  if (!runs) return runs.status();
  for (auto& r : *runs)
    if (r.id == id) return r;
  return make_error(Errc::not_found, "store '" + log.dir().string() + "' has no run '" + id +
                                         "'; 'hostctl runs' lists the runs it has");
}

}  // namespace fixhost::host
