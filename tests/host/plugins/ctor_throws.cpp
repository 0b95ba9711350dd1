// Throws from its constructor.
#include <stdexcept>

#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class CtorThrows final : public sdk::Plugin {
 public:
  CtorThrows() { throw std::runtime_error("ctor_throws: cannot find my model file"); }
  sdk::PluginInfo info() const override { return {"ctor_throws", "1.0", sdk::PluginKind::pure, {}, ""}; }
  Status on_event(const events::Event&, sdk::Emitter&) override { return Status::ok(); }
};

FIXHOST_PLUGIN(CtorThrows)
