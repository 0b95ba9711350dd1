#include "fixhost/host/world/suite_runner.hpp"
#include "fixhost/host/world/sandbox.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixhost/host/world/junit_rerun.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/store/capture.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;

namespace {

// The parsers tell apart tests of one file that share a name by appending "::<line>" to their
// ids (docs/DETECT.md); the runner only knows the name.
std::string_view without_duplicate_suffix(std::string_view id) {
  auto p = id.rfind("::");
  if (p == std::string_view::npos || p + 2 >= id.size() || id.find("::") == p) return id;
  for (char c : id.substr(p + 2))
    if (c < '0' || c > '9') return id;
  return id.substr(0, p);
}

std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool is_runner_word(const SuiteConfig& suite, std::string_view a) {
  const std::string& runner = suite.runner;
  if (runner == "junit") return !suite.family.empty() && junit::guess_family({std::string(a)}) == suite.family;
  if (runner == "pytest") return a == "pytest" || a.ends_with("/pytest") || a == "py.test";
  return a == "jest" || a.ends_with("/jest") || a.ends_with("jest.js");
}

// Where the runner's own arguments begin in `cmd` (just after its name), or npos when the
// command does not name it (a script, `npm test`).
std::size_t runner_end(const SuiteConfig& suite) {
  for (std::size_t i = 0; i < suite.command.size(); ++i)
    if (is_runner_word(suite, suite.command[i])) return i + 1;
  return std::string::npos;
}

bool is_package_runner(std::string_view a) {
  auto base = a.substr(a.rfind('/') == std::string_view::npos ? 0 : a.rfind('/') + 1);
  return base == "npm" || base == "yarn" || base == "pnpm";
}

// The runner's selection arguments for `ids`: pytest node ids; for jest the test files (as
// the regexes jest takes) and one -t pattern matching every name.
std::vector<std::string> selection_args(const SuiteConfig& suite, const std::vector<std::string>& ids);

// jest's -t pattern for a test id "<file>::<a › b › title>". jest matches it against the
// describe blocks and the title joined by spaces, and a title may itself hold " › " (test.each
// names do), so each " › " of the id matches either.
std::string jest_name_pattern(std::string_view id) {
  static const std::string k_arrow = " \xE2\x80\xBA ";  // " › "
  id = without_duplicate_suffix(id);
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
  id = without_duplicate_suffix(id);
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

namespace {

std::vector<std::string> selection_args(const SuiteConfig& suite, const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  if (suite.runner == "junit") {
    bool dashdash = false;
    if (!junit::selection(suite.family, suite.junit_families, ids, out, dashdash).is_ok()) out.clear();
    return out;
  }
  if (suite.runner == "pytest") {
    for (const auto& id : ids) {
      std::string one(without_duplicate_suffix(id));
      if (std::find(out.begin(), out.end(), one) == out.end()) out.push_back(one);
    }
    return out;
  }
  std::set<std::string> files;
  std::vector<std::string> names;
  bool whole_file = false;
  for (const auto& id : ids) {
    auto [file, name] = split_jest_test_id(id);
    if (files.insert(file).second) out.push_back(regex_escape(file));
    if (name.empty()) whole_file = true;  // a suite that failed to run: all of its file
    else names.push_back(id);
  }
  if (names.size() == 1 && !whole_file) {
    out.push_back("-t");
    out.push_back(jest_name_pattern(names.front()));
  } else if (!names.empty() && !whole_file) {
    std::string pattern;
    for (const auto& id : names) {
      std::string one = jest_name_pattern(id);  // ^...$
      if (!pattern.empty()) pattern += "|";
      pattern += "(?:" + one.substr(1, one.size() - 2) + ")";
    }
    out.push_back("-t");
    out.push_back("^(?:" + pattern + ")$");
  }
  return out;
}

}  // namespace

std::vector<std::string> collect_argv(const SuiteConfig& suite) {
  if (suite.runner == "junit") return {};  // JUnit XML runners share no way to list tests
  const bool via_package = !suite.command.empty() && is_package_runner(suite.command[0]);
  if (runner_end(suite) == std::string::npos && !via_package) return {};
  std::vector<std::string> argv = suite.command;
  if (via_package && std::find(argv.begin(), argv.end(), "--") == argv.end()) argv.push_back("--");
  if (suite.runner == "pytest")
    argv.insert(argv.end(), {"--collect-only", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                             "--color=no"});
  else
    argv.push_back("--listTests");
  return argv;
}

std::string narrowing_note(const SuiteConfig& suite) {
  if (suite.runner == "junit" && suite.rerun.empty() && suite.family.empty())
    return "suite '" + suite.name + "': fixhost cannot tell which runner its command runs, so re-runs of single tests "
           "run the whole suite; set family = \"vitest\" (or mocha, gotestsum, nextest, surefire, phpunit) or "
           "rerun = [..., \"{tests}\"] in its [[suites]] (docs/RUNNERS.md)";
  if (!suite.rerun.empty() || runner_end(suite) != std::string::npos) return "";
  if (!suite.command.empty() && is_package_runner(suite.command[0])) return "";
  std::string cmd;
  for (const auto& a : suite.command) cmd += (cmd.empty() ? "" : " ") + a;
  return "suite '" + suite.name + "': its command '" + cmd + "' does not name " + suite.runner +
         ", so fixhost appends the tests to re-run to it and cannot tell whether they reach " + suite.runner +
         "; if re-runs run the whole suite, set rerun = [..., \"{tests}\"] in its [[suites]] (docs/CONFIG.md)";
}

std::vector<std::string> suite_argv(const SuiteConfig& suite, const SuiteRequest& req, const std::string& report_path) {
  fs::path cwd = req.root / suite.cwd;
  std::vector<std::string> argv;
  if (req.test_ids.empty()) {
    argv = suite.command;
  } else if (!suite.rerun.empty()) {
    for (const auto& a : suite.rerun) {
      if (a != "{tests}") {
        argv.push_back(a);
        continue;
      }
      auto sel = selection_args(suite, req.test_ids);
      argv.insert(argv.end(), sel.begin(), sel.end());
    }
  } else {
    // Narrowing keeps the command whole up to the runner's name (an interpreter, `-m pytest`,
    // a script), then drops the positional paths after it: they would select more tests.
    const std::size_t keep = runner_end(suite);
    const bool via_package = !suite.command.empty() && is_package_runner(suite.command[0]);
    for (std::size_t i = 0; i < suite.command.size(); ++i) {
      const std::string& a = suite.command[i];
      std::error_code ec;
      if (keep != std::string::npos && i >= keep && !a.empty() && a[0] != '-' && fs::exists(cwd / a, ec)) continue;
      argv.push_back(a);
    }
    bool dashdash = via_package;
    if (suite.runner == "junit") {
      std::vector<std::string> unused;
      if (!junit::selection(suite.family, suite.junit_families, req.test_ids, unused, dashdash).is_ok()) dashdash = false;
      dashdash = dashdash || via_package;
    }
    if (dashdash && std::find(argv.begin(), argv.end(), "--") == argv.end()) argv.push_back("--");
    auto sel = selection_args(suite, req.test_ids);
    argv.insert(argv.end(), sel.begin(), sel.end());
  }
  if (suite.runner == "junit") {
    // The command writes its own report: "{report}" becomes the host's private path.
    for (auto& a : argv)
      for (auto p = a.find("{report}"); p != std::string::npos; p = a.find("{report}", p + report_path.size()))
        a.replace(p, 8, report_path);
  } else if (suite.runner == "pytest") {
    argv.push_back("--junitxml=" + report_path);
    argv.push_back("-rfE");
    argv.push_back("--color=no");
    argv.push_back("-p");
    argv.push_back("no:cacheprovider");
    // A file that fails to import must not hide the other files' failures.
    argv.push_back("--continue-on-collection-errors");
    // The flaky check asks only pass or fail: no tracebacks, no assertion rewriting (which
    // re-parses every test file, the larger part of a short re-run).
    if (req.purpose == "flaky_check") argv.insert(argv.end(), {"--tb=no", "--assert=plain"});
  } else {
    argv.push_back("--json");
    argv.push_back("--outputFile=" + report_path);
    argv.push_back("--testLocationInResults");
    argv.push_back("--ci");
    // A run of some tests needs no coverage: it costs most of a short run, and an unmet
    // coverage threshold would fail a run whose tests all passed.
    if (!req.test_ids.empty()) argv.push_back("--coverage=false");
  }
  return argv;
}

std::string read_report_file(const fs::path& path, std::size_t cap, std::uint64_t& total, std::uint64_t& cut,
                             std::string& why) {
  total = cut = 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    why = errno == ELOOP ? "the report '" + path.string() + "' is a symbolic link; it was not followed"
                         : "cannot open the report '" + path.string() + "': " + std::strerror(errno);
    return {};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    why = "the report '" + path.string() + "' is not a regular file (a FIFO, device or directory); it was not read";
    return {};
  }
  store::CappedCapture capture(cap / 2, cap / 2);
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    capture.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  auto blob = std::move(capture).finish();
  total = blob.total_bytes;
  cut = blob.cut_bytes;
  return std::move(blob.data);
}

namespace {

// Removes a report a junit suite left before (a file, or the *.xml files of a report directory).
void clear_old_report(const fs::path& p) {
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (st.type() == fs::file_type::directory) {
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".xml") fs::remove(it->path(), ec);
  } else if (st.type() != fs::file_type::not_found) {
    fs::remove(p, ec);
  }
}

// A junit suite's report: the file, or every *.xml of a directory (Surefire writes one per
// class) inside one <testsuites>, read like any report (no symlinks, capped).
std::string read_junit_reports(const fs::path& p, std::size_t cap, std::uint64_t& total, std::uint64_t& cut,
                               std::string& why) {
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (st.type() == fs::file_type::not_found) {
    why = "the suite wrote no JUnit XML at '" + p.string() + "'; check `report` in its [[suites]] (docs/RUNNERS.md)";
    return {};
  }
  if (st.type() != fs::file_type::directory) return read_report_file(p, cap, total, cut, why);
  std::vector<fs::path> files;
  for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".xml") files.push_back(it->path());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    why = "the report directory '" + p.string() + "' holds no *.xml file after the run";
    return {};
  }
  std::string out = "<testsuites>\n";
  total = cut = 0;
  for (const auto& f : files) {
    std::uint64_t t = 0, c = 0;
    std::string one = read_report_file(f, cap, t, c, why);
    if (!why.empty()) return {};
    total += t;
    cut += c;
    if (one.starts_with("<?xml")) {
      auto end = one.find("?>");
      one.erase(0, end == std::string::npos ? 0 : end + 2);
    }
    out += one;
    out += "\n";
  }
  return out + "</testsuites>\n";
}

}  // namespace

