#pragma once
// For the heal tests: `hostctl serve` as a real child process on a free loopback port, and a
// small Beast HTTP client to talk to it (or to a stand-in) over loopback.
#include <utility>  // before Asio (g++ 12 in C++20 mode)

#include <doctest/doctest.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixhost/test/files.hpp"

extern char** environ;

namespace fixhost::test {

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};

// One request on a fresh connection. `url` is "http://HOST:PORT".
inline HttpAnswer http_request(const std::string& url, const std::string& method, const std::string& target,
                               const std::string& body = "", const std::map<std::string, std::string>& headers = {}) {
  namespace net = boost::asio;
  namespace bhttp = boost::beast::http;
  std::string hostport = url.substr(url.find("://") + 3);
  std::string host = hostport.substr(0, hostport.rfind(':')), port = hostport.substr(hostport.rfind(':') + 1);
  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  boost::beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve(host, port));
  timeval tv{};
  tv.tv_sec = 60;  // sync reads ignore expires_after: bound them with the socket's timeout
  ::setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
  req.set(bhttp::field::host, host);
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  boost::beast::error_code ec;
  bhttp::write(stream, req, ec);  // a server that refuses a big body answers before reading it all
  boost::beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64u << 20);
  ec = {};
  bhttp::read(stream, buf, parser, ec);
  HttpAnswer a;
  if (ec) {
    a.status = -1;
    a.body = ec.message();
    return a;
  }
  auto res = parser.release();
  a.status = static_cast<int>(res.result_int());
  a.body = res.body();
  for (const auto& f : res) a.headers[std::string(f.name_string())] = std::string(f.value());
  return a;
}

// A stand-in for a service that cannot run here (Sentry's REST API, a chat webhook): a loopback
// HTTP server on a free port answering each request with `handler`, one connection at a time.
// Records every request it saw.
struct SeenRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;
};
struct StandInAnswer {
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
};
class StandIn {
 public:
  using Handler = std::function<StandInAnswer(const SeenRequest&)>;
  explicit StandIn(Handler handler) : handler_(std::move(handler)), acceptor_(ioc_) {
    namespace net = boost::asio;
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    url_ = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    thread_ = std::thread([this] { loop(); });
  }
  ~StandIn() {
    stop_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocked accept()
    thread_.join();
  }
  const std::string& url() const { return url_; }
  std::vector<SeenRequest> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void loop() {
    namespace bhttp = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) break;
      timeval tv{};
      tv.tv_sec = 10;  // a client that never sends does not block the stand-in forever
      ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      boost::beast::flat_buffer buf;
      bhttp::request<bhttp::string_body> req;
      bhttp::read(sock, buf, req, ec);
      if (ec) continue;
      SeenRequest r{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) r.headers[std::string(f.name_string())] = std::string(f.value());
      {
        std::lock_guard lock(mu_);
        seen_.push_back(r);
      }
      StandInAnswer a = handler_(r);
      bhttp::response<bhttp::string_body> res(static_cast<bhttp::status>(a.status), 11);
      res.set(bhttp::field::content_type, "application/json");
      for (const auto& [k, v] : a.headers) res.set(k, v);
      res.body() = a.body;
      res.keep_alive(false);
      res.prepare_payload();
      bhttp::write(sock, res, ec);
      sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }
  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::string url_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<SeenRequest> seen_;
};

// `hostctl serve --listen 127.0.0.1:0` in `repo`, until stop().
class ServeProcess {
 public:
  ServeProcess(const std::filesystem::path& repo, const std::map<std::string, std::string>& env = {},
               std::vector<std::string> extra = {})
      : io_("fixhost-serve") {
    out_ = io_.path() / "out";
    err_ = io_.path() / "err";
    std::vector<std::string> argv{FIXHOST_HOSTCTL, "serve", "--repo", repo.string(), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (!env.count(kv.substr(0, kv.find('=')))) envs.push_back(kv);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> av, ev;
    for (auto& a : argv) av.push_back(a.data());
    av.push_back(nullptr);
    for (auto& e : envs) ev.push_back(e.data());
    ev.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), ev.data()) == 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 1000 && url_.empty(); ++i) {
      std::string out = read_file(out_);
      if (auto at = out.find("listening on "); at != std::string::npos && out.find('\n', at) != std::string::npos)
        url_ = out.substr(at + 13, out.find('\n', at) - at - 13);
      else if (exited()) break;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE_MESSAGE(!url_.empty(), "hostctl serve did not start:\n" << read_file(err_));
  }
  ~ServeProcess() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }
  std::string err() const { return read_file(err_); }

  // SIGTERM, then the exit code (or 128 + signal).
  int stop(int sig = SIGTERM) {
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    done_ = true;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

 private:
  bool exited() {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      done_ = true;
      return true;
    }
    return false;
  }
  TempDir io_;
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  bool done_ = false;
  std::string url_;
};

