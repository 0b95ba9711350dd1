#include "fixhost/host/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "fixhost/host/world/junit_rerun.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return make_error(Errc::invalid_argument, "empty duration; write e.g. \"90s\", \"5m\" or \"1h\"");
  // Past 100 years a duration is a typo; the bound also keeps the arithmetic below from
  // overflowing (found by fuzz_config, issue 9).
  constexpr long long k_max_seconds = 100LL * 365 * 86400;
  auto too_long = [&] {
    return make_error(Errc::invalid_argument, "duration '" + std::string(text) + "' is longer than 100 years");
  };
  long long total = 0, cur = 0;
  bool have_digit = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + (c - '0');
      if (cur > k_max_seconds) return too_long();
      have_digit = true;
      continue;
    }
    long long mult = c == 's' ? 1 : c == 'm' ? 60 : c == 'h' ? 3600 : c == 'd' ? 86400 : -1;
    if (mult < 0 || !have_digit)
      return make_error(Errc::invalid_argument,
                        "duration '" + std::string(text) + "' is not understood; write e.g. \"90s\", \"5m\", \"1h30m\"");
    total += cur * mult;
    if (total > k_max_seconds) return too_long();
    cur = 0;
    have_digit = false;
  }
  total += cur;  // a bare number is seconds
  if (total > k_max_seconds) return too_long();
  return std::chrono::seconds(total);
}

bool python_has_pytest(const std::string& python) {
  ProcessSpec spec;
  spec.argv = {python, "-c", "import pytest"};
  spec.timeout = std::chrono::seconds(20);
  auto r = run_process(spec);
  return r.is_ok() && r->exit_code == 0 && r->spawn_error.empty();
}

namespace {

std::string where(const Config& c, std::string_view key) {
  return "'" + c.file.string() + "': " + std::string(key);
}

Status read_string_list(const Config& c, const toml::node* n, std::string_view key, std::vector<std::string>& out) {
  if (!n) return Status::ok();
  const toml::array* a = n->as_array();
  if (!a) return make_error(Errc::invalid_argument, where(c, key) + " must be an array of strings, e.g. [\"a\", \"b\"]");
  out.clear();
  for (const auto& el : *a) {
    auto s = el.value<std::string>();
    if (!s) return make_error(Errc::invalid_argument, where(c, key) + " must contain only strings");
    out.push_back(*s);
  }
  return Status::ok();
}

Status read_duration(const Config& c, const toml::node* n, std::string_view key, std::chrono::seconds& out) {
  if (!n) return Status::ok();
  if (auto i = n->value<int64_t>()) {
    out = std::chrono::seconds(*i);
    return Status::ok();
  }
  if (auto s = n->value<std::string>()) {
    auto d = parse_duration(*s);
    if (!d) return make_error(Errc::invalid_argument, where(c, key) + ": " + d.status().message());
    out = *d;
    return Status::ok();
  }
  return make_error(Errc::invalid_argument, where(c, key) + " must be seconds or a duration string such as \"5m\"");
}

std::string pick_python(std::vector<std::string>& notes) {
  if (const char* env = std::getenv("FIXHOST_PYTHON"); env && *env) return env;
  for (const char* cand : {"python3", "/usr/bin/python3"}) {
    if (python_has_pytest(cand)) {
      if (std::string(cand) != "python3")
        notes.push_back(std::string("python3 on PATH cannot import pytest; using ") + cand +
                        " (set python = \"...\" in fixhost.toml or FIXHOST_PYTHON to choose)");
      return cand;
    }
  }
  notes.push_back("no Python interpreter with pytest found (tried python3, /usr/bin/python3); "
                  "install it (apt install python3-pytest) or set python = \"...\" in fixhost.toml");
  return "python3";
}

bool file_contains(const fs::path& p, std::string_view needle) {
  std::ifstream in(p);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().find(needle) != std::string::npos;
}

bool has_python_tests(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    auto name = it->path().filename().string();
    if (it->is_directory() && (name == "node_modules" || name.starts_with("."))) {
      it.disable_recursion_pending();
      continue;
    }
    if (name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))) return true;
  }
  return false;
}

