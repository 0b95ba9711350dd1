// End-to-end tests of `hostctl detect`: the real binary, with its built-in plugins, on a copy of
// a fixture project committed to a fresh git repository, real pytest and jest, the event store
// in a temp dir (--store).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "fixture_run.hpp"

namespace fx = fixhost::testing;
namespace fs = std::filesystem;

namespace {

// A fixture copied into <tmp>/repo and committed, plus a store dir beside it.
struct Repo {
  fx::TempDir tmp{"fixhost-detect"};
  fs::path dir = tmp.path() / "repo";
  fs::path store = tmp.path() / "store";

  explicit Repo(const std::string& fixture, std::string_view toml = {}) {
    fx::copy_fixture(fixture, dir);
    if (!toml.empty()) fx::write_file(dir / "fixhost.toml", toml);
    git({"init", "-q", "-b", "main"});
    git({"add", "-A"});
    git({"-c", "user.name=fixhost test", "-c", "user.email=test@fixhost.invalid", "commit", "-q", "-m", "fixture"});
  }
  void git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", dir.string()});
    auto r = fx::run_argv(args, dir);
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  }
};

struct Detect {
  int exit_code = -1;
  std::string out, err;
};

// hostctl --store <store> detect --repo <dir> [args...], stdout and stderr apart.
Detect detect(const Repo& repo, std::vector<std::string> args) {
  fs::path out = repo.tmp.path() / "stdout", err = repo.tmp.path() / "stderr";
  std::string cmd = "exec \"$0\" --store \"$1\" detect --repo \"$2\"";
  for (std::size_t i = 0; i < args.size(); ++i) cmd += " \"$" + std::to_string(i + 5) + "\"";
  cmd += " >\"$3\" 2>\"$4\"";
  std::vector<std::string> argv{"/bin/sh", "-c", cmd, FIXHOST_HOSTCTL, repo.store.string(), repo.dir.string(),
                                out.string(), err.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = fx::run_argv(argv, repo.dir, {}, repo.tmp.path() / "tmp");
  Detect d;
  d.exit_code = r.exit_code;
  d.out = fx::read_file(out);
  d.err = fx::read_file(err);
  return d;
}

const nlohmann::json* by_id(const nlohmann::json& arr, const std::string& id) {
  for (const auto& f : arr)
    if (f.at("test_id") == id) return &f;
  return nullptr;
}

const char* const k_fields[] = {"runner", "test_id", "file",  "line",     "test_name",  "error_type",
                                "message", "stack_trace", "phase", "category", "confidence", "order"};

void check_fields(const nlohmann::json& arr) {
  std::set<std::uint64_t> orders;
  for (const auto& f : arr) {
    INFO(f.dump());
    for (const char* k : k_fields) CHECK_MESSAGE(f.contains(k), k);
    CHECK(f.at("line").is_number_integer());
    CHECK(f.at("confidence").is_number());
    CHECK(f.at("order").is_number_unsigned());
    CHECK_FALSE(f.at("test_id").get<std::string>().empty());
    CHECK_FALSE(f.at("file").get<std::string>().empty());
    orders.insert(f.at("order").get<std::uint64_t>());
  }
  // 1..n, each once.
  CHECK(orders.size() == arr.size());
  if (!arr.empty()) {
    CHECK(*orders.begin() == 1);
    CHECK(*orders.rbegin() == arr.size());
  }
}

const std::string k_pytest_toml =
    "flaky_reruns = 1\n"
    "[[suites]]\n"
    "name = \"python\"\n"
    "runner = \"pytest\"\n"
    "command = [\"/usr/bin/python3\", \"-m\", \"pytest\"]\n"
    "timeout = \"2m\"\n";

}  // namespace

TEST_CASE("detect on the pytest shop: exit 1, every failure as JSON with its category and fix order") {
  Repo repo("python/shop", k_pytest_toml);
  Detect d = detect(repo, {"--json"});
  INFO("stderr:\n" << d.err << "\nstdout:\n" << d.out);
  CHECK(d.exit_code == 1);
  auto arr = nlohmann::json::parse(d.out);
  REQUIRE(arr.is_array());
  CHECK(arr.size() == 11);
  check_fields(arr);
  for (const auto& f : arr) CHECK(f.at("runner") == "pytest");

  std::map<std::string, std::string> expect = {
      {"tests/test_pricing.py::test_apply_discount", "logic_bug"},
      {"tests/test_pricing.py::test_format_price", "type_error"},
      {"tests/unit/test_export.py::test_to_xlsx", "missing_dependency"},
      {"tests/test_inventory.py::test_in_stock_uses_warehouse", "stale_mock"},
      {"tests/unit/test_config.py::test_database_url_from_env", "env_mismatch"},
      {"tests/unit/test_export.py::test_export_is_flaky", "flaky"},
  };
  for (const auto& [id, category] : expect) {
    INFO(id);
    const nlohmann::json* f = by_id(arr, id);
    REQUIRE(f);
    CHECK(f->at("category") == category);
    CHECK(f->at("confidence").get<double>() > 0);
    CHECK(f->at("phase") == "call");
  }
  const nlohmann::json* f = by_id(arr, "tests/test_pricing.py::test_format_price");
  REQUIRE(f);
  CHECK(f->at("error_type") == "TypeError");
  CHECK(f->at("file") == "tests/test_pricing.py");
  CHECK(f->at("line") == 15);
  CHECK(f->at("test_name") == "test_format_price");
  CHECK(f->at("message").get<std::string>().find("unsupported operand") != std::string::npos);
  CHECK(f->at("stack_trace").get<std::string>().find("shop/pricing.py:22") != std::string::npos);
  f = by_id(arr, "tests/test_inventory.py::test_live_stock");
  REQUIRE(f);
  CHECK(f->at("phase") == "setup");
  CHECK(by_id(arr, "tests/test_pricing.py::test_parse_price[it's 7 \\u20ac-700]"));
  // What was run went into the store.
  CHECK(fs::exists(repo.store));
  CHECK(d.err.find("running pytest suite 'python'") != std::string::npos);
}

