// hostctl serve: the HTTP ingest for Sentry SDKs and webhooks (docs/HEAL.md#hostctl-serve).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/heal/serve.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_serve(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string repo = ".", listen;
    int threads = 2;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Accept Sentry SDK events (POST /api/<project>/store/ and /envelope/) and Sentry integration\n"
      "webhooks (POST /webhooks/sentry, signed with $SENTRY_CLIENT_SECRET), recording each error as\n"
      "a SentryIssueIngested fact; GET /healthz, /metrics, and the dashboard at / (its data:\n"
      "/dashboard.json; docs/STATS.md). Point an app at it with\n"
      "SENTRY_DSN=http://<key>@127.0.0.1:8765/<project id>; keys are [heal] ingest_keys.\n"
      "Runs until SIGTERM/SIGINT, which drain the requests in flight.\n"
      "Exit 0: stopped by a signal; 2: could not start (store busy, bad address, bad config).");
  cmd->add_option("--repo", o->repo, "Repository whose fixhost.toml and store to use (default: the current directory)");
  cmd->add_option("--listen", o->listen, "ADDR:PORT to listen on (default: [heal] listen, else 127.0.0.1:8765; port 0: any free one)");
  cmd->add_option("--threads", o->threads, "I/O threads (default: 2)")->check(CLI::Range(1, 64));
  cmd->callback([o, &shared] {
    fs::path root;
    auto config = load_repo_config(shared, o->repo, root, false);
    if (!config) return;
    heal::ServeOptions so;
    so.store_dir = resolve_store(shared.global, root);
    for (const auto& p : shared.global.plugins) so.extra_plugin_dirs.push_back(fs::absolute(p));
    so.argv = {"hostctl", "serve"};
    if (!o->listen.empty()) so.argv.insert(so.argv.end(), {"--listen", o->listen});
    so.listen = o->listen;
    so.threads = o->threads;
    if (const char* s = std::getenv("SENTRY_CLIENT_SECRET")) so.client_secret = s;
    so.on_listening = [](const std::string& url) { std::cout << "listening on " << url << std::endl; };
    auto st = heal::serve(*config, so);
    if (!st) {
      shared.exit_code = fail(st.to_string());
      return;
    }
    shared.exit_code = k_exit_ok;
  });
}

}  // namespace fixhost::host::cli
