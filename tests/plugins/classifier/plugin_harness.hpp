#pragma once
// Loads a built plugin .so with dlopen and drives it through the SDK interface, as the host does.
#include <dlfcn.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixhost/sdk/plugin.hpp"

namespace fixhost::testing {

class LoadedPlugin {
 public:
  explicit LoadedPlugin(const std::string& name) {
    const std::string path = std::string(FIXHOST_PLUGIN_DIR) + "/" + name + ".so";
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error("dlopen " + path + ": " + dlerror());
    auto create = reinterpret_cast<sdk::Plugin* (*)(char*, std::size_t)>(dlsym(handle_, "fixhost_plugin_create"));
    destroy_ = reinterpret_cast<void (*)(sdk::Plugin*)>(dlsym(handle_, "fixhost_plugin_destroy"));
    if (!create || !destroy_) throw std::runtime_error(path + " lacks the FIXHOST_PLUGIN entry points");
    char err[256] = {};
    plugin_ = create(err, sizeof err);
    if (!plugin_) throw std::runtime_error(path + ": create failed: " + err);
  }
  ~LoadedPlugin() {
    if (plugin_) destroy_(plugin_);
    if (handle_) dlclose(handle_);
  }
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;
  sdk::Plugin* operator->() const { return plugin_; }

 private:
  void* handle_ = nullptr;
  void (*destroy_)(sdk::Plugin*) = nullptr;
  sdk::Plugin* plugin_ = nullptr;
};

class Collector final : public sdk::Emitter {
 public:
  void emit(events::EventType type, std::uint16_t schema, std::string payload) override {
    events::Event e;
    e.type = type;
    e.schema = schema;
    e.payload = std::move(payload);
    out.push_back(std::move(e));
  }
  using sdk::Emitter::emit;
  std::vector<events::Event> out;
};

// Feeds `payload` to `plugin` and returns the decoded events of type P it emitted.
template <class P, class In>
std::vector<P> feed(const LoadedPlugin& plugin, const In& payload, const std::string& run = "run-1") {
  Collector c;
  Status st = plugin->on_event(events::make_event(payload, run), c);
  if (!st) throw std::runtime_error("on_event failed: " + st.to_string());
  std::vector<P> out;
  for (const auto& e : c.out) {
    auto p = events::decode<P>(e);
    if (!p) throw std::runtime_error("emitted event does not decode: " + p.status().to_string());
    out.push_back(std::move(*p));
  }
  return out;
}

}  // namespace fixhost::testing
