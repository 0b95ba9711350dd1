// The explicit human steps: approve (merge, push only when asked) and discard.
#include "project.hpp"

using namespace fixhost::test;

TEST_CASE("approve merges the run's commit into the user's branch and pushes only with --push") {
  Project p;
  auto remote = p.dir.string() + ".remote.git";
  REQUIRE(sh("git init -q --bare '" + remote + "' && git remote add origin '" + remote + "' && git push -q origin main", p.dir).code == 0);
  auto r = p.autofix("correct");
  REQUIRE(r.code == 0);
  auto j = Project::json_of(r);
  const std::string run = j["run_id"], commit = j["commit"];
  const auto remote_before = sh("git --git-dir='" + remote + "' rev-parse main").out;

  auto a = p.hostctl("approve " + run + " --json");
  INFO(a.out);
  REQUIRE(a.code == 0);
  CHECK(p.git("rev-parse main").find(commit) == 0);
  CHECK(read_file(p.dir / "calc/util.py").find("a + b") != std::string::npos);  // checked out: merged in place
  CHECK(sh("git --git-dir='" + remote + "' rev-parse main").out == remote_before);  // not pushed
  auto ag = p.events("ApprovalGiven");
  REQUIRE(ag.size() == 1);
  CHECK(ag[0]["pushed"] == false);
  CHECK(ag[0]["target_branch"] == "main");

  auto again = p.hostctl("approve " + run);
  CHECK(again.code == 2);
  CHECK(again.out.find("already approved") != std::string::npos);
  fs::remove_all(remote);
}

TEST_CASE("approve --push pushes the merged branch to the remote") {
  Project p;
  auto remote = p.dir.string() + ".remote.git";
  REQUIRE(sh("git init -q --bare '" + remote + "' && git remote add origin '" + remote + "' && git push -q origin main", p.dir).code == 0);
  auto r = p.autofix("correct");
  REQUIRE(r.code == 0);
  auto j = Project::json_of(r);
  auto a = p.hostctl("approve " + j["run_id"].get<std::string>() + " --push");
  INFO(a.out);
  REQUIRE(a.code == 0);
  CHECK(sh("git --git-dir='" + remote + "' rev-parse main").out.find(j["commit"].get<std::string>()) == 0);
  CHECK(p.events("ApprovalGiven")[0]["pushed"] == true);
  fs::remove_all(remote);
}

TEST_CASE("approve refuses, changing nothing, when the user's branch moved in a conflicting way") {
  Project p;
  auto r = p.autofix("correct");
  REQUIRE(r.code == 0);
  auto j = Project::json_of(r);
  write_file(p.dir / "calc/util.py", "def add(a, b):\n    return b + a  # mine\n\n\ndef mul(a, b):\n    return a * b\n");
  REQUIRE(sh("git -c user.name=t -c user.email=t@e commit -qam mine", p.dir).code == 0);
  const auto head = p.git("rev-parse main");
  auto a = p.hostctl("approve " + j["run_id"].get<std::string>());
  INFO(a.out);
  CHECK(a.code == 1);
  CHECK(a.out.find("does not merge cleanly") != std::string::npos);
  CHECK(p.git("rev-parse main") == head);
  CHECK(p.git("status --porcelain").empty());
  CHECK(p.events("ApprovalGiven").empty());
}

TEST_CASE("discard removes the run's worktree and branch, and approve of a run without a commit is refused") {
  Project p;
  auto r = p.autofix("give_up");
  REQUIRE(r.code == 1);
  auto j = Project::json_of(r);
  const std::string run = j["run_id"];
  auto a = p.hostctl("approve " + run);
  CHECK(a.code == 2);
  CHECK(a.out.find("committed nothing") != std::string::npos);
  REQUIRE(fs::exists(j["worktree"].get<std::string>()));
  auto d = p.hostctl("discard " + run + " --json");
  INFO(d.out);
  CHECK(d.code == 0);
  CHECK_FALSE(fs::exists(j["worktree"].get<std::string>()));
  CHECK(p.git("branch --list 'fixhost/*'").empty());
  CHECK(p.hostctl("discard nosuchrun").code == 2);
}
