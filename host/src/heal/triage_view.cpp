#include "fixhost/host/heal/triage_view.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <ctime>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <optional>
#include <utility>
#include <vector>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/cli_util.hpp"

namespace fixhost::host::heal {
namespace {

int rank(const std::string& severity) { return severity == "P0" ? 0 : severity == "P1" ? 1 : severity == "P2" ? 2 : 3; }

struct Acc {
  TriageGroup g;
  int best_rank = 9;
  std::int64_t best_ts = 0;     // when the verdict kept as the group's was recorded
  std::uint64_t best_seq = 0;   // and its fact's seq (ties on ts go to the later fact)
  std::unordered_set<std::string> users;
  std::uint64_t event_count = 0;                                // SDK events and webhook events
  std::unordered_map<std::string, std::uint64_t> issue_counts;  // Sentry's own figure per issue (api, issue webhooks)
  std::unordered_map<std::string, std::uint64_t> issue_users;
};

// By group id. Hashed: looked up once per event; the view is sorted at the end (finish_groups).
using Groups = std::unordered_map<std::string, Acc>;

constexpr std::size_t k_max_failures = 20;

// The sums one worker makes from the facts it is given in log order: each verdict folded into its
// group, then dropped. Workers' sums merge into what one worker would have made (merge_into).
struct Fold {
  Groups groups;
  std::vector<std::pair<std::uint64_t, std::string>> failures;  // (fact seq, "plugin: error"), the first 20
  std::uint64_t events = 0, errors_last_hour = 0;

  void fail(std::uint64_t fact_seq, std::string text) {
    if (failures.size() < k_max_failures) failures.emplace_back(fact_seq, std::move(text));
  }

  void add(const events::Event& fact_event, const events::SentryIssueIngested& fact, events::IssueTriaged&& t) {
    Acc& a = groups[t.group];
    TriageGroup& g = a.g;
    const std::int64_t ts = fact_event.ts_us;
    if (g.group.empty()) {
      g.group = t.group;
      g.first_seen_us = ts;
    }
    g.first_seen_us = std::min(g.first_seen_us, ts);
    const int r = rank(t.priority);
    const bool newest = ts >= g.last_seen_us;
    if (newest) {
      g.last_seen_us = ts;
      g.latest_seq = fact_event.seq;
      g.release = std::move(t.release);
      g.environment = std::move(t.environment);
      if (g.issue_id.empty() || !fact.issue_id.empty()) g.issue_id = std::move(t.issue_id);
    }
    if (r < a.best_rank || (r == a.best_rank && ts >= a.best_ts)) {
      a.best_rank = r;
      a.best_ts = ts;
      a.best_seq = fact_event.seq;
      g.severity = std::move(t.priority);
      g.weight = t.severity;
      g.decision = std::move(t.decision);
      g.reason = std::move(t.reason);
      g.rule = std::move(t.rules);
      g.title = std::move(t.title);
      g.culprit = std::move(t.culprit);
      g.level = std::move(t.level);
      g.grouping = std::move(t.grouping);
    }
    const bool issue_level = fact.via == "api" || (fact.via == "webhook" && fact.event_id.empty());
    if (issue_level && !fact.issue_id.empty()) {
      a.issue_counts[fact.issue_id] = std::max(a.issue_counts[fact.issue_id], fact.count);
      a.issue_users[fact.issue_id] = std::max(a.issue_users[fact.issue_id], fact.user_count);
    } else {
      a.event_count += 1;
      if (!t.user.empty()) a.users.insert(std::move(t.user));
    }
  }
};

// Where the bus appends what the plugins derive from the current fact: IssueTriaged is folded,
// PluginFailed noted, nothing is kept. Its seqs continue past `last_seq` (nothing is appended).
class FoldSink : public EventSink {
 public:
  explicit FoldSink(std::uint64_t last_seq) : next_(last_seq + 1) {}
  const events::SentryIssueIngested* fact = nullptr;
  const events::Event* fact_event = nullptr;
  const TriageQuery* query = nullptr;
  Fold* fold = nullptr;

  Status append(std::span<events::Event> batch) override {
    for (auto& e : batch) {
      e.seq = next_++;
      if (e.type == events::EventType::PluginFailed) {
        if (auto f = events::decode<events::PluginFailed>(e); f && fold->failures.size() < k_max_failures)
          fold->fail(fact_event ? fact_event->seq : e.seq, f->plugin + ": " + f->error);
        continue;
      }
      if (e.type != events::EventType::IssueTriaged || !fact) continue;
      auto t = events::decode<events::IssueTriaged>(e);
      if (!t) continue;
      if (query && query->on_verdict) query->on_verdict(*fact_event, *t);
      fold->add(*fact_event, *fact, std::move(*t));
    }
    return Status::ok();
  }

