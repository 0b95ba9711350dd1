// jest's terminal output alone (the fallback when there is no whole JSON report).
#include "fuzz_input.hpp"
#include "jest_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = fixhost::jest_parser::parse_jest_text(fixhost::fuzz::bytes(data, size));
  (void)parsed;
  return 0;
}
