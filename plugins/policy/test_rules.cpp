// The rules that read a diff's lines: skip_marker, test_deleted (test functions) and
// assertion_weakened. docs/SAFETY.md explains each; every sub-rule has a test.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "policy_internal.hpp"

namespace fixhost::policy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Whitespace and a trailing ';' or ',' do not change what a line asserts or marks.
std::string normalized(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') out.push_back(c);
  while (!out.empty() && (out.back() == ';' || out.back() == ',')) out.pop_back();
  return out;
}

bool is_comment(std::string_view t) {
  return t.starts_with("#") || t.starts_with("//") || t.starts_with("/*") || t.starts_with("*");
}

bool is_python(const FileDiff& f) { return f.path().ends_with(".py") || f.path().ends_with(".pyi"); }

bool is_documentation(std::string_view path) {
  for (auto ext : {".md", ".rst", ".txt", ".adoc", ".html"})
    if (path.ends_with(ext)) return true;
  return false;
}

std::string quote(std::string_view line) {
  std::string t(trim(line));
  if (t.size() > 200) t = t.substr(0, 197) + "...";
  return "`" + t + "`";
}

// ---- skip_marker ----------------------------------------------------------------------------

struct Marker {
  std::vector<std::string_view> needles;  // cheap pre-check: the line must contain one of them
  std::regex re;
  std::string_view effect;
};