// gh replaced by a recording stand-in: records each call, checks `pr create`'s arguments,
// answers `pr list` from a file of open PRs it keeps.
inline const char* k_gh_stand_in = R"(#!/bin/sh
dir=$(dirname "$0")
printf '%s\n' "$*" >> "$dir/calls"
if [ "$1 $2" = "pr list" ]; then
  if [ -f "$dir/open" ]; then cat "$dir/open"; else echo '[]'; fi
  exit 0
fi
if [ "$1 $2" = "pr create" ]; then
  head="" title="" body="" labels=""
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --head) head=$2; shift 2;;
      --title) title=$2; shift 2;;
      --body-file) body=$2; shift 2;;
      --label) labels="$labels $2"; shift 2;;
      *) echo "gh stand-in: unexpected argument $1" >&2; exit 64;;
    esac
  done
  case "$head" in fix/sentry-*) ;; *) echo "gh stand-in: --head $head is not fix/sentry-<id>" >&2; exit 64;; esac
  case "$title" in "fix: [Sentry-"*) ;; *) echo "gh stand-in: bad title $title" >&2; exit 64;; esac
  [ -s "$body" ] || { echo "gh stand-in: no body file" >&2; exit 64; }
  [ "$labels" = " auto-fix sentry" ] || { echo "gh stand-in: labels$labels" >&2; exit 64; }
  cp "$body" "$dir/body.md"
  printf '[{"number":7,"url":"https://github.example/shop/pull/7","headRefName":"%s"}]\n' "$head" > "$dir/open"
  echo "https://github.example/shop/pull/7"
  exit 0
fi
echo "gh stand-in: unexpected call $*" >&2
exit 64
)";

// Sentry's REST API JSON, as its stand-ins answer: an issue of the issues list, and the latest
// event of an issue (camelCase frames).
namespace sentry {
using nlohmann::json;
inline json issue(const std::string& id, const std::string& type, const std::string& value, const std::string& level,
                  const std::string& count) {
  return {{"id", id},         {"shortId", "SHOP-" + id}, {"title", type + ": " + value}, {"culprit", "shop"},
          {"level", level},   {"status", "unresolved"},  {"count", count},               {"userCount", 2},
          {"firstSeen", "2026-12-01T10:00:00Z"}, {"lastSeen", "2026-12-02T06:00:00Z"},
          {"project", {{"slug", "shop"}}}, {"metadata", {{"type", type}, {"value", value}}},
          {"permalink", "https://sentry.example/issues/" + id + "/"}};
}

inline json latest(const std::string& id, const std::string& type, const std::string& value, const std::string& file,
                   const std::string& fn, int line) {
  return {{"eventID", "e" + id + "000000000000000000000000000000"},
          {"groupID", id},
          {"tags", json::array({{{"key", "release"}, {"value", "shop@1.0.1"}}, {{"key", "environment"}, {"value", "production"}}})},
          {"entries",
           json::array({{{"type", "exception"},
                         {"data", {{"values", json::array({{{"type", type}, {"value", value},
                                                            {"stacktrace", {{"frames", json::array({{{"filename", file}, {"absPath", "/srv/" + file},
                                                                                                     {"module", nullptr}, {"function", fn}, {"lineNo", line},
                                                                                                     {"colNo", nullptr}, {"inApp", true},
                                                                                                     {"context", json::array({json::array({line, "    boom()"})})}}})}}}}})}}}}})}};
}

}  // namespace sentry

}  // namespace fixhost::test
