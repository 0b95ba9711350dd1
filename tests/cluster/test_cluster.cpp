// The cluster against real servers: a 3-node nats-server JetStream cluster on loopback, four
// runners (stores written here) each forwarded by a real `hostctl cluster forward --follow`.
#include <doctest/doctest.h>
#include <fcntl.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <set>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/cluster.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/host/world/jetstream.hpp"
#include "fixhost/store/event_log.hpp"
#include "fixhost/test/files.hpp"
#include "history.hpp"
#include "nats_cluster.hpp"

using namespace fixhost;
using fixhost::test::Child;
using fixhost::test::NatsCluster;
using fixhost::test::TempDir;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Ran {
  int code = -1;
  std::string out, err;
};

Ran hostctl(const std::vector<std::string>& args, const std::vector<std::string>& env, const fs::path& tmp) {
  std::vector<std::string> argv{FIXHOST_HOSTCTL};
  argv.insert(argv.end(), args.begin(), args.end());
  static int n = 0;
  const fs::path out = tmp / ("out" + std::to_string(++n)), err = tmp / ("err" + std::to_string(n));
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), fixhost::test::read_file(out), fixhost::test::read_file(err)};
}

std::unique_ptr<store::EventLog> open_store(const fs::path& dir) {
  store::StoreOptions so;
  so.sync = false;
  so.projections.push_back(host::stats_projection());
  auto log = store::EventLog::open(dir, so);
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  return std::move(*log);
}

// Appends n small events of one run (RunStarted payloads) in batches of `batch`.
void append_events(store::EventLog& log, const std::string& run, int n, int batch = 50) {
  std::vector<events::Event> b;
  for (int i = 0; i < n; ++i) {
    b.push_back(events::make_event(stats_test::started("autofix"), run, "host"));
    if (static_cast<int>(b.size()) == batch || i == n - 1) {
      auto r = log.append_batch(b, false);
      REQUIRE(r.is_ok());
      b.clear();
    }
  }
}

// Waits until the forwarder of `store` has every local event acknowledged.
bool wait_forwarded(const fs::path& store, std::uint64_t last, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    auto st = host::read_forwarder_state(store);
    if (st && st->acked_seq >= last) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// host -> seq -> how many times it is in the stream.
std::map<std::string, std::map<std::uint64_t, int>> stream_counts(const std::string& urls) {
  std::map<std::string, std::map<std::uint64_t, int>> counts;
  host::world::NatsOptions no;
  no.url = urls;
  auto js = host::world::JetStream::connect(no);
  REQUIRE_MESSAGE(js.is_ok(), js.status().to_string());
  auto s = (*js)->read("FIXHOST_EVENTS", "fixhost.events.>", 1, [&](const host::world::NatsInMsg& m) {
    ++counts[m.headers.at("Fixhost-Host")][std::stoull(m.headers.at("Fixhost-Seq"))];
    return true;
  });
  REQUIRE_MESSAGE(s.is_ok(), s.to_string());
  return counts;
}

void check_exactly_once(const std::map<std::string, std::map<std::uint64_t, int>>& counts, int hosts, std::uint64_t per_host) {
  REQUIRE(counts.size() == static_cast<std::size_t>(hosts));
  for (const auto& [host, seqs] : counts) {
    INFO("host " << host);
    CHECK(seqs.size() == per_host);
    int dup = 0;
    for (const auto& [seq, n] : seqs) dup += n != 1;
    CHECK(dup == 0);
    CHECK(seqs.begin()->first == 1);
    CHECK(seqs.rbegin()->first == per_host);
  }
}

struct Runners {
  std::vector<fs::path> stores;
  std::vector<std::unique_ptr<store::EventLog>> logs;
  std::vector<Child> forwarders;
  std::vector<std::string> env(int i, const std::string& urls) const {
    return {"FIXHOST_CLUSTER_URL=" + urls, "FIXHOST_CLUSTER_HOST_ID=runner-" + std::to_string(i)};
  }
  Runners(const TempDir& tmp, int n) {
    for (int i = 0; i < n; ++i) {
      stores.push_back(tmp.subdir("r" + std::to_string(i)) / ".fixhost");
      logs.push_back(open_store(stores.back()));
    }
  }
  void start_forwarders(const TempDir& tmp, const std::string& urls) {
    for (std::size_t i = 0; i < stores.size(); ++i) {
      auto e = env(static_cast<int>(i), urls);
      forwarders.emplace_back(std::vector<std::string>{FIXHOST_HOSTCTL, "--store", stores[i].string(), "cluster", "forward",
                                                       "--follow", "--repo", stores[i].parent_path().string()},
                              e, tmp / ("fwd" + std::to_string(i) + ".log"));
    }
  }
};

}  // namespace

