// bench_external_plugin: events/s through one pure external Python plugin (the example rule set,
// examples/plugins/python_rules/rules.py, run by python3), against the native classifier plugin
// on the same events in the same run.
//   1. makes --events FailureDetected events (100,000) (a quarter match one of the rules);
//   2. publishes them on a Bus into memory in batches of --batch (the bus pipelines a batch to an
//      external plugin: all its events go out, then all replies are read), timing each plugin;
//   3. also times --single events published one at a time (one round trip each); the native
//      classifier runs on the first --native-events (20,000) of them (its regexes are slow).
// Prints the figures, then last `external_plugin_events_per_s: X`.
// Usage: bench_external_plugin [--events N] [--batch N] [--single N] [--native-events N] [--python PATH]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/host/memory_sink.hpp"

using namespace fixhost;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<events::Event> make_events(std::size_t n) {
  std::vector<events::Event> out;
  out.reserve(n);
  const char* messages[] = {"AssertionError: assert 3 == 4", "ModuleNotFoundError: No module named 'yaml'",
                            "expected 5 to be 6 // Object.is equality", "TypeError: 'NoneType' object is not subscriptable"};
  for (std::size_t i = 0; i < n; ++i) {
    events::FailureDetected f;
    f.runner = "pytest";
    f.suite = "pytest";
    f.test_id = "tests/test_mod" + std::to_string(i % 97) + ".py::test_case_" + std::to_string(i);
    f.file = "tests/test_mod" + std::to_string(i % 97) + ".py";
    f.line = static_cast<std::int64_t>(10 + i % 300);
    f.test_name = "test_case_" + std::to_string(i);
    f.error_type = "AssertionError";
    f.message = messages[i % 4];
    f.stack_trace = "def test_case():\n>       assert compute() == 4\nE       " + f.message + "\n\ntests/x.py:12: AssertionError";
    f.phase = "call";
    out.push_back(events::make_event(f, "run-bench"));
  }
  return out;
}

struct Figure {
  double seconds = 0;
  std::uint64_t emitted = 0;
  std::uint64_t failures = 0;
};

Figure publish(const std::shared_ptr<host::LoadedPlugin>& plugin, std::vector<events::Event> evs, std::size_t batch) {
  host::Bus bus;
  bus.add(plugin);
  host::MemorySink sink;
  Figure f;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < evs.size(); i += batch) {
    std::size_t n = std::min(batch, evs.size() - i);
    auto r = bus.publish(std::span<events::Event>(evs.data() + i, n), sink);
    if (!r) {
      std::cerr << "publish: " << r.status().to_string() << "\n";
      std::exit(1);
    }
    f.emitted += r->emitted;
    f.failures += r->failures;
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 100000, batch = 1000, single = 2000, native_n = 20000;
  std::string python = "python3";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--events") n = std::stoul(argv[i + 1]);
    else if (a == "--batch") batch = std::stoul(argv[i + 1]);
    else if (a == "--single") single = std::stoul(argv[i + 1]);
    else if (a == "--native-events") native_n = std::stoul(argv[i + 1]);
    else if (a == "--python") python = argv[i + 1];
    else {
      std::cerr << "usage: bench_external_plugin [--events N] [--batch N] [--single N] [--native-events N] [--python PATH]\n";
      return 2;
    }
  }
  const std::string script = std::string(FIXHOST_SOURCE_DIR) + "/examples/plugins/python_rules/rules.py";
  host::LoaderOptions ext;
  ext.external = {{python, script}};
  ext.external_cwd = FIXHOST_SOURCE_DIR;
  auto ext_report = host::load_plugins(ext);
  host::LoaderOptions nat;
  nat.dirs = {host::builtin_plugin_dir()};
  auto nat_report = host::load_plugins(nat);
  std::shared_ptr<host::LoadedPlugin> external, native;
  for (auto& p : ext_report.loaded) external = p;
  for (auto& p : nat_report.loaded)
    if (p->info.name == "classifier") native = p;
  for (auto& r : ext_report.refused) std::cerr << "refused: " << r.reason << "\n";
  if (!external || !native) {
    std::cerr << "bench_external_plugin: could not load " << (!external ? script : "the native classifier from " + host::builtin_plugin_dir().string()) << "\n";
    return 1;
  }
  auto evs = make_events(n);
  native_n = std::min(native_n, n);
  Figure nf = publish(native, std::vector<events::Event>(evs.begin(), evs.begin() + static_cast<std::ptrdiff_t>(native_n)), batch);
  Figure ef = publish(external, evs, batch);
  std::vector<events::Event> few(evs.begin(), evs.begin() + static_cast<std::ptrdiff_t>(std::min(single, n)));
  Figure sf = publish(external, few, 1);
  if (ef.failures > 0 || sf.failures > 0) {
    std::cerr << "bench_external_plugin: the external plugin failed " << ef.failures + sf.failures << " times\n";
    return 1;
  }
  std::printf("events: %zu FailureDetected, batches of %zu\n", n, batch);
  std::printf("native classifier (%zu events): %.3f s, %.0f events/s, %llu emitted\n", native_n, nf.seconds, native_n / nf.seconds,
              static_cast<unsigned long long>(nf.emitted));
  std::printf("external python (batched): %.3f s, %.0f events/s, %llu emitted\n", ef.seconds, n / ef.seconds,
              static_cast<unsigned long long>(ef.emitted));
  std::printf("external python (one event per publish, %zu events): %.0f events/s\n", few.size(),
              few.size() / sf.seconds);
  std::printf("native_events_per_s: %.0f\n", native_n / nf.seconds);
  std::printf("external_plugin_events_per_s: %.0f\n", n / ef.seconds);
  return 0;
}
