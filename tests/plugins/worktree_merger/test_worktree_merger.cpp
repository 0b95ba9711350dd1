// worktree_merger: the merge order and each overlap's resolution, from planned and finished
// streams; the plugin emits one MergePlanned once every planned stream has finished.
#include <doctest/doctest.h>

#include "merge_rules.hpp"
#include "plugin_harness.hpp"

namespace ev = fixhost::events;
namespace wm = fixhost::worktree_merger;
using fixhost::testing::feed;
using fixhost::testing::LoadedPlugin;

namespace {

ev::StreamPlanned planned(std::string id, std::string role, std::vector<std::string> owns,
                          std::vector<std::string> deps = {}, std::vector<std::string> shared = {}) {
  ev::StreamPlanned p;
  p.stream = std::move(id), p.role = std::move(role), p.owns = std::move(owns), p.depends_on = std::move(deps);
  p.shared = std::move(shared);
  return p;
}

ev::StreamFinished finished(std::string id, std::vector<std::string> files, std::string outcome = "ok") {
  ev::StreamFinished f;
  f.stream = std::move(id), f.files = std::move(files), f.outcome = std::move(outcome);
  return f;
}

std::vector<ev::StreamPlanned> plan() {
  return {planned("tests", "tests", {"tests/**"}, {"backend", "frontend"}),
          planned("frontend", "frontend", {"frontend/**"}, {"contract"}, {"package.json"}),
          planned("contract", "contract", {"contract/**", "frontend/src/api/types.ts"}),
          planned("backend", "backend", {"backend/**"}, {"contract"}, {"package.json"})};
}

}  // namespace

TEST_CASE("merge order is the dependency order, ties in planned order") {
  auto d = wm::decide(plan(), {finished("contract", {"contract/api.json"}), finished("backend", {"backend/app.py"}),
                               finished("frontend", {"frontend/src/App.ts"}), finished("tests", {"tests/test_app.py"})});
  CHECK(d.order == std::vector<std::string>{"contract", "frontend", "backend", "tests"});
  CHECK(d.excluded.empty());
  CHECK(d.decisions.empty());
  CHECK(d.rules_version == "worktree_merger/1");
}

TEST_CASE("a failed stream is not merged, nor is anything depending on it") {
  auto d = wm::decide(plan(), {finished("contract", {"contract/api.json"}), finished("backend", {"backend/x"}, "policy"),
                               finished("frontend", {"frontend/y"}), finished("tests", {"tests/z"})});
  CHECK(d.order == std::vector<std::string>{"contract", "frontend"});
  CHECK(d.excluded == std::vector<std::string>{"backend: policy", "tests: depends on 'backend', which is not merged"});
}

TEST_CASE("contract wins on contract-owned files, shared files merge three-way, others are refused") {
  auto d = wm::decide(plan(), {finished("contract", {"contract/api.json", "frontend/src/api/types.ts"}),
                               finished("frontend", {"frontend/src/api/types.ts", "frontend/a.ts", "package.json"}),
                               finished("backend", {"backend/a.py", "package.json"}),
                               finished("tests", {"tests/t.py", "backend/a.py"})});
  REQUIRE(d.decisions.size() == 3);
  CHECK(d.decisions[0].file == "frontend/src/api/types.ts");
  CHECK(d.decisions[0].resolution == "contract_wins");
  CHECK(d.decisions[0].winner == "contract");
  CHECK(d.decisions[0].streams == std::vector<std::string>{"contract", "frontend"});
  CHECK(d.decisions[1].file == "package.json");
  CHECK(d.decisions[1].resolution == "three_way");
  CHECK(d.decisions[1].streams == std::vector<std::string>{"frontend", "backend"});
  CHECK(d.decisions[2].file == "backend/a.py");
  CHECK(d.decisions[2].resolution == "refused");
}

TEST_CASE("a rule change shows: the same facts, different shared globs, another resolution") {
  auto p = plan();
  p[3].shared.clear();  // backend no longer lists package.json as shared
  auto d = wm::decide(p, {finished("contract", {}), finished("frontend", {"package.json"}),
                          finished("backend", {"package.json"}), finished("tests", {})});
  REQUIRE(d.decisions.size() == 1);
  CHECK(d.decisions[0].resolution == "refused");
}

TEST_CASE("worktree_merger.so emits one MergePlanned when the last planned stream finishes") {
  LoadedPlugin plugin("worktree_merger");
  auto info = plugin->info();
  CHECK(info.name == "worktree_merger");
  CHECK(info.kind == fixhost::sdk::PluginKind::pure);
  for (const auto& p : plan()) CHECK(feed<ev::MergePlanned>(plugin, p, "b1").empty());
  CHECK(feed<ev::MergePlanned>(plugin, finished("contract", {"contract/a"}), "b1").empty());
  CHECK(feed<ev::MergePlanned>(plugin, finished("backend", {"backend/a"}), "b1").empty());
  CHECK(feed<ev::MergePlanned>(plugin, finished("frontend", {"frontend/a"}), "b1").empty());
  // Another run's events do not mix in.
  CHECK(feed<ev::MergePlanned>(plugin, finished("tests", {"tests/a"}), "other").empty());
  auto out = feed<ev::MergePlanned>(plugin, finished("tests", {"tests/a"}), "b1");
  REQUIRE(out.size() == 1);
  CHECK(out[0].order == std::vector<std::string>{"contract", "frontend", "backend", "tests"});
  // Decided once.
  CHECK(feed<ev::MergePlanned>(plugin, finished("tests", {"tests/a"}), "b1").empty());
}
