// The autofix report: what a human reads at the end of a run.
#include <sstream>

#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/workflows/autofix.hpp"

namespace fixhost::host::autofix {

std::string report_markdown(const ReportInput& in) {
  const auto& r = *in.result;
  std::ostringstream out;
  out << "# fixhost autofix report: run " << r.run_id << "\n\n"
      << "- repository: `" << in.repo << "`\n"
      << "- branch: `" << r.branch << "` from `" << in.base_commit.substr(0, 12) << "`\n"
      << "- worktree: `" << r.worktree << "`\n"
      << "- result: **" << r.fixed + r.cured << "/" << r.total << " failures fixed**"
      << (r.commit.empty() && r.total > 0 ? " (nothing was committed)" : "") << "\n";
  if (r.cured > 0)
    out << "- of them cured without an agent call: " << r.cured << " (they passed once an earlier fix was made)\n";
  out << "- agent calls: " << r.agent_calls << "\n";
  if (r.agent_calls > 0) {
    const auto& sp = r.spend;
    out << "- agent cost: " << (sp.attempts_costed ? format_usd(sp.cost_usd) : std::string("unknown"));
    if (sp.attempts_costed)
      out << " (" << sp.attempts_costed << " attempt(s) reported it; " << sp.input_tokens << " input and "
          << sp.output_tokens << " output tokens)";
    if (sp.attempts_cost_unknown)
      out << "; " << sp.attempts_cost_unknown << " attempt(s) reported no cost: unknown, not zero (docs/USAGE.md)";
    out << "\n";
  }
  if (r.rounds.size() > 1) {
    out << "- rounds: " << r.rounds.size() << "\n";
    for (const auto& rd : r.rounds)
      out << "  - round " << rd.round << ": " << rd.test_ids.size() << " failure(s), found by " << rd.found_by << "\n";
  }
  if (!r.commit.empty())
    out << "- commit: `" << r.commit.substr(0, 12) << "` on `" << r.branch << "` (not pushed, not merged)\n";
  else
    out << "- commit: none" << (in.verify_note.empty() ? "" : " (" + in.verify_note + ")") << "\n";
  if (r.cost_exceeded) out << "- **a cost budget was reached**: " << r.stop_reason << "\n";
  else if (r.budget_exceeded) out << "- **a time budget ran out**; the run stopped early\n";
  out << "\n| round | file | test | category | attempts | cost | approach | outcome |\n|---|---|---|---|---|---|---|---|\n";
  // What a failure's attempts reported spending: "-" without an attempt, "unknown" when none
  // reported a cost, and the attempts that did not, beside the sum of those that did.
  auto cost = [](const FixOutcome& f) -> std::string {
    if (f.attempts_costed + f.attempts_cost_unknown == 0) return "-";
    if (f.attempts_costed == 0) return "unknown";
    std::string c = format_usd(f.cost_usd);
    if (f.attempts_cost_unknown) c += " + " + std::to_string(f.attempts_cost_unknown) + " unknown";
    return c;
  };
  auto cell = [](const std::string& s) {
    std::string o = one_line(s, 100);
    std::string esc;
    for (char c : o) esc += c == '|' ? std::string("\\|") : std::string(1, c);
    return esc;
  };
  for (const auto& f : r.fixes)
    out << "| " << f.round << " | " << cell(f.file + (f.line > 0 ? ":" + std::to_string(f.line) : "")) << " | "
        << cell(f.test_id) << " | " << f.category << " | " << f.attempts << " | " << cost(f) << " | "
        << cell(f.outcome == "cured" ? "cured by the fix for " + f.resolved_by : f.approach) << " | " << f.outcome
        << " |\n";
  bool any_unfixed = false;
  for (const auto& f : r.fixes)
    if (f.outcome != "fixed" && f.outcome != "cured") any_unfixed = true;
  if (any_unfixed) {
    out << "\n## Not fixed\n";
    for (const auto& f : r.fixes) {
      if (f.outcome == "fixed" || f.outcome == "cured") continue;
      out << "\n### `" << f.test_id << "` (" << f.outcome << ")\n\n- why: " << f.reason << "\n";
      if (!f.last_error.empty()) out << "- last error: `" << one_line(f.last_error, 300) << "`\n";
      if (!f.suggestion.empty()) out << "- suggested manual action: " << f.suggestion << "\n";
    }
  }
  if (!in.violations.empty()) {
    out << "\n## Policy violations (attempts reverted)\n\n";
    for (const auto& v : in.violations) out << "- " << v << "\n";
  }
  if (!in.regressions.empty()) {
    out << "\n## Regressions (fixes reverted)\n\n";
    for (const auto& v : in.regressions) out << "- " << v << "\n";
  }
  out << "\n## Next\n\n";
  if (!r.commit.empty())
    out << "- review: `git -C " << in.repo << " show " << r.branch << "`\n"
        << "- merge into your branch: `hostctl approve " << r.run_id << "` (add `--push` to push it)\n";
  out << "- remove the worktree and branch: `hostctl discard " << r.run_id << "`\n";
  return out.str();
}

}  // namespace fixhost::host::autofix
