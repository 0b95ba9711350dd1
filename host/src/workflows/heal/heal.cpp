// hostctl heal: SOURCE, TRIAGE, RATE GUARD, SELECT, (FIX), REPORT. See heal.hpp.
#include "fixhost/host/heal/heal.hpp"

#include <algorithm>
#include <ctime>
#include <fstream>
#include <map>
#include <set>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/heal/fix.hpp"
#include "fixhost/host/heal/ingest.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/http/client.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::heal {
namespace {

constexpr const char* k_no_agent =
    "no agent: set `agent = \"...\"` in fixhost.toml or pass --agent 'CMD' (docs/HEAL.md, the agent's two phases)";

std::string fmt_priority(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", p);
  return buf;
}

std::string report_markdown(const HealResult& r, const Config& config) {
  std::string md = "# Incident report (hostctl heal)\n\n";
  md += "- source: " + r.source + (r.cached ? " (cached: fetched by an earlier run within [heal] api_cache)" : "") + "\n";
  md += "- events in the window: " + std::to_string(r.triage.events) + ", groups: " + std::to_string(r.triage.groups.size()) + "\n";
  md += "- errors in the last hour: " + std::to_string(r.triage.errors_last_hour) + " (limit " +
        std::to_string(config.heal.max_errors_per_hour) + ")\n";
  std::map<std::string, std::uint64_t> by_sev;
  for (const auto& g : r.triage.groups) by_sev[g.severity] += g.count;
  md += "- errors by severity:";
  for (const char* s : {"P0", "P1", "P2"}) md += std::string(" ") + s + " " + std::to_string(by_sev[s]);
  md += "\n";
  if (r.rate_guard)
    md += "\n**Rate guard:** " + std::to_string(r.triage.errors_last_hour) + " errors in the last hour is above " +
          std::to_string(config.heal.max_errors_per_hour) + ": this looks like infrastructure, not code. No fix was attempted.\n";
  auto section = [&](const std::string& title, const std::set<std::string>& actions) {
    std::string rows;
    for (const auto& a : r.actions) {
      if (!actions.count(a.action)) continue;
      const auto& g = a.group;
      rows += "| " + g.group.substr(0, 12) + " | " + g.title + " | " + g.culprit + " | " + g.severity + " | " +
              std::to_string(g.count) + " | " + fmt_priority(g.priority) + " | " + a.why + " |\n";
    }
    if (rows.empty()) return;
    md += "\n## " + title + "\n\n| group | title | culprit | severity | count | priority | why |\n|---|---|---|---|---|---|---|\n" + rows;
  };
  section("Fixed: pull requests opened", {"pr_opened", "existing_pr"});
  section("Not reproduced (no PR)", {"not_reproduced"});
  section("Not fixed (no PR)", {"unfixable", "regression", "refused", "error"});
  section("To fix (P0/P1, in priority order)", {"not_attempted", "fix"});
  section("Alerts: a human decides", {"alert"});
  section("Open fixhost PRs", {"open_pr"});
  section("Over this run's limit (--max-fixes)", {"over_limit"});
  section("Documented, not fixed (P2)", {"document"});
  section("Skipped", {"skip"});
  if (!r.alerts.empty()) {
    md += "\n## Alerts sent\n\n";
    for (const auto& a : r.alerts) md += "- " + a + "\n";
  }
  if (!r.fetch.warnings.empty()) {
    md += "\n## Warnings\n\n";
    for (const auto& w : r.fetch.warnings) md += "- " + w + "\n";
  }
  return md;
}

}  // namespace

