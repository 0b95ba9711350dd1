#include "fixhost/host/heal/triage_view.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <ctime>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/cli_util.hpp"

namespace fixhost::host::heal {
namespace {

int rank(const std::string& severity) { return severity == "P0" ? 0 : severity == "P1" ? 1 : severity == "P2" ? 2 : 3; }

struct Acc {
  TriageGroup g;
  int best_rank = 9;
  std::int64_t best_ts = 0;  // when the verdict kept as the group's was recorded
  std::unordered_set<std::string> users;
  std::uint64_t event_count = 0;                                // SDK events and webhook events
  std::unordered_map<std::string, std::uint64_t> issue_counts;  // Sentry's own figure per issue (api, issue webhooks)
  std::unordered_map<std::string, std::uint64_t> issue_users;
};

// By group id. Hashed: looked up once per event; the view is sorted at the end (finish_groups).
using Groups = std::unordered_map<std::string, Acc>;

// Folds the IssueTriaged the plugins derive from each fact into the groups; nothing is kept.
class FoldSink : public EventSink {
 public:
  explicit FoldSink(std::uint64_t last_seq) : next_(last_seq + 1) {}
  const events::SentryIssueIngested* fact = nullptr;
  const events::Event* fact_event = nullptr;
  const TriageQuery* query = nullptr;
  Groups groups;
  std::vector<std::string> failures;

  Status append(std::span<events::Event> batch) override {
    for (auto& e : batch) {
      e.seq = next_++;
      if (e.type == events::EventType::PluginFailed) {
        if (auto f = events::decode<events::PluginFailed>(e); f && failures.size() < 20)
          failures.push_back(f->plugin + ": " + f->error);
        continue;
      }
      if (e.type != events::EventType::IssueTriaged || !fact) continue;
      auto t = events::decode<events::IssueTriaged>(e);
      if (!t) continue;
      fold(*t);
      if (query && query->on_verdict) query->on_verdict(*fact_event, *t);
    }
    return Status::ok();
  }

