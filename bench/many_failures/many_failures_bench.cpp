// bench_many_failures: does detect cost stay linear in the number of failures?
//   For each size N (1,000 and 10,000 by default): a fresh repository with N failing tests in
//   tests/test_many_<k>.py (50 per file) and a fixhost.toml with one pytest suite and
//   flaky_reruns = 0; the real `hostctl detect` (real suite runner, parsers, classifier, orderer,
//   store and stats projection) runs on it into a fresh store, timed, while a thread samples the
//   size of the store's write-ahead logs every 20 ms (the peak is reported); then the runner
//   alone, timed, so that what fixhost adds is visible. The runner is by default a script that
//   prints pytest's output and writes its JUnit XML for those tests without running them
//   (k_fake_pytest: pytest's own time is far from linear in the failures); `--runner pytest`
//   runs the real pytest instead.
// Prints the figures per size, then last `failures_scaling: X` = detect time for the largest
// size over the time for the smallest (linear would be 10 for 1k -> 10k; the target is <= 12).
// Usage: bench_many_failures [--sizes 1000,10000] [--runner fake|pytest] [--python PATH]
//                            [--dir DIR] [--keep] [--hostctl PATH]
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixhost/store/event_log.hpp"

extern char** environ;

using namespace fixhost;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::vector<std::size_t> sizes = {1000, 10000};
  std::string runner = "fake";  // fake | pytest
  std::string python = "/usr/bin/python3";
  fs::path dir;
  bool keep = false;
  std::string hostctl = FIXHOST_HOSTCTL;
};

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_many_failures: " << what << "\n";
  std::exit(1);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
  if (!out) die("cannot write " + p.string());
}

// Runs argv in `cwd` with stdout and stderr to files; returns {exit code, wall seconds}.
std::pair<int, double> run(std::vector<std::string> args, const fs::path& cwd, const fs::path& out_base) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string out = out_base.string() + ".out", err = out_base.string() + ".err";
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) die("cannot start " + args[0]);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), seconds_since(t0)};
}

std::uintmax_t size_of(const fs::path& dir, const std::string& ext) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (ext.empty() || e.path().extension() == ext) total += e.is_regular_file(ec) ? e.file_size(ec) : 0;
  return total;
}

constexpr std::size_t k_tests_per_file = 50;

// The fake runner: prints what pytest 7.2 prints for these tests (-rfE, no colour) and writes
// the JUnit XML it writes, byte for byte in its format, without running them. pytest's own time
// grows faster than linearly with the failures of one session (8 s for 1,000 here, 440 s for
// 10,000), which would hide what fixhost costs; `--runner pytest` measures with the real one.
const char* k_fake_pytest = R"PY(import os, sys
n, per_file = int(sys.argv[1]), int(sys.argv[2])
xml = next((a.split("=", 1)[1] for a in sys.argv[3:] if a.startswith("--junitxml=")), None)
out = sys.stdout
def bar(text, fill):
    text = " " + text + " " if text else ""
    left = (80 - len(text)) // 2
    return fill * left + text + fill * (80 - len(text) - left)
files = (n + per_file - 1) // per_file
def cases():
    for i in range(n):
        k, j = divmod(i, per_file)
        yield i, "tests/test_many_%d.py" % k, 6 + 5 * j, k
out.write(bar("test session starts", "=") + "\n")
out.write("platform linux -- Python 3.11.2, pytest-7.2.1, pluggy-1.0.0+repack\nrootdir: %s\n" % os.getcwd())
out.write("collected %d items\n\n" % n)
done = 0
for k in range(files):
    count = min(per_file, n - k * per_file)
    done += count
    name = "tests/test_many_%d.py " % k
    line = name + "F" * count
    out.write(line + " " * max(1, 79 - len(line) - 6) + "[%3d%%]\n" % (done * 100 // n))
out.write("\n" + bar("FAILURES", "=") + "\n")
for i, path, line, k in cases():
    out.write(bar("test_case_%d" % i, "_") + "\n\n")
    out.write("    def test_case_%d():\n        value = %d\n>       assert value == -1, 'case %d is wrong'\n" % (i, i, i))
    out.write("E       AssertionError: case %d is wrong\nE       assert %d == -1\n\n%s:%d: AssertionError\n" % (i, i, path, line))
if xml:
    out.write(bar("generated xml file: " + xml, "-") + "\n")
out.write(bar("short test summary info", "=") + "\n")
for i, path, line, k in cases():
    out.write("FAILED %s::test_case_%d - AssertionError: case %d is wrong\n" % (path, i, i))
out.write(bar("%d failed in 1.00s" % n, "=") + "\n")
if xml:
    with open(xml, "w") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="%d" '
                'skipped="0" tests="%d" time="1.000" timestamp="2026-12-02T00:00:00.000000" hostname="bench">' % (n, n))
        for i, path, line, k in cases():
            f.write('<testcase classname="tests.test_many_%d" name="test_case_%d" time="0.001"><failure message='
                    '"AssertionError: case %d is wrong&#10;assert %d == -1">def test_case_%d():\n        value = %d\n'
                    "&gt;       assert value == -1, 'case %d is wrong'\nE       AssertionError: case %d is wrong\n"
                    "E       assert %d == -1\n\n%s:%d: AssertionError</failure></testcase>"
                    % (k, i, i, i, i, i, i, i, i, path, line))
        f.write("</testsuite></testsuites>")
sys.exit(1)
)PY";

