// jest's --json report: `json NUL output` through parse_jest_json.
#include "fuzz_input.hpp"
#include "jest_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [json, output] = fixhost::fuzz::split_report(fixhost::fuzz::bytes(data, size));
  auto parsed = fixhost::jest_parser::parse_jest_json(json, output);
  (void)parsed;
  return 0;
}
