#include "triage.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <toml++/toml.h>

#include "fixhost_triage_rules.hpp"  // generated: k_shipped_triage_rules_toml

namespace fixhost::sentry_triage {
namespace {

constexpr std::string_view k_origin_shipped = "sentry_triage's shipped rules.toml";
constexpr std::string_view k_origin_config = "fixhost.toml [plugins.sentry_triage]";
const std::set<std::string, std::less<>> k_fields{"level", "exception_type", "message", "path", "culprit", "http_status",
                                                   "handled", "url", "tags", "mechanism"};

Status invalid(std::string m) { return Status(Errc::invalid_argument, std::move(m)); }

Result<std::vector<std::string>> strings(const toml::node& n, const std::string& where) {
  std::vector<std::string> out;
  if (auto s = n.value<std::string>()) {
    out.push_back(*s);
    return out;
  }
  const toml::array* a = n.as_array();
  if (!a) return invalid(where + " must be a list of strings, e.g. [\"vendor/**\"]");
  for (const auto& e : *a) {
    auto s = e.value<std::string>();
    if (!s) return invalid(where + " must be a list of strings, e.g. [\"vendor/**\"]");
    out.push_back(*s);
  }
  return out;
}

Result<Rule> rule_from(const toml::table& t, const std::string& kind, std::string_view origin, std::size_t index) {
  Rule r;
  r.kind = kind;
  const std::string where = std::string(origin) + " [[" + kind + "]] #" + std::to_string(index + 1);
  bool ignore_case = false;
  for (auto&& [key, value] : t) {
    const std::string_view k = key.str();
    if (k == "id" || k == "severity" || k == "reason" || k == "regex" || k == "note") {
      auto s = value.value<std::string>();
      if (!s) return invalid(where + ": " + std::string(k) + " must be a string");
      if (k == "id") r.id = *s;
      else if (k == "severity") r.severity = *s;
      else if (k == "reason") r.reason = *s;
      else if (k == "regex") r.pattern = *s;
    } else if (k == "fields") {
      auto f = strings(value, where + ": fields");
      if (!f) return f.status();
      r.fields = std::move(*f);
    } else if (k == "ignore_case" || k == "in_app") {
      auto b = value.value<bool>();
      if (!b) return invalid(where + ": " + std::string(k) + " must be true or false");
      (k == "ignore_case" ? ignore_case : r.in_app_only) = *b;
    } else {
      return invalid(where + " has unknown key '" + std::string(k) +
                     "'; allowed: id, fields, regex, ignore_case, in_app, reason, severity, note");
    }
  }
  if (r.id.empty()) return invalid(where + " has no id; give it one, e.g. id = \"my.rule\"");
  if (r.fields.empty()) return invalid(where + " (" + r.id + ") has no fields; e.g. fields = [\"message\"]");
  for (const auto& f : r.fields)
    if (!k_fields.count(f))
      return invalid(where + " (" + r.id + ") names field '" + f +
                     "'; allowed: level, exception_type, message, path, culprit, http_status, handled, url, tags, mechanism");
  if (kind == "severity" && r.severity != "P0" && r.severity != "P1" && r.severity != "P2")
    return invalid(where + " (" + r.id + "): severity must be \"P0\", \"P1\" or \"P2\"");
  try {
    auto flags = std::regex::ECMAScript | std::regex::optimize;
    if (ignore_case) flags |= std::regex::icase;
    r.regex = std::regex(r.pattern, flags);
  } catch (const std::regex_error& e) {
    return invalid(where + " (" + r.id + "): regex '" + r.pattern + "' does not compile: " + e.what());
  }
  if (r.reason.empty()) r.reason = r.id;
  return r;
}

struct Parsed {
  std::vector<Rule> severity, exclude, protect;
  std::map<std::string, std::uint32_t> weights;
  std::vector<std::string> disable, exclude_paths;
  bool replace_defaults = false;
};

Result<Parsed> parse(std::string_view text, std::string_view origin, bool user) {
  Parsed p;
  toml::table doc;
  try {
    doc = toml::parse(text, std::string(origin));
  } catch (const toml::parse_error& e) {
    return invalid(std::string(origin) + " is not valid TOML: " + std::string(e.description()));
  }
  for (auto&& [key, value] : doc) {
    const std::string k(key.str());
    if (k == "severity" || k == "exclude" || k == "protect") {
      const toml::array* a = value.as_array();
      if (!a) return invalid(std::string(origin) + ": " + k + " must be an array of tables ([[" + k + "]])");
      auto& out = k == "severity" ? p.severity : k == "exclude" ? p.exclude : p.protect;
      for (std::size_t i = 0; i < a->size(); ++i) {
        const toml::table* t = (*a)[i].as_table();
        if (!t) return invalid(std::string(origin) + ": each " + k + " entry must be a table ([[" + k + "]])");
        auto r = rule_from(*t, k, origin, i);
        if (!r) return r.status();
        out.push_back(std::move(*r));
      }
    } else if (k == "weights") {
      const toml::table* t = value.as_table();
      if (!t) return invalid(std::string(origin) + ": weights must be a table, e.g. [weights] P0 = 10");
      for (auto&& [wk, wv] : *t) {
        auto w = wv.value<std::int64_t>();
        const std::string name(wk.str());
        if ((name != "P0" && name != "P1" && name != "P2") || !w || *w < 0)
          return invalid(std::string(origin) + ": weights." + name +
                         " must be one of P0, P1, P2 with a non-negative integer, e.g. P1 = 3");
        p.weights[name] = static_cast<std::uint32_t>(*w);
      }
    } else if (user && k == "disable") {
      auto d = strings(value, std::string(origin) + ": disable");
      if (!d) return d.status();
      p.disable = std::move(*d);
    } else if (user && k == "exclude_paths") {
      auto d = strings(value, std::string(origin) + ": exclude_paths");
      if (!d) return d.status();
      p.exclude_paths = std::move(*d);
    } else if (user && k == "replace_defaults") {
      auto b = value.value<bool>();
      if (!b) return invalid(std::string(origin) + ": replace_defaults must be true or false");
      p.replace_defaults = *b;
    } else {
      return invalid(std::string(origin) + " has unknown key '" + k +
                     "'; allowed: severity, exclude, protect, weights, disable, exclude_paths, replace_defaults");
    }
  }
  return p;
}

std::vector<Rule> merge(std::vector<Rule> mine, std::vector<Rule> shipped, const std::set<std::string>& drop,
                        bool replace) {
  std::set<std::string> replaced = drop;
  for (const auto& r : mine) replaced.insert(r.id);
  if (!replace)
    for (auto& r : shipped)
      if (!replaced.count(r.id)) mine.push_back(std::move(r));
  return mine;
}

std::string_view trim_view(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string trim(std::string_view s) { return std::string(trim_view(s)); }

// Function names as Sentry's grouping sees them: no addresses, no generated numbering
// (`<lambda_3>`, `lambda$12`, `anonymous function 2`), no trailing `()`.
std::string normalise_function(std::string_view f) {
  std::string out;
  out.reserve(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '0' && i + 1 < f.size() && (f[i + 1] == 'x' || f[i + 1] == 'X')) {
      i += 2;
      while (i < f.size() && std::isxdigit(static_cast<unsigned char>(f[i]))) ++i;
      --i;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(f[i])) && !out.empty() &&
        (out.back() == '$' || out.back() == '_' || out.back() == ' ' || std::isdigit(static_cast<unsigned char>(out.back()))) &&
        out.find("lambda") != std::string::npos) {
      continue;
    }
    out.push_back(f[i]);
  }
  if (out.size() >= 2 && out.substr(out.size() - 2) == "()") out.resize(out.size() - 2);
  return trim(out);
}

// Messages as a grouping key: numbers and hex ids folded, so "order 41 not found" and
// "order 42 not found" are one group.
std::string normalise_message(std::string_view m) {
  std::string out;
  out.reserve(m.size());
  for (std::size_t i = 0; i < m.size() && out.size() < 512; ++i) {
    if (std::isdigit(static_cast<unsigned char>(m[i]))) {
      while (i + 1 < m.size() && std::isxdigit(static_cast<unsigned char>(m[i + 1]))) ++i;
      out += "<n>";
      continue;
    }
    out.push_back(m[i]);
  }
  return out;
}

// FNV-1a over a key fed piece by piece (the same value as over the pieces joined, without
// building the key).
struct Fnv1a {
  std::uint64_t h = 1469598103934665603ull;
  void add(char c) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  void add(std::string_view s) {
    for (char c : s) add(c);
  }
};

std::string hex16(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = digits[v & 0xf];
    v >>= 4;
  }
  return out;
}

