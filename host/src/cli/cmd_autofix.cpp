// hostctl autofix | approve | discard: the fix loop, and the two explicit human steps after it.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/build/build.hpp"
#include "fixhost/host/workflows/autofix.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/host/runs.hpp"
#include "fixhost/store/event_log.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

namespace {

extern "C" void on_interrupt(int) { request_interrupt(); }

nlohmann::json result_json(const AutofixResult& r) {
  nlohmann::json fixes = nlohmann::json::array();
  for (const auto& f : r.fixes)
    fixes.push_back({{"test_id", f.test_id},   {"file", f.file},         {"line", f.line},
                     {"category", f.category}, {"attempts", f.attempts}, {"outcome", f.outcome},
                     {"approach", f.approach}, {"reason", f.reason},     {"last_error", f.last_error},
                     {"suggestion", f.suggestion}, {"files", f.files}, {"round", f.round},
                     {"resolved_by", f.resolved_by},
                     // What its attempts reported spending: null when none reported a cost.
                     {"cost_usd", f.attempts_costed ? nlohmann::json(f.cost_usd) : nlohmann::json(nullptr)},
                     {"attempts_cost_unknown", f.attempts_cost_unknown}});
  nlohmann::json rounds = nlohmann::json::array();
  for (const auto& rd : r.rounds)
    rounds.push_back({{"round", rd.round}, {"found_by", rd.found_by}, {"test_ids", rd.test_ids}});
  return {{"run_id", r.run_id},   {"branch", r.branch},     {"worktree", r.worktree},
          {"commit", r.commit.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.commit)},
          {"fixed", r.fixed},     {"cured", r.cured},       {"total", r.total},
          {"agent_calls", r.agent_calls}, {"rounds", rounds}, {"budget_exceeded", r.budget_exceeded},
          {"cost_exceeded", r.cost_exceeded}, {"stop_reason", r.stop_reason},
          {"cost_usd", r.spend.attempts_costed ? nlohmann::json(r.spend.cost_usd) : nlohmann::json(nullptr)},
          {"attempts_costed", r.spend.attempts_costed}, {"attempts_cost_unknown", r.spend.attempts_cost_unknown},
          {"input_tokens", r.spend.input_tokens}, {"output_tokens", r.spend.output_tokens},
          {"exit_code", r.exit_code}, {"fixes", fixes},     {"report", r.report_markdown}};
}

