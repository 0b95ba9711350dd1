#include "rules.hpp"

#include <algorithm>
#include <cctype>
#include <array>
#include <map>
#include <optional>
#include <set>

#include <toml++/toml.h>

namespace fixhost::classifier {
namespace {

// Fields longer than this are matched on their head and tail halves only, and lines longer
// than k_max_line_bytes on their first k_max_line_bytes: std::regex backtracks recursively, so
// unbounded input could exhaust the stack.
constexpr std::size_t k_max_field_bytes = 64 * 1024;
constexpr std::size_t k_max_line_bytes = 2048;
constexpr std::size_t k_max_evidence_bytes = 300;

constexpr std::array<std::pair<std::string_view, Field>, 8> k_fields{{
    {"error_type", Field::error_type},
    {"message", Field::message},
    {"stack_trace", Field::stack_trace},
    {"test_name", Field::test_name},
    {"test_id", Field::test_id},
    {"file", Field::file},
    {"runner", Field::runner},
    {"phase", Field::phase},
}};

std::string field_names() {
  std::string out;
  for (const auto& [name, f] : k_fields) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::optional<Field> parse_field(std::string_view s) {
  for (const auto& [name, f] : k_fields)
    if (name == s) return f;
  return std::nullopt;
}

std::string where(const toml::node& n, std::string_view origin) {
  const auto& src = n.source();
  if (src.begin.line == 0) return std::string(origin);
  return std::string(origin) + " line " + std::to_string(src.begin.line);
}

Status invalid(std::string msg) { return make_error(Errc::invalid_argument, std::move(msg)); }

// A string or an array of strings.
Result<std::vector<std::string>> string_list(const toml::node& n, const std::string& what) {
  std::vector<std::string> out;
  if (auto s = n.value<std::string>()) {
    out.push_back(*s);
    return out;
  }
  const toml::array* arr = n.as_array();
  if (!arr) return invalid(what + " must be a string or an array of strings");
  for (const auto& e : *arr) {
    auto s = e.value<std::string>();
    if (!s) return invalid(what + " must contain only strings");
    out.push_back(*s);
  }
  return out;
}

Result<Condition> parse_condition(const toml::table& t, const std::string& rule_name, bool is_require) {
  Condition c;
  bool ignore_case = false;
  const toml::node* fields = t.get("fields");
  if (!fields) fields = t.get("field");
  if (!fields) return invalid(rule_name + " has no `fields`; name one or more of: " + field_names());
  auto names = string_list(*fields, rule_name + " `fields`");
  if (!names) return names.status();
  if (names->empty()) return invalid(rule_name + " has an empty `fields`; name one or more of: " + field_names());
  for (const auto& name : *names) {
    auto f = parse_field(name);
    if (!f) return invalid(rule_name + " names unknown field '" + name + "'; use one of: " + field_names());
    c.fields.push_back(*f);
  }
  auto pattern = t["regex"].value<std::string>();
  if (!pattern || pattern->empty()) return invalid(rule_name + " has no `regex` string");
  c.pattern = *pattern;
  if (const toml::node* ic = t.get("ignore_case")) {
    auto b = ic->value<bool>();
    if (!b) return invalid(rule_name + " `ignore_case` must be true or false");
    ignore_case = *b;
  }
  for (auto&& [key, value] : t) {
    const std::string_view k = key.str();
    if (k == "fields" || k == "field" || k == "regex" || k == "ignore_case") continue;
    if (!is_require && (k == "id" || k == "category" || k == "weight" || k == "runner" || k == "requires" || k == "note"))
      continue;
    return invalid(rule_name + " has unknown key '" + std::string(k) + "'; allowed: id, category, fields, regex, weight, "
                   "runner, requires, ignore_case, note (requires entries: fields, regex, ignore_case)");
  }
  if (!ignore_case) c.literals = required_literals(c.pattern);
  try {
    auto flags = std::regex::ECMAScript | std::regex::optimize;
    if (ignore_case) flags |= std::regex::icase;
    c.regex = std::regex(c.pattern, flags);
  } catch (const std::regex_error& e) {
    return invalid(rule_name + ": regex '" + c.pattern + "' does not compile (" + e.what() +
                   "); fix it (std::regex ECMAScript syntax: no lookbehind, no inline flags, use ignore_case = true)");
  }
  return c;
}

Result<Rule> parse_rule(const toml::table& t, std::string_view origin, std::size_t index) {
  Rule r;
  r.origin = where(t, origin);
  auto id = t["id"].value<std::string>();
  if (!id || id->empty())
    return invalid("rule #" + std::to_string(index + 1) + " in " + r.origin + " has no `id`; give it a unique id string");
  r.id = *id;
  const std::string name = "rule '" + r.id + "' (" + r.origin + ")";

  auto category = t["category"].value<std::string>();
  const auto& cats = rule_categories();
  if (!category || std::find(cats.begin(), cats.end(), *category) == cats.end()) {
    std::string all;
    for (const auto& c : cats) all += (all.empty() ? "" : ", ") + c;
    return invalid(name + " has category '" + category.value_or("") + "'; use one of: " + all);
  }
  r.category = *category;

  const toml::node* w = t.get("weight");
  std::optional<double> weight = w ? w->value<double>() : std::nullopt;
  if (!weight || !(*weight > 0.0 && *weight <= 1.0))
    return invalid(name + " needs a `weight` in (0, 1], e.g. weight = 0.8");
  r.weight = *weight;

  if (const toml::node* runner = t.get("runner")) {
    auto runners = string_list(*runner, name + " `runner`");
    if (!runners) return runners.status();
    r.runners = std::move(*runners);
  }

  auto match = parse_condition(t, name, false);
  if (!match) return match.status();
  r.match = std::move(*match);

  if (const toml::node* req = t.get("requires")) {
    const toml::array* arr = req->as_array();
    if (!arr) return invalid(name + " `requires` must be an array of tables {fields = [...], regex = '...'}");
    std::size_t i = 0;
    for (const auto& e : *arr) {
      const toml::table* rt = e.as_table();
      if (!rt) return invalid(name + " `requires` must be an array of tables {fields = [...], regex = '...'}");
      auto c = parse_condition(*rt, name + " requires[" + std::to_string(i++) + "]", true);
      if (!c) return c.status();
      r.also.push_back(std::move(*c));
    }
  }
  return r;
}

Result<toml::table> parse_toml(std::string_view text, std::string_view origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return invalid(std::string(origin) + " line " + std::to_string(e.source().begin.line) + " is not valid TOML (" +
                   std::string(e.description()) + "); fix the syntax");
  }
}

Result<std::vector<Rule>> rules_from(const toml::table& doc, std::string_view origin) {
  std::vector<Rule> rules;
  const toml::node* node = doc.get("rules");
  if (!node) return rules;
  const toml::array* arr = node->as_array();
  if (!arr) return invalid(std::string(origin) + ": `rules` must be an array of tables ([[rules]] or rules = [{...}])");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = (*arr)[i].as_table();
    if (!t) return invalid(std::string(origin) + ": rules[" + std::to_string(i) + "] is not a table");
    auto r = parse_rule(*t, origin, i);
    if (!r) return r.status();
    if (!seen.insert(r->id).second)
      return invalid("rule id '" + r->id + "' appears twice in " + std::string(origin) + "; ids must be unique");
    rules.push_back(std::move(*r));
  }
  return rules;
}

// The lines of a field, bounded as described at k_max_field_bytes.
void split_lines(std::string_view text, std::vector<std::string_view>& out) {
  out.clear();
  auto add = [&](std::string_view part) {
    std::size_t pos = 0;
    while (pos <= part.size()) {
      std::size_t nl = part.find('\n', pos);
      if (nl == std::string_view::npos) nl = part.size();
      std::string_view line = part.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.size() > k_max_line_bytes) line = line.substr(0, k_max_line_bytes);
      if (!line.empty()) out.push_back(line);
      pos = nl + 1;
    }
  };
  if (text.size() <= k_max_field_bytes) {
    add(text);
    return;
  }
  add(text.substr(0, k_max_field_bytes / 2));
  add(text.substr(text.size() - k_max_field_bytes / 2));
}

