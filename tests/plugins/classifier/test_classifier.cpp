// The classifier plugin, loaded from its .so and fed FailureDetected events built from real
// pytest 7.2 (junit XML: message attribute + failure text) and jest 30 output (--json
// failureMessages, and the console form with its code frame), captured on this machine.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "plugin_harness.hpp"

using fixhost::testing::feed;
using fixhost::testing::LoadedPlugin;
namespace ev = fixhost::events;

namespace {

// A pytest failure as the parser sees it in junit XML: error_type is the exception named on the
// report's last line ("test_x.py:7: ModuleNotFoundError").
ev::FailureDetected py(std::string name, std::string message, std::string text) {
  ev::FailureDetected f;
  f.runner = "pytest";
  f.suite = "py";
  f.file = "test_samples.py";
  f.test_name = name;
  f.test_id = "test_samples.py::" + name;
  f.phase = "call";
  f.message = std::move(message);
  const auto colon = text.rfind(": ");
  if (colon != std::string::npos) f.error_type = text.substr(colon + 2);
  f.stack_trace = std::move(text);
  return f;
}

// A jest failure from --json: failureMessages[0] is "<Type>: <message>\n    at ...".
ev::FailureDetected js(std::string name, std::string failure_message) {
  ev::FailureDetected f;
  f.runner = "jest";
  f.suite = "js";
  f.file = "src/samples.test.js";
  f.test_name = name;
  f.test_id = "src/samples.test.js::" + name;
  f.phase = "call";
  const auto at = failure_message.find("\n    at ");
  f.message = failure_message.substr(0, at);
  const auto colon = f.message.find(": ");
  f.error_type = colon == std::string::npos ? "Error" : f.message.substr(0, colon);
  f.stack_trace = std::move(failure_message);
  return f;
}

const std::string k_circus =
    "    at Promise.finally.completed (/tmp/clsamp/js/node_modules/jest-circus/build/jestAdapterInit.js:1834:28)\n"
    "    at new Promise (<anonymous>)\n"
    "    at callAsyncCircusFn (/tmp/clsamp/js/node_modules/jest-circus/build/jestAdapterInit.js:1774:10)\n"
    "    at _callCircusTest (/tmp/clsamp/js/node_modules/jest-circus/build/jestAdapterInit.js:1167:40)";

struct Sample {
  const char* what;
  ev::FailureDetected failure;
  std::string category;
  std::string rule;  // the strongest evidence
};

std::vector<Sample> samples() {
  std::vector<Sample> s;
  // ---- pytest ----
  s.push_back({"pytest ModuleNotFoundError",
               py("test_missing_module", "ModuleNotFoundError: No module named 'requests_oauth_nothere'",
                  "def test_missing_module():\n>       import requests_oauth_nothere\n"
                  "E       ModuleNotFoundError: No module named 'requests_oauth_nothere'\n\n"
                  "test_samples.py:7: ModuleNotFoundError"),
               "missing_dependency", "py.module_not_found"});
  s.push_back({"pytest TypeError",
               py("test_type_error", "TypeError: can only concatenate str (not \"int\") to str",
                  "def test_type_error():\n>       pricing.price(\"a\") + 1\n"
                  "E       TypeError: can only concatenate str (not \"int\") to str\n\ntest_samples.py:13: TypeError"),
               "type_error", "any.type_error"});
  s.push_back({"pytest AttributeError on None",
               py("test_none_attr", "AttributeError: 'NoneType' object has no attribute 'cost'",
                  "def test_none_attr():\n        x = None\n>       x.cost\n"
                  "E       AttributeError: 'NoneType' object has no attribute 'cost'\n\ntest_samples.py:17: AttributeError"),
               "type_error", "py.nonetype"});
  s.push_back({"pytest assert comparison",
               py("test_logic",
                  "assert 4 == 5\n +  where 4 = <function price at 0x7f6205f85800>(2)\n"
                  " +    where <function price at 0x7f6205f85800> = pricing.price",
                  "def test_logic():\n>       assert pricing.price(2) == 5\nE       assert 4 == 5\n"
                  "E        +  where 4 = <function price at 0x7f6205f85800>(2)\n"
                  "E        +    where <function price at 0x7f6205f85800> = pricing.price\n\n"
                  "test_samples.py:20: AssertionError"),
               "logic_bug", "py.assert_comparison"});
  s.push_back({"pytest os.environ KeyError",
               py("test_env", "KeyError: 'SHOP_API_KEY'",
                  "def test_env():\n>       pricing.config()\n\ntest_samples.py:26: \n"
                  "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n"
                  "shop/pricing.py:7: in config\n    return os.environ[\"SHOP_API_KEY\"]\n"
                  "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ \n\n"
                  "self = environ({'SHELL': '/bin/bash', 'PYTEST_CURRENT_TEST': 'test_samples.py::test_env (call)'})\n"
                  "key = 'SHOP_API_KEY'\n\n>   ???\nE   KeyError: 'SHOP_API_KEY'\n\n<frozen os>:679: KeyError"),
               "env_mismatch", "py.environ_key_error"});
  s.push_back({"pytest os.getenv None",
               py("test_getenv",
                  "AssertionError: assert None is not None\n +  where None = <function getenv at 0x7f62072596c0>('SHOP_MODE')\n"
                  " +    where <function getenv at 0x7f62072596c0> = os.getenv",
                  "def test_getenv():\n>       assert os.getenv(\"SHOP_MODE\") is not None\n"
                  "E       AssertionError: assert None is not None\n"
                  "E        +  where None = <function getenv at 0x7f62072596c0>('SHOP_MODE')\n"
                  "E        +    where <function getenv at 0x7f62072596c0> = os.getenv\n\n"
                  "test_samples.py:29: AssertionError"),
               "env_mismatch", "py.getenv_none"});
  s.push_back({"pytest connection refused",
               py("test_conn", "ConnectionRefusedError: [Errno 111] Connection refused",
                  "def test_conn():\n>       pricing.db()\n\ntest_samples.py:32: \n"
                  "shop/pricing.py:10: in db\n    s = socket.create_connection((\"127.0.0.1\", 5999), timeout=1)\n"
                  "/usr/lib/python3.11/socket.py:851: in create_connection\n    raise exceptions[0]\n\n"
                  "address = ('127.0.0.1', 5999), timeout = 1, source_address = None\n\n"
                  "        Passing the optional\n        *timeout* parameter will set the timeout on the socket instance\n"
                  ">               sock.connect(sa)\nE               ConnectionRefusedError: [Errno 111] Connection refused\n\n"
                  "/usr/lib/python3.11/socket.py:836: ConnectionRefusedError"),
               "env_mismatch", "any.connection_refused"});
  s.push_back({"pytest mock call-count assertion",
               py("test_mock_called", "AssertionError: Expected 'price' to be called once. Called 0 times.",
                  "def test_mock_called():\n        with mock.patch(\"shop.pricing.price\") as m:\n"
                  "            pricing.total([])\n>           m.assert_called_once_with(3)\n\ntest_samples.py:37: \n\n"
                  "self = <MagicMock name='price' id='140059004303184'>, args = (3,), kwargs = {}\n"
                  "msg = \"Expected 'price' to be called once. Called 0 times.\"\n\n"
                  "    def assert_called_once_with(self, /, *args, **kwargs):\n"
                  "        if not self.call_count == 1:\n>           raise AssertionError(msg)\n"
                  "E           AssertionError: Expected 'price' to be called once. Called 0 times.\n\n"
                  "/usr/lib/python3.11/unittest/mock.py:944: AssertionError"),
               "stale_mock", "py.mock_call_assertion"});
  s.push_back({"pytest patch of a removed attribute",
               py("test_mock_attr",
                  "AttributeError: <module 'shop.pricing' from '/tmp/clsamp/py/shop/pricing.py'> does not have the "
                  "attribute 'discount'",
                  "def test_mock_attr():\n>       with mock.patch(\"shop.pricing.discount\"):\n\ntest_samples.py:40: \n"
                  "/usr/lib/python3.11/unittest/mock.py:1437: in __enter__\n    original, local = self.get_original()\n"
                  "        except (AttributeError, KeyError):\n            original = getattr(target, name, DEFAULT)\n"
                  ">           raise AttributeError(\n                \"%s does not have the attribute %r\" % (target, name)\n"
                  "            )\nE           AttributeError: <module 'shop.pricing' from '/tmp/clsamp/py/shop/pricing.py'> "
                  "does not have the attribute 'discount'\n\n/usr/lib/python3.11/unittest/mock.py:1410: AttributeError"),
               "stale_mock", "py.mock_missing_attribute"});
  s.push_back({"pytest TypeError inside a patch",
               py("test_mock_type", "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'",
                  "def test_mock_type():\n        with mock.patch(\"shop.pricing.price\", return_value=None):\n"
                  ">           pricing.price(1) + 1\nE           TypeError: unsupported operand type(s) for +: 'NoneType' "
                  "and 'int'\n\ntest_samples.py:45: TypeError"),
               "stale_mock", "py.error_inside_patch"});
  s.push_back({"pytest config file missing",
               py("test_file", "FileNotFoundError: [Errno 2] No such file or directory: 'config/settings.yaml'",
                  "def test_file():\n>       open(\"config/settings.yaml\")\n"
                  "E       FileNotFoundError: [Errno 2] No such file or directory: 'config/settings.yaml'\n\n"
                  "test_samples.py:51: FileNotFoundError"),
               "env_mismatch", "any.config_file_missing"});
  s.push_back({"pytest python version",
               py("test_version", "RuntimeError: this package requires Python 3.99 or newer",
                  "def test_version():\n        import sys\n        if sys.version_info < (3, 99):\n"
                  ">           raise RuntimeError(\"this package requires Python 3.99 or newer\")\n"
                  "E           RuntimeError: this package requires Python 3.99 or newer\n\ntest_samples.py:56: RuntimeError"),
               "env_mismatch", "py.python_version"});
  s.push_back({"pytest timeout",
               py("test_timeout", "TimeoutError: operation timed out after 5s",
                  "def test_timeout():\n>       raise TimeoutError(\"operation timed out after 5s\")\n"
                  "E       TimeoutError: operation timed out after 5s\n\ntest_samples.py:48: TimeoutError"),
               "flaky", "any.timeout"});
  s.push_back({"pytest cannot import name from a repo module",
               py("test_import_error",
                  "ImportError: cannot import name 'nothere' from 'shop.pricing' (/tmp/clsamp/py/shop/pricing.py)",
                  "def test_import_error():\n>       from shop.pricing import nothere\n"
                  "E       ImportError: cannot import name 'nothere' from 'shop.pricing' (/tmp/clsamp/py/shop/pricing.py)\n\n"
                  "test_samples.py:10: ImportError"),
               "missing_dependency", "py.cannot_import_name"});  // issue 8: the name is missing
  // ---- jest ----
  s.push_back({"jest bare package missing",
               js("missing package",
                  "Error: Cannot find module 'left-pad-nothere' from 'src/samples.test.js'\n"
                  "    at Resolver._throwModNotFoundError (/tmp/clsamp/js/node_modules/jest-resolve/build/index.js:1031:11)\n"
                  "    at Object.require (/tmp/clsamp/js/src/samples.test.js:4:3)\n" + k_circus),
               "missing_dependency", "js.cannot_find_package"});
  s.push_back({"jest relative module missing",
               js("missing relative",
                  "Error: Cannot find module './cart' from 'src/samples.test.js'\n"
                  "    at Resolver._throwModNotFoundError (/tmp/clsamp/js/node_modules/jest-resolve/build/index.js:1031:11)\n"
                  "    at Object.require (/tmp/clsamp/js/src/samples.test.js:7:3)\n" + k_circus),
               "missing_dependency", "js.relative_module_missing"});  // issue 8
  s.push_back({"jest is not a function",
               js("not a function", "TypeError: pricing.discount is not a function\n"
                                    "    at Object.discount (/tmp/clsamp/js/src/samples.test.js:10:11)\n" + k_circus),
               "type_error", "js.not_a_function"});
  s.push_back({"jest read property of undefined",
               js("undefined prop", "TypeError: Cannot read properties of undefined (reading 'items')\n"
                                    "    at Object.items (/tmp/clsamp/js/src/samples.test.js:14:8)\n" + k_circus),
               "type_error", "js.undefined_access"});
  s.push_back({"jest toBe mismatch",
               js("logic toBe", "Error: expect(received).toBe(expected) // Object.is equality\n\nExpected: 5\nReceived: 4\n"
                                "    at Object.toBe (/tmp/clsamp/js/src/samples.test.js:17:28)\n" + k_circus),
               "logic_bug", "js.expect_mismatch"});
  s.push_back({"jest toEqual mismatch",
               js("logic toEqual",
                  "Error: expect(received).toEqual(expected) // deep equality\n\n- Expected  - 1\n+ Received  + 1\n\n"
                  "  Object {\n    \"a\": 1,\n    \"b\": Array [\n      1,\n-     3,\n+     2,\n    ],\n  }\n"
                  "    at Object.toEqual (/tmp/clsamp/js/src/samples.test.js:20:31)\n" + k_circus),
               "logic_bug", "js.expect_mismatch"});
  s.push_back({"jest call count",
               js("mock calls", "Error: expect(jest.fn()).toHaveBeenCalledTimes(expected)\n\n"
                                "Expected number of calls: 1\nReceived number of calls: 0\n"
                                "    at Object.toHaveBeenCalledTimes (/tmp/clsamp/js/src/samples.test.js:28:14)\n" + k_circus),
               "stale_mock", "js.mock_call_matcher"});
  s.push_back({"jest matcher on a function that is no longer a mock",
               js("not mock", "Error: expect(received).toHaveBeenCalled()\n\n"
                              "Matcher error: received value must be a mock or spy function\n\n"
                              "Received has type:  function\nReceived has value: [Function price]\n"
                              "    at Object.toHaveBeenCalled (/tmp/clsamp/js/src/more.test.js:7:25)\n" + k_circus),
               "stale_mock", "js.mock_call_matcher"});
  s.push_back({"jest spyOn a removed method",
               js("spy missing", "Error: Property `discount` does not exist in the provided object\n"
                                 "    at ModuleMocker.spyOn (/tmp/clsamp/js/node_modules/jest-mock/build/index.js:731:13)\n"
                                 "    at Object.spyOn (/tmp/clsamp/js/src/more.test.js:4:8)\n" + k_circus),
               "stale_mock", "js.not_a_mock"});
  s.push_back({"jest process.env in the failing line (console code frame)",
               js("env", "TypeError: Cannot read properties of undefined (reading 'trim')\n\n"
                         "      2 | function price(x) { return utils.double(x); }\n"
                         "    > 4 | function config() { return process.env.SHOP_API_KEY.trim(); }\n"
                         "        |                                                     ^\n"
                         "      5 | module.exports = { price, total, config };\n\n"
                         "      at Object.trim [as config] (src/pricing.js:4:53)\n"
                         "      at Object.config (src/samples.test.js:23:11)"),
               "env_mismatch", "js.process_env_line"});
  s.push_back({"jest ECONNREFUSED",
               js("conn", "Error: connect ECONNREFUSED 127.0.0.1:5999\n"
                          "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1637:16)"),
               "env_mismatch", "any.connection_refused"});
  s.push_back({"jest ENOENT on a config file",
               js("enoent", "Error: ENOENT: no such file or directory, open 'config/settings.json'\n"
                            "    at Object.readFileSync (/tmp/clsamp/js/src/samples.test.js:40:6)\n" + k_circus),
               "env_mismatch", "any.config_file_missing"});
  s.push_back({"jest invalid time zone",
               js("tz", "RangeError: Invalid time zone specified: Mars/Olympus\n"
                        "    at new DateTimeFormat (<anonymous>)\n"
                        "    at Object.<anonymous> (/tmp/clsamp/js/src/more.test.js:21:3)\n" + k_circus),
               "env_mismatch", "any.locale_timezone"});
  s.push_back({"jest exceeded timeout",
               js("timeout", "thrown: \"Exceeded timeout of 200 ms for a test.\n"
                             "Add a timeout value to this test to increase the timeout, if this is a long-running test. "
                             "See https://jestjs.io/docs/api#testname-fn-timeout.\"\n"
                             "    at _getError (/tmp/clsamp/js/node_modules/jest-circus/build/jestAdapterInit.js:1985:12)"),
               "flaky", "any.timeout"});
  return s;
}

}  // namespace

