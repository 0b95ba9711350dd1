#include "jest_parse.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "fixhost/runner_report/read_run.hpp"
#include "fixhost/runner_report/text.hpp"

namespace fixhost::jest_parser {
namespace {

using runner_report::cap_utf8;
using runner_report::is_digit;
using runner_report::is_space;
using runner_report::join_notes;
using runner_report::path_matches;
using runner_report::rtrim;
using runner_report::split_lines;
using runner_report::strip_ansi;
using runner_report::trim;

using events::FailureDetected;

constexpr std::size_t k_max_message = 2000;
constexpr std::size_t k_keep_capacity = std::size_t(128) << 20;  // bytes of JSON

std::mutex g_parser_mutex;
simdjson::dom::parser g_parser;  // guarded by g_parser_mutex
constexpr std::string_view k_sep = " \xE2\x80\xBA ";  // " › " between describe blocks and the title
constexpr std::string_view k_suite_failed = "Test suite failed to run";

// ---- text helpers -------------------------------------------------------------------------


std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string_view relative_to(std::string_view path, std::string_view root) {
  if (!root.empty() && path.size() > root.size() && path.starts_with(root) && path[root.size()] == '/')
    return path.substr(root.size() + 1);
  return path;
}

// jest prints a top-level test file as "./a.test.js".
std::string_view normalize_rel(std::string_view p) {
  while (p.starts_with("./")) p.remove_prefix(2);
  return p;
}

// ---- message analysis ---------------------------------------------------------------------

struct Frame {
  std::string_view path;
  std::int64_t line = 0;
};

// "at fn (/abs/file.js:12:5)", "at /abs/file.js:12:5", "at Object.<anonymous> (src/a.js:3:1)".
std::optional<Frame> parse_frame(std::string_view line) {
  std::string_view s = trim(line);
  if (!s.starts_with("at ")) return std::nullopt;
  s.remove_prefix(3);
  if (s.ends_with(")")) {
    auto open = s.rfind('(');
    if (open == std::string_view::npos) return std::nullopt;
    s = s.substr(open + 1, s.size() - open - 2);
  }
  auto c2 = s.rfind(':');
  if (c2 == std::string_view::npos || c2 == 0) return std::nullopt;
  auto c1 = s.rfind(':', c2 - 1);
  if (c1 == std::string_view::npos || c1 == 0) return std::nullopt;
  auto ln = to_int(s.substr(c1 + 1, c2 - c1 - 1));
  if (!ln || !to_int(s.substr(c2 + 1))) return std::nullopt;
  return Frame{s.substr(0, c1), *ln};
}

// ">  7 |   const writer = ..." in a code frame: the line jest points at.
std::optional<std::int64_t> code_frame_line(std::string_view line) {
  std::string_view s = trim(line);
  if (!s.starts_with(">")) return std::nullopt;
  s = trim(s.substr(1));
  std::size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  if (n == 0 || s.substr(n).find('|') == std::string_view::npos) return std::nullopt;
  return to_int(s.substr(0, n));
}

bool is_code_frame(std::string_view line) {
  std::string_view s = trim(line);
  if (s.starts_with(">")) s = trim(s.substr(1));
  std::size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  if (n > 0) return trim(s.substr(n)).starts_with("|");
  return s.starts_with("|");
}

bool ends_with_error_word(std::string_view name) { return name.ends_with("Error") || name.ends_with("Exception"); }

// The error type a message's first line names, and the rest of the line.
std::pair<std::string, std::string_view> classify(std::string_view first) {
  std::string_view s = first;
  if (s.starts_with("Error: ")) {
    std::string_view rest = s.substr(7);
    if (rest.starts_with("expect(") || rest.starts_with("expect.")) return {std::string(k_assertion_error_type), rest};
  }
  if (s.starts_with("expect(") || s.starts_with("expect.")) return {std::string(k_assertion_error_type), s};
  if (s.find("Exceeded timeout of ") != std::string_view::npos) return {"Timeout", s};
  // "TypeError: x", "AssertionError [ERR_ASSERTION]: x", "Error: x"
  std::size_t i = 0;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '$' || s[i] == '.')) ++i;
  std::string_view name = s.substr(0, i);
  std::size_t j = i;
  if (j < s.size() && s[j] == ' ' && j + 1 < s.size() && s[j + 1] == '[') {
    auto close = s.find(']', j);
    if (close != std::string_view::npos) j = close + 1;
  }
  if (!name.empty() && ends_with_error_word(name) && j < s.size() && s[j] == ':') {
    auto dot = name.rfind('.');
    std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
    return {std::string(last), trim(s.substr(j + 1))};
  }
  if (!name.empty() && ends_with_error_word(name) && j == s.size()) return {std::string(name), {}};
  if (s.starts_with("thrown: ")) return {"Error", s.substr(8)};
  return {"Error", s};
}