// The failure's fields, each split into lines once.
class FieldLines {
 public:
  explicit FieldLines(const events::FailureDetected& f) : f_(f) {}
  const std::vector<std::string_view>& lines(Field field) {
    auto& slot = cache_[static_cast<std::size_t>(field)];
    if (!slot) {
      slot.emplace();
      split_lines(text(field), *slot);
    }
    return *slot;
  }
  std::string_view text(Field field) const {
    switch (field) {
      case Field::error_type: return f_.error_type;
      case Field::message: return f_.message;
      case Field::stack_trace: return f_.stack_trace;
      case Field::test_name: return f_.test_name;
      case Field::test_id: return f_.test_id;
      case Field::file: return f_.file;
      case Field::runner: return f_.runner;
      case Field::phase: return f_.phase;
    }
    return {};
  }

 private:
  const events::FailureDetected& f_;
  std::array<std::optional<std::vector<std::string_view>>, k_fields.size()> cache_;
};

bool has_literal(const Condition& c, std::string_view text) {
  if (c.literals.empty()) return true;
  for (const auto& lit : c.literals)
    if (text.find(lit) != std::string_view::npos) return true;
  return false;
}

std::optional<std::string> find(const Condition& c, FieldLines& lines) {
  std::cmatch m;
  for (Field f : c.fields) {
    if (!has_literal(c, lines.text(f))) continue;  // most rules match most failures nowhere
    for (std::string_view line : lines.lines(f))
      if (has_literal(c, line) && std::regex_search(line.data(), line.data() + line.size(), m, c.regex)) {
        std::string s = m.length(0) > 0 ? m.str(0) : std::string(line);
        if (s.size() > k_max_evidence_bytes) s = s.substr(0, k_max_evidence_bytes) + "...";
        return s;
      }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> required_literals(std::string_view p) {
  // Top-level alternatives, split at '|' outside groups and classes.
  std::vector<std::string_view> branches;
  int depth = 0;
  bool in_class = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char ch = p[i];
    if (ch == '\\') {
      ++i;
      continue;
    }
    if (in_class) {
      in_class = ch != ']';
      continue;
    }
    if (ch == '[') in_class = true;
    else if (ch == '(') ++depth;
    else if (ch == ')') --depth;
    else if (ch == '|' && depth == 0) {
      branches.push_back(p.substr(start, i - start));
      start = i + 1;
    }
  }
  branches.push_back(p.substr(start));
  std::vector<std::string> out;
  for (std::string_view b : branches) {
    std::string best, run;
    auto end_run = [&] {
      if (run.size() > best.size()) best = run;
      run.clear();
    };
    for (std::size_t i = 0; i < b.size(); ++i) {
      const char ch = b[i];
      if (ch == '\\' && i + 1 < b.size()) {
        const char e = b[++i];
        if (std::isalnum(static_cast<unsigned char>(e))) end_run();  // \w \d \s \b \n \x41 ...: not a plain literal
        else run.push_back(e);                                       // \. \( \' ...: the character itself
        continue;
      }
      switch (ch) {
        case '(': {  // a group: skip it whole
          end_run();
          int d = 0;
          bool cls = false;
          for (; i < b.size(); ++i) {
            if (b[i] == '\\') { ++i; continue; }
            if (cls) { cls = b[i] != ']'; continue; }
            if (b[i] == '[') cls = true;
            else if (b[i] == '(') ++d;
            else if (b[i] == ')' && --d == 0) break;
          }
          break;
        }
        case '[': {  // a class: skip it
          end_run();
          if (i + 1 < b.size() && b[i + 1] == '^') ++i;
          if (i + 1 < b.size() && b[i + 1] == ']') ++i;
          while (i + 1 < b.size() && b[i + 1] != ']') i += b[i + 1] == '\\' ? 2 : 1;
          ++i;
          break;
        }
        case '*': case '?': case '{':  // the atom before may be absent: it is not required
          if (!run.empty()) run.pop_back();
          end_run();
          if (ch == '{')
            while (i < b.size() && b[i] != '}') ++i;
          break;
        case '+':  // at least once: what came before stays required, but the run ends
          end_run();
          break;
        case '.': case '^': case '$':
          end_run();
          break;
        default:
          run.push_back(ch);
      }
    }
    end_run();
    if (best.empty()) return {};  // this alternative can match without any literal
    out.push_back(best);
  }
  return out;
}

const std::vector<std::string>& rule_categories() {
  static const std::vector<std::string> k{"missing_dependency", "type_error", "logic_bug", "stale_mock",
                                          "env_mismatch", "flaky"};
  return k;
}

Result<std::vector<Rule>> parse_rules(std::string_view toml, std::string_view origin) {
  auto doc = parse_toml(toml, origin);
  if (!doc) return doc.status();
  return rules_from(*doc, origin);
}

Result<Settings> parse_settings(std::string_view toml) {
  constexpr std::string_view origin = "fixhost.toml [plugins.classifier]";
  Settings s;
  auto doc = parse_toml(toml, origin);
  if (!doc) return doc.status();
  for (auto&& [key, value] : *doc) {
    const std::string_view k = key.str();
    if (k == "rules") continue;
    if (k == "replace_defaults") {
      auto b = value.value<bool>();
      if (!b) return invalid(std::string(origin) + ": replace_defaults must be true or false");
      s.replace_defaults = *b;
    } else if (k == "disable") {
      auto ids = string_list(value, std::string(origin) + ": disable");
      if (!ids) return ids.status();
      s.disable = std::move(*ids);
    } else {
      return invalid(std::string(origin) + " has unknown key '" + std::string(k) +
                     "'; allowed: rules, replace_defaults, disable");
    }
  }
  auto rules = rules_from(*doc, origin);
  if (!rules) return rules.status();
  s.rules = std::move(*rules);
  return s;
}

Result<std::vector<Rule>> effective_rules(Settings settings, std::vector<Rule> shipped) {
  std::set<std::string> drop(settings.disable.begin(), settings.disable.end());
  for (const auto& id : settings.disable)
    if (std::none_of(shipped.begin(), shipped.end(), [&](const Rule& r) { return r.id == id; }))
      return invalid("fixhost.toml [plugins.classifier]: disable names '" + id +
                     "', which is not a shipped rule; check the id against docs/DETECT.md#categories");
  for (const auto& r : settings.rules) drop.insert(r.id);
  std::vector<Rule> out = std::move(settings.rules);
  if (!settings.replace_defaults)
    for (auto& r : shipped)
      if (!drop.count(r.id)) out.push_back(std::move(r));
  return out;
}

events::FailureClassified classify(const events::FailureDetected& failure, const std::vector<Rule>& rules) {
  events::FailureClassified out;
  out.test_id = failure.test_id;
  out.category = "unknown";
  FieldLines lines(failure);

  struct Hit {
    const Rule* rule;
    std::size_t order;
    events::Evidence evidence;
  };
  std::vector<Hit> hits;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (!r.runners.empty() && std::find(r.runners.begin(), r.runners.end(), failure.runner) == r.runners.end()) continue;
    auto matched = find(r.match, lines);
    if (!matched) continue;
    bool all = true;
    for (const auto& c : r.also) {
      auto m = find(c, lines);
      if (!m) {
        all = false;
        break;
      }
      *matched += " | " + *m;
    }
    if (all) hits.push_back({&r, i, events::Evidence{r.id, r.match.pattern, std::move(*matched)}});
  }
  if (hits.empty()) return out;

  // Best rule per category: highest weight, then earliest.
  std::map<std::string, const Hit*> best;
  for (const auto& h : hits) {
    auto [it, fresh] = best.emplace(h.rule->category, &h);
    if (!fresh && h.rule->weight > it->second->rule->weight) it->second = &h;
  }
  const Hit* winner = nullptr;
  for (const auto& [cat, h] : best)
    if (!winner || h->rule->weight > winner->rule->weight ||
        (h->rule->weight == winner->rule->weight && h->order < winner->order))
      winner = h;

  out.category = winner->rule->category;
  out.confidence = winner->rule->weight;
  std::vector<const Hit*> same;
  for (const auto& h : hits)
    if (h.rule->category == out.category) same.push_back(&h);
  std::stable_sort(same.begin(), same.end(), [](const Hit* a, const Hit* b) { return a->rule->weight > b->rule->weight; });
  for (const Hit* h : same) out.evidence.push_back(h->evidence);
  return out;
}

}  // namespace fixhost::classifier
