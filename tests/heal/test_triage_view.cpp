// The triage view (heal/triage_view.hpp) over a real store and the built sentry_triage: its
// typed entry point (sdk::TriageDeriver) gives the view the bus gives, and two workers scanning
// blocks of the log give the view one worker gives, ties in time included.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/heal/triage_view.hpp"
#include "fixhost/host/loader.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost;
using nlohmann::json;

namespace {

// sentry_triage behind a plugin that has only on_event: the host must go through the bus.
class OnlyOnEvent final : public sdk::Plugin {
 public:
  explicit OnlyOnEvent(std::shared_ptr<host::LoadedPlugin> inner) : inner_(std::move(inner)) {}
  sdk::PluginInfo info() const override { return inner_->info; }
  Status on_event(const events::Event& e, sdk::Emitter& out) override { return inner_->instance->on_event(e, out); }

 private:
  std::shared_ptr<host::LoadedPlugin> inner_;
};

std::vector<std::shared_ptr<host::LoadedPlugin>> load_triage() {
  host::LoaderOptions o;
  o.dirs = {FIXHOST_PLUGIN_DIR};
  auto report = host::load_plugins(o);
  std::vector<std::shared_ptr<host::LoadedPlugin>> out;
  for (auto& p : report.loaded)
    if (p->info.name == "sentry_triage") out.push_back(p);
  REQUIRE(out.size() == 1);
  REQUIRE(dynamic_cast<sdk::TriageDeriver*>(out[0]->instance.get()) != nullptr);
  return out;
}

std::vector<std::shared_ptr<host::LoadedPlugin>> via_bus(const std::vector<std::shared_ptr<host::LoadedPlugin>>& set) {
  auto p = std::make_shared<host::LoadedPlugin>(*set[0]);
  p->instance = std::make_shared<OnlyOnEvent>(set[0]);
  return {p};
}

std::string raw_event(int i) {
  const int bug = i % 23;
  json frames = json::array({{{"filename", "shop/m" + std::to_string(bug) + ".py"}, {"module", "shop.m" + std::to_string(bug)},
                              {"function", "f" + std::to_string(bug)}, {"lineno", 3 + i % 4}, {"in_app", true}}});
  const char* levels[] = {"error", "warning", "fatal", "error", "error"};
  // The value is not part of the group key: the title kept for a group depends on which event wins.
  json e = {{"event_id", std::to_string(100000 + i)},
            {"level", levels[i % 5]},
            {"release", "shop@1." + std::to_string(i % 3)},
            {"user", {{"id", "u" + std::to_string(i % 37)}}},
            {"exception", {{"values", json::array({{{"type", bug % 7 == 3 ? "TimeoutError" : "KeyError"},
                                                    {"value", "v" + std::to_string(i)},
                                                    {"stacktrace", {{"frames", frames}}}}})}}}};
  return e.dump();
}

nlohmann::ordered_json view_json(const host::heal::TriageView& v) {
  nlohmann::ordered_json j = {{"events", v.events}, {"errors_last_hour", v.errors_last_hour}, {"failures", v.plugin_failures}};
  j["groups"] = nlohmann::ordered_json::array();
  for (const auto& g : v.groups) {
    auto gj = host::heal::to_json(g);
    gj["latest_seq"] = g.latest_seq;
    j["groups"].push_back(std::move(gj));
  }
  return j;
}

}  // namespace

TEST_CASE("triage view: the typed entry point and the bus, one worker and two, give the same groups") {
  fixhost::test::TempDir dir("fixhost-triage-view");
  auto log = store::EventLog::open(dir.path() / "store");
  REQUIRE(log);
  // 10,000 facts over three blocks of the workers' 4096 seqs; every 8 share one time, so that
  // ties between verdicts of one group are settled by log order; some are issue-level (api).
  std::vector<events::Event> batch;
  const std::int64_t t0 = events::now_us() - 3'000'000'000LL;
  for (int i = 0; i < 10'000; ++i) {
    events::SentryIssueIngested p;
    p.via = i % 97 == 5 ? "api" : "store";
    if (p.via == "api") {
      p.issue_id = "issue-" + std::to_string(i % 3);
      p.count = static_cast<std::uint64_t>(i);
      p.user_count = 2;
    }
    p.raw.data = i % 501 == 7 ? "{not json" : raw_event(i);
    p.raw.total_bytes = p.raw.data.size();
    auto e = events::make_event(p, "serve");
    e.ts_us = t0 + (i / 8) * 1000;
    batch.push_back(std::move(e));
    if (batch.size() == 1000) {
      REQUIRE((*log)->append_batch(batch));
      batch.clear();
    }
  }
  host::heal::TriageQuery q;
  q.now_us = t0 + 1000 * 1000;  // a window over part of the facts for errors_last_hour
  auto direct = load_triage();
  auto one = host::heal::triage_view(**log, direct, q);
  REQUIRE(one);
  CHECK(one->events == 10'000);
  CHECK(one->groups.size() > 20);

  auto bus = host::heal::triage_view(**log, via_bus(direct), q);
  REQUIRE(bus);
  CHECK(view_json(*bus) == view_json(*one));

  auto second = load_triage();
  auto two = host::heal::triage_view(**log, std::vector{direct, second}, q);
  REQUIRE(two);
  CHECK(view_json(*two) == view_json(*one));

  auto two_bus = host::heal::triage_view(**log, std::vector{via_bus(direct), via_bus(second)}, q);
  REQUIRE(two_bus);
  CHECK(view_json(*two_bus) == view_json(*one));

  // In memory (heal's dry run) through either path, and the facts' verdicts seen once each.
  std::vector<events::Event> facts;
  REQUIRE((*log)->scan_type(events::EventType::SentryIssueIngested, [&](const events::Event& e) {
    facts.push_back(e);
    return true;
  }));
  std::size_t seen = 0;
  q.on_verdict = [&](const events::Event&, const events::IssueTriaged&) { ++seen; };
  auto mem = host::heal::triage_events(facts, direct, q);
  REQUIRE(mem);
  CHECK(view_json(*mem) == view_json(*one));
  CHECK(seen == 10'000);
  seen = 0;
  auto mem_bus = host::heal::triage_events(facts, via_bus(direct), q);
  REQUIRE(mem_bus);
  CHECK(view_json(*mem_bus) == view_json(*one));
  CHECK(seen == 10'000);
}
