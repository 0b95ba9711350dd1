// Issue 9, item 2: no process outlives its run_process call, not even one that left the group
// with setsid after its parent exited (a double fork), which init used to adopt.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <sstream>
#include <thread>

#include "fixhost/host/world/process.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost::host;
using fixhost::test::TempDir;

namespace {

// The pids a child printed as "pid=N", each on its own line.
std::vector<pid_t> printed_pids(const std::string& out) {
  std::vector<pid_t> v;
  std::istringstream in(out);
  std::string w;
  while (in >> w)
    if (w.rfind("pid=", 0) == 0) v.push_back(std::stoi(w.substr(4)));
  return v;
}

// Gone for good: not running and not a zombie waiting to be reaped.
bool gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// A shell that leaves a setsid sleeper and, by a double fork, a late writer in a new session
// that writes `file` 2 s later; both print their pids. `tail` is what the shell does then.
std::string leaver(const std::filesystem::path& file, const std::string& tail) {
  return "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo pid=$!; "
         "( setsid sh -c 'echo pid=$$; exec >/dev/null 2>&1; sleep 2; echo late > \"$0\"' '" +
         file.string() + "' & ); sleep 0.3; " + tail;
}

}  // namespace

TEST_CASE("issue 9: a setsid sleeper and a double-forked late writer die when the child exits") {
  TempDir dir("fixhost-leash");
  const auto late = dir.path() / "late.txt";
  ProcessSpec s;
  s.argv = {"/bin/sh", "-c", leaver(late, "exit 0")};
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->exit_code == 0);
  auto pids = printed_pids(r->output.data);
  REQUIRE(pids.size() == 2);
  // Reaped before run_process returned: no zombie, no process.
  for (pid_t p : pids) CHECK_MESSAGE(gone(p), "pid " << p << " outlived its parent's run_process");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK_FALSE(std::filesystem::exists(late));
}

TEST_CASE("issue 9: on timeout the double-forked escapees die with the rest") {
  TempDir dir("fixhost-leash");
  const auto late = dir.path() / "late.txt";
  ProcessSpec s;
  s.argv = {"/bin/sh", "-c", leaver(late, "trap '' TERM; while :; do sleep 0.05; done")};
  s.timeout = std::chrono::milliseconds(800);
  s.grace = std::chrono::milliseconds(300);
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->timed_out);
  CHECK(r->signal == SIGKILL);  // the shell ignored SIGTERM: its status comes back as it was
  auto pids = printed_pids(r->output.data);
  REQUIRE(pids.size() == 2);
  for (pid_t p : pids) CHECK_MESSAGE(gone(p), "pid " << p << " survived the timeout");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK_FALSE(std::filesystem::exists(late));
}

TEST_CASE("issue 9: the exit status and the signal of the child come back unchanged") {
  ProcessSpec s;
  s.argv = {"/bin/sh", "-c", "exit 42"};
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->exit_code == 42);
  CHECK(r->signal == 0);
  s.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->exit_code == -1);
  CHECK(r->signal == SIGTERM);
}
