// hostctl build: a feature built by several agents at once (docs/BUILD.md). Three ways in: a
// manifest (build.toml), a template written with the feature filled in (--template), or a
// planner agent that writes the manifest from a spec (--planner); --plan-only stops after
// validating and showing it.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/build/build.hpp"
#include "fixhost/host/build/manifest.hpp"
#include "fixhost/host/cluster.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

namespace {

extern "C" void on_build_interrupt(int) { request_interrupt(); }

// examples/build/ next to the sources this hostctl was built from, else beside the binary.
fs::path templates_dir() {
#ifdef FIXHOST_BUILD_TEMPLATES
  if (fs::path p = FIXHOST_BUILD_TEMPLATES; fs::exists(p)) return p;
#endif
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / "share" / "fixhost" / "examples" / "build";
}

nlohmann::json plan_json(const build::Manifest& m, const std::string& path) {
  nlohmann::json streams = nlohmann::json::array();
  for (const auto& s : m.streams)
    streams.push_back({{"id", s.id}, {"role", s.role}, {"owns", s.owns}, {"shared", s.shared},
                       {"depends_on", s.depends_on}, {"agent", s.agent}, {"budget_s", s.budget_s}});
  return {{"manifest", path}, {"feature", m.feature}, {"spec", m.spec}, {"order", m.order()}, {"streams", streams}};
}

// Runs the planner agent: it reads the spec and the repository and writes the manifest to
// FIXHOST_MANIFEST_FILE. The host validates what it wrote like a hand-written manifest.
Result<fs::path> run_planner(const std::string& planner, const fs::path& spec, const fs::path& repo,
                             const fs::path& store, int budget_s) {
  const fs::path dir = store / "plans" / new_run_id();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot create " + dir.string() + ": " + ec.message());
  const fs::path out = dir / "build.toml";
  ProcessSpec ps;
  ps.argv = {"/bin/sh", "-c", planner};
  ps.cwd = repo.string();
  ps.env = {{"FIXHOST_MANIFEST_FILE", out.string()},
            {"FIXHOST_SPEC_FILE", spec.string()},
            {"FIXHOST_REPO", repo.string()},
            {"FIXHOST_TEMPLATES", templates_dir().string()}};
  ps.timeout = std::chrono::seconds(budget_s);
  ps.head_cap = ps.tail_cap = 64 * 1024;
  auto r = run_process(ps);
  if (!r) return r.status();
  if (r->timed_out)
    return make_error(Errc::timeout, "the planner `" + planner + "` ran out of its " + std::to_string(budget_s) +
                                         " s (--planner-budget) and was killed");
  if (r->exit_code != 0)
    return make_error(Errc::refused, "the planner `" + planner + "` exited " + std::to_string(r->exit_code) + ": " +
                                         one_line(r->output.data, 300));
  if (!fs::exists(out, ec))
    return make_error(Errc::not_found, "the planner `" + planner + "` wrote no manifest to FIXHOST_MANIFEST_FILE (" +
                                           out.string() + "); it must write build.toml there");
  return out;
}

}  // namespace

