// bench_cluster: what a 3-node JetStream cluster on loopback absorbs from 4 runners.
//   1. starts 3 nats-server (-js, routed) on free ports, data dirs in a temp dir;
//   2. throughput: 4 runner stores, each appended as fast as it goes (batches of 100, the way a
//      detect cascade appends), each forwarded by an in-process forwarder (forward_events, the
//      code of `hostctl cluster forward --follow`); events/s = all events / (first append -> last ack);
//   3. latency: 4 runners at a paced rate (--rate events/s each, batches of 10) for --seconds;
//      p50/p99 from the local append returning to JetStream's ack of that event;
//   4. `hostctl stats --cluster --json` over everything in the stream (cold: the cache reads it
//      all), then again (warm: nothing new).
// Last line: `cluster_events_per_s: X`.
// Usage: bench_cluster [--events N (total of step 2, default 1000000)] [--rate N] [--seconds N]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/cluster.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/test/files.hpp"
#include "history.hpp"
#include "nats_cluster.hpp"

using namespace fixhost;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Runner {
  fs::path store;
  std::unique_ptr<store::EventLog> log;
  std::vector<Clock::time_point> appended;  // by seq
  std::vector<double> latency_ms;           // by seq, -1 until acked
  std::atomic<std::uint64_t> acked{0};
  std::mutex mu;
  std::thread forwarder;
};

std::atomic<bool> g_stop{false};

void start_forwarder(Runner& r, const host::ClusterConfig& base, int i) {
  host::ClusterConfig c = base;
  c.host_id = "bench-" + std::to_string(i);
  r.forwarder = std::thread([&r, c] {
    host::ForwardOptions fo;
    fo.follow = true;
    fo.poll = std::chrono::milliseconds(2);
    fo.keep_going = [] { return !g_stop.load(); };
    fo.on_ack = [&r](std::uint64_t seq) {
      std::lock_guard lock(r.mu);
      if (seq < r.appended.size() && r.latency_ms[seq] < 0)
        r.latency_ms[seq] = std::chrono::duration<double, std::milli>(Clock::now() - r.appended[seq]).count();
      r.acked.fetch_add(1);
    };
    auto res = host::forward_events(c, r.store, fo);
    if (!res) std::cerr << "forwarder: " << res.status().to_string() << "\n";
  });
}

void append(Runner& r, const std::string& run, int n) {
  std::vector<events::Event> b;
  for (int i = 0; i < n; ++i) b.push_back(events::make_event(stats_test::started("autofix"), run, "host"));
  std::lock_guard lock(r.mu);
  auto first = r.log->append_batch(b, false);
  if (!first) throw std::runtime_error(first.status().to_string());
  const auto now = Clock::now();
  r.appended.resize(*first + n, now);
  r.latency_ms.resize(*first + n, -1);
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

int run_cmd(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t total = 1000000;
  int rate = 1000, seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--events") total = std::stoull(argv[i + 1]);
    else if (a == "--rate") rate = std::stoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::stoi(argv[i + 1]);
  }
  const int runners_n = 4;
  test::TempDir tmp("fixhost-bench-cluster");
  test::NatsCluster cluster(tmp.subdir("nats"), 3);
  host::ClusterConfig config;
  config.url = cluster.urls();
  config.replicas = 3;

  // 2. throughput
  std::vector<std::unique_ptr<Runner>> rs;
  for (int i = 0; i < runners_n; ++i) {
    auto r = std::make_unique<Runner>();
    r->store = tmp.subdir("r" + std::to_string(i)) / ".fixhost";
    store::StoreOptions so;
    so.sync = false;
    so.projections.push_back(host::stats_projection());
    auto log = store::EventLog::open(r->store, so);
    if (!log) {
      std::cerr << log.status().to_string() << "\n";
      return 2;
    }
    r->log = std::move(*log);
    rs.push_back(std::move(r));
  }
  for (int i = 0; i < runners_n; ++i) start_forwarder(*rs[i], config, i);
  const std::uint64_t per = total / runners_n;
  const auto t0 = Clock::now();
  std::vector<std::thread> writers;
  for (int i = 0; i < runners_n; ++i)
    writers.emplace_back([&, i] {
      for (std::uint64_t done = 0; done < per; done += 100) append(*rs[i], "bench-run-" + std::to_string(i), 100);
      (void)rs[i]->log->sync();
    });
  for (auto& w : writers) w.join();
  const double append_ms = ms_since(t0);
  for (auto& r : rs)
    while (r->acked.load() < per) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double e2e_ms = ms_since(t0);
  const double events_per_s = per * runners_n / (e2e_ms / 1000.0);
  std::vector<double> thr_lat;
  for (auto& r : rs)
    for (std::size_t s = 1; s < r->latency_ms.size(); ++s) thr_lat.push_back(r->latency_ms[s]);
  std::printf("throughput: %llu events from %d runners in %.0f ms (appends took %.0f ms): %.0f events/s; "
              "append->ack under load p50 %.1f ms p99 %.1f ms\n",
              static_cast<unsigned long long>(per * runners_n), runners_n, e2e_ms, append_ms, events_per_s,
              pct(thr_lat, 0.5), pct(thr_lat, 0.99));

  // 3. latency at a paced rate
  std::vector<std::size_t> from;
  for (auto& r : rs) from.push_back(r->latency_ms.size());
  const auto t1 = Clock::now();
  writers.clear();
  for (int i = 0; i < runners_n; ++i)
    writers.emplace_back([&, i] {
      const auto every = std::chrono::microseconds(1000000LL * 10 / rate);
      auto next = Clock::now();
      while (Clock::now() - t1 < std::chrono::seconds(seconds)) {
        append(*rs[i], "paced-run-" + std::to_string(i), 10);
        next += every;
        std::this_thread::sleep_until(next);
      }
    });
  for (auto& w : writers) w.join();
  std::vector<double> lat;
  for (std::size_t i = 0; i < rs.size(); ++i) {
    auto& r = *rs[i];
    while (true) {
      std::lock_guard lock(r.mu);
      if (r.log->last_seq() <= r.acked.load()) break;
    }
    std::lock_guard lock(r.mu);
    for (std::size_t s = from[i]; s < r.latency_ms.size(); ++s) lat.push_back(r.latency_ms[s]);
  }
  std::printf("latency: %zu events at %d events/s per runner: append->ack p50 %.2f ms p99 %.2f ms max %.2f ms\n",
              lat.size(), rate, pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1.0));
  g_stop = true;
  for (auto& r : rs) r->forwarder.join();
  std::uint64_t in_stream = 0;
  for (auto& r : rs) in_stream += r->log->last_seq();

  // 4. stats --cluster
  const fs::path viewer = tmp / "viewer" / ".fixhost";
  std::vector<std::string> env{"FIXHOST_CLUSTER_URL=" + cluster.urls()};
  std::vector<std::string> cmd{FIXHOST_HOSTCTL, "--store", viewer.string(), "stats", "--cluster", "--json", "--repo",
                               tmp.subdir("viewer").string()};
  auto t2 = Clock::now();
  int rc1 = run_cmd(cmd, env);
  const double cold_ms = ms_since(t2);
  t2 = Clock::now();
  int rc2 = run_cmd(cmd, env);
  const double warm_ms = ms_since(t2);
  std::printf("stats --cluster over %llu events: cold %.0f ms (exit %d), warm %.0f ms (exit %d)\n",
              static_cast<unsigned long long>(in_stream), cold_ms, rc1, warm_ms, rc2);
  std::printf("cluster_events_per_s: %.0f\n", events_per_s);
  return rc1 == 0 && rc2 == 0 ? 0 : 1;
}
