// bench_triage: how fast `hostctl triage` groups and ranks recorded Sentry events.
//   1. builds a store of --events SentryIssueIngested (100,000 by default) as python3-sentry-sdk
//      sends them (~1.2 KB of raw JSON each: 200 distinct bugs, their lines shifted between
//      releases, a mix of levels, infrastructure errors and warnings), in durable batches of 1000;
//   2. baseline: the same events read from the store and decoded, nothing else (the floor any
//      triage over the log pays), median of 3;
//   3. `hostctl --store DIR triage --json --since all` as a child process, median of 3 wall times,
//      checking the group count.
// Prints the figures and events/s, then last `triage_ms: X` (target < 1000 on this machine).
// Usage: bench_triage [--events N] [--dir DIR] [--keep] (--help)
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"

extern char** environ;

using namespace fixhost;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_triage: " << what << "\n";
  std::exit(1);
}
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

const char* k_types[] = {"ZeroDivisionError", "KeyError", "TypeError", "AttributeError", "ValueError"};
const char* k_files[] = {"shop/cart.py", "shop/users.py", "shop/orders.py", "shop/search.py", "shop/api/views.py"};

std::string raw_event(std::size_t i, std::size_t bug, int release) {
  json frames = json::array();
  frames.push_back({{"filename", "app.py"}, {"abs_path", "/srv/app.py"}, {"module", "__main__"}, {"function", "handle"},
                    {"lineno", 40 + release}, {"context_line", "    return dispatch(request)"}, {"in_app", true},
                    {"pre_context", {"def handle(request):", "    log(request)"}}, {"post_context", {""}}, {"vars", {{"request", "<Request>"}}}});
  frames.push_back({{"filename", "site-packages/flask/app.py"}, {"abs_path", "/usr/lib/python3/dist-packages/flask/app.py"},
                    {"module", "flask.app"}, {"function", "dispatch_request"}, {"lineno", 1516}, {"context_line", "    return view(**args)"},
                    {"in_app", false}});
  const std::string file = k_files[bug % 5];
  frames.push_back({{"filename", file}, {"abs_path", "/srv/" + file}, {"module", "shop.m" + std::to_string(bug)},
                    {"function", "step_" + std::to_string(bug)}, {"lineno", 10 + bug % 7 + release * 3},
                    {"context_line", "    value = compute_" + std::to_string(bug) + "(data)"}, {"in_app", true},
                    {"vars", {{"data", "{'id': 42}"}, {"self", "<Handler>"}}}});
  std::string type = k_types[bug % 5], value = "bad value " + std::to_string(bug), level = "error";
  if (bug % 50 == 7) type = "ConnectionRefusedError", value = "[Errno 111] Connection refused";
  json e = {{"event_id", std::to_string(1000000000000000ULL + i) + "0000000000000000"},
            {"timestamp", "2026-12-02T06:00:00Z"},
            {"level", bug % 40 == 3 ? "warning" : level},
            {"platform", "python"},
            {"release", "shop@1.0." + std::to_string(release)},
            {"environment", "production"},
            {"server_name", "web-" + std::to_string(i % 4)},
            {"user", {{"id", "user-" + std::to_string(i % 997)}}},
            {"sdk", {{"name", "sentry.python"}, {"version", "1.9.10"}}},
            {"contexts", {{"runtime", {{"name", "CPython"}, {"version", "3.11.2"}}}}},
            {"exception", {{"values", json::array({{{"type", type}, {"value", value}, {"module", nullptr},
                                                    {"mechanism", {{"type", "generic"}, {"handled", true}}},
                                                    {"stacktrace", {{"frames", frames}}}}})}}}};
  return e.dump();
}

