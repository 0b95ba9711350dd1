// The junit runner's reader (plugins/junit_parser): JUnit XML of any runner family through
// parse_junit_xml, for every shipped family (their group and file attributes differ).
#include "fuzz_input.hpp"
#include "junit_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto families = fixhost::junit_parser::families("").value();
  auto [xml, cwd] = fixhost::fuzz::split_report(fixhost::fuzz::bytes(data, size));
  for (const auto& [name, family] : families) {
    auto parsed = fixhost::junit_parser::parse_junit_xml(xml, family, cwd);
    (void)parsed;
  }
  return 0;
}
