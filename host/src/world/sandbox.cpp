#include "fixhost/host/world/sandbox.hpp"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>

#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;

namespace {

// Absolute and free of symlinks where it exists (bwrap binds what the path leads to, and a
// later bind must name the same path as the earlier one it overrides).
fs::path real(const fs::path& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

Result<fs::path> resolve(const std::string& entry, const fs::path& repo, const std::string& key) {
  if (entry == "~" || entry.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (!home || !*home)
      return make_error(Errc::invalid_argument, "[sandbox] " + key + ": '" + entry +
                                                    "' starts with ~ but $HOME is not set; write the absolute path");
    return real(fs::path(home) / entry.substr(entry.size() > 1 ? 2 : 1));
  }
  const fs::path p(entry);
  return real(p.is_absolute() ? p : repo / p);
}

// Whether execvp would find `program` (bwrap would only say so in its output).
bool findable(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream in(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(in, dir, ':');)
    if (::access(((dir.empty() ? std::string(".") : dir) + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

std::vector<std::string> sandbox_argv(const SandboxLayout& l, const std::vector<std::string>& argv) {
  if (argv.empty() || !findable(argv[0])) return argv;  // run_process then says it cannot run it
  std::vector<std::string> out{l.bwrap,        "--ro-bind",     "/",         "/",       "--dev",       "/dev",
                               "--proc",       "/proc",         "--tmpfs",   "/tmp",    "--unshare-pid",
                               "--die-with-parent", "--new-session"};
  if (!l.network) out.push_back("--unshare-net");
  auto add = [&](const char* flag, const fs::path& p) {
    const auto r = real(p).string();
    out.insert(out.end(), {flag, r, r});
  };
  std::error_code ec;
  for (const auto& hidden : l.hidden) {
    const auto p = real(hidden);
    if (fs::is_directory(p, ec)) out.insert(out.end(), {"--tmpfs", p.string()});
    else if (fs::exists(p, ec)) out.insert(out.end(), {"--ro-bind", "/dev/null", p.string()});
  }
  for (const auto& p : l.read_only) add("--ro-bind", p);
  for (const auto& p : l.writable) add("--bind", p);
  for (const auto& p : l.locked) add("--ro-bind", p);
  if (!l.worktree.empty()) {
    add("--bind", l.worktree);
    // The link to the git metadata: rewritten, it would send fixhost's own git commands to a
    // repository (and its config, hooks) of the agent's making.
    if (fs::exists(l.worktree / ".git", ec)) add("--ro-bind", l.worktree / ".git");
  }
  if (!l.git_dir.empty()) {
    add("--bind", l.git_dir);
    for (const char* f : {"commondir", "gitdir"})
      if (fs::exists(l.git_dir / f, ec)) add("--ro-bind", l.git_dir / f);
  }
  for (const auto& p : l.scratch) add("--bind", p);
  // Inside, the temporary directory is the private /tmp; an ssh agent's socket would sign for it.
  out.insert(out.end(), {"--setenv", "TMPDIR", "/tmp", "--unsetenv", "SSH_AUTH_SOCK", "--"});
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string sandbox_unavailable(const std::string& bwrap, bool network) {
  static std::mutex mu;
  static std::map<std::pair<std::string, bool>, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(bwrap, network);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  ProcessSpec spec;
  spec.argv = {bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-pid",
               "--die-with-parent", "--new-session"};
  if (!network) spec.argv.push_back("--unshare-net");
  spec.argv.insert(spec.argv.end(), {"--", "true"});
  spec.timeout = std::chrono::seconds(20);
  spec.interruptible = false;
  auto r = run_process(spec);
  std::string why;
  if (!r) {
    why = "bubblewrap could not be tried: " + r.status().to_string();
  } else if (!r->spawn_error.empty()) {
    why = "bubblewrap is not installed ('" + bwrap + "' not found): install it (apt install bubblewrap) or set "
          "[sandbox] bwrap = \"/path/to/bwrap\" in fixhost.toml";
  } else if (r->exit_code != 0) {
    std::string said = r->output.data.substr(0, r->output.data.find('\n'));
    why = "'" + bwrap + "' cannot make its namespaces here (" +
          (said.empty() ? "exit " + std::to_string(r->exit_code) : said) +
          "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also "
          "kernel.apparmor_restrict_unprivileged_userns=0) or run fixhost in a VM or container that allows them";
  }
  cache[key] = why;
  return why;
}

Status add_configured_paths(SandboxLayout& l, const SandboxConfig& c, const fs::path& repo) {
  // $FIXHOST_SANDBOX_WRITABLE and $FIXHOST_SANDBOX_READ_ONLY (colon-separated) add to the lists,
  // e.g. for an agent script that lives under /tmp, which the sandbox replaces by its own.
  auto with_env = [](std::vector<std::string> list, const char* var) {
    if (const char* extra = std::getenv(var); extra && *extra) {
      std::istringstream in(extra);
      for (std::string p; std::getline(in, p, ':');)
        if (!p.empty()) list.push_back(p);
    }
    return list;
  };
  const std::vector<std::string> writable = with_env(c.writable, "FIXHOST_SANDBOX_WRITABLE");
  const std::vector<std::string> read_only = with_env(c.read_only, "FIXHOST_SANDBOX_READ_ONLY");
  struct List {
    const char* key;
    const std::vector<std::string>& entries;
    std::vector<fs::path>& out;
  };
  for (const List& list : {List{"hidden", c.hidden, l.hidden}, List{"read_only", read_only, l.read_only},
                           List{"writable", writable, l.writable}}) {
    for (const auto& e : list.entries) {
      auto p = resolve(e, repo, list.key);
      if (!p) return p.status();
      std::error_code ec;
      if (fs::exists(*p, ec)) {
        list.out.push_back(*p);
      } else if (std::string(list.key) == "writable") {
        return make_error(Errc::invalid_argument,
                          "[sandbox] writable: '" + e + "' (" + p->string() +
                              ") does not exist, so the agent could not write there; create it first (mkdir -p, or "
                              "touch for a file) or take it out of writable in fixhost.toml");
      }
    }
  }
  return Status::ok();
}

Result<RunSandbox> run_sandbox(const Config& config, const fs::path& store, const fs::path& common_git,
                               const fs::path& worktree) {
  RunSandbox rs;
  const SandboxConfig& c = config.sandbox;
  if (!c.enabled) {
    rs.state = "off: [sandbox] enabled = false in fixhost.toml";
    return rs;
  }
  if (auto why = sandbox_unavailable(c.bwrap, c.network); !why.empty()) {
    rs.state = "off: " + why;
    rs.warning = "warning: the agent runs WITHOUT a sandbox, only watched (docs/SAFETY.md): " + why +
                 "; or set [sandbox] enabled = false to accept that";
    return rs;
  }
  auto git_dir = git::run(worktree, {"rev-parse", "--absolute-git-dir"});
  if (!git_dir) return git_dir.status();
  SandboxLayout& l = rs.layout;
  l.bwrap = c.bwrap;
  l.network = c.network;
  l.read_only.push_back(real(config.repo));  // the checkout, visible (read-only) even under /tmp
  if (auto st = add_configured_paths(l, c, config.repo); !st) return st;
  l.locked = {real(store), real(common_git)};
  l.worktree = real(worktree);
  l.git_dir = real(*git_dir);
  rs.on = true;
  rs.state = c.network ? "bwrap" : "bwrap, no network";
  return rs;
}

}  // namespace fixhost::host
