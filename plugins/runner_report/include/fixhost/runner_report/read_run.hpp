#pragma once
// How a report parser reads one SuiteFinished: the runner's machine report when it left a whole
// one, else the terminal output, saying why in summary.note.
#include <string>
#include <string_view>

#include "fixhost/runner_report/parser_plugin.hpp"
#include "fixhost/runner_report/text.hpp"

namespace fixhost::runner_report {

struct RunReader {
  std::string_view runner;       // "pytest"
  std::string_view format;       // the SuiteFinished::report_format it reads, "junit_xml"
  std::string_view report_name;  // for notes: "junit XML report"
  // Parses a report (falling back to the output itself when the report is malformed).
  ParseOutcome (*parse_report)(std::string_view report, std::string_view output);
  ParseOutcome (*parse_text)(std::string_view output);
};

inline ParseOutcome read_run(const events::SuiteFinished& run, const RunReader& r) {
  const std::string runner(r.runner), report_name(r.report_name);
  std::string how;
  if (run.timed_out) how = "the run timed out and was killed";
  else if (run.signal != 0) how = runner + " was ended by signal " + std::to_string(run.signal);
  else if (!run.error.empty()) how = "the suite could not run: " + run.error;
  else how = runner + " exited with code " + std::to_string(run.exit_code);
  auto from_text = [&](std::string why) {
    ParseOutcome o = r.parse_text(run.output.data);
    o.summary.note = join_notes(std::move(why), o.summary.note);
    return o;
  };
  ParseOutcome o;
  if (run.report_format != r.format || run.report.data.empty()) {
    o = from_text(runner + " wrote no " + report_name + " (" + how + "); parsed the terminal output");
  } else if (run.report.cut_bytes > 0) {
    o = from_text("the " + runner + " " + report_name + " was cut by the capture cap (" +
                  std::to_string(run.report.cut_bytes) + " of " + std::to_string(run.report.total_bytes) +
                  " bytes not kept); parsed the terminal output");
  } else {
    o = r.parse_report(run.report.data, run.output.data);
    if (o.summary.parsed_from == "text") o.summary.note += "; parsed the terminal output (" + how + ")";
  }
  // What the host must say loudly: files whose tests never ran, a run that stopped early.
  o.summary.collection_errors = 0;
  for (const auto& f : o.failures) o.summary.collection_errors += f.phase == "collection";
  if (run.timed_out || run.signal != 0) o.summary.interrupted = how;
  if (o.summary.parsed_from == "text" && run.output.cut_bytes > 0)
    o.summary.note = join_notes(std::move(o.summary.note),
                                "the terminal output was cut by the capture cap (" + std::to_string(run.output.cut_bytes) +
                                    " of " + std::to_string(run.output.total_bytes) + " bytes not kept)");
  return o;
}

}  // namespace fixhost::runner_report
