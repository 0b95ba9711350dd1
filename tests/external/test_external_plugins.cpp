// External plugins: real child processes (python3, node) speaking the JSON lines protocol.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/host/memory_sink.hpp"
#include "fixhost/host/replay.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/test/files.hpp"
#include "fixhost/test/repo.hpp"

using namespace fixhost;
namespace fs = std::filesystem;
using fixhost::test::read_file;
using fixhost::test::TempDir;
using fixhost::test::write_file;

namespace {

const std::string k_src = FIXHOST_SOURCE_DIR;
const std::string k_sdk_python = k_src + "/sdk/python";

// A Python plugin from `body` (after `from fixhost_plugin import run`), executable.
fs::path python_plugin(const fs::path& dir, const std::string& name, const std::string& body) {
  fs::path p = dir / name;
  write_file(p, "#!/usr/bin/env python3\nimport sys, time, json\nsys.path.insert(0, '" + k_sdk_python +
                    "')\nfrom fixhost_plugin import run\n" + body);
  ::chmod(p.c_str(), 0755);
  return p;
}

// A pure plugin echoing each FailureDetected as a FailureClassified; `extra` runs first in on_event.
std::string classifier_body(const std::string& extra = "", const std::string& name = "echo",
                            const std::string& api = "1.1") {
  return "import fixhost_plugin\nfixhost_plugin.API = '" + api + "'\n"
         "def on_event(e, emit):\n"
         "    p = e['payload']\n" +
         extra +
         "    emit('FailureClassified', {'test_id': p['test_id'], 'category': 'logic_bug', 'confidence': 0.5})\n"
         "run(name='" + name + "', version='2.0.0', kind='pure', subscriptions=['FailureDetected'], on_event=on_event)\n";
}

events::Event failure(int i, const std::string& message = "AssertionError: boom") {
  events::FailureDetected f;
  f.runner = "pytest";
  f.suite = "pytest";
  f.test_id = "tests/test_a.py::test_" + std::to_string(i);
  f.message = message;
  return events::make_event(f, "run-1");
}

host::LoadReport load_external(std::vector<std::vector<std::string>> cmds, int deadline_ms = 5000,
                               const std::map<std::string, std::string>& config = {}) {
  host::LoaderOptions o;
  o.external = std::move(cmds);
  o.external_cwd = k_src;
  o.event_deadline = std::chrono::milliseconds(deadline_ms);
  o.handshake_deadline = std::chrono::milliseconds(5000);
  o.config = config;
  return host::load_plugins(o);
}

std::vector<events::FailureClassified> classified(const host::MemorySink& sink) {
  std::vector<events::FailureClassified> out;
  for (const auto& e : sink.of_type(events::EventType::FailureClassified)) out.push_back(events::decode<events::FailureClassified>(e).value());
  return out;
}

std::vector<std::string> plugin_failures(const host::MemorySink& sink) {
  std::vector<std::string> out;
  for (const auto& e : sink.of_type(events::EventType::PluginFailed)) out.push_back(events::decode<events::PluginFailed>(e)->error);
  return out;
}

}  // namespace

TEST_CASE("the Python example rule set loads, classifies by its rules, and emits with source name@version") {
  auto report = load_external({{"python3", k_src + "/examples/plugins/python_rules/rules.py"}});
  REQUIRE(report.refused.empty());
  REQUIRE(report.loaded.size() == 1);
  const auto& p = report.loaded.front();
  CHECK(p->info.name == "py_rules");
  CHECK(p->pure());
  CHECK(p->external.find("rules.py") != std::string::npos);
  host::Bus bus;
  bus.add(report.loaded);
  host::MemorySink sink;
  std::vector<events::Event> batch{failure(1, "ModuleNotFoundError: No module named 'yaml'"), failure(2),
                                   failure(3, "TypeError: 'NoneType' object is not subscriptable")};
  auto r = bus.publish(batch, sink);
  REQUIRE(r);
  auto got = classified(sink);
  REQUIRE(got.size() == 2);
  CHECK(got[0].test_id == "tests/test_a.py::test_1");
  CHECK(got[0].category == "missing_dependency");
  REQUIRE(got[0].evidence.size() == 1);
  CHECK(got[0].evidence[0].matched == "ModuleNotFoundError: No module named 'yaml'");
  CHECK(got[1].category == "type_error");
  auto e = sink.of_type(events::EventType::FailureClassified).front();
  CHECK(e.source == "py_rules@1.0.0");
  CHECK(e.causation == batch[0].seq);
  CHECK(plugin_failures(sink).empty());
}