void detect_suites(Config& c, const std::function<const std::string&()>& python) {
  const fs::path& r = c.repo;
  std::string why;
  if (fs::exists(r / "pytest.ini")) why = "pytest.ini";
  else if (fs::exists(r / "pyproject.toml") && file_contains(r / "pyproject.toml", "[tool.pytest")) why = "pyproject.toml [tool.pytest]";
  else if (fs::exists(r / "setup.cfg") && file_contains(r / "setup.cfg", "[tool:pytest]")) why = "setup.cfg [tool:pytest]";
  else if (fs::exists(r / "conftest.py")) why = "conftest.py";
  else if (fs::is_directory(r / "tests") && has_python_tests(r / "tests")) why = "tests/ with test_*.py";
  if (!why.empty()) {
    SuiteConfig s;
    s.name = "pytest";
    s.runner = "pytest";
    s.command = {python(), "-m", "pytest"};
    c.suites.push_back(s);
    c.notes.push_back("detected a pytest suite (" + why + "), run as '" + c.python + " -m pytest'");
  }
  if (fs::exists(r / "package.json") &&
      (file_contains(r / "package.json", "\"jest\"") || fs::exists(r / "jest.config.js"))) {
    SuiteConfig s;
    s.name = "jest";
    s.runner = "jest";
    if (fs::exists(r / "node_modules/.bin/jest")) s.command = {"node_modules/.bin/jest"};
    else s.command = {"npx", "--no-install", "jest"};
    c.suites.push_back(s);
    c.notes.push_back("detected a jest suite (package.json mentions jest), run as '" + s.command[0] + "'");
  }
  if (fs::exists(r / "package.json") && file_contains(r / "package.json", "\"vitest\"")) {
    SuiteConfig s;
    s.name = "vitest";
    s.runner = "junit";
    s.family = "vitest";
    const std::string bin = fs::exists(r / "node_modules/.bin/vitest") ? "node_modules/.bin/vitest" : "vitest";
    s.command = {bin, "run", "--reporter=junit", "--outputFile={report}"};
    if (bin == "vitest") s.command.insert(s.command.begin(), {"npx", "--no-install"});
    c.suites.push_back(s);
    c.notes.push_back("detected a vitest suite (package.json mentions vitest), run as '" + bin +
                      " run' with its JUnit reporter (runner = \"junit\", docs/RUNNERS.md)");
  }
  if (c.suites.empty()) return;
  if (c.file.empty())
    c.notes.push_back("no fixhost.toml: write [[suites]] entries there to choose the suites yourself (docs/CONFIG.md)");
  else
    c.notes.push_back("'" + c.file.string() + "' has no [[suites]]: using the suites detected above; add [[suites]] "
                      "entries to choose them yourself (docs/CONFIG.md)");
}

// A junit suite names its command and where the report goes; its family is guessed from the
// command's words when not given.
Status check_junit_suite(const Config& c, const std::string& key, SuiteConfig& s) {
  if (s.command.empty() || (s.command.size() == 1 && s.command[0] == "npx"))
    return make_error(Errc::invalid_argument, where(c, key + ".command") +
                                                  " is required for runner = \"junit\": the command that runs the tests "
                                                  "and writes JUnit XML, e.g. [\"npx\", \"vitest\", \"run\", "
                                                  "\"--reporter=junit\", \"--outputFile={report}\"] (docs/RUNNERS.md)");
  const bool placeholder = std::any_of(s.command.begin(), s.command.end(),
                                       [](const std::string& a) { return a.find("{report}") != std::string::npos; });
  if (s.report.empty() && !placeholder)
    return make_error(Errc::invalid_argument, where(c, key) +
                                                  " (runner = \"junit\") says neither where the JUnit XML is written "
                                                  "(report = \"test-results/junit.xml\") nor has \"{report}\" in its "
                                                  "command (e.g. \"--outputFile={report}\"); give one (docs/RUNNERS.md)");
  if (!s.report.empty() && placeholder)
    return make_error(Errc::invalid_argument, where(c, key) +
                                                  " has both report = \"" + s.report +
                                                  "\" and \"{report}\" in its command; keep one");
  if (!s.report.empty() && (fs::path(s.report).is_absolute() || s.report.find("..") != std::string::npos))
    return make_error(Errc::invalid_argument, where(c, key + ".report") + " is '" + s.report +
                                                  "'; it must be a path inside the suite's cwd, e.g. \"junit.xml\"");
  s.junit_families = c.junit_families;
  if (s.family.empty()) s.family = junit::guess_family(s.command);
  else if (!junit::known_family(s.family, c.junit_families))
    return make_error(Errc::invalid_argument, where(c, key + ".family") + " is '" + s.family + "'; it must be one of " +
                                                  junit::family_names(c.junit_families) +
                                                  " or a [junit_families." + s.family + "] table (docs/RUNNERS.md)");
  return Status::ok();
}

