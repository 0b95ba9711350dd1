// build.toml: parsing with toml++ and the validation of docs/BUILD.md ("The manifest").
#include "fixhost/host/build/manifest.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fixhost/sdk/paths.hpp"
#include "text.hpp"

namespace fixhost::host::build {
namespace {

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

// Refusals: "<file>: stream 'x': <key>: <problem>; <fix>".
class Errors {
 public:
  explicit Errors(std::string_view source) : source_(source) {}
  Status at(std::string_view stream, std::string_view key, const std::string& problem) const {
    std::string where = source_ + ": ";
    if (!stream.empty()) where += "stream " + q(stream) + ": ";
    if (!key.empty()) where += std::string(key) + ": ";
    return make_error(Errc::invalid_argument, where + problem);
  }

 private:
  std::string source_;
};

const std::set<std::string_view> k_top_keys = {"feature", "spec", "streams", "integration", "build"};
const std::set<std::string_view> k_stream_keys = {"id",     "role",     "owns",   "shared", "depends_on",
                                                  "agent",  "prompt",   "budget_s", "check"};
const std::set<std::string_view> k_build_keys = {"resolver", "agent", "stream_budget_s", "budget_s", "jobs"};
const std::set<std::string_view> k_integration_keys = {"commands", "contract_check"};

Status unknown_keys(const Errors& err, const toml::table& t, const std::set<std::string_view>& known,
                    std::string_view stream, std::string_view table) {
  for (const auto& [k, v] : t) {
    if (!known.count(k.str())) {
      std::vector<std::string> names(known.begin(), known.end());
      return err.at(stream, std::string(table) + std::string(k.str()),
                    "unknown key; the keys here are " + join(names));
    }
  }
  return Status::ok();
}

Status read_string(const Errors& err, const toml::table& t, std::string_view key, std::string_view stream,
                   std::string& out, std::string_view key_label = "") {
  const toml::node* n = t.get(key);
  if (!n) return Status::ok();
  auto s = n->value<std::string>();
  if (!s) return err.at(stream, key_label.empty() ? key : key_label, "must be a string; write e.g. " +
                                                                          std::string(key) + " = \"...\"");
  out = *s;
  return Status::ok();
}

Status read_strings(const Errors& err, const toml::table& t, std::string_view key, std::string_view stream,
                    std::vector<std::string>& out, std::string_view key_label = "") {
  const toml::node* n = t.get(key);
  if (!n) return Status::ok();
  std::string label(key_label.empty() ? key : key_label);
  const toml::array* a = n->as_array();
  if (!a) return err.at(stream, label, "must be an array of strings; write e.g. " + std::string(key) + " = [\"a\", \"b\"]");
  for (const auto& el : *a) {
    auto s = el.value<std::string>();
    if (!s || s->empty())
      return err.at(stream, label, "every entry must be a non-empty string; write e.g. " + std::string(key) +
                                       " = [\"a\", \"b\"]");
    out.push_back(*s);
  }
  return Status::ok();
}

Status read_int(const Errors& err, const toml::table& t, std::string_view key, std::string_view stream,
                std::int64_t& out, std::int64_t min, std::string_view label) {
  const toml::node* n = t.get(key);
  if (!n) return Status::ok();
  auto v = n->value<std::int64_t>();
  if (!v || *v < min || !n->is_integer())
    return err.at(stream, label, "must be an integer >= " + std::to_string(min) + "; write e.g. " + std::string(key) +
                                     " = 600");
  out = *v;
  return Status::ok();
}

std::string guess_kind(const std::vector<std::string>& argv) {
  std::string all = join(argv, " ");
  auto has = [&](std::string_view w) { return all.find(w) != std::string::npos; };
  if (has("tsc") || has("mypy") || has("pyright")) return "types";
  if (has("lint") || has("flake8") || has("ruff") || has("pylint")) return "lint";
  return "tests";
}

// A path made from a glob: wildcards filled in, so it is matched by the glob itself.
std::string witness(std::string_view glob) {
  std::string out;
  std::string_view g = glob;
  if (g.substr(0, 2) == "./") g.remove_prefix(2);
  if (!g.empty() && g.front() == '/') g.remove_prefix(1);
  for (std::size_t i = 0; i < g.size(); ++i) {
    char c = g[i];
    if (c == '*') {
      while (i + 1 < g.size() && g[i + 1] == '*') ++i;
      out += "x";
    } else if (c == '?') {
      out += "x";
    } else if (c == '[') {
      std::size_t j = i + 1;
      bool neg = j < g.size() && (g[j] == '!' || g[j] == '^');
      if (neg) ++j;
      out += neg ? '~' : (j < g.size() ? g[j] : 'x');
      while (j < g.size() && g[j] != ']') ++j;
      i = j;
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() == '/') out += "x";
  return out;
}

bool glob_matches(std::string_view glob, std::string_view path) {
  auto g = sdk::Glob::compile(glob);
  return g && g->matches(path);
}

Status check_glob(const Errors& err, std::string_view stream, std::string_view key, const std::string& glob) {
  if (glob.find("..") != std::string::npos)
    return err.at(stream, key, q(glob) + " leaves the repository; use paths relative to its root");
  if (glob == ".git" || glob.rfind(".git/", 0) == 0)
    return err.at(stream, key, q(glob) + " is inside .git, which no stream may write");
  auto g = sdk::Glob::compile(glob);
  if (!g) return err.at(stream, key, g.status().message());
  return Status::ok();
}

}  // namespace

const Stream* Manifest::find(std::string_view id) const {
  for (const auto& s : streams)
    if (s.id == id) return &s;
  return nullptr;
}

const Stream* Manifest::contract() const {
  for (const auto& s : streams)
    if (s.is_contract()) return &s;
  return nullptr;
}

std::vector<std::string> Manifest::order() const {
  std::map<std::string, std::size_t> pending;
  for (const auto& s : streams) pending[s.id] = s.depends_on.size();
  std::vector<std::string> out;
  std::set<std::string> done;
  while (out.size() < streams.size()) {
    bool progressed = false;
    const std::set<std::string> before = done;  // one level at a time: ties in manifest order
    for (const auto& s : streams) {
      if (done.count(s.id)) continue;
      bool ready = std::all_of(s.depends_on.begin(), s.depends_on.end(), [&](const auto& d) { return before.count(d) > 0; });
      if (!ready) continue;
      out.push_back(s.id);
      done.insert(s.id);
      progressed = true;
    }
    if (!progressed) break;  // a cycle; parse_manifest refuses those
  }
  return out;
}

bool globs_overlap(std::string_view a, std::string_view b, const std::vector<std::string>& files) {
  if (a == b) return true;
  if (glob_matches(a, witness(b)) || glob_matches(b, witness(a))) return true;
  for (const auto& f : files)
    if (glob_matches(a, f) && glob_matches(b, f)) return true;
  return false;
}

bool may_write(const Manifest& m, const Stream& stream, std::string_view path) {
  auto any = [&](const std::vector<std::string>& globs) {
    return std::any_of(globs.begin(), globs.end(), [&](const auto& g) { return glob_matches(g, path); });
  };
  if (!any(stream.owns) && !any(stream.shared)) return false;
  if (stream.is_contract()) return true;
  const Stream* c = m.contract();
  if (c && c->id != stream.id && any(c->owns)) return false;
  return true;
}

const Stream* owner_of(const Manifest& m, std::string_view path) {
  auto owns = [&](const Stream& s) {
    return std::any_of(s.owns.begin(), s.owns.end(), [&](const auto& g) { return glob_matches(g, path); });
  };
  if (const Stream* c = m.contract(); c && owns(*c)) return c;
  for (const auto& s : m.streams)
    if (owns(s)) return &s;
  for (const auto& s : m.streams)
    for (const auto& g : s.shared)
      if (glob_matches(g, path)) return &s;
  return nullptr;
}

Result<Manifest> parse_manifest(std::string_view text, std::string_view source, std::string_view default_agent) {
  Errors err(source);
  Manifest m;
  m.source = std::string(source);
  // TOML is text: a control character other than tab, newline and carriage return is never valid
  // (toml++'s own checks assert on some, e.g. a NUL inside a table header).
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      return make_error(Errc::invalid_argument, std::string(source) + ": control character 0x" +
                                                    "0123456789abcdef"[c >> 4] + "0123456789abcdef"[c & 15] +
                                                    " at byte " + std::to_string(i) +
                                                    "; a manifest is UTF-8 text (escape it inside a string)");
  }
  toml::table t;
  try {
    t = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description()
       << "; fix the TOML syntax there";
    return make_error(Errc::invalid_argument, os.str());
  }
  if (auto s = unknown_keys(err, t, k_top_keys, "", ""); !s) return s;
  if (auto s = read_string(err, t, "feature", "", m.feature); !s) return s;
  if (auto s = read_string(err, t, "spec", "", m.spec); !s) return s;
  if (m.feature.empty()) return err.at("", "feature", "missing; name the feature, e.g. feature = \"order history page\"");

