// Exports the version and destroy entry points but forgot fixhost_plugin_create.
#include "fixhost/sdk/plugin.hpp"

FIXHOST_PLUGIN_EXPORT fixhost_api_version fixhost_plugin_api_version() {
  return fixhost_api_version{FIXHOST_API_MAJOR, FIXHOST_API_MINOR};
}
FIXHOST_PLUGIN_EXPORT void fixhost_plugin_destroy(::fixhost::sdk::Plugin* p) { delete p; }
