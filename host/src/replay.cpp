#include "fixhost/host/replay.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/bus.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/memory_sink.hpp"
#include "fixhost/host/run_context.hpp"

namespace fixhost::host {

using events::Event;
using events::EventKind;
using events::EventType;

// ---- selection --------------------------------------------------------------------------------

Result<std::vector<RunInfo>> select_runs(const std::vector<RunInfo>& runs, const ReplaySelection& selection,
                                         const std::string& store_dir) {
  std::vector<RunInfo> out;
  if (!selection.runs.empty()) {
    std::set<std::string> seen;
    for (const auto& id : selection.runs) {
      auto it = std::find_if(runs.begin(), runs.end(), [&](const RunInfo& r) { return r.id == id; });
      if (it == runs.end())
        return make_error(Errc::not_found, "store '" + store_dir + "' has no run '" + id +
                                               "'; 'hostctl runs' lists the runs it has");
      if (it->mode == "replay") {
        std::string of;
        for (const auto& s : it->source_runs) of += (of.empty() ? "" : ", ") + s;
        return make_error(Errc::invalid_argument, "run '" + id + "' is itself a replay (of " +
                                                      (of.empty() ? std::string("no run") : of) +
                                                      "); replays are never replayed: name its source runs instead");
      }
      if (selection.since_us && it->start_us < *selection.since_us) continue;
      if (seen.insert(id).second) out.push_back(*it);
    }
    return out;
  }
  if (!selection.all && !selection.since_us)
    return make_error(Errc::invalid_argument,
                      "name the runs to replay (hostctl replay RUN...), or pass --all or --since 30d; "
                      "'hostctl runs' lists the runs");
  for (const auto& r : runs) {
    if (r.mode == "replay") continue;
    if (selection.since_us && r.start_us < *selection.since_us) continue;
    out.push_back(r);
  }
  return out;
}

// ---- comparison ---------------------------------------------------------------------------------

std::string_view diff_kind_name(DiffKind k) noexcept {
  switch (k) {
    case DiffKind::only_recorded: return "only_recorded";
    case DiffKind::only_replayed: return "only_replayed";
    case DiffKind::category: return "category";
    case DiffKind::order: return "order";
    case DiffKind::severity: return "severity";
  }
  return "unknown";
}

namespace {

constexpr const char* k_none = "(none)";

bool is_fact(EventType t) { return events::event_kind(t) == EventKind::fact; }

// A derived event the comparison looks at (ReplayCompared is a replay's own output: never).
bool compared(const Event& e) { return !is_fact(e.type) && e.type != EventType::ReplayCompared; }

// What identifies a derived event within its originating fact, and what is compared.
struct Described {
  std::string subject;    // test id, issue id
  std::string key_extra;  // more identity (a violation's attempt, rule and path)
  bool valued = false;    // compared by value (else by presence alone)
  DiffKind kind = DiffKind::only_recorded;
  std::string value;
  std::string label;  // for presence differences
};

template <class P, class F>
Described decoded(const Event& e, F&& describe) {
  auto p = events::decode<P>(e);
  if (!p) {
    Described d;
    d.key_extra = e.payload;
    d.label = "undecodable " + std::string(events::event_type_name(e.type)) + ": " + p.status().message();
    return d;
  }
  return describe(*p);
}

Described describe(const Event& e) {
  switch (e.type) {
    case EventType::SuiteParsed:
      return decoded<events::SuiteParsed>(e, [](const events::SuiteParsed& p) {
        Described d;
        d.subject = p.suite + (p.test_id.empty() ? "" : " " + p.test_id);
        d.label = "SuiteParsed: " + std::to_string(p.tests) + " tests, " + std::to_string(p.failures) +
                  " failed, " + std::to_string(p.errors) + " errors";
        return d;
      });
    case EventType::FailureDetected:
      return decoded<events::FailureDetected>(e, [](const events::FailureDetected& p) {
        Described d;
        d.subject = p.test_id;
        d.label = p.error_type.empty() ? one_line(p.message, 100)
                                       : p.error_type + (p.message.empty() ? "" : ": " + one_line(p.message, 100));
        if (d.label.empty()) d.label = "failure";
        return d;
      });
    case EventType::FailureClassified:
      return decoded<events::FailureClassified>(e, [](const events::FailureClassified& p) {
        Described d;
        d.subject = p.test_id;
        d.valued = true;
        d.kind = DiffKind::category;
        d.value = p.category;
        d.label = "category " + p.category;
        return d;
      });
    case EventType::FailureOrdered:
      return decoded<events::FailureOrdered>(e, [](const events::FailureOrdered& p) {
        Described d;
        d.subject = p.test_id;
        d.valued = true;
        d.kind = DiffKind::order;
        d.value = "depth " + std::to_string(p.depth) + (p.module.empty() ? "" : " " + p.module);
        d.label = d.value;
        return d;
      });
    case EventType::IssueTriaged:
      return decoded<events::IssueTriaged>(e, [](const events::IssueTriaged& p) {
        Described d;
        // Per group (several events of one group each differ the same way); the issue id for
        // events triaged before groups were recorded (schema 1).
        d.subject = p.group.empty() ? p.issue_id : p.group;
        d.valued = true;
        d.kind = DiffKind::severity;
        d.value = p.priority + " (severity " + std::to_string(p.severity) + ")" + (p.decision.empty() ? "" : " " + p.decision);
        d.label = d.value;
        return d;
      });
    case EventType::PolicyViolation:
      return decoded<events::PolicyViolation>(e, [](const events::PolicyViolation& p) {
        Described d;
        d.subject = p.test_id;
        d.key_extra = std::to_string(p.attempt) + "\x1f" + p.rule + "\x1f" + p.path;
        d.label = "policy " + p.rule + " on attempt " + std::to_string(p.attempt) + (p.path.empty() ? "" : " (" + p.path + ")");
        return d;
      });
    case EventType::MergePlanned:
      // A build's merge decision: a different order or resolution is an order change.
      return decoded<events::MergePlanned>(e, [](const events::MergePlanned& p) {
        Described d;
        d.subject = "merge";
        d.valued = true;
        d.kind = DiffKind::order;
        std::string order;
        for (const auto& s : p.order) order += (order.empty() ? "" : ",") + s;
        d.value = "order " + order;
        for (const auto& x : p.decisions) d.value += "; " + x.file + " " + x.resolution;
        d.label = d.value;
        return d;
      });
    default: {
      Described d;
      d.label = std::string(events::event_type_name(e.type));
      return d;
    }
  }
}

struct Origin {
  std::string context, purpose, suite;
};

Origin origin_of(const Event* fact) {
  Origin o;
  if (!fact) {
    o.context = "no recorded cause";
    return o;
  }
  if (fact->type == EventType::SuiteFinished) {
    if (auto p = events::decode<events::SuiteFinished>(*fact)) {
      o.purpose = p->purpose;
      o.suite = p->suite;
      o.context = p->purpose + " " + p->suite;
      return o;
    }
  }
  o.context = std::string(events::event_type_name(fact->type));
  return o;
}

struct Item {
  std::string key;
  std::string parent_key;  // the key of the derived event it was derived from, "" for a fact
  EventType type = EventType::Reserved;
  std::uint64_t seq = 0;
  std::uint64_t root = 0;  // seq of the recorded fact it comes from, 0 for none
  Described d;
};

using Lookup = std::unordered_map<std::uint64_t, const Event*>;

struct Side {
  std::vector<Item> items;
  std::unordered_map<std::string, std::size_t> index;
  bool has(const std::string& key) const { return index.count(key) != 0; }
};

// `own` indexes this side's events; `facts` the recorded run (causation may point there).
Side build_side(const std::vector<const Event*>& derived, const Lookup& own, const Lookup& facts) {
  Side side;
  std::unordered_map<std::uint64_t, std::string> key_of_seq;
  std::map<std::string, std::uint32_t> occurrences;
  auto find = [&](std::uint64_t seq) -> const Event* {
    if (seq == 0) return nullptr;
    if (auto it = own.find(seq); it != own.end()) return it->second;
    if (auto it = facts.find(seq); it != facts.end()) return it->second;
    return nullptr;
  };
  for (const Event* e : derived) {
    Item item;
    item.type = e->type;
    item.seq = e->seq;
    const Event* cur = e;
    for (int hops = 0; hops < 64; ++hops) {  // causation always points back; the bound is for damaged logs
      const Event* c = find(cur->causation);
      if (!c) break;
      if (is_fact(c->type)) {
        item.root = c->seq;
        break;
      }
      cur = c;
    }
    if (const Event* parent = find(e->causation); parent && !is_fact(parent->type))
      if (auto it = key_of_seq.find(parent->seq); it != key_of_seq.end()) item.parent_key = it->second;
    item.d = describe(*e);
    std::string base = std::to_string(item.root) + "\x1f" + std::to_string(static_cast<int>(e->type)) + "\x1f" +
                       item.d.subject + "\x1f" + item.d.key_extra;
    item.key = base + "\x1f" + std::to_string(occurrences[base]++);
    key_of_seq[e->seq] = item.key;
    side.index[item.key] = side.items.size();
    side.items.push_back(std::move(item));
  }
  return side;
}

}  // namespace

std::uint32_t RunComparison::count(DiffKind k) const {
  return static_cast<std::uint32_t>(
      std::count_if(differences.begin(), differences.end(), [k](const Difference& d) { return d.kind == k; }));
}

events::ReplayCompared RunComparison::to_payload() const {
  events::ReplayCompared p;
  p.source_run = run;
  p.only_recorded = count(DiffKind::only_recorded);
  p.only_replayed = count(DiffKind::only_replayed);
  p.category_changes = count(DiffKind::category);
  p.order_changes = count(DiffKind::order);
  p.severity_changes = count(DiffKind::severity);
  for (const auto& d : differences) {
    nlohmann::json j = {{"kind", diff_kind_name(d.kind)}, {"type", events::event_type_name(d.type)},
                        {"context", d.context},            {"purpose", d.purpose},
                        {"suite", d.suite},                {"test_id", d.subject},
                        {"old", d.old_value},              {"new", d.new_value},
                        {"recorded_seq", d.recorded_seq}};
    p.detail += events::dump_json(j) + "\n";
  }
  return p;
}

RunComparison compare_derivations(const std::vector<Event>& recorded, const std::vector<Event>& replayed) {
  Lookup rec_all, rep_all;
  std::vector<const Event*> rec_derived, rep_derived;
  for (const auto& e : recorded) {
    rec_all[e.seq] = &e;
    if (compared(e)) rec_derived.push_back(&e);
  }
  for (const auto& e : replayed) {
    rep_all[e.seq] = &e;
    if (compared(e)) rep_derived.push_back(&e);
  }
  // Recorded derivations resolve among recorded events only; replayed ones among their own and
  // the recorded facts they were dispatched from.
  static const Lookup k_empty;
  Side old_side = build_side(rec_derived, rec_all, k_empty);
  Side new_side = build_side(rep_derived, rep_all, rec_all);

  RunComparison out;
  out.recorded_derived = rec_derived.size();
  out.replayed_derived = rep_derived.size();
  std::vector<std::pair<std::uint64_t, Difference>> diffs;  // (originating fact, difference)
  auto add = [&](const Item& it, DiffKind kind, std::string old_value, std::string new_value, std::uint64_t rec_seq) {
    Difference d;
    d.kind = kind;
    d.type = it.type;
    const Event* fact = nullptr;
    if (auto f = rec_all.find(it.root); it.root != 0 && f != rec_all.end()) fact = f->second;
    Origin o = origin_of(fact);
    d.context = o.context;
    d.purpose = o.purpose;
    d.suite = o.suite;
    d.subject = it.d.subject;
    d.old_value = std::move(old_value);
    d.new_value = std::move(new_value);
    d.recorded_seq = rec_seq;
    diffs.emplace_back(it.root, std::move(d));
  };
  for (const Item& it : old_side.items) {
    auto other = new_side.index.find(it.key);
    if (other != new_side.index.end()) {
      const Item& now = new_side.items[other->second];
      if (it.d.valued && it.d.value != now.d.value) add(it, it.d.kind, it.d.value, now.d.value, it.seq);
      continue;
    }
    // Missing because what it was derived from is missing too: already counted there.
    if (!it.parent_key.empty() && !new_side.has(it.parent_key)) continue;
    if (it.d.valued) add(it, it.d.kind, it.d.value, k_none, it.seq);
    else add(it, DiffKind::only_recorded, it.d.label, "", it.seq);
  }
  for (const Item& it : new_side.items) {
    if (old_side.has(it.key)) continue;
    if (!it.parent_key.empty() && !old_side.has(it.parent_key)) continue;
    if (it.d.valued) add(it, it.d.kind, k_none, it.d.value, 0);
    else add(it, DiffKind::only_replayed, "", it.d.label, 0);
  }
  std::stable_sort(diffs.begin(), diffs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [root, d] : diffs) out.differences.push_back(std::move(d));
  return out;
}

// ---- Replayer -----------------------------------------------------------------------------------

namespace {
BusOptions pure_only() {
  BusOptions o;
  o.pure_only = true;
  return o;
}
}  // namespace

struct Replayer::Impl {
  Bus bus{pure_only()};
  std::vector<std::string> ids;
};

Replayer::Replayer(const std::vector<std::shared_ptr<LoadedPlugin>>& plugins) : impl_(std::make_unique<Impl>()) {
  // Effectful plugins are not even subscribed; the pure_only bus would skip them anyway.
  for (const auto& p : plugins) {
    if (!p || !p->pure()) continue;
    impl_->bus.add(p);
    impl_->ids.push_back(p->id());
  }
}

Replayer::~Replayer() = default;

std::vector<std::string> Replayer::plugin_ids() const { return impl_->ids; }

Result<RunComparison> Replayer::replay(const std::vector<Event>& recorded, std::uint64_t first_free_seq) {
  MemorySink sink(first_free_seq == 0 ? 0 : first_free_seq - 1);
  std::uint64_t facts = 0;
  for (const Event& e : recorded) {
    // PluginFailed records how a plugin failed back then; today's failures are raised anew.
    if (!is_fact(e.type) || e.type == EventType::PluginFailed) continue;
    ++facts;
    auto r = impl_->bus.dispatch(e, sink);
    if (!r) return r.status();
  }
  RunComparison out = compare_derivations(recorded, sink.events());
  out.facts = facts;
  if (!recorded.empty()) out.run = recorded.front().run_id;
  for (const Event& e : sink.events())
    if (e.type == EventType::PluginFailed)
      if (auto p = events::decode<events::PluginFailed>(e)) out.plugin_failures.push_back(p->error);
  return out;
}

// ---- replay_runs --------------------------------------------------------------------------------

std::uint32_t ReplayReport::total(DiffKind k) const {
  std::uint32_t n = 0;
  for (const auto& r : runs) n += r.count(k);
  return n;
}

std::uint32_t ReplayReport::total_differences() const {
  std::uint32_t n = 0;
  for (const auto& r : runs) n += static_cast<std::uint32_t>(r.differences.size());
  return n;
}

Result<ReplayReport> replay_runs(store::EventLog& log, const std::vector<std::shared_ptr<LoadedPlugin>>& plugins,
                                 const std::vector<RunInfo>& sources, const ReplayOptions& options) {
  auto say = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  if (!log.writable())
    return make_error(Errc::invalid_argument, "store '" + log.dir().string() +
                                                  "' is open read-only; a replay records its own run and needs "
                                                  "the store open for writing");
  ReplayReport report;
  Replayer replayer(plugins);
  report.plugins = replayer.plugin_ids();
  report.replay_run = new_run_id();
  const std::int64_t started_us = events::now_us();

  events::RunStarted rs;
  rs.mode = "replay";
  rs.repo = options.repo;
  rs.argv = options.argv;
  rs.config = options.config_text;
  for (const auto& s : sources) rs.source_runs.push_back(s.id);
  rs.host_version = FIXHOST_VERSION;
  Event started = events::make_event(rs, report.replay_run);
  auto first = log.append(started);
  if (!first) return first.status();
  const std::uint64_t started_seq = *first;

  auto finish = [&](const std::string& outcome, int code, const std::string& summary) -> Status {
    events::RunFinished f;
    f.outcome = outcome;
    f.exit_code = code;
    f.summary = summary;
    f.duration_ms = (events::now_us() - started_us) / 1000;
    Event e = events::make_event(f, report.replay_run, "host", started_seq);
    auto r = log.append(e);
    return r.is_ok() ? Status::ok() : r.status();
  };
  auto fail = [&](const Status& st) -> Status {
    if (auto fs = finish("error", k_exit_cannot_run, st.to_string()); !fs)
      return make_error(st.code(), st.message() + " (and the replay's end could not be recorded: " + fs.to_string() + ")");
    return st;
  };

  std::size_t n = 0;
  for (const auto& src : sources) {
    ++n;
    std::vector<Event> evs;
    auto st = log.scan_run(src.id, [&](const Event& e) {
      evs.push_back(e);
      return true;
    });
    if (!st) return fail(st);
    say("replaying run " + src.id + " (" + std::to_string(n) + "/" + std::to_string(sources.size()) + ", " +
        src.mode + ", " + std::to_string(evs.size()) + " events) ...");
    auto cmp = replayer.replay(evs, log.last_seq() + 1);
    if (!cmp) return fail(cmp.status());
    cmp->run = src.id;
    cmp->mode = src.mode;
    for (const auto& f : cmp->plugin_failures) say("  plugin failure during replay: " + f);
    Event ev = events::make_event(cmp->to_payload(), report.replay_run, "host", started_seq);
    if (auto r = log.append(ev); !r) return fail(r.status());
    say("  " + std::to_string(cmp->facts) + " facts re-dispatched, " + std::to_string(cmp->replayed_derived) +
        " events derived (" + std::to_string(cmp->recorded_derived) + " recorded): " +
        std::to_string(cmp->differences.size()) + " difference" + (cmp->differences.size() == 1 ? "" : "s"));
    report.runs.push_back(std::move(*cmp));
  }
  const std::uint32_t total = report.total_differences();
  std::string summary = std::to_string(total) + " differences across " + std::to_string(report.runs.size()) +
                        " runs (" + std::to_string(report.total(DiffKind::only_recorded)) + " only recorded, " +
                        std::to_string(report.total(DiffKind::only_replayed)) + " only replayed, " +
                        std::to_string(report.total(DiffKind::category)) + " category, " +
                        std::to_string(report.total(DiffKind::order)) + " order, " +
                        std::to_string(report.total(DiffKind::severity)) + " severity)";
  if (auto st = total == 0 ? finish("ok", k_exit_ok, summary) : finish("differences", k_exit_failures, summary); !st)
    return st;
  return report;
}

}  // namespace fixhost::host
