// Claims the API version TEST_API_MAJOR.TEST_API_MINOR. Its create entry point appends a line
// to $FIXHOST_TEST_CREATE_MARKER, so a test can tell whether the loader called it.
#include <cstdlib>

#include "common.hpp"
#include "fixhost/sdk/plugin.hpp"

using namespace fixhost;

class ApiProbe final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"api_probe_" + std::to_string(TEST_API_MAJOR) + "_" + std::to_string(TEST_API_MINOR), "0.1.0",
            sdk::PluginKind::pure, {}, "test: claims another API version"};
  }
  Status on_event(const events::Event&, sdk::Emitter&) override { return Status::ok(); }
};

FIXHOST_PLUGIN_EXPORT fixhost_api_version fixhost_plugin_api_version() {
  return fixhost_api_version{TEST_API_MAJOR, TEST_API_MINOR};
}
FIXHOST_PLUGIN_EXPORT ::fixhost::sdk::Plugin* fixhost_plugin_create(char*, std::size_t) {
  if (const char* marker = std::getenv("FIXHOST_TEST_CREATE_MARKER")) test_plugin::append_line(marker, "created");
  return new ApiProbe();
}
FIXHOST_PLUGIN_EXPORT void fixhost_plugin_destroy(::fixhost::sdk::Plugin* p) { delete p; }
