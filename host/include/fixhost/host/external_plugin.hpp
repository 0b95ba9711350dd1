#pragma once
// A plugin in another process: an executable that speaks JSON lines over its stdin and stdout
// (docs/PLUGINS.md, "External plugins"). The host starts it, reads its handshake, hands it the
// events of its subscriptions in the JSON export's shape and reads back what it emits. One that
// crashes, hangs past the per-event deadline or answers garbage is stopped; the event it failed
// on gets a PluginFailed and it gets no further events. Not thread-safe (the bus's thread).
#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fixhost/host/loader.hpp"
#include "fixhost/sdk/plugin.hpp"

namespace fixhost::host {

class Coprocess;

class ExternalPlugin final : public sdk::Plugin {
 public:
  struct Reply {
    std::uint64_t seq = 0;
    Status status;                     // the plugin's error, or why it was stopped
    std::vector<events::Event> emitted;  // type, schema and payload set
  };

  // Starts `argv` in `cwd` and reads its handshake. The error is a refusal reason without the
  // "external plugin '...'" prefix. `api` receives the version it declared.
  static Result<std::shared_ptr<ExternalPlugin>> start(const std::vector<std::string>& argv,
                                                       const std::filesystem::path& cwd,
                                                       const LoaderOptions& options, ApiVersion& api);
  ~ExternalPlugin() override;

  sdk::PluginInfo info() const override { return info_; }
  Status configure(std::string_view toml) override;
  Status on_event(const events::Event& event, sdk::Emitter& out) override;

  // Sends these events at once and keeps the replies for the on_event calls that follow, in the
  // same order (the bus pipelines a batch this way; one round trip per event would bound the
  // rate by the context switches).
  void prefetch(std::span<const events::Event* const> batch);

  bool stopped() const { return stopped_; }

 private:
  ExternalPlugin() = default;
  // Parses one answer line for `seq`; a malformed one stops the plugin.
  Reply parse_reply(std::uint64_t seq, const std::string& line);
  Status fail(const std::string& what);  // stops it and says why
  Status apply(Reply& r, sdk::Emitter& out);

  std::unique_ptr<Coprocess> proc_;
  sdk::PluginInfo info_;
  std::string label_;  // the command, for messages
  std::chrono::milliseconds event_deadline_{5000};
  std::deque<Reply> ready_;
  std::string line_;  // reused
  bool stopped_ = false;
};

}  // namespace fixhost::host