TEST_CASE("the Python example's configuration is its [plugins.py_rules] table, refused with the plugin's reason") {
  auto ok = load_external({{"python3", k_src + "/examples/plugins/python_rules/rules.py"}}, 5000,
                          {{"py_rules", "rules = [{ pattern = 'flaky network', category = 'flaky', confidence = 0.6 }]\n"}});
  REQUIRE(ok.loaded.size() == 1);
  host::Bus bus;
  bus.add(ok.loaded);
  host::MemorySink sink;
  std::vector<events::Event> batch{failure(1, "ModuleNotFoundError: No module named 'yaml'"),
                                   failure(2, "OSError: flaky network")};
  REQUIRE(bus.publish(batch, sink));
  auto got = classified(sink);
  REQUIRE(got.size() == 1);
  CHECK(got[0].category == "flaky");

  auto bad = load_external({{"python3", k_src + "/examples/plugins/python_rules/rules.py"}}, 5000,
                           {{"py_rules", "colour = 'red'\n"}});
  CHECK(bad.loaded.empty());
  REQUIRE(bad.refused.size() == 1);
  CHECK(bad.refused[0].reason.find("rejected its configuration") != std::string::npos);
  CHECK(bad.refused[0].reason.find("has no setting colour") != std::string::npos);
  CHECK(bad.refused[0].reason.find("[plugins.py_rules]") != std::string::npos);
}

TEST_CASE("a batch is pipelined and each event gets its own reply, in log order") {
  TempDir dir;
  auto report = load_external({{"python3", python_plugin(dir.path(), "echo.py", classifier_body()).string()}});
  REQUIRE(report.loaded.size() == 1);
  host::Bus bus;
  bus.add(report.loaded);
  host::MemorySink sink;
  std::vector<events::Event> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(failure(i));
  auto r = bus.publish(batch, sink);
  REQUIRE(r);
  auto got = sink.of_type(events::EventType::FailureClassified);
  REQUIRE(got.size() == 500);
  for (int i = 0; i < 500; ++i) {
    CHECK(got[static_cast<std::size_t>(i)].causation == batch[static_cast<std::size_t>(i)].seq);
    CHECK(events::decode<events::FailureClassified>(got[static_cast<std::size_t>(i)])->test_id ==
          "tests/test_a.py::test_" + std::to_string(i));
  }
}

