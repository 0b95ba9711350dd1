// A pure test plugin that derives nothing but notes each call in $REPLAY_PURE_MARKER, so a test
// can see that a replay did re-dispatch the recorded facts.
#include <cstdlib>
#include <fstream>

#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class PureProbe final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"pure_probe", "1.0", sdk::PluginKind::pure, {events::EventType::SuiteFinished},
            "test: notes each SuiteFinished it sees"};
  }
  Status on_event(const events::Event& e, sdk::Emitter&) override {
    if (const char* path = std::getenv("REPLAY_PURE_MARKER"); path && *path) {
      std::ofstream out(path, std::ios::app);
      out << "pure_probe saw " << e.run_id << " seq " << e.seq << "\n";
    }
    return Status::ok();
  }
};

FIXHOST_PLUGIN(PureProbe)
