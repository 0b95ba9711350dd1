// A heal job on real servers: a 3-node nats-server cluster, a real `hostctl worker --cluster`
// that clones a real bare remote and runs `hostctl heal --source api` there against a loopback
// stand-in speaking Sentry's REST API, real pytest, the scripted heal agent, and gh replaced by
// the recording stand-in on [heal] gh. Two jobs for the same errors open one PR.
#include "heal_support.hpp"

#include <sys/stat.h>

#include <sstream>

#include "fixhost/test/repo.hpp"
#include "nats_cluster.hpp"

using namespace fixhost::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string k_token = "tok-heal-job";

// Sentry's API with one unresolved issue: ZeroDivisionError in shop/cart.py.
struct OneIssueSentry {
  StandIn server{[](const SeenRequest& r) -> StandInAnswer {
    if (r.headers.count("Authorization") == 0 || r.headers.at("Authorization") != "Bearer " + k_token)
      return {401, R"({"detail":"Invalid token"})", {}};
    if (r.target.rfind("/api/0/organizations/acme/issues/?", 0) == 0)
      return {200, json::array({sentry::issue("101", "ZeroDivisionError", "division by zero", "error", "25")}).dump(), {}};
    if (r.target == "/api/0/organizations/acme/issues/101/events/latest/")
      return {200, sentry::latest("101", "ZeroDivisionError", "division by zero", "shop/cart.py", "average_price", 2).dump(), {}};
    return {404, R"({"detail":"not found"})", {}};
  }};
};

struct HealJobRig {
  TempDir tmp{"fixhost-heal-job"};
  OneIssueSentry sentry;
  std::unique_ptr<NatsCluster> nats;
  std::unique_ptr<GitRepo> repo;
  fs::path remote = tmp.path() / "remote.git", gh = tmp.path() / "gh";
  std::vector<Child> workers;

  HealJobRig() {
    write_file(gh, k_gh_stand_in);
    ::chmod(gh.c_str(), 0755);
    repo = std::make_unique<GitRepo>(std::map<std::string, std::string>{
        {"fixhost.toml", "[[suites]]\nname = \"py\"\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", "
                         "\"pytest\", \"-q\"]\n\n[heal]\ngh = \"" + gh.string() + "\"\n\n[cluster]\nreplicas = 3\n"
                         "job_ack_wait = 5\njob_max_deliver = 3\n"},
        {"shop/__init__.py", ""},
        {"shop/cart.py", "def average_price(items):\n    return sum(i['price'] for i in items) / len(items)\n"},
        {"tests/__init__.py", ""},
        {"tests/test_cart.py", "from shop.cart import average_price\n\n\ndef test_average_price():\n"
                               "    assert average_price([{'price': 1}, {'price': 3}]) == 2\n"}});
    REQUIRE(run_in(tmp.path(), {"git", "clone", "-q", "--bare", repo->dir().string(), remote.string()}).code == 0);
    nats = std::make_unique<NatsCluster>(tmp.path() / "nats", 3);
  }
  ~HealJobRig() {
    workers.clear();
    nats.reset();
  }
  std::map<std::string, std::string> env(const std::string& host) const {
    return {{"FIXHOST_CLUSTER_URL", nats->urls()}, {"FIXHOST_CLUSTER_HOST_ID", host}};
  }
  void start_worker(const std::string& host) {
    std::vector<std::string> e;
    for (const auto& [k, v] : env(host)) e.push_back(k + "=" + v);
    // The worker's own Sentry credentials: a heal job carries none.
    e.insert(e.end(), {"SENTRY_URL=" + sentry.server.url(), "SENTRY_ORG=acme", "SENTRY_AUTH_TOKEN=" + k_token, "SENTRY_PROJECT=",
                       "AGENT_LOG=" + (tmp.path() / "agent.log").string(), "FIXHOST_SANDBOX_WRITABLE=" + tmp.path().string()});
    workers.emplace_back(std::vector<std::string>{FIXHOST_HOSTCTL, "worker", "--cluster", "--repo", repo->dir().string(),
                                                  "--work-dir", tmp.path().string()},
                         e, tmp.path() / (host + ".log"));
  }
  std::string submit() const {
    const std::string agent = "/usr/bin/python3 " FIXHOST_SOURCE_DIR "/examples/agents/heal_agent.py correct";
    auto r = repo->hostctl({"cluster", "submit", "heal", "--json", "--remote", remote.string(), "--commit", "main", "--agent", agent},
                           env("submitter"));
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto j = json::parse(r.out);
    CHECK(j["kind"] == "heal");
    CHECK(j["source"] == "api");
    CHECK(j["branch"] == "");
    return j["id"];
  }
  json done_record(const std::string& job) const {
    for (int i = 0; i < 600; ++i) {
      auto r = repo->hostctl({"cluster", "jobs", job, "--json"}, env("reader"));
      std::istringstream in(r.out);
      for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] == '{') {
          auto rec = json::parse(line);
          if (rec["what"] == "done") return rec;
          if (rec["what"] == "dead") FAIL("job " << job << " is dead: " << rec["reason"]);
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    FAIL("job " << job << " was not done within 300 s\n" << read_file(tmp.path() / "worker-a.log"));
    return {};
  }
  int pr_creates() const {
    std::istringstream in(read_file(tmp.path() / "calls"));
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.rfind("pr create", 0) == 0;
    return n;
  }
};

