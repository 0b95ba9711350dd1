#include "fixhost/host/engine/prompt.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include "fixhost/host/world/suite_runner.hpp"
#include "fixhost/sdk/stack_frames.hpp"
#include "fixhost/host/cli_util.hpp"

namespace fixhost::host::engine {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t k_max_diff_in_prompt = 6000;

// A source file of the worktree, read the way the agent cannot abuse (no symlink followed, no
// FIFO blocked on, capped).
std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> out;
  std::uint64_t total = 0, cut = 0;
  std::string why;
  std::istringstream in(read_report_file(p, 8u << 20, total, cut, why));
  std::string line;
  while (std::getline(in, line) && out.size() < 20000) out.push_back(line);
  return out;
}

// `path` as a file inside the worktree (tried as given, then under the suite's cwd); "" when it
// is not one (absolute paths elsewhere, "<frozen ...>", node internals).
std::string in_worktree(const fs::path& wt, const std::string& cwd, std::string path) {
  if (path.rfind("file://", 0) == 0) path.erase(0, 7);
  if (path.empty()) return "";
  fs::path p(path);
  std::error_code ec;
  const auto root = fs::weakly_canonical(wt, ec);
  std::vector<fs::path> candidates;
  if (p.is_absolute()) candidates.push_back(p);
  else {
    candidates.push_back(root / cwd / p);
    candidates.push_back(root / p);
  }
  for (const auto& c : candidates) {
    auto canon = fs::weakly_canonical(c, ec);
    if (ec || !fs::is_regular_file(canon, ec)) continue;
    auto rel = canon.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") continue;
    return rel.generic_string();
  }
  return "";
}

std::string language_of(const std::string& path) {
  auto ext = fs::path(path).extension().string();
  if (ext == ".py") return "python";
  if (ext == ".ts" || ext == ".tsx") return "typescript";
  if (ext == ".js" || ext == ".jsx" || ext == ".mjs" || ext == ".cjs") return "javascript";
  return "";
}

// Lines [from, to] of a file, numbered, with the failing line marked.
std::string excerpt(const fs::path& wt, const std::string& rel, std::int64_t line, std::int64_t before, std::int64_t after) {
  auto lines = read_lines(wt / rel);
  if (lines.empty()) return "";
  std::int64_t n = static_cast<std::int64_t>(lines.size());
  std::int64_t from = 1, to = n;  // a short file: all of it
  if (n > 120) {
    const std::int64_t at = std::max<std::int64_t>(line, 1);
    from = std::max<std::int64_t>(1, at - before);
    to = std::min<std::int64_t>(n, at + after);
  }
  std::ostringstream out;
  out << "```" << language_of(rel) << "\n";
  for (std::int64_t i = from; i <= to; ++i)
    out << (i == line ? ">" : " ") << std::string(i < 10 ? 3 : i < 100 ? 2 : i < 1000 ? 1 : 0, ' ') << i << "  "
        << lines[static_cast<std::size_t>(i - 1)] << "\n";
  out << "```\n";
  return out.str();
}

std::string capped(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  return s.substr(0, n) + "\n... (" + std::to_string(s.size() - n) + " more bytes)\n";
}

}  // namespace

nlohmann::json history_json(const std::vector<AttemptRecord>& history) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& h : history)
    arr.push_back({{"attempt", h.attempt}, {"diff", h.diff}, {"outcome", h.outcome}, {"reason", h.reason}});
  return arr;
}