struct Analysis {
  std::string file;
  std::int64_t line = 0;
  std::string error_type;
  std::string message;
};

// Reads one failure text: a failureMessages entry (absolute paths, full stack) or a terminal
// block (paths relative to rootDir, a code frame). file/line: the innermost frame in the test
// file, else `location_line`, else the code frame's line (a suite that failed to run), else the
// innermost frame outside node_modules.
Analysis analyze(std::string_view text, std::string_view test_rel, std::string_view root,
                 std::int64_t location_line, bool dedent4) {
  Analysis a;
  auto lines = split_lines(text);
  std::size_t i = 0;
  while (i < lines.size() && trim(lines[i]).empty()) ++i;
  std::vector<std::string_view> msg_lines;
  for (; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (parse_frame(l) || (l.starts_with(" ") && trim(l).starts_with("at ")) || is_code_frame(l)) break;
    if (dedent4 && l.starts_with("    ")) l.remove_prefix(4);
    msg_lines.push_back(rtrim(l));
  }
  while (!msg_lines.empty() && msg_lines.back().empty()) msg_lines.pop_back();
  std::string msg;
  if (!msg_lines.empty()) {
    auto [type, rest] = classify(msg_lines.front());
    a.error_type = std::move(type);
    msg.append(rest);
    for (std::size_t k = 1; k < msg_lines.size(); ++k) {
      msg.push_back('\n');
      msg.append(msg_lines[k]);
    }
  }
  a.message = cap_utf8(std::string(trim(msg)), k_max_message);

  std::optional<Frame> in_test, outside_modules;
  std::optional<std::int64_t> pointed;
  for (; i < lines.size(); ++i) {
    if (!pointed) pointed = code_frame_line(lines[i]);
    auto f = parse_frame(lines[i]);
    if (!f) continue;
    std::string_view rel = relative_to(f->path, root);
    if (!in_test && (path_matches(rel, test_rel) || path_matches(test_rel, rel))) in_test = Frame{rel, f->line};
    if (!outside_modules && rel.find("node_modules/") == std::string_view::npos && !rel.starts_with("node:") &&
        rel.find('/') != std::string_view::npos)
      outside_modules = Frame{rel, f->line};
    if (in_test) break;
  }
  if (in_test) {
    a.file = std::string(test_rel);
    a.line = in_test->line;
  } else if (location_line > 0) {
    a.file = std::string(test_rel);
    a.line = location_line;
  } else if (pointed) {
    a.file = std::string(test_rel);
    a.line = *pointed;
  } else if (outside_modules) {
    a.file = std::string(outside_modules->path);
    a.line = outside_modules->line;
  } else {
    a.file = std::string(test_rel);
  }
  return a;
}

// The body of the "● <title>" block in a suite's formatted message (testResults[].message).
std::string_view block_after_title(std::string_view message, std::string_view title) {
  auto p = message.find(std::string("\xE2\x97\x8F ").append(title));
  if (p == std::string_view::npos) return message;
  auto nl = message.find('\n', p);
  return nl == std::string_view::npos ? std::string_view() : message.substr(nl + 1);
}

std::string_view trim_blank_lines(std::string_view s) {
  while (!s.empty()) {
    auto nl = s.find('\n');
    if (nl == std::string_view::npos || !trim(s.substr(0, nl)).empty()) break;
    s.remove_prefix(nl + 1);
  }
  return rtrim(s);
}

