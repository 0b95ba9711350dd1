#include "fixhost/host/world/coprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace fixhost::host {

namespace {

constexpr std::size_t k_stderr_keep = 4096;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

Result<std::unique_ptr<Coprocess>> Coprocess::start(const std::vector<std::string>& argv,
                                                     const std::filesystem::path& cwd) {
  if (argv.empty()) return make_error(Errc::invalid_argument, "an external plugin's command is empty");
  int sv[2], errp[2], execp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return make_error(Errc::io_error, std::string("socketpair: ") + std::strerror(errno));
  if (::pipe2(errp, O_CLOEXEC) != 0 || ::pipe2(execp, O_CLOEXEC) != 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return make_error(Errc::io_error, std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string dir = cwd.string();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {sv[0], sv[1], errp[0], errp[1], execp[0], execp[1]}) ::close(fd);
    return make_error(Errc::io_error, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(sv[1], 0);
    ::dup2(sv[1], 1);
    ::dup2(errp[1], 2);
    int e = 0;
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) e = errno;
    if (e == 0) {
      ::execvp(args[0], args.data());
      e = errno;
    }
    (void)!::write(execp[1], &e, sizeof e);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(sv[1]);
  ::close(errp[1]);
  // Room for a whole pipelined batch each way (the kernel caps it at net.core.[rw]mem_max).
  const int buf = 4 << 20;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  ::setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  ::close(execp[1]);
  int exec_errno = 0;
  ssize_t n;
  do n = ::read(execp[0], &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  ::close(execp[0]);
  std::unique_ptr<Coprocess> p(new Coprocess());
  p->pid_ = pid;
  p->sock_ = sv[0];
  p->err_ = errp[0];
  set_nonblocking(p->sock_);
  set_nonblocking(p->err_);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    p->reap(true);
    return make_error(Errc::not_found, "cannot run '" + argv[0] + "' in '" + dir + "': " + std::strerror(exec_errno));
  }
  return p;
}

Coprocess::~Coprocess() { stop(std::chrono::milliseconds(200)); }

void Coprocess::drain_stderr() {
  if (err_ < 0) return;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) {
        ::close(err_);
        err_ = -1;
      }
      return;
    }
    err_tail_.append(buf, static_cast<std::size_t>(n));
    if (err_tail_.size() > 2 * k_stderr_keep) err_tail_.erase(0, err_tail_.size() - k_stderr_keep);
  }
}

Status Coprocess::exchange(std::string_view out, std::size_t want, std::vector<std::string>& lines,
                           std::chrono::milliseconds deadline, std::size_t max_line) {
  bool given = false;
  return exchange(
      [&](std::string& buf) {
        if (given) return false;
        given = true;
        buf.append(out);
        return !out.empty();
      },
      want, lines, deadline, max_line);
}

Status Coprocess::exchange(const std::function<bool(std::string&)>& more, std::size_t want,
                           std::vector<std::string>& lines, std::chrono::milliseconds deadline, std::size_t max_line) {
  if (sock_ < 0) return make_error(Errc::io_error, "it is not running");
  std::string out;
  bool more_left = true;
  auto refill = [&] {
    out.clear();
    more_left = more_left && more(out);
  };
  refill();
  std::size_t sent = 0, got = 0;
  std::int64_t due = now_ms() + deadline.count();
  char buf[1 << 16];
  auto take_lines = [&] {
    std::size_t start = 0;
    for (;;) {
      auto nl = in_.find('\n', start);
      if (nl == std::string::npos || got >= want) break;
      lines.emplace_back(in_, start, nl - start);
      start = nl + 1;
      ++got;
      due = now_ms() + deadline.count();
    }
    if (start > 0) in_.erase(0, start);
  };
  take_lines();
  while (got < want || sent < out.size()) {
    pollfd fds[2] = {{sock_, static_cast<short>(POLLIN | (sent < out.size() ? POLLOUT : 0)), 0}, {err_, POLLIN, 0}};
    const std::int64_t left = due - now_ms();
    if (left <= 0 && got < want)
      return make_error(Errc::timeout, "it did not answer within " + std::to_string(deadline.count()) + " ms");
    int r = ::poll(fds, err_ >= 0 ? 2 : 1, static_cast<int>(std::max<std::int64_t>(left, 0)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return make_error(Errc::io_error, std::string("poll: ") + std::strerror(errno));
    if (err_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) drain_stderr();
    if (fds[0].revents & POLLOUT) {
      ssize_t n = ::send(sock_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return make_error(Errc::io_error, std::string("it stopped reading its stdin (") + std::strerror(errno) + ")");
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (sent == out.size() && more_left) {
        refill();
        sent = 0;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(sock_, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        drain_stderr();
        return make_error(Errc::io_error, "it closed its stdout");
      }
      in_.append(buf, static_cast<std::size_t>(n));
      take_lines();
      if (got < want && in_.size() > max_line)
        return make_error(Errc::invalid_argument,
                          "it wrote a line longer than " + std::to_string(max_line) + " bytes without a newline");
    }
  }
  return Status::ok();
}

bool Coprocess::reap(bool block) {
  if (pid_ <= 0) return true;
  int st = 0;
  pid_t r;
  do r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = st;
    exited_ = true;
    pid_ = -1;
    return true;
  }
  if (r < 0) pid_ = -1;
  return r < 0;
}

void Coprocess::stop(std::chrono::milliseconds grace) {
  if (sock_ >= 0) ::shutdown(sock_, SHUT_WR);
  if (pid_ > 0) {
    const std::int64_t until = now_ms() + grace.count();
    while (!reap(false) && now_ms() < until) {
      drain_stderr();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (pid_ > 0) {
      const int pg = pid_;
      ::kill(-pg, SIGKILL);
      reap(true);
    }
  }
  drain_stderr();
  if (sock_ >= 0) ::close(sock_);
  if (err_ >= 0) ::close(err_);
  sock_ = err_ = -1;
}

std::string Coprocess::exit_description() {
  if (pid_ > 0) reap(false);
  if (!exited_) return pid_ > 0 ? "is running" : "is gone";
  if (WIFEXITED(status_)) return "exited with code " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) return "was killed by signal " + std::to_string(WTERMSIG(status_));
  return "ended";
}

std::string Coprocess::stderr_tail() {
  drain_stderr();
  std::string t = err_tail_.size() > k_stderr_keep ? err_tail_.substr(err_tail_.size() - k_stderr_keep) : err_tail_;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\r')) t.pop_back();
  return t;
}

}  // namespace fixhost::host
