// Reports an empty name.
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class EmptyName final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override { return {"", "1.0", sdk::PluginKind::pure, {}, ""}; }
  Status on_event(const events::Event&, sdk::Emitter&) override { return Status::ok(); }
};

FIXHOST_PLUGIN(EmptyName)