TEST_CASE("detect on the jest cart: exit 1, suites that failed to run are failures too") {
  std::string toml = "[[suites]]\n"
                     "name = \"js\"\n"
                     "runner = \"jest\"\n"
                     "command = [\"node\", \"" + fx::jest_js().string() + "\"]\n"
                     "timeout = \"2m\"\n";
  Repo repo("js/cart", toml);
  // Each jest start costs seconds: the flaky re-runs are covered by the pytest case above.
  Detect d = detect(repo, {"--json", "--no-flaky-check"});
  INFO("stderr:\n" << d.err << "\nstdout:\n" << d.out);
  CHECK(d.exit_code == 1);
  auto arr = nlohmann::json::parse(d.out);
  CHECK(arr.size() == 9);
  check_fields(arr);
  const std::string sep = " \xE2\x80\xBA ";
  std::map<std::string, std::string> expect = {
      {"__tests__/pricing.test.js::applies a 10% discount", "logic_bug"},
      {"__tests__/pricing.test.js::formatting" + sep + "formats cents as euros", "type_error"},
      {"__tests__/sync.test.js", "missing_dependency"},
      {"__tests__/inventory.test.js::inventory" + sep + "asks the warehouse", "stale_mock"},
      {"__tests__/unit/config.test.js::reads the database url from the environment", "env_mismatch"},
  };
  for (const auto& [id, category] : expect) {
    INFO(id);
    const nlohmann::json* f = by_id(arr, id);
    REQUIRE(f);
    CHECK(f->at("category") == category);
    CHECK(f->at("runner") == "jest");
  }
  const nlohmann::json* f = by_id(arr, "__tests__/report.test.js");
  REQUIRE(f);
  CHECK(f->at("phase") == "collection");
  CHECK(f->at("error_type") == "SyntaxError");
}

TEST_CASE("detect on a passing project: exit 0 and an empty JSON array") {
  Repo repo("python/clean", k_pytest_toml);
  Detect d = detect(repo, {"--json"});
  INFO("stderr:\n" << d.err << "\nstdout:\n" << d.out);
  CHECK(d.exit_code == 0);
  auto arr = nlohmann::json::parse(d.out);
  CHECK(arr.is_array());
  CHECK(arr.empty());
  // The table form says the same.
  Detect t = detect(repo, {});
  CHECK(t.exit_code == 0);
  CHECK(t.out.find("0 failures in 5 tests") != std::string::npos);
}

TEST_CASE("detect when the suite cannot run: exit 2 with the reason on stderr") {
  Repo repo("python/clean", "[[suites]]\n"
                            "name = \"python\"\n"
                            "runner = \"pytest\"\n"
                            "command = [\"fixhost-no-such-runner\", \"-m\", \"pytest\"]\n");
  Detect d = detect(repo, {"--json"});
  INFO("stderr:\n" << d.err << "\nstdout:\n" << d.out);
  CHECK(d.exit_code == 2);
  CHECK(d.err.find("fixhost-no-such-runner") != std::string::npos);
  CHECK(d.err.find("hostctl:") != std::string::npos);
}

TEST_CASE("detect without fixhost.toml: the suites are detected and it says what it chose") {
  Repo repo("python/ledger");
  Detect d = detect(repo, {"--no-flaky-check"});
  INFO("stderr:\n" << d.err << "\nstdout:\n" << d.out);
  CHECK(d.exit_code == 1);
  CHECK(d.err.find("detected a pytest suite") != std::string::npos);
  CHECK(d.err.find("no fixhost.toml") != std::string::npos);
  // The table names both collection errors.
  CHECK(d.out.find("tests/test_reports.py") != std::string::npos);
  CHECK(d.out.find("tests/test_sync.py") != std::string::npos);
  // Issue 8: with --continue-on-collection-errors the two files no longer hide test_balance's failure.
  CHECK(d.out.find("tests/test_balance.py::test_currency_symbol") != std::string::npos);
  CHECK(d.out.find("3 failures") != std::string::npos);
  CHECK(d.err.find("WARNING: 2 test file(s)") != std::string::npos);
}
