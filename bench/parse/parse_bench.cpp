// bench_parse: our pytest junit XML and jest --json parsers against the usual readers of the same
// reports: Debian's python3-junitparser (Python) and node's JSON.parse walking the same fields.
// Both reports hold 100,000 test cases, 10% of them failures with ~40-line tracebacks.
// Usage: bench_parse [--cases N] [--runs R] [--ours-only 1] (no baselines, for profiling). Prints MB/s and cases/s for each, then
//   pytest_parse_ratio: X   (our cases/s over junitparser's)
//   jest_parse_ratio: Y     (our cases/s over node's)
#include <CLI/CLI.hpp>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixhost/host/world/process.hpp"
#include "jest_parse.hpp"
#include "pytest_parse.hpp"

namespace fs = std::filesystem;

namespace {

std::string xml_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o.push_back(c);
    }
  }
  return o;
}

std::string json_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + s.size() / 8);
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      default: o.push_back(c);
    }
  }
  return o;
}

// A pytest long repr of ~40 lines: the test, two library frames, the failing frame.
std::string pytest_traceback(std::size_t i, const std::string& test_file, const std::string& test) {
  std::string t;
  t += "def " + test + "(self, client):\n";
  t += "        order = make_order(items=[(\"sku-" + std::to_string(i) + "\", 3)], coupon=None)\n";
  t += ">       assert checkout(client, order).total == " + std::to_string(1000 + i % 97) + "\n\n";
  t += test_file + ":" + std::to_string(20 + i % 300) + ": \n";
  t += "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n";
  for (int frame = 0; frame < 3; ++frame) {
    t += "client = <shop.api.Client object at 0x7f38377aeb" + std::to_string(10 + frame) + ">\n";
    t += "order = Order(id=" + std::to_string(i) + ", items=[Item(sku='sku-" + std::to_string(i) + "', qty=3)])\n\n";
    t += "    def checkout_step_" + std::to_string(frame) + "(client, order):\n";
    for (int k = 0; k < 6; ++k)
      t += "        subtotal_" + std::to_string(k) + " = sum(item.price * item.qty for item in order.items)  # step " +
           std::to_string(k) + "\n";
    t += ">       return apply_tax(subtotal_5, region=client.region)\n\n";
    t += "shop/checkout.py:" + std::to_string(40 + frame * 10) + ": in checkout_step_" + std::to_string(frame) + "\n";
    t += "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n";
  }
  t += ">       raise TypeError(f\"unsupported operand type(s) for +: 'int' and 'str' in order {order.id}\")\n";
  t += "E       TypeError: unsupported operand type(s) for +: 'int' and 'str' in order " + std::to_string(i) + "\n\n";
  t += "shop/tax.py:77: TypeError";
  return t;
}

std::string make_junit(std::size_t cases) {
  std::string x = "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\" errors=\"0\" failures=\"" +
                  std::to_string(cases / 10) + "\" skipped=\"0\" tests=\"" + std::to_string(cases) +
                  "\" time=\"812.5\" timestamp=\"2025-01-01T00:00:00\" hostname=\"ci\">";
  for (std::size_t i = 0; i < cases; ++i) {
    std::size_t mod = i / 50;
    std::string file = "tests/pkg" + std::to_string(mod % 40) + "/test_mod" + std::to_string(mod) + ".py";
    std::string classname = "tests.pkg" + std::to_string(mod % 40) + ".test_mod" + std::to_string(mod) + ".TestCheckout";
    std::string name = "test_case_" + std::to_string(i) + (i % 7 == 0 ? "[eur-" + std::to_string(i % 13) + "]" : "");
    x += "<testcase classname=\"" + classname + "\" name=\"" + name + "\" time=\"0.004\"";
    if (i % 10 != 3) {
      x += " />";
      continue;
    }
    std::string tb = pytest_traceback(i, file, name.substr(0, name.find('[')));
    x += "><failure message=\"" + xml_escape("TypeError: unsupported operand type(s) for +: 'int' and 'str' in order " +
                                             std::to_string(i)) +
         "\">" + xml_escape(tb) + "</failure></testcase>";
  }
  x += "</testsuite></testsuites>";
  return x;
}

