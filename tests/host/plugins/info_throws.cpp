// Throws from info().
#include <stdexcept>

#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class InfoThrows final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override { throw std::logic_error("info_throws: no info today"); }
  Status on_event(const events::Event&, sdk::Emitter&) override { return Status::ok(); }
};

FIXHOST_PLUGIN(InfoThrows)
