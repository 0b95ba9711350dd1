// hostctl detect: DETECT and DIAGNOSE, then a table of failures in fix order.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/engine/detect.hpp"

namespace fixhost::host::cli {
namespace fs = std::filesystem;

void register_detect(CLI::App& app, Shared& shared) {
  struct Opts {
    std::string repo = ".";
    bool json = false;
    bool no_flaky = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "detect",
      "Run the test suites, parse every failure, classify and order them (utilities before the\n"
      "features that import them), re-run the failures of each suite together (flaky_reruns times,\n"
      "one process each, a pytest one started beside the suite's run; one that passes is confirmed\n"
      "alone) to catch flaky tests, and print them.\n"
      "Exit 0: no failure; 1: failures found; 2: the suites could not be run.");
  cmd->add_option("--repo", o->repo, "Repository to test (default: the current directory)");
  cmd->add_flag("--json", o->json, "Print a JSON array of failures instead of the table");
  cmd->add_flag("--no-flaky-check", o->no_flaky, "Do not re-run the failures (no flaky check)");
  cmd->callback([o, &shared] {
    auto progress = progress_printer(shared);
    fs::path root;
    auto config = load_repo_config(shared, o->repo, root);
    if (!config) return;
    for (const auto& n : config->notes) progress("note: " + n);
    RunOptions ro;
    ro.store_dir = resolve_store(shared.global, root);
    for (const auto& p : shared.global.plugins) ro.extra_plugin_dirs.push_back(fs::absolute(p));
    ro.mode = "detect";
    ro.argv = {"hostctl", "detect"};
    auto run = RunContext::start(*config, ro);
    if (!run) {
      shared.exit_code = fail(run.status().to_string());
      return;
    }
    DetectOptions dopts;
    dopts.root = root;
    dopts.skip_flaky_check = o->no_flaky;
    dopts.progress = progress;
    auto res = run_detect(**run, *config, dopts);
    if (!res) {
      (void)(*run)->finish("error", k_exit_cannot_run, res.status().to_string());
      shared.exit_code = fail(res.status().to_string());
      return;
    }
    const auto& r = *res;
    std::size_t suites_run = 0;
    for (const auto& s : r.suites)
      if (s.error.empty() || s.failures > 0) ++suites_run;
    std::string summary = std::to_string(r.failures.size()) + " failures in " + std::to_string(r.tests) +
                          " tests (" + std::to_string(r.flaky) + " flaky) across " + std::to_string(suites_run) +
                          " suites";
    int code = !r.error.empty() ? k_exit_cannot_run : r.failures.empty() ? k_exit_ok : k_exit_failures;
    (void)(*run)->finish(code == k_exit_ok ? "ok" : code == k_exit_failures ? "failures" : "error", code,
                         r.error.empty() ? summary : r.error);
    if (o->json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& d : r.failures) arr.push_back(failure_json(d));
      std::cout << events::dump_json(arr, 2) << "\n";
    } else {
      if (!r.failures.empty()) {
        std::vector<std::vector<std::string>> rows;
        for (const auto& d : r.failures) {
          const auto& f = d.failure;
          rows.push_back({std::to_string(d.order), f.test_id, d.category, f.error_type,
                          f.file + (f.line > 0 ? ":" + std::to_string(f.line) : ""), one_line(f.message, 60)});
        }
        std::cout << render_table({"#", "TEST", "CATEGORY", "ERROR", "FILE:LINE", "MESSAGE"}, rows, 70);
      }
      std::cout << summary << "\n";
      std::cout << "run " << (*run)->id() << " recorded in " << ro.store_dir.string() << "\n";
    }
    if (!r.error.empty()) std::cerr << "hostctl: " << r.error << "\n";
    shared.exit_code = code;
  });
}

}  // namespace fixhost::host::cli
