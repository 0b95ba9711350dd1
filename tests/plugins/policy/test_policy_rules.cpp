// The policy rules (plugins/policy/policy_rules.hpp) on attempts made in a real git repository:
// each rule and sub-rule on the diff git prints for a realistic change, and the legitimate
// changes that must pass (a src fix, a stale-mock test edit, author.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "attempt_repo.hpp"
#include "fixhost/store/capture.hpp"
#include "policy_rules.hpp"

using fixhost::testing::AttemptRepo;
namespace ev = fixhost::events;
namespace pol = fixhost::policy;

namespace {

const char* k_test_cart = R"(import pytest
from shop.cart import Cart, total


def test_total():
    cart = Cart()
    cart.add("apple", 3, price=10)
    assert total(cart) == 30


def test_empty():
    assert total(Cart()) == 0


def test_discount():
    assert total(Cart(), discount=0.1) == pytest.approx(0.0)


def test_bad_qty():
    with pytest.raises(ValueError):
        Cart().add("apple", -1, price=10)


class TestUnit:
    def test_name(self):
        self.assertEqual(Cart().name, "cart")
)";

const char* k_cart_test_js = R"(const { cartTotal } = require('../src/cart');

describe('cartTotal', () => {
  test('sums items', () => {
    expect(cartTotal({ items: [{ price: 2, qty: 3 }] })).toBe(6);
  });
  it('is zero for an empty cart', () => {
    expect(cartTotal({ items: [] })).toEqual(0);
  });
  it('rounds', () => {
    expect(cartTotal({ items: [{ price: 0.1, qty: 3 }] })).toBeCloseTo(0.3, 5);
  });
  it('rejects a bad cart', () => {
    expect(() => cartTotal(null)).toThrow(TypeError);
  });
});
)";

const char* k_checkout_test = R"(from decimal import Decimal
from unittest import mock

from shop.checkout import checkout


def test_checkout_notifies_customer():
    with mock.patch("shop.notify.send_email") as send:
        checkout("a@example.com", 100, 10)
    send.assert_called_once()
)";

// A small shop in a fresh repository, snapshotted as the tree before the attempt.
void shop(AttemptRepo& r) {
  r.write("shop/__init__.py", "");
  r.write("shop/cart.py",
          "class Cart:\n    name = 'cart'\n\n    def __init__(self):\n        self.items = []\n\n"
          "    def add(self, sku, qty, price):\n        if qty < 0:\n            raise ValueError(qty)\n"
          "        self.items.append((sku, qty, price))\n\n\n"
          "def total(cart, discount=0.0):\n    return sum(q * p for _, q, p in cart.items) * (1 - discount)\n");
  r.write("shop/money.py", "def round_money(x):\n    return int(x * 100) / 100\n");
  r.write("shop/author.py", "AUTHOR = 'someone'\n");
  r.write("shop/payments/charge.py", "def charge(amount):\n    return amount\n");
  r.write("shop/auth/session.py", "def login(user):\n    return True\n");
  r.write("shop/model.py", "class Model:\n    def fit(self, x):\n        return x\n");
  r.write("tests/test_cart.py", k_test_cart);
  r.write("tests/test_checkout.py", k_checkout_test);
  r.write("tests/conftest.py", "import pytest\n");
  r.write("pytest.ini", "[pytest]\naddopts = -q\n");
  r.write("js/src/cart.js", "exports.cartTotal = (c) => c.items.reduce((s, i) => s + i.price * i.qty, 0);\n");
  r.write("js/__tests__/cart.test.js", k_cart_test_js);
  r.write("docs/testing.md", "Never use it.only in committed code.\n");
  r.snapshot();
}

pol::Policy policy(pol::Settings s = {}) {
  auto p = pol::Policy::make(std::move(s));
  REQUIRE_MESSAGE(p, p.status().to_string());
  return std::move(*p);
}

pol::Policy shop_policy() {
  pol::Settings s;
  s.protected_globs = {"shop/payments/**"};
  return policy(s);
}

std::vector<pol::Violation> of(const std::vector<pol::Violation>& vs, const std::string& rule) {
  std::vector<pol::Violation> out;
  std::copy_if(vs.begin(), vs.end(), std::back_inserter(out), [&](const pol::Violation& v) { return v.rule == rule; });
  return out;
}

