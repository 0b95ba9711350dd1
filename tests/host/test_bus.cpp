#include <atomic>
#include <cstdlib>
#include <new>

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

// GCC pairs its builtin operator new with the free() below when inlining and warns wrongly.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Counts heap allocations while `g_counting` is set, to check the bus's no-op path.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The log the bus appends to: an in-memory one, or the real EventLog on a temp dir.
class TestLog {
 public:
  virtual ~TestLog() = default;
  virtual EventSink& sink() = 0;
  virtual std::vector<Event> events() = 0;
  virtual std::string kind() const = 0;
};

class MemoryLog final : public TestLog {
 public:
  EventSink& sink() override { return sink_; }
  std::vector<Event> events() override { return sink_.events(); }
  std::string kind() const override { return "MemorySink"; }

 private:
  MemorySink sink_;
};

#if FIXHOST_TEST_HAVE_STORE
// Adapts the EventLog to the bus's sink interface.
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

class StoreLog final : public TestLog {
 public:
  StoreLog() {
    store::StoreOptions options;
    options.sync = false;
    options.holder = "test_host_bus";
    auto log = store::EventLog::open(dir_ / "store", options);
    REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
    log_ = std::move(log).value();
    sink_ = std::make_unique<LogSink>(*log_);
  }
  ~StoreLog() override {
    sink_.reset();
    log_.reset();
  }
  EventSink& sink() override { return *sink_; }
  std::vector<Event> events() override {
    std::vector<Event> out;
    auto st = log_->scan(1, 0, [&](const Event& e) {
      out.push_back(e);
      return true;
    });
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
    return out;
  }
  std::string kind() const override { return "EventLog"; }

 private:
  TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<LogSink> sink_;
};
#endif

// Every log kind this build has; each case below runs against all of them.
std::vector<std::unique_ptr<TestLog>> all_logs() {
  std::vector<std::unique_ptr<TestLog>> logs;
  logs.push_back(std::make_unique<MemoryLog>());
#if FIXHOST_TEST_HAVE_STORE
  logs.push_back(std::make_unique<StoreLog>());
#endif
  return logs;
}

// Loads the named test plugins from a fresh directory; the recorder logs to `recorder_log`.
struct Loaded {
  TempDir dir;
  fs::path recorder_log;
  LoadReport report;
};

std::unique_ptr<Loaded> load(std::initializer_list<const char*> names) {
  auto l = std::make_unique<Loaded>();
  fs::path plugin_dir = l->dir.subdir("plugins");
  for (const char* name : names) host_test::copy_plugin(name, plugin_dir);
  l->recorder_log = l->dir / "recorder.log";
  LoaderOptions options;
  options.dirs = {plugin_dir};
  options.config["recorder"] = "log = \"" + l->recorder_log.string() + "\"";
  l->report = load_plugins(options);
  for (const auto& r : l->report.refused) FAIL_CHECK(r.reason);
  REQUIRE(l->report.loaded.size() == names.size());
  return l;
}

Event suite_finished(const std::string& run, const std::string& suite) {
  events::SuiteFinished s;
  s.suite = suite;
  s.runner = "pytest";
  s.exit_code = 1;
  return events::make_event(s, run);
}

// The seqs in the recorder's log, in the order it saw them.
std::vector<std::uint64_t> recorded_seqs(const fs::path& log) {
  std::vector<std::uint64_t> seqs;
  for (const auto& line : host_test::read_lines(log)) seqs.push_back(std::stoull(line.substr(0, line.find(' '))));
  return seqs;
}