TEST_CASE("a plugin that crashes, hangs or answers garbage is stopped with one PluginFailed, the host goes on") {
  TempDir dir;
  struct Case {
    const char* name;
    std::string extra;
    const char* says;
  };
  std::vector<Case> cases{
      {"crash", "    if p['test_id'].endswith('_2'): sys.stderr.write('dying now\\n'); sys.exit(3)\n", "exited with code 3"},
      {"hang", "    if p['test_id'].endswith('_2'): time.sleep(30)\n", "hung: it did not answer within 300 ms"},
      {"garbage", "    if p['test_id'].endswith('_2'): print('hello there', flush=True)\n", "garbage"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto report = load_external({{python_plugin(dir.path(), std::string(c.name) + ".py", classifier_body(c.extra, c.name)).string()}}, 300);
    REQUIRE(report.loaded.size() == 1);
    host::Bus bus;
    bus.add(report.loaded);
    host::MemorySink sink;
    for (int i = 1; i <= 4; ++i) {  // one at a time (no pipelining) and then a batch
      std::vector<events::Event> one{failure(i)};
      REQUIRE(bus.publish(one, sink));
    }
    std::vector<events::Event> more{failure(5), failure(6)};
    REQUIRE(bus.publish(more, sink));
    auto fails = plugin_failures(sink);
    REQUIRE(fails.size() == 1);
    CHECK(fails[0].find(c.says) != std::string::npos);
    CHECK(fails[0].find("stopped") != std::string::npos);
    if (std::string(c.name) == "crash") CHECK(fails[0].find("dying now") != std::string::npos);
    CHECK(classified(sink).size() == 1);  // test_1 only
  }
}

TEST_CASE("a garbage reply inside a pipelined batch fails that event, the ones before it keep their replies") {
  TempDir dir;
  // Without the SDK: answers each line as it comes, and garbage for test_3.
  auto script = python_plugin(dir.path(), "mid.py",
                              "print(json.dumps({'fixhost_plugin': {'name': 'mid', 'version': '1', 'api': '1.0', 'kind': 'pure', "
                              "'subscriptions': ['FailureDetected']}}), flush=True)\n"
                              "for line in sys.stdin:\n"
                              "    m = json.loads(line)\n"
                              "    if 'configure' in m: print('{\"ok\": true}', flush=True); continue\n"
                              "    t = m['payload']['test_id']\n"
                              "    if t.endswith('_3'): print('{', flush=True); continue\n"
                              "    print(json.dumps({'seq': m['seq'], 'emit': [{'type': 'FailureClassified', 'payload': "
                              "{'test_id': t, 'category': 'flaky', 'confidence': 0.1}}]}), flush=True)\n");
  auto report = load_external({{script.string()}});
  REQUIRE(report.loaded.size() == 1);
  host::Bus bus;
  bus.add(report.loaded);
  host::MemorySink sink;
  std::vector<events::Event> batch;
  for (int i = 1; i <= 6; ++i) batch.push_back(failure(i));
  REQUIRE(bus.publish(batch, sink));
  CHECK(classified(sink).size() == 2);
  auto fails = plugin_failures(sink);
  REQUIRE(fails.size() == 1);
  CHECK(fails[0].find("seq " + std::to_string(batch[2].seq)) != std::string::npos);
}

TEST_CASE("an error reply is that event's PluginFailed and the plugin keeps running") {
  TempDir dir;
  auto script = python_plugin(dir.path(), "err.py", classifier_body("    if p['test_id'].endswith('_1'): raise ValueError('no rule for this')\n", "err"));
  auto report = load_external({{script.string()}});
  REQUIRE(report.loaded.size() == 1);
  host::Bus bus;
  bus.add(report.loaded);
  host::MemorySink sink;
  std::vector<events::Event> batch{failure(1), failure(2)};
  REQUIRE(bus.publish(batch, sink));
  auto fails = plugin_failures(sink);
  REQUIRE(fails.size() == 1);
  CHECK(fails[0].find("ValueError: no rule for this") != std::string::npos);
  CHECK(classified(sink).size() == 1);
}

TEST_CASE("an emitted event that does not fit its payload, or of an unknown type, is a PluginFailed") {
  TempDir dir;
  auto script = python_plugin(dir.path(), "bad.py",
                              "def on_event(e, emit):\n"
                              "    if e['payload']['test_id'].endswith('_1'): emit('FailureClassified', {'test_id': 3})\n"
                              "    else: emit('NoSuchType', {})\n"
                              "run(name='bad', version='1', subscriptions=['FailureDetected'], on_event=on_event)\n");
  auto report = load_external({{script.string()}});
  REQUIRE(report.loaded.size() == 1);
  host::Bus bus;
  bus.add(report.loaded);
  host::MemorySink sink;
  std::vector<events::Event> batch{failure(1), failure(2)};
  REQUIRE(bus.publish(batch, sink));
  auto fails = plugin_failures(sink);
  REQUIRE(fails.size() == 2);
  CHECK(fails[0].find("FailureClassified.test_id must be a string") != std::string::npos);
  CHECK(fails[1].find("unknown type \"NoSuchType\"") != std::string::npos);
}

TEST_CASE("the loader refuses an external plugin that does not fit, saying why and what to do") {
  TempDir dir;
  struct Case {
    std::string file, body, says;
  };
  std::vector<Case> cases{
      {"api2.py", classifier_body("", "api2", "2.0"), "speaks plugin API 2.0 but this host implements API 1."},
      {"minor.py", classifier_body("", "minor", "1.99"), "a newer minor version"},
      {"silent.py", "import sys\nsys.exit(0)\n", "ended before its handshake"},
      {"chatty.py", "print('hello', flush=True)\nimport time\ntime.sleep(5)\n", "as its handshake, not {\"fixhost_plugin\""},
      {"sub.py", "run(name='sub', version='1', subscriptions=['Nope'], on_event=lambda e, emit: None)\n",
       "subscribes to unknown event type \"Nope\""},
      {"kind.py", "run(name='kind', version='1', kind='sideways', subscriptions=[], on_event=lambda e, emit: None)\n",
       "neither pure nor effectful"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    auto report = load_external({{python_plugin(dir.path(), c.file, c.body).string()}});
    CHECK(report.loaded.empty());
    REQUIRE(report.refused.size() == 1);
    CHECK(report.refused[0].reason.find("external plugin '") == 0);
    CHECK(report.refused[0].reason.find(c.says) != std::string::npos);
  }
  auto missing = load_external({{(dir.path() / "nope").string()}});
  REQUIRE(missing.refused.size() == 1);
  CHECK(missing.refused[0].reason.find("could not be started") != std::string::npos);
  CHECK(missing.refused[0].reason.find("No such file") != std::string::npos);
}

TEST_CASE("an executable in a plugin directory is an external plugin, a second one of the same name is refused") {
  TempDir dir;
  python_plugin(dir.path(), "a_echo", classifier_body());
  python_plugin(dir.path(), "b_echo", classifier_body());
  write_file(dir.path() / "README.txt", "not a plugin, not executable");
  host::LoaderOptions o;
  o.dirs = {dir.path()};
  auto report = host::load_plugins(o);
  REQUIRE(report.loaded.size() == 1);
  CHECK(report.loaded[0]->info.name == "echo");
  CHECK(report.loaded[0]->path == dir.path() / "a_echo");
  REQUIRE(report.refused.size() == 1);
  CHECK(report.refused[0].reason.find("like the plugin already loaded from") != std::string::npos);
}

TEST_CASE("replay re-runs a pure external plugin and reports what a new version derives differently") {
  TempDir dir;
  auto make = [&](const std::string& file, int tests) {
    return python_plugin(dir.path(), file,
                         "def on_event(e, emit):\n"
                         "    p = e['payload']\n"
                         "    emit('SuiteParsed', {'suite': p['suite'], 'runner': p['runner'], 'purpose': p['purpose'], 'tests': " +
                             std::to_string(tests) + ", 'parsed_from': 'report'})\n" +
                             (tests > 1 ? "    emit('FailureDetected', {'runner': 'junit', 'suite': 's', 'test_id': 'a::new'})\n" : "") +
                             "run(name='counter', version='" + std::to_string(tests) +
                             "', subscriptions=['SuiteFinished'], on_event=on_event)\n");
  };
  auto v1 = load_external({{make("v1.py", 1).string()}});
  REQUIRE(v1.loaded.size() == 1);
  // Record a run with v1: a fact and what v1 derived from it.
  host::MemorySink recorded;
  {
    host::Bus bus;
    bus.add(v1.loaded);
    events::SuiteFinished f;
    f.suite = "s";
    f.runner = "junit";
    f.purpose = "detect";
    std::vector<events::Event> batch{events::make_event(f, "run-r")};
    REQUIRE(bus.publish(batch, recorded));
  }
  REQUIRE(recorded.events().size() == 2);
  {
    host::Replayer same(v1.loaded);
    auto cmp = same.replay(recorded.events(), 100);
    REQUIRE(cmp);
    CHECK(cmp->facts == 1);
    CHECK(cmp->replayed_derived == 1);
    CHECK(cmp->differences.empty());
  }
  auto v2 = load_external({{make("v2.py", 2).string()}});
  REQUIRE(v2.loaded.size() == 1);
  host::Replayer changed(v2.loaded);
  auto cmp = changed.replay(recorded.events(), 100);
  REQUIRE(cmp);
  REQUIRE(cmp->differences.size() == 1);
  CHECK(cmp->differences[0].kind == host::DiffKind::only_replayed);
}

TEST_CASE("the Node notifier posts a run's report to a webhook (a loopback HTTP server)") {
  TempDir dir;
  // A real HTTP server on loopback (Python's http.server) that writes each POST body to a file.
  const fs::path got = dir.path() / "posted.json";
  const fs::path port_file = dir.path() / "port";
  write_file(dir.path() / "hook.py",
             "import http.server, sys\n"
             "class H(http.server.BaseHTTPRequestHandler):\n"
             "    def do_POST(self):\n"
             "        body = self.rfile.read(int(self.headers['content-length']))\n"
             "        open(sys.argv[1], 'ab').write(body + b'\\n')\n"
             "        self.send_response(204); self.end_headers()\n"
             "    def log_message(self, *a): pass\n"
             "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
             "open(sys.argv[2] + '.tmp', 'w').write(str(s.server_address[1]))\n"
             "import os; os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
             "s.timeout = 15\n"
             "s.handle_request()\n");
  std::thread server([&] {
    host::ProcessSpec spec;
    spec.argv = {"python3", (dir.path() / "hook.py").string(), got.string(), port_file.string()};
    spec.timeout = std::chrono::seconds(20);
    (void)host::run_process(spec);
  });
  for (int i = 0; i < 200 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  REQUIRE(fs::exists(port_file));
  const std::string url = "http://127.0.0.1:" + read_file(port_file) + "/hook";

  auto report = load_external({{"node", k_src + "/examples/plugins/node_notifier/notifier.js"}}, 5000,
                              {{"notifier", "url = \"" + url + "\"\n"}});
  REQUIRE(report.refused.empty());
  REQUIRE(report.loaded.size() == 1);
  CHECK_FALSE(report.loaded[0]->pure());
  {
    host::Bus bus;
    bus.add(report.loaded);
    host::MemorySink sink;
    events::ReportWritten w;
    w.kind = "autofix";
    w.path = "/tmp/report.md";
    w.markdown.data = "# fixhost autofix\n\n2 fixed";
    std::vector<events::Event> batch{events::make_event(w, "run-42")};
    REQUIRE(bus.publish(batch, sink));
    CHECK(plugin_failures(sink).empty());
  }
  report.loaded.clear();  // stops the plugin
  server.join();
  REQUIRE(fs::exists(got));
  auto posted = nlohmann::json::parse(read_file(got));
  CHECK(posted["run_id"] == "run-42");
  CHECK(posted["kind"] == "autofix");
  CHECK(posted["markdown"] == "# fixhost autofix\n\n2 fixed");

  // No url: refused with the plugin's own reason.
  auto bad = load_external({{"node", k_src + "/examples/plugins/node_notifier/notifier.js"}});
  REQUIRE(bad.refused.size() == 1);
  CHECK(bad.refused[0].reason.find("url is missing") != std::string::npos);

}

TEST_CASE("[[plugins.external]] in fixhost.toml: hostctl plugins lists it, detect runs it, replay re-runs it") {
  test::GitRepo repo({{"fixhost.toml", "[[suites]]\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", \"pytest\"]\n"
                                       "[[plugins.external]]\ncommand = [\"python3\", \"" + k_src +
                                       "/examples/plugins/python_rules/rules.py\"]\n"},
                      {"tests/test_a.py", "import yaml_not_installed_here\n\ndef test_a():\n    assert True\n"},
                      {"tests/test_b.py", "def test_b():\n    assert 1 == 2\n"}});
  auto listed = repo.hostctl({"plugins", "--json"});
  CHECK_MESSAGE(listed.code == 0, listed.out << listed.err);
  bool found = false;
  for (const auto& p : test::json_of(listed))
    if (p["name"] == "py_rules") {
      found = true;
      CHECK(p["kind"] == "pure");
      CHECK(p["external"].get<std::string>().find("rules.py") != std::string::npos);
    }
  CHECK(found);
  auto detect = repo.hostctl({"detect", "--json"});
  CHECK_MESSAGE(detect.code == 1, detect.out << detect.err);
  auto classified = repo.hostctl({"events", "--json", "--type", "FailureClassified"});
  CHECK(classified.out.find("\"source\":\"py_rules@1.0.0\"") != std::string::npos);
  CHECK(classified.out.find("missing_dependency") != std::string::npos);
  auto replay = repo.hostctl({"replay", "--all", "--json"});
  CHECK_MESSAGE(replay.code == 0, replay.out << replay.err);
  auto j = test::json_of(replay);
  auto plugins = j["plugins"].get<std::vector<std::string>>();
  CHECK(std::find(plugins.begin(), plugins.end(), "py_rules@1.0.0") != plugins.end());
  CHECK(j["totals"]["runs"] == 1);
}