TEST_CASE("one node killed while 4 runners publish: no event lost, none duplicated") {
  TempDir tmp("fixhost-cluster");
  NatsCluster cluster(tmp.subdir("nats"), 3);
  Runners runners(tmp, 4);
  runners.start_forwarders(tmp, cluster.urls());
  const int per_round = 500, rounds = 6;
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < runners.logs.size(); ++i)
      append_events(*runners.logs[i], "run-" + std::to_string(i), per_round);
    if (round == 2) cluster.kill(1);  // a node holding a replica (perhaps the leader) dies mid-stream
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const std::uint64_t total = per_round * rounds;
  for (const auto& s : runners.stores) CHECK_MESSAGE(wait_forwarded(s, total, std::chrono::seconds(90)), s.string());
  check_exactly_once(stream_counts(cluster.urls()), 4, total);
  auto st = host::read_forwarder_state(runners.stores[0]);
  REQUIRE(st.is_ok());
  CHECK(st->host_id == "runner-0");
  CHECK(st->acked_seq == total);
}

TEST_CASE("the whole cluster down for 10 s: local appends go on, and every event arrives after the restart") {
  TempDir tmp("fixhost-cluster");
  NatsCluster cluster(tmp.subdir("nats"), 3);
  Runners runners(tmp, 4);
  runners.start_forwarders(tmp, cluster.urls());
  for (std::size_t i = 0; i < runners.logs.size(); ++i) append_events(*runners.logs[i], "run-" + std::to_string(i), 300);
  for (const auto& s : runners.stores) REQUIRE(wait_forwarded(s, 300, std::chrono::seconds(60)));
  for (int n = 0; n < 3; ++n) cluster.kill(n);
  // Local work goes on while no server answers: appends are local and never wait for the forwarder.
  for (std::size_t i = 0; i < runners.logs.size(); ++i) append_events(*runners.logs[i], "run-" + std::to_string(i), 300);
  std::this_thread::sleep_for(std::chrono::seconds(10));
  for (std::size_t i = 0; i < runners.logs.size(); ++i) CHECK(runners.logs[i]->last_seq() == 600);
  auto st = host::read_forwarder_state(runners.stores[0]);
  REQUIRE(st.is_ok());
  CHECK(st->acked_seq == 300);
  CHECK_FALSE(st->last_error.empty());  // cluster status shows why it lags
  auto status = hostctl({"--store", runners.stores[0].string(), "cluster", "status", "--json", "--repo", tmp.path().string()},
                        runners.env(0, cluster.urls()), tmp.path());
  REQUIRE(status.code == 0);
  auto j = json::parse(status.out);
  CHECK(j["lag_events"] == 300);
  CHECK(j["lag_seconds"].get<double>() >= 9.0);
  CHECK(j["host_id"] == "runner-0");
  CHECK_FALSE(j["last_error"].get<std::string>().empty());
  for (int n = 0; n < 3; ++n) cluster.restart(n);
  for (const auto& s : runners.stores) CHECK_MESSAGE(wait_forwarded(s, 600, std::chrono::seconds(90)), s.string());
  check_exactly_once(stream_counts(cluster.urls()), 4, 600);
}

