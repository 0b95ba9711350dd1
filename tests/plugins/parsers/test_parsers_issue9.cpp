// Issue 9, item 9 (fuzzing): what the parser fuzzers found. The parsers promise never to throw
// on bad input (pytest_parse.hpp); each case here threw before its fix.
#include <doctest/doctest.h>

#include "pytest_parse.hpp"

using namespace fixhost::pytest_parser;

TEST_CASE("issue 9: a line of '!' alone in pytest's output does not throw") {
  // fuzz_pytest_text: "!!!" starts and ends with "!!!" (pytest's "!!! Interrupted: ... !!!"
  // banner) and has no other character: substr(npos) threw std::out_of_range.
  for (const char* out : {"!!!", "!!!!!!!!!!!!!!!!!!!!!!!!!!", "== 1 failed in 0.1s ==\n!!!!!\n"}) {
    CAPTURE(out);
    ParseOutcome o;
    CHECK_NOTHROW(o = parse_pytest_text(out));
    CHECK(o.summary.parsed_from == "text");
    CHECK(o.summary.interrupted.empty());
  }
  // The banner itself is still read.
  auto o = parse_pytest_text("!!!!!!! Interrupted: 1 error during collection !!!!!!!\n");
  CHECK(o.summary.interrupted == "Interrupted: 1 error during collection");
  // And through the junit path's fallback (the report cut short).
  CHECK_NOTHROW(parse_junit_xml("<testsuites><testsuite", "!!!\n"));
}
