// Child processes on a leash: real processes, real signals.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixhost/host/world/process.hpp"

using namespace fixhost::host;

namespace {
// Alive and not a zombie.
bool alive(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return false;
  auto rp = line.rfind(')');
  return rp != std::string::npos && line.size() > rp + 2 && line[rp + 2] != 'Z';
}
std::vector<pid_t> pids_in(const std::string& out) {
  std::vector<pid_t> v;
  std::istringstream in(out);
  std::string w;
  while (in >> w)
    if (w.rfind("pid=", 0) == 0) v.push_back(std::stoi(w.substr(4)));
  return v;
}
}  // namespace

TEST_CASE("exit code, output and environment") {
  ProcessSpec s;
  s.argv = {"/bin/sh", "-c", "echo out; echo err >&2; echo \"$FIXHOST_T\"; exit 3"};
  s.env["FIXHOST_T"] = "it's \"quoted\" é";
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->exit_code == 3);
  CHECK(r->signal == 0);
  CHECK_FALSE(r->timed_out);
  CHECK(r->output.data.find("out\n") != std::string::npos);
  CHECK(r->output.data.find("err\n") != std::string::npos);
  CHECK(r->output.data.find("it's \"quoted\" é") != std::string::npos);
}

TEST_CASE("argv is passed without a shell") {
  ProcessSpec s;
  s.argv = {"printf", "%s|", "a b", "$(x)", "'q'"};
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->output.data == "a b|$(x)|'q'|");
}

TEST_CASE("a missing program is reported, not thrown") {
  ProcessSpec s;
  s.argv = {"/nonexistent/fixhost-no-such-program"};
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->exit_code == 127);
  CHECK(r->spawn_error.find("/nonexistent/fixhost-no-such-program") != std::string::npos);
  s.argv = {"true"};
  s.cwd = "/nonexistent-dir-fixhost";
  auto r2 = run_process(s);
  REQUIRE(r2.is_ok());
  CHECK(r2->spawn_error.find("cannot enter directory") != std::string::npos);
}

TEST_CASE("timeout kills the whole process group, grandchildren and setsid escapees included") {
  ProcessSpec s;
  // A child that ignores SIGTERM, two grandchildren in the group, one that left it with setsid.
  s.argv = {"/bin/sh", "-c",
            "trap '' TERM; sleep 300 & echo pid=$!; sleep 300 & echo pid=$!; "
            "setsid sleep 300 & echo pid=$!; while :; do sleep 0.05; done"};  // outlives its children's SIGTERM
  s.timeout = std::chrono::milliseconds(700);
  s.grace = std::chrono::milliseconds(300);
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->timed_out);
  CHECK(r->signal == SIGKILL);  // the shell ignored SIGTERM
  auto pids = pids_in(r->output.data);
  REQUIRE(pids.size() == 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (pid_t p : pids) CHECK_MESSAGE(!alive(p), "pid " << p << " survived the timeout");
}

TEST_CASE("when the child exits, what it left in its group is killed") {
  ProcessSpec s;
  s.argv = {"/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo pid=$!; exit 0"};
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->exit_code == 0);
  auto pids = pids_in(r->output.data);
  REQUIRE(pids.size() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK_FALSE(alive(pids[0]));
}

TEST_CASE("output over the cap keeps head and tail and counts what was cut") {
  ProcessSpec s;
  // 3 MB of output against a 64 KiB + 64 KiB cap.
  s.argv = {"/bin/sh", "-c", "echo FIRST; head -c 3000000 /dev/zero | tr '\\0' x; echo; echo LAST"};
  s.head_cap = 64 << 10;
  s.tail_cap = 64 << 10;
  std::uint64_t seen = 0;
  auto r = run_process(s, [&](std::string_view c) { seen += c.size(); });
  REQUIRE(r.is_ok());
  CHECK(r->output.total_bytes == seen);
  CHECK(r->output.total_bytes > 3000000);
  CHECK(r->output.cut_bytes == r->output.total_bytes - (128u << 10));
  CHECK(r->output.data.rfind("FIRST", 0) == 0);
  CHECK(r->output.data.find("LAST") != std::string::npos);
  CHECK(r->output.data.find("cut") != std::string::npos);
}
