// WarmRun (issue 8, item 5): the flaky check's re-run is started beside the suite's main run,
// so pytest is loaded by the time the failures are known. Real python3 and pytest: the warm
// process must run exactly what the command would have run, only earlier loaded.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixhost/host/world/suite_runner.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost;
using namespace fixhost::host;
using fixhost::test::TempDir;
using fixhost::test::read_file;
using fixhost::test::write_file;
namespace fs = std::filesystem;

namespace {

// A project whose test records, in $MARKS, how long its process had been alive when the test
// ran (from /proc/self/stat) and whether the repository root was on sys.path; root_mod.py sits
// at the root with no pythonpath setting, so only `python -m pytest` (cwd on sys.path) imports it.
void project(const fs::path& root) {
  write_file(root / "root_mod.py", "VALUE = 7\n");
  write_file(root / "tests/test_t.py",
             "import os, sys, time\n\n\n"
             "def _age():\n"
             "    ticks = int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19])\n"
             "    up = float(open('/proc/uptime').read().split()[0])\n"
             "    return up - ticks / os.sysconf('SC_CLK_TCK')\n\n\n"
             "def test_pass():\n"
             "    with open(os.environ['MARKS'], 'a') as f:\n"
             "        f.write('%.2f %s\\n' % (_age(), os.getcwd() in sys.path))\n\n\n"
             "def test_fail():\n    assert 1 == 2\n\n\n"
             "def test_root_import():\n    import root_mod\n    assert root_mod.VALUE == 7\n\n\n"
             "def test_slow():\n    time.sleep(float(os.environ.get('SLOW', '0')))\n");
}

SuiteConfig pytest_suite(std::vector<std::string> command) {
  SuiteConfig s;
  s.name = "py";
  s.runner = "pytest";
  s.command = std::move(command);
  return s;
}

SuiteRequest request(const fs::path& root, const fs::path& marks, std::vector<std::string> ids) {
  SuiteRequest r;
  r.purpose = "flaky_check";
  r.root = root;
  r.test_ids = std::move(ids);
  r.env = {{"MARKS", marks.string()}};
  return r;
}

// The first mark's process age, seconds.
double age_of_first(const fs::path& marks) {
  std::istringstream in(read_file(marks));
  double age = -1;
  in >> age;
  return age;
}

}  // namespace