std::string dump(const std::vector<pol::Violation>& vs) {
  std::string s;
  for (const auto& v : vs) s += v.rule + " | " + v.path + " | " + v.detail + "\n";
  return s.empty() ? "(no violations)" : s;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---- globs, test files, path words ------------------------------------------------------------

TEST_CASE("globs: ** spans directories, * stays in a segment, case is ignored, no-slash globs match at any depth") {
  auto m = [](const char* glob, const char* path) {
    auto g = pol::Glob::compile(glob);
    REQUIRE_MESSAGE(g, g.status().to_string());
    return g->matches(path);
  };
  CHECK(m("**/auth/**", "src/auth/views.py"));
  CHECK(m("**/auth/**", "auth/views.py"));
  CHECK_FALSE(m("**/auth/**", "src/author/views.py"));
  CHECK(m("shop/payments/**", "shop/payments/stripe/charge.py"));
  CHECK_FALSE(m("shop/payments/**", "other/shop/payments/charge.py"));
  CHECK(m("shop/*.py", "shop/cart.py"));
  CHECK_FALSE(m("shop/*.py", "shop/sub/cart.py"));
  CHECK(m("*.sql", "db/schema/drop.sql"));
  CHECK(m("migrations/", "app/migrations/0001_initial.py"));
  CHECK(m("/fixhost.toml", "fixhost.toml"));
  CHECK_FALSE(m("/fixhost.toml", "sub/fixhost.toml"));
  CHECK(m("fixhost.toml", "sub/fixhost.toml"));
  CHECK(m("shop/Payments/**", "SHOP/payments/x.py"));
  CHECK(m("v?.py", "api/v2.py"));
  CHECK(m("v[0-9].py", "api/v2.py"));
  CHECK_FALSE(m("v[!0-9].py", "api/v2.py"));
  CHECK(m("./shop/**/charge.py", "shop/a/b/charge.py"));
  CHECK(m("shop/**/charge.py", "shop/charge.py"));

  for (const char* bad : {"", "shop/pay**/x", "shop/[ab.py"}) {
    auto g = pol::Glob::compile(bad);
    CHECK_FALSE(g);
    CHECK(g.status().code() == fixhost::Errc::invalid_argument);
  }
}

TEST_CASE("test files: pytest and jest naming and test directories, but not src files") {
  for (const char* p : {"tests/test_cart.py", "test_cart.py", "shop/cart_test.py", "tests/conftest.py", "conftest.py",
                        "js/src/cart.test.js", "web/Cart.spec.tsx", "js/__tests__/cart.js", "test/helpers.js",
                        "js/__tests__/__snapshots__/cart.test.js.snap", "spec/models/user_spec.rb"})
    CHECK_MESSAGE(pol::is_test_file(p), p);
  for (const char* p : {"shop/cart.py", "shop/testing_utils.py", "js/src/contest.js", "latest.py", "tests", "docs/test.md"})
    CHECK_MESSAGE(!pol::is_test_file(p), p);
}

TEST_CASE("path words split at separators and camelCase") {
  CHECK(pol::path_words("src/OAuthClient/user_login.py") ==
        std::vector<std::string>{"src", "o", "auth", "client", "user", "login", "py"});
  CHECK(pol::path_words("HTTPServer-v2.ts") == std::vector<std::string>{"http", "server", "v2", "ts"});
}

TEST_CASE("built-in protections: auth, login, credentials, payments, data deletion, fixhost.toml, CI") {
  const auto p = policy();
  for (const char* path : {"src/auth/views.py", "auth.py", "shop/oauth.py", "web/AuthService.ts", "api/authorization.py",
                           "api/authorize.js", "lib/basicauth.go", "accounts/login_form.py", "web/LoginPage.tsx",
                           "users/password_reset.py", "config/credentials.yml", "billing/invoice.py", "shop/payments/x.py",
                           "shop/pay.py", "api/refunds.py", "jobs/delete_user.py", "app/migrations/0002_drop.py",
                           "privacy/gdpr_export.py", "fixhost.toml", ".github/workflows/ci.yml", "tests/test_auth.py"}) {
    auto why = p.protection(path);
    CHECK_MESSAGE(why, path);
  }
  // False positives a substring match would make.
  for (const char* path : {"shop/author.py", "blog/authors/list.py", "web/AuthorName.tsx", "blog/coauthor.py",
                           "nlp/tokenizer.py", "db/oracle.py", "ui/display.py", "shop/checkout.py", "shop/cart.py",
                           "docs/description.md", "sub/fixhost.toml", "blog/Authored.py"}) {
    auto why = p.protection(path);
    CHECK_MESSAGE(!why, path << ": " << why.value_or(""));
  }
  auto why = p.protection("shop/payments/charge.py");
  REQUIRE(why);
  CHECK(contains(*why, "built-in protection 'payments'"));
  CHECK(contains(*why, "'payments'"));
  CHECK(pol::builtin_protections().size() == 8);
}

TEST_CASE("unprotect exempts paths from the built-ins but never from the config's own protected globs") {
  pol::Settings s;
  s.protected_globs = {"docs/secure/**"};
  s.unprotect = {"docs/**"};
  const auto p = policy(s);
  CHECK_FALSE(p.protection("docs/auth-guide.md"));
  CHECK(p.protection("docs/secure/auth.md"));
  CHECK(p.protection("src/auth.py"));
}

// ---- settings -----------------------------------------------------------------------------------

TEST_CASE("settings: the table host/src/config.cpp synthesizes, defaults, and errors that name the key") {
  auto s = pol::parse_settings("protected = [\"shop/payments/**\"]\ntest_edit_categories = [\"stale_mock\", \"type_error\"]\n");
  REQUIRE_MESSAGE(s, s.status().to_string());
  CHECK(s->protected_globs == std::vector<std::string>{"shop/payments/**"});
  CHECK(s->test_edit_categories == std::vector<std::string>{"stale_mock", "type_error"});

  auto d = pol::parse_settings("");
  REQUIRE(d);
  CHECK(d->test_edit_categories == std::vector<std::string>{"stale_mock"});
  CHECK(d->protected_globs.empty());

  auto unknown = pol::parse_settings("protect = [\"x\"]\n");
  REQUIRE_FALSE(unknown);
  CHECK(contains(unknown.status().message(), "unknown key 'protect'"));
  CHECK(contains(unknown.status().message(), "allowed: protected, unprotect, test_edit_categories"));

  auto wrong = pol::parse_settings("protected = \"shop/**\"\n");
  REQUIRE_FALSE(wrong);
  CHECK(contains(wrong.status().message(), "`protected` must be an array of strings"));

  auto broken = pol::parse_settings("protected = [\n");
  REQUIRE_FALSE(broken);
  CHECK(contains(broken.status().message(), "fixhost.toml [plugins.policy]"));

  pol::Settings bad_glob;
  bad_glob.protected_globs = {"shop/[x"};
  auto p = pol::Policy::make(bad_glob);
  REQUIRE_FALSE(p);
  CHECK(contains(p.status().message(), "protected: glob 'shop/[x'"));
}

// ---- reading diffs --------------------------------------------------------------------------------

TEST_CASE("read_diff: modified, added, deleted, renamed and binary files from a real git diff") {
  AttemptRepo r;
  shop(r);
  r.edit("shop/money.py", "int(x * 100) / 100", "round(x * 100) / 100");
  r.write("shop/new_module.py", "X = 1\n");
  r.remove("shop/model.py");
  r.rename("shop/cart.py", "shop/basket.py");
  r.write("shop/logo.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  const auto a = r.finish("logic_bug");
  const auto files = pol::read_diff(a.diff.data);
  auto find = [&](const std::string& path) -> const pol::FileDiff& {
    auto it = std::find_if(files.begin(), files.end(), [&](const pol::FileDiff& f) { return f.path() == path; });
    REQUIRE_MESSAGE(it != files.end(), path << " not in diff:\n" << a.diff.data);
    return *it;
  };
  CHECK(files.size() == 5);
  const auto& money = find("shop/money.py");
  CHECK(money.status == 'M');
  CHECK(money.parsed);
  REQUIRE(money.changes.size() == 1);
  REQUIRE(money.changes[0].removed.size() == 1);
  CHECK(money.changes[0].removed[0].line == 2);
  CHECK(money.changes[0].added[0].text == "    return round(x * 100) / 100");
  CHECK(find("shop/new_module.py").status == 'A');
  CHECK(find("shop/model.py").status == 'D');
  CHECK(find("shop/model.py").new_path.empty());
  const auto& basket = find("shop/basket.py");
  CHECK(basket.status == 'R');
  CHECK(basket.old_path == "shop/cart.py");
  CHECK(find("shop/logo.png").binary);
  CHECK(std::find(a.files_touched.begin(), a.files_touched.end(), "R shop/cart.py -> shop/basket.py") !=
        a.files_touched.end());
}

TEST_CASE("read_diff: a diff cut by the capture cap is read on both sides of the cut") {
  AttemptRepo r;
  shop(r);
  std::string big;
  for (int i = 0; i < 400; ++i) big += "big_line_" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  r.write("x_big/data.py", big);  // sorts after tests/, so its section is the one the cap cuts
  r.edit("tests/test_cart.py", "def test_empty():", "@pytest.mark.skip(reason='slow')\ndef test_empty():");
  auto a = r.finish("stale_mock");
  const auto big_at = a.diff.data.find("diff --git a/x_big/data.py");
  REQUIRE(big_at != std::string::npos);
  fixhost::store::CappedCapture cap(big_at + 300, 200);
  cap.append(a.diff.data);
  a.diff = std::move(cap).finish();
  REQUIRE(a.diff.cut_bytes > 0);

  const auto files = pol::read_diff(a.diff.data);
  REQUIRE(files.size() == 3);
  CHECK(files[0].path() == "tests/test_cart.py");
  CHECK(files[0].parsed);
  CHECK(files[1].path() == "x_big/data.py");
  CHECK_FALSE(files[1].parsed);
  CHECK(files[1].status == 'A');
  CHECK_FALSE(files[1].changes.empty());
  CHECK(files[2].path().empty());  // the tail, whose header was cut
  REQUIRE_FALSE(files[2].changes.empty());
  CHECK(files[2].changes.back().added.back().text == "big_line_399 = 399");

  const auto vs = policy().judge(a);
  INFO(dump(vs));
  CHECK(of(vs, "skip_marker").size() == 1);
}

// ---- the rules ----------------------------------------------------------------------------------

TEST_CASE("a legitimate fix to src code is not a violation") {
  AttemptRepo r;
  shop(r);
  r.edit("shop/money.py", "    return int(x * 100) / 100\n",
         "    from decimal import Decimal, ROUND_HALF_UP\n"
         "    return float(Decimal(str(x)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP))\n");
  r.edit("shop/model.py", "return x", "return self.fit_intercept(x) if hasattr(self, 'fit_intercept') else x");
  r.edit("shop/author.py", "someone", "someone else");
  const auto vs = shop_policy().judge(r.finish("logic_bug"));
  CHECK_MESSAGE(vs.empty(), dump(vs));
}

TEST_CASE("protected_path: the config's glob and the built-ins, on both sides of a rename") {
  AttemptRepo r;
  shop(r);
  r.edit("shop/payments/charge.py", "return amount", "return amount * 0");
  r.rename("shop/auth/session.py", "shop/sessions.py");
  const auto vs = shop_policy().judge(r.finish("logic_bug"));
  auto pp = of(vs, "protected_path");
  INFO(dump(vs));
  REQUIRE(pp.size() == 2);
  std::sort(pp.begin(), pp.end(), [](const pol::Violation& a, const pol::Violation& b) { return a.path > b.path; });
  CHECK(pp[0].path == "shop/payments/charge.py");
  CHECK(contains(pp[0].detail, "the protected glob 'shop/payments/**' of fixhost.toml"));
  CHECK(pp[1].path == "shop/auth/session.py");
  CHECK(contains(pp[1].detail, "R shop/auth/session.py -> shop/sessions.py"));
  CHECK(contains(pp[1].detail, "built-in protection 'auth'"));
}

TEST_CASE("test_deleted: a deleted test file, a renamed one, and removed test functions") {
  SUBCASE("deleted file") {
    AttemptRepo r;
    shop(r);
    r.remove("tests/test_cart.py");
    const auto vs = policy().judge(r.finish("stale_mock"));
    INFO(dump(vs));
    const auto td = of(vs, "test_deleted");
    REQUIRE(td.size() == 1);  // the file, not each of its functions again
    CHECK(td[0].path == "tests/test_cart.py");
    CHECK(contains(td[0].detail, "deleted the test file"));
  }
  SUBCASE("renamed file") {
    AttemptRepo r;
    shop(r);
    r.rename("js/__tests__/cart.test.js", "js/__tests__/cart.test.js.bak");
    const auto vs = policy().judge(r.finish("stale_mock"));
    INFO(dump(vs));
    const auto td = of(vs, "test_deleted");
    REQUIRE(td.size() == 1);
    CHECK(contains(td[0].detail, "renamed the test file 'js/__tests__/cart.test.js' to 'js/__tests__/cart.test.js.bak'"));
  }
  SUBCASE("python test function removed, and one renamed") {
    AttemptRepo r;
    shop(r);
    r.edit("tests/test_cart.py", "def test_empty():\n    assert total(Cart()) == 0\n\n\n", "");
    r.edit("tests/test_cart.py", "def test_discount():", "def discount_case():");
    const auto vs = policy().judge(r.finish("stale_mock"));
    INFO(dump(vs));
    const auto td = of(vs, "test_deleted");
    REQUIRE(td.size() == 2);
    CHECK(contains(td[0].detail, "`def test_empty():`"));
    CHECK(contains(td[0].detail, "tests/test_cart.py:11"));
    CHECK(contains(td[1].detail, "no test named 'test_discount'"));
  }
  SUBCASE("jest test removed") {
    AttemptRepo r;
    shop(r);
    r.edit("js/__tests__/cart.test.js",
           "  it('rounds', () => {\n    expect(cartTotal({ items: [{ price: 0.1, qty: 3 }] })).toBeCloseTo(0.3, 5);\n  });\n", "");
    const auto vs = policy().judge(r.finish("stale_mock"));
    INFO(dump(vs));
    const auto td = of(vs, "test_deleted");
    REQUIRE(td.size() == 1);
    CHECK(contains(td[0].detail, "no test named 'rounds'"));
  }
  SUBCASE("a test moved within its file or given a new signature is not deleted") {
    AttemptRepo r;
    shop(r);
    r.edit("tests/test_cart.py", "def test_empty():\n    assert total(Cart()) == 0\n\n\n", "");
    r.edit("tests/test_cart.py", "class TestUnit:", "def test_empty():\n    assert total(Cart()) == 0\n\n\nclass TestUnit:");
    r.edit("tests/test_cart.py", "def test_total():", "def test_total(monkeypatch):");
    r.edit("js/__tests__/cart.test.js", "it('is zero for an empty cart', () => {", "it('is zero for an empty cart', async () => {");
    const auto vs = policy().judge(r.finish("stale_mock"));
    CHECK_MESSAGE(of(vs, "test_deleted").empty(), dump(vs));
  }
}

TEST_CASE("skip_marker: every marker, in test files and runner config, even where test edits are allowed") {
  struct Case {
    const char* file;
    const char* from;
    const char* to;
    const char* marker;
  };
  const Case cases[] = {
      {"tests/test_cart.py", "def test_total():", "@pytest.mark.skip(reason=\"flaky\")\ndef test_total():", "mark.skip"},
      {"tests/test_cart.py", "def test_total():", "@pytest.mark.skipif(True, reason=\"x\")\ndef test_total():", "mark.skipif"},
      {"tests/test_cart.py", "def test_total():", "@pytest.mark.xfail\ndef test_total():", "mark.xfail"},
      {"tests/test_cart.py", "    cart = Cart()\n", "    pytest.skip(\"later\")\n    cart = Cart()\n", "pytest.skip("},
      {"tests/test_cart.py", "    cart = Cart()\n", "    pytest.xfail(\"known\")\n    cart = Cart()\n", "pytest.xfail("},
      {"tests/test_cart.py", "import pytest\n", "import pytest\nbabel = pytest.importorskip(\"babel\")\n", "pytest.importorskip("},
      {"tests/test_cart.py", "class TestUnit:", "@unittest.skip(\"x\")\nclass TestUnit:", "unittest.skip"},
      {"tests/test_cart.py", "    def test_name(self):", "    @skip(\"x\")\n    def test_name(self):", "skip"},
      {"tests/test_cart.py", "        self.assertEqual", "        self.skipTest(\"x\")\n        self.assertEqual", "skipTest"},
      {"tests/test_cart.py", "class TestUnit:", "class TestUnit:\n    __test__ = False", "__test__ = False"},
      {"js/__tests__/cart.test.js", "it('rounds'", "it.skip('rounds'", "it.skip"},
      {"js/__tests__/cart.test.js", "test('sums items'", "test.skip('sums items'", "test.skip"},
      {"js/__tests__/cart.test.js", "describe('cartTotal'", "describe.skip('cartTotal'", "describe.skip"},
      {"js/__tests__/cart.test.js", "it('rounds'", "xit('rounds'", "xit("},
      {"js/__tests__/cart.test.js", "describe('cartTotal'", "xdescribe('cartTotal'", "xdescribe("},
      {"js/__tests__/cart.test.js", "test('sums items'", "xtest('sums items'", "xtest("},
      {"js/__tests__/cart.test.js", "it('rounds'", "it.only('rounds'", "it.only"},
      {"js/__tests__/cart.test.js", "test('sums items'", "test.only('sums items'", "test.only"},
      {"js/__tests__/cart.test.js", "describe('cartTotal'", "describe.only('cartTotal'", "describe.only"},
      {"js/__tests__/cart.test.js", "it('rounds'", "fit('rounds'", "fit("},
      {"js/__tests__/cart.test.js", "describe('cartTotal'", "fdescribe('cartTotal'", "fdescribe("},
      {"js/__tests__/cart.test.js", "  it('rounds'", "  it.todo('handles coupons');\n  it('rounds'", "it.todo"},
      {"js/__tests__/cart.test.js", "test('sums items'", "test.failing('sums items'", "test.failing"},
      {"pytest.ini", "addopts = -q", "addopts = -q --deselect tests/test_cart.py::test_total", "--deselect"},
      {"pytest.ini", "addopts = -q", "addopts = -q -k \"not test_total\"", "-k \"not"},
      {"tests/conftest.py", "import pytest\n", "import pytest\ncollect_ignore = [\"test_cart.py\"]\n", "collect_ignore"},
  };
  AttemptRepo r;  // one repository, each case an attempt on the same snapshot
  shop(r);
  for (const auto& c : cases) {
    CAPTURE(c.to);
    const std::string original = r.read(c.file);
    r.edit(c.file, c.from, c.to);
    const auto vs = policy().judge(r.finish("stale_mock"));
    r.write(c.file, original);  // back to the snapshot for the next case
    INFO(dump(vs));
    const auto sm = of(vs, "skip_marker");
    REQUIRE(sm.size() == 1);
    CHECK(sm[0].path == c.file);
    CHECK(contains(sm[0].detail, c.marker));
    CHECK(contains(sm[0].detail, c.file));
    CHECK(of(vs, "test_edited").empty());  // stale_mock may edit tests, but not skip them
  }
}

TEST_CASE("skip_marker: model.fit(, a re-indented existing skip and documentation are not markers") {
  AttemptRepo r;
  shop(r);
  r.write("tests/test_legacy.py", "import pytest\n\n\n@pytest.mark.skip(reason='legacy')\ndef test_old():\n    pass\n");
  r.snapshot();
  r.edit("shop/model.py", "return x", "return Model().fit(x) if False else x");
  r.edit("tests/test_legacy.py", "@pytest.mark.skip(reason='legacy')", "@pytest.mark.skip(reason='legacy')  ");
  r.edit("docs/testing.md", "Never", "Never, ever, use test.only or xit( or pytest.mark.skip;");
  const auto vs = policy().judge(r.finish("stale_mock"));
  CHECK_MESSAGE(of(vs, "skip_marker").empty(), dump(vs));
}

TEST_CASE("assertion_weakened: each sub-rule on a real diff") {
  struct Case {
    const char* name;
    const char* file;
    const char* from;
    const char* to;
    const char* expect;  // in the detail
  };
  const Case cases[] = {
      {"removed", "tests/test_cart.py", "    assert total(cart) == 30\n", "    print(total(cart))\n",
       "removed the assertion `assert total(cart) == 30` at tests/test_cart.py:8 and added none"},
      {"commented out", "tests/test_cart.py", "    assert total(cart) == 30\n", "    # assert total(cart) == 30\n",
       "removed the assertion `assert total(cart) == 30`"},
      {"assert True", "tests/test_cart.py", "    assert total(cart) == 30\n", "    assert True\n", "which always passes"},
      {"x == x", "tests/test_cart.py", "    assert total(cart) == 30\n", "    assert total(cart) == total(cart)\n",
       "which always passes"},
      {"== to !=", "tests/test_cart.py", "    assert total(cart) == 30\n", "    assert total(cart) != 31\n", "(== -> !=)"},
      {"== to in", "tests/test_cart.py", "    assert total(cart) == 30\n", "    assert total(cart) in (30, 31)\n", "(== -> in)"},
      {"== to >=", "tests/test_cart.py", "    assert total(Cart()) == 0\n", "    assert total(Cart()) >= 0\n", "(== -> >=)"},
      {"== to truthiness", "tests/test_cart.py", "    assert total(Cart()) == 0\n", "    assert total(Cart()) is not None\n",
       "(== -> is not)"},
      {"negated", "tests/test_cart.py", "    assert total(Cart()) == 0\n", "    assert not total(Cart()) == 1\n", "now negated"},
      {"assertEqual to assertTrue", "tests/test_cart.py", "self.assertEqual(Cart().name, \"cart\")",
       "self.assertTrue(Cart().name)", "(assertEqual -> assertTrue)"},
      {"assertTrue(True)", "tests/test_cart.py", "self.assertEqual(Cart().name, \"cart\")", "self.assertTrue(True)",
       "which always passes"},
      {"raises broadened", "tests/test_cart.py", "pytest.raises(ValueError)", "pytest.raises(Exception)",
       "expected exception is broader (pytest.raises(ValueError) -> pytest.raises(Exception))"},
      {"approx abs widened", "tests/test_cart.py", "pytest.approx(0.0)", "pytest.approx(0.0, abs=0.5)",
       "abs tolerance widened: 1e-12 (approx's default) -> 0.5"},
      {"approx rel widened", "tests/test_cart.py", "pytest.approx(0.0)", "pytest.approx(0.0, rel=0.1)",
       "rel tolerance widened: 1e-6 (approx's default) -> 0.1"},
      {"toBe to toBeTruthy", "js/__tests__/cart.test.js", ".toBe(6);", ".toBeTruthy();", "(toBe -> toBeTruthy)"},
      {"toEqual to toBeDefined", "js/__tests__/cart.test.js", ".toEqual(0);", ".toBeDefined();", "(toEqual -> toBeDefined)"},
      {"expect(true)", "js/__tests__/cart.test.js", "expect(cartTotal({ items: [] })).toEqual(0);",
       "expect(true).toBe(true);", "which always passes"},
      {".not", "js/__tests__/cart.test.js", ".toEqual(0);", ".not.toEqual(1);", "now negated"},
      {"toBeCloseTo digits", "js/__tests__/cart.test.js", "toBeCloseTo(0.3, 5)", "toBeCloseTo(0.3, 1)",
       "precision lowered: places/digits 5 -> 1"},
      {"toThrow broadened", "js/__tests__/cart.test.js", ".toThrow(TypeError);", ".toThrow();",
       "expected exception is broader (toThrow(TypeError) -> toThrow())"},
      {"removed expect", "js/__tests__/cart.test.js", "    expect(cartTotal({ items: [] })).toEqual(0);\n", "    cartTotal({ items: [] });\n",
       "removed the assertion `expect(cartTotal({ items: [] })).toEqual(0);` at js/__tests__/cart.test.js:8"},
  };
  AttemptRepo r;  // one repository, each case an attempt on the same snapshot
  shop(r);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const std::string original = r.read(c.file);
    r.edit(c.file, c.from, c.to);
    const auto vs = policy().judge(r.finish("stale_mock"));
    r.write(c.file, original);  // back to the snapshot for the next case
    INFO(dump(vs));
    const auto aw = of(vs, "assertion_weakened");
    REQUIRE(aw.size() == 1);
    CHECK(aw[0].path == c.file);
    CHECK(contains(aw[0].detail, c.expect));
  }
}

TEST_CASE("assertion_weakened: an equally strong new expectation or a tighter tolerance passes") {
  AttemptRepo r;
  shop(r);
  r.edit("tests/test_cart.py", "assert total(cart) == 30", "assert total(cart) == 31");
  r.edit("tests/test_cart.py", "pytest.approx(0.0)", "pytest.approx(0.0, abs=1e-15)");
  r.edit("tests/test_cart.py", "self.assertEqual(Cart().name, \"cart\")", "self.assertEqual(Cart().name, \"basket\")");
  r.edit("js/__tests__/cart.test.js", ".toBe(6);", ".toStrictEqual(6);");
  r.edit("js/__tests__/cart.test.js", "toBeCloseTo(0.3, 5)", "toBeCloseTo(0.3, 8)");
  // A different check of the same strength.
  r.edit("tests/test_cart.py", "def test_empty():\n    assert total(Cart()) == 0\n",
         "def test_empty():\n    empty = Cart()\n    assert empty.items == []\n");
  const auto vs = policy().judge(r.finish("stale_mock"));
  CHECK_MESSAGE(of(vs, "assertion_weakened").empty(), dump(vs));
}

TEST_CASE("the demo's stale_mock fixes: new mock target and same assertion, allowed in stale_mock only") {
  AttemptRepo r;
  shop(r);
  r.write("js/__tests__/mailer.test.js",
          "const mailer = require('../src/mailer');\n\ntest('emails', () => {\n  expect(mailer.sendMail).toHaveBeenCalled();\n});\n");
  r.snapshot();
  r.edit("tests/test_checkout.py", "shop.notify.send_email", "shop.notify.send_message");
  r.edit("js/__tests__/mailer.test.js", "mailer.sendMail", "mailer.send");
  const auto a = r.finish("stale_mock");
  const auto vs = policy().judge(a);
  CHECK_MESSAGE(vs.empty(), dump(vs));

  auto logic = a;
  logic.category = "logic_bug";
  const auto te = of(policy().judge(logic), "test_edited");
  REQUIRE(te.size() == 2);
  CHECK(te[0].path == "js/__tests__/mailer.test.js");
  CHECK(te[1].path == "tests/test_checkout.py");
  CHECK(contains(te[0].detail, "'logic_bug' failure"));
  CHECK(contains(te[0].detail, "stale_mock (test_edit_categories)"));
}

TEST_CASE("test_edited: every edited test file outside test_edit_categories, alongside the specific rules") {
  AttemptRepo r;
  shop(r);
  r.edit("tests/test_cart.py", "def test_total():", "@pytest.mark.skip\ndef test_total():");
  r.edit("tests/test_checkout.py", "100, 10", "100, 0");
  r.edit("shop/money.py", "int(", "round(");
  const auto a = r.finish("logic_bug");
  const auto vs = policy().judge(a);
  INFO(dump(vs));
  CHECK(of(vs, "skip_marker").size() == 1);
  const auto te = of(vs, "test_edited");
  REQUIRE(te.size() == 2);
  CHECK(te[0].path == "tests/test_cart.py");
  CHECK(te[1].path == "tests/test_checkout.py");

  pol::Settings s;
  s.test_edit_categories = {"logic_bug"};
  CHECK(of(policy(s).judge(a), "test_edited").empty());
  s.test_edit_categories = {};
  auto none = of(policy(s).judge(r.finish("stale_mock")), "test_edited");
  REQUIRE(none.size() == 2);
  CHECK(contains(none[0].detail, "may edit tests: none"));
}

TEST_CASE("git_tampering: every git change the host saw, and paths inside .git") {
  AttemptRepo r;
  shop(r);
  r.edit("shop/money.py", "int(", "round(");
  auto a = r.finish("logic_bug");
  a.git_changes = {"HEAD moved a1b2c3 -> d4e5f6", "ref refs/heads/main moved 1111 -> 2222"};
  a.files_touched.push_back("M .git/hooks/pre-commit");
  const auto vs = policy().judge(a);
  INFO(dump(vs));
  const auto gt = of(vs, "git_tampering");
  REQUIRE(gt.size() == 3);
  CHECK(contains(gt[0].detail, "HEAD moved a1b2c3 -> d4e5f6"));
  CHECK(contains(gt[1].detail, "refs/heads/main"));
  CHECK(gt[2].path == ".git/hooks/pre-commit");
}

TEST_CASE("path_escape: the host's escapes, absolute paths and .. segments") {
  AttemptRepo r;
  shop(r);
  r.edit("shop/money.py", "int(", "round(");
  auto a = r.finish("logic_bug");
  a.escapes = {"shop/link_to_home"};
  a.files_touched.push_back("M ../outside/conf.py");
  a.files_touched.push_back("A /etc/cron.d/job");
  const auto vs = policy().judge(a);
  INFO(dump(vs));
  const auto pe = of(vs, "path_escape");
  REQUIRE(pe.size() == 3);
  CHECK(pe[0].path == "shop/link_to_home");
  CHECK(contains(pe[1].detail, "'..' segment"));
  CHECK(contains(pe[2].detail, "absolute path"));
}

TEST_CASE("judging is pure: the same attempt gives the same violations, in the same order") {
  AttemptRepo r;
  shop(r);
  r.edit("tests/test_cart.py", "assert total(cart) == 30", "assert True");
  r.edit("js/__tests__/cart.test.js", "it('rounds'", "it.only('rounds'");
  r.edit("shop/payments/charge.py", "amount", "amount ");
  const auto a = r.finish("type_error");
  const auto p = shop_policy();
  const auto first = p.judge(a);
  CHECK(first.size() >= 5);
  CHECK(first == p.judge(a));
}
