// hostctl heal's FIX phase (issue 10, items 4 and 9) with real parts: events posted to a real
// `hostctl serve`, a real git repository with a bare remote, real pytest, the engine's attempt
// loop, and gh replaced by a recording stand-in on [heal] gh that checks its arguments.
// Scripted agents (examples/agents/heal_agent.py): correct, a "reproduction" that passes, one
// that edits source while reproducing, one that weakens the reproducing test, one that gives up.
#include "heal_support.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "fixhost/test/repo.hpp"

using namespace fixhost::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* k_cart = "def average_price(items):\n    return sum(i['price'] for i in items) / len(items)\n";


std::string zero_division_event() {
  json frames = json::array({{{"filename", "app.py"}, {"function", "checkout"}, {"lineno", 10}, {"in_app", true}},
                             {{"filename", "shop/cart.py"}, {"module", "shop.cart"}, {"function", "average_price"},
                              {"lineno", 2}, {"context_line", "    return sum(i['price'] for i in items) / len(items)"},
                              {"in_app", true}}});
  json e = {{"event_id", "0123456789abcdef0123456789abcdef"},
            {"level", "error"},
            {"platform", "python"},
            {"release", "shop@1.0.0"},
            {"environment", "production"},
            {"exception", {{"values", json::array({{{"type", "ZeroDivisionError"}, {"value", "division by zero"},
                                                    {"stacktrace", {{"frames", frames}}}}})}}}};
  return e.dump();
}

struct HealRig {
  TempDir tools{"fixhost-heal-fix"};
  std::unique_ptr<GitRepo> repo;
  fs::path remote;

  HealRig() {
    const auto gh = tools.path() / "gh";
    write_file(gh, k_gh_stand_in);
    ::chmod(gh.c_str(), 0755);
    remote = tools.path() / "remote.git";
    REQUIRE(run_in(tools.path(), {"git", "init", "-q", "--bare", remote.string()}).code == 0);
    repo = std::make_unique<GitRepo>(std::map<std::string, std::string>{
        {"fixhost.toml", "[[suites]]\nname = \"py\"\nrunner = \"pytest\"\ncommand = [\"/usr/bin/python3\", \"-m\", "
                         "\"pytest\", \"-q\"]\n\n[heal]\ningest_keys = [\"k1\"]\ngh = \"" + gh.string() + "\"\n"},
        {"shop/__init__.py", ""},
        {"shop/cart.py", k_cart},
        {"tests/__init__.py", ""},
        {"tests/test_cart.py", "from shop.cart import average_price\n\n\ndef test_average_price():\n"
                               "    assert average_price([{'price': 1}, {'price': 3}]) == 2\n"}});
    repo->git({"remote", "add", "origin", remote.string()});
    ServeProcess serve(repo->dir());
    for (int i = 0; i < 3; ++i)
      REQUIRE(http_request(serve.url(), "POST", "/api/7/store/?sentry_key=k1", zero_division_event(),
                           {{"Content-Type", "application/json"}}).status == 200);
    REQUIRE(serve.stop() == 0);
  }

  Ran heal(const std::string& mode) const {
    const std::string agent = "/usr/bin/python3 " FIXHOST_SOURCE_DIR "/examples/agents/heal_agent.py " + mode;
    return repo->hostctl({"heal", "--json", "--source", "log", "--agent", agent},
                         {{"AGENT_LOG", (tools.path() / "agent.log").string()},
                          {"FIXHOST_SANDBOX_WRITABLE", tools.path().string()}});
  }
  std::string gh_calls() const { return read_file(tools.path() / "calls"); }
  std::string remote_branches() const {
    return run_in(tools.path(), {"git", "--git-dir", remote.string(), "branch", "--list"}).out;
  }
  std::vector<json> agent_calls() const {
    std::vector<json> out;
    std::istringstream in(read_file(tools.path() / "agent.log"));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }
};

const json& fix_group(const json& heal) {
  for (const auto& g : heal["groups"])
    if (g["title"].get<std::string>().find("ZeroDivisionError") != std::string::npos) return g;
  FAIL("no ZeroDivisionError group");
  static json none;
  return none;
}

}  // namespace

