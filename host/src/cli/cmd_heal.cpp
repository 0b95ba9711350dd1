// hostctl heal: production errors to fixes (docs/HEAL.md#hostctl-heal).
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.hpp"
#include "fixhost/events/event.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/heal/heal.hpp"
#include "fixhost/host/stats.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_heal(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string repo = ".", source, since = "24h", report, agent;
    int max_fixes = -1;
    bool dry_run = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "heal",
      "From production errors to fixes: read the errors (--source log: what hostctl serve recorded;\n"
      "--source api: Sentry's REST API with SENTRY_URL, SENTRY_ORG, SENTRY_PROJECT, SENTRY_AUTH_TOKEN),\n"
      "triage them, stop at the rate guard ([heal] max_errors_per_hour), alert a human for P0 groups in\n"
      "protected code, and fix the fixable P0/P1 groups in priority order (--max-fixes): each in a\n"
      "worktree on fix/sentry-<id>, the agent first writes a test that reproduces the error (it must\n"
      "fail with the error's type 3 times), then fixes it through the autofix engine; when every\n"
      "suite, lint and typecheck is green the branch is pushed and `gh pr create` opens the PR.\n"
      "Never merges. Writes the incident report.\n"
      "Exit 0: every fixable group has a PR; 1: groups left unfixed; 2: could not run; 4: the rate guard tripped.");
  cmd->add_option("--repo", o->repo, "Repository (default: the current directory)");
  cmd->add_option("--source", o->source, "log | api (default: api when SENTRY_ORG and SENTRY_AUTH_TOKEN are set, else log)")
      ->check(CLI::IsMember({"log", "api"}));
  cmd->add_option("--since", o->since, "Only errors recorded since (default: 24h)");
  cmd->add_option("--max-fixes", o->max_fixes, "Groups fixed per run (default: [heal] max_fixes, else 5)")->check(CLI::Range(0, 1000));
  cmd->add_option("--agent", o->agent, "Agent command for the fix phase (default: fixhost.toml's agent)");
  cmd->add_option("--report", o->report, "Also write the incident report (markdown) to this file");
  cmd->add_flag("--dry-run", o->dry_run, "Plan only: record nothing, send no alert, run no agent");
  cmd->add_flag("--json", o->json, "One JSON object: source, groups with their action, alerts, report");
  auto verify_cmd = std::make_shared<CLI::App*>(nullptr);
  cmd->callback([o, &shared, verify_cmd] {
    if (*verify_cmd && (*verify_cmd)->parsed()) return;  // `heal verify` runs alone
    auto progress = progress_printer(shared);
    fs::path root;
    auto config = load_repo_config(shared, o->repo, root, false);
    if (!config) return;
    if (!o->agent.empty()) config->agent = o->agent;
    heal::HealOptions ho;
    ho.store_dir = resolve_store(shared.global, root);
    for (const auto& p : shared.global.plugins) ho.extra_plugin_dirs.push_back(fs::absolute(p));
    ho.argv = {"hostctl", "heal"};
    if (!o->source.empty()) ho.argv.insert(ho.argv.end(), {"--source", o->source});
    if (o->dry_run) ho.argv.push_back("--dry-run");
    ho.source = o->source;
    ho.dry_run = o->dry_run;
    if (o->max_fixes >= 0) ho.max_fixes = o->max_fixes;
    if (!o->report.empty()) ho.report_file = fs::absolute(o->report);
    if (o->since != "all") {
      auto since = parse_since(o->since, events::now_us());
      if (!since) {
        shared.exit_code = fail(since.status().message());
        return;
      }
      ho.since_us = *since;
    } else {
      ho.since_us = 0;
    }
    ho.progress = progress;
    auto r = heal::run_heal(*config, ho);
    if (!r) {
      shared.exit_code = fail(r.status().to_string());
      return;
    }
    if (o->json) std::cout << heal::to_json(*r).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    else std::cout << r->report << (r->run.empty() ? "(dry run: nothing recorded)\n" : "run " + r->run + " recorded\n");
    shared.exit_code = r->exit_code;
  });

  struct VOpts {
    std::string repo = ".", window = "24h";
    bool json = false;
  };
  auto v = std::make_shared<VOpts>();
  auto* verify = cmd->add_subcommand(
      "verify",
      "For each PR fixhost opened: its state from gh (merged, closed; commits a human pushed to it)\n"
      "as PrResolved, and for merged ones whether the error came back in a newer release\n"
      "(ErrorRecurrenceChecked: stopped, recurred, too early to tell). Exit 0; 2 gh failed.");
  *verify_cmd = verify;
  verify->add_option("--repo", v->repo, "Repository (default: the current directory)");
  verify->add_option("--window", v->window, "Time without a recurrence after the merge that counts as stopped (default: 24h)");
  verify->add_flag("--json", v->json, "One JSON object: {run, prs: [{number, issue_id, url, state, human_commits, recurrence, events_since, error}]}");
  verify->callback([v, &shared] {
    fs::path root;
    auto config = load_repo_config(shared, v->repo, root, false);
    if (!config) return;
    auto window = parse_duration(v->window);
    if (!window) {
      shared.exit_code = fail(window.status().message());
      return;
    }
    heal::VerifyOptions vo;
    vo.store_dir = resolve_store(shared.global, root);
    for (const auto& p : shared.global.plugins) vo.extra_plugin_dirs.push_back(fs::absolute(p));
    vo.argv = {"hostctl", "heal", "verify"};
    vo.window = *window;
    auto r = heal::run_heal_verify(*config, vo);
    if (!r) {
      shared.exit_code = fail(r.status().to_string());
      return;
    }
    if (v->json) {
      std::cout << heal::to_json(*r).dump(2) << "\n";
    } else {
      for (const auto& c : r->prs)
        std::cout << "PR #" << c.number << " (" << c.issue_id << "): " << c.state
                  << (c.recurrence.empty() ? "" : ", " + c.recurrence) << (c.error.empty() ? "" : ": " + c.error) << "\n";
      std::cout << r->prs.size() << " fixhost PRs checked; run " << r->run << "\n";
    }
    shared.exit_code = r->exit_code;
  });
}

}  // namespace fixhost::host::cli
