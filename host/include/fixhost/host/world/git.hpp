#pragma once
// The git operations the host performs, each as `git -C <dir> ...` from an argv. Errors name
// the command and carry git's own message. Safe to use from several threads on different
// worktrees; git itself serialises access to a repository's refs.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host::git {

// Runs git in `dir`; the value is stdout with the trailing newline removed. Every command runs
// with an isolated configuration: no global or system config (GIT_CONFIG_GLOBAL=/dev/null,
// GIT_CONFIG_NOSYSTEM=1), hooks from an empty directory (core.hooksPath) and no fsmonitor, so
// nothing an agent or a user's global config installs runs inside fixhost's own git commands.
// `env` is set on top (GIT_INDEX_FILE for a private index).
Result<std::string> run(const std::filesystem::path& dir, const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env = {});

// For the human step only (`hostctl approve`: the merge into the user's branch and the push):
// git with the user's own configuration, credentials and merge drivers included.
Result<std::string> run_as_user(const std::filesystem::path& dir, const std::vector<std::string>& args);

// The tree of `base` with `patches` (made by diff_trees(binary = true)) applied in order, built
// in a private index: never read from a worktree.
Result<std::string> tree_from_patches(const std::filesystem::path& dir, const std::string& base,
                                      const std::vector<std::string>& patches);

bool is_repository(const std::filesystem::path& dir);
Result<std::string> head(const std::filesystem::path& dir);            // commit sha
Result<std::string> current_branch(const std::filesystem::path& dir);  // "" when detached

// Every ref and its target: refs/heads/*, refs/tags/*, refs/stash, ...
Result<std::map<std::string, std::string>> refs(const std::filesystem::path& dir);

// Stages everything in the worktree (honouring .gitignore) and returns the tree id. Paths in
// `excludes` (repo-relative) are left out: the untracked files a run copied in.
Result<std::string> snapshot_tree(const std::filesystem::path& worktree, const std::vector<std::string>& excludes = {});
// Makes the worktree and its index exactly `tree` (files added since are removed).
Status restore_tree(const std::filesystem::path& worktree, const std::string& tree,
                    const std::vector<std::string>& excludes = {});

// `git worktree add -b <branch> <path> <commit>`; touches only <repo>/.git, never the checkout.
Status worktree_add(const std::filesystem::path& repo, const std::filesystem::path& path, const std::string& branch,
                    const std::string& commit);
// Removes the worktree (forced: it is fixhost's own) and prunes stale worktree records; a
// path that is already gone is not an error.
Status worktree_remove(const std::filesystem::path& repo, const std::filesystem::path& path);
bool branch_exists(const std::filesystem::path& repo, const std::string& branch);

// The identity arguments for a commit: -c user.name=... -c user.email=... with the user's own
// identity (global config included, read as plain data) or fixhost's when there is none.
std::vector<std::string> identity_args(const std::filesystem::path& dir);

// Unified diff between two trees, with renames; `binary` adds --binary (for git apply).
Result<std::string> diff_trees(const std::filesystem::path& dir, const std::string& a, const std::string& b,
                               bool binary = false);
// "M path", "A path", "D path", "R old -> new".
Result<std::vector<std::string>> changed_files(const std::filesystem::path& dir, const std::string& a,
                                               const std::string& b);
// git diff --stat summary line ("2 files changed, 3 insertions(+), 1 deletion(-)").
Result<std::string> diffstat(const std::filesystem::path& dir, const std::string& a, const std::string& b);
// Applies a patch made by diff_trees(binary = true) to the worktree (reverse = undo it).
Status apply_patch(const std::filesystem::path& worktree, const std::string& patch, bool reverse);

// The repository's common .git directory (shared by all worktrees).
Result<std::filesystem::path> common_dir(const std::filesystem::path& dir);

// Commits everything staged in `worktree` with fixhost's identity when the repository has none.
Result<std::string> commit_all(const std::filesystem::path& worktree, const std::string& message);

}  // namespace fixhost::host::git
