// jest_parser: a pure plugin that turns each jest SuiteFinished into one FailureDetected per
// failure and then one SuiteParsed (see docs/DETECT.md).
#include "fixhost/runner_report/parser_plugin.hpp"
#include "jest_parse.hpp"

namespace fixhost::jest_parser {

struct JestSpec {
  static constexpr const char* name = "jest_parser";
  static constexpr const char* runner = "jest";
  static constexpr const char* description = "jest failures and counts from the --json report, or from the terminal output";
  static ParseOutcome parse(const events::SuiteFinished& run) { return parse_jest_run(run); }
};

}  // namespace fixhost::jest_parser

FIXHOST_PLUGIN(fixhost::runner_report::ParserPlugin<fixhost::jest_parser::JestSpec>)
