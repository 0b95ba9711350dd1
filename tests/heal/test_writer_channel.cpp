// The store's single-writer rule while `hostctl serve` runs: other commands (heal, stats, detect)
// run to completion, their events recorded through serve's recorder (the writer channel), while
// serve keeps accepting SDK events; killing serve mid-run stops the command cleanly.
#include "heal_support.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "fixhost/store/event_log.hpp"
#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
using nlohmann::json;

namespace {

const char* k_toml = R"(
[heal]
ingest_keys = ["pubkey1"]
)";

std::map<std::string, std::string> auth() {
  return {{"X-Sentry-Auth", "Sentry sentry_key=pubkey1, sentry_version=7, sentry_client=test/1.0"},
          {"Content-Type", "application/x-sentry-envelope"}};
}

std::string envelope(const std::string& id) {
  json e = {{"event_id", id},
            {"level", "error"},
            {"platform", "python"},
            {"exception",
             {{"values", json::array({{{"type", "KeyError"},
                                       {"value", "'x'"},
                                       {"stacktrace",
                                        {{"frames", json::array({{{"filename", "shop/users.py"}, {"module", "shop.users"},
                                                                  {"function", "lookup"}, {"lineno", 5}, {"in_app", true}}})}}}}})}}}};
  const std::string item = e.dump();
  return json{{"event_id", id}}.dump() + "\n" + json{{"type", "event"}, {"length", item.size()}}.dump() + "\n" + item + "\n";
}

// Every event in the log: (seq, type, run, payload).
std::vector<json> all_events(const GitRepo& repo) {
  auto r = repo.hostctl({"events", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  std::vector<json> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') out.push_back(json::parse(line));
  return out;
}

// SDK envelopes from two connections until told to stop; counts the ones answered 200.
struct Sender {
  explicit Sender(const std::string& url) {
    for (int c = 0; c < 2; ++c)
      threads.emplace_back([this, url, c] {
        for (int i = 0; go; ++i) {
          char id[40];
          std::snprintf(id, sizeof id, "%08d%024d", c, i);
          try {
            auto r = http_request(url, "POST", "/api/7/envelope/", envelope(id), auth());
            if (r.status == 200) ++ok;
            else if (r.status > 0) ++refused;
          } catch (const std::exception&) {
            ++refused;  // serve is gone
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
  }
  void stop() {
    go = false;
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~Sender() { stop(); }
  std::atomic<bool> go{true};
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
};

void check_gap_free(const std::vector<json>& evs) {
  for (std::size_t i = 0; i < evs.size(); ++i) REQUIRE(evs[i]["seq"] == i + 1);
}

}  // namespace

TEST_CASE("heal writer channel: heal and stats run while serve records SDK events - every event once and in order") {
  GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}, {"README.md", "shop\n"}});
  ServeProcess serve(repo.dir());
  struct stat st {};
  REQUIRE(::stat((repo.store() / "SERVE.sock").c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);

  Sender sender(serve.url());
  while (sender.ok < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // heal (a writer) runs to completion through serve: no agent, so it triages, reports and ends.
  auto heal = repo.hostctl({"heal", "--json"});
  CHECK_MESSAGE(heal.code != 2, heal.err);  // 2: an error (Busy before the writer channel)
  CHECK_MESSAGE(heal.err.find("Busy") == std::string::npos, heal.err);
  REQUIRE_MESSAGE(!heal.out.empty(), heal.err);
  const std::string heal_run = json_of(heal)["run"];
  CHECK(!heal_run.empty());
  auto stats = repo.hostctl({"stats", "--mode", "heal", "--json"});
  CHECK_MESSAGE(stats.code == 0, stats.err);
  // A second heal while SDK events keep arriving (by now maybe over the rate guard: exit 4).
  auto again = repo.hostctl({"heal", "--json"});
  CHECK_MESSAGE(again.code != 2, again.err);
  const std::string again_run = json_of(again)["run"];
  const int before_stop = sender.ok;
  while (sender.ok < before_stop + 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  sender.stop();
  CHECK(sender.refused == 0);
  REQUIRE(serve.stop() == 0);

  auto evs = all_events(repo);
  check_gap_free(evs);
  std::size_t ingested = 0;
  std::set<std::string> ids;
  std::map<std::string, std::vector<std::string>> by_run;
  for (const auto& e : evs) {
    by_run[e["run_id"].get<std::string>()].push_back(e["type"]);
    if (e["type"] == "SentryIssueIngested") {
      ++ingested;
      ids.insert(e["payload"]["event_id"].get<std::string>());
    }
  }
  CHECK(ingested == static_cast<std::size_t>(sender.ok.load()));  // every answered event, once
  CHECK(ids.size() == ingested);
  // The heal run's events are all there, RunStarted first and RunFinished last.
  REQUIRE(by_run.count(heal_run));
  CHECK(by_run[heal_run].front() == "RunStarted");
  CHECK(by_run[heal_run].back() == "RunFinished");
  REQUIRE(by_run.count(again_run));
  CHECK(by_run[again_run].back() == "RunFinished");
  CHECK(by_run.size() == 3);  // serve and two heal runs
  // The stats projection serve keeps saw the heal runs too.
  auto after = repo.hostctl({"stats", "--mode", "heal", "--json"});
  auto rebuilt = repo.hostctl({"stats", "--mode", "heal", "--json", "--rebuild"});
  CHECK(json_of(after)["heal"] == json_of(rebuilt)["heal"]);
  CHECK(json_of(after)["heal"]["runs"]["value"] == 2);
}

TEST_CASE("heal writer channel: serve killed mid-run stops the command with a clear error and the store stays consistent") {
  GitRepo repo(std::map<std::string, std::string>{
      {"fixhost.toml", std::string(k_toml) + R"(
[[suites]]
name = "slow"
runner = "pytest"
command = ["/bin/sh", "-c", "sleep 3; exit 0"]
)"}});
  ServeProcess serve(repo.dir());
  Sender sender(serve.url());
  while (sender.ok < 5) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::atomic<bool> started{false};
  Ran detect;
  std::thread run([&] {
    started = true;
    detect = repo.hostctl({"detect"});
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // detect is in the suite's sleep
  CHECK(serve.stop(SIGKILL) == 128 + SIGKILL);
  run.join();
  sender.stop();
  CHECK(detect.code != 0);
  CHECK_MESSAGE(detect.err.find("hostctl serve, the store's writer, went away") != std::string::npos, detect.err);

  // Consistent: gap-free, indexes agree, every SDK event answered 200 is there, and the next
  // writer opens the store at once (serve's lock died with it).
  auto evs = all_events(repo);
  check_gap_free(evs);
  std::size_t ingested = 0;
  bool suite_started = false;
  for (const auto& e : evs) {
    if (e["type"] == "SentryIssueIngested") ++ingested;
    if (e["type"] == "SuiteStarted") suite_started = true;
  }
  CHECK(ingested >= static_cast<std::size_t>(sender.ok.load()));
  CHECK(suite_started);  // what serve answered before it died is in the log
  {
    fixhost::store::StoreOptions so;
    so.writable = false;
    auto log = fixhost::store::EventLog::open(repo.store(), so);
    REQUIRE(log.is_ok());
    CHECK((*log)->verify_indexes().is_ok());
  }
  auto next = repo.hostctl({"detect"});
  CHECK_MESSAGE(next.err.find("Busy") == std::string::npos, next.err);
}
