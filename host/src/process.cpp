#include "fixhost/host/process.hpp"

#include <atomic>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

void kill_tree(pid_t pid, int sig) {
  for (pid_t p : descendants(pid)) ::kill(p, sig);
  ::kill(-pid, sig);
  ::kill(pid, sig);
}

// In the child after fork: one write, so the parent's single read sees the tag and errno whole.
void report_spawn_error(int fd, const char (&tag)[7], int e) {
  char buf[6 + sizeof(int)];
  std::memcpy(buf, tag, 6);
  std::memcpy(buf + 6, &e, sizeof e);
  (void)!::write(fd, buf, sizeof buf);
}

std::atomic<bool> g_interrupt{false};

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

  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    return make_error(Errc::io_error, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) {
      report_spawn_error(err[1], "chdir:", errno);
      ::_exit(127);
    }
    environ = envp.data();
    ::execvp(argv[0], argv.data());
    report_spawn_error(err[1], "exec: ", errno);
    ::_exit(127);
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
      bool chdir_failed = std::string_view(buf, 6) == "chdir:";
      res.spawn_error = chdir_failed ? "cannot enter directory '" + spec.cwd + "': " + std::strerror(e)
                                     : "cannot run '" + spec.argv[0] + "': " + std::strerror(e);
    }
  }

  store::CappedCapture capture(spec.head_cap, spec.tail_cap);
  std::vector<char> buf(1 << 16);
  bool eof = false, exited = false, term_sent = false;
  int status = 0;
  auto deadline = spec.timeout.count() > 0 ? start + spec.timeout : Clock::time_point::max();
  Clock::time_point kill_at = Clock::time_point::max();
  Clock::time_point drain_until = Clock::time_point::max();

  while (!(eof && exited)) {
    auto now = Clock::now();
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
      ::usleep(wait_ms * 1000);
    }
    if (!exited) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        // The leash: nothing left in the child's group outlives it.
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