std::string prompt_markdown(const PromptInput& in) {
  const auto& d = *in.failure;
  const auto& f = d.failure;
  std::ostringstream out;
  out << (in.command.empty() ? "# Fix one failing test\n\n" : "# Fix one failing check\n\n")
      << "You are working in `" << in.worktree.string() << "`, a git worktree made for this fix. Edit files in "
      << "place; do not commit, switch branches or touch `.git`. This is attempt " << in.attempt << " of "
      << in.max_attempts << ". Exit 0 when you have made a change, non-zero to give up on this failure. "
      << "Write one line describing your approach to the file named by `$FIXHOST_SUMMARY_FILE`.\n\n";

  std::set<std::string> shown;
  if (!in.command.empty()) {
    // A failing command (a type check, lint, a contract check): its output is the evidence.
    std::string cmd;
    for (const auto& a : in.command) cmd += (cmd.empty() ? "" : " ") + a;
    out << "## The failure\n\n"
        << "- command: `" << cmd << "` (run in the worktree's root) fails; it must exit 0\n"
        << "- check: `" << f.test_id << "`, category **" << d.category << "**\n";
    if (!f.file.empty()) out << "- first location: `" << f.file << (f.line > 0 ? ":" + std::to_string(f.line) : "") << "`\n";
    out << "- error: " << one_line(f.message, 400) << "\n\n";
    if (!f.stack_trace.empty()) out << "Its output:\n\n```\n" << capped(f.stack_trace, 8000) << "\n```\n\n";
    const std::string at = in_worktree(in.worktree, ".", f.file);
    if (!at.empty()) {
      out << "## The code (`" << at << "`)\n\n" << excerpt(in.worktree, at, f.line, 30, 10) << "\n";
      shown.insert(at);
    }
  } else {
    out << "## The failure\n\n"
        << "- test: `" << f.test_id << "` (" << f.runner << ", suite `" << f.suite << "`)\n"
        << "- where: `" << f.file << (f.line > 0 ? ":" + std::to_string(f.line) : "") << "`"
        << (f.phase.empty() || f.phase == "call" ? "" : " (" + f.phase + " phase)") << "\n"
        << "- category: **" << d.category << "**";
    if (d.confidence > 0) {
      char c[32];
      std::snprintf(c, sizeof c, " (confidence %.2f)", d.confidence);
      out << c;
    }
    out << "\n";
    for (const auto& e : d.evidence) out << "  - rule `" << e.rule << "` matched `" << one_line(e.matched, 120) << "`\n";
    out << "- error: `" << f.error_type << "`: " << one_line(f.message, 400) << "\n\n";
    if (!f.stack_trace.empty()) out << "```\n" << capped(f.stack_trace, 8000) << "\n```\n\n";

    const std::string test_file = in_worktree(in.worktree, in.suite_cwd, f.file);
    if (!test_file.empty()) {
      out << "## The test (`" << test_file << "`)\n\n" << excerpt(in.worktree, test_file, f.line, 30, 10) << "\n";
      shown.insert(test_file);
    }
    std::ostringstream frames;
    std::size_t n = 0;
    for (const auto& fr : sdk::parse_stack(f.stack_trace)) {
      auto rel = in_worktree(in.worktree, in.suite_cwd, fr.path);
      if (rel.empty() || rel.find("node_modules/") != std::string::npos) continue;
      if (!shown.insert(rel + ":" + std::to_string(fr.line)).second || rel == test_file) continue;
      frames << "### `" << rel << ":" << fr.line << "`\n\n" << excerpt(in.worktree, rel, fr.line, 12, 8) << "\n";
      if (++n == 5) break;
    }
    if (n > 0) out << "## Code at the failing frames (innermost first)\n\n" << frames.str();
  }

  if (!in.history.empty()) {
    out << "## Earlier attempts (all reverted)\n\n";
    for (const auto& h : in.history) {
      out << "### Attempt " << h.attempt << ": " << h.outcome << "\n\n" << h.reason << "\n\n";
      if (!h.diff.empty()) out << "```diff\n" << capped(h.diff, k_max_diff_in_prompt) << "```\n\n";
    }
    out << "Try a different approach.\n\n";
  }

  out << "## Rules (enforced by fixhost; a violation reverts the attempt)\n\n"
      << "- Do not touch protected code: authentication, payments and data deletion (docs/SAFETY.md lists the "
      << "default globs)";
  if (!in.protected_globs.empty()) {
    out << ", and:";
    for (const auto& g : in.protected_globs) out << " `" << g << "`";
  }
  out << ".\n";
  if (in.may_edit_tests)
    out << "- This is a stale mock: you may update the test's mocks, but do not delete, skip or weaken tests.\n";
  else
    out << "- Do not edit test files: fix the code under test.\n";
  out << "- Never skip, xfail, `.only`, delete or rename a test, and never remove or weaken an assertion.\n"
      << "- Stay inside this worktree: no symlinks or paths leading out of it, nothing under `.git`.\n";
  return out.str();
}

std::string suggestion_for(const std::string& category, const std::string& reason_kind, const std::string& error_type) {
  if (reason_kind == "policy")
    return "The fix seems to need a change the rails forbid (protected code or the test itself): make it by hand "
           "after reading the rejected diffs in the history.";
  if (reason_kind == "regression")
    return "Its fix broke another test: fix both together by hand, starting from the rejected diff.";
  if (reason_kind == "budget")
    return "The time budget ran out before this one was tried: re-run autofix, or raise `[budget] run` in fixhost.toml.";
  if (category == "missing_dependency")
    return "Install the missing package in the test environment and declare it in the project's dependencies.";
  if (category == "env_mismatch")
    return "Provide the configuration the test expects (environment variable, file, service) or give the code a "
           "safe default.";
  if (category == "flaky")
    return "Run the test repeatedly and look for order, time or shared-state dependence.";
  if (category == "stale_mock")
    return "Update the mock to the current interface of the code it stands in for.";
  if (error_type.find("Type") != std::string::npos)
    return "Check the types the failing frame receives against what its callers pass.";
  return "Read the last error and the attempts' diffs (`hostctl events --type AttemptFinished --json`) and fix it "
         "by hand.";
}

}  // namespace fixhost::host::engine
