#pragma once
// Runs a real test runner on a copy of a fixture project (tests/fixtures/) in a fresh temp dir,
// with the flags the host adds (host/src/suite_runner.cpp), and keeps what it left behind.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixhost/test/files.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::testing {

namespace fs = std::filesystem;
using fixhost::test::TempDir;
using fixhost::test::read_file;
using fixhost::test::write_file;


inline const std::string k_python = "/usr/bin/python3";  // Debian's, the one with pytest

inline fs::path fixtures_dir() { return fs::path(FIXHOST_SOURCE_DIR) / "tests" / "fixtures"; }

inline fs::path jest_js() {
  fs::path p = fixtures_dir() / "node_modules" / "jest" / "bin" / "jest.js";
  if (!fs::exists(p))
    throw std::runtime_error(p.string() + " is missing: install the fixtures' jest with scripts/setup.sh "
                             "(or `npm ci` in tests/fixtures)");
  return p;
}

// Copies tests/fixtures/<rel> to <dest> (a new directory).
inline void copy_fixture(const std::string& rel, const fs::path& dest) {
  fs::path src = fixtures_dir() / rel;
  if (!fs::is_directory(src)) throw std::runtime_error("no fixture " + src.string());
  fs::create_directories(dest);
  fs::copy(src, dest, fs::copy_options::recursive);
}

struct Ran {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved
  std::string report;  // junit XML or jest JSON ("" when none was written)
};

// Runs argv in cwd; with `tmp` set, TMPDIR points there (the fixtures' flaky tests keep their
// run counter in the temp dir, pytest its tmp_path), so nothing is left behind in /tmp.
inline Ran run_argv(std::vector<std::string> argv, const fs::path& cwd, const fs::path& report_path = {},
                    const fs::path& tmp = {}) {
  host::ProcessSpec spec;
  if (!tmp.empty()) {
    fs::create_directories(tmp);
    spec.env["TMPDIR"] = tmp.string();
  }
  spec.argv = std::move(argv);
  spec.cwd = cwd.string();
  spec.timeout = std::chrono::seconds(120);
  spec.env["FORCE_COLOR"] = "0";
  spec.env["NO_COLOR"] = "1";
  spec.env["PYTHONDONTWRITEBYTECODE"] = "1";
  auto r = host::run_process(spec);
  if (!r) throw std::runtime_error("running " + spec.argv[0] + ": " + r.status().to_string());
  if (!r->spawn_error.empty()) throw std::runtime_error("running " + spec.argv[0] + ": " + r->spawn_error);
  Ran out;
  out.exit_code = r->exit_code;
  out.output = std::move(r->output.data);
  if (!report_path.empty() && fs::exists(report_path)) out.report = read_file(report_path);
  return out;
}

// `python3 -m pytest [extra...] --junitxml=<f> -rfE --color=no -p no:cacheprovider` in `dir`.
inline Ran run_pytest(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  fs::path report = dir.parent_path() / (dir.filename().string() + "-report.xml");
  std::vector<std::string> argv{k_python, "-m", "pytest"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (const char* a : {"-rfE", "--color=no", "-p", "no:cacheprovider"}) argv.emplace_back(a);
  argv.push_back("--junitxml=" + report.string());
  return run_argv(std::move(argv), dir, report, dir.parent_path() / "tmp");
}

// `node <fixtures>/node_modules/jest/bin/jest.js [extra...] --json --outputFile=<f>
// --testLocationInResults --ci` in `dir`.
inline Ran run_jest(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  fs::path report = dir.parent_path() / (dir.filename().string() + "-report.json");
  std::vector<std::string> argv{"node", jest_js().string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (const char* a : {"--json", "--testLocationInResults", "--ci"}) argv.emplace_back(a);
  argv.push_back("--outputFile=" + report.string());
  return run_argv(std::move(argv), dir, report, dir.parent_path() / "tmp");
}

}  // namespace fixhost::testing