Status read_suites(Config& c, const toml::table& t, const std::function<const std::string&()>& python) {
  const toml::node* n = t.get("suites");
  if (!n) return Status::ok();
  const toml::array* arr = n->as_array();
  if (!arr) return make_error(Errc::invalid_argument, where(c, "suites") + " must be an array of tables: [[suites]]");
  int idx = 0;
  for (const auto& el : *arr) {
    ++idx;
    const toml::table* st = el.as_table();
    std::string key = "suites[" + std::to_string(idx) + "]";
    if (!st) return make_error(Errc::invalid_argument, where(c, key) + " must be a table");
    SuiteConfig s;
    s.name = st->get("name") ? st->get("name")->value_or<std::string>("") : "";
    s.runner = st->get("runner") ? st->get("runner")->value_or<std::string>("") : "";
    if (s.runner != "pytest" && s.runner != "jest" && s.runner != "junit")
      return make_error(Errc::invalid_argument, where(c, key + ".runner") + " is '" + s.runner +
                                                    "'; it must be \"pytest\", \"jest\" or \"junit\" (any runner that "
                                                    "writes JUnit XML, docs/RUNNERS.md)");
    if (auto f = st->get("family")) s.family = f->value_or<std::string>("");
    if (auto r = st->get("report")) s.report = r->value_or<std::string>("");
    if (s.name.empty()) s.name = s.runner;
    if (auto st2 = read_string_list(c, st->get("command"), key + ".command", s.command); !st2) return st2;
    if (s.command.empty() && s.runner != "junit") {
      if (s.runner == "pytest") s.command = {python(), "-m", "pytest"};
      else s.command = {"npx", "--no-install", "jest"};
    }
    if (s.runner == "junit") {
      if (auto st2 = check_junit_suite(c, key, s); !st2) return st2;
    }
    if (auto cwd = st->get("cwd")) s.cwd = cwd->value_or<std::string>(".");
    if (auto st2 = read_duration(c, st->get("timeout"), key + ".timeout", s.timeout); !st2) return st2;
    if (auto st2 = read_string_list(c, st->get("rerun"), key + ".rerun", s.rerun); !st2) return st2;
    if (!s.rerun.empty() && std::find(s.rerun.begin(), s.rerun.end(), "{tests}") == s.rerun.end())
      return make_error(Errc::invalid_argument, where(c, key + ".rerun") +
                                                    " has no \"{tests}\" element: write where the tests to re-run go, "
                                                    "e.g. rerun = [\"sh\", \"run-tests.sh\", \"{tests}\"]");
    if (auto st2 = read_string_list(c, st->get("setup"), key + ".setup", s.setup); !st2) return st2;
    if (auto n = st->get("link_node_modules")) {
      auto b = n->value<bool>();
      if (!b) return make_error(Errc::invalid_argument, where(c, key + ".link_node_modules") + " must be true or false");
      s.link_node_modules = *b;
    }
    for (const auto& other : c.suites)
      if (other.name == s.name)
        return make_error(Errc::invalid_argument, where(c, key + ".name") + ": two suites are named '" + s.name +
                                                      "'; give each a unique name");
    c.suites.push_back(std::move(s));
  }
  return Status::ok();
}

