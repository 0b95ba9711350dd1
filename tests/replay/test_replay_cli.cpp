// hostctl replay end to end: a real run recorded by `hostctl detect` (real pytest, real RocksDB,
// real git repo), then replayed with the same plugins, with a changed classifier rule, with a
// replacement classifier, and with probes that show no effect runs during a replay.
#include <doctest/doctest.h>
#include <spawn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixhost/test/files.hpp"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;
using fixhost::test::read_file;
using fixhost::test::TempDir;
using fixhost::test::write_file;

namespace {

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

// `env` value that removes the variable instead of setting it.
const std::string k_unset = "\x01unset";

// Runs argv (no shell) with `env` set on top of this process's environment; stdout and stderr
// are kept apart (--json output is parsed).
Ran run(const std::vector<std::string>& argv, const fs::path& scratch, const std::map<std::string, std::string>& env = {}) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) {
    if (v == k_unset) all.erase(k);
    else all[k] = v;
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : all) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const fs::path out_path = scratch / "stdout.txt", err_path = scratch / "stderr.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  Ran r;
  if (rc != 0) return r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

// A small pytest project in a git repository. Its conftest appends to `pytest_marker` whenever
// pytest starts in it; test_flaky fails once, then passes (so the flaky check finds it).
struct Project {
  TempDir tmp;
  fs::path repo, store, scratch, pytest_marker, plugins;

  Project() {
    repo = tmp.path() / "repo";
    store = tmp.path() / "store";
    scratch = tmp.path() / "scratch";
    plugins = tmp.path() / "plugins";
    pytest_marker = tmp.path() / "pytest-ran.txt";
    fs::create_directories(scratch);
    fs::create_directories(plugins);
    write_file(repo / "calc.py", "def add(a, b):\n    return a - b\n\n\ndef total(items):\n    return sum(items)\n");
    write_file(repo / "conftest.py", "def pytest_configure(config):\n    with open(" + json(pytest_marker.string()).dump() +
                                         ", 'a') as f:\n        f.write('pytest ran\\n')\n");
    write_file(repo / "tests" / "test_calc.py",
               "import os\n"
               "from calc import add, total\n\n\n"
               "def test_add():\n    assert add(2, 3) == 5\n\n\n"
               "def test_total():\n    assert total([1, '2']) == 3\n\n\n"
               "def test_ok():\n    assert add(2, 0) == 2\n\n\n"
               "def test_flaky():\n"
               "    path = " + json((tmp.path() / "flaky-once").string()).dump() + "\n"
               "    if not os.path.exists(path):\n"
               "        open(path, 'w').close()\n"
               "        assert False, 'first run fails'\n");
    write_file(repo / "tests" / "test_deps.py", "def test_needs_lib():\n    import not_installed_replay_lib  # noqa\n");
    write_file(repo / "fixhost.toml", base_config());
    git({"init", "-q"});
    git({"add", "-A"});
    git({"-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init"});
  }

  static std::string base_config() {
    return "flaky_reruns = 1\n\n[[suites]]\nname = \"py\"\nrunner = \"pytest\"\n"
           "command = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n";
  }

  void git(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/git", "-C", repo.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, scratch);
    REQUIRE_MESSAGE(r.code == 0, r.err);
  }

  Ran hostctl(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {FIXHOST_HOSTCTL, "--store", store.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, scratch, env);
  }

  void copy_plugin(const std::string& name) {
    fs::copy_file(fs::path(FIXHOST_REPLAY_TEST_PLUGINS) / (name + ".so"), plugins / (name + ".so"),
                  fs::copy_options::overwrite_existing);
  }

  // Records a detect run and returns its id and the failures it printed.
  std::pair<std::string, json> detect(const std::vector<std::string>& extra = {},
                                      const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> args = extra;
    args.insert(args.end(), {"detect", "--repo", repo.string(), "--json"});
    auto r = hostctl(args, env);
    REQUIRE_MESSAGE(r.code == 1, r.err);
    json failures = json::parse(r.out);
    auto runs = this->runs();
    REQUIRE(!runs.empty());
    return {runs.back()["run_id"].get<std::string>(), failures};
  }

  json runs() {
    auto r = hostctl({"runs", "--json"});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    return json::parse(r.out);
  }