// A frame's part of the key: module, else the lowercased file basename; \x1f; the normalised
// function; and \x1f context line when there is one of at most 120 characters.
void frame_component(const sdk::SentryFrame& f, Fnv1a& key) {
  if (f.module.empty()) {
    const std::string& path = f.filename.empty() ? f.abs_path : f.filename;
    const auto slash = path.find_last_of("/\\");
    for (char c : std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1))
      key.add(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  } else {
    key.add(f.module);
  }
  key.add('\x1f');
  key.add(normalise_function(f.function));
  const std::string_view ctx = trim_view(f.context_line);
  if (!ctx.empty() && ctx.size() <= 120) {  // Sentry ignores context lines longer than 120
    key.add('\x1f');
    key.add(ctx);
  }
}

// The default grouping key, fed into `key`: \x1e separates the parts, \x1f a frame's fields.
void default_key(const sdk::SentryEvent& ev, std::string& method, Fnv1a& key) {
  bool any_in_app = false;
  for (const auto& f : ev.frames) any_in_app = any_in_app || f.in_app;
  if (!ev.frames.empty()) {
    method = any_in_app ? "in_app" : "system";
    key.add(method);
    key.add('\x1e');
    key.add(ev.exception_type);
    for (const auto& f : ev.frames) {
      if (any_in_app && !f.in_app) continue;
      key.add('\x1e');
      frame_component(f, key);
    }
    return;
  }
  if (!ev.exception_type.empty()) {
    method = "exception";
    key.add("exception");
    key.add('\x1e');
    key.add(ev.exception_type);
    key.add('\x1e');
    key.add(normalise_message(ev.exception_value));
    return;
  }
  method = "message";
  key.add("message");
  key.add('\x1e');
  key.add(normalise_message(ev.message.empty() ? ev.title : ev.message));
}

