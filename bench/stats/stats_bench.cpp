// bench_stats: how fast `hostctl stats` answers from the stats projection.
//   1. builds a store of --runs synthetic runs (80% autofix, 10% heal, 10% build) of
//      --events-per-run events each (1,000,000 by default), appended by an EventLog with the
//      stats projection registered, in durable batches of ~1000 events;
//   2. runs `hostctl --store DIR stats --json` 5 times and takes the median wall time;
//   3. runs `hostctl --store DIR stats --json --rebuild` (the same figures from a full scan of
//      the log) 3 times, median, and checks both give the same figures.
// Prints the figures, then last `stats_ms: X` and `stats_speedup: Y` (scan over projection).
// Usage: bench_stats [--runs N] [--events-per-run N] [--dir DIR] [--keep] [--hostctl PATH]
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/store/event_log.hpp"

extern char** environ;

using namespace fixhost;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::size_t runs = 10'000;
  std::size_t events_per_run = 100;
  fs::path dir;
  bool keep = false;
  std::string hostctl = FIXHOST_HOSTCTL;
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_stats: " << what << "\n";
  std::exit(1);
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Builds one synthetic run of exactly `n` events.
class RunMaker {
 public:
  RunMaker(std::uint64_t next_seq, std::mt19937_64& rng) : seq_(next_seq), rng_(rng) {}

  std::vector<events::Event> make(std::size_t index, std::size_t n, std::int64_t start_us) {
    out_.clear();
    run_ = "bench-" + std::to_string(index);
    ts_ = start_us;
    const unsigned kind = index % 10;
    if (kind == 8) heal(index, n);
    else if (kind == 9) build(n);
    else autofix(n);
    return std::move(out_);
  }
  std::uint64_t next_seq() const { return seq_; }

 private:
  template <class P>
  std::uint64_t add(const P& p, std::uint64_t causation = 0, std::int64_t advance_ms = 50) {
    auto e = events::make_event(p, run_, "host", causation);
    ts_ += advance_ms * 1000;
    e.ts_us = ts_;
    out_.push_back(std::move(e));
    return seq_++;
  }
  std::uint32_t pick(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }

  void start(const std::string& mode) {
    events::RunStarted p;
    p.mode = mode;
    p.repo = "/srv/shop";
    p.branch = "main";
    p.head = "3fa9c0de";
    p.argv = {"hostctl", mode};
    add(p);
  }
  void pad_to(std::size_t n) {
    while (out_.size() + 1 < n) {
      events::TestRerun p;
      p.test_id = "tests/test_cart.py::test_total_" + std::to_string(pick(500));
      p.attempt = 1;
      p.passed = pick(2) == 0;
      p.detail = p.passed ? "" : "AssertionError: assert 41 == 42";
      add(p);
    }
    events::RunFinished f;
    f.outcome = "ok";
    add(f);
  }

