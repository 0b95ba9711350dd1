#include "fixhost/host/suite_runner.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fixhost/host/process.hpp"
#include "fixhost/store/capture.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;

namespace {

std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// For a single-test run, positional arguments that name files or directories would select
// more tests; drop them and keep the options.
std::vector<std::string> without_path_args(const std::vector<std::string>& cmd, std::size_t keep_prefix,
                                           const fs::path& cwd) {
  std::vector<std::string> out(cmd.begin(), cmd.begin() + static_cast<std::ptrdiff_t>(std::min(keep_prefix, cmd.size())));
  for (std::size_t i = keep_prefix; i < cmd.size(); ++i) {
    const std::string& a = cmd[i];
    std::error_code ec;
    if (!a.empty() && a[0] != '-' && fs::exists(cwd / a, ec)) continue;
    out.push_back(a);
  }
  return out;
}

std::size_t pytest_prefix_len(const std::vector<std::string>& cmd) {
  for (std::size_t i = 0; i < cmd.size(); ++i)
    if (cmd[i] == "pytest" || cmd[i].ends_with("/pytest") || cmd[i] == "py.test") return i + 1;
  return std::min<std::size_t>(cmd.size(), 1);
}

std::size_t jest_prefix_len(const std::vector<std::string>& cmd) {
  for (std::size_t i = 0; i < cmd.size(); ++i)
    if (cmd[i] == "jest" || cmd[i].ends_with("/jest") || cmd[i].ends_with("jest.js")) return i + 1;
  return std::min<std::size_t>(cmd.size(), 1);
}

std::string read_file(const std::string& path, std::uint64_t& total, std::uint64_t& cut) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  store::CappedCapture cap(16u << 20, 16u << 20);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) cap.append(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  auto blob = std::move(cap).finish();
  total = blob.total_bytes;
  cut = blob.cut_bytes;
  return std::move(blob.data);
}

// jest's -t pattern for a test id "<file>::<a › b › title>". jest matches it against the
// describe blocks and the title joined by spaces, and a title may itself hold " › " (test.each
// names do), so each " › " of the id matches either.
std::string jest_name_pattern(std::string_view id) {
  static const std::string k_arrow = " \xE2\x80\xBA ";  // " › "
  auto sep = id.find("::");
  std::string_view rest = sep == std::string_view::npos ? std::string_view() : id.substr(sep + 2);
  std::string out = "^";
  for (std::size_t pos = 0;;) {
    auto next = rest.find(k_arrow, pos);
    out += regex_escape(rest.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    out += "(?: |" + k_arrow + ")";
    pos = next + k_arrow.size();
  }
  return out + "$";
}

}  // namespace

std::pair<std::string, std::string> split_jest_test_id(std::string_view id) {
  auto sep = id.find("::");
  if (sep == std::string_view::npos) return {std::string(id), ""};
  std::string file(id.substr(0, sep));
  std::string rest(id.substr(sep + 2));
  std::string name;
  static const std::string k_arrow = " \xE2\x80\xBA ";  // " › "
  std::size_t pos = 0;
  for (;;) {
    auto next = rest.find(k_arrow, pos);
    if (!name.empty()) name += ' ';
    name += rest.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (next == std::string::npos) break;
    pos = next + k_arrow.size();
  }
  return {file, name};
}

std::vector<std::string> suite_argv(const SuiteConfig& suite, const SuiteRequest& req, const std::string& report_path) {
  fs::path cwd = req.root / suite.cwd;
  std::vector<std::string> argv;
  if (suite.runner == "pytest") {
    argv = req.test_id.empty() ? suite.command : without_path_args(suite.command, pytest_prefix_len(suite.command), cwd);
    if (!req.test_id.empty()) argv.push_back(req.test_id);
    argv.push_back("--junitxml=" + report_path);
    argv.push_back("-rfE");
    argv.push_back("--color=no");
    argv.push_back("-p");
    argv.push_back("no:cacheprovider");
  } else {
    argv = req.test_id.empty() ? suite.command : without_path_args(suite.command, jest_prefix_len(suite.command), cwd);
    if (!req.test_id.empty()) {
      auto [file, name] = split_jest_test_id(req.test_id);
      argv.push_back(regex_escape(file));
      if (!name.empty()) {
        argv.push_back("-t");
        argv.push_back(jest_name_pattern(req.test_id));
      }
    }
    argv.push_back("--json");
    argv.push_back("--outputFile=" + report_path);
    argv.push_back("--testLocationInResults");
    argv.push_back("--ci");
  }
  return argv;
}

events::SuiteFinished run_suite(const SuiteConfig& suite, const SuiteRequest& req,
                                const std::function<void(const events::SuiteStarted&)>& started,
                                const std::function<void(std::string_view)>& on_output) {
  std::string tmpl = (fs::temp_directory_path() / "fixhost-report-XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  if (fd >= 0) ::close(fd);
  std::string report_path = tmpl + (suite.runner == "pytest" ? ".xml" : ".json");
  if (fd >= 0) fs::remove(tmpl);

  events::SuiteStarted s;
  s.suite = suite.name;
  s.runner = suite.runner;
  s.purpose = req.purpose;
  s.test_id = req.test_id;
  s.argv = suite_argv(suite, req, report_path);
  s.cwd = (req.root / suite.cwd).lexically_normal().string();
  if (started) started(s);

  ProcessSpec spec;
  spec.argv = s.argv;
  spec.cwd = s.cwd;
  spec.timeout = suite.timeout;
  spec.env = req.env;
  spec.env["FORCE_COLOR"] = "0";
  spec.env["NO_COLOR"] = "1";
  spec.env["PYTHONDONTWRITEBYTECODE"] = "1";

  events::SuiteFinished f;
  f.suite = s.suite;
  f.runner = s.runner;
  f.purpose = s.purpose;
  f.test_id = s.test_id;
  auto r = run_process(spec, on_output);
  if (!r) {
    f.exit_code = -1;
    f.error = r.status().to_string();
  } else {
    f.exit_code = r->exit_code;
    f.signal = r->signal;
    f.timed_out = r->timed_out;
    f.duration_ms = r->duration_ms;
    f.output = std::move(r->output);
    f.error = r->spawn_error;
    if (r->timed_out)
      f.error = "suite '" + suite.name + "' ran out of its " + std::to_string(suite.timeout.count()) +
                " s timeout and its process group was killed; raise timeout in [[suites]] of fixhost.toml";
  }
  std::error_code ec;
  if (fs::exists(report_path, ec)) {
    f.report.data = read_file(report_path, f.report.total_bytes, f.report.cut_bytes);
    f.report_format = suite.runner == "pytest" ? "junit_xml" : "jest_json";
    fs::remove(report_path, ec);
  } else {
    f.report_format = "none";
  }
  return f;
}

}  // namespace fixhost::host