void register_autofix(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string repo = ".", agent, report, budget, attempt_budget;
    int max_attempts = 0;
    double max_cost = 0, max_attempt_cost = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "autofix",
      "Detect failures, then hand them one at a time (utilities first) to an agent command in a git\n"
      "worktree of the repository on branch fixhost/autofix-<run>. After each attempt: git diff, policy\n"
      "checks (protected paths, test tampering, git tampering), then only the affected test is re-run;\n"
      "rejected attempts are reverted. Then all suites, lint and typecheck; a fix that broke something\n"
      "is reverted. Kept fixes are committed on the run branch only when everything is green. Never\n"
      "pushes or merges: see `hostctl approve`. Your checkout is never touched.\n"
      "Exit 0: all fixed and committed; 1: some unfixable; 2: could not run; 3: a time or cost budget ran out;\n"
      "130: interrupted.");
  cmd->add_option("--repo", o->repo, "Repository to fix (default: the current directory)");
  cmd->add_option("--agent", o->agent, "Agent command, run as /bin/sh -c CMD in the worktree (overrides `agent`)");
  cmd->add_option("--max-attempts", o->max_attempts, "Attempts per failure, 1-20 (overrides `max_attempts`, default 3)")
      ->check(CLI::Range(1, 20));
  cmd->add_option("--budget", o->budget, "Wall time for the whole run, e.g. 20m (overrides [budget] run, default 20m)");
  cmd->add_option("--attempt-budget", o->attempt_budget, "Wall time per agent attempt, e.g. 5m (overrides [budget] attempt, default 5m)");
  cmd->add_option("--max-cost-usd", o->max_cost,
                  "USD the run's agents may spend, as they report it (overrides `max_cost_usd`, docs/USAGE.md)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-attempt-cost-usd", o->max_attempt_cost,
                  "USD one attempt may spend (overrides `max_attempt_cost_usd`, docs/USAGE.md)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--report", o->report, "Also write the markdown report to FILE");
  cmd->add_flag("--json", o->json, "Print the result as JSON (run id, commit, every failure's outcome)");
  cmd->callback([o, &shared] {
    auto progress = progress_printer(shared);
    fs::path root;
    auto config = load_repo_config(shared, o->repo, root);
    if (!config) return;
    if (o->max_attempts > 0) config->max_attempts = o->max_attempts;
    if (o->max_cost > 0) config->max_cost_usd = o->max_cost;
    if (o->max_attempt_cost > 0) config->max_attempt_cost_usd = o->max_attempt_cost;
    for (auto [text, field, name] : {std::tuple{o->budget, &config->run_budget, "--budget"},
                                     std::tuple{o->attempt_budget, &config->attempt_budget, "--attempt-budget"}}) {
      if (text.empty()) continue;
      auto d = parse_duration(text);
      if (!d) {
        shared.exit_code = fail(std::string(name) + ": " + d.status().to_string());
        return;
      }
      *field = *d;
    }
    for (const auto& n : config->notes) progress("note: " + n);
    AutofixOptions ao;
    ao.store_dir = resolve_store(shared.global, root);
    for (const auto& p : shared.global.plugins) ao.extra_plugin_dirs.push_back(fs::absolute(p));
    ao.argv = {"hostctl", "autofix"};
    ao.agent = o->agent;
    ao.report_path = o->report.empty() ? "" : fs::absolute(o->report).string();
    ao.progress = progress;
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    auto res = run_autofix(*config, ao);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (!res) {
      shared.exit_code = fail(res.status().to_string());
      return;
    }
    const auto& r = *res;
    if (!r.error.empty()) {
      shared.exit_code = fail(r.error, r.exit_code);
      return;
    }
    if (o->json) {
      std::cout << events::dump_json(result_json(r), 2) << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& f : r.fixes)
        rows.push_back({f.file + (f.line > 0 ? ":" + std::to_string(f.line) : ""), f.test_id, f.category,
                        std::to_string(f.attempts), f.approach.empty() ? "-" : f.approach,
                        f.outcome == "fixed" ? "fixed" : f.outcome + ": " + f.reason});
      if (!rows.empty())
        std::cout << render_table({"FILE", "TEST", "CATEGORY", "ATTEMPTS", "APPROACH", "OUTCOME"}, rows, 48);
      std::cout << r.fixed + r.cured << "/" << r.total << " failures fixed";
      if (r.cured > 0) std::cout << " (" << r.cured << " of them cured by another's fix, without an agent call)";
      if (r.rounds.size() > 1) std::cout << " in " << r.rounds.size() << " rounds";
      std::cout << "; " << r.agent_calls << " agent call" << (r.agent_calls == 1 ? "" : "s");
      if (!r.commit.empty()) std::cout << "; committed " << r.commit.substr(0, 12) << " on " << r.branch;
      else std::cout << "; nothing committed";
      std::cout << "\n";
      for (const auto& f : r.fixes)
        if (f.outcome != "fixed" && f.outcome != "cured" && !f.suggestion.empty())
          std::cout << "  " << f.test_id << ": " << f.suggestion << "\n";
      std::cout << "run " << r.run_id << ": report with `hostctl events --run " << r.run_id
                << " --type ReportWritten`";
      if (!o->report.empty()) std::cout << " or in " << o->report;
      std::cout << "\n";
      if (!r.commit.empty()) std::cout << "next: hostctl approve " << r.run_id << "   (or: hostctl discard " << r.run_id << ")\n";
      else std::cout << "next: hostctl discard " << r.run_id << "\n";
    }
    shared.exit_code = r.exit_code;
  });
}

struct RunRecord {
  RunInfo info;
  events::RunStarted started;
  std::optional<events::Committed> committed;
  std::optional<events::ApprovalGiven> approved;
};

