#pragma once
// Shared by the tests under tests/host/: temp directories, copying test plugins, child processes.
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "fixhost/test/files.hpp"

extern char** environ;

namespace host_test {

namespace fs = std::filesystem;
using fixhost::test::TempDir;
using fixhost::test::read_file;
using fixhost::test::write_file;


// Copies the test plugin `<name>.so` into `dir` (as `<as>.so` when given) and returns its path.
inline fs::path copy_plugin(const std::string& name, const fs::path& dir, const std::string& as = "") {
  fs::create_directories(dir);
  fs::path to = dir / ((as.empty() ? name : as) + ".so");
  fs::copy_file(fs::path(FIXHOST_TEST_PLUGINS) / (name + ".so"), to, fs::copy_options::overwrite_existing);
  return to;
}

inline std::vector<std::string> read_lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Runs argv (no shell) with stdout and stderr appended to `log`; returns the exit status, or
// -1 when it could not start or did not exit normally.
inline int run(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace host_test