FailureDetected suite_failure(std::string_view file, std::string_view body, std::string_view root) {
  FailureDetected f;
  f.runner = "jest";
  f.test_id = std::string(file);
  f.test_name = std::string(file);
  f.phase = "collection";
  std::string_view b = trim_blank_lines(body);
  Analysis a = analyze(b, file, root, 0, true);
  f.file = std::move(a.file);
  f.line = a.line;
  f.error_type = std::move(a.error_type);
  f.message = std::move(a.message);
  f.stack_trace = std::string(b);
  return f;
}

std::string test_id_of(std::string_view file, std::string_view title_path) {
  std::string id(file);
  id += "::";
  id.append(title_path);
  return id;
}

// ---- terminal output ----------------------------------------------------------------------

struct TextCounts {
  std::uint32_t failed = 0, passed = 0, skipped = 0, todo = 0, total = 0;
};

// "Tests:       7 failed, 1 skipped, 1 todo, 4 passed, 13 total"
std::optional<TextCounts> parse_tests_line(std::string_view line) {
  if (!line.starts_with("Tests:")) return std::nullopt;
  std::string_view parts = trim(line.substr(6));
  TextCounts c;
  bool any = false;
  while (!parts.empty()) {
    auto comma = parts.find(", ");
    std::string_view part = trim(parts.substr(0, comma));
    parts = comma == std::string_view::npos ? std::string_view() : parts.substr(comma + 2);
    auto sp = part.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto n = to_int(part.substr(0, sp));
    if (!n || *n < 0) return std::nullopt;
    auto v = static_cast<std::uint32_t>(*n);
    std::string_view word = part.substr(sp + 1);
    if (word == "failed") c.failed = v;
    else if (word == "passed") c.passed = v;
    else if (word == "skipped" || word == "pending") c.skipped += v;
    else if (word == "todo") c.todo = v;
    else if (word == "total") c.total = v;
    any = true;
  }
  if (!any) return std::nullopt;
  return c;
}

// "FAIL __tests__/a.test.js (5.2 s)" -> "__tests__/a.test.js"
std::optional<std::string_view> result_header(std::string_view line) {
  if (!line.starts_with("PASS ") && !line.starts_with("FAIL ")) return std::nullopt;
  std::string_view p = trim(line.substr(5));
  if (p.ends_with(")")) {
    auto open = p.rfind(" (");
    if (open != std::string_view::npos) p = rtrim(p.substr(0, open));
  }
  if (p.empty()) return std::nullopt;
  return normalize_rel(p);
}

// The directory jest ran in: the absolute test file whose tail is a `PASS|FAIL <path>` header.
std::string infer_root(std::string_view output, const std::vector<std::string_view>& names) {
  if (!output.empty()) {
    for (std::string_view line : split_lines(output)) {
      auto rel = result_header(line);
      if (!rel || rel->starts_with("../")) continue;
      for (std::string_view n : names)
        if (n.size() > rel->size() && n.ends_with(*rel) && n[n.size() - rel->size() - 1] == '/')
          return std::string(n.substr(0, n.size() - rel->size() - 1));
    }
  }
  // No header matched: the deepest directory holding every test file.
  std::string_view common;
  bool first = true;
  for (std::string_view n : names) {
    std::string_view dir = n.substr(0, n.rfind('/') == std::string_view::npos ? 0 : n.rfind('/'));
    if (first) {
      common = dir;
      first = false;
      continue;
    }
    std::size_t k = 0;
    while (k < common.size() && k < dir.size() && common[k] == dir[k]) ++k;
    if (k < common.size() && !(k == dir.size() && common[k] == '/')) {
      auto slash = common.substr(0, k).rfind('/');
      k = slash == std::string_view::npos ? 0 : slash;
    }
    common = common.substr(0, k);
  }
  return std::string(common);
}

ParseOutcome text_fallback(std::string_view output, std::string why) {
  ParseOutcome o = parse_jest_text(output);
  o.summary.note = join_notes(std::move(why), o.summary.note);
  return o;
}

}  // namespace

