// worktree_merger: a pure plugin that decides how a parallel build's streams are merged. It
// collects a run's StreamPlanned and StreamFinished events and, once every planned stream has
// finished, emits one MergePlanned (merge_rules.hpp). The host carries the decision out; replay
// re-decides recorded builds with today's rules.
#include <map>

#include "fixhost/sdk/plugin.hpp"
#include "merge_rules.hpp"

namespace fixhost::worktree_merger {
namespace {

// Not thread-safe; the host calls it from one thread at a time.
class WorktreeMerger final : public sdk::Plugin {
 public:
  sdk::PluginInfo info() const override {
    return {"worktree_merger", "1.0.0", sdk::PluginKind::pure,
            {events::EventType::StreamPlanned, events::EventType::StreamFinished, events::EventType::RunFinished},
            "decides a build's merge order and the rule for each file several streams wrote"};
  }

  Status on_event(const events::Event& event, sdk::Emitter& out) override {
    switch (event.type) {
      case events::EventType::StreamPlanned: {
        auto p = events::decode<events::StreamPlanned>(event);
        if (!p) return p.status();
        auto& b = builds_[event.run_id];
        if (b.decided) b = Build{};  // a new plan in the same run (not done by hostctl today)
        b.planned.push_back(std::move(*p));
        return Status::ok();
      }
      case events::EventType::StreamFinished: {
        auto it = builds_.find(event.run_id);
        if (it == builds_.end() || it->second.decided) return Status::ok();
        auto f = events::decode<events::StreamFinished>(event);
        if (!f) return f.status();
        Build& b = it->second;
        b.finished.push_back(std::move(*f));
        if (b.finished.size() < b.planned.size()) return Status::ok();
        b.decided = true;
        out.emit(decide(b.planned, b.finished));
        return Status::ok();
      }
      case events::EventType::RunFinished:
        builds_.erase(event.run_id);
        return Status::ok();
      default:
        return Status::ok();
    }
  }

 private:
  struct Build {
    std::vector<events::StreamPlanned> planned;
    std::vector<events::StreamFinished> finished;
    bool decided = false;
  };
  std::map<std::string, Build> builds_;
};

}  // namespace
}  // namespace fixhost::worktree_merger

FIXHOST_PLUGIN(fixhost::worktree_merger::WorktreeMerger)
