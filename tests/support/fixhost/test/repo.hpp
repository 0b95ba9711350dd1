#pragma once
// A real git repository made of files given by the test, and hostctl run in it as a child
// process (argv, no shell), stdout and stderr apart. For the tests that drive whole workflows.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fixhost/host/world/process.hpp"
#include "fixhost/test/files.hpp"

namespace fixhost::test {

struct Ran {
  int code = -1;
  std::string out, err;
};

// argv in `cwd`, with `env` on top of the inherited environment; stderr kept apart.
inline Ran run_in(const std::filesystem::path& cwd, std::vector<std::string> argv,
                  const std::map<std::string, std::string>& env = {},
                  std::chrono::seconds timeout = std::chrono::seconds(240)) {
  TempDir io("fixhost-io");
  std::string cmd = "exec \"$0\" \"$@\" 2>\"" + (io.path() / "err").string() + "\"";
  argv.insert(argv.begin(), {"/bin/sh", "-c", cmd});
  host::ProcessSpec s;
  s.argv = argv;
  s.cwd = cwd.string();
  s.env = env;
  s.timeout = timeout;
  auto r = host::run_process(s);
  REQUIRE(r.is_ok());
  return {r->exit_code, r->output.data, read_file(io.path() / "err")};
}

class GitRepo {
 public:
  explicit GitRepo(const std::map<std::string, std::string>& files, const std::string& prefix = "fixhost-repo")
      : tmp_(prefix) {
    for (const auto& [path, text] : files) write_file(dir() / path, text);
    git({"init", "-q", "-b", "main"});
    commit_all("fixture");
  }
  const std::filesystem::path& dir() const { return tmp_.path(); }
  std::filesystem::path store() const { return dir() / ".fixhost"; }

  std::string git(std::vector<std::string> args) const {
    args.insert(args.begin(), {"git", "-c", "user.name=fixhost test", "-c", "user.email=test@fixhost.invalid"});
    auto r = run_in(dir(), args);
    REQUIRE_MESSAGE(r.code == 0, "git failed: " << r.out << r.err);
    return r.out;
  }
  void commit_all(const std::string& message) const {
    git({"add", "-A"});
    git({"commit", "-q", "--allow-empty", "-m", message});
  }
  // hostctl ARGS in the repository.
  Ran hostctl(std::vector<std::string> args, const std::map<std::string, std::string>& env = {},
              std::chrono::seconds timeout = std::chrono::seconds(300)) const {
    args.insert(args.begin(), FIXHOST_HOSTCTL);
    return run_in(dir(), args, env, timeout);
  }
  // The payloads of every recorded event of `type`, in log order.
  std::vector<nlohmann::json> events(const std::string& type) const {
    auto r = hostctl({"events", "--json", "--type", type});
    std::vector<nlohmann::json> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line)["payload"]);
    return out;
  }

 private:
  TempDir tmp_;
};

// The last JSON value printed (hostctl --json prints one document, progress goes to stderr).
inline nlohmann::json json_of(const Ran& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) FAIL("no JSON on stdout:\n" << r.out << "\nstderr:\n" << r.err);
  return j;
}

}  // namespace fixhost::test