ParseOutcome parse_jest_text(std::string_view raw_output) {
  std::string output = strip_ansi(raw_output);
  ParseOutcome o;
  o.summary.parsed_from = "text";
  std::optional<TextCounts> counts;
  std::unordered_set<std::string> seen;
  std::uint32_t suite_errors = 0, test_failures = 0;

  std::string_view file;
  std::string_view title;
  std::vector<std::string_view> body;
  bool in_block = false, stop_blocks = false;
  auto flush = [&] {
    if (!in_block) return;
    in_block = false;
    while (!body.empty() && trim(body.back()).empty()) body.pop_back();
    std::size_t first = 0;
    while (first < body.size() && trim(body[first]).empty()) ++first;
    std::string_view text;
    if (first < body.size())
      text = std::string_view(body[first].data(), static_cast<std::size_t>(body.back().data() + body.back().size() - body[first].data()));
    body.clear();
    if (title == "Console") return;
    if (title == k_suite_failed) {
      if (!seen.insert(std::string(file)).second) return;
      ++suite_errors;
      o.failures.push_back(suite_failure(file, text, {}));
      return;
    }
    std::string id = test_id_of(file, title);
    if (!seen.insert(id).second) return;
    ++test_failures;
    FailureDetected f;
    f.runner = "jest";
    f.test_id = std::move(id);
    auto last = title.rfind(k_sep);
    f.test_name = std::string(last == std::string_view::npos ? title : title.substr(last + k_sep.size()));
    f.phase = "call";
    Analysis a = analyze(text, file, {}, 0, true);
    f.file = std::move(a.file);
    f.line = a.line;
    f.error_type = std::move(a.error_type);
    f.message = std::move(a.message);
    f.stack_trace = std::string(text);
    o.failures.push_back(std::move(f));
  };

  for (std::string_view line : split_lines(output)) {
    if (auto c = parse_tests_line(line)) {
      flush();
      counts = c;
      continue;
    }
    if (line.starts_with("Test Suites:") || line.starts_with("Snapshots:") || line.starts_with("Time:") ||
        line.starts_with("Ran all test suites")) {
      flush();
      continue;
    }
    if (line.starts_with("Summary of all failing tests")) {  // repeats the blocks above
      flush();
      stop_blocks = true;
      continue;
    }
    if (auto h = result_header(line)) {
      flush();
      file = *h;
      continue;
    }
    if (line.starts_with("  \xE2\x97\x8F ")) {  // "  ● "
      flush();
      if (stop_blocks || file.empty()) continue;
      title = rtrim(line.substr(6));
      in_block = true;
      continue;
    }
    if (in_block) body.push_back(line);
  }
  flush();

  events::SuiteParsed& s = o.summary;
  s.errors = suite_errors;
  if (counts) {
    s.tests = counts->total;
    s.failures = counts->failed;
    s.passed = counts->passed;
    s.skipped = counts->skipped + counts->todo;
  } else {
    s.tests = s.failures = test_failures;
    s.note = o.failures.empty() ? "no jest output recognised"
                                : "jest printed no `Tests:` summary line (the run was cut short); counts are the failures found";
  }
  return o;
}

