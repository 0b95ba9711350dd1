#include "pytest_parse.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "fixhost/runner_report/read_run.hpp"
#include "fixhost/runner_report/text.hpp"

namespace fixhost::pytest_parser {
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
constexpr std::size_t k_keep_capacity = std::size_t(128) << 20;  // bytes of XML

// CDATA and entities; not the whitespace conversion of attributes (pytest writes newlines in
// `message` as &#10;) nor the \r\n folding (split_lines drops a trailing \r).
constexpr unsigned k_xml_options = pugi::parse_cdata | pugi::parse_escapes;

std::mutex g_buffer_mutex;
std::string g_buffer;  // guarded by g_buffer_mutex
constexpr std::string_view k_xpass_strict = "[XPASS(strict)]";

// ---- text helpers -------------------------------------------------------------------------

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_ident_start(char c) { return c == '_' || (c >= 'a' && c <= 'z') || is_upper(c); }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

// The text from the start of `first` to the end of `last`; both must view the same buffer.
std::string_view span(std::string_view first, std::string_view last) {
  return std::string_view(first.data(), static_cast<std::size_t>(last.data() + last.size() - first.data()));
}

std::optional<std::uint64_t> to_uint(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The file part of a node id: "tests/test_a.py::T::t[x]" -> "tests/test_a.py".
std::string_view file_of(std::string_view node_id) {
  std::string_view head = node_id.substr(0, node_id.find('['));
  auto sep = head.find("::");
  return sep == std::string_view::npos ? head : node_id.substr(0, sep);
}

// The last "::" component: "tests/a.py::T::t[x::y]" -> "t[x::y]"; a bare path stays whole.
std::string_view name_of(std::string_view node_id) {
  std::string_view head = node_id.substr(0, node_id.find('['));
  auto sep = head.rfind("::");
  return sep == std::string_view::npos ? node_id : node_id.substr(sep + 2);
}

// The headline pytest prints above a test's section: the part after the file with "::" -> ".".
// "tests/a.py::T::t[x::y]" -> "T.t[x::y]"; a bare path (a collector) has none.
std::string headline_of(std::string_view node_id) {
  auto bracket = node_id.find('[');
  std::string_view head = node_id.substr(0, bracket);
  std::string_view params = bracket == std::string_view::npos ? std::string_view() : node_id.substr(bracket);
  auto sep = head.find("::");
  if (sep == std::string_view::npos) return {};
  std::string out;
  std::string_view rest = head.substr(sep + 2);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == ':' && i + 1 < rest.size() && rest[i + 1] == ':') {
      out.push_back('.');
      ++i;
    } else {
      out.push_back(rest[i]);
    }
  }
  out.append(params);
  return out;
}

// ---- traceback analysis -------------------------------------------------------------------

struct Location {
  std::string_view path;
  std::int64_t line = 0;
  std::string_view tail;  // "AssertionError" at the end of a long repr, "in func" for a short entry
};

// "<path>:<line>: <tail>" at the start of a line that is not source code ("    x"), the failing
// line (">   x") or an exception line ("E   x").
std::optional<Location> parse_location(std::string_view line) {
  if (line.empty() || line[0] == ' ' || line[0] == '\t' || line[0] == '>') return std::nullopt;
  if (line[0] == 'E' && (line.size() == 1 || line[1] == ' ')) return std::nullopt;
  for (auto i = line.find(':'); i != std::string_view::npos && i > 0; i = line.find(':', i + 1)) {
    std::size_t j = i + 1;
    while (j < line.size() && is_digit(line[j])) ++j;
    if (j == i + 1 || j >= line.size() || line[j] != ':') continue;
    if (j + 1 < line.size() && line[j + 1] != ' ') continue;
    Location loc;
    loc.path = line.substr(0, i);
    loc.line = static_cast<std::int64_t>(to_uint(line.substr(i + 1, j - i - 1)).value_or(0));
    loc.tail = trim(line.substr(j + 1));
    return loc;
  }
  return std::nullopt;
}

// "pkg.SomeError: message" or "SomeError" where the last dotted component starts upper case.
std::optional<std::pair<std::string_view, std::string_view>> exception_line(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) return std::nullopt;
  std::size_t i = 0;
  while (i < s.size() && (is_ident_char(s[i]) || s[i] == '.')) ++i;
  std::string_view name = s.substr(0, i);
  if (name.back() == '.') return std::nullopt;
  auto dot = name.rfind('.');
  std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (last.empty() || !is_upper(last[0])) return std::nullopt;
  if (i == s.size()) return std::pair{last, std::string_view()};
  if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return std::pair{last, trim(s.substr(i + 1))};
  return std::nullopt;
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !is_ident_start(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_ident_char(c) || c == '.'; });
}

