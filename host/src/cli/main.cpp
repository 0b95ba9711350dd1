// hostctl: the command line of fixhost. Each command lives in its own file under host/src/cli/.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

#include "commands.hpp"

namespace fixhost::host::cli {

std::function<void(const std::string&)> progress_printer(const Shared& shared) {
  return [&shared](const std::string& s) {
    if (!shared.global.quiet) std::cerr << s << "\n";
  };
}

int fail(const std::string& message, int code) {
  std::cerr << "hostctl: " << message << "\n";
  return code;
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
      "plugins); 2 could not run; 3 a time budget ran out; 4 heal: the rate guard tripped;\n"
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
  app.add_flag("-q,--quiet", shared.global.quiet, "Only errors on stderr; no progress");

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
