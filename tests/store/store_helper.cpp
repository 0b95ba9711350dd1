// A second process for the store tests.
//   store_helper append <dir> <n> [run]   append n events (batches of 10), print "ok <last_seq>"
//   store_helper hold <dir>               open for writing, print "ready", hold until stdin closes
//   store_helper crash <dir> <seed>       append batches forever (sync) until killed, printing
//                                         "acked <last seq>" after each acknowledged batch
//   store_helper runs <dir> <runs> <n> [hang]
//                                         append <runs> detect runs (RunStarted, a SuiteFinished
//                                         with 100 KiB of output, n FailureDetected, RunFinished),
//                                         one batch per event, print "ok <last_seq>"; with hang,
//                                         then wait until killed (the events stay in the WAL)
// Crash batches: batch k holds m_k events, event i is a TestRerun with test_id "k:i:m_k" in run
// "batch-k"; it continues after the last batch in the store.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"

using namespace fixhost;

namespace {

int fail(const Status& s) {
  std::cout << "error " << s.to_string() << std::endl;
  return 1;
}

int append(const std::string& dir, int n, const std::string& run) {
  store::StoreOptions o;
  o.holder = "store_helper append";
  auto log = store::EventLog::open(dir, o);
  if (!log) return fail(log.status());
  for (int done = 0; done < n;) {
    std::vector<events::Event> batch;
    for (int i = 0; i < 10 && done < n; ++i, ++done) {
      events::TestRerun p;
      p.test_id = "tests/test_x.py::test_" + std::to_string(done);
      p.attempt = static_cast<std::uint32_t>(done);
      batch.push_back(events::make_event(p, run));
    }
    auto r = (*log)->append_batch(batch);
    if (!r) return fail(r.status());
    usleep(2000);  // let a follower see the log grow
  }
  std::cout << "ok " << (*log)->last_seq() << std::endl;
  return 0;
}

int hold(const std::string& dir) {
  store::StoreOptions o;
  o.holder = "store_helper hold";
  auto log = store::EventLog::open(dir, o);
  if (!log) return fail(log.status());
  std::cout << "ready" << std::endl;
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  return 0;
}

int crash(const std::string& dir, unsigned seed) {
  store::StoreOptions o;
  o.holder = "store_helper crash";
  o.sync = true;
  auto log = store::EventLog::open(dir, o);
  if (!log) return fail(log.status());
  std::uint64_t k = 0;
  if (auto last = (*log)->last_seq(); last > 0) {
    auto e = (*log)->get(last);
    if (!e) return fail(e.status());
    auto p = events::decode<events::TestRerun>(*e);
    if (!p) return fail(p.status());
    k = std::stoull(p->test_id.substr(0, p->test_id.find(':')));
  }
  std::mt19937 rng(seed);
  for (;;) {
    ++k;
    const unsigned m = 1 + rng() % 40;
    std::vector<events::Event> batch;
    batch.reserve(m);
    for (unsigned i = 0; i < m; ++i) {
      events::TestRerun p;
      p.test_id = std::to_string(k) + ":" + std::to_string(i) + ":" + std::to_string(m);
      p.attempt = i;
      p.passed = (i % 2) == 0;
      // Now and then a value large enough for a blob file.
      p.detail = (k % 7 == 0 && i == 0) ? std::string(100 * 1024, static_cast<char>('a' + k % 26)) : "detail";
      batch.push_back(events::make_event(p, "batch-" + std::to_string(k)));
    }
    auto r = (*log)->append_batch(batch);
    if (!r) return fail(r.status());
    std::printf("acked %llu\n", static_cast<unsigned long long>(batch.back().seq));
    std::fflush(stdout);
  }
}

int runs(const std::string& dir, int n_runs, int failures, bool hang) {
  store::StoreOptions o;
  o.holder = "store_helper runs";
  auto log = store::EventLog::open(dir, o);
  if (!log) return fail(log.status());
  auto put = [&](events::Event e) -> Status {
    auto r = (*log)->append(e);
    return r ? Status::ok() : r.status();
  };
  const std::uint64_t base = (*log)->last_seq();
  for (int k = 0; k < n_runs; ++k) {
    const std::string run = "run-" + std::to_string(base + static_cast<std::uint64_t>(k));
    events::RunStarted rs;
    rs.mode = "detect";
    rs.repo = "/repo";
    if (auto s = put(events::make_event(rs, run)); !s) return fail(s);
    events::SuiteFinished sf;
    sf.suite = "unit";
    sf.runner = "pytest";
    sf.purpose = "detect";
    sf.exit_code = 1;
    sf.output.data = std::string(100 * 1024, static_cast<char>('a' + k % 26));
    sf.output.total_bytes = sf.output.data.size();
    if (auto s = put(events::make_event(sf, run)); !s) return fail(s);
    const std::uint64_t suite_seq = (*log)->last_seq();
    for (int i = 0; i < failures; ++i) {
      events::FailureDetected fd;
      fd.runner = "pytest";
      fd.suite = "unit";
      fd.test_id = "tests/test_x.py::test_" + std::to_string(i);
      fd.file = "tests/test_x.py";
      fd.line = i + 1;
      fd.message = "assert " + std::to_string(i) + " == 0";
      events::Event e = events::make_event(fd, run);
      e.causation = suite_seq;
      if (auto s = put(std::move(e)); !s) return fail(s);
    }
    events::RunFinished rf;
    rf.outcome = "failures";
    rf.exit_code = 1;
    rf.summary = std::to_string(failures) + " failures";
    if (auto s = put(events::make_event(rf, run)); !s) return fail(s);
  }
  std::cout << "ok " << (*log)->last_seq() << std::endl;
  if (hang)
    for (;;) ::pause();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "append") return append(args[1], std::stoi(args[2]), args.size() > 3 ? args[3] : "helper-run");
  if (args.size() == 2 && args[0] == "hold") return hold(args[1]);
  if (args.size() == 3 && args[0] == "crash") return crash(args[1], static_cast<unsigned>(std::stoul(args[2])));
  if ((args.size() == 4 || (args.size() == 5 && args[4] == "hang")) && args[0] == "runs")
    return runs(args[1], std::stoi(args[2]), std::stoi(args[3]), args.size() == 5);
  std::cerr << "usage: store_helper append <dir> <n> [run] | hold <dir> | crash <dir> <seed> | runs <dir> <runs> <n> [hang]\n";
  return 2;
}
