// The attempt engine on its own, as the build and heal workflows use it: a workspace on a real
// git repository, an agent (a shell command) run by run_attempt, the host's own path rules
// (allowed = a stream's `owns`, frozen = heal's reproducing test) and the revert.
#include <doctest/doctest.h>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/engine/attempt.hpp"
#include "fixhost/host/engine/session.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/test/repo.hpp"

namespace fs = std::filesystem;
using namespace fixhost;
using namespace fixhost::host;

namespace {

struct Rig {
  test::GitRepo repo{{{"backend/app.py", "def f():\n    return 1\n"},
                      {"frontend/app.ts", "export const x = 1;\n"},
                      {"tests/test_app.py", "from backend.app import f\n\ndef test_f():\n    assert f() == 1\n"}}};
  Config cfg;
  std::unique_ptr<RunContext> run;
  std::unique_ptr<engine::Workspace> ws;
  std::unique_ptr<engine::Session> s;

  Rig() {
    auto c = load_config(repo.dir(), false);
    REQUIRE_MESSAGE(c.is_ok(), c.status().to_string());
    cfg = *c;
    RunOptions ro;
    ro.store_dir = repo.store();
    ro.mode = "test";
    auto r = RunContext::start(cfg, ro);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    run = std::move(*r);
    engine::WorkspaceSpec spec;
    spec.repo = repo.dir();
    spec.path = repo.store() / "worktrees" / run->id();
    spec.branch = "fixhost/test-" + run->id();
    spec.base = *git::head(repo.dir());
    spec.stream = "backend";
    auto w = engine::Workspace::create(*run, cfg, spec);
    REQUIRE_MESSAGE(w.is_ok(), w.status().to_string());
    ws = std::move(*w);
    s = std::make_unique<engine::Session>(cfg, *run, *ws);
  }

  Result<engine::AttemptOutcome> attempt(const std::string& agent, std::vector<std::string> allowed,
                                         std::vector<std::string> frozen) {
    s->agent = agent;
    engine::AgentCall call;
    call.test_id = "backend";
    call.category = "stream";
    call.dir = repo.store() / "attempts" / run->id() / "backend";
    call.prompt = "write the backend\n";
    call.allowed = std::move(allowed);
    call.frozen = std::move(frozen);
    return engine::run_attempt(*s, call);
  }

  std::vector<events::PolicyViolation> violations() {
    std::vector<events::PolicyViolation> out;
    REQUIRE(run->log()
                .scan_type(events::EventType::PolicyViolation,
                           [&](const events::Event& e) {
                             if (auto v = events::decode<events::PolicyViolation>(e)) out.push_back(*v);
                             return true;
                           })
                .is_ok());
    return out;
  }
};

}  // namespace

TEST_CASE("engine: an attempt that writes outside what it may is rejected, the path named, and revert undoes it") {
  Rig r;
  auto at = r.attempt("printf 'def g():\\n    return 2\\n' > backend/more.py && echo 'export const y = 2;' >> frontend/app.ts",
                      {"backend/**"}, {});
  REQUIRE_MESSAGE(at.is_ok(), at.status().to_string());
  CHECK(at->agent.exit_code == 0);
  REQUIRE(at->rejections.size() == 1);
  CHECK(at->rejections[0].find("outside_owned frontend/app.ts") == 0);
  auto v = r.violations();
  REQUIRE(v.size() == 1);
  CHECK(v[0].rule == "outside_owned");
  CHECK(v[0].path == "frontend/app.ts");
  // The worktree changed; the revert puts it back exactly.
  CHECK(fs::exists(r.ws->path() / "backend/more.py"));
  REQUIRE(engine::revert_attempt(*r.s, at->before, "backend", 1, "policy", at->files).is_ok());
  CHECK_FALSE(fs::exists(r.ws->path() / "backend/more.py"));
  CHECK(test::read_file(r.ws->path() / "frontend/app.ts") == "export const x = 1;\n");
  auto snap = r.ws->snapshot();
  REQUIRE(snap.is_ok());
  CHECK(snap->tree == at->before.tree);
}

TEST_CASE("engine: inside what it may write, an attempt passes the host's rules, a frozen file may not be touched, renamed away or not") {
  {
    Rig r;
    auto at = r.attempt("printf 'def g():\\n    return 2\\n' > backend/more.py", {"backend/**"}, {});
    REQUIRE(at.is_ok());
    CHECK(at->rejections.empty());
    CHECK(at->files == std::vector<std::string>{"backend/more.py"});
    CHECK(at->finished.diff.data.find("+def g():") != std::string::npos);
  }
  {
    Rig r;
    auto at = r.attempt("git mv tests/test_app.py tests/test_other.py", {}, {"tests/test_app.py"});
    REQUIRE(at.is_ok());
    bool frozen = false;
    for (const auto& x : at->rejections) frozen = frozen || x.find("frozen_path tests/test_app.py") == 0;
    CHECK_MESSAGE(frozen, "rejections: " << at->rejections.size());
  }
}

TEST_CASE("engine: path globs are the SDK's, the same the policy plugin uses") {
  CHECK(engine::path_matches("backend/**", "backend/a/b.py"));
  CHECK(engine::path_matches("backend/**", "backend"));
  CHECK_FALSE(engine::path_matches("backend/**", "frontend/backend.py"));
  CHECK(engine::path_matches("*.md", "docs/x.md"));
  CHECK(engine::path_matches("frontend/src/api/types.ts", "frontend/src/api/types.ts"));
  CHECK_FALSE(engine::path_matches("[", "x"));  // a bad glob matches nothing
}
