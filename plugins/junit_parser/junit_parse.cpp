#include "junit_parse.hpp"

#include <pugixml.hpp>

#include <vector>

#include "fixhost/runner_report/read_run.hpp"
#include "fixhost/runner_report/text.hpp"
#include "fixhost_junit_families.hpp"

namespace fixhost::junit_parser {

namespace {

using runner_report::trim;

// The first of `attrs` present on the testcase, then on its enclosing testsuites.
std::string lookup(pugi::xml_node tc, const std::vector<std::string>& attrs) {
  for (const auto& a : attrs)
    for (pugi::xml_node n = tc; n && n.type() == pugi::node_element; n = n.parent())
      if (auto at = n.attribute(a.c_str())) {
        std::string v = at.value();
        if (!v.empty()) return v;
      }
  return "";
}

std::string relative_to(std::string file, std::string_view cwd) {
  if (cwd.empty() || file.empty() || file[0] != '/') return file;
  std::string base(cwd);
  if (!base.ends_with('/')) base += '/';
  if (file.starts_with(base)) file.erase(0, base.size());
  return file;
}

// The first "<file>:<line>" in a failure's text (node, vitest and Go stacks name it so).
std::int64_t line_in(std::string_view text, std::string_view file) {
  if (file.empty()) return 0;
  for (std::size_t p = text.find(file); p != std::string_view::npos; p = text.find(file, p + 1)) {
    std::size_t q = p + file.size();
    if (q < text.size() && text[q] == ':' && q + 1 < text.size() && runner_report::is_digit(text[q + 1])) {
      std::int64_t line = 0;
      for (++q; q < text.size() && runner_report::is_digit(text[q]); ++q) {
        if (line > 100000000) return 0;  // no source file is that long (fuzz_junit found the overflow)
        line = line * 10 + (text[q] - '0');
      }
      return line;
    }
  }
  return 0;
}

std::string text_of(pugi::xml_node n) {
  std::string out;
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
  return std::string(trim(out));
}

ParseOutcome no_report(std::string why) {
  ParseOutcome o;
  o.summary.parsed_from = "text";
  o.summary.note = std::move(why);
  return o;
}

}  // namespace

Result<Families> families(std::string_view overrides) {
  return sdk::junit::read_families(k_shipped_families_toml, overrides);
}

ParseOutcome parse_junit_xml(std::string_view xml, const sdk::junit::Family& family, std::string_view cwd) {
  if (trim(xml).empty()) return no_report("the JUnit XML report is empty");
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r) return no_report(std::string("the JUnit XML report is not well-formed (") + r.description() + " at byte " +
                           std::to_string(r.offset) + ")");
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "testsuites" && std::string_view(root.name()) != "testsuite")
    return no_report("the JUnit XML report's root is <" + std::string(root.name()) + ">, not <testsuites> or <testsuite>");
  ParseOutcome o;
  auto& s = o.summary;
  s.parsed_from = "report";
  std::vector<pugi::xml_node> pending{root};
  std::vector<pugi::xml_node> cases;
  while (!pending.empty()) {
    pugi::xml_node n = pending.back();
    pending.pop_back();
    std::vector<pugi::xml_node> kids;
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
      std::string_view name = c.name();
      if (name == "testcase") cases.push_back(c);
      else if (name == "testsuite" || name == "testsuites") kids.push_back(c);
    }
    // Depth first, in document order.
    pending.insert(pending.end(), kids.rbegin(), kids.rend());
  }
  // Document order across suites: a testcase's position, not the visiting order, decides.
  std::sort(cases.begin(), cases.end(), [](pugi::xml_node a, pugi::xml_node b) { return a.offset_debug() < b.offset_debug(); });
  for (pugi::xml_node tc : cases) {
    ++s.tests;
    pugi::xml_node bad;
    bool error = false, skipped = false;
    for (pugi::xml_node c = tc.first_child(); c; c = c.next_sibling()) {
      std::string_view name = c.name();
      if (name == "failure" || name == "error") {
        if (!bad) {
          bad = c;
          error = name == "error";
        }
      } else if (name == "skipped") {
        skipped = true;
      }
    }
    if (!bad) {
      if (skipped) ++s.skipped;
      else ++s.passed;
      continue;
    }
    if (error) ++s.errors;
    else ++s.failures;
    events::FailureDetected f;
    f.test_name = tc.attribute("name").value();
    const std::string group = family.group.empty() ? "" : relative_to(lookup(tc, family.group), cwd);
    f.test_id = group.empty() ? f.test_name : group + "::" + f.test_name;
    f.file = relative_to(lookup(tc, family.file), cwd);
    f.error_type = bad.attribute("type").value();
    f.message = bad.attribute("message").value();
    f.stack_trace = text_of(bad);
    if (f.message.empty()) {
      auto nl = f.stack_trace.find('\n');
      f.message = f.stack_trace.substr(0, nl);
    }
    if (auto line = tc.attribute("line")) f.line = line.as_llong();
    if (f.line == 0) f.line = line_in(f.stack_trace, f.file);
    f.phase = "call";
    o.failures.push_back(std::move(f));
  }
  s.collected = s.tests;
  return o;
}

ParseOutcome parse_junit_run(const events::SuiteFinished& run, const Families& fams) {
  sdk::junit::Family fallback;
  fallback.name = "";
  fallback.group = {"classname"};
  fallback.file = {"file"};
  const sdk::junit::Family* family = &fallback;
  std::string note;
  if (auto it = fams.find(run.family); it != fams.end()) family = &it->second;
  else if (!run.family.empty()) note = "unknown junit family '" + run.family + "'; test ids use the classname";
  const std::string cwd = run.cwd;
  struct Ctx {
    const sdk::junit::Family* family;
    std::string cwd;
  };
  static thread_local Ctx ctx;
  ctx = {family, cwd};
  ParseOutcome o = runner_report::read_run(
      run, {"the suite", "junit_xml", "JUnit XML report",
            [](std::string_view report, std::string_view) { return parse_junit_xml(report, *ctx.family, ctx.cwd); },
            [](std::string_view) {
              return no_report("a junit suite's terminal output is not parsed (the runner's format is unknown)");
            }});
  if (!note.empty()) o.summary.note = runner_report::join_notes(std::move(o.summary.note), note);
  return o;
}

}  // namespace fixhost::junit_parser