struct Analysis {
  std::string file;
  std::int64_t line = 0;
  std::string error_type;
  std::string message;
};

// Reads one pytest long repr (the text of a FAILURES/ERRORS section, or of a junit failure or
// error element). file/line: the innermost frame in `test_file` if any, else the SyntaxError's
// `File "...", line N` in that file, else the innermost frame.
Analysis analyze_longrepr(std::string_view text, std::string_view test_file) {
  Analysis a;
  auto lines = split_lines(text);
  std::vector<Location> locs;
  std::size_t block_begin = 0, block_end = 0;  // the last run of "E   " lines: [begin, end)
  bool in_block = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    bool e_line = !l.empty() && l[0] == 'E' && (l.size() == 1 || l[1] == ' ');
    if (e_line) {
      if (!in_block) block_begin = i;
      block_end = i + 1;
      in_block = true;
      continue;
    }
    in_block = false;
    if (auto loc = parse_location(l)) locs.push_back(*loc);
  }

  // The exception block, dedented.
  std::vector<std::string_view> block;
  if (block_end > block_begin) {
    std::size_t indent = std::string_view::npos;
    for (std::size_t i = block_begin; i < block_end; ++i) {
      std::string_view c = lines[i].substr(1);
      if (trim(c).empty()) continue;
      indent = std::min(indent, c.find_first_not_of(' '));
    }
    if (indent == std::string_view::npos) indent = 0;
    for (std::size_t i = block_begin; i < block_end; ++i) {
      std::string_view c = lines[i].substr(1);
      block.push_back(c.size() > indent ? rtrim(c.substr(indent)) : std::string_view());
    }
  }
  std::size_t exc_index = block.size();
  std::string_view exc_name, exc_rest;
  for (std::size_t i = 0; i < block.size(); ++i) {
    if (block[i].empty() || block[i][0] == ' ') continue;
    if (auto e = exception_line(block[i])) {
      exc_index = i;
      exc_name = e->first;
      exc_rest = e->second;
      break;
    }
  }

  // error_type: pytest's closing "path:line: TypeName", else the exception line, else the kind
  // of failure pytest reports without an exception.
  if (!locs.empty() && is_identifier(locs.back().tail)) {
    std::string_view t = locs.back().tail;
    auto dot = t.rfind('.');
    a.error_type = std::string(dot == std::string_view::npos ? t : t.substr(dot + 1));
  } else if (!exc_name.empty()) {
    a.error_type = std::string(exc_name);
  } else if (!block.empty() && block.front().starts_with("assert ")) {
    a.error_type = "AssertionError";
  }

  // message: the exception's text from its type on, or the whole block (assert rewriting).
  std::string msg;
  if (exc_index < block.size()) {
    msg.append(exc_rest);
    for (std::size_t i = exc_index + 1; i < block.size(); ++i) {
      msg.push_back('\n');
      msg.append(block[i]);
    }
  } else {
    for (std::size_t i = 0; i < block.size(); ++i) {
      if (i) msg.push_back('\n');
      msg.append(block[i]);
    }
  }
  std::string_view t = trim(text);
  if (block.empty() && t.starts_with(k_xpass_strict)) {
    a.error_type = std::string(k_xpass_strict.substr(1, k_xpass_strict.size() - 2));
    msg = std::string(trim(t.substr(k_xpass_strict.size())));
  }
  a.message = cap_utf8(std::string(trim(msg)), k_max_message);

  // file and line.
  for (auto it = locs.rbegin(); it != locs.rend(); ++it) {
    if (path_matches(it->path, test_file)) {
      a.file = std::string(test_file);
      a.line = it->line;
      return a;
    }
  }
  for (std::string_view b : block) {
    std::string_view s = trim(b);
    if (!s.starts_with("File \"")) continue;
    auto close = s.find('"', 6);
    if (close == std::string_view::npos) continue;
    std::string_view path = s.substr(6, close - 6);
    std::string_view rest = s.substr(close + 1);
    if (!rest.starts_with(", line ") || !path_matches(path, test_file)) continue;
    rest.remove_prefix(7);
    std::size_t n = 0;
    while (n < rest.size() && is_digit(rest[n])) ++n;
    a.file = std::string(test_file);
    a.line = static_cast<std::int64_t>(to_uint(rest.substr(0, n)).value_or(0));
    return a;
  }
  for (auto it = locs.rbegin(); it != locs.rend(); ++it) {
    if (it->path.starts_with("<")) continue;  // "<frozen os>", "<string>"
    a.file = std::string(it->path);
    a.line = it->line;
    return a;
  }
  a.file = std::string(test_file);
  return a;
}

// ---- terminal output ----------------------------------------------------------------------

struct Counts {
  std::uint32_t passed = 0, failed = 0, errors = 0, skipped = 0, xfailed = 0, xpassed = 0;
  std::uint32_t total() const { return passed + failed + errors + skipped + xfailed + xpassed; }
};

