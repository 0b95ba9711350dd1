#include "fixhost/host/engine/detect.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "fixhost/events/codec.hpp"
#include "fixhost/sdk/stack_frames.hpp"
#include "fixhost/host/world/source_scan.hpp"
#include "fixhost/host/world/suite_runner.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;
namespace {

std::string first_line(std::string_view s) {
  auto nl = s.find('\n');
  return std::string(s.substr(0, nl));
}

// Runs a suite request: records SuiteStarted and SuiteFinished, returns everything derived.
Result<std::vector<events::Event>> record_suite(RunContext& run, const SuiteConfig& suite, const SuiteRequest& req,
                                                const std::function<void(std::string_view)>& on_output) {
  Status start_status;
  std::uint64_t started_seq = 0;
  auto finished = run_suite(
      suite, req,
      [&](const events::SuiteStarted& s) {
        auto r = run.publish(s);
        if (!r) start_status = r.status();
        else started_seq = r->front().seq;
      },
      on_output);
  if (!start_status) return start_status;
  return run.publish(finished, started_seq);
}

// Lines in `p` (0 when it cannot be read).
std::int64_t line_count(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return 0;
  std::int64_t n = 0;
  char buf[1 << 14];
  bool last_nl = true;
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) n += buf[i] == '\n';
    last_nl = buf[in.gcount() - 1] == '\n';
  }
  return n + (last_nl ? 0 : 1);
}

// A file:line that is not in the file (jest with coverage reports lines of the instrumented
// code) is not passed on as true: the nearest frame of the trace whose line exists is taken
// instead, or the line is dropped.
void check_location(DetectedFailure& d, const fs::path& cwd) {
  auto& f = d.failure;
  if (f.file.empty() || f.line <= 0) return;
  auto resolve = [&](const std::string& file) -> fs::path {
    fs::path p(file);
    return p.is_absolute() ? p : cwd / p;
  };
  std::error_code ec;
  const fs::path path = resolve(f.file);
  if (!fs::is_regular_file(path, ec)) return;
  if (f.line <= line_count(path)) return;
  const std::int64_t bad = f.line;
  for (const auto& fr : sdk::parse_stack(f.stack_trace)) {
    if (fr.line <= 0 || (fr.path == f.file && fr.line == bad)) continue;
    fs::path p = resolve(fr.path);
    auto rel = p.lexically_relative(cwd).generic_string();
    if (rel.empty() || rel.starts_with("..") || rel.find("node_modules/") != std::string::npos) continue;
    if (!fs::is_regular_file(p, ec) || fr.line > line_count(p)) continue;
    d.location_note = f.file + ":" + std::to_string(bad) + " is past the end of the file (instrumented code?); using " +
                      rel + ":" + std::to_string(fr.line) + ", the nearest frame whose line exists";
    f.file = rel;
    f.line = fr.line;
    return;
  }
  d.location_note = f.file + ":" + std::to_string(bad) + " is past the end of the file (instrumented code?); line dropped";
  f.line = 0;
}

const events::SuiteParsed* find_parsed(const std::vector<events::Event>& evs, events::SuiteParsed& storage) {
  for (const auto& e : evs)
    if (e.type == events::EventType::SuiteParsed) {
      auto p = events::decode<events::SuiteParsed>(e);
      if (p) {
        storage = std::move(p.value());
        return &storage;
      }
    }
  return nullptr;
}


