#pragma once
// A small real Python project in a real git repository, and hostctl run on it as a child
// process, for the autofix tests. The scripted agents are tests/agents/agent.py MODE.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fixhost/host/world/process.hpp"
#include "fixhost/test/files.hpp"

namespace fixhost::test {
namespace fs = std::filesystem;
using fixhost::test::read_file;
using fixhost::test::write_file;

struct Cmd {
  int code = -1;
  std::string out;
};

inline Cmd sh(const std::string& cmd, const fs::path& cwd = {}, std::chrono::seconds timeout = std::chrono::seconds(240)) {
  host::ProcessSpec s;
  s.argv = {"/bin/sh", "-c", cmd};
  s.cwd = cwd.string();
  s.timeout = timeout;
  auto r = host::run_process(s);
  REQUIRE(r.is_ok());
  return {r->exit_code, r->output.data};
}

inline std::string agent(const std::string& mode) {
  return "/usr/bin/python3 " FIXHOST_SOURCE_DIR "/tests/agents/agent.py " + mode;
}

struct Project {
  fs::path dir;
  fs::path log;  // AGENT_LOG: one JSON line per agent call

  explicit Project(const std::string& extra_toml = "") {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("fixhost-autofix-" + std::to_string(rd()) + std::to_string(::getpid()));
    fs::create_directories(dir);
    log = dir.string() + ".agent.log";
    write_file(log, "");  // the sandbox lets the agent write it (FIXHOST_SANDBOX_WRITABLE) only if it exists
    write_file(dir / "calc/__init__.py", "");
    write_file(dir / "calc/util.py", "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n");
    write_file(dir / "calc/fmt.py", "from calc.util import add\n\n\ndef label(x):\n    return \"n=\" + x\n");
    write_file(dir / "tests/test_util.py", "from calc.util import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n");
    write_file(dir / "tests/test_fmt.py", "from calc.fmt import label\n\n\ndef test_label():\n    assert label(3) == \"n=3\"\n");
    write_file(dir / "tests/test_other.py", "from calc.util import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n");
    write_file(dir / "pytest.ini", "[pytest]\npythonpath = .\n");
    write_file(dir / ".gitignore", "__pycache__/\n");
    write_file(dir / "fixhost.toml",
        "flaky_reruns = 0\n" + extra_toml +
            "\n[[suites]]\nname = \"py\"\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", \"pytest\", "
            "\"tests\"]\ntimeout = \"2m\"\n");
    auto r = sh("git init -q -b main && git add -A && git -c user.name=t -c user.email=t@e commit -qm init", dir);
    REQUIRE(r.code == 0);
  }
  ~Project() {
    std::error_code ec;
    sh("git worktree prune 2>/dev/null; true", dir);
    fs::remove_all(dir, ec);
    fs::remove(log, ec);
  }

  // hostctl ARGS in the project, with AGENT_LOG set (and writable in the agent's sandbox).
  Cmd hostctl(const std::string& args, std::chrono::seconds timeout = std::chrono::seconds(240)) const {
    return sh("AGENT_LOG='" + log.string() + "' FIXHOST_SANDBOX_WRITABLE='" + log.string() + "' " FIXHOST_HOSTCTL " " +
                  args,
              dir, timeout);
  }
  Cmd autofix(const std::string& mode, const std::string& extra = "") const {
    return hostctl("autofix --json --agent '" + agent(mode) + "' " + extra);
  }
  // The JSON object printed by --json (the last {...} block of the output).
  static nlohmann::json json_of(const Cmd& c) {
    auto start = c.out.find("\n{");
    start = start == std::string::npos ? c.out.find('{') : start + 1;
    auto j = nlohmann::json::parse(c.out.substr(start), nullptr, false);
    if (j.is_discarded()) FAIL("no JSON in hostctl output:\n" << c.out);
    return j;
  }
  std::vector<nlohmann::json> events(const std::string& type) const {
    auto r = hostctl("events --json --type " + type);
    std::vector<nlohmann::json> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line)["payload"]);
    return out;
  }
  std::vector<nlohmann::json> agent_calls() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_file(log));
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  std::string git(const std::string& args) const {
    auto r = sh("git " + args, dir);
    return r.out;
  }
};

}  // namespace fixhost::test
