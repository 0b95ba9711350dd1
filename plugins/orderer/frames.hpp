#pragma once
// Stack frames read out of a failure's stack trace text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fixhost::orderer {

struct StackFrame {
  std::string path;  // as written in the trace
  std::int64_t line = 0;
};

// Frames innermost first, from the formats test runners print:
//   pytest long/short tracebacks  `shop/pricing.py:7: in config`, `test_x.py:26: KeyError`
//   Python tracebacks             `  File "shop/pricing.py", line 7, in config`
//   node/jest stacks              `    at fn (/repo/src/cart.js:12:5)`, `    at /repo/src/cart.js:3:1`
// Python prints the innermost frame last, node first. Lines that fit none are ignored.
std::vector<StackFrame> parse_stack(std::string_view trace);

}  // namespace fixhost::orderer
