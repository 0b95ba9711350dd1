// pytest's terminal output alone (the fallback when there is no whole junit report).
#include "fuzz_input.hpp"
#include "pytest_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = fixhost::pytest_parser::parse_pytest_text(fixhost::fuzz::bytes(data, size));
  (void)parsed;
  return 0;
}