const sdk::SentryFrame* culprit_frame(const sdk::SentryEvent& ev) {
  for (auto it = ev.frames.rbegin(); it != ev.frames.rend(); ++it)
    if (it->in_app) return &*it;
  return ev.frames.empty() ? nullptr : &ev.frames.back();
}

// Each value of a field, one at a time (paths: one per frame and form).
template <class Visit>
bool any_value(const sdk::SentryEvent& ev, const std::string& field, bool in_app_only, const std::string& culprit,
               Visit&& visit) {
  if (field == "level") return visit(ev.level);
  if (field == "exception_type") return visit(ev.exception_type);
  if (field == "message") return visit(ev.exception_value) || visit(ev.message);
  if (field == "culprit") return visit(culprit);
  if (field == "http_status") return visit(ev.http_status);
  if (field == "mechanism") return visit(ev.mechanism);
  if (field == "handled") return visit(std::string(ev.handled == 1 ? "true" : ev.handled == 0 ? "false" : "unknown"));
  if (field == "url") return visit(ev.request_url) || visit(ev.transaction);
  if (field == "tags") {
    for (const auto& [k, v] : ev.tags)
      if (visit(k + "=" + v)) return true;
    return false;
  }
  if (field == "path") {
    for (const auto& f : ev.frames) {
      if (in_app_only && !f.in_app) continue;
      if (visit(f.filename) || visit(f.abs_path) || visit(f.module)) return true;
    }
  }
  return false;
}

const Rule* first_match(const std::vector<Rule>& rules, const sdk::SentryEvent& ev, const std::string& culprit,
                        std::string& matched) {
  for (const Rule& r : rules) {
    for (const auto& field : r.fields) {
      bool hit = any_value(ev, field, r.in_app_only, culprit, [&](const std::string& v) {
        if (v.empty() && field != "level") return false;
        if (!r.search(v)) return false;
        matched = field + " '" + (v.size() > 80 ? v.substr(0, 80) + "..." : v) + "'";
        return true;
      });
      if (hit) return &r;
    }
  }
  return nullptr;
}

bool glob_match(const std::string& glob, std::string_view path) {
  if (path.empty()) return false;
  // `**` and `*` both cross directories (fnmatch without FNM_PATHNAME); a glob matches the path
  // or any tail of it that starts after a '/', so "vendor/**" matches "/srv/app/vendor/x.py".
  std::string g = glob;
  for (std::size_t at; (at = g.find("**")) != std::string::npos;) g.replace(at, 2, "*");
  std::string p(path);
  if (fnmatch(g.c_str(), p.c_str(), 0) == 0) return true;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] == '/' && fnmatch(g.c_str(), p.c_str() + i + 1, 0) == 0) return true;
  return false;
}

}  // namespace

