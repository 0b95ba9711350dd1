// `hostctl build --distributed` against real servers: a 3-node nats-server cluster, a real bare
// git remote (its post-receive hook logs every push), real `hostctl worker --cluster` processes
// running each stream as `hostctl build --stream` with the scripted stream agent, and the
// coordinator merging, integrating and landing here.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>
#include <sstream>
#include <thread>

#include "build_fixture.hpp"
#include "nats_cluster.hpp"

using namespace fixhost;
using fixhost::test::Child;
using fixhost::test::NatsCluster;
namespace fs = std::filesystem;
using nlohmann::json;
namespace tb = fixhost::test::build;

namespace {

struct DistFixture {
  tb::BuildRepo repo;
  test::TempDir tmp{"fixhost-dist"};
  std::unique_ptr<NatsCluster> nats;
  fs::path remote = tmp.path() / "remote.git", pushlog = tmp.path() / "pushes.log";
  std::vector<Child> workers;
  json scenario = tb::good_scenario();

  DistFixture() {
    // The coordinator may create the job queue's consumer before a worker does: the same settings.
    test::write_file(repo.dir() / "fixhost.toml",
                     test::read_file(repo.dir() / "fixhost.toml") + "\n[cluster]\nreplicas = 3\njob_ack_wait = 2\njob_max_deliver = 3\n");
    repo.commit_all("the cluster's settings");
    nats = std::make_unique<NatsCluster>(tmp.path() / "nats", 3);
    git({"clone", "-q", "--bare", repo.dir().string(), remote.string()});
    test::write_file(remote / "hooks/post-receive", "#!/bin/sh\ncat >> '" + pushlog.string() + "'\n");
    fs::permissions(remote / "hooks/post-receive", fs::perms::owner_all);
    test::write_file(pushlog, "");
    repo.git({"remote", "add", "origin", remote.string()});
  }
  ~DistFixture() {
    workers.clear();
    nats.reset();
  }
  static std::string git(std::vector<std::string> args) {
    args.insert(args.begin(), "git");
    auto r = test::run_in(fs::current_path(), args);
    REQUIRE_MESSAGE(r.code == 0, r.out << r.err);
    return r.out;
  }
  std::map<std::string, std::string> env(const std::string& host) const {
    return {{"FIXHOST_CLUSTER_URL", nats->urls()}, {"FIXHOST_CLUSTER_HOST_ID", host}, {"BUILD_SCENARIO", scenario.dump()}};
  }
  void start_worker(const std::string& host) {
    const fs::path d = tmp.path() / host;
    fs::create_directories(d);
    test::write_file(d / "fixhost.toml", "[cluster]\nreplicas = 3\njob_ack_wait = 2\njob_max_deliver = 3\n");
    std::vector<std::string> e;
    for (const auto& [k, v] : env(host)) e.push_back(k + "=" + v);
    workers.emplace_back(std::vector<std::string>{FIXHOST_HOSTCTL, "worker", "--cluster", "--repo", d.string(), "--work-dir",
                                                  tmp.path().string()},
                         e, tmp.path() / (host + ".log"));
  }
  test::Ran build(std::vector<std::string> extra = {}) {
    test::write_file(repo.manifest_path(), tb::manifest());
    std::vector<std::string> args = {"build", "--json", "--distributed", "--manifest", repo.manifest_path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return repo.hostctl(args, env("coordinator"), std::chrono::seconds(400));
  }
  std::vector<json> job_records() const {
    auto r = test::run_in(tmp.path() / "worker-a", {FIXHOST_HOSTCTL, "cluster", "jobs", "--json"}, env("reader"));
    std::vector<json> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] == '{') out.push_back(json::parse(line));
    return out;
  }
  // Updates of `ref` the remote received ("<old> <new> <ref>" lines of post-receive): the pushes
  // that set it, or (deleted) those that removed it.
  int updates_of(const std::string& ref, bool deleted) const {
    std::istringstream in(test::read_file(pushlog));
    int n = 0;
    for (std::string line; std::getline(in, line);)
      n += line.size() >= ref.size() && line.compare(line.size() - ref.size(), ref.size(), ref) == 0 &&
           (line.find(" " + std::string(40, '0') + " ") != std::string::npos) == deleted;
    return n;
  }
  int pushes_of(const std::string& ref) const { return updates_of(ref, false); }
  int deletions_of(const std::string& ref) const { return updates_of(ref, true); }
  std::string remote_heads() const {
    return test::run_in(tmp.path(), {"git", "--git-dir", remote.string(), "for-each-ref", "--format=%(refname)", "refs/heads/"}).out;
  }
  std::string log_of(const std::string& host) const { return test::read_file(tmp.path() / (host + ".log")); }
};

