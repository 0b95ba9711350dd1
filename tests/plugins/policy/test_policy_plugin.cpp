// policy.so loaded with dlopen as the host loads it, configured with the table the host
// synthesizes, and fed AttemptFinished events recorded from attempts in a real git repository.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "attempt_repo.hpp"
#include "plugin_harness.hpp"

using fixhost::testing::AttemptRepo;
using fixhost::testing::feed;
using fixhost::testing::LoadedPlugin;
namespace ev = fixhost::events;

namespace {

void shop(AttemptRepo& r) {
  r.write("shop/money.py", "def round_money(x):\n    return int(x * 100) / 100\n");
  r.write("shop/payments/charge.py", "def charge(amount):\n    return amount\n");
  r.write("tests/test_money.py",
          "from shop.money import round_money\n\n\ndef test_round_money_half_up():\n    assert round_money(2.675) == 2.68\n");
  r.snapshot();
}

// The [plugins.policy] text host/src/config.cpp hands over for the demo's fixhost.toml.
constexpr const char* k_host_table = "protected = [ 'shop/payments/**' ]\ntest_edit_categories = [ 'stale_mock' ]\n";

}  // namespace

TEST_CASE("policy.so: a pure plugin subscribed to AttemptFinished and SourceScanned") {
  LoadedPlugin p("policy");
  const auto info = p->info();
  CHECK(info.name == "policy");
  CHECK(info.kind == fixhost::sdk::PluginKind::pure);
  CHECK(info.subscriptions ==
        std::vector<ev::EventType>{ev::EventType::AttemptFinished, ev::EventType::SourceScanned});
}

// Issue 8: a package named after a protected word is said before the run, with the lines to write.
TEST_CASE("policy.so: a built-in protection covering most source files is reported from the scan") {
  auto scan = [](std::vector<std::string> paths) {
    ev::SourceScanned s;
    for (auto& p : paths) s.files.push_back({p, "python", {}});
    return s;
  };
  const auto ledger = scan({"ledger/__init__.py", "ledger/accounts.py", "ledger/journal.py", "ledger/report.py",
                            "tests/test_accounts.py", "tests/test_journal.py", "setup.py"});
  LoadedPlugin p("policy");
  REQUIRE(p->configure(k_host_table));
  auto out = feed<ev::ProtectionTooWide>(p, ledger);
  REQUIRE(out.size() == 1);
  CHECK(out[0].protection == "payments");
  CHECK(out[0].matched == "ledger");
  CHECK(out[0].files_covered == 4);
  CHECK(out[0].files_total == 5);  // test files are not counted
  CHECK(out[0].suggestion.find("unprotect = [\"ledger/**\"]") != std::string::npos);

  // The suggested line silences it; a repository where the word is one module does not warn.
  LoadedPlugin q("policy");
  REQUIRE(q->configure("unprotect = ['ledger/**']\n"));
  CHECK(feed<ev::ProtectionTooWide>(q, ledger).empty());
  CHECK(feed<ev::ProtectionTooWide>(p, scan({"shop/cart.py", "shop/payments.py", "shop/catalog.py", "shop/users.py"}))
            .empty());
}

TEST_CASE("policy.so: a clean src fix emits nothing and a gamed attempt one violation per finding") {
  LoadedPlugin p("policy");
  REQUIRE(p->configure(k_host_table));

  AttemptRepo clean;
  shop(clean);
  clean.edit("shop/money.py", "int(x * 100) / 100", "round(x * 100 + 1e-9) / 100");
  CHECK(feed<ev::PolicyViolation>(p, clean.finish("logic_bug", "tests/test_money.py::test_round_money_half_up", 1)).empty());

  AttemptRepo gamed;
  shop(gamed);
  gamed.edit("tests/test_money.py", "    assert round_money(2.675) == 2.68\n",
             "    assert round_money(2.675) == pytest.approx(2.68, abs=0.01)\n");
  gamed.edit("tests/test_money.py", "def test_round", "import pytest\n\n\n@pytest.mark.xfail\ndef test_round");
  gamed.edit("shop/payments/charge.py", "return amount", "return round(amount, 2)");
  auto attempt = gamed.finish("logic_bug", "tests/test_money.py::test_round_money_half_up", 2);
  attempt.git_changes = {"HEAD moved 0a1b -> 2c3d"};
  const auto out = feed<ev::PolicyViolation>(p, attempt);
  std::vector<std::string> rules;
  for (const auto& v : out) {
    CHECK(v.test_id == "tests/test_money.py::test_round_money_half_up");
    CHECK(v.attempt == 2);
    CHECK_FALSE(v.detail.empty());
    rules.push_back(v.rule);
  }
  CHECK(rules == std::vector<std::string>{"git_tampering", "protected_path", "skip_marker", "assertion_weakened",
                                          "test_edited"});
  CHECK(out[1].path == "shop/payments/charge.py");
  CHECK(out[2].detail.find("@pytest.mark.xfail") != std::string::npos);
  CHECK(out[3].detail.find("abs tolerance widened") != std::string::npos);

  // Replay: the same recorded attempt judged again gives the same verdict.
  const auto again = feed<ev::PolicyViolation>(p, attempt);
  REQUIRE(again.size() == out.size());
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(again[i].detail == out[i].detail);
}

TEST_CASE("policy.so: configuration decides test edits and protected globs and bad configuration is refused") {
  AttemptRepo r;
  shop(r);
  r.edit("tests/test_money.py", "2.675) == 2.68", "2.675) == 2.67");
  r.edit("shop/payments/charge.py", "return amount", "return amount + 0");
  const auto attempt = r.finish("type_error");

  LoadedPlugin defaults("policy");  // never configured: built-ins only, stale_mock may edit tests
  auto out = feed<ev::PolicyViolation>(defaults, attempt);
  REQUIRE(out.size() == 2);
  CHECK(out[0].rule == "protected_path");  // "payments" is a built-in word
  CHECK(out[1].rule == "test_edited");

  LoadedPlugin lenient("policy");
  REQUIRE(lenient->configure("test_edit_categories = ['stale_mock', 'type_error']\nunprotect = ['shop/payments/**']\n"));
  CHECK(feed<ev::PolicyViolation>(lenient, attempt).empty());

  LoadedPlugin bad("policy");
  const auto st = bad->configure("protected = 'shop/**'\n");
  REQUIRE_FALSE(st);
  CHECK(st.code() == fixhost::Errc::invalid_argument);
  CHECK(st.message().find("`protected` must be an array of strings") != std::string::npos);
}

TEST_CASE("policy.so: other event types and undecodable payloads") {
  LoadedPlugin p("policy");
  fixhost::testing::Collector c;
  ev::TestRerun rerun;
  CHECK(p->on_event(ev::make_event(rerun, "run-1"), c));
  CHECK(c.out.empty());
  auto broken = ev::make_event(ev::AttemptFinished{}, "run-1");
  broken.payload = "\x01";
  CHECK_FALSE(p->on_event(broken, c));
}