 private:
  std::uint64_t next_;
};

bool subscribes(const LoadedPlugin& p, events::EventType type) {
  return std::find(p.info.subscriptions.begin(), p.info.subscriptions.end(), type) != p.info.subscriptions.end();
}

// Derives one fact's verdicts into a Fold with one set of plugin instances (one thread at a time).
// When every pure plugin subscribed to SentryIssueIngested has the typed entry point
// (sdk::TriageDeriver) and no pure plugin reacts to what they emit, it calls that: the same
// verdicts and failures in the same order as the bus gives, without encoding and decoding them.
// Otherwise (an external plugin, a plugin built against API 1.1, a reaction) through a bus.
class Deriver {
 public:
  Deriver(const std::vector<std::shared_ptr<LoadedPlugin>>& plugins, std::uint64_t seq_base, const TriageQuery& query)
      : bus_([] {
          BusOptions bo;
          bo.pure_only = true;
          return bo;
        }()),
        sink_(seq_base),
        query_(query) {
    bus_.add(plugins);
    sink_.query = &query;
    bool direct = true;
    std::vector<const LoadedPlugin*> seen;
    for (const auto& p : plugins) {
      if (!p || !p->instance || !p->pure()) continue;  // what a pure_only bus dispatches to
      if (std::find(seen.begin(), seen.end(), p.get()) != seen.end()) continue;
      seen.push_back(p.get());
      if (subscribes(*p, events::EventType::IssueTriaged) || subscribes(*p, events::EventType::PluginFailed))
        direct = false;
      if (!subscribes(*p, events::EventType::SentryIssueIngested)) continue;
      auto* d = dynamic_cast<sdk::TriageDeriver*>(p->instance.get());
      if (!d) direct = false;
      else direct_.push_back(Direct{d, p->id()});
    }
    if (!direct) direct_.clear();
  }

  bool has_subscribers() const { return bus_.has_subscribers(events::EventType::SentryIssueIngested); }

  // Counts the fact (in the window) and folds its verdicts; errors are the bus's sink errors.
  Status visit(const events::Event& e, Fold& fold, std::int64_t hour_ago, std::int64_t now) {
    if (e.type != events::EventType::SentryIssueIngested) return Status::ok();
    if (query_.since_us && e.ts_us < *query_.since_us) return Status::ok();
    auto p = events::decode<events::SentryIssueIngested>(e);
    if (!p) return Status::ok();  // a newer schema: skipped, like any reader that does not know it
    ++fold.events;
    if (e.ts_us >= hour_ago && e.ts_us <= now && (p->level == "error" || p->level == "fatal" || p->level.empty()))
      ++fold.errors_last_hour;
    if (direct_.empty()) {
      sink_.fact = &*p;
      sink_.fact_event = &e;
      sink_.fold = &fold;
      auto r = bus_.dispatch(e, sink_);
      sink_.fact = nullptr;
      sink_.fact_event = nullptr;
      return r ? Status::ok() : r.status();
    }
    for (Direct& d : direct_) {
      std::optional<events::IssueTriaged> verdict;
      std::string failure;
      try {
        auto r = d.plugin->derive_triage(e, *p);
        if (r) verdict = std::move(*r);
        else failure = plugin_failed_error(d.source, e, r.status());
      } catch (const std::exception& ex) {
        failure = plugin_threw_error(d.source, e, ex.what());
      } catch (...) {
        failure = plugin_threw_error(d.source, e, nullptr);
      }
      if (!verdict) {
        fold.fail(e.seq, d.source + ": " + failure);
        continue;
      }
      if (query_.on_verdict) query_.on_verdict(e, *verdict);
      fold.add(e, *p, std::move(*verdict));
    }
    return Status::ok();
  }

