// pytest_parser: a pure plugin that turns each pytest SuiteFinished into one FailureDetected per
// failure and then one SuiteParsed (see docs/DETECT.md).
#include "fixhost/runner_report/parser_plugin.hpp"
#include "pytest_parse.hpp"

namespace fixhost::pytest_parser {

struct PytestSpec {
  static constexpr const char* name = "pytest_parser";
  static constexpr const char* runner = "pytest";
  static constexpr const char* description = "pytest failures and counts from the junit XML report, or from the terminal output";
  static ParseOutcome parse(const events::SuiteFinished& run) { return parse_pytest_run(run); }
};

}  // namespace fixhost::pytest_parser

FIXHOST_PLUGIN(fixhost::runner_report::ParserPlugin<fixhost::pytest_parser::PytestSpec>)
