#include "fixhost/host/loader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <system_error>
#include <utility>

#include <boost/dll/shared_library.hpp>

#include "fixhost/host/external_plugin.hpp"

namespace fixhost::host {

namespace {

namespace fs = std::filesystem;

constexpr const char* k_version_symbol = "fixhost_plugin_api_version";
constexpr const char* k_create_symbol = "fixhost_plugin_create";
constexpr const char* k_destroy_symbol = "fixhost_plugin_destroy";
constexpr std::size_t k_error_capacity = 1024;

using VersionFn = fixhost_api_version();
using CreateFn = sdk::Plugin*(char*, std::size_t);
using DestroyFn = void(sdk::Plugin*);

// Destroys the plugin object with the library's own entry point, then drops this deleter's
// reference to the library: the object dies while its code is still mapped.
struct PluginDeleter {
  boost::dll::shared_library library;
  DestroyFn* destroy = nullptr;
  void operator()(sdk::Plugin* plugin) {
    if (plugin != nullptr) destroy(plugin);
    library.unload();
  }
};

std::string quoted(const fs::path& p) {
  std::string out(1, '\'');
  out += p.string();
  out += '\'';
  return out;
}

// Everything after the path in a refusal reason, prefixed with "plugin '<path>' ".
Refusal refuse(const fs::path& path, std::string name, const std::string& problem) {
  return Refusal{path, std::move(name), "plugin " + quoted(path) + " " + problem};
}

std::string missing_symbol_reason(const char* symbol) {
  return std::string("does not export ") + symbol +
         "(); export the plugin class with FIXHOST_PLUGIN(Class) from fixhost/sdk/plugin.hpp and build it "
         "with fixhost_plugin() (sdk/fixhost-sdk.cmake)";
}

bool known_kind(sdk::PluginKind kind) {
  return kind == sdk::PluginKind::pure || kind == sdk::PluginKind::effectful;
}

// The `*.so` regular files of `dir`, sorted by file name. A directory that cannot be read is
// reported as a refusal; a missing one is skipped.
std::vector<fs::path> plugin_files(const fs::path& dir, std::vector<Refusal>& refused) {
  std::vector<fs::path> files;
  std::error_code ec;
  auto status = fs::status(dir, ec);
  if (status.type() == fs::file_type::not_found) return files;
  if (ec || status.type() != fs::file_type::directory) {
    refused.push_back(Refusal{dir, "",
                              "plugin directory " + quoted(dir) + " is not a readable directory" +
                                  (ec ? " (" + ec.message() + ")" : std::string()) +
                                  "; fix the path given with --plugins or plugin_dirs"});
    return files;
  }
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || it->path().filename().string().starts_with(".")) continue;
    // A shared library, or an executable: an external plugin (docs/PLUGINS.md).
    if (it->path().extension() == ".so" || ::access(it->path().c_str(), X_OK) == 0) files.push_back(it->path());
  }
  if (ec)
    refused.push_back(Refusal{dir, "",
                              "plugin directory " + quoted(dir) + " could not be listed (" + ec.message() +
                                  "); check its permissions"});
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return files;
}

class Loader {
 public:
  explicit Loader(const LoaderOptions& options) : options_(options) {}

  void load_file(const fs::path& path, LoadReport& report) {
    boost::dll::shared_library library;
    boost::dll::fs::error_code ec;
    library.load(boost::dll::fs::path(path.string()), ec);
    if (ec || !library.is_loaded()) {
      // A failed dlopen leaves its message for dlerror(); Boost.DLL only reports a generic code.
      const char* dl_error = ::dlerror();
      std::string detail = dl_error != nullptr ? std::string(dl_error) : ec.message();
      report.refused.push_back(refuse(path, "",
                                      "is not a loadable shared library (" + detail +
                                          "); remove it from the plugin directory or rebuild it with "
                                          "fixhost_plugin()"));
      return;
    }
    for (const char* symbol : {k_version_symbol, k_create_symbol, k_destroy_symbol}) {
      if (!library.has(symbol)) {
        report.refused.push_back(refuse(path, "", missing_symbol_reason(symbol)));
        return;
      }
    }

    // The version is checked before any of the plugin's own code runs.
    const fixhost_api_version built = library.get<VersionFn>(k_version_symbol)();
    const ApiVersion api{built.major, built.minor};
    const ApiVersion& host = options_.host_api;
    if (api.major != host.major || api.minor > host.minor) {
      std::string why = api.major != host.major ? "a different major version" : "a newer minor version";
      report.refused.push_back(refuse(path, "",
                                      "was built against plugin API " + api.to_string() +
                                          " but this host implements API " + host.to_string() + " (" + why +
                                          "); rebuild the plugin against this fixhost's sdk/"));
      return;
    }

    auto* create = &library.get<CreateFn>(k_create_symbol);
    auto* destroy = &library.get<DestroyFn>(k_destroy_symbol);
    char error[k_error_capacity] = {};
    sdk::Plugin* raw = nullptr;
    try {
      raw = create(error, sizeof error);
    } catch (const std::exception& e) {
      std::snprintf(error, sizeof error, "%s", e.what());
    } catch (...) {
      std::snprintf(error, sizeof error, "an exception that is not a std::exception");
    }
    if (raw == nullptr) {
      std::string what = error[0] != 0 ? std::string(error) : std::string("it returned no object");
      report.refused.push_back(refuse(path, "",
                                      "failed while being created: " + what +
                                          "; fix the plugin's constructor (exceptions must not escape it)"));
      return;
    }
    std::shared_ptr<sdk::Plugin> instance(raw, PluginDeleter{std::move(library), destroy});

    auto loaded = std::make_shared<LoadedPlugin>();
    loaded->api = api;
    loaded->path = path;
    try {
      loaded->info = instance->info();
    } catch (const std::exception& e) {
      report.refused.push_back(refuse(path, "", std::string("threw from info(): ") + e.what() +
                                                    "; info() must return the plugin's description without throwing"));
      return;
    } catch (...) {
      report.refused.push_back(refuse(path, "",
                                      "threw a non-std::exception from info(); info() must return the plugin's "
                                      "description without throwing"));
      return;
    }

    admit(std::move(loaded), std::move(instance), report);
  }

