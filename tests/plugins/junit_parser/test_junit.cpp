// The junit runner (docs/RUNNERS.md): real vitest and mocha, recorded reports of the other
// families, each parse checked against the runner's own counts; re-runs of single tests.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "fixhost/host/config.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/host/world/suite_runner.hpp"
#include "fixhost/test/files.hpp"
#include "fixhost/test/repo.hpp"
#include "junit_parse.hpp"

using namespace fixhost;
namespace fs = std::filesystem;
using fixhost::test::read_file;
using fixhost::test::TempDir;
using fixhost::test::write_file;

namespace {

const fs::path k_fixtures = fs::path(FIXHOST_SOURCE_DIR) / "tests" / "fixtures";

struct Counts {
  std::uint32_t tests = 0, failures = 0, errors = 0, skipped = 0;
};

// What the report says about itself: the root's tests/failures/errors/skipped attributes, each
// summed over the top-level <testsuite>s when the root does not state it.
Counts runner_counts(const std::string& xml) {
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml.c_str()));
  pugi::xml_node root = doc.document_element();
  // PHPUnit wraps everything in one unnamed-ish testsuite inside <testsuites>.
  if (std::string_view(root.name()) == "testsuites" && !root.attribute("tests") &&
      std::distance(root.children("testsuite").begin(), root.children("testsuite").end()) == 1)
    root = root.child("testsuite");
  auto get = [&](const char* attr) {
    if (auto a = root.attribute(attr)) return a.as_uint();
    unsigned n = 0;
    for (auto s : root.children("testsuite")) n += s.attribute(attr).as_uint();
    return n;
  };
  return Counts{get("tests"), get("failures"), get("errors"), get("skipped")};
}

void check_counts(const runner_report::ParseOutcome& o, const Counts& c) {
  CHECK(o.summary.parsed_from == "report");
  CHECK(o.summary.tests == c.tests);
  CHECK(o.summary.failures == c.failures);
  CHECK(o.summary.errors == c.errors);
  CHECK(o.summary.skipped == c.skipped);
  CHECK(o.summary.passed == c.tests - c.failures - c.errors - c.skipped);
  CHECK(o.failures.size() == c.failures + c.errors);
}

const junit_parser::Families& fams() {
  static auto f = junit_parser::families("").value();
  return f;
}

std::vector<std::string> ids(const runner_report::ParseOutcome& o) {
  std::vector<std::string> out;
  for (const auto& f : o.failures) out.push_back(f.test_id);
  return out;
}

host::ProcessResult run(std::vector<std::string> argv, const fs::path& cwd) {
  host::ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.cwd = cwd.string();
  spec.timeout = std::chrono::seconds(120);
  spec.env["NO_COLOR"] = "1";
  spec.env["FORCE_COLOR"] = "0";
  auto r = host::run_process(spec);
  REQUIRE(r);
  REQUIRE_MESSAGE(r->spawn_error.empty(), r->spawn_error);
  return std::move(r.value());
}

fs::path need(const fs::path& p) {
  REQUIRE_MESSAGE(fs::exists(p), p.string() << " is missing: run scripts/setup.sh (npm ci in tests/fixtures/*)");
  return p;
}

host::SuiteConfig junit_suite(const std::string& family, std::vector<std::string> command, const std::string& report = "") {
  host::SuiteConfig s;
  s.name = family;
  s.runner = "junit";
  s.family = family;
  s.command = std::move(command);
  s.report = report;
  return s;
}

}  // namespace