 private:
  struct Direct {
    sdk::TriageDeriver* plugin;
    std::string source;  // name@version
  };
  Bus bus_;
  FoldSink sink_;
  const TriageQuery& query_;
  std::vector<Direct> direct_;  // empty: through the bus
};

Status no_triage_plugin() {
  return make_error(Errc::not_found,
                    "no loaded pure plugin triages SentryIssueIngested; the sentry_triage plugin should be in the "
                    "built-in plugin directory (hostctl plugins lists what was loaded)");
}

std::string iso(std::int64_t us) {
  if (us <= 0) return "";
  std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Folds what another worker folded into `into`: the sums one worker would have made over both
// workers' facts (on a tie in time the later fact wins, as in one worker's log order).
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
    if (b.g.last_seen_us > g.last_seen_us || (b.g.last_seen_us == g.last_seen_us && b.g.latest_seq > g.latest_seq)) {
      g.last_seen_us = b.g.last_seen_us;
      g.latest_seq = b.g.latest_seq;
      g.release = std::move(b.g.release);
      g.environment = std::move(b.g.environment);
      if (!b.g.issue_id.empty()) g.issue_id = std::move(b.g.issue_id);
    }
    if (b.best_rank < a.best_rank ||
        (b.best_rank == a.best_rank && (b.best_ts > a.best_ts || (b.best_ts == a.best_ts && b.best_seq > a.best_seq)))) {
      a.best_rank = b.best_rank;
      a.best_ts = b.best_ts;
      a.best_seq = b.best_seq;
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

// The view of the workers' folds, each over a part of the facts.
TriageView finish(std::vector<Fold>& folds) {
  TriageView view;
  Groups groups;
  std::vector<std::pair<std::uint64_t, std::string>> failures;
  for (Fold& f : folds) {
    view.events += f.events;
    view.errors_last_hour += f.errors_last_hour;
    if (groups.empty()) groups = std::move(f.groups);
    else merge_into(groups, std::move(f.groups));
    for (auto& x : f.failures) failures.push_back(std::move(x));
  }
  // The first 20 in log order, as one worker would have kept them.
  std::stable_sort(failures.begin(), failures.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [seq, text] : failures)
    if (view.plugin_failures.size() < k_max_failures) view.plugin_failures.push_back(std::move(text));
  finish_groups(std::move(groups), view);
  return view;
}

using FactSource = std::function<Status(const std::function<bool(const events::Event&)>&)>;

Result<TriageView> triage_from(const FactSource& facts, std::uint64_t last_seq,
                               const std::vector<std::shared_ptr<LoadedPlugin>>& plugins, const TriageQuery& query) {
  Deriver deriver(plugins, last_seq, query);
  if (!deriver.has_subscribers()) return no_triage_plugin();
  const std::int64_t now = query.now_us.value_or(events::now_us());
  const std::int64_t hour_ago = now - 3600LL * 1000000;
  std::vector<Fold> folds(1);
  Status inner;
  auto st = facts([&](const events::Event& e) {
    inner = deriver.visit(e, folds[0], hour_ago, now);
    return inner.is_ok();
  });
  if (!st) return st;
  if (!inner) return inner;
  return finish(folds);
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

Result<TriageView> triage_view(const store::EventLog& log,
                               const std::vector<std::vector<std::shared_ptr<LoadedPlugin>>>& plugin_sets,
                               const TriageQuery& query) {
  if (plugin_sets.size() <= 1)
    return triage_view(log, plugin_sets.empty() ? std::vector<std::shared_ptr<LoadedPlugin>>() : plugin_sets[0], query);
  const std::int64_t now = query.now_us.value_or(events::now_us());
  const std::int64_t hour_ago = now - 3600LL * 1000000;
  const std::uint64_t last = log.last_seq();
  std::mutex verdict_mu;
  TriageQuery shared = query;
  if (query.on_verdict)
    shared.on_verdict = [&](const events::Event& f, const events::IssueTriaged& t) {
      std::lock_guard lock(verdict_mu);
      query.on_verdict(f, t);
    };
  std::vector<std::unique_ptr<Deriver>> derivers;
  for (const auto& set : plugin_sets) {
    // Each worker's bus (when one is needed) emits into seqs of its own range past the log.
    derivers.push_back(std::make_unique<Deriver>(set, last + (derivers.size() << 40), shared));
    if (!derivers.back()->has_subscribers()) return no_triage_plugin();
  }
  // Each worker scans blocks of the log's seqs itself (no copies handed between threads), taking
  // the next block when it is done with one; the folds merge into what one worker would make.
  constexpr std::uint64_t k_block = 4096;
  const std::uint64_t blocks = last / k_block + 1;
  std::atomic<std::uint64_t> next_block{0};
  std::atomic<bool> stop{false};
  std::vector<Fold> folds(derivers.size());
  std::vector<Status> status(derivers.size());
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < derivers.size(); ++w)
    threads.emplace_back([&, w] {
      for (std::uint64_t b = next_block++; b < blocks && !stop; b = next_block++) {
        const std::uint64_t from = b * k_block, to = std::min(from + k_block, last + 1);
        Status inner;
        auto st = log.scan_type(
            events::EventType::SentryIssueIngested,
            [&](const events::Event& e) {
              if (e.seq >= to) return false;
              inner = derivers[w]->visit(e, folds[w], hour_ago, now);
              return inner.is_ok();
            },
            from);
        if (!st) inner = st;
        if (!inner) {
          status[w] = inner;
          stop = true;
        }
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& s : status)
    if (!s) return s;
  return finish(folds);
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