TEST_CASE("a wrong token: a clear error, and local work goes on") {
  TempDir tmp("fixhost-cluster");
  NatsCluster server(tmp.subdir("nats"), 1, "s3cret");
  auto store = tmp.subdir("r") / ".fixhost";
  {
    auto log = open_store(store);
    append_events(*log, "run-1", 10);
  }
  std::vector<std::string> env{"FIXHOST_CLUSTER_URL=" + server.urls(), "FIXHOST_NATS_TOKEN=wrong"};
  fixhost::test::write_file(tmp / "r" / "fixhost.toml", "[cluster]\nreplicas = 1\n");
  auto r = hostctl({"--store", store.string(), "cluster", "forward", "--repo", (tmp / "r").string()}, env, tmp.path());
  CHECK(r.code == 2);
  CHECK_MESSAGE(r.err.find("Authorization") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("FIXHOST_NATS_TOKEN") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find(server.urls()) != std::string::npos, r.err);
  // --follow does not retry a refusal forever: it stops with the same error.
  auto f = hostctl({"--store", store.string(), "cluster", "forward", "--follow", "--repo", (tmp / "r").string()}, env, tmp.path());
  CHECK(f.code == 2);
  auto status = hostctl({"--store", store.string(), "cluster", "status", "--json", "--repo", (tmp / "r").string()}, env, tmp.path());
  REQUIRE(status.code == 0);
  auto j = json::parse(status.out);
  CHECK(j["lag_events"] == 10);
  CHECK(j["last_error"].get<std::string>().find("Authorization") != std::string::npos);
  {
    auto log = open_store(store);  // the store was never locked or touched by the forwarder
    append_events(*log, "run-2", 5);
    CHECK(log->last_seq() == 15);
  }
  env[1] = "FIXHOST_NATS_TOKEN=s3cret";
  auto ok = hostctl({"--store", store.string(), "cluster", "forward", "--repo", (tmp / "r").string()}, env, tmp.path());
  CHECK_MESSAGE(ok.code == 0, ok.err);
  auto st = host::read_forwarder_state(store);
  REQUIRE(st.is_ok());
  CHECK(st->acked_seq == 15);
  CHECK(st->last_error.empty());
}

TEST_CASE("without [cluster] nothing connects") {
  TempDir tmp("fixhost-cluster");
  auto c = host::load_cluster_config(tmp.path());
  REQUIRE(c.is_ok());
  CHECK_FALSE(c->enabled());
  auto r = hostctl({"--store", (tmp / ".fixhost").string(), "cluster", "status", "--repo", tmp.path().string()}, {}, tmp.path());
  CHECK(r.code == 2);
  CHECK(r.err.find("the cluster is off") != std::string::npos);
  fixhost::test::write_file(tmp / "fixhost.toml", "[cluster]\nurl = \"nats://127.0.0.1:1\"\ntoken = \"x\"\n");
  auto bad = host::load_cluster_config(tmp.path());
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("FIXHOST_NATS_TOKEN") != std::string::npos);
}

namespace {

// Copies every event of `from` into `to` with run ids prefixed and causation shifted by what
// `to` already holds (the events land contiguously, so a cause keeps pointing at its event).
void copy_events(const store::EventLog& from, store::EventLog& to, const std::string& prefix) {
  const std::uint64_t offset = to.last_seq();
  std::vector<events::Event> all;
  REQUIRE(from.scan(1, 0, [&](const events::Event& e) {
                 events::Event c = e;
                 c.seq = 0;
                 c.run_id = prefix + e.run_id;
                 if (c.causation) c.causation += offset;
                 all.push_back(std::move(c));
                 return true;
               }).is_ok());
  REQUIRE(to.append_batch(all).is_ok());
}

// Every {"value", "count"} figure of a stats report, by its path.
void figures(const json& j, const std::string& path, std::map<std::string, json>& out) {
  if (j.is_object() && j.contains("count") && j.contains("value")) {
    out[path] = j;
    return;
  }
  if (j.is_object())
    for (auto& [k, v] : j.items()) figures(v, path + "/" + k, out);
}

}  // namespace