TEST_CASE("classifier: real pytest and jest failures get the right category and evidence") {
  LoadedPlugin plugin("classifier");
  REQUIRE(plugin->configure("").is_ok());
  auto info = plugin->info();
  CHECK(info.name == "classifier");
  CHECK(info.kind == fixhost::sdk::PluginKind::pure);

  for (const auto& s : samples()) {
    CAPTURE(s.what);
    auto out = feed<ev::FailureClassified>(plugin, s.failure);
    REQUIRE(out.size() == 1);
    CHECK(out[0].test_id == s.failure.test_id);
    CHECK(out[0].category == s.category);
    REQUIRE_FALSE(out[0].evidence.empty());
    CHECK(out[0].evidence[0].rule == s.rule);
    CHECK_FALSE(out[0].evidence[0].pattern.empty());
    CHECK_FALSE(out[0].evidence[0].matched.empty());
    CHECK(out[0].confidence > 0.3);
    CHECK(out[0].confidence <= 1.0);
  }
}

TEST_CASE("classifier: evidence quotes the matched text") {
  LoadedPlugin plugin("classifier");
  auto s = samples();
  auto out = feed<ev::FailureClassified>(plugin, s[0].failure);
  REQUIRE(out.size() == 1);
  CHECK(out[0].evidence[0].matched == "ModuleNotFoundError: No module named 'requests_oauth_nothere'");
  CHECK(out[0].confidence == doctest::Approx(0.9));
  // A rule with `requires` quotes both matches.
  for (const auto& x : s)
    if (x.failure.test_name == "test_mock_type") {
      auto o = feed<ev::FailureClassified>(plugin, x.failure);
      REQUIRE(o.size() == 1);
      CHECK(o[0].evidence[0].matched.find("mock.patch(") != std::string::npos);
      CHECK(o[0].evidence[0].matched.find(" | ") != std::string::npos);
      CHECK(o[0].evidence[0].matched.find("TypeError: unsupported operand") != std::string::npos);
    }
}