Result<Rules> load_rules(std::string_view toml) {
  auto shipped = parse(k_shipped_triage_rules_toml, k_origin_shipped, false);
  if (!shipped) return shipped.status();
  auto mine = parse(toml, k_origin_config, true);
  if (!mine) return mine.status();
  std::set<std::string> drop(mine->disable.begin(), mine->disable.end());
  for (const auto& id : mine->disable) {
    bool known = false;
    for (const auto* list : {&shipped->severity, &shipped->exclude, &shipped->protect})
      for (const auto& r : *list) known = known || r.id == id;
    if (!known)
      return invalid(std::string(k_origin_config) + ": disable names '" + id +
                     "', which is not a shipped rule; see plugins/sentry_triage/rules.toml for the ids");
  }
  Rules out;
  out.severity = merge(std::move(mine->severity), std::move(shipped->severity), drop, mine->replace_defaults);
  out.exclude = merge(std::move(mine->exclude), std::move(shipped->exclude), drop, mine->replace_defaults);
  out.protect = merge(std::move(mine->protect), std::move(shipped->protect), drop, mine->replace_defaults);
  for (const auto& [k, v] : shipped->weights) out.weights[k] = v;
  for (const auto& [k, v] : mine->weights) out.weights[k] = v;
  out.exclude_paths = std::move(mine->exclude_paths);
  return out;
}

Grouping group_of(const sdk::SentryEvent& ev) {
  Grouping g;
  Fnv1a key;
  const bool custom = !ev.fingerprint.empty() && !(ev.fingerprint.size() == 1 && ev.fingerprint[0] == "{{ default }}");
  if (!ev.issue_id.empty()) {
    // Sentry grouped it already (REST API, webhooks): its issue is the group.
    g.method = "sentry_issue";
    key.add("sentry_issue");
    key.add('\x1e');
    key.add(ev.issue_id);
  } else if (custom) {
    g.method = "fingerprint";
    key.add("fingerprint");
    for (const auto& part : ev.fingerprint) {
      key.add('\x1e');
      if (part == "{{ default }}" || part == "{{default}}") {
        std::string unused;
        default_key(ev, unused, key);
      } else {
        key.add(part);
      }
    }
  } else {
    default_key(ev, g.method, key);
  }
  g.group = hex16(key.h);
  return g;
}

sdk::SentryEvent event_of(const events::SentryIssueIngested& in, simdjson::dom::parser& parser) {
  sdk::SentryEvent ev;
  bool read = false;
  if (!in.raw.data.empty() && in.raw.cut_bytes == 0) {
    auto r = parser.parse(in.raw.data.data(), in.raw.data.size(), true);
    if (!r.error() && r.value_unsafe().type() == simdjson::dom::element_type::OBJECT) {
      simdjson::dom::element root = r.value_unsafe();
      // A webhook body wraps the event (data.event, data.error) or the issue (data.issue).
      if (auto data = sdk::sentry_detail::child(root, "data")) {
        for (std::string_view k : {"event", "error", "issue"})
          if (auto inner = sdk::sentry_detail::child(*data, k)) {
            root = *inner;
            break;
          }
      }
      ev = sdk::read_sentry_event(root);
      read = true;
    }
  }
  auto fill = [](std::string& field, const std::string& v) {
    if (field.empty()) field = v;
  };
  if (!read) {
    for (const auto& f : in.frames) {
      sdk::SentryFrame sf;
      sf.filename = f.file;
      sf.lineno = f.line;
      sf.function = f.function;
      sf.in_app = f.in_app;
      ev.frames.push_back(std::move(sf));
    }
    if (!in.fingerprint.empty()) ev.fingerprint.push_back(in.fingerprint);
  }
  fill(ev.event_id, in.event_id);
  fill(ev.issue_id, in.issue_id);
  fill(ev.title, in.title);
  fill(ev.culprit, in.culprit);
  if (!read || ev.level.empty()) ev.level = in.level.empty() ? "error" : in.level;
  fill(ev.release, in.release);
  fill(ev.environment, in.environment);
  fill(ev.exception_type, in.exception_type);
  fill(ev.exception_value, in.exception_value);
  fill(ev.user, in.user);
  return ev;
}

namespace {
void verdict_key(const sdk::SentryEvent& ev, const std::string& culprit, std::string& key);
void decide(const sdk::SentryEvent& ev, const Rules& rules, const sdk::SentryFrame* cf, events::IssueTriaged& out);
}  // namespace