TEST_CASE("stats --cluster: the figures of all runners' events, read incrementally") {
  TempDir tmp("fixhost-cluster");
  NatsCluster server(tmp.subdir("nats"), 1);
  const std::string url = server.urls();
  std::vector<fs::path> stores;
  for (int i = 0; i < 4; ++i) {
    const fs::path repo = tmp.subdir("r" + std::to_string(i));
    fixhost::test::write_file(repo / "fixhost.toml", "[cluster]\nreplicas = 1\nhost_id = \"h" + std::to_string(i) + "\"\n");
    stores.push_back(repo / ".fixhost");
    auto src = open_store(tmp / ("src" + std::to_string(i)));
    stats_test::write_history(*src, 3);
    for (int k = 0; k < i; ++k) stats_test::write_extra_run(*src, "extra-" + std::to_string(k));
    auto log = open_store(stores.back());
    copy_events(*src, *log, "h" + std::to_string(i) + "-");
  }
  std::vector<std::string> env{"FIXHOST_CLUSTER_URL=" + url};
  std::vector<std::map<std::string, json>> local(4);
  for (int i = 0; i < 4; ++i) {
    const std::string repo = stores[i].parent_path().string();
    auto f = hostctl({"--store", stores[i].string(), "cluster", "forward", "--repo", repo}, env, tmp.path());
    REQUIRE_MESSAGE(f.code == 0, f.err);
    auto s = hostctl({"--store", stores[i].string(), "stats", "--json", "--repo", repo}, env, tmp.path());
    REQUIRE_MESSAGE(s.code == 0, s.err);
    figures(json::parse(s.out), "", local[i]);
  }
  const std::string viewer_repo = tmp.subdir("viewer").string();
  fixhost::test::write_file(tmp / "viewer" / "fixhost.toml", "[cluster]\nreplicas = 1\n");
  const std::vector<std::string> stats_cluster{"--store", (tmp / "viewer" / ".fixhost").string(), "stats", "--cluster",
                                               "--json", "--repo", viewer_repo};
  auto c = hostctl(stats_cluster, env, tmp.path());
  REQUIRE_MESSAGE(c.code == 0, c.err);
  json cj = json::parse(c.out);
  std::map<std::string, json> cluster;
  figures(cj, "", cluster);
  REQUIRE(cluster.size() == local[0].size());
  REQUIRE(cluster.size() > 20);
  int totals = 0;
  for (const auto& [path, fig] : cluster) {
    INFO(path);
    std::uint64_t sum = 0;
    for (const auto& l : local) sum += l.at(path)["count"].get<std::uint64_t>();
    CHECK(fig["count"].get<std::uint64_t>() == sum);  // every figure rests on all runners' data
    // Totals (runs, failures, fixed, …: value == count) are the sums of the local totals.
    if (local[0].at(path)["value"].is_number_integer() && local[0].at(path)["value"] == local[0].at(path)["count"]) {
      std::int64_t vsum = 0;
      for (const auto& l : local) vsum += l.at(path)["value"].get<std::int64_t>();
      CHECK(fig["value"].get<std::int64_t>() == vsum);
      ++totals;
    }
  }
  CHECK(totals > 3);
  // Every figure (rates, medians too) equals that of one log holding all four runners' events.
  auto merged = open_store(tmp / "merged");
  for (int i = 0; i < 4; ++i) {
    store::StoreOptions so;
    so.writable = false;
    auto l = store::EventLog::open(stores[i], so);
    REQUIRE(l.is_ok());
    copy_events(**l, *merged, "");
  }
  host::StatsQuery q;
  auto expected = host::stats_from_scan(*merged, q);
  REQUIRE(expected.is_ok());
  json ej = json::parse(expected->dump());
  for (const std::string k : {"as_of_seq", "source"}) {  // where the answer came from, not a figure
    ej.erase(k);
    cj.erase(k);
  }
  CHECK(cj == ej);

  // A second view reads only what is new: nothing, then one more run of runner 0.
  auto sync = hostctl({"--store", (tmp / "viewer" / ".fixhost").string(), "cluster", "sync", "--json", "--repo", viewer_repo},
                      env, tmp.path());
  REQUIRE_MESSAGE(sync.code == 0, sync.err);
  CHECK(json::parse(sync.out)["read"] == 0);
  std::uint64_t before = 0;
  {
    auto log = open_store(stores[0]);
    before = log->last_seq();
    stats_test::write_extra_run(*log, "h0-late");
    before = log->last_seq() - before;
  }
  REQUIRE(hostctl({"--store", stores[0].string(), "cluster", "forward", "--repo", stores[0].parent_path().string()}, env,
                  tmp.path())
              .code == 0);
  auto again = hostctl(stats_cluster, env, tmp.path());
  REQUIRE(again.code == 0);
  auto sync2 = hostctl({"--store", (tmp / "viewer" / ".fixhost").string(), "cluster", "sync", "--json", "--repo", viewer_repo},
                       env, tmp.path());
  CHECK(json::parse(sync2.out)["read"] == 0);  // `again` already read the new run's events
  std::map<std::string, json> after;
  figures(json::parse(again.out), "", after);
  CHECK(after.at("/autofix/runs")["value"].get<std::int64_t>() == cluster.at("/autofix/runs")["value"].get<std::int64_t>() + 1);
  auto runs = hostctl({"--store", (tmp / "viewer" / ".fixhost").string(), "runs", "--cluster", "--json", "--repo", viewer_repo},
                      env, tmp.path());
  REQUIRE_MESSAGE(runs.code == 0, runs.err);
  std::set<std::string> ids;
  for (const auto& r : json::parse(runs.out)) ids.insert(r["run_id"].get<std::string>());
  CHECK(ids.count("h0-late") == 1);
  CHECK(ids.count("h3-extra-2") == 1);
  CHECK(ids.count("h2-af-1") == 1);
  CHECK(before > 0);
}