namespace {

// How every run of `suite` is started, but for the sandbox: its directory, timeout and
// environment.
ProcessSpec suite_spec(const SuiteConfig& suite, const SuiteRequest& req, std::vector<std::string> argv) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.cwd = (req.root / suite.cwd).lexically_normal().string();
  spec.timeout = suite.timeout;
  spec.env = req.env;
  spec.env["FORCE_COLOR"] = "0";
  spec.env["NO_COLOR"] = "1";
  spec.env["PYTHONDONTWRITEBYTECODE"] = "1";
  return spec;
}

// The warm process: loads pytest and the plugins pytest always loads, then reads one line,
// the JSON array of the arguments, and runs them as `python -m pytest` (mode m) or the script
// (mode s, its path next) would. The work is a function so that __main__ stays clean.
constexpr const char* k_warm_stub = R"PY(
def _fixhost_warm():
    import os, sys
    mode = sys.argv[1:]
    # sys.path[0] as `-m` (the directory) or the script (its own directory) has it, before
    # anything is imported, so that pytest comes from where the command would take it.
    if sys.path and sys.path[0] == "":
        sys.path[0] = os.getcwd() if mode[0] == "m" else os.path.dirname(os.path.realpath(mode[1]))
    try:
        import pytest, _pytest.config
        for name in _pytest.config.default_plugins:
            try:
                __import__("_pytest." + name)
            except Exception:
                pass
    except BaseException:
        pass
    line = sys.stdin.buffer.readline()
    if not line.strip():
        sys.exit(0)
    import json, runpy
    args = json.loads(line)
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    if mode[0] == "m":
        sys.argv = ["-m"] + args
        runpy._run_module_as_main("pytest")
    else:
        sys.argv = [mode[1]] + args
        runpy.run_path(mode[1], run_name="__main__")
