// The job queue against real servers: a 3-node nats-server cluster, a real bare git remote (its
// post-receive hook logs every push), real `hostctl worker --cluster` processes running real
// `hostctl autofix` on the tests/autofix Python project with the scripted agent.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <set>
#include <sstream>
#include <thread>

#include "fixhost/host/cluster_jobs.hpp"
#include "fixhost/host/world/jetstream.hpp"
#include "fixhost/test/files.hpp"
#include "nats_cluster.hpp"
#include "project.hpp"

using namespace fixhost;
using fixhost::test::Child;
using fixhost::test::NatsCluster;
using fixhost::test::Project;
using fixhost::test::sh;
using fixhost::test::TempDir;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct JobsFixture {
  Project p;
  fs::path tmp = p.dir.string() + ".jobs";
  std::unique_ptr<NatsCluster> nats;
  fs::path remote = tmp / "remote.git", pushlog = tmp / "pushes.log";
  std::string commit;
  std::vector<Child> workers;

  JobsFixture() {
    fs::create_directories(tmp);
    nats = std::make_unique<NatsCluster>(tmp / "nats", 3);
    REQUIRE(sh("git clone -q --bare '" + p.dir.string() + "' '" + remote.string() + "'").code == 0);
    test::write_file(remote / "hooks/post-receive", "#!/bin/sh\ncat >> '" + pushlog.string() + "'\n");
    fs::permissions(remote / "hooks/post-receive", fs::perms::owner_all);
    test::write_file(pushlog, "");
    commit = p.git("rev-parse HEAD");
    while (!commit.empty() && commit.back() == '\n') commit.pop_back();
  }
  ~JobsFixture() {
    workers.clear();
    nats.reset();
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }
  // A worker's own directory: fixhost.toml with the job settings, the host id in the environment.
  std::vector<std::string> env(const std::string& host) const {
    return {"FIXHOST_CLUSTER_URL=" + nats->urls(), "FIXHOST_CLUSTER_HOST_ID=" + host, "AGENT_LOG=" + p.log.string(),
            "FIXHOST_SANDBOX_WRITABLE=" + p.log.string()};
  }
  fs::path worker_dir(const std::string& host) const {
    fs::path d = tmp / host;
    if (!fs::exists(d / "fixhost.toml")) {
      fs::create_directories(d);
      test::write_file(d / "fixhost.toml", "[cluster]\nreplicas = 3\njob_ack_wait = 2\njob_max_deliver = 3\n");
    }
    return d;
  }
  void start_worker(const std::string& host) {
    const fs::path d = worker_dir(host);
    workers.emplace_back(std::vector<std::string>{FIXHOST_HOSTCTL, "worker", "--cluster", "--repo", d.string(), "--work-dir", tmp.string()},
                         env(host), tmp / (host + ".log"));
  }
  std::string hostctl(const std::string& args) const {
    std::string e;
    for (const auto& x : env("submitter")) e += "'" + x + "' ";
    auto r = sh("env " + e + FIXHOST_HOSTCTL " " + args + " --repo '" + worker_dir("submitter").string() + "'", tmp);
    INFO(r.out);
    REQUIRE(r.code == 0);
    return r.out;
  }
  std::string submit(const std::string& agent_cmd, const std::string& at_commit = "") {
    auto out = hostctl("cluster submit autofix --json --remote '" + remote.string() + "' --commit " +
                       (at_commit.empty() ? commit : at_commit) + " --agent \"" + agent_cmd + "\"");
    auto j = json::parse(out);
    CHECK(j["kind"] == "autofix");
    CHECK(j["branch"] == "fixhost/autofix-" + j["id"].get<std::string>());
    return j["id"];
  }
  std::vector<json> records(const std::string& job) const {
    std::vector<json> out;
    std::istringstream in(hostctl("cluster jobs " + job + " --json"));
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }
  static int count(const std::vector<json>& recs, const std::string& what) {
    int n = 0;
    for (const auto& r : recs) n += r["what"] == what;
    return n;
  }
  // Waits for a record `what` of the job; returns every record of the job.
  std::vector<json> wait_for(const std::string& job, const std::string& what, std::chrono::seconds limit) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    std::vector<json> recs;
    while (std::chrono::steady_clock::now() < end) {
      recs = records(job);
      if (count(recs, what) > 0) return recs;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    FAIL("no '" << what << "' record for job " << job << " within " << limit.count() << " s");
    return recs;
  }
  int pushes_of(const std::string& branch) const {
    std::istringstream in(test::read_file(pushlog));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) n += line.find("refs/heads/" + branch) != std::string::npos;
    return n;
  }
  std::string remote_file(const std::string& branch, const std::string& file) const {
    return sh("git --git-dir='" + remote.string() + "' show " + branch + ":" + file).out;
  }
};