const std::vector<Marker>& markers() {
  static const std::vector<Marker> m = [] {
    const auto E = std::regex::ECMAScript | std::regex::optimize;
    return std::vector<Marker>{
        {{"mark."}, std::regex(R"(\b(pytest\.)?mark\.(skip|skipif|xfail)\b)", E),
         "pytest does not run the test, or runs it expecting it to fail"},
        {{"pytest."}, std::regex(R"(\bpytest\.(skip|xfail|importorskip)\s*\()", E),
         "pytest stops the test and reports it skipped or xfailed"},
        {{"unittest."}, std::regex(R"(\bunittest\.(skip\w*|expectedFailure)\b)", E),
         "unittest does not run the test, or expects it to fail"},
        {{"@"}, std::regex(R"(@\s*(skip|skipIf|skipUnless|expectedFailure)\b)", E),
         "the decorator skips the test or expects it to fail"},
        {{"kipTest"}, std::regex(R"(\.skipTest\s*\(|\bSkipTest\b)", E), "unittest stops the test and reports it skipped"},
        {{"skip"}, std::regex(R"(\b(it|test|describe|context|suite|specify)(\.\w+)*\.skip\b)", E),
         "the test runner does not run it"},
        {{"only"}, std::regex(R"(\b(it|test|describe|context|suite|specify)(\.\w+)*\.only\b)", E),
         "the test runner runs only this and skips every other test in the file"},
        {{"todo"}, std::regex(R"(\b(it|test|describe|context|suite|specify)(\.\w+)*\.todo\b)", E),
         "a todo test is reported but never run"},
        {{"failing"}, std::regex(R"(\b(it|test|describe|context|suite|specify)(\.\w+)*\.failing\b)", E),
         "jest passes the test when it fails"},
        {{"xit", "xtest", "xdescribe", "xcontext", "xspecify", "fit", "ftest", "fdescribe", "fcontext"},
         std::regex(R"((^|[^\w$.])(xit|xtest|xdescribe|xcontext|xspecify|fit|ftest|fdescribe|fcontext)\s*\()", E),
         "x-prefixed tests are skipped; f-prefixed tests make the runner skip every other test"},
        {{".todo"}, std::regex(R"(\.todo\s*\()", E), "a todo test is reported but never run"},
        {{"--"}, std::regex(R"(--(deselect|ignore|ignore-glob)\b)", E),
         "pytest leaves the named tests or files out of the run"},
        {{"collect_ignore"}, std::regex(R"(\bcollect_ignore(_glob)?\b)", E),
         "conftest.py makes pytest leave these files out of the run"},
        {{"Ignore"}, std::regex(R"(\b(testPathIgnorePatterns|modulePathIgnorePatterns)\b)", E),
         "jest leaves the matching test files out of the run"},
        {{"-k"}, std::regex(R"((^|[\s'"=\[])-k\s*=?\s*['"]?not\b)", E), "pytest deselects the tests the -k expression names"},
        {{"__test__"}, std::regex(R"(\b__test__\s*=\s*False\b)", E), "pytest stops collecting this class or module"},
    };
  }();
  return m;
}

// ---- test functions -------------------------------------------------------------------------

std::optional<std::string> test_name(std::string_view line, bool python) {
  static const std::regex py(R"(^\s*(async\s+)?def\s+(test\w*)\s*\()", std::regex::ECMAScript | std::regex::optimize);
  static const std::regex js(R"((^|[^\w$.])(it|test)(\.\w+)*\s*\(\s*(['"`])(.*?)\4)",
                             std::regex::ECMAScript | std::regex::optimize);
  std::match_results<std::string_view::const_iterator> m;
  if (python) {
    if (line.find("def") == std::string_view::npos) return std::nullopt;
    if (std::regex_search(line.begin(), line.end(), m, py)) return m[2].str();
    return std::nullopt;
  }
  if (line.find("it") == std::string_view::npos && line.find("test") == std::string_view::npos) return std::nullopt;
  if (std::regex_search(line.begin(), line.end(), m, js)) return m[5].str();
  return std::nullopt;
}

// ---- assertions -----------------------------------------------------------------------------

// What one assertion line checks, as far as one line shows it.
struct Assertion {
  const DiffLine* line = nullptr;
  std::string norm;     // normalized text, for "moved, not changed"
  int rank = -1;        // 2 exact, 1 loose, 0 asserts nothing; -1 unknown (a multi-line chain)
  std::string form;     // "==", "assertEqual", "toBe", "truthiness", ...
  bool negated = false;
  bool trivial = false;  // always passes
  std::string raises;    // the exception a raises-check names ("" for none)
};

bool is_assertion_line(std::string_view t, bool python) {
  static const std::regex py(
      R"(^assert\b|\bself\.assert[A-Z]\w*\s*\(|\bpytest\.(raises|warns)\s*\(|\.assert_\w+\s*\(|\bassert_\w+\s*\()",
      std::regex::ECMAScript | std::regex::optimize);
  static const std::regex js(R"(\bexpect\s*\(|(^|[^\w$.])assert(\.\w+)?\s*\()", std::regex::ECMAScript | std::regex::optimize);
  if (t.empty() || is_comment(t)) return false;
  const bool may = python ? (t.find("assert") != std::string_view::npos || t.find("raises") != std::string_view::npos ||
                             t.find("warns") != std::string_view::npos)
                          : (t.find("expect") != std::string_view::npos || t.find("assert") != std::string_view::npos);
  if (!may) return false;
  return std::regex_search(t.begin(), t.end(), python ? py : js);
}

// `s` with the insides of string literals removed: "x == 'a == b'" -> "x == ''".
std::string strip_strings(std::string_view s) {
  std::string out;
  char q = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (q) {
      if (c == '\\') ++i;
      else if (c == q) q = 0, out.push_back(c);
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') q = c;
    out.push_back(c);
  }
  return out;
}

// The first comparison at bracket depth 0 of a Python expression, with its operand texts.
struct Comparison {
  std::string op;  // "" when the expression compares nothing
  std::string left, right;
};

Comparison python_comparison(std::string_view expr) {
  static const std::vector<std::string_view> ops{" is not ", " not in ", "==", "!=", ">=", "<=", " is ", " in ", ">", "<"};
  int depth = 0;
  for (std::size_t i = 0; i < expr.size(); ++i) {
    const char c = expr[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    else if (c == ')' || c == ']' || c == '}') --depth;
    if (depth != 0) continue;
    for (auto op : ops) {
      if (expr.substr(i).starts_with(op)) {
        Comparison cmp;
        cmp.op = std::string(trim(op));
        cmp.left = std::string(trim(expr.substr(0, i)));
        cmp.right = std::string(trim(expr.substr(i + op.size())));
        return cmp;
      }
    }
  }
  return {};
}

// Cuts a Python assert's message (", 'why'") and one pair of enclosing parentheses.
std::string python_assert_body(std::string_view after_assert) {
  std::string s = strip_strings(trim(after_assert));
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(' || s[i] == '[' || s[i] == '{') ++depth;
    else if (s[i] == ')' || s[i] == ']' || s[i] == '}') --depth;
    else if (s[i] == ',' && depth == 0) {
      s.resize(i);
      break;
    }
  }
  std::string_view v = trim(s);
  if (v.size() >= 2 && v.front() == '(' && v.back() == ')') {
    int d = 0;
    bool wraps = true;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '(') ++d;
      else if (v[i] == ')' && --d == 0 && i + 1 != v.size()) wraps = false;
    }
    if (wraps) v = trim(v.substr(1, v.size() - 2));
  }
  return std::string(v);
}

std::string raised_type(std::string_view text, const std::regex& re) {
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(text.begin(), text.end(), m, re)) return "";
  return std::string(trim(std::string_view(m[m.size() - 1].first, m[m.size() - 1].second)));
}

bool broad_exception(std::string_view t) {
  return t == "Exception" || t == "BaseException" || t == "object" || t == "Error" || t.empty();
}

Assertion analyse_python(std::string_view t) {
  Assertion a;
  static const std::regex self_assert(R"(\bself\.(assert[A-Z]\w*)\s*\((.*)$)", std::regex::ECMAScript);
  static const std::regex raises(R"(\b(pytest\.raises|pytest\.warns|assertRaises\w*|assertWarns\w*)\s*\(\s*([\w.]*))",
                                 std::regex::ECMAScript);
  static const std::regex mock(R"(\.(assert_\w+)\s*\()", std::regex::ECMAScript);
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(t.begin(), t.end(), m, raises)) {
    a.raises = raised_type(t, raises);
    a.form = m[1].str() + "(" + a.raises + ")";
    a.rank = broad_exception(a.raises) ? 1 : 2;
    return a;
  }
  if (t.starts_with("assert") && (t.size() == 6 || t[6] == ' ' || t[6] == '(')) {
    std::string body = python_assert_body(t.substr(6));
    if (body.starts_with("not ")) {
      a.negated = true;
      body = std::string(trim(std::string_view(body).substr(4)));
    }
    const auto cmp = python_comparison(body);
    a.form = cmp.op.empty() ? "truthiness" : cmp.op;
    a.rank = (cmp.op == "==" || cmp.op == "is") ? 2 : 1;
    a.trivial = (!a.negated && (body == "True" || body == "1")) || (a.negated && (body == "False" || body == "None" || body == "0")) ||
                ((cmp.op == "==" || cmp.op == "is") && !cmp.left.empty() && cmp.left == cmp.right && !a.negated);
    return a;
  }
  if (std::regex_search(t.begin(), t.end(), m, self_assert)) {
    const std::string method = m[1].str();
    const std::string args = m[2].str();
    static const std::set<std::string> exact{"assertEqual",      "assertEquals",       "assertIs",
                                             "assertIsNone",     "assertListEqual",    "assertDictEqual",
                                             "assertSetEqual",   "assertTupleEqual",   "assertSequenceEqual",
                                             "assertCountEqual", "assertMultiLineEqual", "assertAlmostEqual",
                                             "assertAlmostEquals"};
    a.form = method;
    a.rank = exact.count(method) ? 2 : 1;
    static const std::regex true_arg(R"(^\s*(True|1)\s*[,)])", std::regex::ECMAScript);
    static const std::regex false_arg(R"(^\s*(False|0|None)\s*[,)])", std::regex::ECMAScript);
    a.trivial = (method == "assertTrue" && std::regex_search(args, true_arg)) ||
                (method == "assertFalse" && std::regex_search(args, false_arg));
    return a;
  }
  if (std::regex_search(t.begin(), t.end(), m, mock)) {
    a.form = m[1].str();
    a.rank = a.form == "assert_called" ? 1 : 2;
    return a;
  }
  a.form = "assertion";
  a.rank = 2;  // np.testing.assert_* and friends: exact checks
  return a;
}

Assertion analyse_js(std::string_view t) {
  Assertion a;
  static const std::regex matcher(R"(\.(not\.)?(to[A-Z]\w*)\s*\(([^()]*))", std::regex::ECMAScript);
  static const std::regex node_assert(R"((^|[^\w$.])assert(\.(\w+))?\s*\(\s*(.*)$)", std::regex::ECMAScript);
  static const std::regex trivial_expect(
      R"(expect\(\s*(true|!0|!!1|1)\s*\)\s*(;|$|\.(toBe|toEqual|toStrictEqual)\(\s*(true|1)\s*\)|\.toBeTruthy\(\s*\)|\.toBeDefined\(\s*\)))",
      std::regex::ECMAScript);
  static const std::regex same_sides(R"(expect\((.+)\)\.(toBe|toEqual|toStrictEqual)\((.+)\)\s*;?\s*$)", std::regex::ECMAScript);
  std::match_results<std::string_view::const_iterator> m;
  if (t.find("expect") != std::string_view::npos) {
    a.trivial = std::regex_search(t.begin(), t.end(), trivial_expect);
    if (std::regex_search(t.begin(), t.end(), m, same_sides) && trim(m[1].str()) == trim(m[3].str())) a.trivial = true;
    std::string last;
    std::string args;
    for (auto it = std::regex_iterator<std::string_view::const_iterator>(t.begin(), t.end(), matcher);
         it != std::regex_iterator<std::string_view::const_iterator>(); ++it) {
      last = (*it)[2].str();
      args = std::string(trim((*it)[3].str()));
      if ((*it)[1].matched) a.negated = true;
    }
    if (t.find(".not.") != std::string_view::npos) a.negated = true;
    if (last.empty()) {
      a.form = "expect";
      a.rank = -1;  // the matcher is on a later line
      return a;
    }
    static const std::set<std::string> exact{"toBe",
                                             "toEqual",
                                             "toStrictEqual",
                                             "toHaveLength",
                                             "toHaveBeenCalledWith",
                                             "toHaveBeenCalledTimes",
                                             "toHaveBeenNthCalledWith",
                                             "toHaveBeenLastCalledWith",
                                             "toHaveReturnedWith",
                                             "toBeNull",
                                             "toBeUndefined",
                                             "toBeNaN",
                                             "toBeCloseTo",
                                             "toMatchObject",
                                             "toMatchSnapshot",
                                             "toMatchInlineSnapshot",
                                             "toThrowErrorMatchingSnapshot",
                                             "toThrowErrorMatchingInlineSnapshot",
                                             "toContainEqual",
                                             "toBeCalledWith",
                                             "toBeCalledTimes"};
    a.form = last;
    if (last == "toThrow" || last == "toThrowError") {
      a.raises = args;
      a.form = last + "(" + args + ")";
      a.rank = broad_exception(args) ? 1 : 2;
    } else {
      a.rank = exact.count(last) ? 2 : 1;
    }
    return a;
  }
  if (std::regex_search(t.begin(), t.end(), m, node_assert)) {
    const std::string method = m[3].str();
    static const std::set<std::string> exact{"equal", "strictEqual", "deepEqual", "deepStrictEqual", "throws", "rejects", "match"};
    a.form = method.empty() ? "assert" : "assert." + method;
    a.rank = exact.count(method) ? 2 : 1;
    static const std::regex true_arg(R"(^\s*(true|1|!0)\s*[,)])", std::regex::ECMAScript);
    a.trivial = (method.empty() || method == "ok") && std::regex_search(m[4].str(), true_arg);
    return a;
  }
  a.form = "assertion";
  a.rank = -1;
  return a;
}

// ---- tolerances -------------------------------------------------------------------------------

struct Tolerance {
  std::string fn;                                           // approx, isclose, ...
  std::map<std::string, std::pair<double, std::string>> set;  // abs | rel | places -> value, as written
};

std::optional<Tolerance> tolerance_of(std::string_view t) {
  static const std::regex fn(R"(\b(approx|isclose|allclose|assert_allclose|assertAlmostEqual|assertAlmostEquals|toBeCloseTo)\s*\()",
                             std::regex::ECMAScript);
  static const std::regex kw(R"(\b(abs|rel|abs_tol|rel_tol|atol|rtol|delta|places)\s*=\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?))",
                             std::regex::ECMAScript);
  static const std::regex digits(R"(toBeCloseTo\s*\((?:[^,()]|\([^()]*\))*,\s*([0-9]+)\s*\))", std::regex::ECMAScript);
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(t.begin(), t.end(), m, fn)) return std::nullopt;
  Tolerance tol;
  tol.fn = m[1].str();
  if (tol.fn == "assertAlmostEquals") tol.fn = "assertAlmostEqual";
  for (auto it = std::regex_iterator<std::string_view::const_iterator>(t.begin(), t.end(), kw);
       it != std::regex_iterator<std::string_view::const_iterator>(); ++it) {
    const std::string k = (*it)[1].str();
    const std::string v = (*it)[2].str();
    const std::string key = (k == "abs" || k == "abs_tol" || k == "atol" || k == "delta") ? "abs"
                            : k == "places"                                              ? "places"
                                                                                         : "rel";
    tol.set[key] = {std::strtod(v.c_str(), nullptr), v};
  }
  if (std::regex_search(t.begin(), t.end(), m, digits)) tol.set["places"] = {std::strtod(m[1].str().c_str(), nullptr), m[1].str()};
  return tol;
}

// The tolerance a function uses when the parameter is not given.
std::optional<std::pair<double, std::string>> default_tolerance(const std::string& fn, const std::string& key) {
  static const std::map<std::pair<std::string, std::string>, std::pair<double, std::string>> d{
      {{"approx", "rel"}, {1e-6, "1e-6"}},           {{"approx", "abs"}, {1e-12, "1e-12"}},
      {{"isclose", "rel"}, {1e-9, "1e-9"}},          {{"isclose", "abs"}, {0, "0"}},
      {{"allclose", "rel"}, {1e-5, "1e-5"}},         {{"allclose", "abs"}, {1e-8, "1e-8"}},
      {{"assert_allclose", "rel"}, {1e-7, "1e-7"}},  {{"assert_allclose", "abs"}, {0, "0"}},
      {{"assertAlmostEqual", "places"}, {7, "7"}},   {{"assertAlmostEqual", "abs"}, {0.5e-7, "0.5e-7 (places=7)"}},
      {{"toBeCloseTo", "places"}, {2, "2"}},
  };
  auto it = d.find({fn, key});
  if (it == d.end()) return std::nullopt;
  return it->second;
}

// How `after` widened the tolerance of `before`, or "".
std::string widened(std::string_view before, std::string_view after) {
  const auto ta = tolerance_of(after);
  if (!ta) return "";
  const auto tb = tolerance_of(before);
  std::string out;
  for (const auto& [key, value] : ta->set) {
    std::optional<std::pair<double, std::string>> base;
    std::string base_note;
    if (tb && tb->set.count(key)) {
      base = tb->set.at(key);
    } else {
      const std::string& fn = tb ? tb->fn : ta->fn;
      base = default_tolerance(fn, key);
      base_note = " (" + fn + "'s default)";
    }
    if (!base) continue;
    const bool wider = key == "places" ? value.first < base->first : value.first > base->first;
    if (!wider) continue;
    if (!out.empty()) out += "; ";
    out += (key == "places" ? std::string("precision lowered: places/digits ") : key + " tolerance widened: ") + base->second +
           base_note + " -> " + value.second;
  }
  return out;
}

}  // namespace

std::string where(const FileDiff& file, const DiffLine& line, bool removed) {
  const std::string& p = removed && !file.old_path.empty() ? file.old_path : file.path();
  const std::string name = p.empty() ? std::string("(a file whose diff header the capture cap cut)") : p;
  return line.line > 0 ? name + ":" + std::to_string(line.line) : name;
}

void check_skip_markers(const FileDiff& file, std::vector<Violation>& out) {
  if (is_documentation(file.path())) return;
  std::multiset<std::string> before;
  for (const auto& c : file.changes)
    for (const auto& l : c.removed) before.insert(normalized(l.text));
  for (const auto& c : file.changes) {
    for (const auto& l : c.added) {
      for (const auto& mk : markers()) {
        if (std::none_of(mk.needles.begin(), mk.needles.end(),
                         [&](std::string_view n) { return l.text.find(n) != std::string::npos; }))
          continue;
        std::smatch m;
        if (!std::regex_search(l.text, m, mk.re)) continue;
        auto old = before.find(normalized(l.text));
        if (old != before.end()) {
          before.erase(old);  // the line was there before: moved or re-indented, not added
          break;
        }
        std::string found = m.str();
        while (!found.empty() && !std::isalnum(static_cast<unsigned char>(found.front())) && found.front() != '_' &&
               found.front() != '-')
          found.erase(0, 1);
        out.push_back({"skip_marker", file.path(),
                       "added " + quote(l.text) + " at " + where(file, l, false) + ": `" + found + "` — " +
                           std::string(mk.effect)});
        break;
      }
    }
  }
}

void check_removed_tests(const std::vector<FileDiff>& files, std::vector<Violation>& out) {
  std::multiset<std::string> added;
  for (const auto& f : files)
    for (const auto& c : f.changes)
      for (const auto& l : c.added)
        if (auto n = test_name(l.text, is_python(f))) added.insert(*n);
  for (const auto& f : files) {
    if (f.status == 'D' || !is_test_file(f.old_path.empty() ? f.path() : f.old_path)) continue;
    for (const auto& c : f.changes) {
      for (const auto& l : c.removed) {
        auto n = test_name(l.text, is_python(f));
        if (!n) continue;
        auto it = added.find(*n);
        if (it != added.end()) {
          added.erase(it);
          continue;
        }
        out.push_back({"test_deleted", f.path(),
                       "removed the test " + quote(l.text) + " at " + where(f, l, true) + " and added no test named '" +
                           *n + "' anywhere in the diff"});
      }
    }
  }
}

void check_assertions(const FileDiff& file, std::vector<Violation>& out) {
  const bool py = is_python(file);
  // Assertions removed and added, per change.
  std::vector<std::vector<Assertion>> removed(file.changes.size()), added(file.changes.size());
  for (std::size_t i = 0; i < file.changes.size(); ++i) {
    for (const auto& l : file.changes[i].removed) {
      const auto t = trim(l.text);
      if (!is_assertion_line(t, py)) continue;
      Assertion a = py ? analyse_python(t) : analyse_js(t);
      a.line = &l;
      a.norm = normalized(t);
      removed[i].push_back(std::move(a));
    }
    for (const auto& l : file.changes[i].added) {
      const auto t = trim(l.text);
      if (!is_assertion_line(t, py)) continue;
      Assertion a = py ? analyse_python(t) : analyse_js(t);
      a.line = &l;
      a.norm = normalized(t);
      added[i].push_back(std::move(a));
    }
  }
  // 1. The same assertion removed in one place and added in another moved; it did not change.
  std::vector<const Assertion*> rem, add;
  std::set<const Assertion*> used;
  for (auto& list : removed)
    for (auto& a : list) rem.push_back(&a);
  for (auto& list : added)
    for (auto& a : list) add.push_back(&a);
  for (auto* r : rem)
    for (auto* a : add)
      if (!used.count(a) && !used.count(r) && r->norm == a->norm) used.insert(r), used.insert(a);
  // 2. Pair what is left within each change, in order; 3. then across the file, in order.
  std::vector<std::pair<const Assertion*, const Assertion*>> pairs;
  auto pair_up = [&](const std::vector<const Assertion*>& rs, const std::vector<const Assertion*>& as) {
    auto ai = as.begin();
    for (auto* r : rs) {
      if (used.count(r)) continue;
      while (ai != as.end() && used.count(*ai)) ++ai;
      if (ai == as.end()) break;
      pairs.push_back({r, *ai});
      used.insert(r), used.insert(*ai);
    }
  };
  for (std::size_t i = 0; i < file.changes.size(); ++i) {
    std::vector<const Assertion*> rs, as;
    for (auto& a : removed[i]) rs.push_back(&a);
    for (auto& a : added[i]) as.push_back(&a);
    pair_up(rs, as);
  }
  pair_up(rem, add);

  const std::string& path = file.path();
  for (auto* r : rem)
    if (!used.count(r))
      out.push_back({"assertion_weakened", path,
                     "removed the assertion " + quote(r->line->text) + " at " + where(file, *r->line, true) +
                         " and added none in its place"});
  for (auto* a : add)
    if (!used.count(a) && a->trivial)
      out.push_back({"assertion_weakened", path,
                     "added " + quote(a->line->text) + " at " + where(file, *a->line, false) + ", which always passes"});
  for (const auto& [r, a] : pairs) {
    const std::string before = quote(r->line->text) + " at " + where(file, *r->line, true);
    const std::string after = quote(a->line->text) + " at " + where(file, *a->line, false);
    if (a->trivial && !r->trivial) {
      out.push_back({"assertion_weakened", path, before + " became " + after + ", which always passes"});
      continue;
    }
    if (a->negated && !r->negated) {
      out.push_back({"assertion_weakened", path, before + " became " + after + ": the assertion is now negated"});
      continue;
    }
    if (r->rank >= 0 && a->rank >= 0 && a->rank < r->rank) {
      std::string why = "the check is looser (" + r->form + " -> " + a->form + ")";
      if (!r->raises.empty() || !a->raises.empty())
        why = "the expected exception is broader (" + r->form + " -> " + a->form + ")";
      out.push_back({"assertion_weakened", path, before + " became " + after + ": " + why});
      continue;
    }
    if (auto w = widened(r->line->text, a->line->text); !w.empty())
      out.push_back({"assertion_weakened", path, before + " became " + after + ": " + w});
  }
}

}  // namespace fixhost::policy