// The failures among `evs` with what the plugins derived for each (category, depth).
std::vector<DetectedFailure> gather_failures(const std::vector<events::Event>& evs, const fs::path& cwd) {
  std::vector<DetectedFailure> mine;
  for (const auto& e : evs) {
    if (e.type != events::EventType::FailureDetected) continue;
    auto f = events::decode<events::FailureDetected>(e);
    if (!f) continue;
    DetectedFailure d;
    d.failure = std::move(f.value());
    d.seq = e.seq;
    mine.push_back(std::move(d));
  }
  std::map<std::uint64_t, DetectedFailure*> by_seq;
  for (auto& d : mine) by_seq[d.seq] = &d;
  for (const auto& e : evs) {
    auto it = by_seq.find(e.causation);
    if (it == by_seq.end()) continue;
    DetectedFailure* d = it->second;
    if (e.type == events::EventType::FailureClassified) {
      if (auto c = events::decode<events::FailureClassified>(e)) {
        d->category = c->category;
        d->confidence = c->confidence;
        d->evidence = c->evidence;
      }
    } else if (e.type == events::EventType::FailureOrdered) {
      if (auto o = events::decode<events::FailureOrdered>(e)) {
        d->depth = o->depth;
        d->module = o->module;
        d->order_reason = o->reason;
      }
    }
  }
  for (auto& d : mine) check_location(d, cwd);
  return mine;
}

}  // namespace

nlohmann::json failure_json(const DetectedFailure& d) {
  const auto& f = d.failure;
  nlohmann::json ev = nlohmann::json::array();
  for (const auto& e : d.evidence) ev.push_back({{"rule", e.rule}, {"pattern", e.pattern}, {"matched", e.matched}});
  return {{"order", d.order},       {"runner", f.runner},         {"suite", f.suite},
          {"test_id", f.test_id},   {"file", f.file},             {"line", f.line},
          {"test_name", f.test_name}, {"error_type", f.error_type}, {"message", f.message},
          {"stack_trace", f.stack_trace}, {"phase", f.phase},     {"category", d.category},
          {"confidence", d.confidence}, {"evidence", ev},         {"flaky", d.flaky},
          {"depth", d.depth},       {"module", d.module},         {"order_reason", d.order_reason},
          {"location_note", d.location_note}, {"seq", d.seq}};
}

std::string SuiteSummary::warning() const {
  std::string w;
  if (!uncollected.empty()) {
    w = std::to_string(uncollected.size()) + " test file(s) of '" + suite + "' failed to import, so none of their tests ran: ";
    for (std::size_t i = 0; i < uncollected.size() && i < 3; ++i) w += (i ? ", " : "") + uncollected[i];
    if (uncollected.size() > 3) w += ", ...";
    w += "; their failures appear once they import (fixed first)";
  }
  if (!interrupted.empty())
    w += std::string(w.empty() ? "" : "; ") + "suite '" + suite + "' stopped early (" + interrupted + "): " +
         std::to_string(tests) + " tests ran" + (collected > tests ? " of " + std::to_string(collected) + " collected" : "");
  else if (collected > tests && uncollected.empty())
    w += std::string(w.empty() ? "" : "; ") + "suite '" + suite + "' ran " + std::to_string(tests) + " of the " +
         std::to_string(collected) + " tests it collected";
  return w;
}