int run_child(const std::vector<std::string>& argv, std::string& out) {
  char tmpl[] = "/tmp/bench-triage-out-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) die("mkstemp");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) die("cannot start " + argv[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  close(fd);
  FILE* f = std::fopen(tmpl, "rb");
  out.clear();
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  fs::remove(tmpl);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 100'000;
  fs::path dir;
  bool keep = false;
  CLI::App app{"bench_triage: hostctl triage over recorded Sentry events"};
  app.add_option("--events", n, "SentryIssueIngested events in the store")->capture_default_str();
  app.add_option("--dir", dir, "where the store goes (default: a temporary directory)");
  app.add_flag("--keep", keep, "keep the store");
  CLI11_PARSE(app, argc, argv);
  if (dir.empty()) dir = fs::temp_directory_path() / ("bench-triage-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "repo");
  const fs::path store = dir / "store";
  const std::size_t bugs = 200;
  std::uint64_t raw_bytes = 0;
  {
    auto log = store::EventLog::open(store);
    if (!log) die(log.status().to_string());
    auto t0 = Clock::now();
    std::vector<events::Event> batch;
    const std::int64_t now = events::now_us();
    for (std::size_t i = 0; i < n; ++i) {
      events::SentryIssueIngested p;
      p.via = "store";
      p.project = "7";
      p.level = "error";
      p.count = 1;
      p.raw.data = raw_event(i, (i * 7919) % bugs, static_cast<int>(i % 3));
      p.raw.total_bytes = p.raw.data.size();
      raw_bytes += p.raw.data.size();
      auto e = events::make_event(p, "bench-serve");
      e.ts_us = now - static_cast<std::int64_t>(n - i) * 1000;
      batch.push_back(std::move(e));
      if (batch.size() == 1000 || i + 1 == n) {
        if (auto r = (*log)->append_batch(batch); !r) die(r.status().to_string());
        batch.clear();
      }
    }
    std::printf("store: %zu events, %.1f MB of raw SDK JSON (%.0f bytes each), built in %.0f ms\n", n, raw_bytes / 1e6,
                static_cast<double>(raw_bytes) / n, ms_since(t0));
  }

  // Baseline: read and decode every event, nothing else.
  std::vector<double> scan_ms;
  for (int rep = 0; rep < 3; ++rep) {
    store::StoreOptions so;
    so.writable = false;
    so.cache_scans = false;  // as hostctl triage reads
    auto t0 = Clock::now();
    auto log = store::EventLog::open(store, so);
    if (!log) die(log.status().to_string());
    std::size_t seen = 0;
    auto st = (*log)->scan_type(events::EventType::SentryIssueIngested, [&](const events::Event& e) {
      if (auto p = events::decode<events::SentryIssueIngested>(e)) seen += p->raw.data.empty() ? 0 : 1;
      return true;
    });
    if (!st || seen != n) die("baseline scan saw " + std::to_string(seen));
    scan_ms.push_back(ms_since(t0));
  }

  std::vector<double> triage_ms;
  std::size_t groups = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::string out;
    auto t0 = Clock::now();
    int code = run_child({FIXHOST_HOSTCTL, "--store", store.string(), "triage", "--repo", (dir / "repo").string(), "--json",
                          "--since", "all"},
                         out);
    triage_ms.push_back(ms_since(t0));
    if (code != 0) die("hostctl triage exited " + std::to_string(code));
    auto j = json::parse(out);
    if (j["events"] != n) die("hostctl triage saw " + j["events"].dump() + " events");
    groups = j["groups"].size();
  }
  if (groups != bugs) die("expected " + std::to_string(bugs) + " groups, got " + std::to_string(groups));
  const double t = median(triage_ms), s = median(scan_ms);
  std::printf("baseline (read + decode only): %.0f ms, %.0f events/s\n", s, n / (s / 1000));
  std::printf("hostctl triage: %zu groups from %zu events in %.0f ms (median of 3, whole process), %.0f events/s\n", groups, n,
              t, n / (t / 1000));
  std::printf("triage_over_scan_ratio: %.2f\n", t / s);
  if (!keep) fs::remove_all(dir);
  std::printf("triage_ms: %.0f\n", t);
  return 0;
}