  std::string build_agent;
  if (const toml::node* bn = t.get("build")) {
    const toml::table* b = bn->as_table();
    if (!b) return err.at("", "build", "must be a table: [build]");
    if (auto s = unknown_keys(err, *b, k_build_keys, "", "build."); !s) return s;
    if (const toml::node* rn = b->get("resolver"); rn && rn->is_array()) {
      // An argv array is the same command as a string for /bin/sh -c, each word quoted.
      std::vector<std::string> argv;
      if (auto s = read_strings(err, *b, "resolver", "", argv, "build.resolver"); !s) return s;
      for (const auto& a : argv) {
        std::string quoted = "'";
        for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        m.resolver += (m.resolver.empty() ? "" : " ") + quoted + "'";
      }
    } else if (auto s = read_string(err, *b, "resolver", "", m.resolver, "build.resolver"); !s) {
      return err.at("", "build.resolver", "must be a command, as a string (run with /bin/sh -c, like a stream's agent) "
                                          "or an argv array; write e.g. resolver = \"python3 resolve.py\"");
    }
    if (auto s = read_string(err, *b, "agent", "", build_agent, "build.agent"); !s) return s;
    if (auto s = read_int(err, *b, "stream_budget_s", "", m.stream_budget_s, 1, "build.stream_budget_s"); !s) return s;
    if (auto s = read_int(err, *b, "budget_s", "", m.budget_s, 1, "build.budget_s"); !s) return s;
    std::int64_t jobs = 0;
    if (auto s = read_int(err, *b, "jobs", "", jobs, 0, "build.jobs"); !s) return s;
    m.jobs = static_cast<std::uint32_t>(jobs);
  }