Result<BatchResult> run_tests(RunContext& run, const SuiteConfig& suite, const std::filesystem::path& root,
                              const std::vector<std::string>& test_ids, const std::string& purpose,
                              const std::map<std::string, std::string>& env, WarmRun* warm) {
  BatchResult out;
  if (test_ids.empty()) return out;
  SuiteRequest req;
  req.purpose = purpose;
  req.test_ids = test_ids;
  req.root = root;
  req.env = env;
  req.warm = warm;
  auto evs = record_suite(run, suite, req, nullptr);
  if (!evs) return evs.status();
  events::SuiteParsed storage;
  const events::SuiteParsed* parsed = find_parsed(*evs, storage);
  const std::set<std::string> asked(test_ids.begin(), test_ids.end());
  for (auto& d : gather_failures(*evs, root / suite.cwd)) {
    std::string id = d.failure.test_id;
    if (asked.count(id)) {
      out.failing.insert(id);
      out.failures.emplace(id, std::move(d));
    } else {
      out.revealed.push_back(std::move(d));
    }
  }
  // A test counts as passed only when the run shows enough passes for every one asked for that
  // did not fail: a run that broke or matched nothing tells nothing.
  // A file asked for (it failed to import) passes when it now imports: no collection failure.
  std::uint32_t expected = 0;
  for (const auto& id : asked)
    if (!out.failing.count(id) && id.find("::") != std::string::npos) ++expected;
  const bool told = parsed && (parsed->tests > 0 || !out.failing.empty() || !out.revealed.empty()) &&
                    parsed->interrupted.empty();
  const bool enough = parsed && parsed->passed + parsed->xfailed >= expected;
  for (const auto& id : asked) {
    if (out.failing.count(id)) continue;
    const bool is_file = id.find("::") == std::string::npos;
    if (told && (is_file || enough)) out.passed.insert(id);
    else out.unknown.insert(id);
  }
  if (!out.unknown.empty()) {
    auto sf = events::decode<events::SuiteFinished>((*evs)[0]);
    out.note = !parsed ? "the run produced no parsable result"
               : sf && !sf->error.empty() ? sf->error
               : !parsed->interrupted.empty() ? "the run stopped early: " + parsed->interrupted
               : parsed->tests == 0 ? "no test matched " + (test_ids.size() == 1 ? "'" + test_ids[0] + "'" : std::string("them"))
                                    : "the run showed fewer passes than tests asked for";
  }
  return out;
}

void assign_fix_order(std::vector<DetectedFailure>& failures) {
  std::stable_sort(failures.begin(), failures.end(), [](const DetectedFailure& a, const DetectedFailure& b) {
    return std::tie(a.depth, a.failure.file, a.failure.line, a.failure.test_id) <
           std::tie(b.depth, b.failure.file, b.failure.line, b.failure.test_id);
  });
  std::uint32_t n = 0;
  for (auto& f : failures) f.order = ++n;
}

Result<bool> run_single_test(RunContext& run, const SuiteConfig& suite, const std::filesystem::path& root,
                             const std::string& test_id, const std::string& purpose, std::string* last_error,
                             const std::map<std::string, std::string>& env) {
  auto batch = run_tests(run, suite, root, {test_id}, purpose, env);
  if (!batch) return batch.status();
  const bool passed = batch->passed.count(test_id) > 0;
  if (!passed && last_error) {
    if (auto it = batch->failures.find(test_id); it != batch->failures.end())
      *last_error = it->second.failure.error_type + ": " + first_line(it->second.failure.message);
    else
      *last_error = batch->note.empty() ? "no test matched '" + test_id + "'" : batch->note;
  }
  return passed;
}

const SuiteConfig* suite_named(const Config& config, const std::string& name) {
  for (const auto& s : config.suites)
    if (s.name == name) return &s;
  return nullptr;
}

