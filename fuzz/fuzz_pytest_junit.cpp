// The JUnit reader (today pytest_parser's junit path): `xml NUL output` through parse_junit_xml,
// which falls back to the text parser when the XML is empty, cut short or not junit.
#include "fuzz_input.hpp"
#include "pytest_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [xml, output] = fixhost::fuzz::split_report(fixhost::fuzz::bytes(data, size));
  auto parsed = fixhost::pytest_parser::parse_junit_xml(xml, output);
  (void)parsed;
  return 0;
}
