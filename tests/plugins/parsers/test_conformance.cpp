// The parser conformance suite: every fixture project (tests/fixtures/) is run by the real
// runner with the flags the host adds, and what our parsers make of it is checked against the
// runner's own machine report, read here independently (pugixml for junit XML, nlohmann_json
// for jest --json), and against pytest's own closing line. The text fallback of each run must
// agree with the report parse.
#include <sys/stat.h>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <tuple>

#include "fixhost/host/world/suite_runner.hpp"
#include "fixture_run.hpp"
#include "jest_parse.hpp"
#include "pytest_parse.hpp"

namespace fx = fixhost::testing;
using fixhost::events::FailureDetected;
using fixhost::events::SuiteParsed;

namespace {

// ---- runs, each done once per test program ------------------------------------------------

struct FixtureRun {
  std::unique_ptr<fx::TempDir> tmp;
  fx::fs::path dir;  // the copied project, where the runner ran
  fx::Ran ran;
};

const FixtureRun& pytest_run(const std::string& fixture, const std::vector<std::string>& extra = {}) {
  static std::map<std::string, std::unique_ptr<FixtureRun>> cache;
  std::string key = fixture;
  for (const auto& e : extra) key += " " + e;
  auto& slot = cache[key];
  if (!slot) {
    slot = std::make_unique<FixtureRun>();
    slot->tmp = std::make_unique<fx::TempDir>("fixhost-conformance");
    slot->dir = slot->tmp->path() / fx::fs::path(fixture).filename();
    fx::copy_fixture(fixture, slot->dir);
    slot->ran = fx::run_pytest(slot->dir, extra);
    INFO("pytest output:\n" << slot->ran.output);
    REQUIRE_FALSE(slot->ran.report.empty());
  }
  return *slot;
}

const FixtureRun& jest_run(const std::string& fixture) {
  static std::map<std::string, std::unique_ptr<FixtureRun>> cache;
  auto& slot = cache[fixture];
  if (!slot) {
    slot = std::make_unique<FixtureRun>();
    slot->tmp = std::make_unique<fx::TempDir>("fixhost-conformance");
    slot->dir = slot->tmp->path() / fx::fs::path(fixture).filename();
    fx::copy_fixture(fixture, slot->dir);
    slot->ran = fx::run_jest(slot->dir);
    INFO("jest output:\n" << slot->ran.output);
    REQUIRE_FALSE(slot->ran.report.empty());
  }
  return *slot;
}

// ---- what pytest's own report says ---------------------------------------------------------

// pytest's junitxml names a node id "a/b/test_c.py::K::t[p]" as classname "a.b.test_c.K", name
// "t[p]", and a collector "a/b/test_c.py" as classname "", name "a.b.test_c".
std::pair<std::string, std::string> junit_key(const std::string& node_id) {
  std::string head = node_id.substr(0, node_id.find('['));
  std::string params = node_id.substr(head.size());
  std::vector<std::string> parts;
  for (std::size_t pos = 0;;) {
    auto sep = head.find("::", pos);
    parts.push_back(head.substr(pos, sep == std::string::npos ? std::string::npos : sep - pos));
    if (sep == std::string::npos) break;
    pos = sep + 2;
  }
  std::string module = parts[0];
  if (module.size() > 3 && module.ends_with(".py")) module.resize(module.size() - 3);
  std::replace(module.begin(), module.end(), '/', '.');
  if (parts.size() == 1) return {"", module};
  std::string classname = module;
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) classname += "." + parts[i];
  return {classname, parts.back() + params};
}

struct JunitProblem {
  std::string classname, name, phase;
  bool operator<(const JunitProblem& o) const {
    return std::tie(classname, name, phase) < std::tie(o.classname, o.name, o.phase);
  }
  bool operator==(const JunitProblem& o) const = default;
};

struct JunitTruth {
  std::multiset<JunitProblem> problems;
  std::size_t failures = 0, errors = 0, skipped = 0, xfailed = 0;
  std::map<std::pair<std::string, std::string>, std::string> error_type;  // when the text names it
};

std::string phase_of_error(const std::string& message) {
  if (message == "collection failure") return "collection";
  if (message.starts_with("failed on teardown")) return "teardown";
  if (message.starts_with("failed on setup")) return "setup";
  return "?" + message;
}

