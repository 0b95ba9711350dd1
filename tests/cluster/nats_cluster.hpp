#pragma once
// A JetStream cluster of real nats-server processes on loopback for one test: free ports, data
// dirs under a temp dir, each node killable and restartable, all stopped on destruction.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fixhost::test {

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process started with an argv and extra environment; killed (SIGKILL) on destruction.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
        const std::filesystem::path& log = {}) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::setpgid(0, 0);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      if (!log.empty()) {
        FILE* f = std::fopen(log.c_str(), "a");
        if (f) {
          ::dup2(fileno(f), 1);
          ::dup2(fileno(f), 2);
        }
      }
      std::vector<char*> a;
      for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      ::execvp(a[0], a.data());
      ::_exit(127);
    }
  }
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept {
    kill();
    pid_ = o.pid_;
    o.pid_ = -1;
    return *this;
  }
  ~Child() { kill(); }
  // Sends `sig` and reaps the child; returns its exit status (-1 when not running).
  int kill(int sig = SIGKILL) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return st;
  }
  // Waits for the child to exit; returns its exit code (or 128 + signal).
  int wait() {
    if (pid_ <= 0) return -1;
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

class NatsCluster {
 public:
  // `nodes` servers with JetStream, routed to each other (a cluster when nodes > 1); with a
  // token every client must present it.
  explicit NatsCluster(const std::filesystem::path& dir, int nodes = 3, std::string token = {})
      : dir_(dir), token_(std::move(token)) {
    for (int i = 0; i < nodes; ++i) {
      ports_.push_back(free_port());
      cports_.push_back(free_port());
    }
    nodes_.resize(static_cast<std::size_t>(nodes));
    for (int i = 0; i < nodes; ++i) start(i);
    for (int i = 0; i < nodes; ++i) wait_port(ports_[static_cast<std::size_t>(i)]);
  }
  void start(int i) {
    auto u = static_cast<std::size_t>(i);
    std::vector<std::string> argv{"nats-server", "-js", "-a", "127.0.0.1", "-p", std::to_string(ports_[u]),
                                  "-sd", (dir_ / ("n" + std::to_string(i))).string(), "-n", "n" + std::to_string(i)};
    if (!token_.empty()) {
      argv.push_back("--auth");
      argv.push_back(token_);
    }
    if (ports_.size() > 1) {
      argv.insert(argv.end(), {"--cluster_name", "fixhost", "--cluster", "nats://127.0.0.1:" + std::to_string(cports_[u])});
      std::string routes;
      for (std::size_t j = 0; j < cports_.size(); ++j)
        if (j != u) routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(cports_[j]);
      argv.insert(argv.end(), {"--routes", routes});
    }
    nodes_[u] = Child(argv, {}, dir_ / ("n" + std::to_string(i) + ".log"));
  }
  void kill(int i) { nodes_[static_cast<std::size_t>(i)].kill(SIGKILL); }
  void restart(int i) {
    start(i);
    wait_port(ports_[static_cast<std::size_t>(i)]);
  }
  // Every node's client URL, comma separated (what [cluster] url takes).
  std::string urls() const {
    std::string s;
    for (int p : ports_) s += (s.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(p);
    return s;
  }

 private:
  static void wait_port(int port) {
    for (int i = 0; i < 200 && !port_open(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!port_open(port)) throw std::runtime_error("nats-server did not listen on " + std::to_string(port));
  }
  std::filesystem::path dir_;
  std::string token_;
  std::vector<int> ports_, cports_;
  std::vector<Child> nodes_;
};

}  // namespace fixhost::test