const json* group_of(const json& result, const std::string& needle) {
  for (const auto& g : result["groups"])
    if (g["title"].get<std::string>().find(needle) != std::string::npos) return &g;
  return nullptr;
}

}  // namespace

TEST_CASE("heal job: a worker heals the remote's commit from Sentry's API and opens the PR, a second job opens none") {
  HealJobRig rig;
  rig.start_worker("worker-a");
  const std::string first = rig.submit();
  const json done = rig.done_record(first);
  INFO(done.dump(1) << "\n" << read_file(rig.tmp.path() / "worker-a.log"));
  CHECK(done["worker"] == "worker-a");
  CHECK(done["exit_code"] == 0);
  const json result = json::parse(done["result"].get<std::string>());
  CHECK(result["source"] == "api");
  const json* g = group_of(result, "ZeroDivisionError");
  REQUIRE(g != nullptr);
  CHECK((*g)["action"] == "pr_opened");
  CHECK((*g)["why"] == "https://github.example/shop/pull/7");
  // heal pushed its branch to the job's remote (the clone's origin), never the default branch.
  auto heads = run_in(rig.tmp.path(), {"git", "--git-dir", rig.remote.string(), "for-each-ref", "--format=%(refname)", "refs/heads/"}).out;
  CHECK(heads.find("refs/heads/fix/sentry-101") != std::string::npos);
  CHECK(run_in(rig.tmp.path(), {"git", "--git-dir", rig.remote.string(), "rev-parse", "main"}).out ==
        rig.repo->git({"rev-parse", "main"}));
  CHECK(rig.pr_creates() == 1);

  // The same errors again, from another job: the open PR is found, nothing fixed twice.
  const std::string second = rig.submit();
  const json again = rig.done_record(second);
  const json result2 = json::parse(again["result"].get<std::string>());
  const json* g2 = group_of(result2, "ZeroDivisionError");
  REQUIRE(g2 != nullptr);
  // A new store per job: the PR is found through `gh pr list --head`, not in the log.
  CHECK((*g2)["action"] == "existing_pr");
  CHECK(rig.pr_creates() == 1);
  // The agent ran for the first job only: reproduce, then fix.
  std::istringstream calls(read_file(rig.tmp.path() / "agent.log"));
  int n = 0;
  for (std::string line; std::getline(calls, line);) n += !line.empty();
  CHECK(n == 2);
}