TEST_CASE("replay --cluster: every runner's runs, each with the same differences as its local replay") {
  TempDir tmp("fixhost-cluster");
  NatsCluster server(tmp.subdir("nats"), 1);
  std::vector<std::string> env{"FIXHOST_CLUSTER_URL=" + server.urls()};
  std::map<std::string, json> local_runs;  // run id -> its entry in the runner's own replay
  for (int i = 0; i < 2; ++i) {
    const fs::path repo = tmp.subdir("r" + std::to_string(i));
    fixhost::test::write_file(repo / "fixhost.toml", "[cluster]\nreplicas = 1\nhost_id = \"h" + std::to_string(i) + "\"\n");
    const fs::path store = repo / ".fixhost";
    {
      auto src = open_store(tmp / ("src" + std::to_string(i)));
      stats_test::write_history(*src, 3);
      auto log = open_store(store);
      copy_events(*src, *log, "h" + std::to_string(i) + "-");
    }
    auto f = hostctl({"--store", store.string(), "cluster", "forward", "--repo", repo.string()}, env, tmp.path());
    REQUIRE_MESSAGE(f.code == 0, f.err);
    auto r = hostctl({"--store", store.string(), "replay", "--all", "--json", "--repo", repo.string()}, env, tmp.path());
    INFO(r.out << r.err);
    REQUIRE((r.code == 0 || r.code == 1));
    const json rj = json::parse(r.out);
    CHECK(rj["runs"].size() > 1);
    for (const auto& run : rj["runs"]) local_runs[run["run"].get<std::string>()] = run;
  }
  REQUIRE(local_runs.size() > 2);
  const std::string viewer = tmp.subdir("viewer").string();
  fixhost::test::write_file(tmp / "viewer" / "fixhost.toml", "[cluster]\nreplicas = 1\n");
  auto c = hostctl({"--store", (tmp / "viewer" / ".fixhost").string(), "replay", "--cluster", "--all", "--json", "--repo", viewer},
                   env, tmp.path());
  REQUIRE_MESSAGE((c.code == 0 || c.code == 1), c.err);
  json cj = json::parse(c.out);
  CHECK(cj["totals"]["runs"] == local_runs.size());
  std::set<std::string> hosts;
  for (const auto& run : cj["runs"]) {
    const std::string id = run["run"];
    INFO(id);
    REQUIRE(local_runs.count(id) == 1);
    CHECK(run["counts"] == local_runs[id]["counts"]);
    CHECK(run["facts"] == local_runs[id]["facts"]);
    hosts.insert(id.substr(0, 2));
  }
  CHECK(hosts == std::set<std::string>{"h0", "h1"});
  // The replay run went into the view cache, not into the stream or a runner's store.
  CHECK(cj["store"].get<std::string>().find("-cluster") != std::string::npos);
}