// "9 failed, 7 passed, 1 skipped, 2 errors in 0.07s" (with or without the "=" frame), or
// "no tests ran in 0.01s".
std::optional<Counts> parse_stats(std::string_view s) {
  s = trim(s);
  auto in = s.rfind(" in ");
  if (in == std::string_view::npos) return std::nullopt;
  std::string_view time = s.substr(in + 4);
  if (auto paren = time.find(" ("); paren != std::string_view::npos) time = time.substr(0, paren);
  if (time.size() < 2 || time.back() != 's' || !is_digit(time.front())) return std::nullopt;
  std::string_view parts = s.substr(0, in);
  Counts c;
  if (parts == "no tests ran") return c;
  bool any = false;
  while (!parts.empty()) {
    auto comma = parts.find(", ");
    std::string_view part = parts.substr(0, comma);
    parts = comma == std::string_view::npos ? std::string_view() : parts.substr(comma + 2);
    auto sp = part.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto n = to_uint(part.substr(0, sp));
    if (!n) return std::nullopt;
    auto v = static_cast<std::uint32_t>(*n);
    std::string_view word = part.substr(sp + 1);
    if (word == "failed") c.failed = v;
    else if (word == "passed") c.passed = v;
    else if (word == "skipped") c.skipped = v;
    else if (word == "xfailed") c.xfailed = v;
    else if (word == "xpassed") c.xpassed = v;
    else if (word == "error" || word == "errors") c.errors = v;
    else if (word == "warning" || word == "warnings" || word == "deselected" || word == "rerun" || word == "selected") {}
    else return std::nullopt;
    any = true;
  }
  if (!any) return std::nullopt;
  return c;
}

// "=== title ===" -> "title".
std::optional<std::string_view> section_title(std::string_view line) {
  if (line.size() < 5 || line.front() != '=' || line.back() != '=') return std::nullopt;
  auto b = line.find_first_not_of('=');
  auto e = line.find_last_not_of('=');
  if (b == std::string_view::npos || line[b] != ' ' || line[e] != ' ') return std::nullopt;
  return trim(line.substr(b, e - b + 1));
}

bool is_dash_frame(std::string_view line) {
  return line.size() > 6 && line.starts_with("---") && line.ends_with("---") &&
         line.find_first_not_of('-') != std::string_view::npos;
}

// "____ title ____" -> "title" (not the "_ _ _ _" lines between traceback entries).
std::optional<std::string_view> block_headline(std::string_view line) {
  if (line.size() < 5 || line.front() != '_' || line.back() != '_') return std::nullopt;
  auto b = line.find_first_not_of('_');
  auto e = line.find_last_not_of('_');
  if (b == std::string_view::npos || line[b] != ' ' || line[e] != ' ' || e <= b) return std::nullopt;
  std::string_view t = trim(line.substr(b, e - b + 1));
  if (t.empty() || t.find_first_not_of("_ ") == std::string_view::npos) return std::nullopt;
  return t;
}

struct Block {
  std::string_view subject;  // the test's headline, or the collected path
  std::string phase;         // call | setup | teardown | collection
  std::string_view body;
  bool used = false;
};

struct SummaryEntry {
  bool error = false;
  std::vector<std::string_view> candidates;  // possible node ids, shortest first
  std::string_view message;                  // after " - " for the shortest candidate
};

struct VerboseEntry {
  std::string_view node_id;
  std::string_view status;
};

struct TextScan {
  std::vector<Block> failures;  // FAILURES section, in order
  std::vector<Block> errors;    // ERRORS section, in order
  std::vector<SummaryEntry> summary;
  std::optional<Counts> final_counts;
  Counts progress;
  bool saw_progress = false;
  std::vector<VerboseEntry> verbose;
  std::string_view interrupted;  // "Interrupted: 2 errors during collection"
  bool saw_header = false;
  std::uint32_t collected = 0;   // "collected 71 items / 1 error"
};

// "FAILED <node id> - <message>": the node id may itself hold " - ", so every split is a
// candidate; a candidate with a '[' must end with ']'.
SummaryEntry summary_entry(bool error, std::string_view rest) {
  SummaryEntry e;
  e.error = error;
  std::size_t pos = 0;
  for (;;) {
    auto dash = rest.find(" - ", pos);
    std::string_view cand = rest.substr(0, dash);
    bool ok = cand.find('[') == std::string_view::npos || cand.back() == ']';
    if (ok && !cand.empty()) {
      if (e.candidates.empty()) e.message = dash == std::string_view::npos ? std::string_view() : rest.substr(dash + 3);
      e.candidates.push_back(cand);
    }
    if (dash == std::string_view::npos) break;
    pos = dash + 1;
  }
  if (e.candidates.empty()) e.candidates.push_back(rest);
  return e;
}

