#pragma once
// The junit runner's families (plugins/junit_parser/families.toml, embedded at build time, with
// fixhost.toml's [junit_families] overrides): which family a command names, and the arguments
// that re-run some of its tests (docs/RUNNERS.md).
#include <string>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host::junit {

// The family named by a word of `command` ("" when none is).
std::string guess_family(const std::vector<std::string>& command);
bool known_family(const std::string& family, const std::string& overrides);
// "gotestsum, mocha, ..." for messages.
std::string family_names(const std::string& overrides);
// The arguments that select `test_ids` ("<group>::<name>") for `family`, and whether "--" must
// precede them. InvalidArgument when the family is unknown or has no `select`.
Status selection(const std::string& family, const std::string& overrides, const std::vector<std::string>& test_ids,
                 std::vector<std::string>& args, bool& dashdash);

}  // namespace fixhost::host::junit
