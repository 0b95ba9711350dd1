// The orderer plugin, loaded from its .so: module attribution from pytest, Python and jest stacks,
// depths on an import graph with a cycle, and the fix order a consumer derives from them.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "plugin_harness.hpp"

using fixhost::testing::feed;
using fixhost::testing::LoadedPlugin;
namespace ev = fixhost::events;

namespace {

// utils <- pricing <- cart; a <-> b (a cycle) with b -> utils, and c -> a; tests and a helper;
// the same utils <- pricing <- cart chain in JS; a package in a subdirectory.
ev::SourceScanned graph() {
  ev::SourceScanned s;
  s.root = "/repo";
  auto add = [&](std::string path, std::vector<std::string> imports) {
    const bool py = path.size() > 3 && path.compare(path.size() - 3, 3, ".py") == 0;
    s.files.push_back({std::move(path), py ? "python" : "javascript", std::move(imports)});
  };
  add("utils.py", {});
  add("pricing.py", {"utils.py"});
  add("cart.py", {"pricing.py", "utils.py"});
  add("a.py", {"b.py"});
  add("b.py", {"a.py", "utils.py"});
  add("c.py", {"a.py"});
  add("tests/helpers.py", {"pricing.py"});
  add("tests/test_utils.py", {"utils.py"});
  add("tests/test_cart.py", {"cart.py", "utils.py"});
  add("tests/test_helper_only.py", {"tests/helpers.py"});
  add("tests/test_cycle.py", {"c.py"});
  add("tests/test_nothing.py", {});
  add("src/utils.js", {});
  add("src/pricing.js", {"src/utils.js"});
  add("src/cart.js", {"src/pricing.js"});
  add("src/cart.test.js", {"src/cart.js"});
  add("backend/shop/db.py", {});
  add("backend/shop/models.py", {"backend/shop/db.py"});
  return s;
}

ev::FailureDetected failure(std::string runner, std::string test_id, std::string file, std::int64_t line,
                            std::string stack) {
  ev::FailureDetected f;
  f.runner = std::move(runner);
  f.test_id = std::move(test_id);
  f.file = std::move(file);
  f.line = line;
  f.stack_trace = std::move(stack);
  return f;
}

struct Case {
  ev::FailureDetected failure;
  std::string module;
  int depth;
};

std::vector<Case> cases() {
  std::vector<Case> c;
  // pytest long format, the failure inside the test: attributed to what the test imports.
  c.push_back({failure("pytest", "tests/test_utils.py::test_round", "tests/test_utils.py", 5,
                       "def test_round():\n>       assert utils.round2(1.005) == 1.01\nE       assert 1.0 == 1.01\n\n"
                       "tests/test_utils.py:5: AssertionError"),
               "utils.py", 0});
  // pytest long format through cart.py into pricing.py: the innermost non-test frame.
  c.push_back({failure("pytest", "tests/test_cart.py::test_checkout", "tests/test_cart.py", 20,
                       "def test_checkout():\n>       cart.checkout([1])\n\ntests/test_cart.py:20: \n"
                       "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n"
                       "cart.py:12: in checkout\n    return pricing.price(items)\n"
                       "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n\n"
                       "items = [1]\n\n    def price(items):\n>       return items.total\n"
                       "E       AttributeError: 'list' object has no attribute 'total'\n\npricing.py:4: AttributeError"),
               "pricing.py", 1});
  // Only the test frame: the deepest module the test imports (cart.py over utils.py).
  c.push_back({failure("pytest", "tests/test_cart.py::test_total", "tests/test_cart.py", 8,
                       "def test_total():\n>       assert cart.total([1, 2]) == 4\nE       assert 3 == 4\n\n"
                       "tests/test_cart.py:8: AssertionError"),
               "cart.py", 2});
  // A Python traceback (absolute paths) ending in a cycle member; stdlib frames are skipped.
  c.push_back({failure("pytest", "tests/test_cycle.py::test_c", "tests/test_cycle.py", 3,
                       "Traceback (most recent call last):\n"
                       "  File \"/repo/tests/test_cycle.py\", line 3, in test_c\n    c.run()\n"
                       "  File \"/repo/c.py\", line 2, in run\n    a.go()\n"
                       "  File \"/repo/b.py\", line 9, in helper\n    json.loads(x)\n"
                       "  File \"/usr/lib/python3.11/json/__init__.py\", line 346, in loads\n"
                       "    return _default_decoder.decode(s)\n"
                       "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
               "b.py", 1});
  // jest --json stack: absolute paths, innermost first.
  c.push_back({failure("jest", "src/cart.test.js::cart › totals", "/repo/src/cart.test.js", 4,
                       "TypeError: Cannot read properties of undefined (reading 'price')\n"
                       "    at total (/repo/src/cart.js:5:22)\n"
                       "    at Object.<anonymous> (/repo/src/cart.test.js:4:10)\n"
                       "    at Promise.finally.completed (/repo/node_modules/jest-circus/build/jestAdapterInit.js:1834:28)\n"
                       "    at new Promise (<anonymous>)"),
               "src/cart.js", 2});
  // jest console stack: relative paths, the innermost frame in node_modules is skipped.
  c.push_back({failure("jest", "src/cart.test.js::cart › price", "src/cart.test.js", 9,
                       "TypeError: x.toFixed is not a function\n"
                       "      at format (node_modules/currency/index.js:3:12)\n"
                       "      at Object.format [as price] (src/pricing.js:2:10)\n"
                       "      at Object.price (src/cart.test.js:9:3)"),
               "src/pricing.js", 1});
  // A test that reaches the code only through a test helper.
  c.push_back({failure("pytest", "tests/test_helper_only.py::test_h", "tests/test_helper_only.py", 2,
                       "tests/test_helper_only.py:2: AssertionError"),
               "pricing.py", 1});
  // pytest run from backend/: paths relative to it resolve by unique suffix.
  c.push_back({failure("pytest", "shop/test_models.py::test_save", "shop/test_models.py", 7,
                       "shop/test_models.py:7: \nshop/models.py:9: in save\n    db.put(self)\n"
                       "E   KeyError: 'id'\n\nshop/models.py:9: KeyError"),
               "backend/shop/models.py", 1});
  // No frame and no imports: the test file itself.
  c.push_back({failure("pytest", "tests/test_nothing.py::test_x", "tests/test_nothing.py", 1,
                       "tests/test_nothing.py:1: AssertionError"),
               "tests/test_nothing.py", 0});
  return c;
}

}  // namespace

TEST_CASE("orderer: module attribution and depth from pytest, Python and jest stacks") {
  LoadedPlugin plugin("orderer");
  REQUIRE(plugin->configure("").is_ok());
  CHECK(plugin->info().name == "orderer");
  CHECK(feed<ev::FailureOrdered>(plugin, graph()).empty());  // a scan derives nothing by itself
  for (const auto& c : cases()) {
    CAPTURE(c.failure.test_id);
    auto out = feed<ev::FailureOrdered>(plugin, c.failure);
    REQUIRE(out.size() == 1);
    CHECK(out[0].test_id == c.failure.test_id);
    CHECK(out[0].module == c.module);
    CHECK(out[0].depth == c.depth);
    CHECK_FALSE(out[0].reason.empty());
  }
}

TEST_CASE("orderer: reasons spell out the chain and the cycle") {
  LoadedPlugin plugin("orderer");
  feed<ev::FailureOrdered>(plugin, graph());
  auto cs = cases();
  auto total = feed<ev::FailureOrdered>(plugin, cs[2].failure);
  CHECK(total[0].reason.find("tests/test_cart.py -> cart.py imports pricing.py -> utils.py: depth 2") !=
        std::string::npos);
  auto checkout = feed<ev::FailureOrdered>(plugin, cs[1].failure);
  CHECK(checkout[0].reason.find("innermost non-test frame in the repo is pricing.py:4") != std::string::npos);
  CHECK(checkout[0].reason.find("pricing.py imports utils.py: depth 1") != std::string::npos);
  auto cycle = feed<ev::FailureOrdered>(plugin, cs[3].failure);
  CHECK(cycle[0].reason.find("import cycle with a.py") != std::string::npos);

  // c.py sits above the a <-> b cycle: the chain hops inside the cycle before leaving it.
  auto via_c = failure("pytest", "tests/test_cycle.py::test_c2", "tests/test_cycle.py", 5, "c.py:2: in run");
  auto out = feed<ev::FailureOrdered>(plugin, via_c);
  CHECK(out[0].module == "c.py");
  CHECK(out[0].depth == 2);
  CHECK(out[0].reason.find("c.py imports a.py -> b.py (same cycle) -> utils.py: depth 2") != std::string::npos);
  auto utils = feed<ev::FailureOrdered>(plugin, cs[0].failure);
  CHECK(utils[0].reason.find("utils.py imports no repo module: depth 0") != std::string::npos);
}

TEST_CASE("orderer: the fix order puts the utility failure first") {
  LoadedPlugin plugin("orderer");
  feed<ev::FailureOrdered>(plugin, graph());
  // Shuffle the arrival order: the consumer sorts. (test_nothing, also depth 0, is left out.)
  auto cs = cases();
  cs.pop_back();
  std::reverse(cs.begin(), cs.end());
  std::vector<std::tuple<int, std::string, std::int64_t, std::string>> order;
  for (const auto& c : cs) {
    auto o = feed<ev::FailureOrdered>(plugin, c.failure);
    order.emplace_back(o[0].depth, c.failure.file, c.failure.line, o[0].module);
  }
  std::sort(order.begin(), order.end());
  CHECK(std::get<3>(order.front()) == "utils.py");
  std::map<std::string, std::size_t> pos;
  for (std::size_t i = 0; i < order.size(); ++i) pos.emplace(std::get<3>(order[i]), i);
  CHECK(pos["utils.py"] < pos["pricing.py"]);
  CHECK(pos["pricing.py"] < pos["cart.py"]);
  CHECK(pos["src/pricing.js"] < pos["src/cart.js"]);
}

TEST_CASE("orderer: without a scan for the run, depth 0 and a reason saying so") {
  LoadedPlugin plugin("orderer");
  feed<ev::FailureOrdered>(plugin, graph(), "run-1");
  auto cs = cases();
  auto out = feed<ev::FailureOrdered>(plugin, cs[1].failure, "run-2");
  REQUIRE(out.size() == 1);
  CHECK(out[0].depth == 0);
  CHECK(out[0].module == "pricing.py");  // still attributed from the relative frames
  CHECK(out[0].reason.find("no import graph was recorded") != std::string::npos);
  auto abs = feed<ev::FailureOrdered>(plugin, cs[4].failure, "run-2");
  CHECK(abs[0].depth == 0);
  CHECK(abs[0].module == "/repo/src/cart.test.js");
  CHECK(abs[0].reason.find("no import graph was recorded") != std::string::npos);

  // The latest scan of a run wins: a later scan where cart.py imports nothing.
  auto flat = graph();
  for (auto& f : flat.files)
    if (f.path == "cart.py") f.imports.clear();
  feed<ev::FailureOrdered>(plugin, flat, "run-1");
  auto total = feed<ev::FailureOrdered>(plugin, cs[2].failure, "run-1");
  CHECK(total[0].module == "cart.py");
  CHECK(total[0].depth == 0);
}

TEST_CASE("orderer: a long import chain and a large cycle do not recurse") {
  LoadedPlugin plugin("orderer");
  ev::SourceScanned s;
  s.root = "/big";
  constexpr int n = 50000;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> imports;
    if (i + 1 < n) imports.push_back("m" + std::to_string(i + 1) + ".py");
    if (i >= 40000) imports.push_back("m40000.py");  // m40000..m49999 form one cycle
    s.files.push_back({"m" + std::to_string(i) + ".py", "python", imports});
  }
  feed<ev::FailureOrdered>(plugin, s, "big");
  auto top = feed<ev::FailureOrdered>(plugin, failure("pytest", "t::a", "t.py", 1, "m0.py:1: in f"), "big");
  CHECK(top[0].depth == 40000);
  auto in_cycle = feed<ev::FailureOrdered>(plugin, failure("pytest", "t::b", "t.py", 1, "m45000.py:1: in f"), "big");
  CHECK(in_cycle[0].depth == 0);
  CHECK(in_cycle[0].reason.find("import cycle with") != std::string::npos);
}
