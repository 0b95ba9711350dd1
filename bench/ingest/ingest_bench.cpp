// bench_ingest: `hostctl serve` under load, as Sentry SDKs would load it.
//   1. starts `hostctl serve --listen 127.0.0.1:0` on a fresh store (ingest key "bench");
//   2. baseline: --connections keep-alive connections send GET /healthz (parse, route, answer;
//      nothing recorded) --events times in all: the server's own ceiling on this machine;
//   3. the same connections POST --events gzip'd SDK events (~1.7 KB of JSON each) to
//      /api/7/store/; each answer time is measured from send to the last byte of the answer;
//   4. SIGTERM, then every event must be in the store (durably recorded: answered 200 only
//      after the group commit's fsync).
// Prints events/s, p50/p99/max answer times, the ratio to the baseline, then last
// `ingest_events_per_s: X` (target: 2,000 events/s with p99 < 50 ms on 2 cores).
// Usage: bench_ingest [--events N] [--connections C] [--dir DIR] (--help)
#include <utility>  // before Asio (g++ 12 in C++20 mode)

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixhost/host/world/http/body.hpp"
#include "fixhost/store/event_log.hpp"

extern char** environ;

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_ingest: " << what << "\n";
  std::exit(1);
}

std::string event(std::size_t i) {
  json frames = json::array();
  for (int f = 0; f < 4; ++f)
    frames.push_back({{"filename", "shop/m" + std::to_string(f) + ".py"}, {"abs_path", "/srv/shop/m" + std::to_string(f) + ".py"},
                      {"module", "shop.m" + std::to_string(f)}, {"function", "step" + std::to_string(f)},
                      {"lineno", 10 + f}, {"context_line", "    value = compute(data)"}, {"in_app", true},
                      {"vars", {{"data", "{'id': 42, 'items': [1, 2, 3]}"}}}});
  char id[40];
  std::snprintf(id, sizeof id, "%032zx", i + 1);
  json e = {{"event_id", id}, {"timestamp", "2026-12-02T06:00:00Z"}, {"level", "error"}, {"platform", "python"},
            {"release", "shop@1.0.0"}, {"environment", "production"}, {"user", {{"id", "u" + std::to_string(i % 100)}}},
            {"sdk", {{"name", "sentry.python"}, {"version", "1.9.10"}}},
            {"exception", {{"values", json::array({{{"type", "KeyError"}, {"value", "'k" + std::to_string(i % 13) + "'"},
                                                    {"mechanism", {{"type", "generic"}, {"handled", true}}},
                                                    {"stacktrace", {{"frames", frames}}}}})}}}};
  return e.dump();
}

struct Load {
  std::vector<double> ms;
  std::size_t ok = 0;
  double seconds = 0;
};

Load drive(const std::string& port, std::size_t total, int connections, bool post) {
  std::vector<std::vector<double>> per(connections);
  std::vector<std::size_t> oks(connections);
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int c = 0; c < connections; ++c)
    threads.emplace_back([&, c] {
      net::io_context ioc;
      boost::beast::tcp_stream stream(ioc);
      stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(port))));
      boost::beast::flat_buffer buf;
      for (std::size_t i = c; i < total; i += connections) {
        bhttp::request<bhttp::string_body> req(post ? bhttp::verb::post : bhttp::verb::get, post ? "/api/7/store/" : "/healthz", 11);
        req.set(bhttp::field::host, "127.0.0.1");
        req.keep_alive(true);
        if (post) {
          req.set("X-Sentry-Auth", "Sentry sentry_key=bench, sentry_version=7, sentry_client=sentry.python/1.9.10");
          req.set(bhttp::field::content_type, "application/json");
          req.set(bhttp::field::content_encoding, "gzip");
          req.body() = fixhost::host::http::encode_body("gzip", event(i));
        }
        req.prepare_payload();
        const auto s = Clock::now();
        bhttp::write(stream, req);
        bhttp::response<bhttp::string_body> res;
        bhttp::read(stream, buf, res);
        per[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        if (res.result_int() == 200) ++oks[c];
      }
    });
  for (auto& t : threads) t.join();
  Load l;
  l.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int c = 0; c < connections; ++c) {
    l.ms.insert(l.ms.end(), per[c].begin(), per[c].end());
    l.ok += oks[c];
  }
  std::sort(l.ms.begin(), l.ms.end());
  return l;
}

double pct(const std::vector<double>& v, double p) { return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))]; }

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 20'000;
  int connections = 16;
  fs::path dir;
  CLI::App app{"bench_ingest: hostctl serve under load from parallel keep-alive connections"};
  app.add_option("--events", n, "events posted")->capture_default_str();
  app.add_option("--connections", connections, "parallel keep-alive connections")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--dir", dir, "where the repository and store go (default: a temporary directory)");
  CLI11_PARSE(app, argc, argv);
  if (dir.empty()) dir = fs::temp_directory_path() / ("bench-ingest-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "fixhost.toml") << "[heal]\ningest_keys = [\"bench\"]\n";
  const fs::path out = dir / "serve.out";
  std::vector<std::string> args{FIXHOST_HOSTCTL, "-q", "serve", "--repo", dir.string(), "--listen", "127.0.0.1:0"};
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) die("cannot start hostctl serve");
  std::string port;
  for (int i = 0; i < 500 && port.empty(); ++i) {
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = ss.str();
    if (auto at = s.rfind(':'); s.find("listening on") != std::string::npos && s.find('\n') != std::string::npos && at != std::string::npos)
      port = s.substr(at + 1, s.find('\n', at) - at - 1);
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (port.empty()) die("hostctl serve did not start");

  auto base = drive(port, n, connections, false);
  auto load = drive(port, n, connections, true);
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("hostctl serve did not stop cleanly");
  if (load.ok != n) die(std::to_string(n - load.ok) + " events were not answered 200");

  fixhost::store::StoreOptions so;
  so.writable = false;
  auto log = fixhost::store::EventLog::open(dir / ".fixhost", so);
  if (!log) die(log.status().to_string());
  std::size_t recorded = 0, triaged = 0;
  (void)(*log)->scan_type(fixhost::events::EventType::SentryIssueIngested, [&](const fixhost::events::Event&) { return ++recorded, true; });
  (void)(*log)->scan_type(fixhost::events::EventType::IssueTriaged, [&](const fixhost::events::Event&) { return ++triaged, true; });
  if (recorded != n) die("only " + std::to_string(recorded) + " of " + std::to_string(n) + " events are in the store");

  const double eps = n / load.seconds, hps = n / base.seconds;
  std::printf("connections: %d, events: %zu (gzip'd, %zu bytes of JSON each)\n", connections, n, event(0).size());
  std::printf("baseline GET /healthz: %.0f answers/s, p99 %.2f ms\n", hps, pct(base.ms, 0.99));
  std::printf("POST /api/7/store/: %.0f events/s, answer p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", eps, pct(load.ms, 0.5),
              pct(load.ms, 0.99), load.ms.back());
  std::printf("recorded: %zu SentryIssueIngested + %zu IssueTriaged, all durable\n", recorded, triaged);
  std::printf("ingest_over_healthz_ratio: %.3f\n", eps / hps);
  std::printf("ingest_p99_ms: %.2f\n", pct(load.ms, 0.99));
  fs::remove_all(dir);
  std::printf("ingest_events_per_s: %.0f\n", eps);
  return 0;
}
