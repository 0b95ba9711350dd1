// The dashboard's data (dashboard.hpp): the `hostctl stats` report for the headline figures,
// plus one scan of the log for what the stats projection does not keep (points per run, per
// fix, per PR, per stream). The per-fix rules are the stats ones (docs/STATS.md): a fix is a
// FailureResolved "fixed" of an autofix run not reverted for a regression afterwards; its wall
// time runs from its first AttemptStarted to that FailureResolved.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/build/metrics.hpp"
#include "fixhost/host/dashboard.hpp"

namespace fixhost::host {
namespace {

using Json = nlohmann::ordered_json;
using events::EventType;

struct RunInfo {
  bool started = false;
  std::string mode;
  std::int64_t start_us = 0;
  bool failed_start = false;
};

struct TestInfo {
  std::string outcome;
  std::uint32_t attempts = 0;
  std::string last_revert;
  bool attempted = false;
  std::int64_t first_attempt_us = 0, resolved_us = 0;
  bool flake = false;
  // AttemptFinished.usage of each attempt: cost in USD, or nullopt when unknown.
  std::vector<std::optional<double>> costs;
};

struct PrInfo {
  std::string run, issue;
  std::uint64_t number = 0;
  std::int64_t from_us = 0, opened_us = 0;
  std::string state;     // "" (open), merged, closed
  int recurrence = -1;   // -1 unchecked, 0 came back, 1 stopped
  std::uint32_t human_commits = 0;
};

struct StreamInfo {
  std::string id, role, outcome;
  std::vector<std::string> depends_on;
  std::int64_t started_ms = 0, duration_ms = 0;
  bool finished = false;
};

struct BuildInfo {
  std::vector<std::string> order;  // streams in planned order
  std::map<std::string, StreamInfo> streams;
  bool merged = false;
  events::WorktreesMerged merge;
};

// Everything the scan keeps.
struct Scan {
  std::map<std::string, RunInfo> runs;
  std::map<std::string, std::map<std::string, TestInfo>> tests;          // run -> test -> info
  std::map<std::string, std::map<std::string, std::int64_t>> first_seen;  // run -> issue -> ts
  std::vector<PrInfo> prs;
  std::map<std::uint64_t, std::size_t> pr_by_number;  // the PrOpened last seen with a number
  std::map<std::string, BuildInfo> builds;
  std::map<std::string, std::uint64_t> attempts_total, attempts_unknown;  // by run
};

// A build's stream by id, added in the order first seen.
auto& stream_of(Scan& s, const std::string& run, const std::string& id) {
  auto& b = s.builds[run];
  if (!b.streams.count(id)) b.order.push_back(id);
  return b.streams[id];
}

Status fold(const events::Event& e, Scan& s) {
#define FIXHOST_DECODE(Type, var)                 \
  auto var##_r = events::decode<events::Type>(e); \
  if (!var##_r) return var##_r.status();          \
  const events::Type& var = *var##_r
  switch (e.type) {
    case EventType::RunStarted: {
      FIXHOST_DECODE(RunStarted, p);
      auto& r = s.runs[e.run_id];
      r.started = true, r.mode = p.mode, r.start_us = e.ts_us;
      break;
    }
    case EventType::RunFinished: {
      FIXHOST_DECODE(RunFinished, p);
      s.runs[e.run_id].failed_start = p.outcome == "error";
      break;
    }
    case EventType::FlakeDetected: {
      FIXHOST_DECODE(FlakeDetected, p);
      s.tests[e.run_id][p.test_id].flake = true;
      break;
    }
    case EventType::AttemptStarted: {
      FIXHOST_DECODE(AttemptStarted, p);
      auto& t = s.tests[e.run_id][p.test_id];
      if (!t.attempted) t.attempted = true, t.first_attempt_us = e.ts_us;
      break;
    }
    case EventType::AttemptFinished: {
      FIXHOST_DECODE(AttemptFinished, p);
      const bool known = e.schema >= 2 && p.usage.known && p.usage.cost_usd >= 0;
      s.tests[e.run_id][p.test_id].costs.push_back(known ? std::optional<double>(p.usage.cost_usd) : std::nullopt);
      ++s.attempts_total[e.run_id];
      if (!known) ++s.attempts_unknown[e.run_id];
      break;
    }
    case EventType::Reverted: {
      FIXHOST_DECODE(Reverted, p);
      s.tests[e.run_id][p.test_id].last_revert = p.reason;
      break;
    }
    case EventType::FailureResolved: {
      FIXHOST_DECODE(FailureResolved, p);
      auto& t = s.tests[e.run_id][p.test_id];
      t.outcome = p.outcome, t.attempts = p.attempts, t.resolved_us = e.ts_us;
      break;
    }
    case EventType::SentryIssueIngested: {
      FIXHOST_DECODE(SentryIssueIngested, p);
      s.first_seen[e.run_id].emplace(p.issue_id, e.ts_us);
      break;
    }
    case EventType::PrOpened: {
      FIXHOST_DECODE(PrOpened, p);
      PrInfo pr;
      pr.run = e.run_id, pr.issue = p.issue_id, pr.number = p.number, pr.opened_us = e.ts_us;
      const auto& seen = s.first_seen[e.run_id];
      auto it = seen.find(p.issue_id);
      auto run = s.runs.find(e.run_id);
      pr.from_us = it != seen.end()                                ? it->second
                   : run != s.runs.end() && run->second.started ? run->second.start_us
                                                                 : e.ts_us;
      s.pr_by_number[p.number] = s.prs.size();
      s.prs.push_back(std::move(pr));
      break;
    }
    case EventType::PrResolved: {
      FIXHOST_DECODE(PrResolved, p);
      if (auto it = s.pr_by_number.find(p.number); it != s.pr_by_number.end())
        s.prs[it->second].state = p.state, s.prs[it->second].human_commits = p.human_commits;
      break;
    }
    case EventType::ErrorRecurrenceChecked: {
      FIXHOST_DECODE(ErrorRecurrenceChecked, p);
      if (auto it = s.pr_by_number.find(p.pr_number); it != s.pr_by_number.end())
        s.prs[it->second].recurrence = p.stopped ? 1 : 0;
      break;
    }
    case EventType::StreamPlanned: {
      FIXHOST_DECODE(StreamPlanned, p);
      auto& st = stream_of(s, e.run_id, p.stream);
      st.id = p.stream, st.role = p.role, st.depends_on = p.depends_on;
      break;
    }
    case EventType::StreamFinished: {
      FIXHOST_DECODE(StreamFinished, p);
      auto& st = stream_of(s, e.run_id, p.stream);
      st.id = p.stream, st.outcome = p.outcome, st.finished = true;
      st.started_ms = p.started_ms, st.duration_ms = p.duration_ms;
      break;
    }
    case EventType::WorktreesMerged: {
      FIXHOST_DECODE(WorktreesMerged, p);
      auto& b = s.builds[e.run_id];
      b.merged = true;
      b.merge = p;
      break;
    }
    default:
      break;
  }
#undef FIXHOST_DECODE
  return Status::ok();
}

bool wanted(EventType t) {
  switch (t) {
    case EventType::RunStarted: case EventType::RunFinished: case EventType::FlakeDetected:
    case EventType::AttemptStarted: case EventType::AttemptFinished: case EventType::Reverted:
    case EventType::FailureResolved: case EventType::SentryIssueIngested: case EventType::PrOpened:
    case EventType::PrResolved: case EventType::ErrorRecurrenceChecked: case EventType::StreamPlanned:
    case EventType::StreamFinished: case EventType::WorktreesMerged:
      return true;
    default:
      return false;
  }
}

// The figure's value at obj[key]; null when the key is absent (a section --mode left out).
Json field(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return Json(nullptr);
  const Json& f = obj[key];
  return f.is_object() && f.contains("value") ? f["value"] : Json(nullptr);
}
// The last `n` elements of a list (the most recent: lists are oldest first), so that a page of a
// big store stays small; the chart says how many it lists of how many.
constexpr std::size_t k_list_limit = 100;
Json last_n(const Json& list, std::size_t n = k_list_limit) {
  if (list.size() <= n) return list;
  Json out = Json::array();
  for (std::size_t i = list.size() - n; i < list.size(); ++i) out.push_back(list[i]);
  return out;
}
// More runs than this and the success rate is drawn per UTC day.
constexpr std::size_t k_max_points = 200;
std::string utc_day(std::int64_t us) {
  const std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

Json num_or_null(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
Json value_of(const Json& figure) { return figure.is_object() && figure.contains("value") ? figure["value"] : Json(nullptr); }

std::string fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
std::string fmt_ms(double ms) { return ms >= 10000 ? fmt(ms / 1000, 0) + " s" : ms >= 1000 ? fmt(ms / 1000, 1) + " s" : fmt(ms, 0) + " ms"; }
std::string pct(const Json& v) { return v.is_number() ? fmt(v.get<double>() * 100, 0) + "%" : "-"; }

std::optional<double> median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// {"bars": [{"key", "count"}], "total"} from a stats list of figures (every key, zeros too).
Json bars_of(const Json& figures) {
  Json bars = Json::array();
  std::uint64_t total = 0;
  if (figures.is_object())
    for (const auto& [k, f] : figures.items()) {
      const std::uint64_t n = value_of(f).is_number() ? value_of(f).get<std::uint64_t>() : 0;
      bars.push_back({{"key", k}, {"count", n}});
      total += n;
    }
  return Json{{"bars", bars}, {"total", total}};
}

}  // namespace

Result<nlohmann::ordered_json> dashboard_data(const store::EventLog& log, const StatsQuery& q) {
  auto report = stats_from_projection(log, q);
  if (!report) return report.status();
  const Json& stats = *report;
  const std::uint64_t upto = stats.value("as_of_seq", std::uint64_t{0});
  Scan s;
  Status err;
  if (upto > 0) {
    auto st = log.scan(1, upto, [&](const events::Event& e) {
      if (!wanted(e.type)) return true;
      if (auto f = fold(e, s); !f) {
        err = f;
        return false;
      }
      return true;
    });
    if (!st) return st;
    if (!err) return err;
  }
  auto selected = [&](const std::string& run, const std::string& mode) {
    auto it = s.runs.find(run);
    if (it == s.runs.end()) return false;
    const RunInfo& r = it->second;
    if (!r.started || r.failed_start || r.mode != mode) return false;
    if (!q.run.empty() && run != q.run) return false;
    if (q.since_us && r.start_us < *q.since_us) return false;
    if (!q.mode.empty() && q.mode != mode) return false;
    return true;
  };
  // Runs of a mode, oldest first.
  auto runs_of = [&](const std::string& mode) {
    std::vector<std::string> ids;
    for (const auto& [id, r] : s.runs)
      if (selected(id, mode)) ids.push_back(id);
    std::stable_sort(ids.begin(), ids.end(),
                     [&](const std::string& a, const std::string& b) { return s.runs[a].start_us < s.runs[b].start_us; });
    return ids;
  };
  const Json autofix = stats.contains("autofix") ? stats["autofix"] : Json::object();
  const Json heal = stats.contains("heal") ? stats["heal"] : Json::object();
  const Json build = stats.contains("build") ? stats["build"] : Json::object();
  const auto autofix_runs = runs_of("autofix");
  Json charts = Json::object();

  // ---- fix success rate over time: one point per autofix run; a run's fixed and unfixable are
  // counted by the rules of `hostctl stats` (part_of in stats.cpp), their sums are its figures.
  {
    Json points = Json::array();
    std::uint64_t fixed = 0, unfixable = 0;
    for (const auto& id : autofix_runs) {
      std::uint64_t f = 0, u = 0;
      for (const auto& [test, t] : s.tests[id]) {
        const bool reverted_fix = t.outcome == "fixed" && t.last_revert == "regression";
        if (t.outcome == "fixed" && !reverted_fix) ++f;
        else if (t.outcome == "unfixable" || t.outcome == "unverified" || reverted_fix) ++u;
      }
      fixed += f, unfixable += u;
      points.push_back({{"run", id}, {"day", utc_day(s.runs[id].start_us)}, {"start_us", s.runs[id].start_us},
                        {"runs", 1}, {"fixed", f}, {"unfixable", u},
                        {"rate", f + u ? Json(static_cast<double>(f) / static_cast<double>(f + u)) : Json(nullptr)}});
    }
    const std::size_t run_count = points.size();
    std::string per = "run";
    if (points.size() > k_max_points) {  // one point per UTC day: its runs' fixed / (fixed + unfixable)
      per = "day";
      Json days = Json::array();
      for (const auto& p : points) {
        if (days.empty() || days.back()["day"] != p["day"]) {
          Json d = p;
          d["run"] = nullptr;
          days.push_back(d);
          continue;
        }
        Json& d = days.back();
        d["runs"] = d["runs"].get<std::uint64_t>() + 1;
        d["fixed"] = d["fixed"].get<std::uint64_t>() + p["fixed"].get<std::uint64_t>();
        d["unfixable"] = d["unfixable"].get<std::uint64_t>() + p["unfixable"].get<std::uint64_t>();
        const double n = d["fixed"].get<double>() + d["unfixable"].get<double>();
        d["rate"] = n > 0 ? Json(d["fixed"].get<double>() / n) : Json(nullptr);
      }
      points = last_n(days, k_max_points);
    }
    const Json rate = field(autofix, "fix_success_rate");
    charts["fix_success_over_time"] = {
        {"title", "Fix success rate over time"},
        {"summary", "fixed / (fixed + unfixable) per autofix run; overall " + pct(rate) + " of " +
                        std::to_string(fixed + unfixable)},
        {"rate", rate}, {"fixed", fixed}, {"unfixable", unfixable}, {"runs", run_count}, {"per", per},
        {"listed", points.size()}, {"points", points}};
  }

  // ---- the fixes of the selected autofix runs (attempts, wall time, cost).
  struct Fix {
    std::string run, test;
    std::uint32_t attempts = 0;
    std::optional<double> wall_ms;
    std::optional<double> cost;
    std::size_t unknown = 0, priced = 0;
  };
  std::vector<Fix> fixes;
  std::uint64_t attempts_total = 0, attempts_unknown = 0;
  double known_cost = 0;
  for (const auto& id : autofix_runs) {
    attempts_total += s.attempts_total[id];
    attempts_unknown += s.attempts_unknown[id];
    for (const auto& [test, t] : s.tests[id]) {
      for (const auto& c : t.costs)
        if (c) known_cost += *c;
      if (t.outcome != "fixed" || t.last_revert == "regression") continue;
      Fix f;
      f.run = id, f.test = test, f.attempts = t.attempts;
      if (t.attempted) f.wall_ms = static_cast<double>((t.resolved_us - t.first_attempt_us) / 1000);
      double sum = 0;
      for (const auto& c : t.costs) {
        if (c) sum += *c, ++f.priced;
        else ++f.unknown;
      }
      if (f.unknown == 0 && f.priced > 0) f.cost = sum;
      fixes.push_back(std::move(f));
    }
  }

  {
    std::map<std::uint32_t, std::uint64_t> by_attempts;
    for (const auto& f : fixes) ++by_attempts[f.attempts];
    Json buckets = Json::array();
    for (const auto& [n, c] : by_attempts) buckets.push_back({{"attempts", n}, {"fixes", c}});
    const Json mean = field(autofix, "avg_attempts_per_fix");
    charts["attempts_per_fix"] = {
        {"title", "Attempts per fix"},
        {"summary", std::to_string(fixes.size()) + " fixes, " +
                        (mean.is_number() ? fmt(mean.get<double>(), 2) : std::string("-")) + " attempts each on average"},
        {"fixes", fixes.size()}, {"mean", mean}, {"buckets", buckets}};
  }
  {
    Json c = bars_of(autofix.contains("reverts_by_reason") ? autofix["reverts_by_reason"] : Json::object());
    c["title"] = "Reverts by reason";
    c["summary"] = std::to_string(c["total"].get<std::uint64_t>()) + " reverted attempts";
    charts["reverts_by_reason"] = c;
  }
  {
    Json c = bars_of(autofix.contains("policy_violations_by_rule") ? autofix["policy_violations_by_rule"] : Json::object());
    c["title"] = "Policy violations by rule";
    c["summary"] = std::to_string(c["total"].get<std::uint64_t>()) + " violations";
    charts["policy_violations_by_rule"] = c;
  }
  {
    Json list = Json::array();
    std::vector<double> walls;
    for (const auto& f : fixes) {
      if (!f.wall_ms) continue;
      walls.push_back(*f.wall_ms);
      list.push_back({{"run", f.run}, {"test", f.test}, {"wall_ms", static_cast<std::int64_t>(*f.wall_ms)}, {"attempts", f.attempts}});
    }
    const Json med = field(autofix, "median_wall_ms_per_fix");
    charts["time_per_fix"] = {
        {"title", "Time per fix"},
        {"summary", "wall time from the first attempt to the fix; median " +
                        (med.is_number() ? fmt_ms(med.get<double>()) : std::string("-")) + " over " +
                        std::to_string(walls.size())},
        {"median_ms", med}, {"median_ms_scan", num_or_null(median(walls))}, {"count", walls.size()},
        {"listed", std::min(list.size(), k_list_limit)}, {"fixes", last_n(list)}};
  }
  {
    Json list = Json::array();
    double priced_sum = 0;
    std::uint64_t priced = 0;
    for (const auto& f : fixes) {
      if (f.cost) priced_sum += *f.cost, ++priced;
      list.push_back({{"run", f.run}, {"test", f.test}, {"attempts", f.attempts}, {"cost_usd", num_or_null(f.cost)},
                      {"unknown_attempts", f.unknown}});
    }
    const double mean_v = priced ? priced_sum / static_cast<double>(priced) : 0.0;
    const Json mean = priced ? Json(mean_v) : Json(nullptr);
    charts["cost_per_fix"] = {
        {"title", "Cost per fix"},
        {"summary", (priced ? "$" + fmt(mean_v, 4) + " per fix over the " + std::to_string(priced) + " fixes with a known cost"
                          : std::string("no fix with a known cost")) +
                        "; " + std::to_string(fixes.size() - priced) + " fixes and " + std::to_string(attempts_unknown) +
                        " of " + std::to_string(attempts_total) + " attempts unknown"},
        {"mean_cost_per_fix_usd", mean}, {"fixes_with_known_cost", priced},
        {"fixes_with_unknown_cost", fixes.size() - priced}, {"attempts", attempts_total},
        {"attempts_unknown", attempts_unknown}, {"known_cost_usd", known_cost},
        {"listed", std::min(list.size(), k_list_limit)}, {"fixes", last_n(list)}};
  }

  // ---- flaky tests: runs (autofix and detect) in which a test was found flaky.
  {
    std::map<std::string, std::set<std::string>> flaky;
    for (const auto& mode : {"autofix", "detect"})
      for (const auto& id : runs_of(mode))
        for (const auto& [test, t] : s.tests[id])
          if (t.flake || t.outcome == "flaky") flaky[test].insert(id);
    std::vector<std::pair<std::string, std::size_t>> order;
    for (const auto& [t, r] : flaky) order.emplace_back(t, r.size());
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    Json tests = Json::array();
    for (const auto& [t, n] : order) tests.push_back({{"test", t}, {"runs", n}});
    charts["flaky_tests"] = {{"title", "Flaky tests"},
                             {"summary", std::to_string(order.size()) + " tests found flaky (runs in which each was)"},
                             {"tests_count", order.size()},
                             {"flaky_rate", field(autofix, "flaky_rate")},
                             {"listed", std::min(tests.size(), std::size_t{50})},
                             {"tests", tests.size() > 50 ? Json(std::vector<Json>(tests.begin(), tests.begin() + 50)) : tests}};
  }

  // ---- heal: time to PR and what became of each PR.
  {
    std::set<std::string> heal_runs;
    for (const auto& id : runs_of("heal")) heal_runs.insert(id);
    Json prs = Json::array();
    std::map<std::string, std::uint64_t> outcomes{{"open", 0}, {"merged", 0}, {"closed", 0}};
    std::map<std::string, std::uint64_t> recurrence{{"stopped", 0}, {"came_back", 0}, {"unchecked", 0}};
    for (const auto& pr : s.prs) {
      if (!heal_runs.count(pr.run)) continue;
      const std::string state = pr.state.empty() ? "open" : pr.state;
      const std::string rec = pr.recurrence == 1 ? "stopped" : pr.recurrence == 0 ? "came_back" : "unchecked";
      ++outcomes[state];
      ++recurrence[rec];
      prs.push_back({{"number", pr.number}, {"run", pr.run}, {"issue", pr.issue},
                     {"time_to_pr_ms", (pr.opened_us - pr.from_us) / 1000}, {"state", state},
                     {"recurrence", rec}, {"human_commits", pr.human_commits}});
    }
    Json oc = Json::object(), rc = Json::object();
    for (const auto& [k, v] : outcomes) oc[k] = v;
    for (const auto& [k, v] : recurrence) rc[k] = v;
    const Json mean = field(heal, "mean_time_to_pr_ms");
    charts["heal"] = {{"title", "Self-heal: time to PR and outcomes"},
                      {"summary", std::to_string(prs.size()) + " PRs, mean time to PR " +
                                      (mean.is_number() ? fmt_ms(mean.get<double>()) : std::string("-")) +
                                      ", error stopped after " + std::to_string(recurrence["stopped"]) + " of " +
                                      std::to_string(recurrence["stopped"] + recurrence["came_back"]) + " checked"},
                      {"prs_opened", prs.size()},
                      {"mean_time_to_pr_ms", mean},
                      {"fix_success_rate", field(heal, "fix_success_rate")},
                      {"false_positive_rate", field(heal, "false_positive_rate")},
                      {"human_override_rate", field(heal, "human_override_rate")},
                      {"outcomes", oc},
                      {"recurrence", rc},
                      {"listed", std::min(prs.size(), k_list_limit)},
                      {"prs", last_n(prs)}};
  }

  // ---- build: speed-up against the critical path, and each build's stream timeline.
  {
    Json speed = Json::array(), timelines = Json::array();
    for (const auto& id : runs_of("build")) {
      auto it = s.builds.find(id);
      if (it == s.builds.end()) continue;
      const BuildInfo& b = it->second;
      std::vector<build::StreamTiming> timings;
      for (const auto& sid : b.order) {
        const StreamInfo& st = b.streams.at(sid);
        if (st.finished) timings.push_back({st.id, st.depends_on, st.started_ms, st.duration_ms});
      }
      const auto cp = build::critical_path(timings, b.merge.merge_ms, b.merge.integration_ms);
      const std::set<std::string> chain(cp.chain.begin(), cp.chain.end());
      Json streams = Json::array();
      for (const auto& sid : b.order) {
        const StreamInfo& st = b.streams.at(sid);
        streams.push_back({{"stream", st.id}, {"role", st.role}, {"outcome", st.finished ? st.outcome : "unfinished"},
                           {"started_ms", st.started_ms}, {"duration_ms", st.duration_ms},
                           {"critical", chain.count(st.id) > 0}});
      }
      if (b.merged) {
        const auto& m = b.merge;
        const double wall = static_cast<double>(m.wall_ms);
        speed.push_back({{"run", id},
                         {"wall_ms", m.wall_ms},
                         {"serial_ms", m.serial_ms},
                         {"critical_ms", m.critical_ms},
                         {"speedup", wall > 0 ? Json(static_cast<double>(m.serial_ms) / wall) : Json(nullptr)},
                         {"critical_over_wall", wall > 0 && m.critical_ms > 0 ? Json(static_cast<double>(m.critical_ms) / wall)
                                                                              : Json(nullptr)},
                         {"integration_passed", m.integration_passed}});
      }
      timelines.push_back({{"run", id},
                           {"wall_ms", b.merged ? Json(b.merge.wall_ms) : Json(nullptr)},
                           {"critical_ms", b.merged ? Json(b.merge.critical_ms) : Json(nullptr)},
                           {"merge_ms", b.merge.merge_ms},
                           {"integration_ms", b.merge.integration_ms},
                           {"critical_chain", cp.chain},
                           {"streams", streams}});
    }
    const Json sp = field(build, "parallel_speedup");
    charts["build_speedup"] = {
        {"title", "Build speed-up against the critical path"},
        {"summary", std::to_string(speed.size()) + " merged builds; serial / wall " +
                        (sp.is_number() ? fmt(sp.get<double>(), 2) + "x" : std::string("-")) +
                        "; wall / critical path " +
                        (field(build, "build_overhead").is_number() ? fmt(field(build, "build_overhead").get<double>(), 2) + "x"
                                                                       : std::string("-"))},
        {"parallel_speedup", sp}, {"build_overhead", field(build, "build_overhead")}, {"merges", speed.size()},
        {"listed", std::min(speed.size(), k_list_limit)}, {"builds", last_n(speed)}};
    charts["build_timelines"] = {{"title", "Build stream timelines"},
                                 {"summary", std::to_string(timelines.size()) + " builds; the critical chain is outlined"},
                                 {"builds_count", timelines.size()},
                                 {"listed", std::min(timelines.size(), std::size_t{20})},
                                 {"builds", last_n(timelines, 20)}};
  }

  Json out = Json::object();
  out["as_of_seq"] = upto;
  out["filters"] = stats["filters"];
  out["charts"] = charts;
  out["stats"] = stats;
  return out;
}

}  // namespace fixhost::host