void register_build(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string repo = ".", manifest, agent, templ, feature, output, spec, planner, report, fix_agent, remote, stream, stream_of;
    std::uint32_t jobs = 0;
    int planner_budget = 600;
    bool plan_only = false, json = false, force = false, fix = false, distributed = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "build",
      "Build a feature with several agents at once: the streams of build.toml run in dependency order,\n"
      "each in its own worktree and branch fixhost/build-<run>-<stream>, based on the merged result of\n"
      "the streams it depends on. A stream's diff must stay inside what it owns. The worktree_merger\n"
      "plugin decides the merge; the integration commands run on the merged result; green, one\n"
      "squashed commit lands on fixhost/build-<run> (then `hostctl approve RUN`). Your checkout and\n"
      "branch are never touched. Reference: docs/BUILD.md.\n"
      "Exit 0: landed (or --plan-only/--template done); 1: nothing landed (a stream, the merge or\n"
      "integration failed); 2: could not run (bad manifest, not a repository, planner failed); 3: a\n"
      "time budget ran out; 130: interrupted.");
  cmd->add_option("--repo", o->repo, "Repository (default: the current directory)");
  cmd->add_option("--manifest", o->manifest, "The manifest (default: build.toml at the repository root)");
  cmd->add_option("--agent", o->agent, "Agent for streams without their own and without [build] agent (default: fixhost.toml's agent)");
  cmd->add_option("--jobs", o->jobs, "Streams running at once (default: [build] jobs, else as many as are ready)");
  cmd->add_option("--template", o->templ, "Write a manifest from a template: api-endpoint | ui-feature | data-model");
  cmd->add_option("--feature", o->feature, "The feature's name, for --template");
  cmd->add_option("-o,--output", o->output, "Where --template writes (default: build.toml at the repository root)");
  cmd->add_flag("--force", o->force, "Let --template overwrite an existing file");
  cmd->add_option("--spec", o->spec, "The spec the planner reads (with --planner)");
  cmd->add_option("--planner", o->planner, "A coordinator agent (sh -c CMD) that writes the manifest to $FIXHOST_MANIFEST_FILE");
  cmd->add_option("--planner-budget", o->planner_budget, "Seconds the planner may take (default 600)")->check(CLI::PositiveNumber);
  cmd->add_flag("--plan-only", o->plan_only, "Validate and show the manifest (and its order), run nothing");
  cmd->add_option("--report", o->report, "Also write the markdown report to FILE");
  cmd->add_flag("--fix", o->fix,
                "Hand integration failures to the fix loop on the integration worktree: failing tests (fixhost.toml's "
                "suites), and type checks, lint and the contract check as failing commands (verified by re-running them)");
  cmd->add_option("--fix-agent", o->fix_agent, "The agent for --fix (default: --agent, else fixhost.toml's agent)");
  cmd->add_flag("--distributed", o->distributed,
                "Run the streams on the cluster's workers (`hostctl worker --cluster`, docs/CLUSTER.md): each ready stream "
                "is a build job; the merge, integration and commit happen here");
  cmd->add_option("--remote", o->remote,
                  "With --distributed: the git URL the workers clone each stream's base from and push its branch to "
                  "(default: the URL of origin)");
  cmd->add_option("--stream", o->stream,
                  "Run this one stream on HEAD (its dependencies already in HEAD) and commit it on its branch; no merge, "
                  "no integration. What a worker runs for a build job");
  cmd->add_option("--stream-of", o->stream_of, "With --stream: the coordinating build's run id, which names the branch");
  cmd->add_flag("--json", o->json, "Print the plan or the build's report as JSON");
  cmd->callback([o, &shared] {
    auto progress = progress_printer(shared);
    const fs::path root = repo_root(o->repo);

    if (!o->templ.empty()) {
      if (o->feature.empty()) {
        shared.exit_code = fail("--template needs --feature \"what to build\" (it names the feature in the manifest)");
        return;
      }
      auto text = build::render_template(templates_dir(), o->templ, o->feature);
      if (!text) {
        shared.exit_code = fail(text.status().to_string());
        return;
      }
      const fs::path out = o->output.empty() ? root / "build.toml" : fs::absolute(o->output);
      std::error_code ec;
      if (fs::exists(out, ec) && !o->force) {
        shared.exit_code = fail("'" + out.string() + "' exists; pass --force to overwrite it or -o FILE to write elsewhere");
        return;
      }
      std::ofstream f(out, std::ios::binary);
      f << *text;
      if (!f) {
        shared.exit_code = fail("cannot write '" + out.string() + "'");
        return;
      }
      if (o->json) std::cout << events::dump_json({{"written", out.string()}, {"template", o->templ}}, 2) << "\n";
      else std::cout << "wrote " << out.string() << " from template " << o->templ
                     << "; set each stream's agent (or [build] agent), adjust the globs, then: hostctl build\n";
      shared.exit_code = k_exit_ok;
      return;
    }

    auto config = load_config(root, false);
    if (!config) {
      shared.exit_code = fail(config.status().to_string());
      return;
    }
    const std::string default_agent = !o->agent.empty() ? o->agent : config->agent;
    const fs::path store = resolve_store(shared.global, root);
    fs::path manifest_path = o->manifest.empty() ? root / "build.toml" : fs::absolute(o->manifest);
    if (!o->planner.empty()) {
      if (o->spec.empty()) {
        shared.exit_code = fail("--planner needs --spec FILE: the spec the planner turns into a manifest");
        return;
      }
      const fs::path spec = fs::absolute(o->spec);
      if (!fs::exists(spec)) {
        shared.exit_code = fail("--spec '" + spec.string() + "' does not exist");
        return;
      }
      progress("planner: " + o->planner);
      auto planned = run_planner(o->planner, spec, root, store, o->planner_budget);
      if (!planned) {
        shared.exit_code = fail(planned.status().to_string());
        return;
      }
      manifest_path = *planned;
    } else if (!o->spec.empty()) {
      shared.exit_code = fail("--spec is for the planner; pass --planner CMD too, or set `spec` in the manifest");
      return;
    }
    auto m = build::read_manifest(manifest_path, default_agent);
    if (!m) {
      shared.exit_code = fail(m.status().to_string());
      return;
    }
    if (o->plan_only || !o->planner.empty()) {
      if (o->json) {
        std::cout << events::dump_json(plan_json(*m, manifest_path.string()), 2) << "\n";
      } else {
        std::cout << "# " << manifest_path.string() << "\n" << build::to_toml(*m);
        std::cout << "# order: ";
        auto ord = m->order();
        for (std::size_t i = 0; i < ord.size(); ++i) std::cout << (i ? " -> " : "") << ord[i];
        std::cout << "\n";
      }
      if (o->plan_only) {
        shared.exit_code = k_exit_ok;
        return;
      }
    }
    build::BuildOptions bo;
    bo.store_dir = store;
    for (const auto& p : shared.global.plugins) bo.extra_plugin_dirs.push_back(fs::absolute(p));
    bo.argv = {"hostctl", "build", "--manifest", manifest_path.string()};
    bo.manifest = std::move(*m);
    bo.jobs = o->jobs;
    bo.report_path = o->report.empty() ? "" : fs::absolute(o->report).string();
    if (o->fix) {
      bo.fix_agent = !o->fix_agent.empty() ? o->fix_agent : default_agent;
      if (bo.fix_agent.empty()) {
        shared.exit_code = fail("--fix needs an agent: pass --fix-agent CMD or --agent CMD, or set agent in fixhost.toml");
        return;
      }
    }
    bo.only_stream = o->stream;
    bo.stream_of = o->stream_of;
    if (!o->stream_of.empty() && o->stream.empty()) {
      shared.exit_code = fail("--stream-of names the build a --stream run belongs to; pass --stream ID too");
      return;
    }
    if (o->distributed) {
      auto cc = load_cluster_config(root);
      if (!cc) {
        shared.exit_code = fail(cc.status().to_string());
        return;
      }
      bo.distributed = true;
      bo.cluster = std::move(*cc);
      bo.remote = o->remote;
      if (bo.remote.empty())
        if (auto url = git::run(root, {"remote", "get-url", "origin"})) bo.remote = *url;
      if (auto h = cluster_host_id(bo.cluster, store)) bo.submitter = *h;
    } else if (!o->remote.empty()) {
      shared.exit_code = fail("--remote is where --distributed's workers clone from; pass --distributed too");
      return;
    }
    bo.progress = progress;
    std::signal(SIGINT, on_build_interrupt);
    std::signal(SIGTERM, on_build_interrupt);
    auto res = build::run_build(*config, bo);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (!res) {
      shared.exit_code = fail(res.status().to_string());
      return;
    }
    if (!res->error.empty()) {
      shared.exit_code = fail(res->error, res->exit_code);
      return;
    }
    nlohmann::json streams = nlohmann::json::array();
    for (const auto& s : res->streams)
      streams.push_back({{"stream", s.id}, {"outcome", s.outcome}, {"detail", s.detail}, {"commit", s.commit},
                         {"files", s.files}, {"stray", s.stray}, {"summary", s.summary}, {"agent_exit", s.agent_exit},
                         {"diffstat", s.diffstat}, {"duration_ms", s.duration_ms}, {"worker", s.worker}});
    if (!o->stream.empty()) {
      // One stream: its outcome is the result (a worker reads this).
      nlohmann::json j = streams.empty() ? nlohmann::json::object() : streams[0];
      j["run_id"] = res->run_id;
      j["branch"] = res->branch;
      j["commit"] = res->commit;
      j["exit_code"] = res->exit_code;
      if (o->json) std::cout << events::dump_json(j, 2) << "\n";
      else std::cout << "stream " << o->stream << ": " << j.value("outcome", "?")
                     << (res->commit.empty() ? std::string() : " " + res->commit.substr(0, 12) + " on " + res->branch) << "\n";
    } else if (o->json) {
      std::cout << events::dump_json({{"run_id", res->run_id}, {"landed", res->landed}, {"branch", res->branch},
                                      {"commit", res->commit}, {"exit_code", res->exit_code}, {"streams", streams},
                                      {"report", res->markdown}},
                                     2)
                << "\n";
    } else {
      std::cout << res->table;
      if (res->landed) std::cout << "next: hostctl approve " << res->run_id << "   (or: hostctl discard " << res->run_id << ")\n";
      else std::cout << "next: hostctl discard " << res->run_id << "\n";
    }
    shared.exit_code = res->exit_code;
  });
}

}  // namespace fixhost::host::cli
