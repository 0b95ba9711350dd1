#pragma once
// The classifier's rule engine: rules are data (TOML), compiled once, then matched against the
// fields of a FailureDetected. Format and scoring are described in docs/DETECT.md#categories.
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/result.hpp"

namespace fixhost::classifier {

// The FailureDetected fields a rule may look at.
enum class Field : std::uint8_t { error_type, message, stack_trace, test_name, test_id, file, runner, phase };

// One regex searched line by line in one or more fields; it holds if any line of any field matches.
struct Condition {
  std::vector<Field> fields;
  std::string pattern;  // the source text, reported as evidence
  std::regex regex;
  // Literals one of which every match contains (one per top-level alternative of `pattern`);
  // a line with none of them is not given to std::regex. Empty: no such filter.
  std::vector<std::string> literals;
};

// The literals one of which every match of an ECMAScript `pattern` contains: for each top-level
// alternative its longest run of literal characters outside groups, classes and optional
// quantifiers. Empty when some alternative has none (then every line must be searched).
std::vector<std::string> required_literals(std::string_view pattern);

struct Rule {
  std::string id;
  std::string category;
  Condition match;                  // its match is the evidence
  std::vector<Condition> also;      // `requires` in TOML: must all hold too
  double weight = 0;                // in (0, 1]
  std::vector<std::string> runners; // empty = any runner
  std::string origin;               // where it was defined, for messages
};

// Everything `[plugins.classifier]` of fixhost.toml may say.
struct Settings {
  std::vector<Rule> rules;           // `rules = [...]`, put before the shipped rules
  bool replace_defaults = false;     // drop the shipped rules entirely
  std::vector<std::string> disable;  // ids of shipped rules to drop
};

// Parses a TOML document with a `rules` array of tables. `origin` names the document in errors
// ("shipped rules.toml", "fixhost.toml [plugins.classifier]"). A regex that does not compile is
// an InvalidArgument naming the rule.
Result<std::vector<Rule>> parse_rules(std::string_view toml, std::string_view origin);

// Parses the `[plugins.classifier]` table (as TOML text, "" for none).
Result<Settings> parse_settings(std::string_view toml);

// The rule list in force: the configured rules in their order, then the shipped rules that were
// neither replaced (same id) nor disabled, unless replace_defaults. Disabling an id that is not
// shipped is an error (a typo would otherwise silently keep the rule).
Result<std::vector<Rule>> effective_rules(Settings settings, std::vector<Rule> shipped);

// The best-scoring category for `failure`: each category scores the highest weight among its
// matching rules; ties go to the category whose best rule comes first. Evidence lists that
// category's matching rules, strongest first. No match: "unknown", confidence 0, no evidence.
events::FailureClassified classify(const events::FailureDetected& failure, const std::vector<Rule>& rules);

// The categories a rule may name (everything but "unknown").
const std::vector<std::string>& rule_categories();

}  // namespace fixhost::classifier
