#pragma once
// Finds and loads plugins (shared libraries exporting the FIXHOST_PLUGIN entry points) from
// plugin directories with Boost.DLL. A plugin that does not fit is refused with a reason; it
// never stops the host. Not thread-safe: load once at start-up.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixhost/sdk/plugin.hpp"

namespace fixhost::host {

struct ApiVersion {
  std::uint16_t major = 0;
  std::uint16_t minor = 0;
  std::string to_string() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// The API this host implements (sdk/include/fixhost/sdk/plugin.hpp).
inline constexpr ApiVersion k_host_api{FIXHOST_API_MAJOR, FIXHOST_API_MINOR};

// A loaded plugin. `instance` keeps the library mapped for as long as it lives: its deleter
// destroys the object inside the library first, then releases the library.
struct LoadedPlugin {
  sdk::PluginInfo info;
  ApiVersion api;
  std::filesystem::path path;  // the library, or an external plugin's program
  std::shared_ptr<sdk::Plugin> instance;
  // "" for a native plugin; the argv of an external one, joined by spaces (docs/PLUGINS.md).
  std::string external;
  std::string id() const { return info.name + "@" + info.version; }
  bool pure() const { return info.kind == sdk::PluginKind::pure; }
};

struct Refusal {
  std::filesystem::path path;
  std::string name;    // when known
  std::string reason;  // one line: the problem and what to do
};

struct LoadReport {
  std::vector<std::shared_ptr<LoadedPlugin>> loaded;  // in load order
  std::vector<Refusal> refused;
};

struct LoaderOptions {
  // Directories searched in order; within one, files by name. Missing directories are skipped.
  std::vector<std::filesystem::path> dirs;
  // Per-plugin configuration (`[plugins.<name>]` of fixhost.toml as TOML text) passed to
  // Plugin::configure. A plugin whose configure fails is refused.
  std::map<std::string, std::string> config;
  // Host API version to check against (tests override it). Default: k_host_api
  ApiVersion host_api = k_host_api;
  // Out-of-process plugins: argv each, started in `external_cwd` after the directories' plugins
  // (an executable file in a plugin directory is one too). Default: none
  std::vector<std::vector<std::string>> external;
  std::filesystem::path external_cwd;
  // How long an external plugin may take to answer its handshake, and then each event.
  // Default: 10 s, 5 s
  std::chrono::milliseconds handshake_deadline{10000};
  std::chrono::milliseconds event_deadline{5000};
};

// Loads every `*.so` in the directories. Refusals: not a shared library, missing entry
// point, API major mismatch or minor newer than the host's (checked before any plugin code
// runs), throws while loading (constructor, info() or configure()), empty name, unknown
// kind or subscription id, duplicate name (the later one), configure() returning an error.
// Never throws.
LoadReport load_plugins(const LoaderOptions& options);

// The built-in plugin directory: <dir of the running executable>/../lib/fixhost/plugins.
std::filesystem::path builtin_plugin_dir();

}  // namespace fixhost::host
