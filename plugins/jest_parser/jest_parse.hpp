#pragma once
// Turns what jest left behind (its --json report and its terminal output, as the host runs it:
// `--json --outputFile=<f> --testLocationInResults --ci`) into FailureDetected and SuiteParsed
// payloads. Pure functions of their input: no I/O, no state, never throw on bad input.
// The rules (ids, fields, phases, fallback) are in docs/DETECT.md.
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/runner_report/parser_plugin.hpp"

namespace fixhost::jest_parser {

// What a parse found. Each failure has runner = "jest" and every field but `suite`; `summary`
// has the counts, parsed_from ("report" | "text") and note, not suite/runner/purpose/test_id.
using ParseOutcome = runner_report::ParseOutcome;

// Parses a `jest --json` report (jest's FormattedTestResults). Test files are named relative to
// the directory jest ran in, which is read from the `PASS|FAIL <path>` headers of `output`; when
// the output names none, relative to the test files' deepest common directory. Falls back to
// parse_jest_text(output), saying why in summary.note, when `json` is empty, not valid JSON (cut
// short) or not a jest report.
ParseOutcome parse_jest_json(std::string_view json, std::string_view output = {});

// Parses jest's terminal output alone: `FAIL <path>` headers, `● Describe › test` and
// `● Test suite failed to run` blocks, and the `Tests: N failed, M passed, K total` line.
ParseOutcome parse_jest_text(std::string_view output);

// Picks the source for one recorded run: the report when there is a whole one, else the output,
// with a note naming why (no report written, report cut by the capture cap, timeout, signal).
ParseOutcome parse_jest_run(const events::SuiteFinished& run);

// The error_type jest parsers give a failed expect() matcher (jest's own class for it).
inline constexpr std::string_view k_assertion_error_type = "JestAssertionError";

}  // namespace fixhost::jest_parser