constexpr std::string_view k_verbose_statuses[] = {" PASSED", " FAILED", " ERROR", " SKIPPED", " XFAIL", " XPASS"};

void scan_progress_line(std::string_view line, TextScan& scan) {
  std::string_view l = rtrim(line);
  if (l.empty()) return;
  if (l.back() == ']') {
    auto open = l.rfind(" [");
    if (open != std::string_view::npos) l = rtrim(l.substr(0, open));
  }
  if (l.find("::") != std::string_view::npos) {
    for (std::string_view st : k_verbose_statuses) {
      auto p = l.find(st);
      while (p != std::string_view::npos) {
        std::size_t after = p + st.size();
        if (after == l.size() || l[after] == ' ') {
          scan.verbose.push_back({l.substr(0, p), st.substr(1)});
          Counts& c = scan.progress;
          if (st == " PASSED") ++c.passed;
          else if (st == " FAILED") ++c.failed;
          else if (st == " ERROR") ++c.errors;
          else if (st == " SKIPPED") ++c.skipped;
          else if (st == " XFAIL") ++c.xfailed;
          else ++c.xpassed;
          scan.saw_progress = true;
          return;
        }
        p = l.find(st, p + 1);
      }
    }
    return;
  }
  auto sp = l.rfind(' ');
  std::string_view chars = sp == std::string_view::npos ? l : l.substr(sp + 1);
  if (sp != std::string_view::npos && !l.substr(0, sp).ends_with(".py")) return;
  if (chars.empty() || chars.find_first_not_of(".FEsxX") != std::string_view::npos) return;
  for (char ch : chars) {
    Counts& c = scan.progress;
    switch (ch) {
      case '.': ++c.passed; break;
      case 'F': ++c.failed; break;
      case 'E': ++c.errors; break;
      case 's': ++c.skipped; break;
      case 'x': ++c.xfailed; break;
      case 'X': ++c.xpassed; break;
    }
  }
  scan.saw_progress = true;
}

TextScan scan_text(std::string_view out) {
  TextScan scan;
  enum class Section { preamble, progress, failures, errors, summary, other };
  Section section = Section::preamble;
  auto lines = split_lines(out);
  Block* open = nullptr;
  std::string_view body_first, body_last;
  bool body_cut = false;
  auto close_block = [&] {
    if (open && !body_first.empty()) open->body = span(body_first, body_last);
    open = nullptr;
    body_first = body_last = {};
    body_cut = false;
  };
  for (std::string_view line : lines) {
    if (section == Section::progress && line.starts_with("collected ")) {
      if (auto n = to_uint(line.substr(10, line.find(' ', 10) - 10))) scan.collected = static_cast<std::uint32_t>(*n);
      continue;
    }
    if (auto title = section_title(line)) {
      close_block();
      if (auto c = parse_stats(*title)) {
        scan.final_counts = c;
        section = Section::other;
        continue;
      }
      std::string_view t = *title;
      if (t == "test session starts") { section = Section::progress; scan.saw_header = true; }
      else if (t == "FAILURES") section = Section::failures;
      else if (t == "ERRORS") section = Section::errors;
      else if (t == "short test summary info") section = Section::summary;
      else section = Section::other;
      continue;
    }
    if (line.starts_with("!!!") && line.ends_with("!!!")) {
      close_block();
      std::size_t text_at = line.find_first_not_of('!');  // npos: a line of '!' alone
      std::string_view t = trim(std::string_view(line).substr(std::min(text_at, line.size())));
      t = trim(t.substr(0, t.find_last_not_of('!') + 1));
      if (!t.empty()) scan.interrupted = t;
      continue;
    }
    if (section == Section::failures || section == Section::errors) {
      if (auto head = block_headline(line)) {
        close_block();
        Block b;
        std::string_view h = *head;
        if (h.starts_with("ERROR at setup of ")) { b.phase = "setup"; b.subject = h.substr(18); }
        else if (h.starts_with("ERROR at teardown of ")) { b.phase = "teardown"; b.subject = h.substr(21); }
        else if (h.starts_with("ERROR collecting ")) { b.phase = "collection"; b.subject = h.substr(17); }
        else { b.phase = "call"; b.subject = h; }
        auto& list = section == Section::failures ? scan.failures : scan.errors;
        list.push_back(b);
        open = &list.back();
        continue;
      }
      if (!open || body_cut) continue;
      if (is_dash_frame(line)) {  // "--- Captured stdout call ---", "--- generated xml file: ... ---"
        body_cut = true;
        continue;
      }
      if (trim(line).empty() && body_first.empty()) continue;
      if (body_first.empty()) body_first = line.substr(line.find_first_not_of(" \t"));  // junit drops this indent
      if (!trim(line).empty()) body_last = line;
      continue;
    }
    if (section == Section::summary) {
      if (line.starts_with("FAILED ")) scan.summary.push_back(summary_entry(false, line.substr(7)));
      else if (line.starts_with("ERROR ")) scan.summary.push_back(summary_entry(true, line.substr(6)));
      continue;
    }
    if (auto c = parse_stats(line)) {  // `-q` prints the final line without the frame
      scan.final_counts = c;
      continue;
    }
    if (section == Section::progress || (section == Section::preamble && !scan.saw_header)) scan_progress_line(line, scan);
  }
  close_block();
  return scan;
}