// [sandbox]: enabled, network, read_only, writable, hidden, bwrap.
Status read_sandbox(Config& c, const toml::node* n) {
  if (!n) return Status::ok();
  const toml::table* sb = n->as_table();
  if (!sb) return make_error(Errc::invalid_argument, where(c, "sandbox") + " must be a table: [sandbox]");
  for (const auto& [k, v] : *sb) {
    const std::string key(k.str());
    if (key == "enabled" || key == "network") {
      auto b = v.value<bool>();
      if (!b) return make_error(Errc::invalid_argument, where(c, "sandbox." + key) + " must be true or false");
      (key == "enabled" ? c.sandbox.enabled : c.sandbox.network) = *b;
    } else if (key == "read_only" || key == "writable" || key == "hidden") {
      auto& out = key == "read_only" ? c.sandbox.read_only : key == "writable" ? c.sandbox.writable : c.sandbox.hidden;
      if (auto st = read_string_list(c, &v, "sandbox." + key, out); !st) return st;
    } else if (key == "bwrap") {
      auto s = v.value<std::string>();
      if (!s || s->empty())
        return make_error(Errc::invalid_argument, where(c, "sandbox.bwrap") + " must be a program, e.g. \"/usr/bin/bwrap\"");
      c.sandbox.bwrap = *s;
    } else {
      return make_error(Errc::invalid_argument, where(c, "sandbox." + key) +
                                                    " is not a sandbox setting; use enabled, network, read_only, "
                                                    "writable, hidden or bwrap (docs/CONFIG.md)");
    }
  }
  return Status::ok();
}

// [heal]: docs/HEAL.md#configuration.
Status read_heal(Config& c, const toml::node* n) {
  if (!n) return Status::ok();
  const toml::table* h = n->as_table();
  if (!h) return make_error(Errc::invalid_argument, where(c, "heal") + " must be a table: [heal]");
  auto bad = [&](const std::string& key, const std::string& what) {
    return make_error(Errc::invalid_argument, where(c, "heal." + key) + " " + what);
  };
  for (const auto& [k, v] : *h) {
    const std::string key(k.str());
    if (key == "ingest_keys" || key == "exclude") {
      if (auto st = read_string_list(c, &v, "heal." + key, key == "exclude" ? c.heal.exclude : c.heal.ingest_keys); !st)
        return st;
    } else if (key == "listen" || key == "gh" || key == "remote" || key == "report_webhook") {
      auto s = v.value<std::string>();
      if (!s || (key != "report_webhook" && s->empty())) return bad(key, "must be a non-empty string");
      (key == "listen" ? c.heal.listen : key == "gh" ? c.heal.gh : key == "remote" ? c.heal.remote : c.heal.report_webhook) = *s;
    } else if (key == "max_event_bytes" || key == "max_request_bytes" || key == "max_errors_per_hour" || key == "max_fixes") {
      auto i = v.value<int64_t>();
      if (!i || *i < 1) return bad(key, "must be a whole number, 1 or more");
      if (key == "max_fixes") c.heal.max_fixes = static_cast<int>(std::min<int64_t>(*i, 1000));
      else (key == "max_event_bytes" ? c.heal.max_event_bytes : key == "max_request_bytes" ? c.heal.max_request_bytes
                                                                                           : c.heal.max_errors_per_hour) =
          static_cast<std::uint64_t>(*i);
    } else if (key == "webhook_tolerance" || key == "budget" || key == "api_cache") {
      auto& out = key == "webhook_tolerance" ? c.heal.webhook_tolerance : key == "budget" ? c.heal.budget : c.heal.api_cache;
      if (auto st = read_duration(c, &v, "heal." + key, out); !st) return st;
    } else if (key == "resolve") {
      auto b = v.value<bool>();
      if (!b) return bad(key, "must be true or false");
      c.heal.resolve = *b;
    } else {
      return bad(key, "is not a heal setting; use ingest_keys, listen, max_event_bytes, max_request_bytes, "
                      "webhook_tolerance, max_errors_per_hour, exclude, gh, remote, max_fixes, budget, api_cache, "
                      "resolve or report_webhook (docs/HEAL.md)");
    }
  }
  if (c.heal.max_event_bytes > c.heal.max_request_bytes)
    return bad("max_event_bytes", "is larger than heal.max_request_bytes; an event must fit in a request");
  return Status::ok();
}

}  // namespace

