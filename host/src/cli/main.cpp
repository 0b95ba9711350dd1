// hostctl: the command line of fixhost. Each command lives in its own file under host/src/cli/.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "commands.hpp"

namespace fixhost::host::cli {

namespace {

// Progress on stderr. On a terminal (and CI unset, TERM not "dumb") the latest line stays live:
// it is redrawn in place with the time since it was printed ("[  12s] running junit suite
// 'unit' (detect) ...") until the next line arrives, so a long phase (a suite run, the flaky
// check, an agent attempt, verify) shows that it is moving; the lines before it stay as printed.
// Elsewhere (a pipe, a CI log) each line is printed once, as it comes. Thread-safe.
class Progress {
 public:
  Progress() {
    const char* ci = std::getenv("CI");
    const char* term = std::getenv("TERM");
    live_ = ::isatty(2) == 1 && (ci == nullptr || *ci == 0) && !(term != nullptr && std::string_view(term) == "dumb");
  }
  ~Progress() {
    finish();
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (ticker_.joinable()) ticker_.join();
  }
  // Ends the live line (with its final time) so that what follows starts on a line of its own.
  void finish() {
    std::lock_guard lock(m_);
    if (!live_ || current_.empty()) return;
    std::cerr << "\r\x1b[K" << stamped() << "\n" << std::flush;
    current_.clear();
  }
  bool live() const { return live_; }
  void line(const std::string& s) {
    std::lock_guard lock(m_);
    if (!live_) {
      std::cerr << s << "\n";
      return;
    }
    if (!current_.empty()) std::cerr << "\r\x1b[K" << stamped() << "\n";
    current_ = s;
    since_ = std::chrono::steady_clock::now();
    draw();
    if (!ticker_.joinable()) ticker_ = std::thread([this] { tick(); });
  }

 private:
  std::string stamped() const {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since_).count();
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "[%4llds] ", static_cast<long long>(secs));
    return prefix + current_;
  }
  void draw() { std::cerr << "\r\x1b[K" << stamped() << std::flush; }
  void tick() {
    std::unique_lock lock(m_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(500));
      if (!stop_ && !current_.empty()) draw();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::thread ticker_;
  std::string current_;
  std::chrono::steady_clock::time_point since_;
  bool live_ = false;
  bool stop_ = false;
};

std::unique_ptr<Progress>& progress_instance() {
  static std::unique_ptr<Progress> p;
  return p;
}

// std::cout's buffer while progress is live: a command's results (on the same terminal) start
// below the live line instead of after it.
class FinishProgressFirst final : public std::streambuf {
 public:
  explicit FinishProgressFirst(std::streambuf* inner) : inner_(inner) {}
  std::streambuf* inner() const { return inner_; }

 protected:
  int_type overflow(int_type c) override {
    finish();
    return traits_type::eq_int_type(c, traits_type::eof()) ? traits_type::not_eof(c) : inner_->sputc(traits_type::to_char_type(c));
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    finish();
    return inner_->sputn(s, n);
  }
  int sync() override { return inner_->pubsync(); }

 private:
  void finish() {
    if (auto& p = progress_instance()) p->finish();
  }
  std::streambuf* inner_;
};

}  // namespace

std::function<void(const std::string&)> progress_printer(const Shared& shared) {
  return [&shared](const std::string& s) {
    if (shared.global.quiet) return;
    auto& p = progress_instance();
    if (!p) {
      p = std::make_unique<Progress>();
      if (p->live()) {
        static FinishProgressFirst buf(std::cout.rdbuf());
        std::cout.rdbuf(&buf);
      }
    }
    p->line(s);
  };
}

int fail(const std::string& message, int code) {
  std::cerr << "hostctl: " << message << "\n";
  return code;
}

std::optional<Config> load_repo_config(Shared& shared, const std::string& repo, std::filesystem::path& root,
                                       bool probe_python) {
  root = repo_root(repo);
  auto config = load_config(root, probe_python);
  if (!config) {
    shared.exit_code = fail(config.status().to_string());
    return std::nullopt;
  }
  return std::move(*config);
}

}  // namespace fixhost::host::cli

int main(int argc, char** argv) {
  using namespace fixhost::host;
  std::signal(SIGPIPE, SIG_IGN);
  cli::Shared shared;
  CLI::App app{
      "fixhost: runs your test suites, parses every failure, and keeps coding agents on a short,\n"
      "safe, measured leash while they fix them. Every step is an event in a RocksDB log.\n"
      "Exit codes: 0 ok; 1 failures found, some unfixable, differences (replay), refused (approve,\n"
      "plugins); 2 could not run; 3 a time or cost budget ran out; 4 heal: the rate guard tripped;\n"
      "130 interrupted. Reference: docs/CLI.md.",
      "hostctl"};
  app.set_version_flag("--version", std::string("hostctl ") + FIXHOST_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->always_capture_default();
  app.add_option("--store", shared.global.store,
                 "Event store directory (default: $FIXHOST_STORE, else .fixhost/ at the repository root)");
  app.add_option("--plugins", shared.global.plugins, "Extra plugin directory (repeatable), after the built-in one");
  app.add_flag("-v,--verbose", shared.global.verbose, "Debug logging on stderr");
  app.add_flag("-q,--quiet", shared.global.quiet,
               "Only errors on stderr; no progress. Progress is live (redrawn with elapsed time) on a\n"
               "terminal, one plain line per step when stderr is not one or CI is set");

  cli::register_detect(app, shared);
  cli::register_autofix_commands(app, shared);
  cli::register_build(app, shared);
  cli::register_plugins(app, shared);
  cli::register_log_commands(app, shared);
  cli::register_replay(app, shared);
  cli::register_serve(app, shared);
  cli::register_triage(app, shared);
  cli::register_heal(app, shared);
  cli::register_cluster(app, shared);

  auto logger = spdlog::stderr_color_mt("hostctl");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  app.parse_complete_callback([&] {
    spdlog::set_level(shared.global.verbose ? spdlog::level::debug
                      : shared.global.quiet ? spdlog::level::err
                                            : spdlog::level::info);
  });
  // The live progress line is finished (and its ticker stopped) before main returns.
  struct ProgressDone {
    ~ProgressDone() {
      std::cout.flush();
      if (auto* b = dynamic_cast<cli::FinishProgressFirst*>(std::cout.rdbuf())) std::cout.rdbuf(b->inner());
      cli::progress_instance().reset();
    }
  } progress_done;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return k_exit_cannot_run;
  }
  return shared.exit_code;
}
