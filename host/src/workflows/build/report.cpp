// The build report (report.hpp).
#include "fixhost/host/build/report.hpp"

#include <cstdio>
#include <sstream>

#include "fixhost/events/codec.hpp"
#include "text.hpp"

namespace fixhost::host::build {
namespace {

std::string seconds(std::int64_t ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1fs", static_cast<double>(ms) / 1000.0);
  return b;
}

std::string fixed2(std::optional<double> v) {
  if (!v) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", *v);
  return b;
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.resize(w, ' ');
  return s;
}

struct Row {
  std::string stream, role, agent, duration, files, outcome;
};

std::vector<Row> rows(const BuildRecord& r) {
  std::vector<Row> out;
  for (const auto& p : r.planned) {
    Row row{p.stream, p.role, p.agent, "-", "-", "not finished"};
    if (row.agent.size() > 32) row.agent = row.agent.substr(0, 29) + "...";
    if (const auto* f = r.finished_of(p.stream)) {
      row.duration = seconds(f->duration_ms);
      row.files = std::to_string(f->files.size());
      row.outcome = f->outcome;
      if (!f->stray.empty()) row.outcome += " (outside owns: " + join(f->stray) + ")";
      else if (!f->detail.empty() && f->outcome != "ok") row.outcome += " (" + f->detail + ")";
    }
    out.push_back(std::move(row));
  }
  return out;
}

struct Figures {
  std::int64_t wall = 0, serial = 0, critical = 0;
  std::vector<std::string> chain;
  std::optional<double> speedup, overhead;
  std::optional<double> streams_speedup;  // serial sum / the streams' part of the wall clock
};

Figures figures(const BuildRecord& r) {
  Figures f;
  auto t = r.timings();
  f.serial = serial_sum(t);
  auto cp = critical_path(t, r.merged ? r.merged->merge_ms : 0, r.merged ? r.merged->integration_ms : 0);
  f.critical = cp.ms;
  f.chain = cp.chain;
  if (r.merged) {
    f.wall = r.merged->wall_ms;
    if (r.merged->critical_ms) f.critical = r.merged->critical_ms;
  }
  f.speedup = speedup(f.serial, f.wall);
  f.overhead = overhead(f.wall, f.critical);
  if (r.merged) f.streams_speedup = speedup(f.serial, f.wall - r.merged->merge_ms - r.merged->integration_ms);
  return f;
}

std::string verdict(const BuildRecord& r) {
  if (!r.merged) return r.outcome.empty() ? "not merged (the build did not get that far)" : "not merged: " + r.outcome;
  if (r.merged->integration_passed)
    return "landed: " + (r.merged->commit.empty() ? std::string("(no commit)") : r.merged->commit.substr(0, 12)) +
           " on fixhost/build-" + r.run_id;
  std::string owners;
  for (const auto& c : r.checks)
    if (!c.passed && c.kind == r.merged->failure_cause && !c.owners.empty()) owners = " (files owned by " + join(c.owners) + ")";
  return "nothing landed: " + (r.merged->failure_cause.empty() ? std::string("integration failed") : r.merged->failure_cause) +
         owners;
}

std::string resolution_line(const events::ConflictResolved& c) {
  return "resolver on " + join(c.files) + " (" + c.step + "): " + c.outcome + (c.detail.empty() ? "" : ": " + c.detail);
}

}  // namespace

const events::StreamFinished* BuildRecord::finished_of(const std::string& stream) const {
  for (const auto& f : finished)
    if (f.stream == stream) return &f;
  return nullptr;
}

std::vector<StreamTiming> BuildRecord::timings() const {
  std::vector<StreamTiming> out;
  for (const auto& p : planned) {
    const auto* f = finished_of(p.stream);
    if (!f || f->outcome == "skipped") continue;
    out.push_back({p.stream, p.depends_on, f->started_ms, f->duration_ms});
  }
  return out;
}

BuildRecord collect_build(const std::vector<events::Event>& evs) {
  using events::EventType;
  BuildRecord r;
  for (const auto& e : evs) {
    if (r.run_id.empty()) r.run_id = e.run_id;
    switch (e.type) {
      case EventType::StreamPlanned:
        if (auto p = events::decode<events::StreamPlanned>(e)) {
          if (r.feature.empty()) r.feature = p->feature, r.spec = p->spec;
          r.planned.push_back(std::move(*p));
        }
        break;
      case EventType::StreamFinished:
        if (auto p = events::decode<events::StreamFinished>(e)) r.finished.push_back(std::move(*p));
        break;
      case EventType::WorktreeCreated:
        if (auto p = events::decode<events::WorktreeCreated>(e)) r.worktrees.push_back(std::move(*p));
        break;
      case EventType::MergePlanned:
        if (auto p = events::decode<events::MergePlanned>(e)) r.plan = std::move(*p);
        break;
      case EventType::MergeConflict:
        if (auto p = events::decode<events::MergeConflict>(e)) r.conflicts.push_back(std::move(*p));
        break;
      case EventType::ConflictResolved:
        if (auto p = events::decode<events::ConflictResolved>(e)) r.resolutions.push_back(std::move(*p));
        break;
      case EventType::IntegrationChecked:
        if (auto p = events::decode<events::IntegrationChecked>(e)) r.checks.push_back(std::move(*p));
        break;
      case EventType::WorktreesMerged:
        if (auto p = events::decode<events::WorktreesMerged>(e)) r.merged = std::move(*p);
        break;
      case EventType::RunFinished:
        if (auto p = events::decode<events::RunFinished>(e)) r.outcome = p->outcome;
        break;
      default:
        break;
    }
  }
  return r;
}

std::string report_table(const BuildRecord& r) {
  std::ostringstream os;
  os << "build " << r.run_id << ": " << r.feature << (r.spec.empty() ? "" : " (spec " + r.spec + ")") << "\n\n";
  auto rs = rows(r);
  std::size_t w[5] = {6, 4, 5, 8, 5};
  for (const auto& x : rs) {
    w[0] = std::max(w[0], x.stream.size()), w[1] = std::max(w[1], x.role.size());
    w[2] = std::max(w[2], x.agent.size()), w[3] = std::max(w[3], x.duration.size());
    w[4] = std::max(w[4], x.files.size());
  }
  os << pad("STREAM", w[0] + 2) << pad("ROLE", w[1] + 2) << pad("AGENT", w[2] + 2) << pad("DURATION", w[3] + 2)
     << pad("FILES", w[4] + 2) << "OUTCOME\n";
  for (const auto& x : rs)
    os << pad(x.stream, w[0] + 2) << pad(x.role, w[1] + 2) << pad(x.agent, w[2] + 2) << pad(x.duration, w[3] + 2)
       << pad(x.files, w[4] + 2) << x.outcome << "\n";
  auto f = figures(r);
  os << "\ntimeline:\n";
  for (const auto& line : gantt(r.timings(), f.wall)) os << "  " << line << "\n";
  if (r.plan) {
    os << "\nmerge order: " << (r.plan->order.empty() ? "(nothing to merge)" : join(r.plan->order, " -> ")) << "\n";
    for (const auto& x : r.plan->excluded) os << "  not merged: " << x << "\n";
    for (const auto& d : r.plan->decisions)
      os << "  " << d.file << ": " << d.resolution << (d.winner.empty() ? "" : " (" + d.winner + ")") << " ["
         << join(d.streams) << "]\n";
  }
  for (const auto& c : r.conflicts)
    os << "  conflict " << c.file << " (" << c.resolution << ", " << join(c.streams.empty() ? std::vector<std::string>{c.stream} : c.streams)
       << ")" << (c.detail.empty() ? "" : ": " + c.detail) << "\n";
  for (const auto& c : r.resolutions) os << "  " << resolution_line(c) << "\n";
  if (!r.checks.empty()) {
    os << "\nintegration:\n";
    for (const auto& c : r.checks) {
      os << "  " << (c.passed ? "pass " : "FAIL ") << pad(c.kind, 15) << join(c.argv, " ") << "  " << seconds(c.duration_ms);
      if (!c.passed && !c.owners.empty()) os << "  (owned by " << join(c.owners) << ")";
      os << "\n";
    }
  }
  os << "\n" << verdict(r) << "\n";
  os << "wall " << seconds(f.wall) << ", serial sum " << seconds(f.serial) << ", critical path " << seconds(f.critical)
     << (f.chain.empty() ? "" : " (" + join(f.chain, " -> ") + ")") << "\n";
  os << "speed-up " << fixed2(f.speedup) << "x (serial / wall), overhead " << fixed2(f.overhead)
     << " (wall / critical path); the streams alone " << fixed2(f.streams_speedup)
     << "x (serial / wall without merge and integration)\n";
  return os.str();
}

std::string report_markdown(const BuildRecord& r) {
  std::ostringstream os;
  os << "# fixhost build " << r.run_id << ": " << r.feature << "\n\n";
  if (!r.spec.empty()) os << "Spec: `" << r.spec << "`\n\n";
  os << "**" << verdict(r) << "**\n\n";
  os << "| stream | role | agent | duration | files | outcome |\n|---|---|---|---|---|---|\n";
  for (const auto& x : rows(r))
    os << "| " << x.stream << " | " << x.role << " | `" << x.agent << "` | " << x.duration << " | " << x.files << " | "
       << x.outcome << " |\n";
  auto f = figures(r);
  os << "\n## Timeline\n\n```\n";
  for (const auto& line : gantt(r.timings(), f.wall)) os << line << "\n";
  os << "```\n";
  if (r.plan) {
    os << "\n## Merge\n\nOrder: " << (r.plan->order.empty() ? "(nothing)" : join(r.plan->order, " → ")) << "\n\n";
    for (const auto& x : r.plan->excluded) os << "- not merged: " << x << "\n";
    for (const auto& d : r.plan->decisions)
      os << "- `" << d.file << "`: " << d.resolution << (d.winner.empty() ? "" : " (" + d.winner + ")") << "\n";
    for (const auto& c : r.conflicts) {
      os << "- conflict `" << c.file << "` (" << c.resolution << ")" << (c.detail.empty() ? "" : ": " + c.detail) << "\n";
      if (!c.hunks.data.empty()) os << "\n```\n" << c.hunks.data << (c.hunks.data.back() == '\n' ? "" : "\n") << "```\n";
    }
  }
  for (const auto& c : r.resolutions) os << "- " << resolution_line(c) << "\n";
  if (!r.checks.empty()) {
    os << "\n## Integration\n\n| step | command | result | owners |\n|---|---|---|---|\n";
    for (const auto& c : r.checks)
      os << "| " << c.kind << " | `" << join(c.argv, " ") << "` | " << (c.passed ? "pass" : "fail") << " | "
         << join(c.owners) << " |\n";
  }
  os << "\n## Figures\n\n| figure | value |\n|---|---|\n";
  os << "| wall clock | " << seconds(f.wall) << " |\n| serial sum | " << seconds(f.serial) << " |\n";
  os << "| critical path | " << seconds(f.critical) << " (" << join(f.chain, " → ") << ") |\n";
  os << "| speed-up (serial / wall) | " << fixed2(f.speedup) << " |\n| overhead (wall / critical) | "
     << fixed2(f.overhead) << " |\n| speed-up of the streams alone (serial / wall without merge and integration) | "
     << fixed2(f.streams_speedup) << " |\n";
  return os.str();
}

nlohmann::ordered_json report_json(const BuildRecord& r) {
  nlohmann::ordered_json j;
  j["run"] = r.run_id;
  j["feature"] = r.feature;
  j["spec"] = r.spec;
  j["outcome"] = r.outcome;
  j["streams"] = nlohmann::ordered_json::array();
  for (const auto& p : r.planned) {
    nlohmann::ordered_json s = {{"stream", p.stream}, {"role", p.role}, {"agent", p.agent}, {"depends_on", p.depends_on}};
    if (const auto* f = r.finished_of(p.stream)) {
      s["outcome"] = f->outcome;
      s["started_ms"] = f->started_ms;
      s["duration_ms"] = f->duration_ms;
      s["files"] = f->files;
      s["stray"] = f->stray;
      s["commit"] = f->commit;
      s["base_commit"] = f->base_commit;
      s["summary"] = f->summary;
      s["detail"] = f->detail;
    } else {
      s["outcome"] = nullptr;
    }
    j["streams"].push_back(s);
  }
  if (r.plan) {
    j["merge"]["order"] = r.plan->order;
    j["merge"]["excluded"] = r.plan->excluded;
    j["merge"]["decisions"] = nlohmann::ordered_json::array();
    for (const auto& d : r.plan->decisions)
      j["merge"]["decisions"].push_back({{"file", d.file}, {"resolution", d.resolution}, {"winner", d.winner}, {"streams", d.streams}});
  }
  j["conflicts"] = nlohmann::ordered_json::array();
  for (const auto& c : r.conflicts)
    j["conflicts"].push_back({{"file", c.file}, {"stream", c.stream}, {"resolution", c.resolution}, {"detail", c.detail}});
  j["resolutions"] = nlohmann::ordered_json::array();
  for (const auto& c : r.resolutions)
    j["resolutions"].push_back({{"step", c.step}, {"files", c.files}, {"streams", c.streams}, {"outcome", c.outcome},
                                {"detail", c.detail}});
  j["integration"] = nlohmann::ordered_json::array();
  for (const auto& c : r.checks)
    j["integration"].push_back({{"kind", c.kind}, {"argv", c.argv}, {"passed", c.passed}, {"exit_code", c.exit_code},
                                {"duration_ms", c.duration_ms}, {"owners", c.owners}, {"files", c.files}});
  auto f = figures(r);
  j["figures"] = {{"wall_ms", f.wall}, {"serial_ms", f.serial}, {"critical_ms", f.critical}, {"critical_chain", f.chain},
                  {"speedup", f.speedup ? nlohmann::ordered_json(*f.speedup) : nullptr},
                  {"overhead", f.overhead ? nlohmann::ordered_json(*f.overhead) : nullptr},
                  {"streams_speedup", f.streams_speedup ? nlohmann::ordered_json(*f.streams_speedup) : nullptr}};
  if (r.merged) {
    j["landed"] = r.merged->integration_passed;
    j["commit"] = r.merged->commit;
    j["failure_cause"] = r.merged->failure_cause;
  }
  return j;
}

}  // namespace fixhost::host::build