TEST_CASE("classifier: unmatched text is unknown with confidence 0") {
  LoadedPlugin plugin("classifier");
  auto f = py("test_custom", "Failed: the widget exploded in an unusual way",
              "def test_custom():\n>       pytest.fail(\"the widget exploded in an unusual way\")\n"
              "E       Failed: the widget exploded in an unusual way\n\ntest_samples.py:60: Failed");
  auto out = feed<ev::FailureClassified>(plugin, f);
  REQUIRE(out.size() == 1);
  CHECK(out[0].category == "unknown");
  CHECK(out[0].confidence == 0.0);
  CHECK(out[0].evidence.empty());
}

TEST_CASE("classifier: a test that passed on re-run is flaky with confidence 1") {
  LoadedPlugin plugin("classifier");
  ev::FlakeDetected flake{"tests/test_cart.py::test_total", 3, 2};
  auto out = feed<ev::FailureClassified>(plugin, flake);
  REQUIRE(out.size() == 1);
  CHECK(out[0].test_id == "tests/test_cart.py::test_total");
  CHECK(out[0].category == "flaky");
  CHECK(out[0].confidence == 1.0);
  REQUIRE(out[0].evidence.size() == 1);
  CHECK(out[0].evidence[0].matched == "passed 2 of 3 re-runs");

  ev::FlakeDetected never{"tests/test_cart.py::test_total", 3, 0};
  CHECK(feed<ev::FailureClassified>(plugin, never).empty());
}