  const toml::node* sn = t.get("streams");
  if (!sn) return err.at("", "streams", "missing; add at least one [[streams]] table with id, owns and agent");
  const toml::array* arr = sn->as_array();
  if (!arr || arr->empty() || !arr->is_array_of_tables())
    return err.at("", "streams", "must be an array of tables: write each stream as [[streams]]");
  std::size_t index = 0;
  for (const auto& el : *arr) {
    ++index;
    const toml::table& st = *el.as_table();
    Stream s;
    std::string label = "#" + std::to_string(index);
    if (auto r = read_string(err, st, "id", label, s.id); !r) return r;
    if (s.id.empty()) return err.at(label, "id", "missing; give every stream an id, e.g. id = \"backend\"");
    for (char c : s.id)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
        return err.at(s.id, "id", "use letters, digits, '-' and '_' only (it names a git branch)");
    if (m.find(s.id)) return err.at(s.id, "id", "two streams have this id; give each a different one");
    if (auto r = unknown_keys(err, st, k_stream_keys, s.id, ""); !r) return r;
    if (auto r = read_string(err, st, "role", s.id, s.role); !r) return r;
    if (s.role.empty()) s.role = s.id;
    if (auto r = read_strings(err, st, "owns", s.id, s.owns); !r) return r;
    if (auto r = read_strings(err, st, "shared", s.id, s.shared); !r) return r;
    if (auto r = read_strings(err, st, "depends_on", s.id, s.depends_on); !r) return r;
    if (auto r = read_string(err, st, "agent", s.id, s.agent); !r) return r;
    if (auto r = read_string(err, st, "prompt", s.id, s.prompt); !r) return r;
    s.budget_s = m.stream_budget_s;
    if (auto r = read_int(err, st, "budget_s", s.id, s.budget_s, 1, "budget_s"); !r) return r;
    if (const toml::node* cn = st.get("check")) {
      const toml::table* ct = cn->as_table();
      if (!ct) return err.at(s.id, "check", "must be a table: [streams.check] with command = [\"...\"]");
      if (auto r = unknown_keys(err, *ct, {"command"}, s.id, "check."); !r) return r;
      if (auto r = read_strings(err, *ct, "command", s.id, s.check, "check.command"); !r) return r;
      if (s.check.empty()) return err.at(s.id, "check.command", "missing; write command = [\"python3\", \"-m\", \"pytest\"]");
    }
    if (s.owns.empty())
      return err.at(s.id, "owns", "missing or empty; list the globs this stream may write, e.g. owns = [\"backend/**\"]");
    for (const auto& g : s.owns)
      if (auto r = check_glob(err, s.id, "owns", g); !r) return r;
    for (const auto& g : s.shared)
      if (auto r = check_glob(err, s.id, "shared", g); !r) return r;
    if (s.agent.empty()) s.agent = build_agent.empty() ? std::string(default_agent) : build_agent;
    if (s.agent.empty())
      return err.at(s.id, "agent", "missing; set agent = \"CMD\" on the stream, in [build] agent, or pass --agent");
    m.streams.push_back(std::move(s));
  }
  if (std::count_if(m.streams.begin(), m.streams.end(), [](const auto& s) { return s.is_contract(); }) > 1)
    return err.at("", "role", "more than one stream has role \"contract\"; one stream defines the contract");

