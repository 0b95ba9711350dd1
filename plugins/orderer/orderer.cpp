// orderer: a pure plugin that gives each FailureDetected a place in the fix order. It attributes
// the failure to a repo module and reports that module's depth in the run's import graph
// (SourceScanned); consumers fix in ascending (depth, file, line), utilities first.
//
// Attribution, first that applies:
//   1. the innermost stack frame in a scanned, non-test repo file;
//   2. the non-test modules the failing test file imports (directly, or through test helpers it
//      imports): the deepest one, ties to the smallest path. The deepest is the feature the test
//      exercises; the shallower ones sit below it and have their own tests, which then sort
//      first. Taking the shallowest would tie every feature test with the utility tests;
//   3. the test file itself.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "fixhost/sdk/plugin.hpp"
#include "fixhost/sdk/stack_frames.hpp"
#include "import_graph.hpp"

namespace fixhost::orderer {
namespace {

// Scans kept, one per run, oldest dropped first. Default: 64
constexpr std::size_t k_max_runs = 64;

std::string test_file_of(const events::FailureDetected& f) {
  if (!f.file.empty()) return f.file;
  const auto sep = f.test_id.find("::");
  return sep == std::string::npos ? std::string() : f.test_id.substr(0, sep);
}

std::string cycle_note(const ImportGraph& g, const std::string& module) {
  auto peers = g.cycle_peers(module);
  if (peers.empty()) return "";
  std::string s = " (" + module + " is in an import cycle with ";
  for (std::size_t i = 0; i < peers.size() && i < 3; ++i) s += (i ? ", " : "") + peers[i];
  if (peers.size() > 3) s += " and " + std::to_string(peers.size() - 3) + " more";
  return s + "; the cycle shares one depth)";
}

// Non-test modules reachable from `test` through test files only, e.g. tests/test_cart.py ->
// tests/helpers.py -> cart.py.
std::vector<std::string> modules_under_test(const ImportGraph& g, const std::string& test) {
  std::vector<std::string> out;
  std::set<std::string> seen{test};
  std::deque<std::string> todo{test};
  while (!todo.empty()) {
    const std::string cur = std::move(todo.front());
    todo.pop_front();
    for (const auto& imp : g.imports(cur)) {
      if (!seen.insert(imp).second) continue;
      if (is_test_file(imp)) todo.push_back(imp);
      else out.push_back(imp);
    }
  }
  return out;
}

events::FailureOrdered order(const events::FailureDetected& f, const ImportGraph* g) {
  events::FailureOrdered o;
  o.test_id = f.test_id;
  const std::string root = g ? g->root() : std::string();
  const std::string raw_test = test_file_of(f);
  std::string test = repo_relative(raw_test, root).value_or(raw_test);
  if (g)
    if (auto found = g->find(test)) test = *found;

  // 1. innermost non-test frame in the repo.
  for (const auto& frame : sdk::parse_stack(f.stack_trace)) {
    auto rel = repo_relative(frame.path, root);
    if (!rel) continue;
    std::string module;
    if (g) {
      auto found = g->find(*rel);
      if (!found) continue;
      module = *found;
    } else {
      if (rel->find("site-packages/") != std::string::npos || rel->find("dist-packages/") != std::string::npos ||
          rel->find("node_modules/") != std::string::npos)
        continue;
      module = *rel;
    }
    if (is_test_file(module)) continue;
    o.module = module;
    const std::string where = "innermost non-test frame in the repo is " + module + ":" + std::to_string(frame.line);
    if (!g) {
      o.reason = where + "; no import graph was recorded for this run (no SourceScanned), so depth 0";
      return o;
    }
    o.depth = g->depth(module);
    o.reason = where + "; " + g->chain(module) + ": depth " + std::to_string(o.depth) + cycle_note(*g, module);
    return o;
  }

  if (!g) {
    o.module = test;
    o.reason = "no stack frame outside test files; no import graph was recorded for this run (no SourceScanned), "
               "so depth 0";
    return o;
  }

  // 2. the deepest non-test module the test imports.
  auto modules = modules_under_test(*g, test);
  if (!modules.empty()) {
    std::sort(modules.begin(), modules.end());
    std::string best = modules.front();
    for (const auto& m : modules)
      if (g->depth(m) > g->depth(best)) best = m;
    o.module = best;
    o.depth = g->depth(best);
    o.reason = "no stack frame outside test files; " + test + " -> " + g->chain(best) + ": depth " +
               std::to_string(o.depth) + " (" + best + " is the deepest of the " + std::to_string(modules.size()) +
               " non-test module(s) the test imports)" + cycle_note(*g, best);
    return o;
  }

  // 3. the test file itself.
  o.module = test;
  if (!g->find(test)) {
    o.reason = "no stack frame outside test files and the test file " + test +
               " is not in the import graph (not scanned, or outside " + root + "); depth 0";
    return o;
  }
  o.depth = g->depth(test);
  o.reason = "no stack frame outside test files and " + test + " imports no non-test repo module; " + g->chain(test) +
             ": depth " + std::to_string(o.depth);
  return o;
}

// Not thread-safe; the host calls it from one thread at a time.
class OrdererPlugin final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"orderer", "1.0.0", sdk::PluginKind::pure,
            {events::EventType::SourceScanned, events::EventType::FailureDetected},
            "orders failures by import depth so utilities are fixed before the features that import them"};
  }

  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    if (event.type == events::EventType::SourceScanned) {
      auto scan = events::decode<events::SourceScanned>(event);
      if (!scan) return scan.status();
      auto graph = std::make_shared<const ImportGraph>(*scan);
      auto it = graphs_.find(event.run_id);
      if (it != graphs_.end()) {
        it->second = std::move(graph);
      } else {
        graphs_.emplace(event.run_id, std::move(graph));
        runs_.push_back(event.run_id);
        if (runs_.size() > k_max_runs) {
          graphs_.erase(runs_.front());
          runs_.pop_front();
        }
      }
      return Status::ok();
    }
    if (event.type != events::EventType::FailureDetected) return Status::ok();
    auto failure = events::decode<events::FailureDetected>(event);
    if (!failure) return failure.status();
    auto it = graphs_.find(event.run_id);
    out.emit(order(*failure, it == graphs_.end() ? nullptr : it->second.get()));
    return Status::ok();
  }

 private:
  std::map<std::string, std::shared_ptr<const ImportGraph>> graphs_;
  std::deque<std::string> runs_;
};

}  // namespace
}  // namespace fixhost::orderer

FIXHOST_PLUGIN(fixhost::orderer::OrdererPlugin)