std::string jest_failure_message(std::size_t i, const std::string& abs_file) {
  std::string m = "Error: expect(received).toBe(expected) // Object.is equality\n\nExpected: " + std::to_string(900 + i % 50) +
                  "\nReceived: " + std::to_string(1100 + i % 50) + "\n";
  m += "    at Object.toBe (" + abs_file + ":" + std::to_string(10 + i % 200) + ":35)\n";
  const char* frames[] = {"Promise.finally.completed", "new Promise", "callAsyncCircusFn", "_callCircusTest",
                          "_runTestInContext", "runTestWithContext", "_runTestsForDescribeBlockOnce",
                          "_runTestsForDescribeBlock", "run", "runAndTransformResultsToJestFormat", "jestAdapter",
                          "runTestInternal", "runTest"};
  for (int k = 0; k < 37; ++k)
    m += std::string("    at ") + frames[k % 13] +
         " (/home/ci/app/node_modules/jest-circus/build/jestAdapterInit.js:" + std::to_string(1000 + k * 17) + ":" +
         std::to_string(3 + k) + ")\n";
  m.pop_back();
  return m;
}

std::string make_jest(std::size_t cases) {
  std::string j = "{\"numFailedTestSuites\":0,\"numFailedTests\":" + std::to_string(cases / 10) +
                  ",\"numPassedTests\":" + std::to_string(cases - cases / 10) + ",\"numTotalTests\":" + std::to_string(cases) +
                  ",\"success\":false,\"wasInterrupted\":false,\"testResults\":[";
  const std::size_t per_file = 50;
  for (std::size_t start = 0; start < cases; start += per_file) {
    std::size_t mod = start / per_file;
    std::string abs = "/home/ci/app/__tests__/pkg" + std::to_string(mod % 40) + "/mod" + std::to_string(mod) + ".test.js";
    if (start) j += ",";
    j += "{\"assertionResults\":[";
    for (std::size_t i = start; i < std::min(cases, start + per_file); ++i) {
      bool failed = i % 10 == 3;
      if (i != start) j += ",";
      std::string title = "case " + std::to_string(i) + " totals the cart";
      j += "{\"ancestorTitles\":[\"checkout\",\"totals\"],\"duration\":3,\"failing\":false,\"failureDetails\":[],";
      j += "\"failureMessages\":[";
      if (failed) j += "\"" + json_escape(jest_failure_message(i, abs)) + "\"";
      j += "],\"fullName\":\"checkout totals " + title + "\",\"invocations\":1,\"location\":{\"column\":3,\"line\":" +
           std::to_string(10 + (i - start) * 4) + "},\"numPassingAsserts\":" + (failed ? "0" : "1") +
           ",\"retryReasons\":[],\"status\":\"" + (failed ? "failed" : "passed") + "\",\"title\":\"" + title + "\"}";
    }
    j += "],\"endTime\":1700000001000,\"message\":\"\",\"name\":\"" + abs +
         "\",\"startTime\":1700000000000,\"status\":\"failed\",\"summary\":\"\"}";
  }
  j += "]}";
  return j;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best of `runs` timings of f().
template <class F>
double best_of(int runs, F&& f) {
  double best = 1e9;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// Runs a baseline that prints "<seconds> <cases> <failures>" on its last line.
struct Baseline {
  double seconds = 0;
  std::size_t cases = 0, failures = 0;
};

Baseline run_baseline(std::vector<std::string> argv) {
  fixhost::host::ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = std::chrono::minutes(10);
  auto r = fixhost::host::run_process(spec);
  if (!r) throw std::runtime_error(spec.argv[0] + ": " + r.status().to_string());
  if (r->exit_code != 0)
    throw std::runtime_error(spec.argv[0] + " baseline failed (exit " + std::to_string(r->exit_code) + "):\n" + r->output.data);
  std::string out = r->output.data;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::istringstream last(out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1));
  Baseline b;
  if (!(last >> b.seconds >> b.cases >> b.failures)) throw std::runtime_error("baseline printed no timing: " + out);
  return b;
}

// Debian's python3-junitparser: parse the XML and take the fields our parser fills.
const char* k_python_junit = R"PY(
import sys, time
from junitparser import JUnitXml, Failure, Error, Skipped
data = open(sys.argv[1], 'rb').read()
best = None
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    xml = JUnitXml.fromstring(data)
    cases = 0
    out = []
    for suite in xml:
        for case in suite:
            cases += 1
            for r in case.result:
                if isinstance(r, (Failure, Error)):
                    out.append((case.classname, case.name, r.type, r.message, r.text))
    dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
print(best, cases, len(out))
)PY";