ParseOutcome parse_jest_json(std::string_view json, std::string_view raw_output) {
  if (trim(json).empty()) return text_fallback(raw_output, "the jest JSON report is empty");
  // One parser whose buffers outlive the call (simdjson's advice: fresh ones cost a page fault
  // per 4 KiB, which dominates on a large report); a concurrent call uses its own. Past
  // k_keep_capacity the buffers are let go after use.
  std::unique_lock lock(g_parser_mutex, std::try_to_lock);
  simdjson::dom::parser own;
  simdjson::dom::parser& parser = lock.owns_lock() ? g_parser : own;
  struct Release {
    simdjson::dom::parser& p;
    ~Release() {
      if (p.capacity() > k_keep_capacity) p = simdjson::dom::parser();
    }
  } release{parser};
  simdjson::dom::element doc;
  if (auto err = parser.parse(json.data(), json.size()).get(doc))
    return text_fallback(raw_output, std::string("the jest JSON report is not valid JSON (") + simdjson::error_message(err) +
                                         ", " + std::to_string(json.size()) + " bytes; the run was probably cut short)");
  simdjson::dom::array results;
  if (doc["testResults"].get(results))
    return text_fallback(raw_output, "the JSON report is not a jest --json report (no testResults array)");

  std::vector<std::string_view> names;
  for (simdjson::dom::element tr : results) {
    std::string_view n;
    if (!tr["name"].get(n)) names.push_back(n);
  }
  std::string output = raw_output.find('\x1b') == std::string_view::npos ? std::string() : strip_ansi(raw_output);
  std::string root = infer_root(output.empty() ? raw_output : std::string_view(output), names);

  ParseOutcome o;
  events::SuiteParsed& s = o.summary;
  s.parsed_from = "report";
  std::string title_path, messages;
  for (simdjson::dom::element tr : results) {
    std::string_view name;
    if (tr["name"].get(name)) continue;
    std::string_view rel = normalize_rel(relative_to(name, root));
    simdjson::dom::array ars;
    bool has_tests = !tr["assertionResults"].get(ars);
    // Tests of this file that share a full name are told apart by their line, "<id>::<line>"
    // (docs/DETECT.md), counted over every test of the file so that a re-run of only some of
    // them gives the same ids.
    auto full_name = [](simdjson::dom::element ar, std::string& out) {
      out.clear();
      simdjson::dom::array ancestors;
      if (!ar["ancestorTitles"].get(ancestors))
        for (simdjson::dom::element t : ancestors) {
          std::string_view a;
          if (t.get(a)) continue;
          out.append(a);
          out.append(k_sep);
        }
      std::string_view title;
      (void)!ar["title"].get(title);  // absent: "" (error codes ignored on purpose)
      out.append(title);
    };
    std::unordered_map<std::string, std::uint32_t> same_name;
    if (has_tests && ars.size() > 1)
      for (simdjson::dom::element ar : ars) {
        full_name(ar, title_path);
        ++same_name[title_path];
      }
    if (has_tests) {
      for (simdjson::dom::element ar : ars) {
        std::string_view status;
        if (ar["status"].get(status)) continue;
        ++s.tests;
        if (status == "passed") { ++s.passed; continue; }
        if (status != "failed") { ++s.skipped; continue; }  // pending, skipped, todo, disabled
        ++s.failures;
        full_name(ar, title_path);
        // An absent field leaves its default (error codes ignored on purpose).
        std::string_view title;
        (void)!ar["title"].get(title);
        std::int64_t location_line = 0;
        (void)!ar["location"]["line"].get(location_line);
        messages.clear();
        simdjson::dom::array fms;
        if (!ar["failureMessages"].get(fms))
          for (simdjson::dom::element m : fms) {
            std::string_view t;
            if (m.get(t)) continue;
            if (!messages.empty()) messages += "\n\n";
            messages.append(t);
          }
        FailureDetected f;
        f.runner = "jest";
        f.test_id = test_id_of(rel, title_path);
        if (auto it = same_name.find(title_path); it != same_name.end() && it->second > 1)
          f.test_id += "::" + std::to_string(location_line);
        f.test_name = std::string(title);
        f.phase = "call";
        f.stack_trace = strip_ansi(messages);
        Analysis a = analyze(f.stack_trace, rel, root, location_line, false);
        f.file = std::move(a.file);
        f.line = a.line;
        f.error_type = std::move(a.error_type);
        f.message = std::move(a.message);
        o.failures.push_back(std::move(f));
      }
    }
    std::string_view status, message;
    (void)!tr["status"].get(status);  // absent: "" (error codes ignored on purpose)
    (void)!tr["message"].get(message);
    if (status == "failed" && message.find(k_suite_failed) != std::string_view::npos) {
      std::string msg = strip_ansi(message);
      ++s.errors;
      o.failures.push_back(suite_failure(rel, block_after_title(msg, k_suite_failed), {}));
    }
  }
  bool interrupted = false;
  if (!doc["wasInterrupted"].get(interrupted) && interrupted) {
    s.note = "jest reports the run was interrupted";
    s.interrupted = s.note;
  }
  std::uint64_t total = 0;
  if (!doc["numTotalTests"].get(total)) s.collected = static_cast<std::uint32_t>(total);
  return o;
}

ParseOutcome parse_jest_run(const events::SuiteFinished& run) {
  return runner_report::read_run(run, {"jest", "jest_json", "JSON report", &parse_jest_json, &parse_jest_text});
}

}  // namespace fixhost::jest_parser