TEST_CASE("vitest: the JUnit parse agrees with vitest's own JSON report (counts, failing tests, lines)") {
  const fs::path dir = k_fixtures / "vitest";
  const fs::path vitest = need(dir / "node_modules/.bin/vitest");
  TempDir out;
  auto r = run({vitest.string(), "run", "--reporter=junit", "--reporter=json", "--outputFile.junit=" + (out.path() / "j.xml").string(),
                "--outputFile.json=" + (out.path() / "r.json").string()},
               dir);
  CHECK(r.exit_code == 1);
  const std::string xml = read_file(out.path() / "j.xml");
  auto json = nlohmann::json::parse(read_file(out.path() / "r.json"));
  auto o = junit_parser::parse_junit_xml(xml, fams().at("vitest"), dir.string());
  check_counts(o, runner_counts(xml));
  CHECK(o.summary.tests == json["numTotalTests"].get<unsigned>());
  CHECK(o.summary.failures == json["numFailedTests"].get<unsigned>());
  CHECK(o.summary.passed == json["numPassedTests"].get<unsigned>());
  CHECK(o.summary.skipped == json["numPendingTests"].get<unsigned>() + json["numTodoTests"].get<unsigned>());
  // Every failing test of the JSON report, by file and full name.
  std::vector<std::string> expected;
  for (const auto& file : json["testResults"])
    for (const auto& a : file["assertionResults"])
      if (a["status"] == "failed") {
        std::string name;
        for (const auto& t : a["ancestorTitles"]) name += t.get<std::string>() + " > ";
        expected.push_back(fs::relative(file["name"].get<std::string>(), dir).string() + "::" + name + a["title"].get<std::string>());
      }
  CHECK(ids(o) == expected);
  REQUIRE(o.failures.size() == 2);
  CHECK(o.failures[0].test_id == "test/math.test.js::math > multiplies");
  CHECK(o.failures[0].file == "test/math.test.js");
  CHECK(o.failures[0].line == 10);
  CHECK(o.failures[0].error_type == "AssertionError");
  CHECK(o.failures[0].message.find("expected 5 to be 6") != std::string::npos);
  CHECK(o.failures[1].error_type == "SyntaxError");
  CHECK(o.failures[1].line == 18);
}

TEST_CASE("mocha (mocha-junit-reporter): the JUnit parse agrees with mocha's own JSON reporter") {
  const fs::path dir = k_fixtures / "mocha";
  const fs::path mocha = need(dir / "node_modules/.bin/mocha");
  TempDir out;
  auto r = run({mocha.string(), "--reporter", "mocha-junit-reporter", "--reporter-options",
                "mochaFile=" + (out.path() / "j.xml").string() + ",includePending=true"},
               dir);
  CHECK(r.exit_code == 2);
  auto js = run({mocha.string(), "--reporter", "json"}, dir);
  auto json = nlohmann::json::parse(js.output.data.substr(js.output.data.find('{')));
  const std::string xml = read_file(out.path() / "j.xml");
  auto o = junit_parser::parse_junit_xml(xml, fams().at("mocha"), dir.string());
  check_counts(o, runner_counts(xml));
  CHECK(o.summary.tests == json["stats"]["tests"].get<unsigned>());
  CHECK(o.summary.failures == json["stats"]["failures"].get<unsigned>());
  CHECK(o.summary.passed == json["stats"]["passes"].get<unsigned>());
  CHECK(o.summary.skipped == json["stats"]["pending"].get<unsigned>());
  std::vector<std::string> expected;
  for (const auto& f : json["failures"])
    expected.push_back(fs::relative(f["file"].get<std::string>(), dir).string() + "::" + f["fullTitle"].get<std::string>());
  CHECK(ids(o) == expected);
  REQUIRE(o.failures.size() == 2);
  CHECK(o.failures[0].test_id == "test/strings.test.js::strings reverses");
  CHECK(o.failures[0].line == 10);
  CHECK(o.failures[1].error_type == "TypeError");
}

