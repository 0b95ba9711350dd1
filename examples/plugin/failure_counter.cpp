// failure_counter: raises one HumanAlert per run as soon as the run has detected more than
// `threshold` failures, so a person hears about a broken build before the run ends.
//
// Configuration, the [plugins.failure_counter] table of fixhost.toml:
//   threshold = 10   # alert when a run has more failures than this. Default: 10
//   listed = 5       # how many failing test ids the alert names. Default: 5
//
// It only reads events, yet it declares itself effectful: an alert pages a person, and
// replaying an old run must not page anyone again (replay never calls effectful plugins).
#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include <toml++/toml.h>

#include "fixhost/sdk/plugin.hpp"

#ifndef FAILURE_COUNTER_VERSION
#define FAILURE_COUNTER_VERSION "1.0.0"
#endif

namespace {

using fixhost::Errc;
using fixhost::Status;
using fixhost::events::EventType;
namespace events = fixhost::events;
namespace sdk = fixhost::sdk;

// Reads a non-negative integer setting, or leaves `out` alone when the key is absent.
Status read_count(const toml::table& table, const char* key, std::int64_t& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::ok();
  auto value = node->value<std::int64_t>();
  if (!node->is_integer() || !value || *value < 0)
    return Status(Errc::invalid_argument, std::string("[plugins.failure_counter] ") + key +
                                              " must be a non-negative integer; write e.g. " + key + " = 10");
  out = *value;
  return Status::ok();
}

class FailureCounter final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"failure_counter",
            FAILURE_COUNTER_VERSION,
            sdk::PluginKind::effectful,
            {EventType::FailureDetected, EventType::RunFinished},
            "alerts a person when one run has more than `threshold` failures"};
  }

  Status configure(std::string_view text) override {
    toml::table table;
    try {
      table = toml::parse(text);
    } catch (const toml::parse_error& e) {
      return Status(Errc::invalid_argument, std::string("[plugins.failure_counter] is not valid TOML: ") +
                                                std::string(e.description()));
    }
    for (auto&& [key, value] : table) {
      if (key != "threshold" && key != "listed")
        return Status(Errc::invalid_argument, "[plugins.failure_counter] has unknown setting '" +
                                                  std::string(key.str()) + "'; the settings are threshold and listed");
    }
    if (auto st = read_count(table, "threshold", threshold_); !st.is_ok()) return st;
    if (auto st = read_count(table, "listed", listed_); !st.is_ok()) return st;
    return Status::ok();
  }

  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    if (event.type == EventType::RunFinished) {
      runs_.erase(event.run_id);  // the run is over: forget it
      return Status::ok();
    }
    auto failure = events::decode<events::FailureDetected>(event);
    if (!failure) return failure.status();

    Run& run = runs_[event.run_id];
    if (run.failures == 0) run.first_ts_us = event.ts_us;
    ++run.failures;
    if (static_cast<std::int64_t>(run.listed.size()) < listed_) run.listed.push_back(failure->test_id);
    if (run.failures != threshold_ + 1) return Status::ok();  // alert once, on crossing

    events::HumanAlert alert;
    alert.reason = "other";
    alert.summary = "run " + event.run_id + " has " + std::to_string(run.failures) +
                    " failures, more than the threshold of " + std::to_string(threshold_);
    alert.detail = "first failures:";
    for (const auto& id : run.listed) alert.detail += "\n  " + id;
    // Failures per minute since the first one (at least one second of span).
    double minutes = std::max(1.0 / 60.0, static_cast<double>(event.ts_us - run.first_ts_us) / 60e6);
    alert.error_rate = static_cast<double>(run.failures) / minutes;
    out.emit(alert);
    return Status::ok();
  }

 private:
  struct Run {
    std::int64_t failures = 0;
    std::int64_t first_ts_us = 0;
    std::vector<std::string> listed;
  };
  std::int64_t threshold_ = 10;
  std::int64_t listed_ = 5;
  std::unordered_map<std::string, Run> runs_;
};

}  // namespace

FIXHOST_PLUGIN(FailureCounter)