Result<SweepResult> sweep_suites(RunContext& run, const Config& config, const std::filesystem::path& root,
                                 const std::string& purpose,
                                 const std::function<void(const std::string&)>& progress,
                                 std::map<std::string, std::unique_ptr<WarmRun>>* warm) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  SweepResult out;
  for (const auto& suite : config.suites) {
    say("running " + suite.runner + " suite '" + suite.name + "' (" + purpose + ") ...");
    auto t0 = std::chrono::steady_clock::now();
    std::size_t lines = 0;
    auto last_tick = t0;
    SuiteRequest req;
    req.purpose = purpose;
    req.root = root;
    if (warm)
      if (auto w = WarmRun::start(suite, req)) (*warm)[suite.name] = std::move(w);
    auto evs = record_suite(run, suite, req, [&](std::string_view chunk) {
      lines += static_cast<std::size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
      auto now = std::chrono::steady_clock::now();
      if (now - last_tick > std::chrono::seconds(5)) {
        last_tick = now;
        say("  ... '" + suite.name + "' still running (" +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - t0).count()) + " s, " +
            std::to_string(lines) + " lines of output)");
      }
    });
    if (!evs) return evs.status();
    auto finished = events::decode<events::SuiteFinished>((*evs)[0]);
    SuiteSummary sum;
    sum.suite = suite.name;
    sum.runner = suite.runner;
    if (finished) {
      sum.exit_code = finished->exit_code;
      sum.error = finished->error;
    }
    events::SuiteParsed storage;
    const events::SuiteParsed* parsed = find_parsed(*evs, storage);
    if (!parsed && sum.error.empty())
      sum.error = "no parser plugin handled the " + suite.runner + " suite '" + suite.name + "' (is the " +
                  suite.runner + "_parser plugin loaded? see 'hostctl plugins')";
    if (parsed && parsed->tests == 0 && parsed->failures + parsed->errors == 0 && sum.error.empty()) {
      std::string tail = finished ? finished->output.data.substr(
                                        finished->output.data.size() > 400 ? finished->output.data.size() - 400 : 0)
                                  : "";
      sum.error = "suite '" + suite.name + "' ran no tests (exit " + std::to_string(sum.exit_code) +
                  "); check its command in fixhost.toml. Last output:\n" + tail;
    }
    if (parsed) {
      sum.tests = parsed->tests;
      sum.failures = parsed->failures + parsed->errors;
      sum.collected = parsed->collected;
      sum.interrupted = parsed->interrupted;
      out.tests += parsed->tests;
    }
    if (sum.error.empty() || (parsed && parsed->failures + parsed->errors > 0)) ++out.runnable;
    auto secs =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() / 1000.0;
    char line[256];
    std::snprintf(line, sizeof line, "  %s: %u tests, %u failing (%.1f s)", suite.name.c_str(), sum.tests,
                  sum.failures, secs);
    auto mine = gather_failures(*evs, root / suite.cwd);
    for (const auto& d : mine)
      if (d.failure.phase == "collection") sum.uncollected.push_back(d.failure.test_id);
    say(sum.error.empty() ? std::string(line) : "  " + suite.name + ": " + sum.error);
    if (auto w = sum.warning(); !w.empty()) say("  WARNING: " + w);
    for (auto& d : mine) out.failures.push_back(std::move(d));
    out.suites.push_back(sum);
  }
  return out;
}

