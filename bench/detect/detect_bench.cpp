// bench_detect: what the flaky check costs on a suite with many failures (issue 8, item 5).
//   1. writes a pytest project of --tests tests with --failures deterministic failures, of
//      which --slow-files files of 40 tests do a few milliseconds of real work per test
//      (bench/detect/make_fixture.py), and a fixhost.toml with only the suite (the defaults:
//      flaky_reruns = 1);
//   2. times a bare run of the suite (`python3 -m pytest tests`), --runs times, median;
//   3. times `hostctl detect` (suite run, parse, classify, order, flaky check), median, and for
//      reference `hostctl detect --no-flaky-check` and detect with flaky_reruns = 2.
// Prints the figures, then last `detect_over_bare: X` (target <= 1.5): the median over the runs of
// detect's time over the mean of the bare runs just before and after it.
// Usage: bench_detect [--tests N] [--failures N] [--slow-files N] [--runs N] [--dir DIR] [--keep]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fixhost/host/world/process.hpp"

using namespace fixhost;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::cerr << "bench_detect: " << why << "\n";
  std::exit(2);
}

// Runs argv in cwd; returns seconds. `ok` lists the exit codes that are not an error.
double timed(const std::vector<std::string>& argv, const fs::path& cwd, std::vector<int> ok) {
  host::ProcessSpec s;
  s.argv = argv;
  s.cwd = cwd.string();
  s.env = {{"PYTHONDONTWRITEBYTECODE", "1"}};
  s.timeout = std::chrono::minutes(10);
  auto t0 = std::chrono::steady_clock::now();
  auto r = host::run_process(s);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r) die(r.status().to_string());
  if (std::find(ok.begin(), ok.end(), r->exit_code) == ok.end())
    die(argv[0] + " exited " + std::to_string(r->exit_code) + ":\n" + r->output.data.substr(0, 2000));
  return secs;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int tests = 600, failures = 70, slow_files = 6, runs = 5;
  fs::path dir;
  bool keep = false;
  CLI::App app{"bench_detect: what the flaky check costs on a suite with many failures"};
  app.add_option("--tests", tests, "tests in the fixture")->capture_default_str();
  app.add_option("--failures", failures, "deterministic failures among them")->capture_default_str();
  app.add_option("--slow-files", slow_files, "files of 40 tests doing real work per test")->capture_default_str();
  app.add_option("--runs", runs, "runs of each timing (median)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "where the fixture goes (default: a temporary directory)");
  app.add_flag("--keep", keep, "keep the fixture");
  CLI11_PARSE(app, argc, argv);
  if (dir.empty()) dir = fs::temp_directory_path() / ("fixhost-bench-detect-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string python = "/usr/bin/python3";
  timed({python, FIXHOST_SOURCE_DIR "/bench/detect/make_fixture.py", dir.string(), "--tests", std::to_string(tests),
         "--failures", std::to_string(failures), "--slow-files", std::to_string(slow_files)},
        fs::current_path(), {0});
  const std::string suite = "[[suites]]\nname = \"py\"\nrunner = \"pytest\"\n"
                            "command = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n";
  auto config = [&](const std::string& extra) { std::ofstream(dir / "fixhost.toml") << extra << suite; };
  std::printf("fixture: %d tests, %d failing, %d files of slower tests, in %s\n", tests, failures, slow_files,
              dir.c_str());

  // Each iteration times detect between two bare runs and takes its ratio to their mean, so
  // that load on a shared machine drifting between runs moves both sides of a ratio alike; the
  // figure is the median of the iterations' ratios.
  std::vector<double> bare, detect, no_flaky, twice, ratio;
  const std::vector<std::string> det{FIXHOST_HOSTCTL, "-q", "detect", "--repo", dir.string()};
  auto bare_run = [&] { return timed({python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"}, dir, {1}); };
  for (int i = 0; i < runs; ++i) {
    const double before = bare_run();
    config("");
    fs::remove_all(dir / ".fixhost");
    detect.push_back(timed(det, dir, {1}));
    const double after = bare_run();
    bare.push_back(before);
    bare.push_back(after);
    ratio.push_back(detect.back() / ((before + after) / 2));
    fs::remove_all(dir / ".fixhost");
    no_flaky.push_back(timed({FIXHOST_HOSTCTL, "-q", "detect", "--no-flaky-check", "--repo", dir.string()}, dir, {1}));
    config("flaky_reruns = 2\n");
    fs::remove_all(dir / ".fixhost");
    twice.push_back(timed(det, dir, {1}));
  }
  const double b = median(bare), d = median(detect), n = median(no_flaky), t = median(twice), r = median(ratio);
  std::printf("bare pytest run:                       %.3f s (median of %d)\n", b, 2 * runs);
  std::printf("hostctl detect, no flaky check:        %.3f s (%.3f x bare)\n", n, n / b);
  std::printf("hostctl detect, flaky_reruns = 2:      %.3f s (%.3f x bare)\n", t, t / b);
  std::printf("hostctl detect, defaults (1 re-run):   %.3f s: one batched re-run of the %d failures, %.3f s\n", d,
              failures, d - n);
  std::printf("per-run ratios detect/bare:           ");
  for (double x : ratio) std::printf(" %.3f", x);
  std::printf("\n");
  if (!keep) fs::remove_all(dir);
  std::printf("detect_over_bare: %.3f\n", r);
  return 0;
}