std::string_view message_type_prefix(std::string_view msg, std::string& type) {
  if (auto e = exception_line(msg.substr(0, msg.find('\n')))) {
    type = std::string(e->first);
    auto colon = msg.find(": ");
    return colon == std::string_view::npos ? std::string_view() : msg.substr(colon + 2);
  }
  return msg;
}

FailureDetected make_failure(std::string_view node_id, std::string_view test_name, std::string phase,
                             std::string_view longrepr) {
  FailureDetected f;
  f.runner = "pytest";
  f.test_id = std::string(node_id);
  f.test_name = std::string(test_name);
  f.phase = std::move(phase);
  Analysis a = analyze_longrepr(longrepr, file_of(node_id));
  f.file = std::move(a.file);
  f.line = a.line;
  f.error_type = std::move(a.error_type);
  f.message = std::move(a.message);
  f.stack_trace = std::string(longrepr);
  return f;
}

void fill_counts(events::SuiteParsed& s, const Counts& c, std::uint32_t tests) {
  s.tests = tests;
  s.passed = c.passed;
  s.failures = c.failed;
  s.errors = c.errors;
  s.skipped = c.skipped;
  s.xfailed = c.xfailed;
  s.xpassed = c.xpassed;
}

ParseOutcome text_fallback(std::string_view output, std::string why) {
  ParseOutcome o = parse_pytest_text(output);
  o.summary.note = join_notes(std::move(why), o.summary.note);
  return o;
}

// Concatenated text of an element (pytest writes one PCDATA node; other producers use CDATA).
std::string_view element_text(pugi::xml_node n, std::string& scratch) {
  pugi::xml_node first = n.first_child();
  if (!first) return {};
  if (!first.next_sibling() && (first.type() == pugi::node_pcdata || first.type() == pugi::node_cdata))
    return first.value();
  scratch.clear();
  for (pugi::xml_node c = first; c; c = c.next_sibling())
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) scratch += c.value();
  return scratch;
}

std::string key_of(std::string_view classname, std::string_view name) {
  std::string k;
  k.reserve(classname.size() + name.size() + 1);
  k.append(classname);
  k.push_back('\n');
  k.append(name);
  return k;
}