_fixhost_warm()
)PY";

bool is_python(std::string_view a) {
  auto base = a.substr(a.rfind('/') == std::string_view::npos ? 0 : a.rfind('/') + 1);
  return base.starts_with("python");
}

// `name` as execvp would find it with `path` (the PATH the child gets), or "".
fs::path find_on_path(const std::string& name, const std::string& path, const fs::path& cwd) {
  if (name.find('/') != std::string::npos) return fs::path(name).is_absolute() ? fs::path(name) : cwd / name;
  std::stringstream dirs(path);
  for (std::string d; std::getline(dirs, d, ':');) {
    fs::path p = (d.empty() ? cwd : fs::path(d)) / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// The interpreter words of a script's "#!" line when it names python, else empty.
std::vector<std::string> python_shebang(const fs::path& script) {
  std::ifstream in(script, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line) || !line.starts_with("#!")) return {};
  std::istringstream words(line.substr(2));
  std::vector<std::string> w;
  for (std::string x; words >> x;) w.push_back(x);
  if (w.size() == 2 && w[0] == "/usr/bin/env" && is_python(w[1])) return w;
  if (w.size() == 1 && is_python(w[0])) return w;
  return {};
}

std::atomic<std::uint64_t> g_warm_used{0};

}  // namespace

std::unique_ptr<WarmRun> WarmRun::start(const SuiteConfig& suite, const SuiteRequest& req) {
  if (suite.runner != "pytest" || suite.sandbox) return nullptr;
  const std::size_t end = runner_end(suite);
  if (end == std::string::npos) return nullptr;
  std::vector<std::string> prefix(suite.command.begin(), suite.command.begin() + static_cast<std::ptrdiff_t>(end));
  std::vector<std::string> stub;
  if (end >= 3 && prefix[end - 1] == "pytest" && prefix[end - 2] == "-m" && is_python(prefix[0])) {
    stub.assign(prefix.begin(), prefix.end() - 2);  // the interpreter and its flags
    stub.insert(stub.end(), {"-c", k_warm_stub, "m"});
  } else if (end == 1) {
    const fs::path cwd = req.root / suite.cwd;
    auto path_it = req.env.find("PATH");
    const char* host_path = std::getenv("PATH");
    fs::path script = find_on_path(prefix[0], path_it != req.env.end() ? path_it->second : host_path ? host_path : "",
                                   cwd);
    if (script.empty()) return nullptr;
    stub = python_shebang(script);
    if (stub.empty()) return nullptr;
    stub.insert(stub.end(), {"-c", k_warm_stub, "s", script.string()});
  } else {
    return nullptr;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return nullptr;
  std::unique_ptr<WarmRun> w(new WarmRun());
  w->prefix_ = std::move(prefix);
  w->root_ = req.root;
  w->env_ = req.env;
  w->feed_fd_ = sv[0];
  ProcessSpec spec = suite_spec(suite, req, std::move(stub));
  spec.stdin_fd = sv[1];
  spec.on_hold = &w->hold_;
  WarmRun* self = w.get();
  const int child_end = sv[1];
  w->thread_ = std::thread([self, spec = std::move(spec), child_end] {
    auto r = run_process(spec, [self](std::string_view chunk) {
      std::lock_guard lock(self->mu_);
      if (self->sink_) self->sink_(chunk);
    });
    ::close(child_end);
    std::lock_guard lock(self->mu_);
    self->ended_ = true;
    self->result_ = std::move(r);
  });
  return w;
}

void WarmRun::finish() {
  if (feed_fd_ >= 0) ::close(feed_fd_);  // an unused process reads EOF and ends
  feed_fd_ = -1;
  hold_ = false;
  if (thread_.joinable()) thread_.join();
}

WarmRun::~WarmRun() { finish(); }

std::uint64_t WarmRun::used_count() { return g_warm_used.load(); }

std::optional<Result<ProcessResult>> WarmRun::run(const std::vector<std::string>& argv, const SuiteRequest& req,
                                                  const std::function<void(std::string_view)>& on_output) {
  if (feed_fd_ < 0 || req.root != root_ || req.env != env_ || argv.size() < prefix_.size() ||
      !std::equal(prefix_.begin(), prefix_.end(), argv.begin()))
    return std::nullopt;
  std::string line;
  try {  // JSON holds UTF-8 only: arguments that are not (a path in another encoding) run cold
    line = nlohmann::json(std::vector<std::string>(argv.begin() + static_cast<std::ptrdiff_t>(prefix_.size()), argv.end()))
               .dump() + "\n";
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  {
    std::lock_guard lock(mu_);
    if (ended_) return std::nullopt;  // it could not wait (killed, or its interpreter is gone)
    sink_ = on_output;
  }
  hold_ = false;
  bool sent = true;
  for (std::size_t off = 0; off < line.size();) {
    ssize_t n = ::send(feed_fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      sent = false;
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  finish();
  std::lock_guard lock(mu_);
  sink_ = nullptr;
  if (!sent || !result_) return std::nullopt;
  ++g_warm_used;
  return std::move(result_);
}

events::SuiteFinished run_suite(const SuiteConfig& suite, const SuiteRequest& req,
                                const std::function<void(const events::SuiteStarted&)>& started,
                                const std::function<void(std::string_view)>& on_output) {
  // The report goes into a directory of our own (mode 0700, outside the worktree), so nothing
  // the agent left behind can stand in its place.
  std::string tmpl = (fs::temp_directory_path() / "fixhost-report-XXXXXX").string();
  const bool have_dir = ::mkdtemp(tmpl.data()) != nullptr;
  const fs::path report_dir = have_dir ? fs::path(tmpl) : fs::temp_directory_path();
  std::string report_path = (report_dir / (suite.runner == "jest" ? "report.json" : "report.xml")).string();
  // A junit suite's `report` is where its command writes: cleared first, so an old one is never read.
  fs::path user_report;
  if (suite.runner == "junit" && !suite.report.empty()) {
    user_report = req.root / suite.cwd / suite.report;
    clear_old_report(user_report);
  }

  events::SuiteStarted s;
  s.suite = suite.name;
  s.runner = suite.runner;
  s.purpose = req.purpose;
  s.test_id = req.test_ids.size() == 1 ? req.test_ids.front() : "";
  s.test_ids = req.test_ids.size() > 1 ? req.test_ids : std::vector<std::string>{};
  s.argv = suite_argv(suite, req, report_path);
  s.cwd = (req.root / suite.cwd).lexically_normal().string();
  if (started) started(s);

  ProcessSpec spec = suite_spec(suite, req, s.argv);
  if (suite.sandbox) {  // the worktree holds the agent's code: run it as contained as the agent
    SandboxLayout layout = *suite.sandbox;
    if (have_dir) layout.scratch.push_back(report_dir);
    spec.argv = sandbox_argv(layout, s.argv);
  }

  events::SuiteFinished f;
  f.suite = s.suite;
  f.runner = s.runner;
  f.purpose = s.purpose;
  f.test_id = s.test_id;
  f.test_ids = s.test_ids;
  auto warm = req.warm ? req.warm->run(s.argv, req, on_output) : std::nullopt;
  auto r = warm ? std::move(*warm) : run_process(spec, on_output);
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
  f.family = suite.family;
  f.cwd = s.cwd;
  std::error_code ec;
  f.report_format = "none";
  if (!user_report.empty()) {
    std::string why;
    f.report.data = read_junit_reports(user_report, 32u << 20, f.report.total_bytes, f.report.cut_bytes, why);
    if (!f.report.data.empty()) f.report_format = "junit_xml";
    else if (!why.empty()) f.error = f.error.empty() ? why : f.error + "; " + why;
  } else if (fs::symlink_status(report_path, ec).type() != fs::file_type::not_found) {
    std::string why;
    f.report.data = read_report_file(report_path, 32u << 20, f.report.total_bytes, f.report.cut_bytes, why);
    if (why.empty()) f.report_format = suite.runner == "jest" ? "jest_json" : "junit_xml";
    else f.error = f.error.empty() ? why : f.error + "; " + why;
  }
  if (have_dir) fs::remove_all(report_dir, ec);
  return f;
}

}  // namespace fixhost::host