  void autofix(std::size_t n) {
    static const char* cats[] = {"missing_dependency", "type_error", "logic_bug", "stale_mock", "env_mismatch", "unknown"};
    static const char* rules[] = {"protected_path", "test_edited", "skip_marker", "assertion_weakened"};
    start("autofix");
    events::SuiteFinished sf;
    sf.suite = "python";
    sf.runner = "pytest";
    sf.purpose = "detect";
    sf.exit_code = 1;
    sf.output.data = "==== 3 failed, 120 passed in 4.2s ====";
    const auto sweep = add(sf, 0, 4000);
    const std::uint32_t failures = 3 + pick(4);
    std::vector<std::pair<std::string, std::string>> tests;
    for (std::uint32_t i = 0; i < failures; ++i) {
      events::FailureDetected d;
      d.runner = "pytest";
      d.suite = "python";
      d.test_id = "tests/test_shop.py::test_case_" + std::to_string(pick(1000));
      d.file = "tests/test_shop.py";
      d.line = 10 + pick(300);
      d.error_type = "AssertionError";
      d.message = "assert 41 == 42";
      d.phase = "call";
      const auto ds = add(d, sweep, 1);
      events::FailureClassified c;
      c.test_id = d.test_id;
      c.category = cats[pick(6)];
      c.confidence = 0.8;
      add(c, ds, 1);
      tests.emplace_back(d.test_id, c.category);
    }
    for (const auto& [test, cat] : tests) {
      if (out_.size() + 12 >= n) break;
      if (pick(10) == 0) {
        events::FlakeDetected fl;
        fl.test_id = test;
        fl.reruns = 1;
        fl.passes = 1;
        add(fl, 0, 2000);
        events::FailureResolved r;
        r.test_id = test;
        r.outcome = "flaky";
        add(r);
        continue;
      }
      const std::uint32_t attempts = 1 + pick(3);
      bool fixed = false;
      for (std::uint32_t a = 1; a <= attempts && out_.size() + 8 < n; ++a) {
        events::AttemptStarted as;
        as.test_id = test;
        as.attempt = a;
        as.category = cat;
        as.agent = "agent";
        add(as);
        events::AttemptFinished af;
        af.test_id = test;
        af.attempt = a;
        af.category = cat;
        af.duration_ms = 20000 + pick(40000);
        af.files_touched = {"M shop/cart.py"};
        add(af, 0, af.duration_ms);
        if (pick(8) == 0) {
          events::PolicyViolation pv;
          pv.test_id = test;
          pv.attempt = a;
          pv.rule = rules[pick(4)];
          add(pv);
        }
        fixed = a == attempts && pick(4) != 0;
        if (!fixed) {
          events::Reverted rv;
          rv.test_id = test;
          rv.attempt = a;
          rv.reason = a == attempts ? (pick(3) == 0 ? "regression" : "gave_up") : "test_failed";
          add(rv);
        }
      }
      events::FailureResolved r;
      r.test_id = test;
      r.outcome = fixed ? "fixed" : "unfixable";
      r.attempts = attempts;
      r.reason = fixed ? "" : "used all attempts";
      add(r, 0, 3000);
    }
    pad_to(n);
  }

  void heal(std::size_t index, std::size_t n) {
    start("heal");
    events::SentryIssueIngested in;
    in.issue_id = "issue-" + std::to_string(index);
    in.via = "webhook";
    in.title = "TypeError: cannot read 'price' of undefined";
    add(in);
    events::PrOpened pr;
    pr.provider = "github";
    pr.number = index;
    pr.issue_id = in.issue_id;
    pr.branch = "fix/sentry-" + in.issue_id;
    add(pr, 0, 120000 + pick(600000));
    if (index >= 10) {  // the previous heal run's PR is resolved and checked now
      events::PrResolved res;
      res.number = index - 10;
      res.state = pick(5) == 0 ? "closed" : "merged";
      res.human_commits = pick(3) == 0 ? 1 : 0;
      add(res);
      events::ErrorRecurrenceChecked chk;
      chk.pr_number = index - 10;
      chk.stopped = pick(4) != 0;
      add(chk);
    }
    pad_to(n);
  }

  void build(std::size_t n) {
    start("build");
    std::int64_t serial = 0;
    for (const char* s : {"contracts", "backend", "frontend", "tests"}) {
      events::StreamFinished sf;
      sf.stream = s;
      sf.outcome = "ok";
      sf.duration_ms = 60000 + pick(120000);
      serial += sf.duration_ms;
      add(sf);
    }
    if (pick(3) == 0) {
      events::MergeConflict mc;
      mc.stream = "frontend";
      mc.file = "src/api.ts";
      mc.resolution = "contract_wins";
      add(mc);
    }
    events::WorktreesMerged wm;
    wm.streams = {"contracts", "backend", "frontend", "tests"};
    wm.serial_ms = serial;
    wm.wall_ms = serial / 3 + pick(10000);
    wm.integration_passed = pick(5) != 0;
    add(wm);
    pad_to(n);
  }

  std::uint64_t seq_;
  std::mt19937_64& rng_;
  std::string run_;
  std::int64_t ts_ = 0;
  std::vector<events::Event> out_;
};