// Each agent call sleeps 3 s after its fix: longer than job_ack_wait (2 s), so only the
// worker's heartbeats keep the job from going to the other worker.
std::string slow_agent(int seconds) { return fixhost::test::agent("correct") + " && sleep " + std::to_string(seconds); }

}  // namespace

TEST_CASE("jobs: two workers, one autofix job: done once, heartbeats keep it past job_ack_wait, branch pushed once") {
  JobsFixture f;
  f.start_worker("worker-a");
  f.start_worker("worker-b");
  const std::string id = f.submit(slow_agent(3));
  auto recs = f.wait_for(id, "done", std::chrono::seconds(240));
  std::this_thread::sleep_for(std::chrono::seconds(4));  // two ack waits: a redelivery would show now
  recs = f.records(id);
  INFO(json(recs).dump(1));
  CHECK(JobsFixture::count(recs, "started") == 1);
  CHECK(JobsFixture::count(recs, "failed") == 0);
  REQUIRE(JobsFixture::count(recs, "done") == 1);
  json done;
  for (const auto& r : recs)
    if (r["what"] == "done") done = r;
  CHECK(done["delivery"] == 1);
  CHECK((done["worker"] == "worker-a" || done["worker"] == "worker-b"));
  CHECK(done["exit_code"] == 0);
  CHECK(done["already_pushed"] == false);
  const std::string branch = "fixhost/autofix-" + id;
  CHECK(done["branch"] == branch);
  CHECK(f.pushes_of(branch) == 1);
  CHECK(f.remote_file(branch, "calc/util.py").find("return a + b") != std::string::npos);
  CHECK(f.remote_file(branch, "calc/fmt.py").find("str(x)") != std::string::npos);
  // The remote's main is untouched: the worker pushes only the job's branch.
  CHECK(f.pushes_of("main") == 0);
  // The run's events are in the team's stream under "<worker>-<job id>".
  const std::string ev = f.hostctl("cluster events --json --host " + done["worker"].get<std::string>() + "-" + id);
  CHECK(ev.find("\"RunStarted\"") != std::string::npos);
  CHECK(ev.find("\"RunFinished\"") != std::string::npos);
  CHECK(ev.find(done["run_id"].get<std::string>()) != std::string::npos);
  // The queue is empty once the job is acknowledged (work-queue retention).
  CHECK(f.hostctl("cluster jobs").find("0 job(s) in FIXHOST_JOBS") != std::string::npos);
}

