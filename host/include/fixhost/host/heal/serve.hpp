#pragma once
// `hostctl serve`: the HTTP ingest for Sentry SDKs and integration webhooks (docs/HEAL.md).
// serve is the store's writer while it runs: each request's facts go to one recorder thread that
// appends everything waiting as one durable batch (group commit) with what the pure plugins
// derive from it (sentry_triage's IssueTriaged), then answers. A request is answered 200 only
// after its events are durable. SIGTERM/SIGINT stop accepting, finish the requests in flight,
// close idle connections and record RunFinished.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "fixhost/host/config.hpp"
#include "fixhost/host/heal/ingest.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host::heal {

struct ServeOptions {
  std::filesystem::path store_dir;
  std::vector<std::filesystem::path> extra_plugin_dirs;
  std::vector<std::string> argv;  // recorded in RunStarted
  // ADDR:PORT; port 0 picks a free one (printed by on_listening). Default: [heal] listen
  std::string listen;
  // The integration's client secret (SENTRY_CLIENT_SECRET); "" refuses every webhook.
  std::string client_secret;
  // I/O threads. Default: 2
  int threads = 2;
  // How long SIGTERM waits for requests in flight before it stops anyway. Default: 10 s
  std::chrono::milliseconds drain_timeout{10000};
  // Called once the socket listens, with "http://ADDR:PORT".
  std::function<void(const std::string&)> on_listening;
};

// Runs until SIGTERM or SIGINT (then returns ok), or an error opening the store or the socket
// (Busy names the other writer; InvalidArgument a bad listen address).
Status serve(const Config& config, const ServeOptions& options);

}  // namespace fixhost::host::heal