TEST_CASE("recorded gotestsum, nextest, Surefire and PHPUnit reports parse to their own counts") {
  struct Case {
    std::string family, file, cwd;
    std::vector<std::string> failing;
  };
  std::vector<Case> cases{
      {"gotestsum", "gotestsum.xml", "", {"example.com/calc::TestDiv", "example.com/calc/strs::TestTitle/empty", "example.com/calc/strs::TestTitle"}},
      {"nextest", "nextest.xml", "", {"tests::divides"}},
      {"phpunit", "phpunit.xml", "/app", {"Tests\\CalcTest::testDiv", "Tests\\CalcTest::testParse"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.family);
    const std::string xml = read_file(k_fixtures / "junit" / c.file);
    auto o = junit_parser::parse_junit_xml(xml, fams().at(c.family), c.cwd);
    check_counts(o, runner_counts(xml));
    CHECK(ids(o) == c.failing);
  }
  auto php = junit_parser::parse_junit_xml(read_file(k_fixtures / "junit/phpunit.xml"), fams().at("phpunit"), "/app");
  CHECK(php.failures[0].file == "tests/CalcTest.php");
  CHECK(php.failures[0].line == 14);
  CHECK(php.failures[1].error_type == "TypeError");
}

TEST_CASE("a Surefire report directory is read whole (every TEST-*.xml) by the junit suite runner") {
  TempDir dir;
  fs::create_directories(dir.path() / "target");
  // The "runner" copies the recorded reports where Surefire writes them.
  auto suite = junit_suite("surefire", {"cp", "-r", (k_fixtures / "junit/surefire-reports").string(), "target/"},
                           "target/surefire-reports");
  host::SuiteRequest req;
  req.root = dir.path();
  write_file(dir.path() / "target/surefire-reports/TEST-stale.xml", "<testsuite tests='9'/>");  // a stale one: removed first
  auto f = host::run_suite(suite, req, nullptr);
  CHECK(f.error == "");
  CHECK(f.report_format == "junit_xml");
  CHECK(f.family == "surefire");
  auto o = junit_parser::parse_junit_run(f, fams());
  CHECK(o.summary.tests == 6);
  CHECK(o.summary.failures == 1);
  CHECK(o.summary.errors == 1);
  CHECK(o.summary.skipped == 1);
  CHECK(ids(o) == std::vector<std::string>{"com.example.CalcTest::divides", "com.example.CalcTest::parses"});
}

TEST_CASE("a junit suite without a report says so, naming where it looked") {
  TempDir dir;
  auto suite = junit_suite("vitest", {"true"}, "junit.xml");
  host::SuiteRequest req;
  req.root = dir.path();
  auto f = host::run_suite(suite, req, nullptr);
  CHECK(f.report_format == "none");
  CHECK(f.error.find("wrote no JUnit XML at") != std::string::npos);
  auto o = junit_parser::parse_junit_run(f, fams());
  CHECK(o.summary.parsed_from == "text");
  CHECK(o.failures.empty());
}

TEST_CASE("single-test re-runs are data: each family's select, and fixhost.toml's override") {
  host::SuiteRequest req;
  req.root = "/repo";
  req.test_ids = {"com.example.CalcTest::divides", "com.example.CalcTest::parses"};
  CHECK(host::suite_argv(junit_suite("surefire", {"mvn", "-q", "test"}, "target/surefire-reports"), req, "/r.xml") ==
        std::vector<std::string>{"mvn", "-q", "test", "-Dtest=com.example.CalcTest#divides,com.example.CalcTest#parses",
                                 "-Dsurefire.failIfNoSpecifiedTests=false"});
  req.test_ids = {"Tests\\CalcTest::testDiv"};
  CHECK(host::suite_argv(junit_suite("phpunit", {"vendor/bin/phpunit", "--log-junit", "{report}"}), req, "/r.xml") ==
        std::vector<std::string>{"vendor/bin/phpunit", "--log-junit", "/r.xml", "--filter", "Tests\\\\CalcTest::testDiv"});
  req.test_ids = {"example.com/calc::TestDiv", "example.com/calc::TestAdd"};
  CHECK(host::suite_argv(junit_suite("gotestsum", {"gotestsum", "--junitfile", "{report}"}), req, "/r.xml") ==
        std::vector<std::string>{"gotestsum", "--junitfile", "/r.xml", "--", "-run", "^(?:TestDiv|TestAdd)$"});
  req.test_ids = {"tests::divides", "tests::parses"};
  CHECK(host::suite_argv(junit_suite("nextest", {"cargo", "nextest", "run", "--profile", "ci"}, "target/nextest/ci/junit.xml"),
                         req, "/r.xml") == std::vector<std::string>{"cargo", "nextest", "run", "--profile", "ci", "-E",
                                                                   "test(=tests::divides) | test(=tests::parses)"});
  // fixhost.toml overrides a family's keys.
  TempDir repo;
  write_file(repo.path() / "fixhost.toml",
             "[[suites]]\nrunner = \"junit\"\ncommand = [\"npx\", \"vitest\", \"run\", \"--reporter=junit\", \"--outputFile={report}\"]\n"
             "[junit_families.vitest]\nselect = [\"{groups}\", \"--testNamePattern\", \"{names_regex}\"]\n");
  auto cfg = host::load_config(repo.path());
  REQUIRE(cfg);
  REQUIRE(cfg->suites.size() == 1);
  CHECK(cfg->suites[0].family == "vitest");
  req.test_ids = {"test/a.test.js::math > adds"};
  auto argv = host::suite_argv(cfg->suites[0], req, "/r.xml");
  CHECK(argv == std::vector<std::string>{"npx", "vitest", "run", "--reporter=junit", "--outputFile=/r.xml", "test/a.test.js",
                                         "--testNamePattern", "^(?:math adds)$"});
  CHECK(cfg->plugin_config.count("junit_parser") == 1);
}

TEST_CASE("fixhost.toml: a junit suite must say where its report goes, an unknown family is named") {
  TempDir repo;
  write_file(repo.path() / "fixhost.toml", "[[suites]]\nrunner = \"junit\"\ncommand = [\"go\", \"test\"]\n");
  auto c = host::load_config(repo.path());
  REQUIRE_FALSE(c);
  CHECK(c.status().message().find("says neither where the JUnit XML is written") != std::string::npos);
  write_file(repo.path() / "fixhost.toml",
             "[[suites]]\nrunner = \"junit\"\nfamily = \"ant\"\nreport = \"r.xml\"\ncommand = [\"ant\", \"test\"]\n");
  c = host::load_config(repo.path());
  REQUIRE_FALSE(c);
  CHECK(c.status().message().find("family is 'ant'; it must be one of gotestsum, mocha, nextest, phpunit, surefire, vitest") !=
        std::string::npos);
}

TEST_CASE("real re-runs: vitest and mocha run only the selected tests") {
  {
    const fs::path dir = k_fixtures / "vitest";
    need(dir / "node_modules/.bin/vitest");
    auto suite = junit_suite("vitest", {"node_modules/.bin/vitest", "run", "--reporter=junit", "--outputFile={report}"});
    host::SuiteRequest req;
    req.root = dir;
    req.purpose = "rerun";
    req.test_ids = {"test/math.test.js::math > multiplies"};
    auto f = host::run_suite(suite, req, nullptr);
    REQUIRE(f.report_format == "junit_xml");
    auto o = junit_parser::parse_junit_run(f, fams());
    CHECK(o.summary.failures == 1);
    CHECK(o.summary.passed == 0);  // the others are skipped or not run
    CHECK(ids(o) == req.test_ids);
  }
  {
    const fs::path dir = k_fixtures / "mocha";
    need(dir / "node_modules/.bin/mocha");
    auto suite = junit_suite("mocha", {"node_modules/.bin/mocha", "--reporter", "mocha-junit-reporter", "--reporter-options",
                                       "mochaFile={report},includePending=true"});
    host::SuiteRequest req;
    req.root = dir;
    req.purpose = "rerun";
    req.test_ids = {"test/strings.test.js::strings errors throws a TypeError"};
    auto f = host::run_suite(suite, req, nullptr);
    REQUIRE(f.report_format == "junit_xml");
    auto o = junit_parser::parse_junit_run(f, fams());
    CHECK(o.summary.tests == 1);
    CHECK(ids(o) == req.test_ids);
  }
}

namespace {

// A vitest project in a git repository (node_modules linked from tests/fixtures/vitest, ignored).
std::map<std::string, std::string> vitest_project(bool with_config) {
  std::map<std::string, std::string> files{
      {"package.json", "{\"name\": \"calc\", \"type\": \"module\", \"devDependencies\": {\"vitest\": \"^3.2.0\"}}\n"},
      {".gitignore", "node_modules\n"},
      {"src/math.js", "export function add(a, b) {\n  return a + b;\n}\n\nexport function mul(a, b) {\n  return a + b;\n}\n"},
      {"test/math.test.js",
       "import { describe, it, expect } from 'vitest';\nimport { add, mul } from '../src/math.js';\n\ndescribe('math', () => {\n"
       "  it('adds', () => {\n    expect(add(2, 3)).toBe(5);\n  });\n  it('multiplies', () => {\n    expect(mul(2, 3)).toBe(6);\n  });\n});\n"}};
  if (with_config)
    files["fixhost.toml"] =
        "[[suites]]\nname = \"unit\"\nrunner = \"junit\"\n"
        "command = [\"node_modules/.bin/vitest\", \"run\", \"--reporter=junit\", \"--outputFile={report}\"]\n"
        "[sandbox]\nenabled = false\n";
  return files;
}

}  // namespace

TEST_CASE("hostctl detect finds a vitest project's failures, with or without fixhost.toml") {
  need(k_fixtures / "vitest/node_modules/.bin/vitest");
  for (bool with_config : {false, true}) {
    CAPTURE(with_config);
    test::GitRepo repo(vitest_project(with_config));
    fs::create_directory_symlink(k_fixtures / "vitest/node_modules", repo.dir() / "node_modules");
    auto r = repo.hostctl({"detect", "--json"});
    CHECK_MESSAGE(r.code == 1, r.err);
    auto j = test::json_of(r);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["test_id"] == "test/math.test.js::math > multiplies");
    auto parsed = repo.events("SuiteParsed");
    REQUIRE_FALSE(parsed.empty());
    CHECK(parsed.front()["runner"] == "junit");
    CHECK(parsed.front()["tests"] == 2);
    CHECK(parsed.front()["failures"] == 1);
  }
}