TEST_CASE("jobs: a worker SIGKILLed mid-job: redelivered after job_ack_wait to another worker, done exactly once") {
  JobsFixture f;
  f.start_worker("worker-a");
  const std::string id = f.submit(slow_agent(6));
  // worker-a is inside the job once the agent has been called (it then sleeps 6 s).
  for (int i = 0; i < 600 && f.p.agent_calls().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_FALSE(f.p.agent_calls().empty());
  // The killed worker's autofix child and its agent die with it (no orphan goes on in its clone).
  const std::string clone = "fixhost-job-" + id + "-worker-a-1";
  CHECK_FALSE(sh("pgrep -af '" + clone + "' | grep -v pgrep || true").out.empty());  // its autofix runs now
  f.workers[0].kill(SIGKILL);
  std::string left;
  for (int i = 0; i < 50; ++i) {
    left = sh("pgrep -af '" + clone + "' | grep -v pgrep || true").out;
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK_MESSAGE(left.empty(), left);
  f.start_worker("worker-b");
  auto recs = f.wait_for(id, "done", std::chrono::seconds(240));
  std::this_thread::sleep_for(std::chrono::seconds(4));
  recs = f.records(id);
  INFO(json(recs).dump(1));
  std::vector<std::pair<std::string, int>> started;
  json done;
  for (const auto& r : recs) {
    if (r["what"] == "started") started.push_back({r["worker"], r["delivery"]});
    if (r["what"] == "done") done = r;
  }
  REQUIRE(started.size() == 2);
  {  // a figure for the report, not an assertion: from the first delivery to the second
    std::vector<std::int64_t> ts;
    for (const auto& r : recs)
      if (r["what"] == "started") ts.push_back(r["ts_us"].get<std::int64_t>());
    MESSAGE("redelivery " << (ts[1] - ts[0]) / 1000 << " ms after the first delivery (job_ack_wait 2 s, agent call ~6 s)");
  }
  CHECK(started[0] == std::pair<std::string, int>{"worker-a", 1});
  CHECK(started[1] == std::pair<std::string, int>{"worker-b", 2});
  CHECK(JobsFixture::count(recs, "done") == 1);
  CHECK(done["worker"] == "worker-b");
  CHECK(done["delivery"] == 2);
  const std::string branch = "fixhost/autofix-" + id;
  CHECK(f.pushes_of(branch) == 1);
  CHECK(f.remote_file(branch, "calc/util.py").find("return a + b") != std::string::npos);
}

TEST_CASE("jobs: a job that always fails goes to fixhost.jobs.dead after job_max_deliver deliveries, with the reason") {
  JobsFixture f;
  f.start_worker("worker-a");
  const std::string missing = "0123456789abcdef0123456789abcdef01234567";
  const std::string id = f.submit(fixhost::test::agent("correct"), missing);
  auto recs = f.wait_for(id, "dead", std::chrono::seconds(120));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  recs = f.records(id);
  INFO(json(recs).dump(1));
  CHECK(JobsFixture::count(recs, "failed") == 3);
  CHECK(JobsFixture::count(recs, "dead") == 1);
  CHECK(JobsFixture::count(recs, "done") == 0);
  for (const auto& r : recs) {
    if (r["what"] == "failed") CHECK(r["reason"].get<std::string>().find(missing) != std::string::npos);
    if (r["what"] == "dead") {
      CHECK(r["reason"].get<std::string>().find("failed 3 times") != std::string::npos);
      CHECK(json::parse(r["job"].get<std::string>())["commit"] == missing);
    }
  }
  CHECK(f.hostctl("cluster jobs").find("0 job(s) in FIXHOST_JOBS") != std::string::npos);
  CHECK(test::read_file(f.pushlog).empty());
}

TEST_CASE("jobs: a JobLogReader polls over one connection and reads each record once") {
  using namespace fixhost::host;
  TempDir dir("fixhost-joblog");
  NatsCluster nats(dir.path() / "nats", 1);
  ClusterConfig config;
  config.url = nats.urls();
  config.replicas = 1;
  REQUIRE(ensure_job_streams(config).is_ok());
  world::NatsOptions o;
  o.url = config.url;
  auto js = world::JetStream::connect(o);
  REQUIRE(js);
  int n = 0;
  auto put = [&](const std::string& what, const std::string& job) {
    JobRecord r;
    r.what = what;
    r.job_id = job;
    std::vector<world::NatsOutMsg> msgs(1);
    msgs[0].subject = what == "dead" ? std::string(k_jobs_dead_subject) : "fixhost.jobs." + what + "." + job;
    msgs[0].data = job_record_json(r);
    msgs[0].headers = {{"Nats-Msg-Id", "m" + std::to_string(++n)}};
    REQUIRE((*js)->publish_all(msgs, std::chrono::seconds(10)).is_ok());
  };
  JobLogReader mine(config), all(config);
  auto next = [](JobLogReader& r, const std::string& job) {
    auto v = r.next(job);
    REQUIRE(v);
    std::vector<std::string> out;
    for (const auto& rec : *v) out.push_back(rec.what + ":" + rec.job_id);
    return out;
  };
  CHECK(next(mine, "j1").empty());
  put("started", "j1");
  put("started", "j2");
  put("failed", "j2");
  CHECK(next(mine, "j1") == std::vector<std::string>{"started:j1"});
  // Nothing new: nothing again, though the other job's records came after this job's last one.
  CHECK(next(mine, "j1").empty());
  put("done", "j1");
  put("dead", "j2");
  CHECK(next(mine, "j1") == std::vector<std::string>{"done:j1"});
  CHECK(next(all, "") == std::vector<std::string>{"started:j1", "started:j2", "failed:j2", "done:j1", "dead:j2"});
  CHECK(next(all, "").empty());
  // The one-shot read from a sequence on.
  auto from3 = read_job_log(config, "", 3);
  REQUIRE(from3);
  CHECK(from3->size() == 3);
  // A server gone: an error, and the next poll after it is back connects again.
  nats.kill(0);
  CHECK_FALSE(mine.next("j1"));
  nats.restart(0);
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {
    back = static_cast<bool>(mine.next("j1"));
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(back);
  put("done", "j3");
  CHECK(next(mine, "j3") == std::vector<std::string>{"done:j3"});
}

TEST_CASE("jobs: a worker takes only the remotes and commands its [cluster] allows, another worker takes the job") {
  JobsFixture f;
  const std::string agent = fixhost::test::agent("correct");
  // worker-a allows only another place's remotes; worker-b this remote, but not the agent;
  // worker-c both. The job fails at a and b with their reasons (nothing cloned), c does it.
  auto allow = [&](const std::string& host, const std::string& lines) {
    fs::create_directories(f.tmp / host);
    test::write_file(f.tmp / host / "fixhost.toml",
                     "[cluster]\nreplicas = 3\njob_ack_wait = 2\njob_max_deliver = 3\n" + lines);
  };
  allow("worker-a", "worker_remotes = [\"/srv/git/*\"]\nworker_commands = []\n");
  allow("worker-b", "worker_remotes = [\"" + f.tmp.string() + "/*.git\"]\nworker_commands = [\"true\"]\n");
  allow("worker-c", "worker_remotes = [\"" + f.tmp.string() + "/*.git\"]\nworker_commands = [\"" +
                        json(agent).dump().substr(1, json(agent).dump().size() - 2) + "\"]\n");
  f.start_worker("worker-a");
  const std::string id = f.submit(agent);
  auto recs = f.wait_for(id, "failed", std::chrono::seconds(60));
  f.start_worker("worker-b");
  // Give worker-b its turn before worker-c exists.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (JobsFixture::count(recs, "failed") < 2 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    recs = f.records(id);
  }
  REQUIRE(JobsFixture::count(recs, "failed") >= 2);
  f.start_worker("worker-c");
  recs = f.wait_for(id, "done", std::chrono::seconds(120));
  INFO(json(recs).dump(1));
  std::set<std::string> reasons;
  for (const auto& r : recs)
    if (r["what"] == "failed") reasons.insert(r["worker"].get<std::string>() + ": " + r["reason"].get<std::string>());
  bool remote_said = false, command_said = false;
  for (const auto& r : reasons) {
    remote_said |= r.starts_with("worker-a: ") && r.find("matches none of this worker's [cluster] worker_remotes (/srv/git/*)") != std::string::npos;
    command_said |= r.starts_with("worker-b: ") && r.find("its agent: '" + agent + "'") != std::string::npos &&
                    r.find("worker_commands") != std::string::npos;
  }
  CHECK(remote_said);
  CHECK(command_said);
  for (const auto& r : recs)
    if (r["what"] == "done") CHECK(r["worker"] == "worker-c");
  CHECK(f.pushes_of("fixhost/autofix-" + id) == 1);
  // A worker without the settings says what it accepts when it starts.
  f.start_worker("worker-d");
  std::string log;
  for (int i = 0; i < 100 && log.find("WARNING") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = test::read_file(f.tmp / "worker-d.log");
  }
  CHECK(log.find("WARNING: taking jobs for any remote with any agent or check command they carry") != std::string::npos);
  CHECK(log.find("worker_remotes and worker_commands") != std::string::npos);
}

TEST_CASE("jobs: job_allowed reads the build manifest's stream agent and check, and [cluster] rejects a bad list") {
  using namespace fixhost::host;
  Job job;
  job.id = "b-1";
  job.kind = "build";
  job.remote = "/srv/git/app.git";
  job.stream = "backend";
  job.manifest = "feature = \"orders\"\n\n[[streams]]\nid = \"backend\"\nowns = [\"src/**\"]\nagent = \"my-agent --fast\"\n"
                 "[streams.check]\ncommand = [\"npm\", \"test\"]\n\n"
                 "[[streams]]\nid = \"other\"\nowns = [\"web/**\"]\nagent = \"evil\"\n";
  ClusterConfig c;
  CHECK(job_allowed(job, c).is_ok());  // unset: anything
  c.worker_remotes = std::vector<std::string>{"/srv/git/*.git"};
  c.worker_commands = std::vector<std::string>{"my-agent --fast"};
  auto s = job_allowed(job, c);
  INFO(s.message());
  CHECK(s.code() == Errc::refused);
  CHECK(s.message().find("stream 'backend' check: 'npm test'") != std::string::npos);
  c.worker_commands->push_back("npm test");
  CHECK(job_allowed(job, c).is_ok());  // the other stream is not this job's
  job.remote = "/home/x/app.git";
  CHECK(job_allowed(job, c).message().find("'/home/x/app.git' matches none") != std::string::npos);

  TempDir dir("fixhost-allow");
  test::write_file(dir.path() / "fixhost.toml", "[cluster]\nworker_remotes = \"/srv/*\"\n");
  auto bad = load_cluster_config(dir.path());
  REQUIRE_FALSE(bad);
  CHECK(bad.status().message().find("worker_remotes must be an array of strings") != std::string::npos);
  test::write_file(dir.path() / "fixhost.toml", "[cluster]\nworker_remotes = [\"/srv/*\"]\nworker_commands = []\n");
  auto good = load_cluster_config(dir.path());
  REQUIRE(good);
  CHECK(good->worker_remotes == std::vector<std::string>{"/srv/*"});
  CHECK(good->worker_commands == std::vector<std::string>{});
}
