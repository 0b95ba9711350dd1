// A second process for the store tests.
//   store_helper append <dir> <n> [run]   append n events (batches of 10), print "ok <last_seq>"
//   store_helper hold <dir>               open for writing, print "ready", hold until stdin closes
//   store_helper crash <dir> <seed>       append batches forever (sync) until killed
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
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "append") return append(args[1], std::stoi(args[2]), args.size() > 3 ? args[3] : "helper-run");
  if (args.size() == 2 && args[0] == "hold") return hold(args[1]);
  if (args.size() == 3 && args[0] == "crash") return crash(args[1], static_cast<unsigned>(std::stoul(args[2])));
  std::cerr << "usage: store_helper append <dir> <n> [run] | hold <dir> | crash <dir> <seed>\n";
  return 2;
}
