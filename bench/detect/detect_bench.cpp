// bench_detect: what the flaky check costs on a suite with many failures (issue 8, item 5).
//   1. writes a pytest project of --tests tests with --failures deterministic failures, of
//      which --slow-files files of 40 tests do a few milliseconds of real work per test
//      (bench/detect/make_fixture.py), and a fixhost.toml with only the suite (the defaults:
//      flaky_reruns = 1);
//   2. times a bare run of the suite (`python3 -m pytest tests`), --runs times, median;
//   3. times `hostctl detect` (suite run, parse, classify, order, flaky check), median, and for
//      reference `hostctl detect --no-flaky-check` and detect with flaky_reruns = 2.
// Prints the figures, then last `detect_over_bare: X` (target <= 1.5).
// Usage: bench_detect [--tests N] [--failures N] [--slow-files N] [--runs N] [--dir DIR] [--keep]
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
  int tests = 600, failures = 70, slow_files = 6, runs = 3;
  fs::path dir;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--tests") tests = std::stoi(next());
    else if (a == "--failures") failures = std::stoi(next());
    else if (a == "--slow-files") slow_files = std::stoi(next());
    else if (a == "--runs") runs = std::max(1, std::stoi(next()));
    else if (a == "--dir") dir = next();
    else if (a == "--keep") keep = true;
    else die("unknown argument '" + a + "'; usage: bench_detect [--tests N] [--failures N] [--slow-files N] [--runs N] "
             "[--dir DIR] [--keep]");
  }
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

  std::vector<double> bare, detect, no_flaky, twice;
  const std::vector<std::string> det{FIXHOST_HOSTCTL, "-q", "detect", "--repo", dir.string()};
  for (int i = 0; i < runs; ++i) {
    bare.push_back(timed({python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"}, dir, {1}));
    config("");
    fs::remove_all(dir / ".fixhost");
    detect.push_back(timed(det, dir, {1}));
    fs::remove_all(dir / ".fixhost");
    no_flaky.push_back(timed({FIXHOST_HOSTCTL, "-q", "detect", "--no-flaky-check", "--repo", dir.string()}, dir, {1}));
    config("flaky_reruns = 2\n");
    fs::remove_all(dir / ".fixhost");
    twice.push_back(timed(det, dir, {1}));
  }
  const double b = median(bare), d = median(detect), n = median(no_flaky), t = median(twice);
  std::printf("bare pytest run:                       %.3f s (median of %d)\n", b, runs);
  std::printf("hostctl detect, no flaky check:        %.3f s (%.3f x bare)\n", n, n / b);
  std::printf("hostctl detect, flaky_reruns = 2:      %.3f s (%.3f x bare)\n", t, t / b);
  std::printf("hostctl detect, defaults (1 re-run):   %.3f s: one batched re-run of the %d failures, %.3f s\n", d,
              failures, d - n);
  if (!keep) fs::remove_all(dir);
  std::printf("detect_over_bare: %.3f\n", d / b);
  return 0;
}
