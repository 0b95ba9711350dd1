// The merge decision (merge_rules.hpp).
#include "merge_rules.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "fixhost/sdk/paths.hpp"

namespace fixhost::worktree_merger {
namespace {

bool any_matches(const std::vector<std::string>& globs, const std::string& path) {
  for (const auto& g : globs) {
    auto c = sdk::Glob::compile(g);
    if (c && c->matches(path)) return true;
  }
  return false;
}

}  // namespace

events::MergePlanned decide(const std::vector<events::StreamPlanned>& planned,
                            const std::vector<events::StreamFinished>& finished) {
  events::MergePlanned out;
  out.rules_version = k_rules_version;
  std::map<std::string, const events::StreamFinished*> fin;
  for (const auto& f : finished) fin[f.stream] = &f;
  std::map<std::string, const events::StreamPlanned*> plan;
  for (const auto& p : planned) plan[p.stream] = &p;

  // 1. Dependency order over the streams that can be merged.
  std::set<std::string> merged, decided;
  while (decided.size() < planned.size()) {
    bool progressed = false;
    const std::set<std::string> before = decided;  // one level at a time: ties in planned order
    for (const auto& p : planned) {
      if (decided.count(p.stream)) continue;
      bool deps_decided = std::all_of(p.depends_on.begin(), p.depends_on.end(),
                                      [&](const auto& d) { return before.count(d) || !plan.count(d); });
      if (!deps_decided) continue;
      decided.insert(p.stream);
      progressed = true;
      auto f = fin.find(p.stream);
      if (f == fin.end()) {
        out.excluded.push_back(p.stream + ": never finished");
        continue;
      }
      if (f->second->outcome != "ok") {
        out.excluded.push_back(p.stream + ": " + f->second->outcome);
        continue;
      }
      auto missing = std::find_if(p.depends_on.begin(), p.depends_on.end(), [&](const auto& d) { return !merged.count(d); });
      if (missing != p.depends_on.end()) {
        out.excluded.push_back(p.stream + ": depends on '" + *missing + "', which is not merged");
        continue;
      }
      merged.insert(p.stream);
      out.order.push_back(p.stream);
    }
    if (!progressed) {  // a cycle (the host refuses those before running): exclude the rest
      for (const auto& p : planned)
        if (!decided.count(p.stream)) out.excluded.push_back(p.stream + ": on a dependency cycle"), decided.insert(p.stream);
    }
  }

  // 2-4. Who wrote what, in merge order.
  const events::StreamPlanned* contract = nullptr;
  for (const auto& p : planned)
    if (p.role == "contract") contract = &p;
  std::map<std::string, std::vector<std::string>> writers;  // file -> streams, merge order
  std::vector<std::string> files_in_order;
  for (const auto& id : out.order) {
    for (const auto& file : fin[id]->files) {
      auto& w = writers[file];
      if (w.empty()) files_in_order.push_back(file);
      w.push_back(id);
    }
  }
  for (const auto& file : files_in_order) {
    const auto& w = writers[file];
    events::MergeDecision d;
    d.file = file;
    d.streams = w;
    bool contract_file = contract && any_matches(contract->owns, file);
    bool foreign_writer = std::any_of(w.begin(), w.end(), [&](const auto& s) { return !contract || s != contract->stream; });
    if (contract_file && foreign_writer) {
      d.resolution = "contract_wins";
      d.winner = contract->stream;
    } else if (w.size() < 2) {
      continue;
    } else if (std::all_of(w.begin(), w.end(), [&](const auto& s) { return any_matches(plan[s]->shared, file); })) {
      d.resolution = "three_way";
    } else {
      d.resolution = "refused";
    }
    out.decisions.push_back(std::move(d));
  }
  return out;
}

}  // namespace fixhost::worktree_merger