Result<DetectResult> run_detect(RunContext& run, const Config& config, const DetectOptions& options) {
  DetectResult out;
  auto say = [&](const std::string& s) {
    if (options.progress) options.progress(s);
  };
  if (config.suites.empty()) {
    out.error = "no test suite found in '" + config.repo.string() +
                "': no pytest configuration or tests/ directory and no package.json using jest; "
                "declare one in fixhost.toml with [[suites]] (docs/CONFIG.md)";
    return out;
  }

  auto scanned = scan_sources(options.root);
  scanned.root = options.root.string();
  say("scanned " + std::to_string(scanned.files.size()) + " source files for imports");
  auto derived = run.publish(scanned);
  if (!derived) return derived.status();
  for (const auto& e : *derived)
    if (e.type == events::EventType::ProtectionTooWide)
      if (auto w = events::decode<events::ProtectionTooWide>(e)) {
        say("WARNING: the built-in protection '" + w->protection + "' (the word '" + w->matched + "') covers " +
            std::to_string(w->files_covered) + " of the " + std::to_string(w->files_total) +
            " source files; attempts there would all be refused. To let fixes in, write in fixhost.toml:\n" +
            w->suggestion);
        out.wide_protections.push_back(std::move(*w));
      }

  // The flaky check's first re-run of each pytest suite starts beside its main run (WarmRun).
  std::map<std::string, std::unique_ptr<WarmRun>> warm;
  const bool flaky_check = !options.skip_flaky_check && config.flaky_reruns > 0;
  auto sweep = sweep_suites(run, config, options.root, "detect", options.progress, flaky_check ? &warm : nullptr);
  if (!sweep) return sweep.status();
  out.suites = sweep->suites;
  out.tests = sweep->tests;
  std::vector<DetectedFailure> failures = std::move(sweep->failures);
  if (sweep->runnable == 0) {
    out.error = "no suite could be run:";
    for (const auto& s : out.suites) out.error += "\n  " + s.suite + ": " + s.error;
  }

  // Flaky check: a failure is real only if it fails again flaky_reruns times. All of a suite's
  // failures re-run together, one process per re-run; only those that passed there run alone
  // once more, to confirm and record whether they pass by themselves.
  if (flaky_check) {
    for (const auto& suite : config.suites) {
      std::vector<std::string> ids;
      std::map<std::string, DetectedFailure*> by_id;
      for (auto& d : failures) {
        if (d.failure.suite != suite.name || d.failure.phase == "collection") continue;
        if (static_cast<int>(ids.size()) >= config.flaky_check_max) {
          ++out.flaky_unchecked;
          continue;
        }
        if (by_id.emplace(d.failure.test_id, &d).second) ids.push_back(d.failure.test_id);
      }
      if (ids.empty()) {
        warm.erase(suite.name);
        continue;
      }
      std::map<std::string, std::uint32_t> reruns;
      std::vector<std::string> passed_together;
      std::vector<std::string> pending = ids;
      for (int i = 0; i < config.flaky_reruns && !pending.empty(); ++i) {
        say("flaky check: re-running " + std::to_string(pending.size()) + " failure(s) of '" + suite.name +
            "' together (" + std::to_string(i + 1) + "/" + std::to_string(config.flaky_reruns) + ")");
        // This re-run's process was started ahead (beside the main run, or beside the re-run
        // before); the next one starts beside this one.
        std::unique_ptr<WarmRun> now = std::move(warm[suite.name]);
        if (i + 1 < config.flaky_reruns) {
          SuiteRequest next;
          next.purpose = "flaky_check";
          next.root = options.root;
          warm[suite.name] = WarmRun::start(suite, next);
        }
        auto batch = run_tests(run, suite, options.root, pending, "flaky_check", {}, now.get());
        if (!batch) return batch.status();
        for (const auto& id : pending) ++reruns[id];
        passed_together.insert(passed_together.end(), batch->passed.begin(), batch->passed.end());
        pending.assign(batch->failing.begin(), batch->failing.end());
      }
      warm.erase(suite.name);
      for (const auto& id : passed_together) {
        DetectedFailure& d = *by_id[id];
        say("flaky check: " + id + " passed when re-run; re-running it alone to confirm");
        auto alone = run_single_test(run, suite, options.root, id, "flaky_check");
        if (!alone) return alone.status();
        // It failed once and passed once with the same code: flaky, whatever the run alone says
        // (which is recorded: a pass beside others but not alone points at shared state).
        events::FlakeDetected fl;
        fl.test_id = id;
        fl.reruns = reruns[id] + 1;
        fl.passes = 1 + (*alone ? 1 : 0);
        auto evs = run.publish(fl, d.seq);
        if (!evs) return evs.status();
        d.flaky = true;
        d.category = "flaky";
        d.confidence = 1.0;
        for (const auto& e : *evs)
          if (e.type == events::EventType::FailureClassified)
            if (auto c = events::decode<events::FailureClassified>(e)) {
              d.category = c->category;
              d.confidence = c->confidence;
              d.evidence = c->evidence;
            }
        ++out.flaky;
      }
    }
    if (out.flaky_unchecked > 0)
      say("flaky check: skipped " + std::to_string(out.flaky_unchecked) + " failure(s) past flaky_check_max = " +
          std::to_string(config.flaky_check_max) + " per suite; they are reported as real");
  }
  assign_fix_order(failures);
  out.failures = std::move(failures);
  return out;
}

}  // namespace fixhost::host