TEST_CASE("a warm pytest run: loaded before, runs the same tests with the same result as a cold one") {
  TempDir dir("fixhost-warm");
  const fs::path root = dir.subdir("repo"), marks = dir / "marks";
  project(root);
  for (auto command : {std::vector<std::string>{"/usr/bin/python3", "-m", "pytest", "tests"},
                       std::vector<std::string>{"/usr/bin/pytest", "tests"}}) {
    CAPTURE(command[0]);
    const auto suite = pytest_suite(command);
    const std::vector<std::string> ids{"tests/test_t.py::test_pass", "tests/test_t.py::test_fail",
                                       "tests/test_t.py::test_root_import"};
    fs::remove(marks);
    auto seconds_since = [](auto t0) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    auto t0 = std::chrono::steady_clock::now();
    auto cold = run_suite(suite, request(root, marks, ids), nullptr);
    const double cold_call = seconds_since(t0);
    const double cold_age = age_of_first(marks);

    fs::remove(marks);
    auto req = request(root, marks, ids);
    auto warm = WarmRun::start(suite, req);
    REQUIRE(warm != nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    req.warm = warm.get();
    const auto used = WarmRun::used_count();
    t0 = std::chrono::steady_clock::now();
    auto hot = run_suite(suite, req, nullptr);
    const double hot_call = seconds_since(t0);
    CHECK(WarmRun::used_count() == used + 1);
    // Its process was alive (and had loaded pytest) before the tests were handed to it; a cold
    // one is started by the call.
    CHECK(age_of_first(marks) >= 1.45);
    CHECK(cold_age <= cold_call + 0.02);
    // The same outcome, test by test: exit code, and which of the three passed. test_root_import
    // passes under `python -m pytest` (the directory is on sys.path) and fails under the script.
    CHECK(hot.exit_code == cold.exit_code);
    CHECK(hot.exit_code == 1);
    CHECK(hot.report_format == "junit_xml");
    for (const char* name : {"test_pass", "test_fail", "test_root_import"}) {
      CAPTURE(name);
      auto failed = [&](const std::string& xml) {
        auto at = xml.find("name=\"" + std::string(name) + "\"");
        REQUIRE(at != std::string::npos);
        auto end = xml.find("</testcase>", at);
        auto close = xml.find("/>", at);
        return end != std::string::npos && (close == std::string::npos || end < close) &&
               xml.substr(at, end - at).find("<failure") != std::string::npos;
      };
      CHECK(failed(hot.report.data) == failed(cold.report.data));
    }
    CHECK(hot.output.data.find("tests/test_t.py") != std::string::npos);
    // The time recorded is the run's own, not the time it waited.
    CHECK(hot.duration_ms <= static_cast<std::int64_t>(hot_call * 1000) + 1);
  }
}

TEST_CASE("a warm run is not used for another command, and an unused one ends without running anything") {
  TempDir dir("fixhost-warm");
  const fs::path root = dir.subdir("repo"), marks = dir / "marks";
  project(root);
  // Commands fixhost cannot see the interpreter of: no warm process.
  CHECK(WarmRun::start(pytest_suite({"/bin/sh", "run-tests.sh"}), request(root, marks, {})) == nullptr);
  auto jest = pytest_suite({"npx", "jest"});
  jest.runner = "jest";
  CHECK(WarmRun::start(jest, request(root, marks, {})) == nullptr);

  const auto suite = pytest_suite({"/usr/bin/python3", "-m", "pytest", "tests"});
  {
    auto req = request(root, marks, {"tests/test_t.py::test_pass"});
    auto warm = WarmRun::start(suite, req);
    REQUIRE(warm != nullptr);
    // Another directory or environment than the one it was started for: not used.
    auto other = req;
    other.env["EXTRA"] = "1";
    CHECK_FALSE(warm->run(suite_argv(suite, other, "/tmp/r.xml"), other, nullptr).has_value());
    // A `rerun` template that does not start as the command: not used either.
    auto templated = suite;
    templated.rerun = {"/usr/bin/python3", "-X", "dev", "-m", "pytest", "{tests}"};
    CHECK_FALSE(warm->run(suite_argv(templated, req, "/tmp/r.xml"), req, nullptr).has_value());
  }  // destroyed unused: it reads EOF and ends
  CHECK_FALSE(fs::exists(marks));
}

TEST_CASE("a warm run's timeout starts when its work is given") {
  TempDir dir("fixhost-warm");
  const fs::path root = dir.subdir("repo"), marks = dir / "marks";
  project(root);
  auto suite = pytest_suite({"/usr/bin/python3", "-m", "pytest", "tests"});
  suite.timeout = std::chrono::seconds(4);
  {
    auto req = request(root, marks, {"tests/test_t.py::test_pass"});
    auto warm = WarmRun::start(suite, req);
    REQUIRE(warm != nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(5000));  // longer than the timeout
    req.warm = warm.get();
    const auto used = WarmRun::used_count();
    auto f = run_suite(suite, req, nullptr);
    CHECK(WarmRun::used_count() == used + 1);  // still waiting, not timed out while it did
    CHECK_FALSE(f.timed_out);
    CHECK(f.exit_code == 0);
  }
  {
    auto req = request(root, marks, {"tests/test_t.py::test_slow"});
    req.env["SLOW"] = "30";
    auto warm = WarmRun::start(suite, req);
    REQUIRE(warm != nullptr);
    req.warm = warm.get();
    auto t0 = std::chrono::steady_clock::now();
    auto f = run_suite(suite, req, nullptr);
    CHECK(f.timed_out);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(25));
  }
}

TEST_CASE("a warm run is not handed arguments JSON cannot carry (not UTF-8): the caller runs them cold") {
  TempDir dir("fixhost-warm");
  const fs::path root = dir.subdir("repo"), marks = dir / "marks";
  project(root);
  const auto suite = pytest_suite({"/usr/bin/python3", "-m", "pytest", "tests"});
  auto req = request(root, marks, {"tests/test_t.py::test_\xff"});
  auto warm = WarmRun::start(suite, req);
  REQUIRE(warm != nullptr);
  CHECK_FALSE(warm->run(suite_argv(suite, req, "/tmp/r.xml"), req, nullptr).has_value());
}