events::IssueTriaged triage(const events::SentryIssueIngested& in, sdk::SentryEvent ev, const Rules& rules) {
  events::IssueTriaged out;
  Grouping g = group_of(ev);
  // Fields the rules do not read are moved into the verdict.
  if (ev.issue_id.empty()) out.issue_id = g.group;
  else out.issue_id = std::move(ev.issue_id);
  out.group = std::move(g.group);
  out.grouping = std::move(g.method);
  if (ev.title.empty()) out.title = in.title;
  else out.title = std::move(ev.title);
  out.level = ev.level;
  out.event_id = std::move(ev.event_id);
  out.user = std::move(ev.user);
  out.release = std::move(ev.release);
  out.environment = std::move(ev.environment);
  out.frequency = in.count == 0 ? 1 : in.count;
  const sdk::SentryFrame* cf = culprit_frame(ev);
  if (cf) {
    const std::string& file = cf->filename.empty() ? cf->abs_path : cf->filename;
    out.culprit.reserve(file.size() + 21);
    out.culprit += file;
    out.culprit += ':';
    out.culprit += std::to_string(cf->lineno);
  } else {
    out.culprit = ev.culprit;
  }

  // The rules read only these fields: the same fields, the same verdict (memoised).
  std::string& key = rules.verdict_key_buffer;
  verdict_key(ev, out.culprit, key);
  if (auto it = rules.verdicts.find(key); it != rules.verdicts.end()) {
    const RuleVerdict& v = it->second;
    out.priority = v.priority;
    out.rules = v.rule;
    out.severity = v.weight;
    out.score = static_cast<double>(out.severity) * static_cast<double>(out.frequency);
    out.decision = v.decision;
    out.reason = v.reason;
    return out;
  }
  decide(ev, rules, cf, out);
  if (rules.verdicts.size() >= 65536) rules.verdicts.clear();
  rules.verdicts.emplace(key, RuleVerdict{out.priority, out.rules, out.decision, out.reason, out.severity});
  return out;
}

namespace {

// What decide() reads, each field length-prefixed (so no two inputs make the same key), into
// `key` (cleared first; its capacity is reused from one event to the next).
void verdict_key(const sdk::SentryEvent& ev, const std::string& culprit, std::string& key) {
  key.clear();
  auto put = [&](std::string_view s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n);
    key.append(s);
  };
  for (const std::string* f : {&ev.level, &ev.exception_type, &ev.exception_value, &ev.message, &culprit, &ev.http_status,
                               &ev.mechanism, &ev.request_url, &ev.transaction})
    put(*f);
  key.push_back(static_cast<char>(ev.handled + 2));
  put(std::to_string(ev.tags.size()));
  for (const auto& [k, v] : ev.tags) put(k), put(v);
  put(std::to_string(ev.frames.size()));
  for (const auto& f : ev.frames) {
    put(f.filename);
    put(f.abs_path);
    put(f.module);
    key.push_back(f.in_app ? '1' : '0');
  }
}

}  // namespace

namespace {

void decide(const sdk::SentryEvent& ev, const Rules& rules, const sdk::SentryFrame* cf, events::IssueTriaged& out) {
  std::string matched;
  const Rule* sev = first_match(rules.severity, ev, out.culprit, matched);
  out.priority = sev ? sev->severity : "P2";
  out.rules = sev ? sev->id : "";
  const std::string why = sev ? sev->reason + " (" + matched + ")" : "no severity rule matched";
  auto w = rules.weights.find(out.priority);
  out.severity = w == rules.weights.end() ? 0 : w->second;
  out.score = static_cast<double>(out.severity) * static_cast<double>(out.frequency);

  // Exclusions: frames all outside the app, [heal] exclude globs, infrastructure.
  std::string skip;
  bool any_in_app = false;
  for (const auto& f : ev.frames) any_in_app = any_in_app || f.in_app;
  if (!ev.frames.empty() && !any_in_app) skip = "frames all outside the app (no in-app frame)";
  if (skip.empty() && cf && cf->in_app) {
    for (const auto& glob : rules.exclude_paths)
      if (glob_match(glob, cf->filename) || glob_match(glob, cf->abs_path)) {
        skip = "path " + (cf->filename.empty() ? cf->abs_path : cf->filename) + " matches [heal] exclude '" + glob + "'";
        break;
      }
  }
  if (skip.empty()) {
    std::string m;
    if (const Rule* ex = first_match(rules.exclude, ev, out.culprit, m)) skip = ex->reason + " (" + m + ", rule " + ex->id + ")";
  }
  if (!skip.empty()) {
    out.decision = "skip";
    out.reason = skip;
  } else if (out.priority == "P2") {
    out.decision = "document";
    out.reason = why;
  } else {
    std::string m;
    const Rule* prot = out.priority == "P0" ? first_match(rules.protect, ev, out.culprit, m) : nullptr;
    if (prot) {
      out.decision = "human";
      out.reason = why + "; P0 in protected code: " + prot->reason + " (" + m + "), never fixed automatically";
    } else {
      out.decision = "fix";
      out.reason = why;
    }
  }
}

}  // namespace

}  // namespace fixhost::sentry_triage