// The coordinator's run id, from the first base branch it pushes.
std::string wait_for_run(const DistFixture& f, const std::string& stream) {
  for (int i = 0; i < 600; ++i) {
    std::istringstream in(f.remote_heads());
    for (std::string ref; std::getline(in, ref);) {
      const std::string pre = "refs/heads/fixhost/build-", post = "-" + stream + "-base";
      if (ref.rfind(pre, 0) == 0 && ref.size() > pre.size() + post.size() &&
          ref.compare(ref.size() - post.size(), post.size(), post) == 0)
        return ref.substr(pre.size(), ref.size() - pre.size() - post.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("the coordinator pushed no base for stream " << stream);
  return "";
}

}  // namespace

TEST_CASE("build --distributed: every stream runs on a worker, its branch pushed once, merged and landed here") {
  DistFixture f;
  f.start_worker("worker-a");
  f.start_worker("worker-b");
  auto r = f.build();
  INFO(r.err << "\nworker-a:\n" << f.log_of("worker-a") << "\nworker-b:\n" << f.log_of("worker-b"));
  REQUIRE(r.code == 0);
  auto j = test::json_of(r);
  CHECK(j["landed"] == true);
  const std::string run = j["run_id"];
  REQUIRE(j["streams"].size() == 4);
  std::set<std::string> ids;
  for (const auto& s : j["streams"]) {
    ids.insert(s["stream"].get<std::string>());
    CHECK(s["outcome"] == "ok");
    CHECK((s["worker"] == "worker-a" || s["worker"] == "worker-b"));
    // Each stream's branch went to the remote exactly once, by its worker.
    CHECK(f.pushes_of("refs/heads/fixhost/build-" + run + "-" + s["stream"].get<std::string>()) == 1);
    CHECK(f.deletions_of("refs/heads/fixhost/build-" + run + "-" + s["stream"].get<std::string>()) == 1);
  }
  CHECK(ids == std::set<std::string>{"backend", "contract", "frontend", "tests"});
  // The squashed commit holds every stream's work; the bases pushed for the workers are gone.
  const std::string files = f.repo.git({"show", "--name-only", "--format=", "fixhost/build-" + run});
  for (const char* p : {"backend/orders.py", "frontend/src/orders.ts", "tests/test_orders.py", "contract/openapi.json"})
    CHECK_MESSAGE(files.find(p) != std::string::npos, p << " not in " << files);
  CHECK(f.remote_heads().find("-base") == std::string::npos);
  // The streams' branches the workers pushed are fetched here and gone from the remote.
  CHECK(f.remote_heads().find("fixhost/build-" + run + "-") == std::string::npos);
  CHECK(f.repo.git({"for-each-ref", "refs/fixhost/remote/"}).find("fixhost/build-" + run + "-backend") != std::string::npos);
  // The recorded facts: which worker ran each stream, under which job; one done record per job.
  auto finished = f.repo.events("StreamFinished");
  REQUIRE(finished.size() == 4);
  std::map<std::string, int> done;
  for (const auto& rec : f.job_records())
    if (rec["what"] == "done") ++done[rec["job_id"].get<std::string>()];
  for (const auto& e : finished) {
    CHECK(e["worker"].get<std::string>().rfind("worker-", 0) == 0);
    CHECK(done[e["job"].get<std::string>()] == 1);
  }
  // discard removes the fetched refs with the build's branches (refused first: not approved).
  auto refused = f.repo.hostctl({"discard", run});
  CHECK(refused.code == 1);
  CHECK(refused.err.find("refs/fixhost/remote/fixhost/build-" + run + "-backend") != std::string::npos);
  auto gone = f.repo.hostctl({"discard", run, "--force"});
  INFO(gone.out << gone.err);
  CHECK(gone.code == 0);
  CHECK(f.repo.git({"for-each-ref", "refs/fixhost/remote/"}).empty());
}

TEST_CASE("build --distributed: a stream branch on the remote that changes files the stream does not own is refused here") {
  // Someone (a broken or hostile worker) pushed the contract stream's branch first, touching
  // backend/: the worker that takes the job finds it pushed and reports it; the coordinator
  // judges the commit itself and nothing lands.
  DistFixture f;
  std::thread coordinator;
  test::Ran r;
  coordinator = std::thread([&] { r = f.build(); });
  const std::string run = wait_for_run(f, "contract");
  {
    test::TempDir rogue("fixhost-rogue");
    DistFixture::git({"clone", "-q", f.remote.string(), rogue.path().string()});
    DistFixture::git({"-C", rogue.path().string(), "checkout", "-q", "fixhost/build-" + run + "-contract-base"});
    test::write_file(rogue.path() / "backend/app.py", "def health():\n    return {\"status\": \"pwned\"}\n");
    DistFixture::git({"-C", rogue.path().string(), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qam", "rogue"});
    DistFixture::git({"-C", rogue.path().string(), "push", "-q", "origin", "HEAD:refs/heads/fixhost/build-" + run + "-contract"});
  }
  f.start_worker("worker-a");
  coordinator.join();
  INFO(r.err << "\nworker-a:\n" << f.log_of("worker-a"));
  CHECK(r.code == 1);
  auto finished = f.repo.events("StreamFinished");
  REQUIRE_FALSE(finished.empty());
  CHECK(finished[0]["stream"] == "contract");
  CHECK(finished[0]["outcome"] == "policy");
  CHECK(finished[0]["stray"] == json::array({"backend/app.py"}));
  CHECK(finished[0]["worker"] == "worker-a");
  CHECK(f.repo.git({"branch", "--list", "fixhost/build-" + run}).empty());
}

TEST_CASE("build --distributed: a worker SIGKILLed mid-stream: the job is redelivered, done once, the build lands") {
  DistFixture f;
  f.scenario["contract"]["sleep"] = 6.0;  // past job_ack_wait (2 s): only heartbeats keep it
  f.start_worker("worker-a");
  std::thread coordinator;
  test::Ran r;
  coordinator = std::thread([&] { r = f.build(); });
  const std::string run = wait_for_run(f, "contract");
  // worker-a is inside the contract job once its `hostctl build --stream` runs.
  bool inside = false;
  for (int i = 0; i < 600 && !inside; ++i) {
    inside = test::run_in(f.tmp.path(), {"/bin/sh", "-c", "pgrep -f -- '--stream [c]ontract' || true"}).out.size() > 0;
    if (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(inside);
  f.workers[0].kill(SIGKILL);
  f.start_worker("worker-b");
  coordinator.join();
  INFO(r.err << "\nworker-a:\n" << f.log_of("worker-a") << "\nworker-b:\n" << f.log_of("worker-b"));
  REQUIRE(r.code == 0);
  auto j = test::json_of(r);
  CHECK(j["landed"] == true);
  CHECK(f.pushes_of("refs/heads/fixhost/build-" + run + "-contract") == 1);
  int started = 0, done = 0;
  std::string done_by;
  for (const auto& rec : f.job_records()) {
    if (rec["job_id"] != "b-" + run + "-contract") continue;
    started += rec["what"] == "started";
    if (rec["what"] == "done") {
      ++done;
      done_by = rec["worker"];
    }
  }
  CHECK(started == 2);
  CHECK(done == 1);
  CHECK(done_by == "worker-b");
  for (const auto& s : j["streams"]) CHECK(s["worker"] == "worker-b");
}

TEST_CASE("build --distributed without a cluster or without a remote: a clear error, nothing runs") {
  tb::BuildRepo repo;
  test::write_file(repo.manifest_path(), tb::manifest());
  auto r = repo.hostctl({"build", "--distributed", "--manifest", repo.manifest_path().string()}, {{"FIXHOST_CLUSTER_URL", ""}});
  CHECK(r.code == 2);
  CHECK(r.err.find("--distributed needs a git remote") != std::string::npos);
  repo.git({"remote", "add", "origin", (repo.dir().string() + ".nowhere.git")});
  r = repo.hostctl({"build", "--distributed", "--manifest", repo.manifest_path().string()}, {{"FIXHOST_CLUSTER_URL", ""}});
  CHECK(r.code == 2);
  CHECK(r.err.find("[cluster] url") != std::string::npos);
  CHECK(repo.hostctl({"runs", "--json"}).out.find("build") == std::string::npos);
}
