#include "fixhost/host/detect.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "fixhost/events/codec.hpp"

#include <nlohmann/json.hpp>
#include "fixhost/host/source_scan.hpp"
#include "fixhost/host/suite_runner.hpp"

namespace fixhost::host {
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
          {"seq", d.seq}};
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
  SuiteRequest req;
  req.purpose = purpose;
  req.test_id = test_id;
  req.root = root;
  req.env = env;
  auto evs = record_suite(run, suite, req, nullptr);
  if (!evs) return evs.status();
  events::SuiteParsed storage;
  const events::SuiteParsed* parsed = find_parsed(*evs, storage);
  bool passed = parsed && parsed->tests >= 1 && parsed->failures == 0 && parsed->errors == 0 &&
                (parsed->passed >= 1 || parsed->xfailed >= 1);
  if (!passed && last_error) {
    *last_error = "";
    for (const auto& e : *evs)
      if (e.type == events::EventType::FailureDetected)
        if (auto f = events::decode<events::FailureDetected>(e)) {
          *last_error = f->error_type + ": " + first_line(f->message);
          break;
        }
    if (last_error->empty()) {
      auto sf = events::decode<events::SuiteFinished>((*evs)[0]);
      if (sf && !sf->error.empty()) *last_error = sf->error;
      else if (!parsed) *last_error = "the test run produced no parsable result";
      else if (parsed->tests == 0) *last_error = "no test matched '" + test_id + "'";
    }
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
                                 const std::function<void(const std::string&)>& progress) {
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
      out.tests += parsed->tests;
    }
    if (sum.error.empty() || (parsed && parsed->failures + parsed->errors > 0)) ++out.runnable;
    auto secs =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() / 1000.0;
    char line[256];
    std::snprintf(line, sizeof line, "  %s: %u tests, %u failing (%.1f s)", suite.name.c_str(), sum.tests,
                  sum.failures, secs);
    say(sum.error.empty() ? std::string(line) : "  " + suite.name + ": " + sum.error);

    std::vector<DetectedFailure> mine;
    for (const auto& e : *evs) {
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
    for (const auto& e : *evs) {
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
  if (auto r = run.publish(scanned); !r) return r.status();

  auto sweep = sweep_suites(run, config, options.root, "detect", options.progress);
  if (!sweep) return sweep.status();
  out.suites = sweep->suites;
  out.tests = sweep->tests;
  std::vector<DetectedFailure> failures = std::move(sweep->failures);
  if (sweep->runnable == 0) {
    out.error = "no suite could be run:";
    for (const auto& s : out.suites) out.error += "\n  " + s.suite + ": " + s.error;
  }

  // Flaky check: a failure is real only if it also fails alone, flaky_reruns times.
  if (!options.skip_flaky_check && config.flaky_reruns > 0) {
    for (auto& d : failures) {
      if (d.failure.phase == "collection") continue;
      const SuiteConfig* suite = suite_named(config, d.failure.suite);
      if (!suite) continue;
      say("re-running " + d.failure.test_id + " alone (flaky check)");
      std::uint32_t passes = 0, reruns = 0;
      for (int i = 0; i < config.flaky_reruns; ++i) {
        ++reruns;
        auto passed = run_single_test(run, *suite, options.root, d.failure.test_id, "flaky_check");
        if (!passed) return passed.status();
        if (*passed) {
          ++passes;
          break;
        }
      }
      if (passes > 0) {
        events::FlakeDetected fl;
        fl.test_id = d.failure.test_id;
        fl.reruns = reruns;
        fl.passes = passes;
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
  }
  assign_fix_order(failures);
  out.failures = std::move(failures);
  return out;
}

}  // namespace fixhost::host
