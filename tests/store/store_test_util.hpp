#pragma once
// Helpers for the store tests: temporary directories, test events and child processes.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixhost/test/files.hpp"
#include "fixhost/events/codec.hpp"

extern char** environ;

namespace store_test {
using fixhost::test::TempDir;


inline fixhost::events::Event rerun_event(const std::string& run, const std::string& test_id, std::uint32_t attempt = 0) {
  fixhost::events::TestRerun p;
  p.test_id = test_id;
  p.attempt = attempt;
  p.passed = attempt % 2 == 0;
  p.detail = "AssertionError: expected 1 == 2";
  return fixhost::events::make_event(p, run);
}

inline fixhost::events::Event failure_event(const std::string& run, const std::string& test_id) {
  fixhost::events::FailureDetected p;
  p.runner = "pytest";
  p.test_id = test_id;
  p.file = "tests/test_x.py";
  p.line = 12;
  p.message = "assert 1 == 2";
  return fixhost::events::make_event(p, run);
}

// A child process running the store helper, with pipes to its stdin and from its stdout.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    args.insert(args.begin(), FIXHOST_STORE_HELPER);
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    if (rc != 0) throw std::runtime_error("posix_spawn failed for " + args[0]);
  }
  ~Child() {
    close_stdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // One line of the child's stdout, without the newline ("" at EOF).
  std::string read_line() {
    std::string line;
    char c;
    while (::read(stdout_, &c, 1) == 1) {
      if (c == '\n') break;
      line.push_back(c);
    }
    return line;
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  // Waits for the child; returns its wait status.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  int kill_and_wait(int sig) {
    ::kill(pid_, sig);
    return wait();
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
};

}  // namespace store_test