JunitTruth read_junit(const std::string& xml) {
  JunitTruth t;
  pugi::xml_document doc;
  REQUIRE(doc.load_buffer(xml.data(), xml.size()));
  for (auto tc : doc.select_nodes("//testcase")) {
    pugi::xml_node c = tc.node();
    std::string classname = c.attribute("classname").value(), name = c.attribute("name").value();
    for (pugi::xml_node ch : c.children()) {
      std::string kind = ch.name();
      if (kind == "skipped") {
        (std::string(ch.attribute("type").value()) == "pytest.xfail" ? t.xfailed : t.skipped)++;
        continue;
      }
      if (kind != "failure" && kind != "error") continue;
      std::string phase = kind == "failure" ? "call" : phase_of_error(ch.attribute("message").value());
      (kind == "failure" ? t.failures : t.errors)++;
      t.problems.insert({classname, name, phase});
      // xunit2 ends a long repr with "path:line: TypeName".
      std::string text = ch.child_value();
      std::string last = text.substr(text.find_last_of('\n') == std::string::npos ? 0 : text.find_last_of('\n') + 1);
      std::smatch m;
      static const std::regex loc(R"(^\S+:\d+: ([A-Za-z_][\w.]*)$)");
      if (std::regex_match(last, m, loc)) {
        std::string type = m[1];
        t.error_type[{classname, name}] = type.substr(type.find_last_of('.') == std::string::npos ? 0 : type.find_last_of('.') + 1);
      }
    }
  }
  return t;
}

struct FinalLine {
  std::map<std::string, unsigned> n;
  unsigned get(const std::string& k) const {
    auto it = n.find(k);
    return it == n.end() ? 0 : it->second;
  }
};

// pytest's closing "==== 9 failed, 7 passed, 2 errors in 0.49s ====".
FinalLine final_line(const std::string& output) {
  FinalLine f;
  static const std::regex line_re(R"(^=+ (.*) in [\d.]+s(?: \([^)]*\))? =+$)");
  static const std::regex part_re(R"((\d+) (\w+))");
  std::smatch m;
  std::string last;
  std::istringstream in(output);
  for (std::string l; std::getline(in, l);)
    if (std::regex_match(l, m, line_re)) last = m[1];
  REQUIRE_MESSAGE(!last.empty(), "pytest printed no closing line:\n" << output);
  for (std::sregex_iterator it(last.begin(), last.end(), part_re), end; it != end; ++it) {
    std::string word = (*it)[2];
    if (word == "error") word = "errors";
    f.n[word] = static_cast<unsigned>(std::stoul((*it)[1]));
  }
  return f;
}

std::multiset<JunitProblem> problems_of(const std::vector<FailureDetected>& fs) {
  std::multiset<JunitProblem> out;
  for (const auto& f : fs) {
    auto [c, n] = junit_key(f.test_id);
    out.insert({c, n, f.phase});
  }
  return out;
}

std::string dump(const std::vector<FailureDetected>& fs) {
  std::string s;
  for (const auto& f : fs)
    s += "  " + f.test_id + " [" + f.phase + "] " + f.error_type + " @ " + f.file + ":" + std::to_string(f.line) + "\n";
  return s;
}

std::string dump(const std::multiset<JunitProblem>& ps) {
  std::string s;
  for (const auto& p : ps) s += "  (" + p.classname + ", " + p.name + ") [" + p.phase + "]\n";
  return s;
}

