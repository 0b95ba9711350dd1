// Issue 9, item 3: the sandbox's mounts, checked with real bubblewrap on real directories.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "fixhost/host/world/process.hpp"
#include "fixhost/host/world/sandbox.hpp"
#include "fixhost/test/files.hpp"

using namespace fixhost::host;
using fixhost::test::read_file;
using fixhost::test::TempDir;
using fixhost::test::write_file;
namespace fs = std::filesystem;

namespace {

// A checkout with its store inside it, a run's worktree in the store, git metadata for it,
// and directories outside that only a [sandbox] list shows.
struct Tree {
  TempDir tmp{"fixhost-sandbox"};
  fs::path checkout = tmp.subdir("checkout");
  fs::path store = tmp.subdir("checkout/.fixhost");
  fs::path worktree = tmp.subdir("checkout/.fixhost/worktrees/r1");
  fs::path attempt = tmp.subdir("checkout/.fixhost/attempts/r1/1-1");
  fs::path git_dir = tmp.subdir("checkout/.git/worktrees/r1");
  fs::path shown = tmp.subdir("shown"), open = tmp.subdir("open"), secret = tmp.subdir("secret");
  Tree() {
    write_file(checkout / "app.py", "print(1)\n");
    write_file(store / "CURRENT", "MANIFEST-1\n");
    write_file(worktree / ".git", "gitdir: " + git_dir.string() + "\n");
    write_file(git_dir / "commondir", "../..\n");
    write_file(git_dir / "HEAD", "ref: refs/heads/x\n");
    write_file(shown / "model.txt", "weights\n");
    write_file(secret / "id_rsa", "KEY\n");
  }
  SandboxLayout layout() const {
    SandboxLayout l;
    l.hidden = {secret};
    l.read_only = {checkout, shown};
    l.writable = {open};
    l.locked = {store, checkout / ".git"};
    l.worktree = worktree;
    l.git_dir = git_dir;
    l.scratch = {attempt};
    return l;
  }
};

// `script` run by /bin/sh in the worktree under `l`: its output.
std::string in_sandbox(const SandboxLayout& l, const std::string& script) {
  ProcessSpec s;
  s.argv = sandbox_argv(l, {"/bin/sh", "-c", script});
  s.cwd = l.worktree.string();
  s.timeout = std::chrono::seconds(30);
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  REQUIRE_MESSAGE(r->spawn_error.empty(), r->spawn_error);
  return r->output.data;
}

// "ok" when `cmd` succeeds in the sandbox, else "no".
std::string tried(const std::string& cmd) { return "if { " + cmd + "; } 2>/dev/null; then echo ok; else echo no; fi; "; }

}  // namespace

TEST_CASE("issue 9: bubblewrap runs here (these tests need it, scripts/setup.sh installs it)") {
  CHECK(sandbox_unavailable("bwrap", true) == "");
  CHECK(sandbox_unavailable("bwrap", false) == "");
  auto missing = sandbox_unavailable("/nonexistent/fixhost-bwrap", true);
  CHECK(missing.find("apt install bubblewrap") != std::string::npos);
  CHECK(sandbox_unavailable("/bin/false", true).find("user namespaces") != std::string::npos);
}

TEST_CASE("issue 9: the sandbox writes only the worktree, its git metadata, the attempt's files and writable paths") {
  Tree t;
  const auto out = in_sandbox(
      t.layout(),
      tried("echo x > wt.txt") + tried("echo x > '" + t.checkout.string() + "/.env'") +
          tried("echo x > '" + t.store.string() + "/CURRENT'") + tried("echo x > '" + t.store.string() + "/new'") +
          tried("echo x > .git") + tried("echo x > '" + t.git_dir.string() + "/index'") +
          tried("echo x > '" + t.git_dir.string() + "/commondir'") +
          tried("echo x > '" + t.attempt.string() + "/summary.txt'") + tried("echo x > '" + t.open.string() + "/log'") +
          tried("echo x > '" + t.shown.string() + "/model.txt'") + tried("cat '" + t.shown.string() + "/model.txt' >/dev/null") +
          tried("test -e '" + t.secret.string() + "/id_rsa'") + tried("echo x > /tmp/fixhost-sandbox-private") +
          tried("echo x > \"$HOME/fixhost-sandbox-home\""));
  CHECK(out ==
        "ok\n"   // the worktree
        "no\n"   // the user's checkout
        "no\n"   // a store file
        "no\n"   // a new file in the store (the worktree is in it, the rest stays read-only)
        "no\n"   // the worktree's .git link
        "ok\n"   // its own git metadata
        "no\n"   // but not where that points git
        "ok\n"   // the attempt's files
        "ok\n"   // [sandbox] writable
        "no\n"   // [sandbox] read_only: read-only
        "ok\n"   // but readable
        "no\n"   // hidden
        "ok\n"   // a private /tmp
        "no\n");  // the home directory
  CHECK(read_file(t.worktree / "wt.txt") == "x\n");
  CHECK(read_file(t.store / "CURRENT") == "MANIFEST-1\n");
  CHECK(read_file(t.git_dir / "commondir") == "../..\n");
  CHECK_FALSE(fs::exists(t.checkout / ".env"));
  CHECK_FALSE(fs::exists("/tmp/fixhost-sandbox-private"));  // it was the sandbox's own /tmp
  CHECK(read_file(t.open / "log") == "x\n");
}

TEST_CASE("issue 9: a writable entry cannot open the store or the common .git again") {
  Tree t;
  auto l = t.layout();
  l.writable.push_back(t.checkout);  // the whole checkout asked for: the store stays locked
  const auto out = in_sandbox(l, tried("echo x > '" + t.checkout.string() + "/notes.txt'") +
                                     tried("echo x > '" + t.store.string() + "/CURRENT'") +
                                     tried("mkdir -p '" + t.checkout.string() + "/.git/hooks'"));
  CHECK(out == "ok\nno\nno\n");
}

TEST_CASE("issue 9: [sandbox] paths: ~ is $HOME, relative is the repository, a missing writable path is an error") {
  ::unsetenv("FIXHOST_SANDBOX_READ_ONLY");  // CTest sets it for the scripted agents: this case checks the config alone
  TempDir repo("fixhost-sandbox-repo");
  fs::create_directories(repo.path() / "cache");
  SandboxConfig c;
  c.hidden = {"~/fixhost-no-such-secret"};
  c.read_only = {"cache", "/nonexistent/fixhost-ro"};
  SandboxLayout l;
  REQUIRE(add_configured_paths(l, c, repo.path()).is_ok());
  CHECK(l.hidden.empty());  // nothing to hide
  REQUIRE(l.read_only.size() == 1);
  CHECK(l.read_only[0] == fs::weakly_canonical(repo.path() / "cache"));
  c.writable = {"~/fixhost-no-such-dir"};
  auto st = add_configured_paths(l, c, repo.path());
  REQUIRE_FALSE(st.is_ok());
  CHECK(st.message().find("[sandbox] writable: '~/fixhost-no-such-dir'") != std::string::npos);
  CHECK(st.message().find(std::string(std::getenv("HOME")) + "/fixhost-no-such-dir") != std::string::npos);
  CHECK(st.message().find("create it first") != std::string::npos);
}

TEST_CASE("issue 9: a program that cannot be found is not wrapped, so it is reported as such") {
  Tree t;
  ProcessSpec s;
  s.argv = sandbox_argv(t.layout(), {"fixhost-no-such-program"});
  auto r = run_process(s);
  REQUIRE(r.is_ok());
  CHECK(r->spawn_error.find("fixhost-no-such-program") != std::string::npos);
}