TEST_CASE("classifier: a rule added in fixhost.toml changes the category") {
  LoadedPlugin plugin("classifier");
  auto s = samples();
  const auto& timeout = s[12].failure;
  REQUIRE(timeout.test_name == "test_timeout");
  CHECK(feed<ev::FailureClassified>(plugin, timeout)[0].category == "flaky");

  // The [plugins.classifier] table as the host hands it over.
  REQUIRE(plugin
              ->configure(R"(
[[rules]]
id = "team.slow_backend"
category = "env_mismatch"
fields = ["message"]
regex = 'operation timed out after \d+s'
weight = 0.5
)")
              .is_ok());
  auto out = feed<ev::FailureClassified>(plugin, timeout);
  REQUIRE(out.size() == 1);
  CHECK(out[0].category == "env_mismatch");
  CHECK(out[0].confidence == doctest::Approx(0.5));
  CHECK(out[0].evidence[0].rule == "team.slow_backend");
  CHECK(out[0].evidence[0].matched == "operation timed out after 5s");
  // The shipped rules are still there.
  CHECK(feed<ev::FailureClassified>(plugin, s[0].failure)[0].category == "missing_dependency");

  SUBCASE("same id replaces a shipped rule") {
    REQUIRE(plugin->configure(R"(rules = [
  { id = "any.timeout", category = "logic_bug", fields = ["error_type"], regex = '^TimeoutError$', weight = 0.7 },
])")
                .is_ok());
    auto o = feed<ev::FailureClassified>(plugin, timeout);
    CHECK(o[0].category == "logic_bug");
    CHECK(o[0].evidence[0].pattern == "^TimeoutError$");
  }
  SUBCASE("a tie goes to the rule that comes first, so a configured rule wins it") {
    REQUIRE(plugin->configure(R"(rules = [
  { id = "team.tie", category = "env_mismatch", fields = ["message"], regex = 'timed out', weight = 0.4 },
])")
                .is_ok());
    CHECK(feed<ev::FailureClassified>(plugin, timeout)[0].category == "env_mismatch");
  }
  SUBCASE("a runner filter keeps a rule off other runners' failures") {
    REQUIRE(plugin->configure(R"(rules = [
  { id = "team.jest_only", category = "env_mismatch", fields = ["message"], regex = 'timed out', weight = 0.9, runner = "jest" },
])")
                .is_ok());
    CHECK(feed<ev::FailureClassified>(plugin, timeout)[0].category == "flaky");
  }
  SUBCASE("disable drops a shipped rule") {
    REQUIRE(plugin->configure("disable = [\"any.timeout\"]\n").is_ok());
    CHECK(feed<ev::FailureClassified>(plugin, timeout)[0].category == "unknown");
  }
}

