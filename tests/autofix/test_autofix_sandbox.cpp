// Issue 9, items 2 and 3: what an agent leaves behind dies with its attempt, and under the
// sandbox (on by default) the hostile agent's escapes fail where they are tried.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "project.hpp"

using namespace fixhost::test;

namespace {

// Lines of AGENT_LOG that report an escape: name -> {done, error}.
std::map<std::string, nlohmann::json> escapes_of(const Project& p) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& c : p.agent_calls())
    if (c.contains("escape")) out[c["escape"]] = c;
  return out;
}

std::string sandbox_of_attempts(const Project& p) {
  auto started = p.events("AttemptStarted");
  REQUIRE_FALSE(started.empty());
  return started.front()["sandbox"];
}

}  // namespace

TEST_CASE("issue 9: an agent's setsid sleeper and double-forked late writer are gone before the next step") {
  for (bool sandboxed : {false, true}) {
    CAPTURE(sandboxed);
    Project p(sandboxed ? "" : "[sandbox]\nenabled = false\n");
    auto r = p.autofix("leave_behind");
    INFO(r.out);
    CHECK(r.code == 0);
    auto j = Project::json_of(r);
    // "[f]" so that the pattern does not match the shell running pgrep.
    const std::string marker = "[f]ixhost-left-" + j["run_id"].get<std::string>();
    CHECK(sandbox_of_attempts(p).rfind(sandboxed ? "bwrap" : "off:", 0) == 0);
    // Nothing of the agent's runs after its attempt: not the sleeper, not the writer.
    CHECK(sh("pgrep -f '" + marker + "'").code != 0);
    // The writer would have written late.txt 2 s after the agent's exit, into the worktree.
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const fs::path wt = j["worktree"].get<std::string>();
    CHECK_FALSE(fs::exists(wt / "late.txt"));
    REQUIRE(j["commit"].is_string());
    CHECK(p.git("show --name-only --format= " + j["commit"].get<std::string>()).find("late.txt") == std::string::npos);
  }
}

TEST_CASE("issue 9: under the sandbox a hostile agent's escapes fail at the source and the fix still lands") {
  Project p;
  // .env is ignored, so without the sandbox the checkout's git status would not even show it.
  write_file(p.dir / ".gitignore", "__pycache__/\n.env\nremote.git/\n");
  REQUIRE(sh("git add .gitignore && git -c user.name=t -c user.email=t@e commit -qm ignore && "
             "git init -q --bare remote.git && git remote add origin \"$PWD/remote.git\"",
             p.dir)
              .code == 0);
  const auto hooks_before = p.git("ls-files --others --no-empty-directory -- .git/hooks");
  auto r = p.autofix("hostile");
  INFO(r.out);
  CHECK(r.code == 0);  // both failures fixed by the correct edits that follow the escapes
  auto j = Project::json_of(r);
  CHECK(j["fixed"] == 2);
  CHECK(sandbox_of_attempts(p) == "bwrap");

  auto esc = escapes_of(p);
  for (const char* name : {"env_in_checkout", "store", "hook", "commit", "push"}) {
    CAPTURE(name);
    REQUIRE(esc.count(name) == 1);
    CHECK(esc[name]["done"] == false);
  }
  CHECK(esc["env_in_checkout"]["error"].get<std::string>().find("Read-only file system") != std::string::npos);
  // Nothing arrived: no .env in the checkout, no hook, no agent commit, no pushed ref.
  CHECK_FALSE(fs::exists(p.dir / ".env"));
  CHECK_FALSE(fs::exists(p.dir / ".git/hooks/pre-commit"));
  CHECK_FALSE(fs::exists(p.dir / ".fixhost/agent-was-here"));
  CHECK(p.git("log --all --format=%s").find("agent commit") == std::string::npos);
  CHECK(sh("git --git-dir=remote.git for-each-ref", p.dir).out.empty());
  // The store still works for every later command.
  auto runs = p.hostctl("runs --json");
  CHECK(runs.code == 0);
  CHECK(nlohmann::json::parse(runs.out, nullptr, false).is_array());
  CHECK(p.events("PolicyViolation").empty());  // nothing reached what the rails watch
}

// The agent's code also runs when the host re-runs the test and verifies the suite: those runs
// are contained too, so code planted in the source cannot do later what the agent could not.
TEST_CASE("issue 9: code an agent plants in the source is contained when the host's own re-runs execute it") {
  Project p;
  write_file(p.dir / ".gitignore", "__pycache__/\n.env\n");
  REQUIRE(sh("git add .gitignore && git -c user.name=t -c user.email=t@e commit -qm ignore", p.dir).code == 0);
  auto r = p.autofix("planted");
  INFO(r.out);
  CHECK(r.code == 0);
  std::vector<nlohmann::json> planted;
  for (const auto& c : p.agent_calls())
    if (c.contains("planted")) planted.push_back(c);
  bool host_ran_it = false;
  for (const auto& c : planted) {
    CAPTURE(c.dump());
    CHECK(c["done"] == false);
    CHECK(c["error"].get<std::string>().find("Read-only file system") != std::string::npos);
    host_ran_it = host_ran_it || c["by_agent"] == false;
  }
  CHECK(host_ran_it);  // the re-run or the verify imported the planted module
  CHECK_FALSE(fs::exists(p.dir / ".env"));
  std::size_t contained_runs = 0;
  for (const auto& s : p.events("SuiteStarted"))
    if (s["purpose"] != "detect") ++contained_runs;
  CHECK(contained_runs > 0);
}

TEST_CASE("issue 9: [sandbox] network = false cuts the agent's network, the default keeps it") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  for (bool network : {true, false}) {
    CAPTURE(network);
    Project p(network ? "" : "[sandbox]\nnetwork = false\n");
    auto r = p.autofix("net " + port);
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(sandbox_of_attempts(p) == (network ? "bwrap" : "bwrap, no network"));
    auto esc = escapes_of(p);
    REQUIRE(esc.count("network") == 1);
    CHECK(esc["network"]["done"] == network);
  }
  ::close(fd);
}

TEST_CASE("issue 9: where bubblewrap cannot run, the run says so, records it and falls back to detection") {
  for (const char* bwrap : {"/nonexistent/fixhost-bwrap", "/bin/false"}) {
    CAPTURE(bwrap);
    Project p(std::string("[sandbox]\nbwrap = \"") + bwrap + "\"\n");
    auto r = p.autofix("correct");
    INFO(r.out);
    CHECK(r.code == 0);  // the correct agent still fixes both
    CHECK(r.out.find("warning: the agent runs WITHOUT a sandbox") != std::string::npos);
    CHECK(r.out.find(std::string(bwrap).find("nonexistent") != std::string::npos ? "apt install bubblewrap"
                                                                                  : "user namespaces") !=
          std::string::npos);
    CHECK(sandbox_of_attempts(p).rfind("off: ", 0) == 0);
  }
}

TEST_CASE("issue 9: a [sandbox] writable path that does not exist stops the run before any agent, naming it") {
  Project p("[sandbox]\nwritable = [\"/nonexistent/fixhost-agent-config\"]\n");
  auto r = p.autofix("correct");
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("[sandbox] writable: '/nonexistent/fixhost-agent-config'") != std::string::npos);
  CHECK(r.out.find("create it first") != std::string::npos);
  CHECK(p.agent_calls().empty());
}