Result<RunRecord> load_run(const store::EventLog& log, const std::string& id) {
  RunRecord rec;
  auto info = find_run(log, id);
  if (!info) return info.status();
  rec.info = *info;
  auto st = log.scan_run(id, [&](const events::Event& e) {
    if (e.type == events::EventType::RunStarted) {
      if (auto p = events::decode<events::RunStarted>(e)) rec.started = *p;
    } else if (e.type == events::EventType::Committed) {
      if (auto p = events::decode<events::Committed>(e)) rec.committed = *p;
    } else if (e.type == events::EventType::ApprovalGiven) {
      if (auto p = events::decode<events::ApprovalGiven>(e)) rec.approved = *p;
    }
    return true;
  });
  if (!st) return st;
  if (rec.started.mode != "autofix" && rec.started.mode != "build")
    return make_error(Errc::invalid_argument, "run " + id + " is a " + rec.started.mode +
                                                  " run; only autofix and build runs have a branch to approve or discard");
  return rec;
}

struct OpenRun {
  std::unique_ptr<store::EventLog> log;  // open for writing
  RunRecord rec;
};

// The store (writable: approve and discard record or change things) and the run `id` in it.
Result<OpenRun> open_run(const Shared& shared, const std::string& repo, const std::string& id) {
  store::StoreOptions so;
  so.create_if_missing = false;
  auto log = store::EventLog::open(resolve_store(shared.global, repo_root(repo)), so);
  if (!log) return log.status();
  auto rec = load_run(**log, id);
  if (!rec) return rec.status();
  return OpenRun{std::move(*log), std::move(*rec)};
}

// Merges the run's commit into `target`, in the user's checkout when it has that branch checked
// out (git refuses there if their uncommitted changes would be overwritten), else in a
// temporary worktree. Returns the commit the target branch now points at.
Result<std::string> merge_into(const fs::path& repo, const fs::path& store_dir, const std::string& run_id,
                               const std::string& target, const std::string& commit) {
  auto target_sha = git::run(repo, {"rev-parse", "--verify", "refs/heads/" + target});
  if (!target_sha) return make_error(Errc::not_found, "branch '" + target + "' no longer exists in " + repo.string());
  const bool ff = git::run(repo, {"merge-base", "--is-ancestor", *target_sha, commit}).is_ok();
  auto current = git::current_branch(repo);
  const bool checked_out = current && *current == target;
  const std::string msg = "Merge fixhost autofix run " + run_id;
  if (checked_out) {
    std::vector<std::string> args = git::identity_args(repo);
    if (ff) args.insert(args.end(), {"merge", "--ff-only", "-q", commit});
    else args.insert(args.end(), {"merge", "--no-ff", "--no-edit", "-q", "-m", msg, commit});
    auto m = git::run_as_user(repo, args);
    if (!m) {
      (void)git::run_as_user(repo, {"merge", "--abort"});
      return make_error(Errc::refused, "'" + target + "' moved since the run started and the run's fix does not "
                                            "merge cleanly into it (nothing was changed): " + m.status().message() +
                                            "; merge the branch by hand or re-run autofix on the new HEAD");
    }
    return git::head(repo);
  }
  if (ff) {
    auto u = git::run(repo, {"update-ref", "refs/heads/" + target, commit, *target_sha});
    if (!u) return u.status();
    return commit;
  }
  const fs::path tmp = store_dir / "worktrees" / ("approve-" + run_id);
  (void)git::worktree_remove(repo, tmp);
  auto a = git::run(repo, {"worktree", "add", "--quiet", tmp.string(), target});
  if (!a) return a.status();
  std::vector<std::string> args = git::identity_args(tmp);
  args.insert(args.end(), {"merge", "--no-ff", "--no-edit", "-q", "-m", msg, commit});
  auto m = git::run_as_user(tmp, args);
  Result<std::string> out = m ? git::head(tmp) : Result<std::string>(m.status());
  if (!m) (void)git::run_as_user(tmp, {"merge", "--abort"});
  (void)git::worktree_remove(repo, tmp);
  if (!m)
    return make_error(Errc::refused, "'" + target + "' moved since the run started and the run's fix does not merge "
                                          "cleanly into it (nothing was changed): " + m.status().message() +
                                          "; merge the branch by hand or re-run autofix on the new HEAD");
  return out;
}

