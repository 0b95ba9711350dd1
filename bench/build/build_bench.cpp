// bench_build: the parallel build's own cost (issue 11, item 12).
//   1. writes a git repository with a contract and 6 feature packages, and a manifest of 8
//      streams: contract -> 6 in parallel -> tests, each agent examples/agents/stream_agent.py
//      sleeping --stream-ms (the contract and tests half of that) and writing real files;
//   2. runs `hostctl build --json` --runs times (a fresh repository each);
//   3. reads WorktreesMerged (wall, serial sum, critical path) from the log.
// Prints the figures of each run, then last the medians: `build_wall_over_critical: X` (target
// <= 1.10) and `build_speedup: Y` (serial sum over wall clock).
// Usage: bench_build [--stream-ms N] [--runs N] [--dir DIR] [--keep]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fixhost/host/world/process.hpp"

using namespace fixhost;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::cerr << "bench_build: " << why << "\n";
  std::exit(2);
}

host::ProcessResult run(const std::vector<std::string>& argv, const fs::path& cwd,
                        const std::map<std::string, std::string>& env = {}) {
  host::ProcessSpec s;
  s.argv = argv;
  s.cwd = cwd.string();
  s.env = env;
  s.timeout = std::chrono::minutes(10);
  auto r = host::run_process(s);
  if (!r) die(r.status().to_string());
  return *r;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int stream_ms = 3000, runs = 3;
  std::string dir_text = (fs::temp_directory_path() / "fixhost-bench-build").string();
  bool keep = false;
  CLI::App app{"bench_build: hostctl build of 8 streams (a contract, 6 in parallel, tests) with scripted agents"};
  app.add_option("--stream-ms", stream_ms, "how long each parallel stream's agent sleeps (contract and tests: half)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--runs", runs, "builds (medians)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dir", dir_text, "where the repositories go")->capture_default_str();
  app.add_flag("--keep", keep, "keep them");
  CLI11_PARSE(app, argc, argv);
  const fs::path dir = dir_text;
  const std::vector<std::string> features = {"cart", "orders", "search", "profile", "reviews", "wishlist"};
  const std::string agent = "/usr/bin/python3 " + std::string(FIXHOST_SOURCE_DIR) + "/examples/agents/stream_agent.py";
  const double s = stream_ms / 1000.0;
  nlohmann::json scenario;
  scenario["contract"] = {{"sleep", s / 2}, {"write", {{"contract/api.json", "{\"version\": 2}\n"}}}};
  std::ostringstream m;
  m << "feature = \"six features at once\"\n\n[build]\nagent = \"" << agent << "\"\nstream_budget_s = 120\n\n"
    << "[[streams]]\nid = \"contract\"\nrole = \"contract\"\nowns = [\"contract/**\"]\n\n";
  for (const auto& f : features) {
    m << "[[streams]]\nid = \"" << f << "\"\nrole = \"backend\"\nowns = [\"" << f << "/**\"]\ndepends_on = [\"contract\"]\n\n";
    nlohmann::json w;
    for (int k = 0; k < 20; ++k)
      w[f + "/module_" + std::to_string(k) + ".py"] = "def f_" + std::to_string(k) + "():\n    return " + std::to_string(k) + "\n";
    scenario[f] = {{"sleep", s}, {"write", w}};
  }
  m << "[[streams]]\nid = \"tests\"\nrole = \"tests\"\nowns = [\"tests/**\"]\ndepends_on = [";
  for (std::size_t i = 0; i < features.size(); ++i) m << (i ? ", " : "") << "\"" << features[i] << "\"";
  m << "]\n\n[integration]\ncommands = [[\"/usr/bin/python3\", \"-m\", \"pytest\", \"-q\", \"-p\", \"no:cacheprovider\", "
       "\"tests\"]]\n";
  std::string tests = "";
  for (const auto& f : features) tests += "from " + f + ".module_0 import f_0 as " + f + "_0\n";
  tests += "\n\ndef test_all():\n";
  for (const auto& f : features) tests += "    assert " + f + "_0() == 0\n";
  scenario["tests"] = {{"sleep", s / 2}, {"write", {{"tests/test_all.py", tests}}}};

  std::vector<double> overheads, speedups;
  for (int r = 0; r < runs; ++r) {
    const fs::path repo = dir / ("run-" + std::to_string(r));
    fs::remove_all(repo);
    write(repo / "contract/api.json", "{\"version\": 1}\n");
    for (const auto& f : features) write(repo / f / "__init__.py", "");
    write(repo / "tests/test_base.py", "def test_base():\n    assert True\n");
    write(repo / "pytest.ini", "[pytest]\npythonpath = .\n");
    write(repo / ".gitignore", "__pycache__/\n");
    write(repo / "fixhost.toml", "flaky_reruns = 0\n\n[[suites]]\nname = \"py\"\nrunner = \"pytest\"\n"
                                 "command = [\"/usr/bin/python3\", \"-m\", \"pytest\", \"tests\"]\n");
    write(dir / ("manifest-" + std::to_string(r) + ".toml"), m.str());
    for (auto cmd : std::vector<std::vector<std::string>>{{"git", "init", "-q", "-b", "main"},
                                                           {"git", "add", "-A"},
                                                           {"git", "-c", "user.name=b", "-c", "user.email=b@b", "commit",
                                                            "-qm", "base"}})
      if (run(cmd, repo).exit_code != 0) die("git failed in " + repo.string());
    auto b = run({FIXHOST_HOSTCTL, "-q", "build", "--json", "--manifest", (dir / ("manifest-" + std::to_string(r) + ".toml")).string()},
                 repo, {{"BUILD_SCENARIO", scenario.dump()}});
    if (b.exit_code != 0) die("hostctl build exited " + std::to_string(b.exit_code) + ":\n" + b.output.data.substr(0, 4000));
    auto ev = run({FIXHOST_HOSTCTL, "events", "--json", "--type", "WorktreesMerged"}, repo);
    std::istringstream in(ev.output.data);
    nlohmann::json wm;
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] == '{') wm = nlohmann::json::parse(line)["payload"];
    if (wm.is_null()) die("no WorktreesMerged recorded:\n" + ev.output.data);
    const double wall = wm["wall_ms"], serial = wm["serial_ms"], critical = wm["critical_ms"];
    std::printf("run %d: wall %.0f ms, serial sum %.0f ms, critical path %.0f ms (merge %lld ms, integration %lld ms), "
                "wall/critical %.3f, speed-up %.2f\n",
                r + 1, wall, serial, critical, static_cast<long long>(wm["merge_ms"].get<std::int64_t>()),
                static_cast<long long>(wm["integration_ms"].get<std::int64_t>()), wall / critical, serial / wall);
    overheads.push_back(wall / critical);
    speedups.push_back(serial / wall);
  }
  if (!keep) fs::remove_all(dir);
  std::printf("streams: 8 (contract %d ms, 6 x %d ms in parallel, tests %d ms); runs: %d (medians below)\n",
              stream_ms / 2, stream_ms, stream_ms / 2, runs);
  std::printf("build_wall_over_critical: %.3f\n", median(overheads));
  std::printf("build_speedup: %.2f\n", median(speedups));
  return 0;
}