TEST_CASE("classifier: replace_defaults drops the shipped rules") {
  LoadedPlugin plugin("classifier");
  auto s = samples();
  REQUIRE(plugin
              ->configure(R"(
replace_defaults = true
[[rules]]
id = "only.type"
category = "type_error"
fields = ["error_type"]
regex = '^TypeError$'
weight = 1.0
)")
              .is_ok());
  auto missing = feed<ev::FailureClassified>(plugin, s[0].failure);
  CHECK(missing[0].category == "unknown");
  auto type = feed<ev::FailureClassified>(plugin, s[1].failure);
  CHECK(type[0].category == "type_error");
  CHECK(type[0].evidence.size() == 1);
  CHECK(type[0].evidence[0].rule == "only.type");
}

TEST_CASE("classifier: bad configuration is a configure error naming the problem") {
  LoadedPlugin plugin("classifier");
  auto bad = plugin->configure(R"(
[[rules]]
id = "team.broken"
category = "logic_bug"
fields = ["message"]
regex = 'unclosed (group'
weight = 0.5
)");
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.code() == fixhost::Errc::invalid_argument);
  CHECK(bad.message().find("team.broken") != std::string::npos);
  CHECK(bad.message().find("unclosed (group") != std::string::npos);
  CHECK(bad.message().find("line 2") != std::string::npos);
  // A plugin left unconfigured refuses to classify rather than silently using other rules.
  fixhost::testing::Collector c;
  CHECK_FALSE(plugin->on_event(ev::make_event(samples()[0].failure, "r"), c).is_ok());
  CHECK(c.out.empty());

  auto category = plugin->configure("rules = [{ id = 'x', category = 'oops', fields = ['message'], regex = 'a', weight = 0.5 }]");
  CHECK(category.message().find("'oops'") != std::string::npos);
  auto field = plugin->configure("rules = [{ id = 'x', category = 'flaky', fields = ['stdout'], regex = 'a', weight = 0.5 }]");
  CHECK(field.message().find("unknown field 'stdout'") != std::string::npos);
  auto weight = plugin->configure("rules = [{ id = 'x', category = 'flaky', fields = ['message'], regex = 'a', weight = 2 }]");
  CHECK(weight.message().find("weight") != std::string::npos);
  auto key = plugin->configure("rules = [{ id = 'x', category = 'flaky', fields = ['message'], regx = 'a', weight = 0.5 }]");
  CHECK_FALSE(key.is_ok());
  auto disable = plugin->configure("disable = ['no.such.rule']");
  CHECK(disable.message().find("no.such.rule") != std::string::npos);
  auto top = plugin->configure("replace_default = true");
  CHECK(top.message().find("replace_default") != std::string::npos);
  auto syntax = plugin->configure("rules = [");
  CHECK(syntax.message().find("not valid TOML") != std::string::npos);
  auto dup = plugin->configure(
      "rules = [{ id = 'x', category = 'flaky', fields = ['message'], regex = 'a', weight = 0.5 },"
      "{ id = 'x', category = 'flaky', fields = ['message'], regex = 'b', weight = 0.5 }]");
  CHECK(dup.message().find("twice") != std::string::npos);

  // A good configuration afterwards makes it usable again.
  REQUIRE(plugin->configure("").is_ok());
  CHECK(feed<ev::FailureClassified>(plugin, samples()[0].failure)[0].category == "missing_dependency");
}

TEST_CASE("classifier: huge fields are bounded, not a stack overflow") {
  LoadedPlugin plugin("classifier");
  auto f = samples()[1].failure;  // TypeError
  f.stack_trace = std::string(4 * 1024 * 1024, 'x') + "\n" + f.stack_trace;
  f.message = std::string(200000, 'y');
  auto out = feed<ev::FailureClassified>(plugin, f);
  REQUIRE(out.size() == 1);
  CHECK(out[0].category == "type_error");  // error_type still says TypeError; the tail is scanned
}
