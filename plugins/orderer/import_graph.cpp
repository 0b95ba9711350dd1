#include "import_graph.hpp"

#include <algorithm>
#include <array>
#include <filesystem>

namespace fixhost::orderer {
namespace {

std::string_view basename(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const std::vector<std::string> k_no_imports;

}  // namespace

ImportGraph::ImportGraph(const events::SourceScanned& scan) : root_(scan.root) {
  for (const auto& f : scan.files) paths_.push_back(f.path);
  std::sort(paths_.begin(), paths_.end());
  paths_.erase(std::unique(paths_.begin(), paths_.end()), paths_.end());
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    ids_.emplace(paths_[i], i);
    by_basename_.emplace(std::string(basename(paths_[i])), i);
  }
  const std::size_t n = paths_.size();
  import_paths_.resize(n);
  edges_.resize(n);
  for (const auto& f : scan.files) {
    const std::size_t from = ids_.at(f.path);
    for (const auto& imp : f.imports) {
      auto it = ids_.find(imp);
      if (it == ids_.end() || it->second == from) continue;
      import_paths_[from].push_back(imp);
      edges_[from].push_back(it->second);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto& e = edges_[i];
    std::sort(e.begin(), e.end());
    e.erase(std::unique(e.begin(), e.end()), e.end());
    auto& p = import_paths_[i];
    std::sort(p.begin(), p.end());
    p.erase(std::unique(p.begin(), p.end()), p.end());
  }

  // Tarjan's algorithm without recursion (import graphs can be deep). It emits a component only
  // after every component reachable from it, so depths are final when a component is emitted.
  constexpr std::size_t k_unvisited = static_cast<std::size_t>(-1);
  std::vector<std::size_t> order(n, k_unvisited), low(n, 0);
  std::vector<bool> on_stack(n, false);
  std::vector<std::size_t> stack;
  scc_.assign(n, k_unvisited);
  std::size_t counter = 0;
  struct Visit {
    std::size_t node;
    std::size_t next_edge;
  };
  std::vector<Visit> calls;
  for (std::size_t start = 0; start < n; ++start) {
    if (order[start] != k_unvisited) continue;
    calls.push_back({start, 0});
    order[start] = low[start] = counter++;
    stack.push_back(start);
    on_stack[start] = true;
    while (!calls.empty()) {
      Visit& v = calls.back();
      if (v.next_edge < edges_[v.node].size()) {
        const std::size_t w = edges_[v.node][v.next_edge++];
        if (order[w] == k_unvisited) {
          order[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = true;
          calls.push_back({w, 0});
        } else if (on_stack[w]) {
          low[v.node] = std::min(low[v.node], order[w]);
        }
        continue;
      }
      const std::size_t node = v.node;
      calls.pop_back();
      if (!calls.empty()) low[calls.back().node] = std::min(low[calls.back().node], low[node]);
      if (low[node] != order[node]) continue;
      const std::size_t id = scc_members_.size();
      scc_members_.emplace_back();
      std::size_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = false;
        scc_[w] = id;
        scc_members_[id].push_back(w);
      } while (w != node);
      std::int32_t d = 0;
      for (std::size_t m : scc_members_[id])
        for (std::size_t t : edges_[m])
          if (scc_[t] != id) d = std::max(d, scc_depth_[scc_[t]] + 1);
      scc_depth_.push_back(d);
      std::sort(scc_members_[id].begin(), scc_members_[id].end());
    }
  }
}

std::size_t ImportGraph::index(const std::string& path) const {
  auto it = ids_.find(path);
  return it == ids_.end() ? static_cast<std::size_t>(-1) : it->second;
}

std::optional<std::string> ImportGraph::find(std::string_view path) const {
  if (ids_.count(std::string(path))) return std::string(path);
  std::string tail(1, '/');  // not "/" + path: GCC 12 warns falsely (-Wrestrict) on that
  tail += path;
  std::optional<std::string> found;
  auto [lo, hi] = by_basename_.equal_range(std::string(basename(path)));
  for (auto it = lo; it != hi; ++it) {
    if (!ends_with(paths_[it->second], tail)) continue;
    if (found) return std::nullopt;  // ambiguous
    found = paths_[it->second];
  }
  return found;
}

std::int32_t ImportGraph::depth(const std::string& path) const {
  const std::size_t i = index(path);
  return i < paths_.size() ? scc_depth_[scc_[i]] : 0;
}

const std::vector<std::string>& ImportGraph::imports(const std::string& path) const {
  const std::size_t i = index(path);
  return i < paths_.size() ? import_paths_[i] : k_no_imports;
}

std::vector<std::string> ImportGraph::cycle_peers(const std::string& path) const {
  std::vector<std::string> out;
  const std::size_t i = index(path);
  if (i >= paths_.size()) return out;
  for (std::size_t m : scc_members_[scc_[i]])
    if (m != i) out.push_back(paths_[m]);
  return out;
}

std::string ImportGraph::chain(const std::string& path) const {
  std::size_t cur = index(path);
  if (cur >= paths_.size() || scc_depth_[scc_[cur]] == 0) return path + " imports no repo module";
  std::string out = path;
  const char* sep = " imports ";
  // Each step goes down exactly one level, so this ends after depth steps; long chains are cut.
  constexpr std::int32_t k_max_hops = 12;
  for (std::int32_t hop = 0; scc_depth_[scc_[cur]] > 0; ++hop) {
    if (hop == k_max_hops) {
      out += " -> ... (" + std::to_string(scc_depth_[scc_[cur]]) + " more levels)";
      break;
    }
    const std::int32_t want = scc_depth_[scc_[cur]] - 1;
    auto next_from = [&](std::size_t from) -> std::size_t {
      for (std::size_t t : edges_[from])  // sorted by path, so the first is the smallest
        if (scc_[t] != scc_[from] && scc_depth_[scc_[t]] == want) return t;
      return static_cast<std::size_t>(-1);
    };
    std::size_t next = next_from(cur);
    if (next >= paths_.size()) {
      for (std::size_t m : scc_members_[scc_[cur]]) {
        next = next_from(m);
        if (next < paths_.size()) {
          out += sep + paths_[m] + " (same cycle)";
          sep = " -> ";
          break;
        }
      }
    }
    out += sep + paths_[next];
    sep = " -> ";
    cur = next;
  }
  return out;
}

std::optional<std::string> repo_relative(std::string_view path, std::string_view root) {
  namespace fs = std::filesystem;
  if (path.substr(0, 7) == "file://") path.remove_prefix(7);
  if (path.empty() || path.front() == '<' || path.substr(0, 5) == "node:") return std::nullopt;
  fs::path p(path);
  if (p.is_absolute()) {
    if (root.empty()) return std::nullopt;
    fs::path r = fs::path(root).lexically_normal();
    std::string rs = r.generic_string();
    while (rs.size() > 1 && rs.back() == '/') rs.pop_back();
    const std::string ps = p.lexically_normal().generic_string();
    if (ps.size() <= rs.size() + 1 || ps.compare(0, rs.size(), rs) != 0 || ps[rs.size()] != '/') return std::nullopt;
    return ps.substr(rs.size() + 1);
  }
  std::string rel = p.lexically_normal().generic_string();
  if (rel.empty() || rel == "." || rel.substr(0, 2) == "..") return std::nullopt;
  return rel;
}

bool is_test_file(std::string_view p) {
  std::size_t pos = 0;
  while (true) {
    std::size_t slash = p.find('/', pos);
    if (slash == std::string_view::npos) break;
    const std::string_view dir = p.substr(pos, slash - pos);
    if (dir == "tests" || dir == "test" || dir == "__tests__") return true;
    pos = slash + 1;
  }
  const std::string_view name = basename(p);
  if (name == "conftest.py") return true;
  if (ends_with(name, ".py")) return name.substr(0, 5) == "test_" || ends_with(name, "_test.py");
  static constexpr std::array<std::string_view, 6> k_js{".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs"};
  for (std::string_view ext : k_js) {
    if (!ends_with(name, ext)) continue;
    const std::string_view stem = name.substr(0, name.size() - ext.size());
    return ends_with(stem, ".test") || ends_with(stem, ".spec");
  }
  return false;
}

}  // namespace fixhost::orderer