// Checks a pytest run: the report parse against junit + the closing line, and the text
// fallback against the report parse. Returns the report parse.
fixhost::pytest_parser::ParseOutcome check_pytest(const FixtureRun& run) {
  using namespace fixhost::pytest_parser;
  INFO("pytest output:\n" << run.ran.output);
  ParseOutcome rep = parse_junit_xml(run.ran.report, run.ran.output);
  CHECK(rep.summary.parsed_from == "report");
  JunitTruth truth = read_junit(run.ran.report);
  FinalLine fin = final_line(run.ran.output);

  // (a) the same failures as the report, and the counts pytest printed.
  auto got = problems_of(rep.failures);
  CHECK_MESSAGE(got == truth.problems, "parsed:\n" << dump(got) << "junit:\n" << dump(truth.problems));
  CHECK(rep.summary.failures == truth.failures);
  CHECK(rep.summary.errors == truth.errors);
  CHECK(rep.summary.skipped == truth.skipped);
  CHECK(rep.summary.xfailed == truth.xfailed);
  CHECK(rep.summary.failures == fin.get("failed"));
  CHECK(rep.summary.errors == fin.get("errors"));
  CHECK(rep.summary.passed == fin.get("passed"));
  CHECK(rep.summary.skipped == fin.get("skipped"));
  CHECK(rep.summary.xfailed == fin.get("xfailed"));
  CHECK(rep.summary.xpassed == fin.get("xpassed"));
  for (const auto& f : rep.failures) {
    INFO(f.test_id << " [" << f.phase << "]");
    CHECK(f.runner == "pytest");
    CHECK_FALSE(f.error_type.empty());
    CHECK_FALSE(f.file.empty());
    CHECK_FALSE(f.stack_trace.empty());
    CHECK(fx::fs::exists(run.dir / f.file));
    if (f.phase == "collection") CHECK(fx::fs::is_regular_file(run.dir / f.test_id));
    auto it = truth.error_type.find(junit_key(f.test_id));
    if (it != truth.error_type.end()) CHECK(f.error_type == it->second);
  }

  // (b) the terminal output alone says the same.
  ParseOutcome txt = parse_pytest_text(run.ran.output);
  CHECK(txt.summary.parsed_from == "text");
  CHECK_MESSAGE(txt.failures.size() == rep.failures.size(), "text:\n" << dump(txt.failures) << "report:\n" << dump(rep.failures));
  for (const auto& r : rep.failures) {
    auto t = std::find_if(txt.failures.begin(), txt.failures.end(),
                          [&](const FailureDetected& x) { return x.test_id == r.test_id && x.phase == r.phase; });
    INFO(r.test_id << " [" << r.phase << "]");
    REQUIRE_MESSAGE(t != txt.failures.end(), "missing from the text parse:\n" << dump(txt.failures));
    CHECK(t->error_type == r.error_type);
    CHECK(t->file == r.file);
    CHECK(t->test_name == r.test_name);
    if (t->line > 0 && r.line > 0) CHECK(t->line == r.line);
    CHECK(t->message.substr(0, 40) == r.message.substr(0, 40));
  }
  for (auto SuiteParsed::*field : {&SuiteParsed::tests, &SuiteParsed::passed, &SuiteParsed::failures, &SuiteParsed::errors,
                                   &SuiteParsed::skipped, &SuiteParsed::xfailed, &SuiteParsed::xpassed})
    CHECK(txt.summary.*field == rep.summary.*field);
  return rep;
}

// `s` with every `dir` cut out (messages name the temp copy the runner ran in).
std::string without(std::string s, const std::string& dir) {
  for (auto p = s.find(dir); p != std::string::npos; p = s.find(dir)) s.erase(p, dir.size());
  return s;
}

// 1-based line of "def <name>(" in a Python file.
std::int64_t line_of_def(const fx::fs::path& file, const std::string& name) {
  std::istringstream in(fx::read_file(file));
  std::int64_t n = 0;
  for (std::string l; std::getline(in, l);) {
    ++n;
    if (l.find("def " + name + "(") != std::string::npos) return n;
  }
  return -1;
}

