#pragma once
// Turns what pytest left behind (its junit XML report and its terminal output, as the host runs it:
// `--junitxml=<f> -rfE --color=no -p no:cacheprovider`) into FailureDetected and SuiteParsed
// payloads. Pure functions of their input: no I/O, no state, never throw on bad input.
// The rules (ids, fields, phases, fallback) are in docs/DETECT.md.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/runner_report/parser_plugin.hpp"

namespace fixhost::pytest_parser {

// What a parse found. Each failure has runner = "pytest" and every field but `suite`; `summary`
// has the counts, parsed_from ("report" | "text") and note, not suite/runner/purpose/test_id.
using ParseOutcome = runner_report::ParseOutcome;

// Parses a junit XML report in the xunit2 (pytest's default) or xunit1 family. `output` is the same
// run's terminal output: its short test summary gives exact node ids and its final line the
// xpassed count, which junit cannot express. Falls back to parse_pytest_text(output), saying why
// in summary.note, when `xml` is empty, not well-formed (cut short) or has no <testsuite>.
ParseOutcome parse_junit_xml(std::string_view xml, std::string_view output = {});

// Parses pytest's terminal output alone: the ERRORS and FAILURES sections, the short test summary
// info lines, the final "N failed, M passed in Ts" line, and the progress lines when the run was
// cut short before the final line. parsed_from is "text"; the note says what was missing.
ParseOutcome parse_pytest_text(std::string_view output);

// Picks the source for one recorded run: the report when there is a whole one, else the output,
// with a note naming why (no report written, report cut by the capture cap, timeout, signal).
ParseOutcome parse_pytest_run(const events::SuiteFinished& run);

// pytest's junitxml mangling of a node id into (classname, name):
// "tests/a/test_b.py::TestC::test_d[x.y]" -> ("tests.a.test_b.TestC", "test_d[x.y]").
std::pair<std::string, std::string> junit_names_of(std::string_view node_id);

}  // namespace fixhost::pytest_parser