void register_approve(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string run, repo = ".", remote;
    bool push = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "approve",
      "The explicit human step after autofix: merge the run's commit into the branch the run started\n"
      "from (refused, with nothing changed, if that branch moved in a conflicting way) and, only with\n"
      "--push, push that branch. Records ApprovalGiven.");
  cmd->add_option("run", o->run, "The autofix run id (see `hostctl runs`)")->required();
  cmd->add_flag("--push", o->push, "Also push the merged branch to its remote");
  cmd->add_option("--remote", o->remote, "Remote to push to (default: the branch's upstream remote, else origin)");
  cmd->add_option("--repo", o->repo, "Repository (default: the current directory)");
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o, &shared] {
    auto opened = open_run(shared, o->repo, o->run);
    if (!opened) {
      shared.exit_code = fail(opened.status().to_string());
      return;
    }
    auto& log = opened->log;
    auto* rec = &opened->rec;
    if (rec->approved) {
      shared.exit_code = fail("run " + o->run + " was already approved (merged as " +
                              rec->approved->merge_commit.substr(0, 12) + " into " + rec->approved->target_branch + ")");
      return;
    }
    if (!rec->committed) {
      shared.exit_code = fail("run " + o->run + " committed nothing (outcome: " + rec->info.outcome +
                              "), so there is nothing to approve; `hostctl discard " + o->run + "` removes it");
      return;
    }
    const fs::path repo = rec->started.repo;
    const std::string target = rec->started.branch;
    if (target.empty()) {
      shared.exit_code = fail("run " + o->run + " started on a detached HEAD: merge " + rec->committed->branch +
                              " where you want it by hand");
      return;
    }
    auto branch_sha = git::run(repo, {"rev-parse", "--verify", "refs/heads/" + rec->committed->branch});
    if (!branch_sha || *branch_sha != rec->committed->commit) {
      shared.exit_code = fail("branch " + rec->committed->branch + " no longer points at the run's commit " +
                              rec->committed->commit.substr(0, 12) + " (changed or deleted); refusing to merge it");
      return;
    }
    auto merged = merge_into(repo, log->dir(), o->run, target, rec->committed->commit);
    if (!merged) {
      shared.exit_code = fail(merged.status().to_string(), merged.status().code() == Errc::refused ? k_exit_failures
                                                                                                  : k_exit_cannot_run);
      return;
    }
    events::ApprovalGiven ag;
    ag.approved_run = o->run;
    ag.branch = rec->committed->branch;
    ag.target_branch = target;
    ag.merge_commit = *merged;
    const char* user = std::getenv("USER");
    ag.user = user ? user : "";
    std::string push_error;
    if (o->push) {
      std::string remote = o->remote;
      if (remote.empty()) {
        auto r = git::run(repo, {"config", "branch." + target + ".remote"});
        remote = r && !r->empty() ? *r : "origin";
      }
      ag.remote = remote;
      auto p = git::run_as_user(repo, {"push", "-q", remote, "refs/heads/" + target + ":refs/heads/" + target});
      if (p) ag.pushed = true;
      else push_error = p.status().message();
    }
    auto ev = events::make_event(ag, o->run, "host");
    if (auto st = log->append(ev); !st) {
      shared.exit_code = fail("merged, but could not record the approval: " + st.status().to_string());
      return;
    }
    if (o->json) {
      std::cout << events::dump_json({{"run_id", o->run}, {"branch", ag.branch}, {"target_branch", target},
                                      {"merge_commit", ag.merge_commit}, {"pushed", ag.pushed},
                                      {"remote", ag.remote.empty() ? nlohmann::json(nullptr) : nlohmann::json(ag.remote)},
                                      {"push_error", push_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(push_error)}},
                                     2)
                << "\n";
    } else {
      std::cout << "merged " << ag.branch << " into " << target << " (" << ag.merge_commit.substr(0, 12) << ")\n";
      if (ag.pushed) std::cout << "pushed " << target << " to " << ag.remote << "\n";
      else if (!o->push) std::cout << "not pushed (add --push to push)\n";
    }
    if (!push_error.empty()) shared.exit_code = fail("merged, but the push failed: " + push_error);
  });
}