  std::vector<std::string> ids;
  for (const auto& s : m.streams) ids.push_back(s.id);
  for (const auto& s : m.streams) {
    for (const auto& d : s.depends_on) {
      if (d == s.id) return err.at(s.id, "depends_on", "a stream cannot depend on itself");
      if (!m.find(d)) return err.at(s.id, "depends_on", "unknown stream " + q(d) + "; the streams are " + join(ids));
    }
  }
  if (auto ord = m.order(); ord.size() < m.streams.size()) {
    // Name the streams on the cycle: those never ready, following depends_on from the first.
    std::set<std::string> done(ord.begin(), ord.end());
    const Stream* cur = nullptr;
    for (const auto& s : m.streams)
      if (!done.count(s.id)) { cur = &s; break; }
    std::vector<std::string> path;
    std::set<std::string> seen;
    while (cur && !seen.count(cur->id)) {
      seen.insert(cur->id);
      path.push_back(cur->id);
      const Stream* next = nullptr;
      for (const auto& d : cur->depends_on)
        if (!done.count(d)) { next = m.find(d); break; }
      cur = next;
    }
    if (cur) {
      auto it = std::find(path.begin(), path.end(), cur->id);
      std::vector<std::string> cycle(it, path.end());
      cycle.push_back(cur->id);
      return err.at(cycle.front(), "depends_on", "dependency cycle " + join(cycle, " -> ") +
                                                      "; remove one of these dependencies");
    }
    return err.at("", "depends_on", "dependency cycle; remove one of the dependencies");
  }

  // Ownership: two streams may not own the same path, unless the contract stream owns it (it
  // wins) or both list it in `shared`.
  for (std::size_t i = 0; i < m.streams.size(); ++i) {
    for (std::size_t j = i + 1; j < m.streams.size(); ++j) {
      const Stream& a = m.streams[i];
      const Stream& b = m.streams[j];
      if (a.is_contract() || b.is_contract()) continue;
      for (const auto& ga : a.owns) {
        for (const auto& gb : b.owns) {
          if (globs_overlap(ga, gb))
            return err.at(b.id, "owns", q(gb) + " overlaps " + q(ga) + " of stream " + q(a.id) +
                                            "; give each path one owner, or list it in `shared` of both");
        }
        for (const auto& gb : b.shared)
          if (globs_overlap(ga, gb))
            return err.at(b.id, "shared", q(gb) + " is owned by stream " + q(a.id) + " (" + q(ga) +
                                              "); list it in `shared` of " + q(a.id) + " too, not in its owns");
      }
      for (const auto& ga : a.shared)
        for (const auto& gb : b.owns)
          if (globs_overlap(ga, gb))
            return err.at(a.id, "shared", q(ga) + " is owned by stream " + q(b.id) + " (" + q(gb) +
                                              "); list it in `shared` of " + q(b.id) + " too, not in its owns");
    }
  }

