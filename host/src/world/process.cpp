#include "fixhost/host/world/process.hpp"

#include <algorithm>
#include <atomic>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "fixhost/store/capture.hpp"

extern char** environ;

namespace fixhost::host {
namespace {

using Clock = std::chrono::steady_clock;

// Every process whose ancestry reaches `root` (read from /proc), including those that left the
// group with setsid.
std::set<pid_t> descendants(pid_t root) {
  std::map<pid_t, pid_t> parent;
  if (DIR* d = opendir("/proc")) {
    while (dirent* ent = readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(ent->d_name, &end, 10);
      if (*end != 0 || pid <= 0) continue;
      std::ifstream st(std::string("/proc/") + ent->d_name + "/stat");
      std::string line;
      std::getline(st, line);
      auto rp = line.rfind(')');
      if (rp == std::string::npos || rp + 4 > line.size()) continue;
      // after ") S " comes ppid
      long ppid = std::strtol(line.c_str() + rp + 4, nullptr, 10);
      parent[static_cast<pid_t>(pid)] = static_cast<pid_t>(ppid);
    }
    closedir(d);
  }
  std::set<pid_t> out;
  bool grew = true;
  while (grew) {
    grew = false;
    for (auto [pid, ppid] : parent)
      if ((ppid == root || out.count(ppid)) && !out.count(pid)) {
        out.insert(pid);
        grew = true;
      }
  }
  return out;
}

// `leash` is the subreaper between us and the command (below): every process the command
// started, even one that double-forked into a new session, stays among its descendants. The
// leash itself ignores the signals it is sent and ends once the command and all of them are dead.
void kill_tree(pid_t leash, int sig) {
  if (sig != SIGKILL) ::kill(-leash, sig);
  for (pid_t p : descendants(leash)) ::kill(p, sig);
}

// In the child after fork: one write, so the parent's single read sees the tag and errno whole.
void report_spawn_error(int fd, const char (&tag)[7], int e) {
  char buf[6 + sizeof(int)];
  std::memcpy(buf, tag, 6);
  std::memcpy(buf + 6, &e, sizeof e);
  (void)!::write(fd, buf, sizeof buf);
}

std::atomic<bool> g_interrupt{false};

// ---- the leash: runs in the forked child, so only async-signal-safe calls (no allocation) ----

// The parent pid in /proc/<pid>/stat, or -1.
pid_t parent_of(const char* pid) {
  char path[64] = "/proc/";
  std::size_t n = 6;
  for (const char* c = pid; *c && n < sizeof path - 6; ++c) path[n++] = *c;
  std::memcpy(path + n, "/stat", 6);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t len = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (len <= 0) return -1;
  buf[len] = 0;
  char* rp = nullptr;
  for (char* c = buf; *c; ++c)
    if (*c == ')') rp = c;
  if (!rp || rp + 4 >= buf + len) return -1;  // ") S <ppid>"
  long ppid = 0;
  for (char* c = rp + 4; *c >= '0' && *c <= '9'; ++c) ppid = ppid * 10 + (*c - '0');
  return static_cast<pid_t>(ppid);
}

// SIGKILL to every child of this process (a subreaper's children include the orphans it adopted).
void kill_children(pid_t self) {
  int fd = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buf[8192];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<dirent64*>(buf + off);
      off += d->d_reclen;
      long pid = 0;
      const char* c = d->d_name;
      for (; *c >= '0' && *c <= '9'; ++c) pid = pid * 10 + (*c - '0');
      if (*c != 0 || pid <= 0) continue;
      if (parent_of(d->d_name) == self) ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
  ::close(fd);
}

// The leash, in the child of fork(): it makes itself the subreaper of the command's tree, runs
// the command in a child of its own, and when the command ends (or hostctl dies) kills and reaps
// everything left, then ends as the command did. Never returns.
[[noreturn]] void leash_and_exec(char** argv, pid_t host, int err_fd, const sigset_t& caller_mask) {
  // Signals sent to the group (timeout, Ctrl-C) are for the command; the leash waits for them.
  sigset_t waited;
  sigemptyset(&waited);
  for (int s : {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&waited, s);
  ::sigprocmask(SIG_BLOCK, &waited, nullptr);
  ::signal(SIGCHLD, SIG_DFL);  // children must be waited for, not reaped by the kernel
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::prctl(PR_SET_PDEATHSIG, SIGUSR1);
  if (::getppid() != host) ::_exit(127);  // hostctl died before the leash was on

  pid_t cmd = ::fork();
  if (cmd < 0) {
    report_spawn_error(err_fd, "fork: ", errno);
    ::_exit(127);
  }
  if (cmd == 0) {
    ::sigprocmask(SIG_SETMASK, &caller_mask, nullptr);
    ::execvp(argv[0], argv);
    report_spawn_error(err_fd, "exec: ", errno);
    ::_exit(127);
  }
  ::close(err_fd);
  // The leash holds no end of the output pipe: EOF comes when the command's tree is gone.
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 2) ::close(devnull);
  }

  int status = 0;
  bool host_gone = false;
  for (bool done = false; !done;) {
    siginfo_t si;
    int sig = ::sigwaitinfo(&waited, &si);
    if (sig == SIGUSR1) {
      host_gone = true;
      break;
    }
    if (sig != SIGCHLD) continue;
    int st = 0;
    for (pid_t w; (w = ::waitpid(-1, &st, WNOHANG)) > 0;)
      if (w == cmd) {
        status = st;
        done = true;
      }
  }
  // Whatever the command left: killed, and reaped as it dies (its children come to us next).
  const pid_t self = ::getpid();
  for (;;) {
    kill_children(self);
    int st;
    pid_t w = ::waitpid(-1, &st, 0);
    if (w < 0 && errno == ECHILD) break;
  }
  if (host_gone) ::_exit(127);
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  struct rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::kill(self, sig);
  ::_exit(128 + sig);
}

}  // namespace