// A node id for a junit case that the short test summary did not name.
std::string reconstruct_id(std::string_view classname, std::string_view name, std::string_view file_attr,
                           std::string_view text) {
  auto from_file = [&](std::string_view file) -> std::optional<std::string> {
    auto [mod, base] = junit_names_of(file);
    if (classname.empty()) {
      if (base == name) return std::string(file);
      return std::nullopt;
    }
    if (base != classname && !std::string_view(classname).starts_with(base + ".")) return std::nullopt;
    std::string id(file);
    std::string_view rest = std::string_view(classname).substr(std::min(classname.size(), base.size() + 1));
    for (std::size_t pos = 0; !rest.empty() && pos <= rest.size();) {
      auto dot = rest.find('.', pos);
      id += "::";
      id.append(rest.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
      if (dot == std::string_view::npos) break;
      pos = dot + 1;
    }
    id += "::";
    id.append(name);
    return id;
  };
  if (!file_attr.empty())
    if (auto id = from_file(file_attr)) return *id;
  for (std::string_view l : split_lines(text))
    if (auto loc = parse_location(l); loc && loc->path.ends_with(".py") && !loc->path.starts_with("/"))
      if (auto id = from_file(loc->path)) return *id;
  // Last resort: trailing components that start upper case are classes, the rest is the module.
  if (classname.empty()) {
    std::string path(name);
    std::replace(path.begin(), path.end(), '.', '/');
    return path + ".py";
  }
  std::vector<std::string_view> parts;
  for (std::size_t pos = 0;;) {
    auto dot = classname.find('.', pos);
    parts.push_back(classname.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  std::size_t first_class = parts.size();
  while (first_class > 1 && !parts[first_class - 1].empty() && is_upper(parts[first_class - 1][0])) --first_class;
  std::string id;
  for (std::size_t i = 0; i < first_class; ++i) {
    if (i) id.push_back('/');
    id.append(parts[i]);
  }
  id += ".py";
  for (std::size_t i = first_class; i < parts.size(); ++i) {
    id += "::";
    id.append(parts[i]);
  }
  id += "::";
  id.append(name);
  return id;
}

// `failed on setup with "X: y"` -> setup; `failed on teardown with ...` -> teardown.
std::string error_phase(std::string_view message) {
  if (message.starts_with("failed on teardown")) return "teardown";
  if (message == "collection failure") return "collection";
  return "setup";
}

std::string_view unwrap_error_message(std::string_view m) {
  for (std::string_view p : {std::string_view("failed on setup with \""), std::string_view("failed on teardown with \"")})
    if (m.starts_with(p) && m.ends_with("\"")) return m.substr(p.size(), m.size() - p.size() - 1);
  return m;
}

// A set of (classname, name) views: open addressing on their hash (16-byte slots, so probing
// stays in cache), grown at half full.
class CaseSet {
 public:
  // True when the pair was not in the set yet.
  bool insert(std::string_view classname, std::string_view name) {
    if ((keys_.size() + 1) * 2 > slots_.size()) grow();
    std::uint64_t h = hash(classname, name) | 1;  // 0 marks a free slot
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.hash == 0) {
        s = Slot{h, static_cast<std::uint32_t>(keys_.size())};
        keys_.emplace_back(classname, name);
        return true;
      }
      if (s.hash == h && keys_[s.key].first == classname && keys_[s.key].second == name) return false;
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t key = 0;
  };
  static std::uint64_t hash(std::string_view a, std::string_view b) {
    std::uint64_t h = std::hash<std::string_view>()(a);
    return h ^ (std::hash<std::string_view>()(b) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 4096 : old.size() * 2, Slot{});
    std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.hash != 0)
        for (std::size_t i = s.hash & mask;; i = (i + 1) & mask)
          if (slots_[i].hash == 0) {
            slots_[i] = s;
            break;
          }
  }
  std::vector<Slot> slots_;
  std::vector<std::pair<std::string_view, std::string_view>> keys_;
};

}  // namespace

std::pair<std::string, std::string> junit_names_of(std::string_view node_id) {
  auto bracket = node_id.find('[');
  std::string_view path = node_id.substr(0, bracket);
  std::string_view params = bracket == std::string_view::npos ? std::string_view() : node_id.substr(bracket);
  std::vector<std::string> names;
  for (std::size_t pos = 0;;) {
    auto sep = path.find("::", pos);
    names.emplace_back(path.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos));
    if (sep == std::string_view::npos) break;
    pos = sep + 2;
  }
  std::string& first = names.front();
  std::replace(first.begin(), first.end(), '/', '.');
  if (first.ends_with(".py")) first.resize(first.size() - 3);
  names.back().append(params);
  std::string classname;
  for (std::size_t i = 0; i + 1 < names.size(); ++i) {
    if (i) classname.push_back('.');
    classname += names[i];
  }
  return {std::move(classname), std::move(names.back())};
}

