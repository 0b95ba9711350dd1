// heal's FIX phase for one group (fix.hpp): REPRODUCE, FIX, VERIFY, COMMIT, PUSH, PR. Every
// agent call is an engine attempt; the fix is the engine's fix loop, not a copy of it.
#include "fixhost/host/heal/fix.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixhost/events/json.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/engine/attempt.hpp"
#include "fixhost/host/engine/fix_loop.hpp"
#include "fixhost/host/engine/verify.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/host/world/sandbox.hpp"

namespace fixhost::host::heal {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int k_reproduce_runs = 3;

std::string id_of(const TriageGroup& g) { return g.issue_id.empty() ? g.group : g.issue_id; }

// The innermost exception's frames from the payload as received (store/envelope JSON, or the
// REST API's camelCase entries), else the frames the ingest kept.
json frames_of(const events::SentryIssueIngested& e, json& raw_out) {
  json frames = json::array();
  raw_out = json::parse(e.raw.data, nullptr, false);
  const json* raw = raw_out.is_discarded() ? nullptr : &raw_out;
  auto pick = [](const json& f, std::initializer_list<const char*> keys) -> json {
    for (const char* k : keys)
      if (f.contains(k) && !f[k].is_null()) return f[k];
    return nullptr;
  };
  const json* values = nullptr;
  if (raw && raw->is_object()) {
    if (raw->contains("exception") && (*raw)["exception"].is_object() && (*raw)["exception"].contains("values"))
      values = &(*raw)["exception"]["values"];
    else if (raw->contains("entries") && (*raw)["entries"].is_array())  // REST: entries[type=exception].data.values
      for (const auto& en : (*raw)["entries"])
        if (en.value("type", "") == "exception" && en.contains("data") && en["data"].contains("values"))
          values = &en["data"]["values"];
  }
  if (values && values->is_array() && !values->empty()) {
    const json& last = values->back();
    const json* st = last.contains("stacktrace") && last["stacktrace"].is_object() ? &last["stacktrace"] : nullptr;
    if (st && st->contains("frames") && (*st)["frames"].is_array())
      for (const auto& f : (*st)["frames"]) {
        if (!f.is_object()) continue;
        frames.push_back({{"filename", pick(f, {"filename"})},
                          {"abs_path", pick(f, {"abs_path", "absPath"})},
                          {"module", pick(f, {"module"})},
                          {"function", pick(f, {"function"})},
                          {"lineno", pick(f, {"lineno", "lineNo"})},
                          {"context_line", pick(f, {"context_line", "context"})},
                          {"in_app", pick(f, {"in_app", "inApp"})}});
      }
  }
  if (frames.empty())
    for (const auto& f : e.frames)
      frames.push_back({{"filename", f.file}, {"abs_path", nullptr}, {"module", nullptr}, {"function", f.function},
                        {"lineno", f.line}, {"context_line", nullptr}, {"in_app", f.in_app}});
  return frames;
}

json error_json(const TriageGroup& g, const events::SentryIssueIngested& e) {
  json raw;
  json frames = frames_of(e, raw);
  json out = {{"id", id_of(g)},         {"group", g.group},         {"title", g.title},
              {"culprit", g.culprit},   {"level", g.level},         {"count", g.count},
              {"users", g.users},       {"release", e.release},     {"environment", e.environment},
              {"exception_type", e.exception_type}, {"exception_value", e.exception_value},
              {"frames", frames}};
  if (raw.is_object()) {
    if (raw.contains("request")) out["request"] = raw["request"];
    if (raw.contains("tags")) out["tags"] = raw["tags"];
  }
  return out;
}

std::string reproduce_prompt(const json& err, const fs::path& wt) {
  std::ostringstream md;
  md << "# Reproduce a production error with a failing test\n\n"
     << "Production raised **" << err["title"].get<std::string>() << "** (" << err["count"].get<std::uint64_t>()
     << " events, level " << err["level"].get<std::string>() << ", release "
     << err["release"].get<std::string>() << ").\n\n"
     << "Write a NEW test file that reproduces it: on the code as it is now the test must fail with `"
     << err["exception_type"].get<std::string>()
     << "`, every time. Change nothing but test files: do not fix the bug (that is the next phase), "
        "do not edit source files. The host runs your test three times on the unchanged code.\n\n"
     << "The error's details are in $FIXHOST_ERROR_FILE (JSON). Its stack trace, innermost last:\n\n";
  for (const auto& f : err["frames"]) {
    const std::string file = f["filename"].is_string() ? f["filename"].get<std::string>() : "?";
    md << "- `" << file << ":" << (f["lineno"].is_number() ? std::to_string(f["lineno"].get<std::int64_t>()) : "?")
       << "` in `" << (f["function"].is_string() ? f["function"].get<std::string>() : "?") << "`"
       << (f["in_app"].is_boolean() && !f["in_app"].get<bool>() ? " (not the app's code)" : "") << "\n";
    std::error_code ec;
    if (f["context_line"].is_string()) md << "    `" << f["context_line"].get<std::string>() << "`\n";
    else if (f["lineno"].is_number() && fs::is_regular_file(wt / file, ec)) {
      std::ifstream in(wt / file);
      std::string line;
      for (std::int64_t n = 1; std::getline(in, line); ++n)
        if (n == f["lineno"].get<std::int64_t>()) md << "    `" << line << "`\n";
    }
  }
  md << "\nWrite one line saying what the test does to $FIXHOST_SUMMARY_FILE.\n";
  return md.str();
}

// The suite that runs `file` (by runner: .py -> pytest, else jest/junit), relative id of the file in it.
const SuiteConfig* suite_for(const Config& cfg, const std::string& file, std::string& rel) {
  const bool py = file.size() > 3 && file.substr(file.size() - 3) == ".py";
  for (const auto& s : cfg.suites) {
    if ((s.runner == "pytest") != py) continue;
    fs::path r = fs::path(file).lexically_relative(s.cwd.empty() ? "." : s.cwd);
    if (r.empty() || *r.begin() == "..") continue;
    rel = r.generic_string();
    return &s;
  }
  return nullptr;
}

struct Gh {
  std::string program;
  fs::path repo;
  Result<ProcessResult> operator()(const std::vector<std::string>& args) const {
    ProcessSpec spec;
    spec.argv = {program};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.cwd = repo.string();
    spec.timeout = std::chrono::seconds(120);
    return run_process(spec);
  }
};

std::uint64_t pr_number_of(const std::string& url) {
  auto slash = url.find_last_of('/');
  std::uint64_t n = 0;
  for (std::size_t i = slash == std::string::npos ? 0 : slash + 1; i < url.size() && std::isdigit(static_cast<unsigned char>(url[i])); ++i)
    n = n * 10 + static_cast<std::uint64_t>(url[i] - '0');
  return n;
}

}  // namespace

