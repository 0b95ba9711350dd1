// One agent attempt: everything an agent can do is snapshotted, recorded and judged here.
#include "fixhost/host/engine/attempt.hpp"

#include "fixhost/host/spend.hpp"

#include "fixhost/events/codec.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/sandbox.hpp"
#include "fixhost/sdk/paths.hpp"
#include "fixhost/store/capture.hpp"

namespace fixhost::host::engine {
namespace fs = std::filesystem;

namespace {
constexpr std::size_t k_agent_output_cap = 256 * 1024;  // head and tail of an agent's output
constexpr std::size_t k_diff_cap = 4u << 20;             // head and tail of an attempt's diff in the log

std::string first_line(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }
}  // namespace

bool path_matches(const std::string& glob, const std::string& path) {
  auto g = sdk::Glob::compile(glob);
  return g && g->matches(path);
}

Result<AttemptOutcome> run_attempt(Session& s, const AgentCall& call) {
  AttemptOutcome out;
  std::error_code ec;
  fs::create_directories(call.dir, ec);
  if (auto st = write_file(call.dir / "prompt.md", call.prompt); !st) return st;
  fs::remove(call.dir / "summary.txt", ec);
  fs::remove(call.dir / "usage.json", ec);  // a fresh usage file per attempt: an old one is not this one's

  auto before = s.ws.snapshot();
  if (!before) return before.status();
  out.before = std::move(*before);
  if (s.ws.first_tree.empty()) s.ws.first_tree = out.before.tree;

  events::AttemptStarted as;
  as.test_id = call.test_id;
  as.attempt = call.attempt;
  as.agent = s.agent;
  as.category = call.category;
  as.prompt.data = call.prompt;
  as.prompt.total_bytes = call.prompt.size();
  as.sandbox = s.sandbox.state;
  if (auto r = s.run.publish(as, call.cause); !r) return r.status();

  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", s.agent};
  if (s.sandbox.on) {
    SandboxLayout layout = s.sandbox.layout;
    layout.scratch.push_back(call.dir);  // the summary and usage files are written there
    spec.argv = sandbox_argv(layout, spec.argv);
  }
  spec.cwd = s.ws.path().string();
  spec.env = call.env;
  spec.env["FIXHOST_PROMPT_FILE"] = (call.dir / "prompt.md").string();
  spec.env["FIXHOST_SUMMARY_FILE"] = (call.dir / "summary.txt").string();
  spec.env["FIXHOST_USAGE_FILE"] = (call.dir / "usage.json").string();
  spec.env["FIXHOST_ATTEMPT"] = std::to_string(call.attempt);
  spec.env["FIXHOST_RUN_ID"] = s.run.id();
  spec.env["FIXHOST_REPO"] = s.ws.path().string();
  const auto attempt_ms = call.timeout.count() > 0
                              ? call.timeout
                              : std::chrono::duration_cast<std::chrono::milliseconds>(s.cfg.attempt_budget);
  out.deadline_bound = s.remaining() < attempt_ms;
  out.timeout = attempt_ms;
  spec.timeout = std::max(std::chrono::milliseconds(1), std::min(attempt_ms, s.remaining()));
  spec.head_cap = spec.tail_cap = k_agent_output_cap;
  auto pr = run_process(spec);
  if (!pr) return pr.status();
  out.agent = std::move(*pr);
  ++s.agent_calls;

  auto after = s.ws.snapshot(&out.before);
  if (!after) {
    // The agent broke the worktree beyond what snapshot() reads: put .git back and retry once.
    if (auto st = s.ws.restore(out.before); !st) return st;
    after = s.ws.snapshot();
    if (!after) return after.status();
  }
  out.after = std::move(*after);

  auto& af = out.finished;
  af.test_id = call.test_id;
  af.attempt = call.attempt;
  af.category = call.category;
  af.agent_exit = out.agent.exit_code;
  af.signal = out.agent.signal;
  af.timed_out = out.agent.timed_out;
  af.duration_ms = out.agent.duration_ms;
  af.output = out.agent.output;
  if (!out.agent.spawn_error.empty()) af.output.data = out.agent.spawn_error + "\n" + af.output.data;
  af.summary = first_line(read_reachable(call.dir / "summary.txt"));
  {
    // What the agent says it spent (docs/USAGE.md); a bad file is unknown usage, never zero.
    auto usage = read_usage_file(call.dir / "usage.json");
    if (!usage.warning.empty()) {
      out.usage_warning = usage.warning;
      s.say("warning: `" + call.test_id + "` attempt " + std::to_string(call.attempt) + ": " + usage.warning);
    }
    af.usage = std::move(usage.usage);
  }
  const auto& wt = s.ws.path();
  auto diff = git::diff_trees(wt, out.before.tree, out.after.tree);
  if (!diff) return diff.status();
  {
    store::CappedCapture cap(k_diff_cap, k_diff_cap);  // size policy: docs/STORE.md
    cap.append(*diff);
    af.diff = std::move(cap).finish();
  }
  auto touched = git::changed_files(wt, out.before.tree, out.after.tree);
  if (!touched) return touched.status();
  af.files_touched = *touched;
  af.git_changes = s.ws.git_changes(out.before, out.after);
  af.escapes = s.ws.escapes(af.files_touched);
  auto derived = s.run.publish(af, call.cause);
  if (!derived) return derived.status();
  out.finished_seq = derived->front().seq;

  // The cost rails: the spend is the run's, over all its sessions.
  (void)s.run.spend().add(af.usage);
  const bool capped = s.cfg.max_cost_usd > 0 || s.cfg.max_attempt_cost_usd > 0;
  if (capped && !(af.usage.known && af.usage.cost_usd >= 0) && s.run.spend().first("unknown_cost_warning"))
    s.say("warning: `" + call.test_id + "` attempt " + std::to_string(call.attempt) +
          " reported no cost (no usable FIXHOST_USAGE_FILE): the cost caps cannot see it, nor any later attempt that "
          "reports none; the run's summary says how many (docs/USAGE.md)");
  if (s.cfg.max_attempt_cost_usd > 0 && af.usage.known && af.usage.cost_usd > s.cfg.max_attempt_cost_usd) {
    out.over_cost = true;
    out.rejections.push_back("attempt_cost: the attempt reported " + format_usd(af.usage.cost_usd) +
                             ", over max_attempt_cost_usd = " + format_usd(s.cfg.max_attempt_cost_usd));
    if (auto st = s.exceed_cost("attempt_cost", s.cfg.max_attempt_cost_usd, af.usage.cost_usd, call.test_id, call.attempt);
        !st)
      return st;
  }

  const std::string where = "`" + call.test_id + "` attempt " + std::to_string(call.attempt) + ": ";
  for (const auto& e : *derived)
    if (e.type == events::EventType::PluginFailed)
      if (auto pf = events::decode<events::PluginFailed>(e);
          pf && pf->trigger_seq == out.finished_seq && pf->plugin.rfind("policy@", 0) == 0) {
        // No verdict is not a pass: an attempt the rails could not judge is not kept.
        out.rejections.push_back("policy_unjudged: the policy plugin failed on this attempt: " + pf->error);
        s.violations.push_back(where + out.rejections.back());
      }
  for (const auto& e : *derived)
    if (e.type == events::EventType::PolicyViolation && e.causation == out.finished_seq)
      if (auto v = events::decode<events::PolicyViolation>(e)) {
        out.rejections.push_back(v->rule + (v->path.empty() ? "" : " " + v->path) + ": " + v->detail);
        s.violations.push_back(where + out.rejections.back());
      }
  for (const auto& t : af.files_touched) {
    std::string path = t.size() > 2 ? t.substr(2) : t;
    out.files.push_back(path);
  }

  // The host's own path rules for this call (a stream's `owns`, a test frozen by heal).
  auto host_rule = [&](const std::string& rule, const std::string& path, const std::string& detail) -> Status {
    events::PolicyViolation pv;
    pv.test_id = call.test_id;
    pv.attempt = call.attempt;
    pv.rule = rule;
    pv.path = path;
    pv.detail = detail;
    if (auto st = s.record(pv, out.finished_seq); !st) return st;
    out.rejections.push_back(rule + " " + path + ": " + detail);
    s.violations.push_back(where + out.rejections.back());
    return Status::ok();
  };
  for (const auto& t : af.files_touched) {
    // Both sides of a rename count.
    std::string path = t.size() > 2 ? t.substr(2) : t;
    std::vector<std::string> sides{path};
    if (auto arrow = path.find(" -> "); arrow != std::string::npos)
      sides = {path.substr(0, arrow), path.substr(arrow + 4)};
    for (const auto& p : sides) {
      for (const auto& g : call.frozen)
        if (path_matches(g, p)) {
          if (auto st = host_rule("frozen_path", p, "this attempt may not change '" + p + "' (matches '" + g + "')"); !st)
            return st;
          break;
        }
      if (call.tests_only && !sdk::is_test_file(p))
        if (auto st = host_rule("tests_only", p, "'" + p + "' is not a test file: this attempt may only add or change tests");
            !st)
          return st;
      if (!call.allowed.empty() &&
          std::none_of(call.allowed.begin(), call.allowed.end(), [&](const std::string& g) { return path_matches(g, p); })) {
        std::string list;
        for (const auto& g : call.allowed) list += (list.empty() ? "" : ", ") + g;
        if (auto st = host_rule(call.allowed_rule, p, "'" + p + "' is outside what this attempt may write (" + list + ")");
            !st)
          return st;
      }
    }
  }
  for (const auto& g : af.git_changes)
    if (g.find("the user's checkout") != std::string::npos) out.wrote_outside = true;
  return out;
}

Status revert_attempt(Session& s, const Snapshot& before, const std::string& test_id, std::uint32_t attempt,
                      const std::string& reason, const std::vector<std::string>& files) {
  if (auto st = s.ws.restore(before); !st) return st;
  events::Reverted r;
  r.test_id = test_id;
  r.attempt = attempt;
  r.reason = reason;
  r.files = files;
  return s.record(r);
}

Status alert_wrote_outside(Session& s, const std::string& what, std::uint32_t attempt) {
  events::HumanAlert alert;
  alert.reason = "other";
  alert.summary = "the agent changed files outside its worktree, in the user's checkout";
  alert.detail = "run " + s.run.id() + ", " + what + ", attempt " + std::to_string(attempt) + ": check `git -C " +
                 s.ws.repo().string() + " status`; fixhost cannot undo changes it never made";
  if (auto st = s.record(alert); !st) return st;
  s.stop = true;
  s.stop_reason = "the agent wrote outside its worktree; the run stopped (see the alert)";
  return Status::ok();
}

}  // namespace fixhost::host::engine