 private:
  void fold(const events::IssueTriaged& t) {
    Acc& a = groups[t.group];
    TriageGroup& g = a.g;
    const std::int64_t ts = fact_event->ts_us;
    if (g.group.empty()) {
      g.group = t.group;
      g.first_seen_us = ts;
    }
    g.first_seen_us = std::min(g.first_seen_us, ts);
    const int r = rank(t.priority);
    const bool newest = ts >= g.last_seen_us;
    if (newest) {
      g.last_seen_us = ts;
      g.latest_seq = fact_event->seq;
      g.release = t.release;
      g.environment = t.environment;
      if (g.issue_id.empty() || !fact->issue_id.empty()) g.issue_id = t.issue_id;
    }
    if (r < a.best_rank || (r == a.best_rank && ts >= a.best_ts)) {
      a.best_rank = r;
      a.best_ts = ts;
      g.severity = t.priority;
      g.weight = t.severity;
      g.decision = t.decision;
      g.reason = t.reason;
      g.rule = t.rules;
      g.title = t.title;
      g.culprit = t.culprit;
      g.level = t.level;
      g.grouping = t.grouping;
    }
    const bool issue_level = fact->via == "api" || (fact->via == "webhook" && fact->event_id.empty());
    if (issue_level && !fact->issue_id.empty()) {
      a.issue_counts[fact->issue_id] = std::max(a.issue_counts[fact->issue_id], fact->count);
      a.issue_users[fact->issue_id] = std::max(a.issue_users[fact->issue_id], fact->user_count);
    } else {
      a.event_count += 1;
      if (!t.user.empty()) a.users.insert(t.user);
    }
  }
  std::uint64_t next_;
};

std::string iso(std::int64_t us) {
  if (us <= 0) return "";
  std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The accumulated groups as the view shows them: counts and users summed, priority, sorted.
void finish_groups(Groups&& groups, TriageView& view) {
  for (auto& [id, a] : groups) {
    TriageGroup g = std::move(a.g);
    g.count = a.event_count;
    for (const auto& [issue, c] : a.issue_counts) g.count += c;
    g.users = a.users.size();
    for (const auto& [issue, u] : a.issue_users) g.users += u;
    g.priority = static_cast<double>(g.count) * static_cast<double>(g.weight);
    view.groups.push_back(std::move(g));
  }
  std::sort(view.groups.begin(), view.groups.end(), [](const TriageGroup& a, const TriageGroup& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.last_seen_us != b.last_seen_us) return a.last_seen_us > b.last_seen_us;
    return a.group < b.group;
  });
}

}  // namespace

namespace {

using FactSource = std::function<Status(const std::function<bool(const events::Event&)>&)>;

Result<TriageView> triage_from(const FactSource& facts, std::uint64_t last_seq,
                               const std::vector<std::shared_ptr<LoadedPlugin>>& plugins, const TriageQuery& query) {
  BusOptions bo;
  bo.pure_only = true;
  Bus bus(bo);
  bus.add(plugins);
  if (!bus.has_subscribers(events::EventType::SentryIssueIngested))
    return make_error(Errc::not_found,
                      "no loaded pure plugin triages SentryIssueIngested; the sentry_triage plugin should be in the "
                      "built-in plugin directory (hostctl plugins lists what was loaded)");
  TriageView view;
  FoldSink sink(last_seq);
  sink.query = &query;
  const std::int64_t now = query.now_us.value_or(events::now_us());
  const std::int64_t hour_ago = now - 3600LL * 1000000;
  Status inner;
  auto st = facts([&](const events::Event& e) {
    if (e.type != events::EventType::SentryIssueIngested) return true;
    if (query.since_us && e.ts_us < *query.since_us) return true;
    auto p = events::decode<events::SentryIssueIngested>(e);
    if (!p) return true;  // a newer schema: skipped, like any reader that does not know it
    ++view.events;
    if (e.ts_us >= hour_ago && e.ts_us <= now && (p->level == "error" || p->level == "fatal" || p->level.empty()))
      ++view.errors_last_hour;
    sink.fact = &*p;
    sink.fact_event = &e;
    auto r = bus.dispatch(e, sink);
    sink.fact = nullptr;
    if (!r) {
      inner = r.status();
      return false;
    }
    return true;
  });
  if (!st) return st;
  if (!inner) return inner;
  finish_groups(std::move(sink.groups), view);
  view.plugin_failures = std::move(sink.failures);
  return view;
}

}  // namespace

Result<TriageView> triage_view(const store::EventLog& log, const std::vector<std::shared_ptr<LoadedPlugin>>& plugins,
                               const TriageQuery& query) {
  return triage_from(
      [&](const std::function<bool(const events::Event&)>& visit) {
        return log.scan_type(events::EventType::SentryIssueIngested, visit);
      },
      log.last_seq(), plugins, query);
}

Result<TriageView> triage_events(const std::vector<events::Event>& facts,
                                 const std::vector<std::shared_ptr<LoadedPlugin>>& plugins, const TriageQuery& query) {
  std::uint64_t last = 0;
  for (const auto& e : facts) last = std::max(last, e.seq);
  return triage_from(
      [&](const std::function<bool(const events::Event&)>& visit) {
        for (const auto& e : facts)
          if (!visit(e)) break;
        return Status::ok();
      },
      last, plugins, query);
}

namespace {

// Folds what another worker folded into `into` (the same sums as one worker would have made).
void merge_into(Groups& into, Groups&& from) {
  for (auto& [id, b] : from) {
    auto it = into.find(id);
    if (it == into.end()) {
      into.emplace(id, std::move(b));
      continue;
    }
    Acc& a = it->second;
    TriageGroup& g = a.g;
    g.first_seen_us = std::min(g.first_seen_us, b.g.first_seen_us);
    if (b.g.last_seen_us > g.last_seen_us) {
      g.last_seen_us = b.g.last_seen_us;
      g.latest_seq = b.g.latest_seq;
      g.release = b.g.release;
      g.environment = b.g.environment;
      if (!b.g.issue_id.empty()) g.issue_id = b.g.issue_id;
    }
    if (b.best_rank < a.best_rank || (b.best_rank == a.best_rank && b.best_ts > a.best_ts)) {
      a.best_rank = b.best_rank;
      a.best_ts = b.best_ts;
      using Field = std::string TriageGroup::*;
      for (Field f : {&TriageGroup::severity, &TriageGroup::decision, &TriageGroup::reason, &TriageGroup::rule,
                      &TriageGroup::title, &TriageGroup::culprit, &TriageGroup::level, &TriageGroup::grouping})
        g.*f = std::move(b.g.*f);
      g.weight = b.g.weight;
    }
    a.event_count += b.event_count;
    a.users.merge(b.users);
    for (const auto& [k, v] : b.issue_counts) a.issue_counts[k] = std::max(a.issue_counts[k], v);
    for (const auto& [k, v] : b.issue_users) a.issue_users[k] = std::max(a.issue_users[k], v);
  }
}

}  // namespace

Result<TriageView> triage_view(const store::EventLog& log,
                               const std::vector<std::vector<std::shared_ptr<LoadedPlugin>>>& plugin_sets,
                               const TriageQuery& query) {
  if (plugin_sets.size() <= 1)
    return triage_view(log, plugin_sets.empty() ? std::vector<std::shared_ptr<LoadedPlugin>>() : plugin_sets[0], query);
  struct Worker {
    Bus bus{[] {
      BusOptions bo;
      bo.pure_only = true;
      return bo;
    }()};
    std::unique_ptr<FoldSink> sink;
    std::uint64_t events = 0, errors = 0;
    Status status;
    std::thread thread;
  };
  const std::int64_t now = query.now_us.value_or(events::now_us());
  const std::int64_t hour_ago = now - 3600LL * 1000000;
  std::mutex verdict_mu;
  TriageQuery shared = query;
  if (query.on_verdict)
    shared.on_verdict = [&](const events::Event& f, const events::IssueTriaged& t) {
      std::lock_guard lock(verdict_mu);
      query.on_verdict(f, t);
    };
  std::vector<std::unique_ptr<Worker>> workers;
  for (const auto& set : plugin_sets) {
    auto w = std::make_unique<Worker>();
    w->bus.add(set);
    if (!w->bus.has_subscribers(events::EventType::SentryIssueIngested))
      return make_error(Errc::not_found, "no loaded pure plugin triages SentryIssueIngested; the sentry_triage plugin should "
                                         "be in the built-in plugin directory (hostctl plugins lists what was loaded)");
    // Each worker's plugins emit into seqs of their own range, past the log (nothing is appended).
    w->sink = std::make_unique<FoldSink>(log.last_seq() + (workers.size() << 40));
    w->sink->query = &shared;
    workers.push_back(std::move(w));
  }
  // The scan hands chunks of facts to the workers through a small bounded queue.
  using Chunk = std::vector<events::Event>;
  std::mutex mu;
  std::condition_variable cv_work, cv_room;
  std::deque<Chunk> queue;
  bool done = false;
  for (auto& wp : workers) {
    Worker* w = wp.get();
    w->thread = std::thread([&, w] {
      while (true) {
        Chunk chunk;
        {
          std::unique_lock lock(mu);
          cv_work.wait(lock, [&] { return done || !queue.empty(); });
          if (queue.empty()) return;
          chunk = std::move(queue.front());
          queue.pop_front();
        }
        cv_room.notify_one();
        for (const auto& e : chunk) {
          if (!w->status) break;
          auto p = events::decode<events::SentryIssueIngested>(e);
          if (!p) continue;
          ++w->events;
          if (e.ts_us >= hour_ago && e.ts_us <= now && (p->level == "error" || p->level == "fatal" || p->level.empty()))
            ++w->errors;
          w->sink->fact = &*p;
          w->sink->fact_event = &e;
          auto r = w->bus.dispatch(e, *w->sink);
          w->sink->fact = nullptr;
          if (!r) w->status = r.status();
        }
      }
    });
  }
  Chunk chunk;
  auto push = [&] {
    std::unique_lock lock(mu);
    cv_room.wait(lock, [&] { return queue.size() < 2 * workers.size(); });
    queue.push_back(std::move(chunk));
    chunk = Chunk();
    lock.unlock();
    cv_work.notify_one();
  };
  auto st = log.scan_type(events::EventType::SentryIssueIngested, [&](const events::Event& e) {
    if (query.since_us && e.ts_us < *query.since_us) return true;
    chunk.push_back(e);
    if (chunk.size() >= 256) push();
    return true;
  });
  if (!chunk.empty()) push();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv_work.notify_all();
  for (auto& w : workers) w->thread.join();
  if (!st) return st;
  TriageView view;
  Groups groups;
  for (auto& w : workers) {
    if (!w->status) return w->status;
    view.events += w->events;
    view.errors_last_hour += w->errors;
    merge_into(groups, std::move(w->sink->groups));
    for (auto& f : w->sink->failures)
      if (view.plugin_failures.size() < 20) view.plugin_failures.push_back(std::move(f));
  }
  finish_groups(std::move(groups), view);
  return view;
}

nlohmann::ordered_json to_json(const TriageGroup& g) {
  nlohmann::ordered_json j;
  j["group"] = g.group;
  j["issue_id"] = g.issue_id;
  j["title"] = g.title;
  j["culprit"] = g.culprit;
  j["level"] = g.level;
  j["severity"] = g.severity;
  j["count"] = g.count;
  j["users"] = g.users;
  j["first_seen"] = iso(g.first_seen_us);
  j["last_seen"] = iso(g.last_seen_us);
  j["priority"] = g.priority;
  j["decision"] = g.decision;
  j["reason"] = g.reason;
  j["rule"] = g.rule;
  j["grouping"] = g.grouping;
  j["release"] = g.release;
  j["environment"] = g.environment;
  return j;
}

std::string triage_table(const TriageView& view) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : view.groups) {
    char prio[32];
    std::snprintf(prio, sizeof prio, "%.0f", g.priority);
    std::string decision = g.decision;
    if (g.decision == "skip" || g.decision == "human") decision += ": " + g.reason;
    rows.push_back({g.group.substr(0, 12), one_line(g.title, 50), g.culprit, g.level, g.severity, std::to_string(g.count),
                    std::to_string(g.users), iso(g.first_seen_us), iso(g.last_seen_us), prio, decision});
  }
  std::string out = render_table({"group", "title", "culprit", "level", "sev", "count", "users", "first seen", "last seen",
                                  "priority", "decision"},
                                 rows, 70);
  out += std::to_string(view.groups.size()) + " groups from " + std::to_string(view.events) + " events; " +
         std::to_string(view.errors_last_hour) + " errors in the last hour\n";
  return out;
}

}  // namespace fixhost::host::heal