void request_interrupt() noexcept { g_interrupt.store(true, std::memory_order_relaxed); }
bool interrupt_requested() noexcept { return g_interrupt.load(std::memory_order_relaxed); }

Result<ProcessResult> run_process(const ProcessSpec& spec, const std::function<void(std::string_view)>& on_output) {
  if (spec.argv.empty()) return make_error(Errc::invalid_argument, "run_process: empty argv");
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return make_error(Errc::io_error, std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return make_error(Errc::io_error, std::string("pipe: ") + std::strerror(errno));
  }
  // Build everything the child needs before fork: after fork only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && spec.env.count(std::string(kv.substr(0, eq)))) continue;
    envp.push_back(*e);
  }
  for (const auto& [k, v] : spec.env) env_store.push_back(k + "=" + v);
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);

  const pid_t host = ::getpid();
  sigset_t caller_mask;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &caller_mask);
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    return make_error(Errc::io_error, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    if (spec.stdin_fd >= 0) {
      ::dup2(spec.stdin_fd, 0);
    } else {
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
    }
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    // Nothing else of hostctl's: not the pipes of other children (their EOF would wait for us).
    int keep = err[1];
    if (keep < 3) keep = ::fcntl(err[1], F_DUPFD_CLOEXEC, 3);
    if (keep > 3) ::close_range(3, static_cast<unsigned>(keep) - 1, 0);
    ::close_range(static_cast<unsigned>(keep) + 1, ~0u, 0);
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) {
      report_spawn_error(keep, "chdir:", errno);
      ::_exit(127);
    }
    environ = envp.data();
    leash_and_exec(argv.data(), host, keep, caller_mask);
  }
  ::setpgid(pid, pid);
  ::close(out[1]);
  ::close(err[1]);

  ProcessResult res;
  {
    char buf[6 + sizeof(int)];
    ssize_t n = ::read(err[0], buf, sizeof buf);
    ::close(err[0]);
    if (n == static_cast<ssize_t>(sizeof buf)) {
      int e;
      std::memcpy(&e, buf + 6, sizeof e);
      const std::string_view tag(buf, 6);
      res.spawn_error = tag == "chdir:" ? "cannot enter directory '" + spec.cwd + "': " + std::strerror(e)
                        : tag == "fork: " ? "cannot start '" + spec.argv[0] + "': fork failed: " + std::strerror(e)
                                          : "cannot run '" + spec.argv[0] + "': " + std::strerror(e);
    }
  }

  store::CappedCapture capture(spec.head_cap, spec.tail_cap);
  std::vector<char> buf(1 << 16);
  bool eof = false, exited = false, term_sent = false;
  int status = 0;
  auto deadline_from = [&](Clock::time_point t) {
    return spec.timeout.count() > 0 ? t + spec.timeout : Clock::time_point::max();
  };
  auto deadline = deadline_from(start);
  bool held = spec.on_hold && spec.on_hold->load();
  Clock::time_point kill_at = Clock::time_point::max();
  Clock::time_point drain_until = Clock::time_point::max();
  Clock::time_point leash_kill_at = Clock::time_point::max();

  int reap_wait_us = 200;
  while (!(eof && exited)) {
    auto now = Clock::now();
    if (held) {  // the work was not given yet: its clock starts when it is
      held = spec.on_hold->load();
      start = now;
      deadline = deadline_from(now);
    }
    if (!exited && !term_sent && spec.interruptible && interrupt_requested()) {
      res.interrupted = true;
      term_sent = true;
      kill_tree(pid, SIGTERM);
      kill_at = now + spec.grace;
    }
    if (!exited && now >= deadline && !term_sent) {
      res.timed_out = true;
      term_sent = true;
      kill_tree(pid, SIGTERM);
      kill_at = now + spec.grace;
    }
    if (!exited && now >= kill_at) {
      kill_tree(pid, SIGKILL);
      kill_at = Clock::time_point::max();
      leash_kill_at = now + spec.grace;
    }
    if (!exited && now >= leash_kill_at) {
      ::kill(pid, SIGKILL);  // the leash itself did not end: what it held is gone to init
      leash_kill_at = Clock::time_point::max();
    }
    if (exited && now >= drain_until) break;  // a descendant we could not kill keeps the pipe open
    int wait_ms = 50;
    if (!eof) {
      pollfd p{out[0], POLLIN, 0};
      int r = ::poll(&p, 1, wait_ms);
      if (r > 0) {
        ssize_t n = ::read(out[0], buf.data(), buf.size());
        if (n > 0) {
          std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
          if (on_output) on_output(chunk);
          capture.append(chunk);
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          eof = true;
        }
      }
    } else if (!exited) {
      // The output is closed and the child is ending: wait for it in short, growing steps, not
      // a fixed 50 ms (every git command and test run would pay it).
      ::usleep(static_cast<useconds_t>(reap_wait_us));
      reap_wait_us = std::min(reap_wait_us * 2, wait_ms * 1000);
    }
    if (!exited) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        // The leash killed and reaped the child's tree before it ended; the group is a backstop.
        ::kill(-pid, SIGKILL);
        drain_until = Clock::now() + std::chrono::seconds(2);
      }
    }
  }
  ::close(out[0]);
  res.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.exit_code = -1;
    res.signal = WTERMSIG(status);
  }
  res.output = std::move(capture).finish();
  return res;
}

}  // namespace fixhost::host