ParseOutcome parse_pytest_text(std::string_view raw_output) {
  std::string output = strip_ansi(raw_output);
  TextScan scan = scan_text(output);
  ParseOutcome o;
  o.summary.parsed_from = "text";
  std::vector<std::string> notes;

  std::unordered_set<std::string> seen;  // "id\nphase"
  auto add = [&](FailureDetected f) {
    if (!seen.insert(f.test_id + "\n" + f.phase).second) return;
    o.failures.push_back(std::move(f));
  };

  // Short summary entries, each paired with its section by headline.
  auto find_block = [](std::vector<Block>& blocks, std::size_t hint, std::string_view cand) -> Block* {
    std::string head = headline_of(cand);
    bool collector = head.empty();
    auto fits = [&](const Block& b) {
      if (b.used) return false;
      return collector ? (b.phase == "collection" && b.subject == cand) : (b.phase != "collection" && b.subject == head);
    };
    if (hint < blocks.size() && fits(blocks[hint])) return &blocks[hint];
    for (auto& b : blocks)
      if (fits(b)) return &b;
    return nullptr;
  };
  std::size_t nth_failed = 0, nth_error = 0;
  for (const SummaryEntry& e : scan.summary) {
    auto& blocks = e.error ? scan.errors : scan.failures;
    std::size_t hint = e.error ? nth_error++ : nth_failed++;
    Block* block = nullptr;
    std::string_view id = e.candidates.front();
    for (std::string_view cand : e.candidates) {
      if ((block = find_block(blocks, hint, cand))) {
        id = cand;
        break;
      }
    }
    if (block) {
      block->used = true;
      add(make_failure(id, name_of(id), block->phase, block->body));
      continue;
    }
    // No section for it (--tb=no, or the output was cut): what the summary line says.
    std::string phase = !e.error ? "call" : (id.find("::") == std::string_view::npos ? "collection" : "setup");
    FailureDetected f = make_failure(id, name_of(id), phase, {});
    std::string type;
    std::string_view msg = message_type_prefix(e.message, type);
    f.error_type = type;
    f.message = std::string(msg);
    add(std::move(f));
  }

  // Sections the summary did not name (no -rfE, or the summary was cut off): the id is rebuilt
  // from the headline and the first frame in a test file.
  for (auto* blocks : {&scan.failures, &scan.errors}) {
    for (Block& b : *blocks) {
      if (b.used) continue;
      std::string id;
      if (b.phase == "collection") {
        id = std::string(b.subject);
      } else {
        std::string_view file;
        for (std::string_view l : split_lines(b.body)) {
          auto loc = parse_location(l);
          if (!loc || !loc->path.ends_with(".py") || loc->path.starts_with("/") || loc->path.ends_with("conftest.py")) continue;
          file = loc->path;
          break;
        }
        auto bracket = b.subject.find('[');
        std::string head(b.subject.substr(0, bracket));
        std::string dotted;
        for (char c : head) {
          if (c == '.') dotted += "::";
          else dotted.push_back(c);
        }
        id = std::string(file.empty() ? "<unknown>" : file) + "::" + dotted +
             std::string(bracket == std::string_view::npos ? std::string_view() : b.subject.substr(bracket));
      }
      add(make_failure(id, name_of(id), b.phase, b.body));
    }
  }

  // Verbose progress lines name failures even when pytest was killed before any section.
  for (const VerboseEntry& v : scan.verbose) {
    if (v.status != "FAILED" && v.status != "ERROR") continue;
    std::string phase = v.status == "FAILED" ? "call" : "setup";
    bool known = false;
    for (const auto& f : o.failures) known = known || f.test_id == v.node_id;
    if (!known) add(make_failure(v.node_id, name_of(v.node_id), phase, {}));
  }

  std::uint32_t teardown_errors = 0;
  for (const Block& b : scan.errors) teardown_errors += b.phase == "teardown";
  Counts c;
  if (scan.final_counts) {
    c = *scan.final_counts;
  } else if (scan.saw_progress) {
    c = scan.progress;
    notes.push_back("pytest printed no final summary line (the run was cut short); counts come from its progress lines");
  } else {
    for (const auto& f : o.failures) (f.phase == "call" ? c.failed : c.errors)++;
    notes.push_back(o.failures.empty() ? "no pytest output recognised" : "pytest printed no final summary line nor progress; counts are the failures found");
  }
  std::uint32_t total = c.total();
  fill_counts(o.summary, c, total >= teardown_errors ? total - teardown_errors : total);
  if (!scan.interrupted.empty()) notes.push_back("pytest said: " + std::string(scan.interrupted));
  for (auto& n : notes) o.summary.note = join_notes(std::move(o.summary.note), n);
  o.summary.collected = scan.collected;
  o.summary.interrupted = std::string(scan.interrupted);
  return o;
}