const FailureDetected* find(const std::vector<FailureDetected>& fs, std::string_view id, std::string_view phase = "call") {
  for (const auto& f : fs)
    if (f.test_id == id && f.phase == phase) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("pytest shop (xunit2): failures, setup and teardown errors, xfail/xpass/skip match junit and text") {
  const auto& run = pytest_run("python/shop");
  CHECK(run.ran.exit_code == 1);
  auto rep = check_pytest(run);
  // Every category's seed is there, with what the classifier keys on.
  const auto& fs = rep.failures;
  const FailureDetected* f = nullptr;
  REQUIRE((f = find(fs, "tests/test_pricing.py::test_apply_discount")));
  CHECK(f->error_type == "AssertionError");
  CHECK(f->file == "tests/test_pricing.py");
  CHECK(f->line == 11);
  REQUIRE((f = find(fs, "tests/test_pricing.py::test_format_price")));
  CHECK(f->error_type == "TypeError");
  CHECK(f->file == "tests/test_pricing.py");
  CHECK(f->line == 15);
  REQUIRE((f = find(fs, "tests/unit/test_export.py::test_to_xlsx")));
  CHECK(f->error_type == "ModuleNotFoundError");
  CHECK(f->message == "No module named 'fastxlsx_writer'");
  REQUIRE((f = find(fs, "tests/test_inventory.py::test_in_stock_uses_warehouse")));
  CHECK(f->error_type == "AttributeError");
  CHECK(f->message.find("does not have the attribute 'fetch_stock'") != std::string::npos);
  REQUIRE((f = find(fs, "tests/unit/test_config.py::test_database_url_from_env")));
  CHECK(f->error_type == "KeyError");
  CHECK(f->message == "'DATABASE_URL'");
  REQUIRE((f = find(fs, "tests/unit/test_export.py::test_export_is_flaky")));
  CHECK(f->error_type == "AssertionError");
  // Parametrized id with a quote, spaces and pytest's escaping of non-ASCII.
  REQUIRE((f = find(fs, "tests/test_pricing.py::test_parse_price[it's 7 \\u20ac-700]")));
  CHECK(f->error_type == "ValueError");
  CHECK(f->test_name == "test_parse_price[it's 7 \\u20ac-700]");
  CHECK(find(fs, "tests/test_pricing.py::TestCart::TestDiscounts::test_half_price"));
  REQUIRE((f = find(fs, "tests/test_pricing.py::TestCart::test_negative_quantity")));
  CHECK(f->error_type == "XPASS(strict)");
  // Fixture errors carry their phase and point into conftest.py.
  REQUIRE((f = find(fs, "tests/test_inventory.py::test_live_stock", "setup")));
  CHECK(f->error_type == "ConnectionError");
  CHECK(f->file == "tests/conftest.py");
  CHECK(f->line == 6);
  REQUIRE((f = find(fs, "tests/test_inventory.py::test_stock_report", "teardown")));
  CHECK(f->error_type == "RuntimeError");
  CHECK(rep.failures.size() == 11);
  CHECK(rep.summary.tests == 20);
  CHECK(rep.summary.skipped == 1);
  CHECK(rep.summary.xfailed == 1);
  CHECK(rep.summary.xpassed == 1);
}

TEST_CASE("pytest shop (xunit1): the same failures, fields and counts as xunit2") {
  const auto& run1 = pytest_run("python/shop", {"-o", "junit_family=xunit1"});
  CHECK(run1.ran.report.find("file=\"") != std::string::npos);  // it is xunit1
  auto r1 = check_pytest(run1);
  auto r2 = fixhost::pytest_parser::parse_junit_xml(pytest_run("python/shop").ran.report, pytest_run("python/shop").ran.output);
  REQUIRE(r1.failures.size() == r2.failures.size());
  for (const auto& a : r2.failures) {
    const FailureDetected* b = find(r1.failures, a.test_id, a.phase);
    INFO(a.test_id);
    REQUIRE(b);
    CHECK(b->error_type == a.error_type);
    CHECK(b->file == a.file);
    // xunit1 adds the test's def line, which an [XPASS(strict)] (no traceback) lacks in xunit2.
    if (a.line > 0) CHECK(b->line == a.line);
    else {
      // pytest's own location of the test: the first decorator's line, or the def's.
      std::int64_t def = line_of_def(run1.dir / b->file, b->test_name);
      CHECK(b->line <= def);
      CHECK(b->line >= def - 2);
    }
    CHECK(without(b->message, run1.dir.string()) == without(a.message, pytest_run("python/shop").dir.string()));
  }
  CHECK(r1.summary.tests == r2.summary.tests);
  CHECK(r1.summary.passed == r2.summary.passed);
  CHECK(r1.summary.xpassed == r2.summary.xpassed);
}

TEST_CASE("pytest ledger: collection errors (syntax error, missing module) interrupt the run") {
  const auto& run = pytest_run("python/ledger");
  CHECK(run.ran.exit_code == 2);
  auto rep = check_pytest(run);
  REQUIRE(rep.failures.size() == 2);
  const FailureDetected* f = nullptr;
  REQUIRE((f = find(rep.failures, "tests/test_reports.py", "collection")));
  CHECK(f->error_type == "SyntaxError");
  CHECK(f->file == "tests/test_reports.py");
  CHECK(f->line == 5);
  REQUIRE((f = find(rep.failures, "tests/test_sync.py", "collection")));
  CHECK(f->error_type == "ModuleNotFoundError");
  CHECK(f->message == "No module named 'ledger_cloud_sync'");
  CHECK(f->file == "tests/test_sync.py");
  CHECK(f->line == 1);
}

TEST_CASE("pytest ledger with --continue-on-collection-errors: a raw non-ASCII, quoted parametrized id") {
  const auto& run = pytest_run("python/ledger", {"--continue-on-collection-errors"});
  CHECK(run.ran.exit_code == 1);
  auto rep = check_pytest(run);
  const FailureDetected* f = find(rep.failures, "tests/test_balance.py::test_currency_symbol[yen 'quoted' \xC2\xA5]");
  REQUIRE_MESSAGE(f, dump(rep.failures));
  CHECK(f->error_type == "KeyError");
  CHECK(f->file == "tests/test_balance.py");
  CHECK(rep.summary.passed == 4);
  CHECK(rep.summary.errors == 2);
}

TEST_CASE("pytest: a junit report cut in half falls back to the terminal output") {
  for (const char* fixture : {"python/shop", "python/ledger"}) {
    const auto& run = pytest_run(fixture);
    INFO(fixture);
    std::string half = run.ran.report.substr(0, run.ran.report.size() / 2);
    auto cut = fixhost::pytest_parser::parse_junit_xml(half, run.ran.output);
    auto txt = fixhost::pytest_parser::parse_pytest_text(run.ran.output);
    auto full = fixhost::pytest_parser::parse_junit_xml(run.ran.report, run.ran.output);
    CHECK(cut.summary.parsed_from == "text");
    CHECK(cut.summary.note.find("not well-formed") != std::string::npos);
    CHECK(problems_of(cut.failures) == problems_of(full.failures));
    REQUIRE(cut.failures.size() == txt.failures.size());
    for (std::size_t i = 0; i < cut.failures.size(); ++i) CHECK(cut.failures[i].test_id == txt.failures[i].test_id);
    CHECK(cut.summary.failures == full.summary.failures);
    CHECK(cut.summary.errors == full.summary.errors);
  }
}

TEST_CASE("pytest: a parsed node id given back to pytest runs exactly that test") {
  const auto& shop = pytest_run("python/shop");
  const auto& ledger = pytest_run("python/ledger", {"--continue-on-collection-errors"});
  auto shop_rep = fixhost::pytest_parser::parse_junit_xml(shop.ran.report, shop.ran.output);
  auto ledger_rep = fixhost::pytest_parser::parse_junit_xml(ledger.ran.report, ledger.ran.output);
  std::vector<std::pair<const FixtureRun*, std::string>> ids;
  for (const auto& f : shop_rep.failures)
    if (f.test_id.find('[') != std::string::npos || f.test_id.find("TestDiscounts") != std::string::npos)
      ids.push_back({&shop, f.test_id});
  for (const auto& f : ledger_rep.failures)
    if (f.test_id.find('[') != std::string::npos) ids.push_back({&ledger, f.test_id});
  REQUIRE(ids.size() == 3);
  for (const auto& [run, id] : ids) {
    INFO(id);
    fx::TempDir tmp("fixhost-nodeid");
    fx::fs::path dir = tmp.path() / "p";
    fx::fs::copy(run->dir, dir, fx::fs::copy_options::recursive);
    fx::Ran one = fx::run_pytest(dir, {id});
    INFO(one.output);
    JunitTruth t = read_junit(one.report);
    pugi::xml_document doc;
    REQUIRE(doc.load_string(one.report.c_str()));
    auto cases = doc.select_nodes("//testcase");
    REQUIRE(cases.size() == 1);
    auto key = junit_key(id);
    CHECK(std::string(cases.first().node().attribute("classname").value()) == key.first);
    CHECK(std::string(cases.first().node().attribute("name").value()) == key.second);
    CHECK(t.failures == 1);
    auto again = fixhost::pytest_parser::parse_junit_xml(one.report, one.output);
    REQUIRE(again.failures.size() == 1);
    CHECK(again.failures[0].test_id == id);
  }
}

// ---- jest ----------------------------------------------------------------------------------

namespace {

struct JestTruth {
  std::multiset<std::pair<std::string, std::string>> problems;  // (id, phase)
  std::map<std::string, std::string> error_type;                // "<Name>Error: ..." failures
  nlohmann::json doc;
};

JestTruth read_jest(const std::string& json, const fx::fs::path& root) {
  JestTruth t;
  t.doc = nlohmann::json::parse(json);
  const std::string sep = " \xE2\x80\xBA ";
  for (const auto& tr : t.doc.at("testResults")) {
    std::string rel = fx::fs::path(tr.at("name").get<std::string>()).lexically_relative(root).generic_string();
    const auto& ars = tr.at("assertionResults");
    for (const auto& ar : ars) {
      if (ar.at("status") != "failed") continue;
      std::string id = rel + "::";
      for (const auto& a : ar.at("ancestorTitles")) id += a.get<std::string>() + sep;
      id += ar.at("title").get<std::string>();
      t.problems.insert({id, "call"});
      std::string first = ar.at("failureMessages").at(0).get<std::string>();
      first = first.substr(0, first.find('\n'));
      static const std::regex named(R"(^([A-Za-z]*Error): .*)");
      std::smatch m;
      if (std::regex_match(first, m, named) && m[1] != "Error") t.error_type[id] = m[1];
    }
    if (tr.at("status") == "failed" && ars.empty() &&
        tr.at("message").get<std::string>().find("Test suite failed to run") != std::string::npos)
      t.problems.insert({rel, "collection"});
  }
  return t;
}

std::multiset<std::pair<std::string, std::string>> problems_of_jest(const std::vector<FailureDetected>& fs) {
  std::multiset<std::pair<std::string, std::string>> out;
  for (const auto& f : fs) out.insert({f.test_id, f.phase});
  return out;
}

}  // namespace

TEST_CASE("jest cart: failures and suites that failed to run match --json and the terminal output") {
  using namespace fixhost::jest_parser;
  const auto& run = jest_run("js/cart");
  INFO("jest output:\n" << run.ran.output);
  CHECK(run.ran.exit_code == 1);
  ParseOutcome rep = parse_jest_json(run.ran.report, run.ran.output);
  CHECK(rep.summary.parsed_from == "report");
  JestTruth truth = read_jest(run.ran.report, run.dir);

  // (a) against the report.
  CHECK_MESSAGE(problems_of_jest(rep.failures) == truth.problems, "parsed:\n" << dump(rep.failures));
  CHECK(rep.summary.failures == truth.doc.at("numFailedTests").get<unsigned>());
  CHECK(rep.summary.passed == truth.doc.at("numPassedTests").get<unsigned>());
  CHECK(rep.summary.skipped == truth.doc.at("numPendingTests").get<unsigned>() + truth.doc.at("numTodoTests").get<unsigned>());
  CHECK(rep.summary.tests == truth.doc.at("numTotalTests").get<unsigned>());
  CHECK(rep.summary.errors == truth.doc.at("numRuntimeErrorTestSuites").get<unsigned>());
  for (const auto& f : rep.failures) {
    INFO(f.test_id);
    CHECK(f.runner == "jest");
    CHECK_FALSE(f.error_type.empty());
    CHECK_FALSE(f.message.empty());
    CHECK(f.line > 0);
    CHECK(fx::fs::exists(run.dir / f.file));
    if (auto it = truth.error_type.find(f.test_id); it != truth.error_type.end()) CHECK(f.error_type == it->second);
  }
  const std::string sep = " \xE2\x80\xBA ";
  const FailureDetected* f = nullptr;
  REQUIRE((f = find(rep.failures, "__tests__/pricing.test.js::applies a 10% discount")));
  CHECK(f->error_type == k_assertion_error_type);
  CHECK(f->file == "__tests__/pricing.test.js");
  CHECK(f->line == 8);
  REQUIRE((f = find(rep.failures, "__tests__/pricing.test.js::formatting" + sep + "formats cents as euros")));
  CHECK(f->error_type == "TypeError");
  // A title with quotes, non-ASCII and jest's own " › " separator inside it.
  REQUIRE((f = find(rep.failures, "__tests__/pricing.test.js::formatting" + sep + "parsing" + sep + "parses \"it's 7 \xE2\x82\xAC\"" + sep + "as 700")));
  CHECK(f->error_type == "RangeError");
  CHECK(f->test_name == "parses \"it's 7 \xE2\x82\xAC\"" + sep + "as 700");
  REQUIRE((f = find(rep.failures, "__tests__/inventory.test.js::inventory" + sep + "asks the warehouse")));
  CHECK(f->message == "Property `fetchStock` does not exist in the provided object");
  CHECK(f->file == "__tests__/inventory.test.js");
  CHECK(f->line == 8);
  REQUIRE((f = find(rep.failures, "__tests__/unit/config.test.js::reads the database url from the environment")));
  CHECK(f->error_type == "Error");
  CHECK(f->message == "environment variable DATABASE_URL is not set");
  REQUIRE((f = find(rep.failures, "__tests__/unit/export.test.js::exports xlsx")));
  CHECK(f->message.starts_with("Cannot find module 'fast-xlsx-writer'"));
  REQUIRE((f = find(rep.failures, "__tests__/sync.test.js", "collection")));
  CHECK(f->message.starts_with("Cannot find module 'cart-cloud-sync'"));
  CHECK(f->file == "__tests__/sync.test.js");
  CHECK(f->line == 1);
  REQUIRE((f = find(rep.failures, "__tests__/report.test.js", "collection")));
  CHECK(f->error_type == "SyntaxError");
  CHECK(f->line == 4);

  // (b) the terminal output alone says the same.
  ParseOutcome txt = parse_jest_text(run.ran.output);
  CHECK(txt.summary.parsed_from == "text");
  CHECK_MESSAGE(problems_of_jest(txt.failures) == problems_of_jest(rep.failures), "text:\n" << dump(txt.failures));
  for (const auto& r : rep.failures) {
    const FailureDetected* t = find(txt.failures, r.test_id, r.phase);
    INFO(r.test_id);
    REQUIRE(t);
    CHECK(t->error_type == r.error_type);
    CHECK(t->file == r.file);
    // The terminal joins describe blocks and the title with the same " › " a title may hold, so
    // the text parse can only take the part after the last one as the test's name.
    if (r.test_name.find(sep) == std::string::npos) CHECK(t->test_name == r.test_name);
    else CHECK(r.test_name.ends_with(sep + t->test_name));
    if (t->line > 0 && r.line > 0) CHECK(t->line == r.line);
    CHECK(t->message.substr(0, 40) == r.message.substr(0, 40));
  }
  for (auto SuiteParsed::*field : {&SuiteParsed::tests, &SuiteParsed::passed, &SuiteParsed::failures, &SuiteParsed::errors,
                                   &SuiteParsed::skipped})
    CHECK(txt.summary.*field == rep.summary.*field);
}

TEST_CASE("jest: a JSON report cut in half falls back to the terminal output") {
  using namespace fixhost::jest_parser;
  const auto& run = jest_run("js/cart");
  std::string half = run.ran.report.substr(0, run.ran.report.size() / 2);
  ParseOutcome cut = parse_jest_json(half, run.ran.output);
  ParseOutcome full = parse_jest_json(run.ran.report, run.ran.output);
  CHECK(cut.summary.parsed_from == "text");
  CHECK(cut.summary.note.find("not valid JSON") != std::string::npos);
  CHECK(problems_of_jest(cut.failures) == problems_of_jest(full.failures));
  CHECK(cut.summary.failures == full.summary.failures);
  CHECK(cut.summary.errors == full.summary.errors);
}

TEST_CASE("jest: a parsed test id given to the host's single-test argv runs exactly that test") {
  using namespace fixhost::jest_parser;
  const auto& run = jest_run("js/cart");
  ParseOutcome rep = parse_jest_json(run.ran.report, run.ran.output);
  const std::string sep = " \xE2\x80\xBA ";
  std::vector<std::string> ids;
  for (const auto& f : rep.failures)
    if (f.phase == "call" && f.test_id.find("parsing") != std::string::npos) ids.push_back(f.test_id);
  REQUIRE(ids.size() == 1);  // "formatting › parsing › parses "it's 7 €" › as 700": quotes, non-ASCII, " › " in the title
  for (const auto& id : ids) {
    INFO(id);
    fx::TempDir tmp("fixhost-jestid");
    fx::fs::path dir = tmp.path() / "cart";
    fx::copy_fixture("js/cart", dir);
    fixhost::host::SuiteConfig suite;
    suite.name = "js";
    suite.runner = "jest";
    suite.command = {"node", fx::jest_js().string()};
    fixhost::host::SuiteRequest req;
    req.test_ids = {id};
    req.root = dir;
    fx::fs::path report = tmp.path() / "one.json";
    auto argv = fixhost::host::suite_argv(suite, req, report.string());
    fx::Ran one = fx::run_argv(argv, dir, report, tmp.path() / "tmp");
    INFO(one.output);
    REQUIRE_FALSE(one.report.empty());
    auto doc = nlohmann::json::parse(one.report);
    unsigned ran = 0;
    for (const auto& tr : doc.at("testResults"))
      for (const auto& ar : tr.at("assertionResults"))
        if (ar.at("status") == "failed" || ar.at("status") == "passed") ++ran;
    CHECK(ran == 1);
    ParseOutcome again = parse_jest_json(one.report, one.output);
    REQUIRE(again.failures.size() == 1);
    CHECK(again.failures[0].test_id == id);
  }
}

// Issue 9: reports are read safely. 100,000 nested <testsuite> elements crashed the parser with
// a stack overflow; a symlink to a secret, /dev/zero or a FIFO in place of the report must be
// refused without reading or blocking.
TEST_CASE("issue 9: a hostile junit report: deep nesting parses, links, devices and FIFOs are not read") {
  std::string xml = "<?xml version=\"1.0\"?><testsuites>";
  constexpr int k_depth = 100000;
  for (int i = 0; i < k_depth; ++i) xml += "<testsuite>";
  xml += "<testcase classname=\"tests.test_a\" name=\"test_deep\"><failure message=\"boom\">E   boom</failure></testcase>";
  for (int i = 0; i < k_depth; ++i) xml += "</testsuite>";
  xml += "</testsuites>";
  auto out = fixhost::pytest_parser::parse_junit_xml(xml, "");
  REQUIRE(out.failures.size() == 1);
  CHECK(out.failures[0].test_name == "test_deep");

  fx::TempDir tmp("fixhost-hostile-report");
  std::uint64_t total = 0, cut = 0;
  std::string why;
  const fx::fs::path secret = tmp.path() / "secret";
  fx::write_file(secret, "root:$6$hash:19000:0:99999:7:::\n");
  fx::fs::create_symlink(secret, tmp.path() / "link.xml");
  CHECK(fixhost::host::read_report_file(tmp.path() / "link.xml", 1 << 20, total, cut, why).empty());
  CHECK(why.find("symbolic link") != std::string::npos);
  why.clear();
  REQUIRE(::mkfifo((tmp.path() / "fifo.xml").c_str(), 0600) == 0);
  CHECK(fixhost::host::read_report_file(tmp.path() / "fifo.xml", 1 << 20, total, cut, why).empty());  // returns at once
  CHECK(why.find("not a regular file") != std::string::npos);
  why.clear();
  CHECK(fixhost::host::read_report_file("/dev/zero", 1 << 20, total, cut, why).empty());
  CHECK(why.find("not a regular file") != std::string::npos);
  why.clear();
  fx::write_file(tmp.path() / "big.xml", std::string(3u << 20, 'x'));
  auto big = fixhost::host::read_report_file(tmp.path() / "big.xml", 1 << 20, total, cut, why);
  CHECK(why.empty());
  CHECK(total == (3u << 20));
  CHECK(big.size() < (1u << 20) + 4096);  // read up to the cap (head and tail), not all of it
}