struct Figures {
  std::size_t failures = 0;
  double detect_s = 0, pytest_s = 0;
  std::uint64_t events = 0;
  double wal_peak_mb = 0, store_mb = 0;
};

Figures measure(const Args& a, const fs::path& root, std::size_t n) {
  Figures f;
  f.failures = n;
  const fs::path repo = root / ("repo-" + std::to_string(n));
  fs::create_directories(repo / "tests");
  // 50 tests per file: pytest parses a test's whole module for each failure it reports, so one
  // file of 10,000 tests would measure pytest's own quadratic cost, not fixhost's.
  for (std::size_t file = 0; file * k_tests_per_file < n; ++file) {
    std::string tests = "# generated failing tests\n";
    for (std::size_t i = file * k_tests_per_file; i < std::min(n, (file + 1) * k_tests_per_file); ++i)
      tests += "\n\ndef test_case_" + std::to_string(i) + "():\n    value = " + std::to_string(i) +
               "\n    assert value == -1, 'case " + std::to_string(i) + " is wrong'\n";
    write_file(repo / "tests" / ("test_many_" + std::to_string(file) + ".py"), tests);
  }
  std::vector<std::string> command;
  if (a.runner == "fake") {
    write_file(repo / "fake_pytest.py", k_fake_pytest);
    command = {a.python, (repo / "fake_pytest.py").string(), std::to_string(n), std::to_string(k_tests_per_file)};
  } else {
    command = {a.python, "-m", "pytest", "-p", "no:cacheprovider", "tests"};
  }
  std::string argv_toml;
  for (const auto& c : command) argv_toml += (argv_toml.empty() ? "\"" : ", \"") + c + "\"";
  write_file(repo / "fixhost.toml", "flaky_reruns = 0\n"
                                    "[[suites]]\n"
                                    "name = \"python\"\n"
                                    "runner = \"pytest\"\n"
                                    "command = [" + argv_toml + "]\n"
                                    "timeout = \"30m\"\n");
  const fs::path store = repo / ".fixhost";

  std::atomic<bool> done{false};
  std::uintmax_t wal_peak = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      wal_peak = std::max(wal_peak, size_of(store, ".log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto [code, secs] = run({a.hostctl, "detect", "--repo", repo.string(), "--store", store.string()}, repo, root / ("detect-" + std::to_string(n)));
  done = true;
  sampler.join();
  if (code != 1) die("hostctl detect on " + std::to_string(n) + " failures exited " + std::to_string(code) + " (expected 1); see " + (root / ("detect-" + std::to_string(n) + ".err")).string());
  f.detect_s = secs;
  f.wal_peak_mb = static_cast<double>(wal_peak) / 1e6;
  f.store_mb = static_cast<double>(size_of(store, "")) / 1e6;
  {
    store::StoreOptions so;
    so.writable = false;
    auto log = store::EventLog::open(store, so);
    if (!log) die(log.status().to_string());
    f.events = (*log)->last_seq();
  }
  // The runner alone, with the arguments the suite runner adds for pytest.
  command.push_back("--junitxml=" + (root / ("alone-" + std::to_string(n) + ".xml")).string());
  command.insert(command.end(), {"-rfE", "--color=no"});
  auto [pcode, psecs] = run(command, repo, root / ("alone-" + std::to_string(n)));
  if (pcode != 1) die("the runner alone on " + std::to_string(n) + " failures exited " + std::to_string(pcode));
  f.pytest_s = psecs;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"bench_many_failures: what one failure costs as a run has more of them"};
  app.add_option("--sizes", a.sizes, "failure counts, comma-separated")->delimiter(',')->capture_default_str();
  app.add_option("--runner", a.runner, "fake (a stand-in writing junit) or pytest")
      ->check(CLI::IsMember({"fake", "pytest"}))->capture_default_str();
  app.add_option("--python", a.python, "the python with pytest")->capture_default_str();
  app.add_option("--dir", a.dir, "where the fixtures go (default: a temporary directory)");
  app.add_flag("--keep", a.keep, "keep them");
  app.add_option("--hostctl", a.hostctl, "the hostctl to time")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  fs::path root = a.dir;
  if (root.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "fixhost-bench-many-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) die("cannot create a temporary directory");
    root = tmpl;
  }
  fs::create_directories(root);
  std::vector<Figures> all;
  for (std::size_t n : a.sizes) {
    const Figures f = measure(a, root, n);
    all.push_back(f);
    std::printf("failures_%zu_detect_seconds: %.2f\n", n, f.detect_s);
    std::printf("failures_%zu_runner_alone_seconds: %.2f\n", n, f.pytest_s);
    std::printf("failures_%zu_events: %llu\n", n, static_cast<unsigned long long>(f.events));
    std::printf("failures_%zu_wal_peak_mb: %.1f\n", n, f.wal_peak_mb);
    std::printf("failures_%zu_store_mb: %.1f\n", n, f.store_mb);
    std::fflush(stdout);
  }
  if (!a.keep && a.dir.empty()) fs::remove_all(root);
  else std::printf("kept: %s\n", root.string().c_str());
  std::printf("runner: %s\n", a.runner.c_str());
  std::printf("failures_scaling: %.2f\n", all.back().detect_s / all.front().detect_s);
  return 0;
}