std::string fix_branch(const TriageGroup& g) {
  std::string id;
  for (char c : id_of(g)) id += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  return "fix/sentry-" + id;
}

Result<GroupFix> fix_group(RunContext& run, const Config& cfg, const TriageGroup& g,
                           const events::SentryIssueIngested& latest, const FixGroupOptions& o) {
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  GroupFix out;
  out.branch = fix_branch(g);
  const std::string id = id_of(g);
  const fs::path repo = cfg.repo;
  const Gh gh{cfg.heal.gh, repo};
  const std::string title = "fix: [Sentry-" + id + "] " + one_line(g.title, 120);

  // A PR for this branch may exist from a run that crashed between the push and PrOpened.
  if (auto listed = gh({"pr", "list", "--head", out.branch, "--state", "open", "--json", "number,url"});
      listed && listed->exit_code == 0) {
    auto arr = json::parse(listed->output.data, nullptr, false);
    if (arr.is_array() && !arr.empty() && arr[0].is_object()) {
      out.outcome = "existing_pr";
      out.pr_url = arr[0].value("url", "");
      out.pr_number = arr[0].value("number", 0ull);
      out.why = "a PR for " + out.branch + " is already open: " + out.pr_url;
      events::PrOpened pr;
      pr.provider = "github";
      pr.number = out.pr_number;
      pr.url = out.pr_url;
      pr.branch = out.branch;
      pr.title = title;
      pr.issue_id = id;
      if (auto r = run.publish(pr); !r) return r.status();
      return out;
    }
  }
  auto head = git::head(repo);
  if (!head) return head.status();
  if (git::branch_exists(repo, out.branch)) {
    out.outcome = "refused";
    out.why = "branch " + out.branch + " exists already (an earlier heal run that opened no PR?): delete it (`git branch -D " +
              out.branch + "`) or open its PR by hand";
    return out;
  }
  auto user_branch = git::current_branch(repo);

  engine::WorkspaceSpec spec;
  spec.repo = repo;
  spec.path = o.store_dir / "worktrees" / (run.id() + "-sentry-" + out.branch.substr(11));
  spec.branch = out.branch;
  spec.base = *head;
  auto ws = engine::Workspace::create(run, cfg, spec, o.progress);
  if (!ws) return ws.status();
  engine::Session s(cfg, run, **ws);
  s.agent = o.agent;
  s.deadline = o.deadline;
  s.progress = o.progress;
  auto refuse = [&](const std::string& outcome, const std::string& why) {
    (*ws)->remove(o.progress);
    out.outcome = outcome;
    out.why = why;
    out.agent_calls = s.agent_calls;
    return out;
  };
  auto sandbox = run_sandbox(cfg, o.store_dir, (*ws)->common(), (*ws)->path());
  if (!sandbox) return refuse("refused", sandbox.status().to_string());
  s.sandbox = std::move(*sandbox);
  if (auto st = engine::prepare_suites(s); !st) return refuse("refused", st.to_string());
  const fs::path wt = (*ws)->path();
  const fs::path dir = o.store_dir / "attempts" / run.id() / ("sentry-" + out.branch.substr(11));
  std::error_code ec;
  fs::create_directories(dir, ec);
  const json err = error_json(g, latest);
  const fs::path error_file = dir / "error.json";
  if (auto st = engine::write_file(error_file, err.dump(2) + "\n"); !st) return st;
  const std::string etype = latest.exception_type;

  // REPRODUCE: a new test, and nothing else, that fails with the error's type.
  say("heal " + id + ": reproduce " + g.title);
  engine::AgentCall call;
  call.test_id = "sentry:" + id;
  call.category = "reproduce";  // the policy lets this category add test files (docs/SAFETY.md)
  call.dir = dir / "reproduce";
  call.prompt = reproduce_prompt(err, wt);
  call.env = {{"FIXHOST_PHASE", "reproduce"}, {"FIXHOST_ERROR_FILE", error_file.string()}};
  call.tests_only = true;
  if (auto capped = s.cost_cap_reached(call.test_id, 1); !capped) return capped.status();
  else if (*capped) return refuse("budget_exceeded", s.stop_reason);
  auto at = engine::run_attempt(s, call);
  if (!at) return at.status();
  auto not_reproduced = [&](const std::string& why) -> Result<GroupFix> {
    if (auto st = engine::revert_attempt(s, at->before, call.test_id, 1, "not_reproduced", at->files); !st) return st;
    engine::FixOutcome fo;
    fo.test_id = call.test_id;
    fo.outcome = "unfixable";
    fo.reason_kind = "not_reproduced";
    fo.reason = why;
    if (auto st = engine::publish_resolved(s, fo, at->finished_seq); !st) return st;
    return refuse("not_reproduced", why);
  };
  if (at->wrote_outside) {
    if (auto st = engine::alert_wrote_outside(s, "sentry group " + id, 1); !st) return st;
    return not_reproduced("the agent wrote outside its worktree");
  }
  if (at->over_cost) {
    auto r = not_reproduced(s.stop_reason);
    if (r) r->outcome = "budget_exceeded";
    return r;
  }
  if (!at->rejections.empty()) return not_reproduced("the reproduce attempt was refused: " + at->rejections.front());
  if (at->agent.timed_out) return not_reproduced("the reproduce attempt ran out of time");
  if (at->agent.exit_code != 0) return not_reproduced("the agent gave up on reproducing (exit " + std::to_string(at->agent.exit_code) + ")");
  if (at->files.empty()) return not_reproduced("the agent wrote no test");
  const SuiteConfig* suite = nullptr;
  std::vector<std::string> rels;
  for (const auto& f : at->files) {
    std::string rel;
    if (const auto* su = suite_for(cfg, f, rel)) {
      suite = su;
      rels.push_back(rel);
    }
  }
  if (!suite) return not_reproduced("no configured suite runs the test files written: " + at->files.front());
  std::optional<DetectedFailure> repro;
  for (int i = 1; i <= k_reproduce_runs; ++i) {
    auto batch = run_tests(run, s.bounded_suite(suite->name), wt, rels, "reproduce");
    if (!batch) return batch.status();
    std::vector<DetectedFailure> failing;
    for (auto& [tid, d] : batch->failures) failing.push_back(d);
    for (auto& d : batch->revealed) failing.push_back(d);
    const DetectedFailure* match = nullptr;
    for (const auto& d : failing) {
      const auto& t = d.failure.error_type;
      if (!etype.empty() && t.size() >= etype.size() && t.compare(t.size() - etype.size(), etype.size(), etype) == 0)
        match = &d;
    }
    if (!match) {
      std::string seen = failing.empty() ? "it passed" : "it failed with " + failing.front().failure.error_type;
      return not_reproduced("run " + std::to_string(i) + " of " + std::to_string(k_reproduce_runs) +
                            " of the new test on the unchanged code did not fail with " + etype + ": " + seen);
    }
    if (!repro) repro = *match;
  }
  out.tests.push_back(repro->failure.test_id);
  say("  reproduced by " + repro->failure.test_id + " (" + std::to_string(k_reproduce_runs) + " of " +
      std::to_string(k_reproduce_runs) + " runs fail with " + etype + ")");
  auto repro_patch = git::diff_trees(wt, at->before.tree, at->after.tree, true);
  if (!repro_patch) return repro_patch.status();

  // The baseline for VERIFY: everything as it is now, with the new failing test.
  engine::Ledger ledger;
  engine::Verifier verifier(s, ledger);
  auto base = verifier.run_checks();
  if (!base) return base.status();
  if (auto st = verifier.baseline(base->failing, base->tests); !st) return st;

  // FIX: the engine's fix loop; the reproducing test may not be touched at all.
  DetectedFailure d = *repro;
  d.order = 1;
  engine::FixRequest req;
  req.failure = &d;
  req.max_attempts = static_cast<std::uint32_t>(std::min(cfg.max_attempts, 3));
  req.attempts_dir = dir;
  req.env = {{"FIXHOST_PHASE", "fix"}, {"FIXHOST_ERROR_FILE", error_file.string()}};
  req.frozen = at->files;
  req.prompt_extra = "\n## Production error\n\nThis test reproduces a production error (details in $FIXHOST_ERROR_FILE): fix "
                     "the code, not the test. The test files " + [&] {
                       std::string l;
                       for (const auto& f : at->files) l += (l.empty() ? "`" : ", `") + f + "`";
                       return l;
                     }() + " may not be edited.\n";
  engine::FixOutcome fo;
  auto patch = engine::fix_failure(s, req, fo);
  if (!patch) return patch.status();
  out.agent_calls = s.agent_calls;
  if (!*patch) {
    if (auto st = engine::publish_resolved(s, fo, d.seq); !st) return st;
    out.outcome = s.cost_exceeded ? "budget_exceeded" : "unfixable";
    out.why = fo.reason;
    return out;
  }
  ledger.fixes.push_back(fo);
  ledger.kept.push_back({0, d.failure.test_id, **patch});
  ledger.fixed = 1;
  ledger.total = 1;
  if (auto st = verifier.verify(); !st) return st;
  out.agent_calls = s.agent_calls;
  if (ledger.kept.empty() || !s.commit_note.empty() || s.stop) {
    fo = ledger.fixes[0];
    if (ledger.kept.empty()) fo.outcome = "unfixable";
    if (auto st = engine::publish_resolved(s, fo, d.seq); !st) return st;
    out.outcome = ledger.kept.empty() ? "regression" : "unfixable";
    out.why = ledger.kept.empty() ? fo.reason : "not committed: " + (s.commit_note.empty() ? s.stop_reason : s.commit_note);
    return out;
  }
  out.approach = fo.approach;

  // COMMIT: the test and the fix, from the judged patches.
  std::string message = title + "\n\nRoot cause: " + etype + (latest.exception_value.empty() ? "" : ": " + one_line(latest.exception_value, 200)) +
                        " at " + g.culprit + " (" + std::to_string(g.count) + " events in production, release " +
                        latest.release + ").\nFix: " + one_line(fo.approach, 300) + "\nTest added: " + repro->failure.test_id +
                        "\n\nMade by fixhost heal; verified: all suites" + (cfg.lint.empty() ? "" : ", lint") +
                        (cfg.typecheck.empty() ? "" : ", typecheck") + ".\n";
  std::vector<std::string> files = at->files;
  files.insert(files.end(), fo.files.begin(), fo.files.end());
  auto sha = engine::commit_judged(s, {*repro_patch, **patch}, message, files);
  if (!sha) return sha.status();
  if (sha->empty()) {
    out.outcome = "unfixable";
    out.why = s.commit_note;
    return out;
  }
  out.commit = *sha;
  fo.outcome = "fixed";
  if (auto st = engine::publish_resolved(s, fo, d.seq); !st) return st;

  // PUSH that one branch, then the PR. Never the default branch, never a merge.
  say("  pushing " + out.branch + " to " + cfg.heal.remote);
  if (auto pushed = git::run_as_user(repo, {"push", cfg.heal.remote, "refs/heads/" + out.branch + ":refs/heads/" + out.branch});
      !pushed) {
    out.outcome = "error";
    out.why = "committed " + sha->substr(0, 12) + " on " + out.branch + " but `git push " + cfg.heal.remote + "` failed: " +
              pushed.status().message();
    return out;
  }
  std::string body = "## Sentry issue " + id + "\n\n" + g.title + "\n\n- culprit: `" + g.culprit + "`\n- events: " +
                     std::to_string(g.count) + ", users: " + std::to_string(g.users) + "\n- release: " + latest.release +
                     "\n\n## Root cause\n\n" + etype + (latest.exception_value.empty() ? "" : ": " + latest.exception_value) +
                     " raised at `" + g.culprit + "`.\n\n## Fix\n\n" + fo.approach + "\n\nFiles: " + [&] {
                       std::string l;
                       for (const auto& f : fo.files) l += (l.empty() ? "`" : ", `") + f + "`";
                       return l;
                     }() + "\n\n## Test added\n\n`" + repro->failure.test_id +
                     "`: fails with " + etype + " before the fix (3 of 3 runs), passes after; all suites" +
                     (cfg.lint.empty() ? "" : ", lint") + (cfg.typecheck.empty() ? "" : ", typecheck") +
                     " green.\n\nMade by fixhost heal (run " + run.id() + ").\n";
  const fs::path body_file = dir / "pr-body.md";
  if (auto st = engine::write_file(body_file, body); !st) return st;
  auto created = gh({"pr", "create", "--head", out.branch, "--title", title, "--body-file", body_file.string(), "--label",
                     "auto-fix", "--label", "sentry"});
  if (!created) return created.status();
  if (created->exit_code != 0 || !created->spawn_error.empty()) {
    out.outcome = "error";
    out.why = "pushed " + out.branch + " but `gh pr create` failed (" +
              (created->spawn_error.empty() ? "exit " + std::to_string(created->exit_code) : created->spawn_error) +
              "): " + one_line(created->output.data, 300) + "; the next heal run finds the branch's PR if one was made";
    return out;
  }
  std::string url;
  std::istringstream lines(created->output.data);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("http", 0) == 0) url = line;
  out.pr_url = url;
  out.pr_number = pr_number_of(url);
  events::PrOpened pr;
  pr.provider = "github";
  pr.number = out.pr_number;
  pr.url = url;
  pr.branch = out.branch;
  pr.base = user_branch ? *user_branch : "";
  pr.title = title;
  pr.issue_id = id;
  if (auto r = run.publish(pr); !r) return r.status();
  out.outcome = "pr_opened";
  out.why = url;
  say("  PR opened: " + url);
  return out;
}

}  // namespace fixhost::host::heal