  std::vector<json> events(const std::string& run_id, const std::string& type = "") {
    std::vector<std::string> args = {"events", "--run", run_id, "--json"};
    if (!type.empty()) args.insert(args.end(), {"--type", type});
    auto r = hostctl(args);
    REQUIRE_MESSAGE(r.code == 0, r.err);
    std::vector<json> out;
    std::size_t pos = 0;
    while (pos < r.out.size()) {
      auto nl = r.out.find('\n', pos);
      if (nl == std::string::npos) nl = r.out.size();
      if (nl > pos) out.push_back(json::parse(r.out.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return out;
  }
};

std::string category_of(const json& failures, const std::string& test_suffix) {
  for (const auto& f : failures)
    if (f["test_id"].get<std::string>().ends_with(test_suffix)) return f["category"].get<std::string>();
  return "";
}

}  // namespace

TEST_CASE("replay: the plugins that recorded a run re-derive it exactly, and nothing effectful runs") {
  Project p;
  p.copy_plugin("effect_probe");
  p.copy_plugin("pure_probe");
  const fs::path effect_marker = p.tmp.path() / "effect.txt", pure_marker = p.tmp.path() / "pure.txt";
  const std::map<std::string, std::string> probes = {{"REPLAY_EFFECT_MARKER", effect_marker.string()},
                                                     {"REPLAY_PURE_MARKER", pure_marker.string()}};
  auto [run_id, failures] = p.detect({"--plugins", p.plugins.string()}, probes);
  REQUIRE(failures.size() == 4);  // test_add, test_total, test_flaky (flaky), test_needs_lib
  CHECK(category_of(failures, "test_flaky") == "flaky");
  // While recording, every kind of plugin runs: the probes prove they work.
  REQUIRE(fs::exists(p.pytest_marker));
  REQUIRE(fs::exists(effect_marker));
  REQUIRE(fs::exists(pure_marker));
  const std::size_t recorded_events = p.events(run_id).size();
  REQUIRE(recorded_events > 10);
  fs::remove(p.pytest_marker);
  fs::remove(effect_marker);
  fs::remove(pure_marker);

  // Any git, python, node or shell found on PATH during the replay leaves a mark.
  const fs::path fakebin = p.tmp.path() / "fakebin", tool_marker = p.tmp.path() / "tools.txt";
  for (const char* tool : {"git", "python3", "python", "pytest", "node", "npx", "npm", "jest", "sh", "bash", "curl"}) {
    write_file(fakebin / tool, "#!/bin/sh\necho \"$0 $*\" >> " + tool_marker.string() + "\nexit 1\n");
    fs::permissions(fakebin / tool, fs::perms::owner_all);
  }
  auto env = probes;
  env["PATH"] = fakebin.string();
  env["FIXHOST_PYTHON"] = k_unset;  // so that nothing names the interpreter for hostctl
  auto r = p.hostctl({"replay", run_id, "--repo", p.repo.string(), "--plugins", p.plugins.string(), "--json"}, env);
  INFO(r.err);
  REQUIRE(r.code == 0);
  json rep = json::parse(r.out);
  CHECK(rep["totals"]["differences"] == 0);
  CHECK(rep["totals"]["runs"] == 1);
  REQUIRE(rep["runs"].size() == 1);
  const json& one = rep["runs"][0];
  CHECK(one["run"] == run_id);
  CHECK(one["mode"] == "detect");
  CHECK(one["facts"].get<int>() > 5);
  CHECK(one["recorded_derived"].get<int>() >= 12);  // SuiteParsed, FailureDetected, Classified, Ordered per sweep
  CHECK(one["replayed_derived"] == one["recorded_derived"]);
  CHECK(one["only_recorded"].empty());
  CHECK(one["category_changes"].empty());

  // No test ran, no tool was started, the effectful plugin was never called; the pure ones were.
  CHECK_FALSE(fs::exists(p.pytest_marker));
  CHECK_FALSE(fs::exists(tool_marker));
  CHECK_MESSAGE(!fs::exists(effect_marker), read_file(effect_marker));
  REQUIRE(fs::exists(pure_marker));
  CHECK(read_file(pure_marker).find(run_id) != std::string::npos);

  // The replay is a run of its own naming its source; the source run is untouched.
  auto runs = p.runs();
  REQUIRE(runs.size() == 2);
  const json& replay = runs.back();
  CHECK(replay["mode"] == "replay");
  CHECK(replay["run_id"] == rep["replay_run"]);
  CHECK(replay["source_runs"] == json::array({run_id}));
  CHECK(replay["outcome"] == "ok");
  CHECK(p.events(run_id).size() == recorded_events);
  auto compared = p.events(replay["run_id"].get<std::string>(), "ReplayCompared");
  REQUIRE(compared.size() == 1);
  CHECK(compared[0]["payload"]["source_run"] == run_id);
  CHECK(compared[0]["payload"]["category_changes"] == 0);
  CHECK(compared[0]["payload"]["detail"] == "");
}

TEST_CASE("replay: a classifier rule changed in fixhost.toml shows up as category changes") {
  Project p;
  auto [run_id, failures] = p.detect();
  const std::string before = category_of(failures, "test_add");
  REQUIRE(!before.empty());
  REQUIRE(before != "env_mismatch");

  write_file(p.repo / "fixhost.toml",
             Project::base_config() +
                 "\n[plugins.classifier]\n"
                 "rules = [{ id = \"team.add_is_env\", category = \"env_mismatch\", fields = [\"test_id\"], "
                 "regex = 'test_add$', weight = 1.0 }]\n");
  auto r = p.hostctl({"replay", run_id, "--repo", p.repo.string(), "--json"});
  INFO(r.err);
  REQUIRE(r.code == 1);
  json rep = json::parse(r.out);
  const json& one = rep["runs"][0];
  // test_add failed in the detect sweep and again alone in its flaky check: one change each.
  REQUIRE(one["category_changes"].size() == 2);
  bool saw_detect = false;
  for (const auto& c : one["category_changes"]) {
    CHECK(c["test_id"].get<std::string>().ends_with("test_add"));
    CHECK(c["old"] == before);
    CHECK(c["new"] == "env_mismatch");
    saw_detect = saw_detect || c["purpose"] == "detect";
  }
  CHECK(saw_detect);
  CHECK(one["only_recorded"].empty());
  CHECK(one["only_replayed"].empty());
  CHECK(one["order_changes"].empty());
  CHECK(rep["totals"]["category_changes"] == 2);
  CHECK(rep["totals"]["differences"] == 2);

  // The text report says the same, and the replay run records it.
  auto text = p.hostctl({"replay", run_id, "--repo", p.repo.string()});
  REQUIRE(text.code == 1);
  CHECK(text.out.find(before + " -> env_mismatch") != std::string::npos);
  CHECK(text.out.find("total: 1 run, 2 differences") != std::string::npos);
  auto runs = p.runs();
  CHECK(runs.back()["outcome"] == "differences");
  auto compared = p.events(runs.back()["run_id"].get<std::string>(), "ReplayCompared");
  REQUIRE(compared.size() == 1);
  CHECK(compared[0]["payload"]["category_changes"] == 2);
  CHECK(compared[0]["payload"]["detail"].get<std::string>().find("env_mismatch") != std::string::npos);
}

TEST_CASE("replay: a plugin in --plugins replaces the built-in one of the same name") {
  Project p;
  auto [run_id, failures] = p.detect();
  p.copy_plugin("classifier_v2");
  auto r = p.hostctl({"replay", run_id, "--repo", p.repo.string(), "--plugins", p.plugins.string(), "--json"});
  INFO(r.err);
  REQUIRE(r.code == 1);
  CHECK(r.err.find("classifier@2.0.0-test") != std::string::npos);
  json rep = json::parse(r.out);
  const json& one = rep["runs"][0];
  std::size_t to_env = 0, flaky_gone = 0;
  for (const auto& c : one["category_changes"]) {
    if (c["new"] == "env_mismatch") ++to_env;
    if (c["old"] == "flaky" && c["new"] == "(none)") ++flaky_gone;
  }
  CHECK(to_env >= 4);      // every failure, in every sweep, that was not env_mismatch before
  CHECK(flaky_gone == 1);  // the new classifier ignores FlakeDetected
  CHECK(one["only_recorded"].empty());
  CHECK(one["order_changes"].empty());
}

TEST_CASE("replay: selection by --all and --since, and errors that name the problem") {
  Project p;
  auto [run_id, failures] = p.detect();

  auto r = p.hostctl({"replay", "--since", "1h", "--repo", p.repo.string(), "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  json first = json::parse(r.out);
  REQUIRE(first["runs"].size() == 1);
  CHECK(first["runs"][0]["run"] == run_id);

  // --all skips the replay recorded above.
  r = p.hostctl({"replay", "--all", "--repo", p.repo.string(), "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  json all = json::parse(r.out);
  REQUIRE(all["runs"].size() == 1);
  CHECK(all["runs"][0]["run"] == run_id);

  r = p.hostctl({"replay", "--since", "2000-01-01", "--repo", p.repo.string(), "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(json::parse(r.out)["runs"].size() == 1);

  // Nothing in the window: nothing replayed and nothing recorded.
  const std::size_t runs_before = p.runs().size();
  // (A date after every run, not "1s": a fast machine starts the runs above within a second.)
  r = p.hostctl({"replay", "--since", "2099-01-01", "--repo", p.repo.string()});
  CHECK(r.code == 0);
  CHECK_MESSAGE(r.err.find("nothing to replay") != std::string::npos, r.err);
  CHECK(p.runs().size() == runs_before);

  r = p.hostctl({"replay", "20990101-000000-dead", "--repo", p.repo.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("20990101-000000-dead") != std::string::npos);
  CHECK(r.err.find("hostctl runs") != std::string::npos);

  r = p.hostctl({"replay", first["replay_run"].get<std::string>(), "--repo", p.repo.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("replay") != std::string::npos);

  r = p.hostctl({"replay", "--repo", p.repo.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("--all") != std::string::npos);

  r = p.hostctl({"replay", "--since", "yesterday", "--repo", p.repo.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("yesterday") != std::string::npos);

  // A plugin refused (here: its configuration) would make every derivation of it a difference.
  write_file(p.repo / "fixhost.toml", Project::base_config() + "\n[plugins.classifier]\ndisable = [\"no.such.rule\"]\n");
  r = p.hostctl({"replay", run_id, "--repo", p.repo.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("no.such.rule") != std::string::npos);
  CHECK(r.err.find("cannot replay") != std::string::npos);
  CHECK(p.runs().size() == runs_before);
}