// Runs argv with stdout to `out_file`; returns the wall time in ms.
double time_process(std::vector<std::string> args, const fs::path& out_file) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) die("cannot run " + args[0]);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double ms = ms_since(t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die(args[0] + " " + args.back() + " failed (status " + std::to_string(status) + ")");
  return ms;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"bench_stats: hostctl stats over a large history"};
  app.add_option("--runs", args.runs, "runs in the history")->capture_default_str();
  app.add_option("--events-per-run", args.events_per_run, "events per run")->capture_default_str();
  app.add_option("--dir", args.dir, "where the store goes (default: a temporary directory)");
  app.add_flag("--keep", args.keep, "keep the store");
  app.add_option("--hostctl", args.hostctl, "the hostctl to time")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (args.events_per_run < 30) die("--events-per-run must be at least 30");
  const bool own_dir = args.dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "fixhost-bench-stats-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) die("cannot create a temporary directory");
    args.dir = tmpl;
  }
  const fs::path store_dir = args.dir / "store";
  fs::remove_all(store_dir);

  // 1. the store
  {
    store::StoreOptions so;
    so.holder = "bench_stats";
    so.projections.push_back(host::stats_projection());
    auto log = store::EventLog::open(store_dir, so);
    if (!log) die(log.status().to_string());
    std::mt19937_64 rng(20261125);
    RunMaker maker(1, rng);
    const std::int64_t first_start = events::now_us() - std::int64_t{60} * 86400 * 1000000;
    const std::int64_t spacing = std::int64_t{60} * 86400 * 1000000 / static_cast<std::int64_t>(args.runs);
    std::vector<events::Event> batch;
    const auto t0 = Clock::now();
    for (std::size_t r = 0; r < args.runs; ++r) {
      auto evs = maker.make(r, args.events_per_run, first_start + static_cast<std::int64_t>(r) * spacing);
      for (auto& e : evs) batch.push_back(std::move(e));
      if (batch.size() >= 1000 || r + 1 == args.runs) {
        auto s = (*log)->append_batch(batch);
        if (!s) die(s.status().to_string());
        batch.clear();
      }
    }
    const double build_ms = ms_since(t0);
    std::printf("events: %llu\nruns: %zu\nbuild_store_s: %.1f\n", static_cast<unsigned long long>((*log)->last_seq()),
                args.runs, build_ms / 1000);
  }

  // 2. the projection, through hostctl
  const fs::path proj_out = args.dir / "projection.json", scan_out = args.dir / "scan.json";
  std::vector<double> proj_ms, scan_ms;
  for (int i = 0; i < 5; ++i) {
    proj_ms.push_back(time_process({args.hostctl, "--store", store_dir.string(), "stats", "--json"}, proj_out));
    std::printf("stats_run_%d_ms: %.1f\n", i + 1, proj_ms.back());
  }
  // 3. the full scan, through hostctl
  for (int i = 0; i < 3; ++i) {
    scan_ms.push_back(
        time_process({args.hostctl, "--store", store_dir.string(), "stats", "--json", "--rebuild"}, scan_out));
    std::printf("scan_run_%d_ms: %.1f\n", i + 1, scan_ms.back());
  }
  auto proj = read_json(proj_out), scan = read_json(scan_out);
  proj.erase("source");
  scan.erase("source");
  if (proj != scan) die("the projection and the full scan disagree; compare " + proj_out.string() + " and " + scan_out.string());
  std::printf("figures (projection and scan agree):\n%s\n", proj.dump(2).c_str());
  const double p = median(proj_ms), s = median(scan_ms);
  std::printf("scan_ms: %.1f\n", s);
  std::printf("stats_ms: %.1f\n", p);
  std::printf("stats_speedup: %.1f\n", s / p);
  if (own_dir && !args.keep) fs::remove_all(args.dir);
  else std::printf("# store kept in %s\n", args.dir.c_str());
  return 0;
}
