// Clean-up that never loses work (build.hpp, discard_build).
#include <sstream>

#include "fixhost/host/build/build.hpp"
#include "fixhost/host/world/git.hpp"
#include "text.hpp"

namespace fixhost::host::build {
namespace fs = std::filesystem;

namespace {

// A branch by its name, another ref whole (refs/fixhost/remote/...).
std::string short_ref(const std::string& ref) {
  return ref.starts_with("refs/heads/") ? ref.substr(std::string("refs/heads/").size()) : ref;
}

}  // namespace

Result<DiscardReport> discard_build(const fs::path& repo, const fs::path& store_dir, const std::string& run_id,
                                    bool approved, bool force) {
  DiscardReport rep;
  const std::string prefix = "refs/heads/" + build_branch(run_id);
  // The streams' branches, and those a distributed build fetched from workers (refs/fixhost/remote/).
  const std::string fetched = "refs/fixhost/remote/" + build_branch(run_id) + "-*";
  auto refs = git::run(repo, {"for-each-ref", "--format=%(refname) %(objectname)", prefix, prefix + "-*", fetched});
  if (!refs) return refs.status();
  auto user = git::run(repo, {"for-each-ref", "--format=%(refname)", "refs/heads/"});
  if (!user) return user.status();
  std::vector<std::string> user_branches;
  for (const auto& r : lines(*user))
    if (r.rfind("refs/heads/fixhost/", 0) != 0) user_branches.push_back(r);
  std::vector<std::pair<std::string, std::string>> branches;
  for (const auto& l : lines(*refs)) {
    auto sp = l.find(' ');
    branches.emplace_back(l.substr(0, sp), l.substr(sp + 1));
  }
  // A branch's work is landed when the build was approved (its squashed commit merged into the
  // user's branch holds every stream's work) or its tip is reachable from a branch of the user's.
  for (const auto& [ref, sha] : branches) {
    bool landed = approved;
    for (const auto& ub : user_branches) {
      if (landed) break;
      auto r = git::run(repo, {"merge-base", "--is-ancestor", sha, ub});
      if (r) landed = true;
    }
    if (!landed) rep.kept_unlanded.push_back(short_ref(ref) + " (" + sha.substr(0, 12) + ")");
  }
  if (!rep.kept_unlanded.empty() && !force) return rep;
  rep.kept_unlanded.clear();

  std::error_code ec;
  const fs::path dir = build_dir(store_dir, run_id);
  if (fs::is_directory(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (!entry.is_directory()) continue;
      if (auto st = git::worktree_remove(repo, entry.path()); !st) return st;
      rep.removed.push_back("worktree " + entry.path().string());
    }
    fs::remove_all(dir, ec);
  }
  (void)git::run(repo, {"worktree", "prune"});
  for (const auto& [ref, sha] : branches) {
    if (auto r = git::run(repo, {"update-ref", "-d", ref, sha}); !r) return r.status();
    rep.removed.push_back((ref.starts_with("refs/heads/") ? "branch " : "ref ") + short_ref(ref));
  }
  const fs::path attempts = store_dir / "attempts" / run_id;
  if (fs::exists(attempts, ec)) {
    fs::remove_all(attempts, ec);
    rep.removed.push_back("attempt files " + attempts.string());
  }
  return rep;
}

}  // namespace fixhost::host::build