  if (const toml::node* in = t.get("integration")) {
    const toml::table* it = in->as_table();
    if (!it) return err.at("", "integration", "must be a table: [integration]");
    if (auto r = unknown_keys(err, *it, k_integration_keys, "", "integration."); !r) return r;
    if (auto r = read_strings(err, *it, "contract_check", "", m.contract_check, "integration.contract_check"); !r) return r;
    if (const toml::node* cn = it->get("commands")) {
      const toml::array* ca = cn->as_array();
      if (!ca) return err.at("", "integration.commands", "must be an array of commands, e.g. [[\"python3\", \"-m\", \"pytest\"]]");
      std::size_t k = 0;
      for (const auto& c : *ca) {
        ++k;
        std::string label = "integration.commands[" + std::to_string(k) + "]";
        IntegrationCommand cmd;
        if (const toml::array* argv = c.as_array()) {
          for (const auto& a : *argv) {
            auto s = a.value<std::string>();
            if (!s) return err.at("", label, "every argument must be a string");
            cmd.argv.push_back(*s);
          }
        } else if (const toml::table* ct = c.as_table()) {
          if (auto r = unknown_keys(err, *ct, {"kind", "run"}, "", label + "."); !r) return r;
          if (auto r = read_string(err, *ct, "kind", "", cmd.kind, label + ".kind"); !r) return r;
          if (auto r = read_strings(err, *ct, "run", "", cmd.argv, label + ".run"); !r) return r;
          if (!cmd.kind.empty() && cmd.kind != "tests" && cmd.kind != "lint" && cmd.kind != "types")
            return err.at("", label + ".kind", q(cmd.kind) + " is not one of tests, lint, types");
        } else {
          return err.at("", label, "must be an argv array [\"cmd\", \"arg\"] or a table {kind = \"types\", run = [...]}");
        }
        if (cmd.argv.empty()) return err.at("", label, "is empty; give the command to run");
        if (cmd.kind.empty()) cmd.kind = guess_kind(cmd.argv);
        m.commands.push_back(std::move(cmd));
      }
    }
  }
  if (!m.contract_check.empty() && !m.contract())
    return err.at("", "integration.contract_check", "set, but no stream has role \"contract\"; add one or drop the check");
  return m;
}

Result<Manifest> read_manifest(const std::filesystem::path& file, std::string_view default_agent) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return make_error(Errc::not_found, "cannot read manifest " + q(file.string()) +
                                           "; write one (hostctl build --template api-endpoint --feature \"...\") or pass --manifest FILE");
  std::ostringstream os;
  os << in.rdbuf();
  return parse_manifest(os.str(), file.string(), default_agent);
}

std::string to_toml(const Manifest& m) {
  auto strs = [](const std::vector<std::string>& v) {
    toml::array a;
    for (const auto& s : v) a.push_back(s);
    return a;
  };
  toml::table t;
  t.insert("feature", m.feature);
  if (!m.spec.empty()) t.insert("spec", m.spec);
  toml::table b;
  if (!m.resolver.empty()) b.insert("resolver", m.resolver);
  b.insert("stream_budget_s", m.stream_budget_s);
  b.insert("budget_s", m.budget_s);
  if (m.jobs) b.insert("jobs", static_cast<std::int64_t>(m.jobs));
  t.insert("build", b);
  toml::array streams;
  for (const auto& s : m.streams) {
    toml::table st;
    st.insert("id", s.id);
    st.insert("role", s.role);
    st.insert("owns", strs(s.owns));
    if (!s.shared.empty()) st.insert("shared", strs(s.shared));
    if (!s.depends_on.empty()) st.insert("depends_on", strs(s.depends_on));
    st.insert("agent", s.agent);
    if (!s.prompt.empty()) st.insert("prompt", s.prompt);
    st.insert("budget_s", s.budget_s);
    if (!s.check.empty()) {
      toml::table c;
      c.insert("command", strs(s.check));
      st.insert("check", c);
    }
    streams.push_back(st);
  }
  t.insert("streams", streams);
  toml::table in;
  toml::array cmds;
  for (const auto& c : m.commands) {
    toml::table ct;
    ct.insert("kind", c.kind);
    ct.insert("run", strs(c.argv));
    cmds.push_back(ct);
  }
  in.insert("commands", cmds);
  if (!m.contract_check.empty()) in.insert("contract_check", strs(m.contract_check));
  t.insert("integration", in);
  std::ostringstream os;
  os << t << "\n";
  return os.str();
}

std::vector<std::string> template_names() { return {"api-endpoint", "ui-feature", "data-model"}; }

Result<std::string> render_template(const std::filesystem::path& dir, std::string_view name, std::string_view feature) {
  auto names = template_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    return make_error(Errc::not_found, "no build template " + q(name) + "; the templates are " + join(names));
  auto file = dir / (std::string(name) + ".toml");
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read template " + q(file.string()) + "; is fixhost's examples/build/ there?");
  std::ostringstream os;
  os << in.rdbuf();
  std::string text = os.str();
  // The feature goes in as a TOML basic string.
  std::ostringstream quoted;
  quoted << toml::value<std::string>(std::string(feature));
  const std::string marker = "\"{{feature}}\"";
  for (std::size_t at; (at = text.find(marker)) != std::string::npos;) text.replace(at, marker.size(), quoted.str());
  return text;
}

}  // namespace fixhost::host::build