Result<Config> load_config(const fs::path& repo_in, bool probe_python) {
  Config c;
  std::error_code ec;
  c.repo = fs::weakly_canonical(fs::absolute(repo_in), ec);
  if (!fs::is_directory(c.repo))
    return make_error(Errc::not_found, "repository '" + repo_in.string() + "' is not a directory; pass --repo DIR");
  fs::path file = c.repo / "fixhost.toml";
  toml::table t;
  if (fs::exists(file)) {
    c.file = file;
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    c.text = ss.str();
    try {
      t = toml::parse(c.text, file.string());
    } catch (const toml::parse_error& e) {
      const auto& b = e.source().begin;
      return make_error(Errc::invalid_argument, "'" + file.string() + "' line " + std::to_string(b.line) + ", column " +
                                                    std::to_string(b.column) + ": " + std::string(e.description()) +
                                                    "; fix the TOML syntax there");
    }
  }
  if (auto p = t.get("python")) c.python = p->value_or<std::string>("");
  // The interpreter is looked for (and spoken of) only when a pytest suite needs it.
  bool picked = !c.python.empty();
  auto python = [&]() -> const std::string& {
    if (!picked) c.python = probe_python ? pick_python(c.notes) : "python3";
    picked = true;
    return c.python;
  };

  if (auto jf = t.get("junit_families")) {
    const toml::table* tab = jf->as_table();
    if (!tab)
      return make_error(Errc::invalid_argument, where(c, "junit_families") +
                                                    " must be a table of [junit_families.<family>] tables (docs/RUNNERS.md)");
    std::stringstream ss;
    ss << *tab;
    c.junit_families = ss.str();
    // The junit_parser plugin names tests with the same families.
    c.plugin_config["junit_parser"] = c.junit_families;
  }

  if (auto st = read_suites(c, t, python); !st) return st;
  if (c.file.empty() || !t.get("suites")) detect_suites(c, python);
  if (!picked) c.python = "python3";

  std::vector<std::string> dirs;
  if (auto st = read_string_list(c, t.get("plugin_dirs"), "plugin_dirs", dirs); !st) return st;
  for (auto& d : dirs) c.plugin_dirs.push_back(fs::path(d).is_absolute() ? fs::path(d) : c.repo / d);

  if (auto pt = t.get("plugins")) {
    const toml::table* tab = pt->as_table();
    if (!tab) return make_error(Errc::invalid_argument, where(c, "plugins") + " must be a table of [plugins.<name>] tables");
    for (const auto& [k, v] : *tab) {
      if (k.str() == "external") {
        const toml::array* arr = v.as_array();
        if (!arr)
          return make_error(Errc::invalid_argument, where(c, "plugins.external") +
                                                        " must be an array of tables: [[plugins.external]] command = [\"python3\", \"my_plugin.py\"]");
        int i = 0;
        for (const auto& el : *arr) {
          ++i;
          const std::string key = "plugins.external[" + std::to_string(i) + "]";
          const toml::table* one = el.as_table();
          if (!one) return make_error(Errc::invalid_argument, where(c, key) + " must be a table");
          for (const auto& [ek, ev] : *one)
            if (ek.str() != "command")
              return make_error(Errc::invalid_argument, where(c, key + "." + std::string(ek.str())) +
                                                            " is not a setting of an external plugin; it has only `command` "
                                                            "(its own settings go in [plugins.<its name>])");
          std::vector<std::string> argv;
          if (auto st = read_string_list(c, one->get("command"), key + ".command", argv); !st) return st;
          if (argv.empty())
            return make_error(Errc::invalid_argument, where(c, key + ".command") +
                                                          " is missing or empty; write e.g. command = [\"python3\", \"plugins/rules.py\"]");
          c.external_plugins.push_back(std::move(argv));
        }
        continue;
      }
      const toml::table* one = v.as_table();
      if (!one) return make_error(Errc::invalid_argument, where(c, "plugins." + std::string(k.str())) + " must be a table");
      std::stringstream ss;
      ss << *one;
      c.plugin_config[std::string(k.str())] = ss.str();
    }
  }

  if (auto a = t.get("agent")) c.agent = a->value_or<std::string>("");
  if (auto a = t.get("max_attempts")) {
    c.max_attempts = static_cast<int>(a->value_or<int64_t>(0));
    if (c.max_attempts < 1 || c.max_attempts > 20)
      return make_error(Errc::invalid_argument, where(c, "max_attempts") + " must be a whole number from 1 to 20");
  }
  if (auto a = t.get("flaky_check_max")) {
    c.flaky_check_max = static_cast<int>(a->value_or<int64_t>(-1));
    if (c.flaky_check_max < 0)
      return make_error(Errc::invalid_argument, where(c, "flaky_check_max") + " must be a whole number, 0 or more");
  }
  if (auto a = t.get("max_rounds")) {
    c.max_rounds = static_cast<int>(a->value_or<int64_t>(0));
    if (c.max_rounds < 1 || c.max_rounds > 20)
      return make_error(Errc::invalid_argument, where(c, "max_rounds") + " must be a whole number from 1 to 20");
  }
  if (auto a = t.get("flaky_reruns")) {
    c.flaky_reruns = static_cast<int>(a->value_or<int64_t>(-1));
    if (c.flaky_reruns < 0 || c.flaky_reruns > 20)
      return make_error(Errc::invalid_argument, where(c, "flaky_reruns") + " must be a whole number from 0 to 20");
  }
  for (auto [key, out] : {std::pair{"max_cost_usd", &c.max_cost_usd}, std::pair{"max_attempt_cost_usd", &c.max_attempt_cost_usd}})
    if (auto a = t.get(key)) {
      auto v = a->value<double>();
      if (!v || !std::isfinite(*v) || *v <= 0)
        return make_error(Errc::invalid_argument, where(c, key) + " must be a number of US dollars above 0, e.g. " +
                                                      std::string(key) + " = 2.50 (leave it out for no cap)");
      *out = *v;
    }
  if (auto b = t.get("budget"); b && b->as_table()) {
    if (auto st = read_duration(c, b->as_table()->get("run"), "budget.run", c.run_budget); !st) return st;
    if (auto st = read_duration(c, b->as_table()->get("attempt"), "budget.attempt", c.attempt_budget); !st) return st;
  }
  if (auto st = read_string_list(c, t.get("lint"), "lint", c.lint); !st) return st;
  if (auto st = read_string_list(c, t.get("typecheck"), "typecheck", c.typecheck); !st) return st;
  if (auto st = read_string_list(c, t.get("protected"), "protected", c.protected_paths); !st) return st;
  if (auto st = read_string_list(c, t.get("unprotect"), "unprotect", c.unprotect); !st) return st;
  if (auto st = read_string_list(c, t.get("worktree_include"), "worktree_include", c.worktree_include); !st) return st;
  if (auto st = read_string_list(c, t.get("test_edit_categories"), "test_edit_categories", c.test_edit_categories); !st)
    return st;
  if (auto st = read_sandbox(c, t.get("sandbox")); !st) return st;
  if (auto m = t.get("minutes_per_manual_fix")) c.minutes_per_manual_fix = m->value_or<double>(30.0);
  if (auto st = read_heal(c, t.get("heal")); !st) return st;

  // The policy plugin judges attempts with the top-level `protected` and `test_edit_categories`
  // unless its own [plugins.policy] table sets them.
  toml::table policy;
  if (auto pt = t.at_path("plugins.policy").as_table()) policy = *pt;
  auto to_array = [](const std::vector<std::string>& v) {
    toml::array a;
    for (const auto& s : v) a.push_back(s);
    return a;
  };
  if (!policy.contains("protected") && !c.protected_paths.empty()) policy.insert("protected", to_array(c.protected_paths));
  if (!policy.contains("unprotect") && !c.unprotect.empty()) policy.insert("unprotect", to_array(c.unprotect));
  if (!policy.contains("test_edit_categories")) policy.insert("test_edit_categories", to_array(c.test_edit_categories));
  std::stringstream ps;
  ps << policy;
  c.plugin_config["policy"] = ps.str();

  // sentry_triage skips errors in [heal] exclude paths, beside its own exclude_paths.
  if (!c.heal.exclude.empty()) {
    toml::table triage;
    if (auto tt = t.at_path("plugins.sentry_triage").as_table()) triage = *tt;
    toml::array paths;
    if (auto* mine = triage.get_as<toml::array>("exclude_paths")) paths = *mine;
    for (const auto& g : c.heal.exclude) paths.push_back(g);
    triage.insert_or_assign("exclude_paths", paths);
    std::stringstream ts;
    ts << triage;
    c.plugin_config["sentry_triage"] = ts.str();
  }
  return c;
}

}  // namespace fixhost::host