// discard for a build run: its worktrees and branches, never unlanded work without --force.
int discard_build_run(store::EventLog& log, const RunRecord& rec, const std::string& run, bool force, bool json) {
  auto rep = build::discard_build(rec.started.repo, log.dir(), run, rec.approved.has_value(), force);
  if (!rep) return fail(rep.status().to_string());
  if (!rep->kept_unlanded.empty()) {
    std::string list;
    for (const auto& b : rep->kept_unlanded) list += (list.empty() ? "" : ", ") + b;
    if (json)
      std::cout << events::dump_json({{"run_id", run}, {"removed", nlohmann::json::array()}, {"unlanded", rep->kept_unlanded}}, 2)
                << "\n";
    return fail("run " + run + ": " + list + " hold work that is in no landed commit; nothing was removed. Land it "
                "(hostctl approve " + run + ") or pass --force to remove it anyway",
                k_exit_failures);
  }
  if (json) std::cout << events::dump_json({{"run_id", run}, {"removed", rep->removed}}, 2) << "\n";
  else if (rep->removed.empty()) std::cout << "run " << run << ": nothing left to remove\n";
  else
    for (const auto& r : rep->removed) std::cout << "removed " << r << "\n";
  return k_exit_ok;
}

void register_discard(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string run, repo = ".";
    bool json = false, force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "discard", "Remove an autofix run's worktree, its branch fixhost/autofix-<run> and its attempt files;\n"
                 "a build run's worktrees, its branches fixhost/build-<run>[-<stream>] and attempt files (work in no\n"
                 "landed commit only with --force; exit 1 without).\n"
                 "The run's events stay in the log. Works on runs that were killed (aborted).");
  cmd->add_option("run", o->run, "The autofix run id (see `hostctl runs`)")->required();
  cmd->add_option("--repo", o->repo, "Repository (default: the current directory)");
  cmd->add_flag("--json", o->json, "Print what was removed as JSON");
  cmd->add_flag("--force", o->force,
                "build runs: also remove branches holding commits that are in no landed commit (exit 1 without it)");
  cmd->callback([o, &shared] {
    auto opened = open_run(shared, o->repo, o->run);
    if (!opened) {
      shared.exit_code = fail(opened.status().to_string());
      return;
    }
    auto& log = opened->log;
    auto* rec = &opened->rec;
    if (rec->info.outcome == "running") {
      shared.exit_code = fail("run " + o->run + " is still running; stop it first (Ctrl-C, or kill its hostctl)");
      return;
    }
    if (rec->started.mode == "build") {
      shared.exit_code = discard_build_run(*log, *rec, o->run, o->force, o->json);
      return;
    }
    const fs::path repo = rec->started.repo;
    const fs::path wt = rec->started.worktree.empty() ? worktree_path(log->dir(), o->run) : fs::path(rec->started.worktree);
    const std::string branch = autofix_branch(o->run);
    std::vector<std::string> removed;
    std::error_code ec;
    if (fs::exists(wt, ec)) removed.push_back("worktree " + wt.string());
    if (auto st = git::worktree_remove(repo, wt); !st) {
      shared.exit_code = fail("cannot remove the worktree: " + st.to_string());
      return;
    }
    if (git::branch_exists(repo, branch)) {
      if (auto r = git::run(repo, {"branch", "-q", "-D", branch}); !r) {
        shared.exit_code = fail(r.status().to_string());
        return;
      }
      removed.push_back("branch " + branch);
    }
    const fs::path attempts = log->dir() / "attempts" / o->run;
    if (fs::exists(attempts, ec)) {
      fs::remove_all(attempts, ec);
      removed.push_back("attempt files " + attempts.string());
    }
    if (o->json) {
      std::cout << events::dump_json({{"run_id", o->run}, {"removed", removed}}, 2) << "\n";
    } else if (removed.empty()) {
      std::cout << "run " << o->run << ": nothing left to remove\n";
    } else {
      for (const auto& r : removed) std::cout << "removed " << r << "\n";
    }
  });
}

}  // namespace

void register_autofix_commands(CLI::App& app, Shared& shared) {
  register_autofix(app, shared);
  register_approve(app, shared);
  register_discard(app, shared);
}

}  // namespace fixhost::host::cli
