#pragma once
// Parses the JUnit XML of any runner family (families.toml): one FailureDetected per failing or
// erroring <testcase>, counts from the testcases themselves (checked against each runner's own
// totals by tests/plugins/junit_parser). Test ids are "<group>::<name>" (docs/RUNNERS.md).
#include <map>
#include <string>
#include <string_view>

#include "fixhost/runner_report/parser_plugin.hpp"
#include "fixhost/sdk/junit_families.hpp"

namespace fixhost::junit_parser {

using runner_report::ParseOutcome;
using Families = std::map<std::string, sdk::junit::Family>;

// The families shipped in families.toml with `overrides` (fixhost.toml's [junit_families]).
Result<Families> families(std::string_view overrides);

// `cwd` (where the runner ran) makes absolute file attributes relative.
ParseOutcome parse_junit_xml(std::string_view xml, const sdk::junit::Family& family, std::string_view cwd);

// A SuiteFinished of runner "junit": its report, else a summary saying why there is none.
ParseOutcome parse_junit_run(const events::SuiteFinished& run, const Families& families);

}  // namespace fixhost::junit_parser
