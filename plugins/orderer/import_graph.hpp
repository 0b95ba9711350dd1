#pragma once
// The repository's import graph from one SourceScanned, with each file's depth: the length of
// the longest chain of repo-local imports below it, computed on the strongly connected
// components so the members of an import cycle share a depth.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fixhost/events/payloads.hpp"

namespace fixhost::orderer {

// Immutable after construction; safe to read from several threads.
class ImportGraph {
 public:
  explicit ImportGraph(const events::SourceScanned& scan);

  const std::string& root() const { return root_; }
  std::size_t size() const { return paths_.size(); }

  // The graph's spelling of `path` (already repo-relative): itself if scanned, else the one
  // scanned file ending in "/<path>" (a runner started in a subdirectory reports paths relative
  // to it). nullopt when absent or ambiguous.
  std::optional<std::string> find(std::string_view path) const;

  std::int32_t depth(const std::string& path) const;
  const std::vector<std::string>& imports(const std::string& path) const;
  // "cart.py imports pricing.py -> utils.py" along a longest chain, or "utils.py imports no repo
  // module"; a hop to another member of the same cycle is marked "(same cycle)".
  std::string chain(const std::string& path) const;
  // The other members of path's import cycle (empty when it is in none), sorted.
  std::vector<std::string> cycle_peers(const std::string& path) const;

 private:
  std::size_t index(const std::string& path) const;

  std::string root_;
  std::vector<std::string> paths_;                 // sorted
  std::unordered_map<std::string, std::size_t> ids_;
  std::vector<std::vector<std::string>> import_paths_;
  std::vector<std::vector<std::size_t>> edges_;    // repo-local, deduplicated, no self-loops
  std::vector<std::size_t> scc_;                   // component of each file
  std::vector<std::int32_t> scc_depth_;
  std::vector<std::vector<std::size_t>> scc_members_;
  std::multimap<std::string, std::size_t> by_basename_;
};

// Repo-relative form of a path seen in a stack trace or report: strips "file://", makes an
// absolute path under `root` relative and normalises "./" and "..". nullopt for absolute paths
// outside root, paths escaping it, and pseudo-paths ("<frozen os>", "node:internal/...").
std::optional<std::string> repo_relative(std::string_view path, std::string_view root);

// test_*.py, *_test.py, conftest.py, *.test.{js,jsx,ts,tsx,mjs,cjs}, *.spec.{...}, and anything
// under a tests/, test/ or __tests__/ directory.
bool is_test_file(std::string_view repo_relative_path);

}  // namespace fixhost::orderer