ParseOutcome parse_junit_xml(std::string_view xml, std::string_view output) {
  if (trim(xml).empty()) return text_fallback(output, "the junit XML report is empty");
  // pugixml parses in place in a buffer that outlives the call (a fresh one costs a page fault
  // per 4 KiB, which dominates on a large report); a concurrent call uses its own. Past
  // k_keep_capacity the buffer is let go after use.
  std::unique_lock lock(g_buffer_mutex, std::try_to_lock);
  std::string own;
  std::string& buffer = lock.owns_lock() ? g_buffer : own;
  struct Release {
    std::string& b;
    ~Release() {
      if (b.capacity() > k_keep_capacity) std::string().swap(b);
    }
  } release{buffer};
  buffer.assign(xml);
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer_inplace(buffer.data(), buffer.size(), k_xml_options, pugi::encoding_utf8);
  if (!r)
    return text_fallback(output, std::string("the junit XML report is not well-formed (") + r.description() +
                                     " at byte " + std::to_string(r.offset) + " of " + std::to_string(xml.size()) +
                                     "; the run was probably cut short)");
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "testsuites" && std::string_view(root.name()) != "testsuite")
    return text_fallback(output, "the junit XML report has no <testsuite> element (root is <" +
                                     std::string(root.name()) + ">)");

  // Node ids from the short test summary, keyed by their junit (classname, name).
  std::string stripped = output.find('\x1b') == std::string_view::npos ? std::string() : strip_ansi(output);
  std::string_view out = stripped.empty() ? output : std::string_view(stripped);
  TextScan scan;
  if (!out.empty()) scan = scan_text(out);
  std::unordered_map<std::string, std::string_view> by_junit;
  for (const SummaryEntry& e : scan.summary)
    for (std::string_view cand : e.candidates) {
      auto [c, n] = junit_names_of(cand);
      by_junit.emplace(key_of(c, n), cand);
    }
  auto summary_id = [&](std::string_view classname, std::string_view name) -> std::optional<std::string> {
    if (by_junit.empty()) return std::nullopt;
    if (auto it = by_junit.find(key_of(classname, name)); it != by_junit.end()) return std::string(it->second);
    // pytest prints ids relative to its working directory, junit relative to rootdir.
    for (const SummaryEntry& e : scan.summary)
      for (std::string_view cand : e.candidates) {
        auto [c, n] = junit_names_of(cand);
        if (classname.empty() ? (c.empty() && std::string_view(name).ends_with("." + n))
                              : (n == name && std::string_view(classname).ends_with("." + c)))
          return std::string(cand);
      }
    return std::nullopt;
  };

  ParseOutcome o;
  o.summary.parsed_from = "report";
  Counts c;
  std::uint32_t distinct = 0;
  // (classname, name) of the cases seen, in an open-addressing table (a node per case in an
  // unordered_set was a third of the parse); the views point into `buffer`.
  CaseSet seen_cases;
  std::string scratch;

  auto visit_case = [&](pugi::xml_node tc) {
    std::string_view classname = tc.attribute("classname").value();
    std::string_view name = tc.attribute("name").value();
    std::string_view file_attr = tc.attribute("file").value();
    bool first_time = seen_cases.insert(classname, name);
    distinct += first_time;
    bool failed = false, skipped = false, blocking_error = false;
    std::optional<std::string> id;
    auto node_id = [&](std::string_view text) -> const std::string& {
      if (!id) {
        id = summary_id(classname, name);
        if (!id) id = reconstruct_id(classname, name, file_attr, text);
      }
      return *id;
    };
    for (pugi::xml_node ch = tc.first_child(); ch; ch = ch.next_sibling()) {
      std::string_view kind = ch.name();
      bool is_failure = kind == "failure";
      bool is_error = kind == "error";
      if (kind == "skipped") {
        skipped = true;
        if (std::string_view(ch.attribute("type").value()) == "pytest.xfail") ++c.xfailed;
        else ++c.skipped;
        continue;
      }
      if (!is_failure && !is_error) continue;
      std::string_view message = ch.attribute("message").value();
      std::string phase = is_failure ? "call" : error_phase(message);
      if (is_failure) {
        failed = true;
        ++c.failed;
      } else {
        ++c.errors;
        blocking_error = blocking_error || phase != "teardown";
      }
      std::string_view text = element_text(ch, scratch);
      const std::string& nid = node_id(text);
      FailureDetected f = make_failure(nid, classname.empty() ? std::string_view(nid) : name, phase, text);
      if (f.line == 0 && f.file == file_of(nid)) {
        auto l = to_uint(tc.attribute("line").value());
        if (l && !file_attr.empty()) f.line = static_cast<std::int64_t>(*l) + 1;  // xunit1: 0-based def line
      }
      if (f.message.empty() || phase == "collection") {
        std::string type;
        std::string_view m = message_type_prefix(unwrap_error_message(message), type);
        if (f.message.empty() && message != "collection failure") f.message = cap_utf8(std::string(m), k_max_message);
        if (f.error_type.empty()) f.error_type = type;
      }
      o.failures.push_back(std::move(f));
    }
    if (!failed && !skipped && !blocking_error && first_time) ++c.passed;
  };

  // Depth-first over nested <testsuite>s with an explicit stack: a hostile report nested
  // 100,000 deep must not overflow the call stack.
  std::vector<pugi::xml_node> pending{root};
  while (!pending.empty()) {
    pugi::xml_node suite = pending.back();
    pending.pop_back();
    std::vector<pugi::xml_node> nested;
    for (pugi::xml_node ch = suite.first_child(); ch; ch = ch.next_sibling()) {
      std::string_view n = ch.name();
      if (n == "testcase") visit_case(ch);
      else if (n == "testsuite") nested.push_back(ch);
    }
    pending.insert(pending.end(), nested.rbegin(), nested.rend());
  }

  // junit cannot tell a non-strict XPASS from a pass; pytest's final line can.
  if (scan.final_counts) {
    c.xpassed = std::min(scan.final_counts->xpassed, c.passed);
    c.passed -= c.xpassed;
  }
  fill_counts(o.summary, c, distinct);
  o.summary.collected = scan.collected;
  o.summary.interrupted = std::string(scan.interrupted);
  return o;
}

ParseOutcome parse_pytest_run(const events::SuiteFinished& run) {
  return runner_report::read_run(run, {"pytest", "junit_xml", "junit XML report", &parse_junit_xml, &parse_pytest_text});
}

}  // namespace fixhost::pytest_parser