// node: JSON.parse and walk the same fields of each assertion result.
const char* k_node_jest = R"JS(
const fs = require('fs');
const data = fs.readFileSync(process.argv[1], 'utf8');
let best = Infinity, cases = 0, fails = 0;
for (let r = 0; r < Number(process.argv[2]); r++) {
  const t0 = process.hrtime.bigint();
  const doc = JSON.parse(data);
  const out = [];
  cases = 0;
  for (const tr of doc.testResults) {
    for (const ar of tr.assertionResults) {
      cases++;
      if (ar.status !== 'failed') continue;
      out.push({file: tr.name, id: tr.name + '::' + ar.ancestorTitles.concat([ar.title]).join(' \u203a '),
                title: ar.title, line: ar.location ? ar.location.line : 0, messages: ar.failureMessages.join('\n\n')});
    }
    if (tr.status === 'failed' && tr.message.includes('Test suite failed to run')) out.push({file: tr.name});
  }
  fails = out.length;
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log(best, cases, fails);
)JS";

void report(const char* what, double seconds, std::size_t bytes, std::size_t cases) {
  std::printf("  %-28s %8.3f s  %9.1f MB/s  %12.0f cases/s\n", what, seconds, bytes / seconds / 1e6, cases / seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t cases = 100000;
  int runs = 5;
  bool ours_only = false;
  CLI::App app{"bench_parse: the report parsers against a Python baseline"};
  app.add_option("--cases", cases, "test cases in the generated reports")->capture_default_str();
  app.add_option("--runs", runs, "runs of each timing (median)")->capture_default_str();
  app.add_option("--ours-only", ours_only, "skip the Python baseline (1)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::string tmpl = (fs::temp_directory_path() / "fixhost-bench-parse-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed in " + fs::temp_directory_path().string());
    fs::path dir = tmpl;
    std::string xml = make_junit(cases), json = make_jest(cases);
    std::ofstream(dir / "report.xml", std::ios::binary) << xml;
    std::ofstream(dir / "report.json", std::ios::binary) << json;
    std::printf("bench_parse: %zu test cases, %zu failures with ~40-line tracebacks; junit XML %.1f MB, jest JSON %.1f MB; best of %d\n",
                cases, cases / 10, xml.size() / 1e6, json.size() / 1e6, runs);

    std::size_t ours_fail = 0, ours_cases = 0;
    double ours_py = best_of(runs, [&] {
      auto o = fixhost::pytest_parser::parse_junit_xml(xml);
      ours_fail = o.failures.size();
      ours_cases = o.summary.tests;
    });
    if (ours_fail != cases / 10 || ours_cases != cases)
      throw std::runtime_error("pytest parser found " + std::to_string(ours_fail) + " failures in " +
                               std::to_string(ours_cases) + " cases; expected " + std::to_string(cases / 10) + " in " +
                               std::to_string(cases));
    Baseline py;
    if (!ours_only) py = run_baseline({"/usr/bin/python3", "-c", k_python_junit, (dir / "report.xml").string(), std::to_string(std::min(runs, 3))});
    if (!ours_only && py.failures != ours_fail) throw std::runtime_error("junitparser found " + std::to_string(py.failures) + " failures");

    std::size_t jest_fail = 0, jest_cases = 0;
    double ours_js = best_of(runs, [&] {
      auto o = fixhost::jest_parser::parse_jest_json(json);
      jest_fail = o.failures.size();
      jest_cases = o.summary.tests;
    });
    if (jest_fail != cases / 10 || jest_cases != cases)
      throw std::runtime_error("jest parser found " + std::to_string(jest_fail) + " failures in " + std::to_string(jest_cases));
    Baseline js;
    if (!ours_only) js = run_baseline({"node", "-e", k_node_jest, (dir / "report.json").string(), std::to_string(runs)});
    if (!ours_only && js.failures != jest_fail) throw std::runtime_error("node found " + std::to_string(js.failures) + " failures");
    fs::remove_all(dir);

    if (ours_only) {
      report("fixhost pytest_parser", ours_py, xml.size(), cases);
      report("fixhost jest_parser", ours_js, json.size(), cases);
      return 0;
    }
    std::printf("pytest junit XML:\n");
    report("fixhost pytest_parser", ours_py, xml.size(), cases);
    report("python3-junitparser", py.seconds, xml.size(), cases);
    std::printf("jest --json:\n");
    report("fixhost jest_parser", ours_js, json.size(), cases);
    report("node JSON.parse + walk", js.seconds, json.size(), cases);
    std::printf("pytest_parse_ratio: %.1f\n", py.seconds / ours_py);
    std::printf("jest_parse_ratio: %.1f\n", js.seconds / ours_js);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_parse: %s\n", e.what());
    return 1;
  }
  return 0;
}
