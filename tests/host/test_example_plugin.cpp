// Builds examples/plugin as a separate CMake project against sdk/ only (as a third party
// would), loads the .so from a fresh folder and checks what it emits through the bus.
#include <dlfcn.h>

#include <doctest/doctest.h>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/host/memory_sink.hpp"
#include "helpers.hpp"
#if FIXHOST_TEST_HAVE_STORE
#include "fixhost/store/event_log.hpp"
#endif

using namespace fixhost;
using namespace fixhost::host;
using events::Event;
using events::EventType;
using host_test::TempDir;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Configures and builds examples/plugin in `build`; returns the built .so.
fs::path build_example(const fs::path& build, const fs::path& log) {
  const std::string source = std::string(FIXHOST_SOURCE_DIR) + "/examples/plugin";
  const std::string sdk = std::string(FIXHOST_SOURCE_DIR) + "/sdk";
  int configured = host_test::run({FIXHOST_CMAKE_COMMAND, "-S", source, "-B", build.string(), "-G",
                                   FIXHOST_CMAKE_GENERATOR, "-DCMAKE_MAKE_PROGRAM=" FIXHOST_MAKE_PROGRAM,
                                   "-DCMAKE_BUILD_TYPE=Release", "-DFIXHOST_SDK_DIR=" + sdk},
                                  log);
  REQUIRE_MESSAGE(configured == 0, host_test::read_file(log));
  int built = host_test::run({FIXHOST_CMAKE_COMMAND, "--build", build.string()}, log);
  REQUIRE_MESSAGE(built == 0, host_test::read_file(log));
  fs::path so = build / "failure_counter.so";
  REQUIRE(fs::exists(so));
  return so;
}

Event failure(const std::string& run, const std::string& test_id) {
  events::FailureDetected f;
  f.runner = "pytest";
  f.suite = "unit";
  f.test_id = test_id;
  return events::make_event(f, run);
}

#if FIXHOST_TEST_HAVE_STORE
class LogSink final : public EventSink {
 public:
  explicit LogSink(store::EventLog& log) : log_(log) {}
  Status append(std::span<Event> batch) override {
    auto first = log_.append_batch(batch);
    return first.is_ok() ? Status::ok() : first.status();
  }

 private:
  store::EventLog& log_;
};
#endif

}  // namespace

TEST_CASE("examples/plugin builds on its own against sdk/, loads, and alerts through the bus") {
  TempDir tmp;
  fs::path so = build_example(tmp / "build", tmp / "build.log");
  fs::path plugin_dir = tmp.subdir("plugins");
  fs::path installed = plugin_dir / "failure_counter.so";
  fs::copy_file(so, installed);

  {
    // A bad [plugins.failure_counter] table refuses it with the plugin's own message.
    LoaderOptions options;
    options.dirs = {plugin_dir};
    options.config["failure_counter"] = "threshold = \"ten\"\n";
    LoadReport report = load_plugins(options);
    CHECK(report.loaded.empty());
    REQUIRE(report.refused.size() == 1);
    CHECK(contains(report.refused[0].reason, "threshold must be a non-negative integer"));
    CHECK(contains(report.refused[0].reason, "[plugins.failure_counter]"));
  }

  {
    // More failures in one run than the threshold raise one HumanAlert caused by the crossing one.
    LoaderOptions options;
    options.dirs = {plugin_dir};
    options.config["failure_counter"] = "threshold = 2\nlisted = 2\n";
    LoadReport report = load_plugins(options);
    for (const auto& r : report.refused) FAIL_CHECK(r.reason);
    REQUIRE(report.loaded.size() == 1);
    const LoadedPlugin& plugin = *report.loaded[0];
    CHECK(plugin.id() == "failure_counter@1.0.0");
    CHECK_FALSE(plugin.pure());

    std::unique_ptr<EventSink> sink;
    std::function<std::vector<Event>()> read_all;
    MemorySink memory;
#if FIXHOST_TEST_HAVE_STORE
    store::StoreOptions store_options;
    store_options.sync = false;
    auto log = store::EventLog::open(tmp / "store", store_options);
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    sink = std::make_unique<LogSink>(**log);
    read_all = [&] {
      std::vector<Event> out;
      REQUIRE((*log)->scan(1, 0, [&](const Event& e) {
                      out.push_back(e);
                      return true;
                    }).is_ok());
      return out;
    };
#else
    read_all = [&] { return memory.events(); };
#endif
    EventSink& target = sink ? *sink : static_cast<EventSink&>(memory);

    Bus bus;
    bus.add(report.loaded);
    // Run r2 stays under the threshold; run r1 crosses it with its third failure.
    std::vector<Event> first{failure("r1", "t::a"), failure("r2", "t::x"), failure("r1", "t::b")};
    REQUIRE(bus.publish(first, target).is_ok());
    std::vector<Event> crossing{failure("r1", "t::c")};
    REQUIRE(bus.publish(crossing, target).is_ok());
    std::vector<Event> more{failure("r1", "t::d"), failure("r2", "t::y")};
    REQUIRE(bus.publish(more, target).is_ok());

    std::vector<Event> alerts;
    for (const Event& e : read_all())
      if (e.type == EventType::HumanAlert) alerts.push_back(e);
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].causation == crossing[0].seq);
    CHECK(alerts[0].source == "failure_counter@1.0.0");
    CHECK(alerts[0].run_id == "r1");
    auto alert = events::decode<events::HumanAlert>(alerts[0]);
    REQUIRE(alert.is_ok());
    CHECK(contains(alert->summary, "run r1 has 3 failures, more than the threshold of 2"));
    CHECK(contains(alert->detail, "t::a"));
    CHECK(contains(alert->detail, "t::b"));
    CHECK_FALSE(contains(alert->detail, "t::c"));  // listed = 2
    CHECK(alert->error_rate > 0);

    // Replay never calls it: it declares itself effectful.
    BusOptions replay;
    replay.pure_only = true;
    Bus replay_bus(replay);
    replay_bus.add(report.loaded);
    CHECK_FALSE(replay_bus.has_subscribers(EventType::FailureDetected));
  }

  // Everything the plugin made is gone, and so is its library.
  void* handle = ::dlopen(installed.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  CHECK(handle == nullptr);
  if (handle != nullptr) ::dlclose(handle);
}