TEST_CASE("hostctl autofix fixes a vitest project: the re-run of the one test, then verify and commit") {
  need(k_fixtures / "vitest/node_modules/.bin/vitest");
  test::GitRepo repo(vitest_project(true));
  fs::create_directory_symlink(k_fixtures / "vitest/node_modules", repo.dir() / "node_modules");
  const std::string agent = "python3 -c \"import re;p='src/math.js';s=open(p).read();"
                            "i=s.index('mul');open(p,'w').write(s[:i]+s[i:].replace('a + b','a * b',1))\"";
  auto r = repo.hostctl({"autofix", "--agent", agent});
  CHECK_MESSAGE(r.code == 0, r.out << r.err);
  auto resolved = repo.events("FailureResolved");
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0]["test_id"] == "test/math.test.js::math > multiplies");
  auto reruns = repo.events("SuiteStarted");
  bool narrowed = false;
  for (const auto& s : reruns)
    if (s["purpose"] == "rerun") {
      auto argv = s["argv"].get<std::vector<std::string>>();
      narrowed = std::find(argv.begin(), argv.end(), "^(?:math multiplies)$") != argv.end();
    }
  CHECK(narrowed);
  CHECK(repo.events("Committed").size() == 1);
}

TEST_CASE("progress: live on a terminal (elapsed time, redrawn in place), one plain line per step in CI or a pipe") {
  need(k_fixtures / "vitest/node_modules/.bin/vitest");
  test::GitRepo repo(vitest_project(true));
  fs::create_directory_symlink(k_fixtures / "vitest/node_modules", repo.dir() / "node_modules");
  // hostctl under a pseudo-terminal (Python's pty), everything it wrote to it on stdout.
  const std::string under_pty =
      "import os, pty, sys\n"
      "pid, fd = pty.fork()\n"
      "if pid == 0:\n"
      "    os.execv(sys.argv[1], sys.argv[1:])\n"
      "out = b''\n"
      "while True:\n"
      "    try:\n"
      "        chunk = os.read(fd, 65536)\n"
      "    except OSError:\n"
      "        break\n"
      "    if not chunk:\n"
      "        break\n"
      "    out += chunk\n"
      "os.waitpid(pid, 0)\n"
      "sys.stdout.buffer.write(out)\n";
  write_file(repo.dir() / "pty_run.py", under_pty);
  auto tty = test::run_in(repo.dir(), {"python3", "pty_run.py", FIXHOST_HOSTCTL, "detect"}, {{"CI", ""}, {"TERM", "xterm"}});
  CHECK(tty.out.find("\r\x1b[K[") != std::string::npos);
  CHECK(tty.out.find("s] running junit suite 'unit' (detect) ...") != std::string::npos);
  auto ci = test::run_in(repo.dir(), {"python3", "pty_run.py", FIXHOST_HOSTCTL, "detect"}, {{"CI", "true"}});
  CHECK(ci.out.find("\x1b[K") == std::string::npos);
  CHECK(ci.out.find("running junit suite 'unit' (detect) ...\r\n") != std::string::npos);
  auto piped = repo.hostctl({"detect"});
  CHECK(piped.err.find("\x1b[K") == std::string::npos);
  CHECK(piped.err.find("running junit suite 'unit' (detect) ...\n") != std::string::npos);
  auto quiet = repo.hostctl({"-q", "detect"});
  CHECK(quiet.err.find("running junit suite") == std::string::npos);
}