Result<HealResult> run_heal(const Config& config, const HealOptions& o) {
  HealResult res;
  auto progress = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  std::optional<SentryApiConfig> api = o.api;
  if (!api && o.source != "log") {
    auto from_env = sentry_api_from_env();
    if (!from_env) return from_env.status();
    api = *from_env;
  }
  if (!o.source.empty() && o.source != "log" && o.source != "api")
    return make_error(Errc::invalid_argument, "--source '" + o.source + "' is not log or api");
  res.source = o.source.empty() ? (api ? "api" : "log") : o.source;
  if (res.source == "api" && !api)
    return make_error(Errc::invalid_argument,
                      "--source api needs SENTRY_ORG and SENTRY_AUTH_TOKEN in the environment (SENTRY_URL defaults to "
                      "https://sentry.io); or use --source log for what hostctl serve recorded");

  // The run (a writer), or for a dry run a reader.
  std::unique_ptr<RunContext> run;
  std::unique_ptr<store::EventLog> reader;
  const store::EventLog* log = nullptr;
  LoadReport plugins;
  if (!o.dry_run) {
    RunOptions ro;
    ro.store_dir = o.store_dir;
    ro.extra_plugin_dirs = o.extra_plugin_dirs;
    ro.mode = "heal";
    ro.argv = o.argv;
    auto started = RunContext::start(config, ro);
    if (!started) return started.status();
    run = std::move(*started);
    log = &run->log();
    res.run = run->id();
  } else {
    store::StoreOptions so;
    so.writable = false;
    so.create_if_missing = false;
    auto opened = store::EventLog::open(o.store_dir, so);
    if (opened) {
      reader = std::move(*opened);
      log = reader.get();
    } else if (opened.status().code() != Errc::not_found || res.source != "api") {
      return opened.status();
    }
    plugins = load_configured_plugins(config, o.extra_plugin_dirs);
  }
  const auto& loaded = run ? run->plugins().loaded : plugins.loaded;
  const std::int64_t now = events::now_us();

  // SOURCE
  std::vector<events::Event> facts;
  if (log) {
    auto st = log->scan_type(events::EventType::SentryIssueIngested, [&](const events::Event& e) {
      facts.push_back(e);
      return true;
    });
    if (!st) return st;
  }
  if (res.source == "api") {
    const std::int64_t fresh = now - static_cast<std::int64_t>(config.heal.api_cache.count()) * 1000000;
    for (const auto& e : facts)
      if (e.ts_us >= fresh)
        if (auto p = events::decode<events::SentryIssueIngested>(e); p && p->via == "api") res.cached = true;
    if (res.cached) {
      progress("source api: using what was fetched within the last " + std::to_string(config.heal.api_cache.count()) +
               " s ([heal] api_cache); not fetching again");
    } else {
      progress("source api: fetching unresolved issues from " + api->url + " (org " + api->org + ")");
      auto fetched = fetch_unresolved(*api, o.fetch);
      if (!fetched) {
        if (run) (void)run->finish("error", 2, fetched.status().to_string());
        return fetched.status();
      }
      res.fetch = std::move(*fetched);
      std::uint64_t seq = log ? log->last_seq() : 0;
      for (const auto& issue : res.fetch.issues) {
        auto in = read_api_issue(issue.issue_json, issue.latest_json);
        if (in.status != 200) {
          res.fetch.warnings.push_back("issue " + issue.id + ": " + in.detail);
          continue;
        }
        for (auto& p : in.events) {
          if (run) {
            auto published = run->publish(p, run->started_seq());
            if (!published) return published.status();
            facts.push_back(published->front());
          } else {
            auto e = events::make_event(p, "dry-run");
            e.seq = ++seq;
            facts.push_back(std::move(e));
          }
        }
      }
      progress("source api: " + std::to_string(res.fetch.issues.size()) + " issues in " + std::to_string(res.fetch.pages) +
               " pages, " + std::to_string(res.fetch.requests) + " requests" +
               (res.fetch.rate_limited ? ", " + std::to_string(res.fetch.rate_limited) + " rate-limited and waited out" : ""));
    }
  }

  // TRIAGE
  TriageQuery q;
  q.since_us = o.since_us.value_or(now - 24LL * 3600 * 1000000);
  q.now_us = now;
  auto view = triage_events(facts, loaded, q);
  if (!view) {
    if (run) (void)run->finish("error", 2, view.status().to_string());
    return view.status();
  }
  res.triage = std::move(*view);

  // RATE GUARD
  const std::uint64_t limit = config.heal.max_errors_per_hour;
  res.rate_guard = res.triage.errors_last_hour > limit;
  auto alert = [&](const std::string& reason, const std::string& summary, const std::string& detail, double rate) -> Status {
    res.alerts.push_back(summary);
    if (!run) return Status::ok();
    events::HumanAlert a;
    a.reason = reason;
    a.summary = summary;
    a.detail = detail;
    a.error_rate = rate;
    auto r = run->publish(a, run->started_seq());
    return r ? Status::ok() : r.status();
  };
  if (res.rate_guard) {
    const double per_minute = static_cast<double>(res.triage.errors_last_hour) / 60.0;
    auto st = alert("infrastructure",
                    std::to_string(res.triage.errors_last_hour) + " errors in the last hour, above [heal] max_errors_per_hour = " +
                        std::to_string(limit) + ": looks like infrastructure, not code; no fix attempted",
                    std::to_string(res.triage.groups.size()) + " groups; " + std::to_string(res.triage.events) +
                        " events in the window",
                    per_minute);
    if (!st) return st;
  }

  // SELECT
  std::set<std::string> open_prs;
  if (log) {
    std::map<std::uint64_t, std::string> by_number;
    (void)log->scan_type(events::EventType::PrOpened, [&](const events::Event& e) {
      if (auto p = events::decode<events::PrOpened>(e)) by_number[p->number] = p->issue_id;
      return true;
    });
    (void)log->scan_type(events::EventType::PrResolved, [&](const events::Event& e) {
      if (auto p = events::decode<events::PrResolved>(e)) by_number.erase(p->number);
      return true;
    });
    for (const auto& [n, issue] : by_number) open_prs.insert(issue);
  }
  const int max_fixes = o.max_fixes.value_or(config.heal.max_fixes);
  int selected = 0;
  for (const auto& g : res.triage.groups) {
    HealAction a;
    a.group = g;
    if (g.decision == "skip") {
      a.action = "skip";
      a.why = g.reason;
    } else if (g.decision == "document") {
      a.action = "document";
      a.why = g.reason;
    } else if (g.decision == "human") {
      a.action = "alert";
      a.why = g.reason;
      auto st = alert("protected_path", g.severity + " in protected code, never fixed automatically: " + g.title,
                      "group " + g.group + ", culprit " + g.culprit + ": " + g.reason, 0);
      if (!st) return st;
    } else if (res.rate_guard) {
      a.action = "skip";
      a.why = "rate guard: " + std::to_string(res.triage.errors_last_hour) + " errors in the last hour";
    } else if (open_prs.count(g.issue_id) || open_prs.count(g.group)) {
      a.action = "open_pr";
      a.why = "a fixhost PR for this group is open";
    } else if (selected >= max_fixes) {
      a.action = "over_limit";
      a.why = "--max-fixes " + std::to_string(max_fixes) + " reached";
    } else {
      ++selected;
      a.action = "not_attempted";
      a.why = o.dry_run ? "dry run" : config.agent.empty() ? k_no_agent : "";
    }
    res.actions.push_back(std::move(a));
  }

  // FIX: each selected group through the shared engine (fix.hpp), in priority order, within
  // [heal] budget.
  int prs = 0;
  const auto deadline = engine::Clock::now() + config.heal.budget;
  std::string cost_stop;  // why a cost cap stopped the fixing (docs/USAGE.md)
  for (auto& a : res.actions) {
    if (a.action != "not_attempted" || !a.why.empty() || !run) continue;
    if (engine::Clock::now() >= deadline) {
      a.why = "the heal run's budget ([heal] budget) ran out";
      continue;
    }
    if (!cost_stop.empty()) {
      a.why = cost_stop;
      continue;
    }
    auto latest = run->log().get(a.group.latest_seq);
    if (!latest) return latest.status();
    auto ingested = events::decode<events::SentryIssueIngested>(*latest);
    if (!ingested) return ingested.status();
    FixGroupOptions fo;
    fo.store_dir = o.store_dir;
    fo.agent = config.agent;
    fo.deadline = deadline;
    fo.progress = o.progress;
    auto fixed = fix_group(*run, config, a.group, *ingested, fo);
    if (!fixed) return fixed.status();
    a.action = fixed->outcome;
    a.why = fixed->why;
    if (fixed->outcome == "pr_opened" || fixed->outcome == "existing_pr") ++prs;
    if (fixed->outcome == "budget_exceeded") cost_stop = fixed->why;
  }

  // REPORT
  res.report = report_markdown(res, config);
  res.exit_code = res.rate_guard ? 4 : !cost_stop.empty() ? 3 : selected > prs ? 1 : 0;
  if (!o.report_file.empty() && !o.dry_run) {
    std::ofstream out(o.report_file);
    out << res.report;
    if (!out) return make_error(Errc::io_error, "cannot write the report to '" + o.report_file.string() + "'");
  }
  if (run) {
    events::ReportWritten rw;
    rw.kind = "incident";
    rw.path = o.report_file.string();
    rw.markdown.data = res.report;
    rw.markdown.total_bytes = res.report.size();
    if (auto r = run->publish(rw, run->started_seq()); !r) return r.status();
    if (!config.heal.report_webhook.empty()) {
      http::HttpRequest post;
      post.method = "POST";
      post.url = config.heal.report_webhook;
      post.headers = {{"Content-Type", "application/json"}};
      post.body = nlohmann::json{{"text", res.report}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      post.timeout = std::chrono::seconds(10);
      auto sent = http::fetch(post);
      if (!sent) res.fetch.warnings.push_back("report_webhook: " + sent.status().message());
      else if (sent->status / 100 != 2) res.fetch.warnings.push_back("report_webhook answered HTTP " + std::to_string(sent->status));
    }
    std::string summary = std::to_string(res.triage.groups.size()) + " groups, " + std::to_string(selected) +
                          " to fix, " + std::to_string(prs) + " PR(s) opened, " + std::to_string(res.alerts.size()) + " alerts";
    if (res.rate_guard) summary = "rate guard: " + std::to_string(res.triage.errors_last_hour) + " errors in the last hour; " + summary;
    (void)run->finish(res.exit_code == 0 ? "ok" : res.exit_code == 3 ? "budget_exceeded" : "unfixable", res.exit_code, summary);
  }
  return res;
}

nlohmann::ordered_json to_json(const HealResult& r) {
  nlohmann::ordered_json j;
  j["run"] = r.run;
  j["source"] = r.source;
  j["cached"] = r.cached;
  j["fetch"] = {{"issues", r.fetch.issues.size()},   {"pages", r.fetch.pages},
                {"requests", r.fetch.requests},       {"rate_limited", r.fetch.rate_limited},
                {"waited_ms", r.fetch.waited_ms},     {"warnings", r.fetch.warnings}};
  j["events"] = r.triage.events;
  j["errors_last_hour"] = r.triage.errors_last_hour;
  j["rate_guard"] = r.rate_guard;
  j["groups"] = nlohmann::ordered_json::array();
  for (const auto& a : r.actions) {
    auto g = to_json(a.group);
    g["action"] = a.action;
    g["why"] = a.why;
    j["groups"].push_back(std::move(g));
  }
  j["alerts"] = r.alerts;
  j["exit_code"] = r.exit_code;
  j["report"] = r.report;
  return j;
}

namespace {

// "2026-12-02T06:00:00Z" (gh's mergedAt) -> microseconds since the epoch; 0 when unreadable.
std::int64_t parse_iso_us(const std::string& s) {
  std::tm tm{};
  if (s.size() < 19 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000000;
}

}  // namespace

Result<VerifyResult> run_heal_verify(const Config& config, const VerifyOptions& o) {
  RunOptions ro;
  ro.store_dir = o.store_dir;
  ro.extra_plugin_dirs = o.extra_plugin_dirs;
  ro.mode = "heal";
  ro.argv = o.argv;
  auto started = RunContext::start(config, ro);
  if (!started) return started.status();
  RunContext& run = **started;
  VerifyResult res;
  res.run = run.id();
  auto& log = run.log();

  std::map<std::uint64_t, events::PrOpened> opened;
  std::map<std::uint64_t, events::PrResolved> resolved;
  std::map<std::uint64_t, bool> settled;  // an ErrorRecurrenceChecked that said stopped or recurred
  Status st = log.scan_type(events::EventType::PrOpened, [&](const events::Event& e) {
    if (auto p = events::decode<events::PrOpened>(e)) opened[p->number] = *p;
    return true;
  });
  if (st) st = log.scan_type(events::EventType::PrResolved, [&](const events::Event& e) {
    if (auto p = events::decode<events::PrResolved>(e)) resolved[p->number] = *p;
    return true;
  });
  if (st) st = log.scan_type(events::EventType::ErrorRecurrenceChecked, [&](const events::Event& e) {
    if (auto p = events::decode<events::ErrorRecurrenceChecked>(e); p && (p->stopped || p->events_since > 0))
      settled[p->pr_number] = true;
    return true;
  });
  if (!st) return st;

  // Per-event group membership and release, for recurrence.
  struct Seen {
    std::int64_t ts_us;
    std::string release;
  };
  std::map<std::string, std::vector<Seen>> by_group;
  std::vector<events::Event> facts;
  (void)log.scan_type(events::EventType::SentryIssueIngested, [&](const events::Event& e) {
    facts.push_back(e);
    return true;
  });
  TriageQuery q;
  q.on_verdict = [&](const events::Event& fact, const events::IssueTriaged& t) {
    by_group[t.issue_id].push_back({fact.ts_us, t.release});
    if (t.group != t.issue_id) by_group[t.group].push_back({fact.ts_us, t.release});
  };
  if (!opened.empty()) {
    auto view = triage_events(facts, run.plugins().loaded, q);
    if (!view) return view.status();
  }
  const std::int64_t now = events::now_us();

  for (const auto& [number, pr] : opened) {
    PrCheck c;
    c.number = number;
    c.issue_id = pr.issue_id;
    c.url = pr.url;
    std::int64_t merged_us = 0;
    if (auto r = resolved.find(number); r != resolved.end()) {
      c.state = r->second.state;
      c.human_commits = r->second.human_commits;
      merged_us = r->second.resolved_at_us;
    } else {
      ProcessSpec spec;
      spec.argv = {config.heal.gh, "pr", "view", std::to_string(number), "--json", "state,mergedAt,commits,reviews"};
      spec.cwd = config.repo.string();
      spec.timeout = std::chrono::seconds(60);
      spec.interruptible = false;
      auto ran = run_process(spec);
      const std::string out = ran ? ran->output.data : std::string();
      auto lb = out.find('{'), rb = out.rfind('}');
      auto j = lb == std::string::npos || rb == std::string::npos ? nlohmann::json()
                                                                   : nlohmann::json::parse(out.substr(lb, rb - lb + 1), nullptr, false);
      if (!ran || !ran->spawn_error.empty() || ran->exit_code != 0 || !j.is_object()) {
        c.state = "unknown";
        c.error = "`" + config.heal.gh + " pr view " + std::to_string(number) + "` failed: " +
                  (ran ? (ran->spawn_error.empty() ? one_line(out, 200) : ran->spawn_error) : ran.status().message()) +
                  "; check gh auth status, or [heal] gh";
        res.exit_code = 2;
        res.prs.push_back(std::move(c));
        continue;
      }
      const std::string state = j.value("state", "");
      c.state = state == "MERGED" ? "merged" : state == "CLOSED" ? "closed" : "open";
      if (j.contains("commits") && j["commits"].is_array())
        for (const auto& commit : j["commits"]) {
          const std::string headline = commit.is_object() ? commit.value("messageHeadline", "") : "";
          if (headline.rfind("fix: [Sentry-", 0) != 0) ++c.human_commits;
        }
      if (c.state == "merged" && config.heal.resolve) {
        // [heal] resolve: the Sentry issue is resolved in the next release (only for an issue
        // id Sentry gave; a group made by fixhost from SDK events has none).
        auto api = sentry_api_from_env();
        if (!api || !*api) {
          c.error = "[heal] resolve = true needs SENTRY_ORG and SENTRY_AUTH_TOKEN; the issue was not resolved";
        } else if (pr.issue_id.find_first_not_of("0123456789") == std::string::npos && !pr.issue_id.empty()) {
          if (auto st = resolve_in_next_release(**api, pr.issue_id); !st) c.error = st.message();
          else c.resolved_in_sentry = true;
        }
      }
      if (c.state != "open") {
        events::PrResolved pr_resolved;
        pr_resolved.number = number;
        pr_resolved.state = c.state;
        pr_resolved.human_commits = c.human_commits;
        pr_resolved.resolved_at_us = c.state == "merged" ? parse_iso_us(j.value("mergedAt", "")) : now;
        if (pr_resolved.resolved_at_us == 0) pr_resolved.resolved_at_us = now;
        pr_resolved.issue_id = pr.issue_id;
        if (auto r = run.publish(pr_resolved, run.started_seq()); !r) return r.status();
        merged_us = pr_resolved.resolved_at_us;
      }
    }
    if (c.state == "merged" && !settled.count(number)) {
      std::set<std::string> before;
      for (const auto& s : by_group[pr.issue_id])
        if (s.ts_us < merged_us) before.insert(s.release);
      for (const auto& s : by_group[pr.issue_id])
        if (s.ts_us >= merged_us && !before.count(s.release)) ++c.events_since;
      const bool waited = now - merged_us >= static_cast<std::int64_t>(o.window.count()) * 1000000;
      c.recurrence = c.events_since > 0 ? "recurred" : waited ? "stopped" : "too_early";
      events::ErrorRecurrenceChecked rc;
      rc.issue_id = pr.issue_id;
      rc.pr_number = number;
      rc.stopped = c.recurrence == "stopped";
      rc.events_since = c.events_since;
      rc.window_s = o.window.count();
      if (auto r = run.publish(rc, run.started_seq()); !r) return r.status();
    } else if (c.state == "merged") {
      c.recurrence = "settled before";
    }
    res.prs.push_back(std::move(c));
  }
  (void)run.finish(res.exit_code == 0 ? "ok" : "error", res.exit_code,
                   std::to_string(res.prs.size()) + " fixhost PRs checked");
  return res;
}

nlohmann::ordered_json to_json(const VerifyResult& r) {
  nlohmann::ordered_json j;
  j["run"] = r.run;
  j["prs"] = nlohmann::ordered_json::array();
  for (const auto& c : r.prs)
    j["prs"].push_back({{"number", c.number}, {"issue_id", c.issue_id}, {"url", c.url}, {"state", c.state},
                        {"human_commits", c.human_commits}, {"recurrence", c.recurrence},
                        {"events_since", c.events_since}, {"resolved_in_sentry", c.resolved_in_sentry},
                        {"error", c.error}});
  j["exit_code"] = r.exit_code;
  return j;
}

}  // namespace fixhost::host::heal