std::vector<Event> of_type(const std::vector<Event>& events, EventType type) {
  std::vector<Event> out;
  for (const auto& e : events)
    if (e.type == type) out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("dispatch follows log order and emitted events carry causation, source and the trigger's run") {
  for (auto& log : all_logs()) {
    INFO("log: " << log->kind());
    auto plugins = load({"good", "fanout", "recorder"});
    Bus bus;
    bus.add(plugins->report.loaded);
    std::vector<std::uint64_t> observed;
    bus.observe([&](const Event& e) { observed.push_back(e.seq); });

    std::vector<Event> batch{suite_finished("r1", "unit"), suite_finished("r2", "integration")};
    auto stats = bus.publish(batch, log->sink());
    REQUIRE_MESSAGE(stats.is_ok(), stats.status().to_string());
    CHECK(batch[0].seq == 1);
    CHECK(batch[1].seq == 2);

    // 1, 2 published; good answers each with SuiteParsed (3, 4); fanout answers each of those
    // with two FailureDetected (5, 6 and 7, 8).
    auto events = log->events();
    REQUIRE(events.size() == 8);
    std::vector<std::uint64_t> expected{1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(recorded_seqs(plugins->recorder_log) == expected);
    CHECK(observed == expected);
    CHECK(stats->delivered == 12);  // 2 x (good, recorder), 2 x (fanout, recorder), 4 x recorder
    CHECK(stats->emitted == 6);
    CHECK(stats->failures == 0);

    struct Want {
      EventType type;
      std::uint64_t causation;
      const char* source;
      const char* run;
    };
    const Want want[] = {
        {EventType::SuiteFinished, 0, "host", "r1"},          {EventType::SuiteFinished, 0, "host", "r2"},
        {EventType::SuiteParsed, 1, "good@1.2.0", "r1"},      {EventType::SuiteParsed, 2, "good@1.2.0", "r2"},
        {EventType::FailureDetected, 3, "fanout@2.0.0", "r1"}, {EventType::FailureDetected, 3, "fanout@2.0.0", "r1"},
        {EventType::FailureDetected, 4, "fanout@2.0.0", "r2"}, {EventType::FailureDetected, 4, "fanout@2.0.0", "r2"},
    };
    for (std::size_t i = 0; i < events.size(); ++i) {
      INFO("seq " << events[i].seq);
      CHECK(events[i].seq == i + 1);
      CHECK(events[i].type == want[i].type);
      CHECK(events[i].causation == want[i].causation);
      CHECK(events[i].source == want[i].source);
      CHECK(events[i].run_id == want[i].run);
      CHECK(events[i].ts_us > 0);
    }
    auto parsed = events::decode<events::SuiteParsed>(events[2]);
    REQUIRE(parsed.is_ok());
    CHECK(parsed->suite == "unit");
    auto failure = events::decode<events::FailureDetected>(events[7]);
    REQUIRE(failure.is_ok());
    CHECK(failure->test_id == "integration::test_1");
  }
}

TEST_CASE("a plugin that throws and one that returns an error yield PluginFailed while the others and the run go on") {
  for (auto& log : all_logs()) {
    INFO("log: " << log->kind());
    auto plugins = load({"failer", "good", "recorder", "thrower"});
    Bus bus;
    bus.add(plugins->report.loaded);

    std::vector<Event> first{suite_finished("r1", "unit")};
    auto stats = bus.publish(first, log->sink());
    REQUIRE_MESSAGE(stats.is_ok(), stats.status().to_string());
    CHECK(stats->failures == 2);
    CHECK(stats->emitted == 3);

    // One batch for the trigger, in subscriber (load) order: failer, good, thrower.
    auto events = log->events();
    REQUIRE(events.size() == 4);
    CHECK(events[1].type == EventType::PluginFailed);
    CHECK(events[2].type == EventType::SuiteParsed);
    CHECK(events[3].type == EventType::PluginFailed);
    CHECK(of_type(events, EventType::HumanAlert).empty());  // the failing plugins' output was dropped

    auto failer = events::decode<events::PluginFailed>(events[1]);
    REQUIRE(failer.is_ok());
    CHECK(failer->plugin == "failer@1.0");
    CHECK(failer->trigger_seq == 1);
    CHECK(failer->trigger_type == static_cast<std::uint16_t>(EventType::SuiteFinished));
    CHECK(contains(failer->error, "Corruption: failer: report of suite is garbage"));
    auto thrower = events::decode<events::PluginFailed>(events[3]);
    REQUIRE(thrower.is_ok());
    CHECK(thrower->plugin == "thrower@1.0");
    CHECK(contains(thrower->error, "thrower exploded"));
    CHECK(contains(thrower->error, "return a Status instead of throwing"));
    for (std::size_t i : {1u, 3u}) {
      CHECK(events[i].source == "host");
      CHECK(events[i].causation == 1);
      CHECK(events[i].run_id == "r1");
    }

    // The recorder got the trigger and everything after it, including the failures.
    CHECK(recorded_seqs(plugins->recorder_log) == std::vector<std::uint64_t>{1, 2, 3, 4});

    // The run goes on: the next event is dispatched to all of them again.
    std::vector<Event> second{suite_finished("r1", "lint")};
    auto again = bus.publish(second, log->sink());
    REQUIRE(again.is_ok());
    CHECK(second[0].seq == 5);
    CHECK(again->failures == 2);
    CHECK(of_type(log->events(), EventType::SuiteParsed).size() == 2);
  }
}

TEST_CASE("an emitted event of an unknown type is rejected as PluginFailed") {
  auto plugins = load({"bad_type", "good"});
  Bus bus;
  bus.add(plugins->report.loaded);
  MemorySink sink;
  std::vector<Event> batch{suite_finished("r1", "unit")};
  auto stats = bus.publish(batch, sink);
  REQUIRE(stats.is_ok());
  REQUIRE(sink.events().size() == 3);
  auto failed = events::decode<events::PluginFailed>(sink.events()[1]);
  REQUIRE(failed.is_ok());
  CHECK(failed->plugin == "bad_type@1.0");
  CHECK(contains(failed->error, "unknown type id 999"));
  CHECK(sink.events()[2].type == EventType::SuiteParsed);
}

TEST_CASE("the depth bound cuts an endless self-reaction with PluginFailed") {
  for (auto& log : all_logs()) {
    INFO("log: " << log->kind());
    auto plugins = load({"looper"});
    BusOptions options;
    options.max_depth = 5;
    Bus bus(options);
    bus.add(plugins->report.loaded);

    events::FailureDetected root;
    root.test_id = "t";
    std::vector<Event> batch{events::make_event(root, "r9")};
    auto stats = bus.publish(batch, log->sink());
    REQUIRE(stats.is_ok());

    // Root (depth 0), five reactions (depths 1..5), then the cut.
    auto events = log->events();
    REQUIRE(events.size() == 7);
    for (std::size_t i = 1; i < 6; ++i) {
      CHECK(events[i].type == EventType::FailureDetected);
      CHECK(events[i].causation == events[i - 1].seq);
      CHECK(events[i].source == "looper@1");
      CHECK(events[i].run_id == "r9");
    }
    REQUIRE(events[6].type == EventType::PluginFailed);
    CHECK(events[6].causation == 6);
    auto failed = events::decode<events::PluginFailed>(events[6]);
    REQUIRE(failed.is_ok());
    CHECK(failed->plugin == "looper@1");
    CHECK(contains(failed->error, "reaction chain deeper than 5 events"));
    CHECK(contains(failed->error, "plugin 'looper@1'"));
    CHECK(contains(failed->error, "check its subscriptions"));
    CHECK(stats->failures == 1);
  }
}

TEST_CASE("the default depth bound is 16") {
  auto plugins = load({"looper"});
  Bus bus;
  bus.add(plugins->report.loaded);
  MemorySink sink;
  std::vector<Event> batch{events::make_event(events::FailureDetected{}, "r")};
  REQUIRE(bus.publish(batch, sink).is_ok());
  REQUIRE(sink.events().size() == 1 + 16 + 1);
  CHECK(sink.events().back().type == EventType::PluginFailed);
}

TEST_CASE("pure_only skips effectful plugins") {
  auto plugins = load({"effector", "good"});
  for (bool pure_only : {false, true}) {
    INFO("pure_only " << pure_only);
    BusOptions options;
    options.pure_only = pure_only;
    Bus bus(options);
    bus.add(plugins->report.loaded);
    MemorySink sink;
    std::vector<Event> batch{suite_finished("r1", "unit")};
    auto stats = bus.publish(batch, sink);
    REQUIRE(stats.is_ok());
    auto alerts = sink.of_type(EventType::HumanAlert);
    CHECK(alerts.size() == (pure_only ? 0u : 1u));
    if (!alerts.empty()) CHECK(alerts[0].source == "effector@1.0");
    CHECK(sink.of_type(EventType::SuiteParsed).size() == 1);
    CHECK(stats->delivered == (pure_only ? 1u : 2u));
    CHECK(bus.has_subscribers(EventType::SuiteFinished));
    CHECK_FALSE(bus.has_subscribers(EventType::RunStarted));
  }
}

TEST_CASE("dispatch re-derives from an event already in a log (replay)") {
  auto plugins = load({"good"});
  MemorySink recorded;
  std::vector<Event> batch{suite_finished("r1", "unit")};
  REQUIRE(recorded.append(batch).is_ok());

  BusOptions options;
  options.pure_only = true;
  Bus bus(options);
  bus.add(plugins->report.loaded);
  MemorySink replayed(recorded.last_seq());
  auto stats = bus.dispatch(recorded.events()[0], replayed);
  REQUIRE(stats.is_ok());
  REQUIRE(replayed.events().size() == 1);
  CHECK(replayed.events()[0].seq == 2);
  CHECK(replayed.events()[0].causation == 1);
  CHECK(replayed.get(2) == &replayed.events()[0]);
  CHECK(replayed.get(1) == nullptr);

  auto unappended = bus.dispatch(suite_finished("r1", "x"), replayed);
  REQUIRE_FALSE(unappended.is_ok());
  CHECK(unappended.status().code() == Errc::invalid_argument);
  CHECK(contains(unappended.status().message(), "seq 0"));
}

TEST_CASE("the bus keeps plugins alive after the load report is gone") {
  Bus bus;
  MemorySink sink;
  {
    auto plugins = load({"good"});
    bus.add(plugins->report.loaded);
    bus.add(plugins->report.loaded);  // a second add of the same plugins has no effect
  }
  std::vector<Event> batch{suite_finished("r1", "unit")};
  auto stats = bus.publish(batch, sink);
  REQUIRE(stats.is_ok());
  CHECK(stats->delivered == 1);
  CHECK(sink.of_type(EventType::SuiteParsed).size() == 1);
}

TEST_CASE("re-entering the bus from an observer is refused, not corrupting") {
  auto plugins = load({"good"});
  Bus bus;
  bus.add(plugins->report.loaded);
  MemorySink sink;
  Status inner;
  bus.observe([&](const Event& e) {
    if (e.type != EventType::SuiteParsed) return;
    std::vector<Event> more{suite_finished("r1", "nested")};
    auto r = bus.publish(more, sink);
    inner = r.is_ok() ? Status::ok() : r.status();
  });
  std::vector<Event> batch{suite_finished("r1", "unit")};
  REQUIRE(bus.publish(batch, sink).is_ok());
  CHECK(inner.code() == Errc::internal);
  CHECK(sink.events().size() == 2);
}

#if FIXHOST_TEST_HAVE_STORE
TEST_CASE("a sink error stops the dispatch and is returned") {
  TempDir dir;
  {
    auto created = store::EventLog::open(dir / "store");
    REQUIRE_MESSAGE(created.is_ok(), created.status().to_string());
  }
  store::StoreOptions read_only;
  read_only.writable = false;
  auto log = store::EventLog::open(dir / "store", read_only);
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  LogSink sink(**log);
  auto plugins = load({"good"});
  Bus bus;
  bus.add(plugins->report.loaded);
  std::vector<Event> batch{suite_finished("r1", "unit")};
  auto stats = bus.publish(batch, sink);
  REQUIRE_FALSE(stats.is_ok());
  // The sink's own error comes back unchanged.
  CHECK(contains(stats.status().message(), (dir / "store").string()));
  CHECK(batch[0].seq == 0);
}
#endif

TEST_CASE("dispatching to a plugin that emits nothing allocates nothing") {
  auto plugins = load({"noop"});
  Bus bus;
  bus.add(plugins->report.loaded);
  MemorySink sink;
  std::vector<Event> batch{suite_finished("run-with-a-name-longer-than-sso", "unit")};
  REQUIRE(sink.append(batch).is_ok());
  REQUIRE(bus.dispatch(batch[0], sink).is_ok());  // warm up

  // The counter sees allocations at all.
  g_allocations = 0;
  g_counting = true;
  auto probe = std::make_unique<std::string>(100, 'x');
  g_counting = false;
  REQUIRE(g_allocations.load() >= 1);

  g_allocations = 0;
  g_counting = true;
  std::uint64_t delivered = 0;
  for (int i = 0; i < 1000; ++i) {
    auto stats = bus.dispatch(batch[0], sink);
    if (stats.is_ok()) delivered += stats->delivered;
  }
  g_counting = false;
  CHECK(delivered == 1000);
  CHECK(g_allocations.load() == 0);
}