  // An executable speaking the line protocol, from a plugin directory or [[plugins.external]].
  void load_external(const std::vector<std::string>& argv, const fs::path& path, LoadReport& report) {
    ApiVersion api;
    auto started = ExternalPlugin::start(argv, options_.external_cwd, options_, api);
    std::string label;
    for (const auto& a : argv) label += (label.empty() ? "" : " ") + a;
    if (!started) {
      report.refused.push_back(Refusal{path, "", "external plugin '" + label + "' " + started.status().message()});
      return;
    }
    auto loaded = std::make_shared<LoadedPlugin>();
    loaded->api = api;
    loaded->path = path;
    loaded->external = label;
    loaded->info = started.value()->info();
    admit(std::move(loaded), started.value(), report);
  }

 private:
  // The checks every plugin passes once its info() is known, then configure().
  void admit(std::shared_ptr<LoadedPlugin> loaded, std::shared_ptr<sdk::Plugin> instance, LoadReport& report) {
    const fs::path path = loaded->external.empty() ? loaded->path : fs::path(loaded->external);
    auto refuse = [&](const fs::path&, std::string name, const std::string& problem) {
      std::string who = loaded->external.empty() ? "plugin " + quoted(loaded->path) : "external plugin '" + loaded->external + "'";
      return Refusal{loaded->path, std::move(name), who + " " + problem};
    };
    const sdk::PluginInfo& info = loaded->info;
    if (info.name.empty()) {
      report.refused.push_back(
          refuse(path, "", "reports an empty name in info(); set PluginInfo::name to a unique name such as \"my_parser\""));
      return;
    }
    if (!known_kind(info.kind)) {
      report.refused.push_back(refuse(path, info.name,
                                      "('" + info.name + "') declares kind " +
                                          std::to_string(static_cast<int>(info.kind)) +
                                          ", which is neither pure nor effectful; set PluginInfo::kind to "
                                          "PluginKind::pure or PluginKind::effectful"));
      return;
    }
    for (events::EventType type : info.subscriptions) {
      auto id = static_cast<std::uint16_t>(type);
      if (!events::is_known_event_type(id)) {
        report.refused.push_back(refuse(path, info.name,
                                        "('" + info.name + "') subscribes to unknown event type id " +
                                            std::to_string(id) + " (unknown to this host, whose largest id is " +
                                            std::to_string(events::k_max_event_type) +
                                            "); subscribe only to EventType values from "
                                            "fixhost/events/event_type.hpp or upgrade fixhost"));
        return;
      }
    }
    for (const auto& other : report.loaded) {
      if (other->info.name == info.name) {
        report.refused.push_back(refuse(path, info.name,
                                        "is named '" + info.name + "', like the plugin already loaded from " +
                                            quoted(other->path) +
                                            "; remove one of the two from the plugin directories"));
        return;
      }
    }

    auto config = options_.config.find(info.name);
    std::string_view toml = config != options_.config.end() ? std::string_view(config->second) : std::string_view();
    Status configured;
    try {
      configured = instance->configure(toml);
    } catch (const std::exception& e) {
      configured = Status(Errc::internal, std::string("threw: ") + e.what());
    } catch (...) {
      configured = Status(Errc::internal, "threw an exception that is not a std::exception");
    }
    if (!configured.is_ok()) {
      report.refused.push_back(refuse(path, info.name,
                                      "('" + info.name + "') rejected its configuration: " + configured.to_string() +
                                          "; fix [plugins." + info.name + "] in fixhost.toml"));
      return;
    }

    loaded->instance = std::move(instance);
    report.loaded.push_back(std::move(loaded));
  }

  const LoaderOptions& options_;
};

}  // namespace

LoadReport load_plugins(const LoaderOptions& options) {
  LoadReport report;
  Loader loader(options);
  for (const auto& dir : options.dirs) {
    for (const auto& file : plugin_files(dir, report.refused)) {
      try {
        if (file.extension() == ".so") loader.load_file(file, report);
        else loader.load_external({file.string()}, file, report);
      } catch (const std::exception& e) {
        // Boost.DLL or the allocator failed in a way the checks above do not foresee.
        report.refused.push_back(refuse(file, "", std::string("could not be loaded: ") + e.what() +
                                                      "; remove it from the plugin directory"));
      }
    }
  }
  for (const auto& argv : options.external) {
    const fs::path program = argv.empty() ? fs::path() : fs::path(argv.front());
    try {
      loader.load_external(argv, program, report);
    } catch (const std::exception& e) {
      report.refused.push_back(refuse(program, "", std::string("(external) could not be started: ") + e.what()));
    }
  }
  return report;
}

fs::path builtin_plugin_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  fs::path dir = exe.parent_path() / ".." / "lib" / "fixhost" / "plugins";
  fs::path canonical = fs::weakly_canonical(dir, ec);
  return ec ? dir.lexically_normal() : canonical;
}

}  // namespace fixhost::host
