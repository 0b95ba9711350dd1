// Issue 8 on detect: what real repositories have (a file that fails to import, many failures
// to re-check, duplicate test names) with real pytest and jest in real git repositories.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
namespace fs = std::filesystem;

namespace {

const std::string k_pytest_suite =
    "[[suites]]\nname = \"py\"\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n";

// A library whose tests/test_broken.py fails to import; the other files have failures of their own.
std::map<std::string, std::string> library(const std::string& toml) {
  return {{"pytest.ini", "[pytest]\npythonpath = .\n"},
          {".gitignore", "__pycache__/\n"},
          {"fixhost.toml", toml},
          {"pkg/__init__.py", ""},
          {"pkg/m.py", "def one():\n    return 1\n\n\ndef two():\n    return 3\n"},
          {"tests/test_broken.py", "from pkg.m import three\n\n\ndef test_three():\n    assert three() == 3\n"},
          {"tests/test_a.py",
           "from pkg.m import one, two\n\n\ndef test_one():\n    assert one() == 1\n\n\n"
           "def test_two():\n    assert two() == 2\n\n\ndef test_two_again():\n    assert two() + 1 == 3\n\n\n"
           "def test_sum():\n    assert one() + two() == 3\n"},
          {"tests/test_b.py",
           "import os, pathlib\nfrom pkg.m import two\n\n\ndef test_b():\n    assert two() == 2\n\n\n"
           "def test_flaky():\n    p = pathlib.Path(os.environ['FLAKY_COUNTER'])\n    n = int(p.read_text()) if p.exists() else 0\n"
           "    p.write_text(str(n + 1))\n    assert n != 0\n\n\ndef test_ok():\n    assert True\n"}};
}

}  // namespace

TEST_CASE("issue 8: a file that fails to import does not hide the other files' failures") {
  TempDir counter("fixhost-flaky");
  GitRepo repo(library("flaky_reruns = 0\n" + k_pytest_suite));
  auto r = repo.hostctl({"detect", "--json"}, {{"FLAKY_COUNTER", (counter.path() / "n").string()}});
  INFO("stderr:\n" << r.err);
  CHECK(r.code == 1);
  auto arr = json_of(r);
  std::set<std::string> ids;
  for (const auto& f : arr) ids.insert(f["test_id"]);
  // pytest alone stops at the collection error ("Interrupted: 1 error during collection").
  CHECK(ids == std::set<std::string>{"tests/test_broken.py", "tests/test_a.py::test_two",
                                     "tests/test_a.py::test_two_again", "tests/test_a.py::test_sum",
                                     "tests/test_b.py::test_b", "tests/test_b.py::test_flaky"});
  for (const auto& f : arr)
    if (f["test_id"] == "tests/test_broken.py") {
      CHECK(f["phase"] == "collection");
      CHECK(f["category"] == "missing_dependency");  // ImportError: cannot import name 'three'
    }
  // Said loudly: which file did not import, and that its tests did not run.
  CHECK(r.err.find("WARNING") != std::string::npos);
  CHECK(r.err.find("tests/test_broken.py") != std::string::npos);
  CHECK(r.err.find("none of their tests ran") != std::string::npos);
}

TEST_CASE("issue 8: the flaky check re-runs a suite's failures together, and alone only what passed") {
  TempDir counter("fixhost-flaky");
  GitRepo repo(library("flaky_reruns = 2\n" + k_pytest_suite));
  auto r = repo.hostctl({"detect", "--json"}, {{"FLAKY_COUNTER", (counter.path() / "n").string()}});
  INFO("stderr:\n" << r.err);
  CHECK(r.code == 1);
  auto arr = json_of(r);
  std::map<std::string, bool> flaky;
  for (const auto& f : arr) flaky[f["test_id"]] = f["flaky"];
  CHECK(flaky.at("tests/test_b.py::test_flaky"));
  CHECK_FALSE(flaky.at("tests/test_a.py::test_two"));
  CHECK_FALSE(flaky.at("tests/test_b.py::test_b"));

  // Two batched re-runs of the 5 test failures (the collection error is not re-run), then one
  // alone for the test that passed there: 3 processes, where one per failure per re-run was 10.
  std::vector<nlohmann::json> checks;
  for (auto& s : repo.events("SuiteStarted"))
    if (s["purpose"] == "flaky_check") checks.push_back(s);
  REQUIRE(checks.size() == 3);
  CHECK(checks[0]["test_ids"].size() == 5);
  CHECK(checks[1]["test_ids"].size() == 4);  // the flaky one passed in the first batch
  CHECK(checks[2]["test_id"] == "tests/test_b.py::test_flaky");
  auto flakes = repo.events("FlakeDetected");
  REQUIRE(flakes.size() == 1);
  CHECK(flakes[0]["test_id"] == "tests/test_b.py::test_flaky");
}

TEST_CASE("issue 8: flaky_check_max caps the check and says what it skipped") {
  TempDir counter("fixhost-flaky");
  GitRepo repo(library("flaky_reruns = 1\nflaky_check_max = 2\n" + k_pytest_suite));
  auto r = repo.hostctl({"detect", "--json"}, {{"FLAKY_COUNTER", (counter.path() / "n").string()}});
  CHECK(r.code == 1);
  CHECK(r.err.find("skipped 3 failure(s) past flaky_check_max = 2") != std::string::npos);
}

TEST_CASE("issue 8: the store stays out of git without the user doing anything") {
  TempDir counter("fixhost-flaky");
  GitRepo repo(library("flaky_reruns = 0\n" + k_pytest_suite));
  auto r = repo.hostctl({"detect"}, {{"FLAKY_COUNTER", (counter.path() / "n").string()}});
  CHECK(r.code == 1);
  REQUIRE(fs::is_directory(repo.store()));
  CHECK(repo.git({"status", "--porcelain", "--untracked-files=all"}).empty());
  repo.git({"add", "-A"});
  CHECK(repo.git({"diff", "--cached", "--name-only"}).empty());
}

TEST_CASE("issue 8: two failing jest tests sharing a name in one file are two failures") {
  const fs::path jest = fs::path(FIXHOST_SOURCE_DIR) / "tests/fixtures/node_modules/jest/bin/jest.js";
  REQUIRE_MESSAGE(fs::exists(jest), "run scripts/setup.sh: tests/fixtures needs its jest");
  GitRepo repo({{"package.json", "{\"name\": \"dup\", \"private\": true, \"jest\": {\"testEnvironment\": \"node\"}}\n"},
                {"fixhost.toml", "flaky_reruns = 0\n[[suites]]\nname = \"js\"\nrunner = \"jest\"\ncommand = [\"node\", \"" +
                                     jest.string() + "\"]\n"},
                {"__tests__/dup.test.js",
                 "describe('cart', () => {\n  test('totals', () => { expect(1 + 1).toBe(3); });\n"
                 "  test('totals', () => { expect([].length).toBe(1); });\n"
                 "  test('other', () => { expect(true).toBe(true); });\n});\n"}});
  auto r = repo.hostctl({"detect", "--json"});
  INFO("stderr:\n" << r.err);
  CHECK(r.code == 1);
  auto arr = json_of(r);
  REQUIRE(arr.size() == 2);
  const std::string id = "__tests__/dup.test.js::cart \xE2\x80\xBA totals";
  std::set<std::string> ids{arr[0]["test_id"], arr[1]["test_id"]};
  CHECK(ids == std::set<std::string>{id + "::2", id + "::3"});  // told apart by their lines
}