TEST_CASE("heal fix: reproduce, fix through the engine, commit, push fix/sentry-<id>, open one PR, a rerun opens none") {
  HealRig rig;
  const std::string head_before = rig.repo->git({"rev-parse", "HEAD"});
  auto r = rig.heal("correct");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  auto j = json::parse(r.out);
  const auto& g = fix_group(j);
  CHECK(g["action"] == "pr_opened");
  CHECK(g["why"] == "https://github.example/shop/pull/7");

  // The agent ran twice: reproduce (with the error's frames), then fix.
  auto calls = rig.agent_calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0]["phase"] == "reproduce");
  CHECK(calls[0]["error_type"] == "ZeroDivisionError");
  CHECK(calls[0]["frames"] == 2);
  CHECK(calls[1]["phase"] == "fix");

  // One branch pushed, holding the test and the fix, the message naming the Sentry issue.
  const std::string branches = rig.remote_branches();
  REQUIRE(branches.find("fix/sentry-") != std::string::npos);
  const std::string branch = branches.substr(branches.find("fix/sentry-"), branches.find('\n', branches.find("fix/sentry-")) - branches.find("fix/sentry-"));
  auto files = run_in(rig.tools.path(), {"git", "--git-dir", rig.remote.string(), "show", "--name-only", "--format=%s", branch}).out;
  CHECK(files.rfind("fix: [Sentry-", 0) == 0);
  CHECK(files.find("tests/test_sentry_repro.py") != std::string::npos);
  CHECK(files.find("shop/cart.py") != std::string::npos);
  CHECK(rig.remote_branches().find("main") == std::string::npos);  // never the default branch
  // The user's checkout did not move.
  CHECK(rig.repo->git({"rev-parse", "HEAD"}) == head_before);
  CHECK(read_file(rig.repo->dir() / "shop/cart.py") == k_cart);

  // gh: one `pr list` check, one `pr create` with the right arguments; PrOpened recorded.
  CHECK(rig.gh_calls().find("pr create --head " + branch) != std::string::npos);
  CHECK(read_file(rig.tools.path() / "body.md").find("Test added") != std::string::npos);
  auto prs = rig.repo->events("PrOpened");
  REQUIRE(prs.size() == 1);
  CHECK(prs[0]["url"] == "https://github.example/shop/pull/7");
  CHECK(prs[0]["number"] == 7);
  CHECK(prs[0]["branch"] == branch);

  // Again: the open PR is seen, nothing is fixed twice, no second PR.
  auto again = rig.heal("correct");
  INFO(again.out << again.err);
  CHECK(again.code == 0);
  CHECK(fix_group(json::parse(again.out))["action"] == "open_pr");
  std::size_t creates = 0;
  for (std::size_t p = 0; (p = rig.gh_calls().find("pr create", p)) != std::string::npos; ++p) ++creates;
  CHECK(creates == 1);
  CHECK(rig.agent_calls().size() == 2);
}

TEST_CASE("heal fix: no PR for a reproduction that passes, one that edits source, a weakened test or an agent that gives up") {
  struct Case {
    std::string mode, action, rule;
  };
  for (const Case& c : {Case{"passes", "not_reproduced", ""}, Case{"edits_source", "not_reproduced", "tests_only"},
                        Case{"weakens", "unfixable", "frozen_path"}, Case{"gives_up", "unfixable", ""}}) {
    INFO("agent: " << c.mode);
    HealRig rig;
    auto r = rig.heal(c.mode);
    INFO(r.out << r.err);
    CHECK(r.code == 1);
    auto j = json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(fix_group(j)["action"] == c.action);
    CHECK(rig.remote_branches().empty());                          // nothing pushed
    CHECK(rig.gh_calls().find("pr create") == std::string::npos);  // no PR
    CHECK(rig.repo->events("PrOpened").empty());
    CHECK(read_file(rig.repo->dir() / "shop/cart.py") == k_cart);
    if (!c.rule.empty()) {
      bool seen = false;
      for (const auto& v : rig.repo->events("PolicyViolation")) seen = seen || v["rule"] == c.rule;
      CHECK_MESSAGE(seen, "PolicyViolation " << c.rule);
    }
    if (c.action == "not_reproduced") {
      bool recorded = false;
      for (const auto& f : rig.repo->events("FailureResolved")) recorded = recorded || f["reason_kind"] == "not_reproduced";
      CHECK(recorded);
      CHECK(rig.agent_calls().size() == 1);  // no fix phase
    }
  }
}
