// Import scanning for the orderer: a line-level reader of Python `import`/`from` statements and
// JS `require`/`import`/`export from` specifiers, resolved to files of the repository.
#include "fixhost/host/world/source_scan.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fixhost::host {
namespace fs = std::filesystem;
namespace {

const std::set<std::string, std::less<>> k_skip_dirs = {
    "node_modules", "__pycache__", "venv", ".venv", "env", "build", "dist", "site-packages", "coverage"};
const std::set<std::string, std::less<>> k_js_ext = {".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs"};

std::string read_head(const fs::path& p, std::size_t max_bytes) {
  std::ifstream in(p, std::ios::binary);
  std::string s(max_bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max_bytes));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) pos = s.size();
    out.push_back(trim(s.substr(start, pos - start)));
    start = pos + 1;
  }
  return out;
}

std::string first_word(const std::string& s) {
  const auto sp = s.find_first_of(" \t");
  return sp == std::string::npos ? s : s.substr(0, sp);
}

// --- Python -------------------------------------------------------------------------------------

struct PyImport {
  int level = 0;            // leading dots of a relative import
  std::string module;       // dotted, may be empty for "from . import x"
  std::vector<std::string> names;  // what a from-import brings in (may be submodules)
};

// The code of a Python file without its comments and the contents of its string literals
// (docstrings included), newlines kept: an `import` written in a docstring or a comment is
// prose, not an import. A literal becomes an empty "" so statements keep their shape.
std::string python_code_only(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c != '\'' && c != '"') {
      out.push_back(c);
      ++i;
      continue;
    }
    const bool triple = i + 2 < text.size() && text[i + 1] == c && text[i + 2] == c;
    const std::size_t q = triple ? 3 : 1;
    i += q;
    out += "\"\"";
    while (i < text.size()) {
      if (text[i] == '\\') {
        i += 2;
        continue;
      }
      if (text[i] == '\n') {
        if (!triple) break;  // an unterminated one-line string ends at the line
        out.push_back('\n');
      }
      if (text[i] == c && (!triple || (i + 2 < text.size() && text[i + 1] == c && text[i + 2] == c))) {
        i += q;
        break;
      }
      ++i;
    }
  }
  return out;
}

// Logical lines: joins parenthesised continuations and backslashes, drops comments.
std::vector<std::string> python_statements(const std::string& raw) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  const std::string text = python_code_only(raw);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    bool cont = !line.empty() && line.back() == '\\';
    if (cont) line.pop_back();
    for (char c : line) depth += (c == '(') - (c == ')');
    cur += line;
    cur += ' ';
    if (depth <= 0 && !cont) {
      out.push_back(trim(cur));
      cur.clear();
      depth = 0;
    }
  }
  if (!cur.empty()) out.push_back(trim(cur));
  return out;
}

std::vector<PyImport> python_imports(const std::string& text) {
  std::vector<PyImport> out;
  for (auto stmt : python_statements(text)) {
    for (auto part : split(stmt, ';')) {
      if (part.rfind("import ", 0) == 0) {
        for (auto item : split(std::string_view(part).substr(7), ',')) {
          PyImport imp;
          imp.module = first_word(item);
          if (!imp.module.empty()) out.push_back(imp);
        }
      } else if (part.rfind("from ", 0) == 0) {
        const auto at = part.find(" import ");
        if (at == std::string::npos) continue;
        PyImport imp;
        std::string mod = trim(std::string_view(part).substr(5, at - 5));
        while (!mod.empty() && mod.front() == '.') {
          ++imp.level;
          mod.erase(0, 1);
        }
        imp.module = mod;
        std::string names = part.substr(at + 8);
        std::erase(names, '(');
        std::erase(names, ')');
        for (auto n : split(names, ',')) {
          auto w = first_word(n);
          if (!w.empty() && w != "*") imp.names.push_back(w);
        }
        out.push_back(imp);
      }
    }
  }
  return out;
}

// --- JavaScript ---------------------------------------------------------------------------------

// The file without its // and /* */ comments (string and template literals kept whole, since
// the specifiers are in them), newlines kept.
std::string js_without_comments(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      i += 2;
      while (i < text.size() && !(text[i] == '*' && i + 1 < text.size() && text[i + 1] == '/')) {
        if (text[i] == '\n') out.push_back('\n');
        ++i;
      }
      i += 2;
      continue;
    }
    out.push_back(c);
    ++i;
    if (c != '\'' && c != '"' && c != '`') continue;
    while (i < text.size()) {
      const char d = text[i];
      out.push_back(d);
      ++i;
      if (d == '\\' && i < text.size()) {
        out.push_back(text[i++]);
        continue;
      }
      if (d == c || (d == '\n' && c != '`')) break;
    }
  }
  return out;
}

// Specifiers after `require(`, `import(`, `from`, or a bare `import`, that start with '.'.
std::vector<std::string> js_specifiers(const std::string& raw) {
  const std::string text = js_without_comments(raw);
  std::vector<std::string> out;
  auto quoted_at = [&](std::size_t i) -> std::string {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '(')) ++i;
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"' && text[i] != '`')) return "";
    const char q = text[i];
    const auto end = text.find(q, i + 1);
    if (end == std::string::npos || end - i > 512) return "";
    return text.substr(i + 1, end - i - 1);
  };
  auto is_ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
  for (std::string_view kw : {"require", "import", "from"}) {
    std::size_t pos = 0;
    while ((pos = text.find(kw, pos)) != std::string::npos) {
      const bool word = (pos == 0 || !is_ident(text[pos - 1])) &&
                        (pos + kw.size() >= text.size() || !is_ident(text[pos + kw.size()]));
      pos += kw.size();
      if (!word) continue;
      auto spec = quoted_at(pos);
      if (!spec.empty() && spec[0] == '.') out.push_back(spec);
    }
  }
  return out;
}

class Resolver {
 public:
  explicit Resolver(const std::vector<std::string>& files) : files_(files.begin(), files.end()) {
    for (const auto& f : files) {
      fs::path p(f);
      if (p.extension() != ".py") continue;
      // Dotted names from every ancestor directory: "shop/cart.py" is "shop.cart" and "cart".
      std::vector<std::string> parts;
      for (const auto& c : p.parent_path()) parts.push_back(c.string());
      std::string stem = p.stem().string();
      const bool init = stem == "__init__";
      for (std::size_t start = 0; start <= parts.size(); ++start) {
        std::string name;
        for (std::size_t i = start; i < parts.size(); ++i) name += parts[i] + ".";
        if (init) {
          if (name.empty()) continue;
          name.pop_back();
        } else {
          name += stem;
        }
        py_modules_[name].push_back(f);
      }
    }
  }

  std::optional<std::string> python(const std::string& dotted, const std::string& importer) const {
    auto it = py_modules_.find(dotted);
    if (it == py_modules_.end()) return std::nullopt;
    const auto& c = it->second;
    if (c.size() == 1) return c.front();
    // Several files answer to this name: the one beside the importer, else the shortest path.
    const auto dir = fs::path(importer).parent_path();
    for (const auto& f : c)
      if (fs::path(f).parent_path() == dir) return f;
    return *std::min_element(c.begin(), c.end(), [](const auto& a, const auto& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
  }

  std::optional<std::string> python_relative(int level, const std::string& module, const std::string& importer) const {
    fs::path base = fs::path(importer).parent_path();
    for (int i = 1; i < level; ++i) base = base.parent_path();
    fs::path p = base;
    for (auto part : split(module, '.'))
      if (!part.empty()) p /= part;
    for (auto cand : {p.string() + ".py", (p / "__init__.py").string()}) {
      auto norm = fs::path(cand).lexically_normal().string();
      if (files_.count(norm)) return norm;
    }
    return std::nullopt;
  }

  std::optional<std::string> js(const std::string& spec, const std::string& importer) const {
    const fs::path base = (fs::path(importer).parent_path() / spec).lexically_normal();
    const std::string b = base.string();
    if (b.rfind("..", 0) == 0) return std::nullopt;
    if (files_.count(b)) return b;
    for (const auto& ext : k_js_ext) {
      if (files_.count(b + ext)) return b + ext;
    }
    for (const auto& ext : k_js_ext) {
      auto idx = (base / ("index" + ext)).string();
      if (files_.count(idx)) return idx;
    }
    return std::nullopt;
  }

 private:
  std::set<std::string> files_;
  std::map<std::string, std::vector<std::string>> py_modules_;
};

}  // namespace

events::SourceScanned scan_sources(const fs::path& root, const ScanOptions& options) {
  events::SourceScanned out;
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (name.starts_with(".") || k_skip_dirs.count(name)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    const auto ext = it->path().extension().string();
    if (ext != ".py" && !k_js_ext.count(ext)) continue;
    if (files.size() >= options.max_files) break;
    files.push_back(it->path().lexically_relative(root).generic_string());
  }
  std::sort(files.begin(), files.end());
  Resolver resolve(files);
  for (const auto& f : files) {
    events::SourceFile sf;
    sf.path = f;
    const auto text = read_head(root / f, options.max_bytes);
    std::set<std::string> imports;
    if (fs::path(f).extension() == ".py") {
      sf.language = "python";
      for (const auto& imp : python_imports(text)) {
        if (imp.level > 0) {
          if (auto r = resolve.python_relative(imp.level, imp.module, f)) imports.insert(*r);
          for (const auto& n : imp.names)
            if (auto r = resolve.python_relative(imp.level, imp.module.empty() ? n : imp.module + "." + n, f))
              imports.insert(*r);
          continue;
        }
        bool found_sub = false;
        for (const auto& n : imp.names)
          if (auto r = resolve.python(imp.module + "." + n, f)) {
            imports.insert(*r);
            found_sub = true;
          }
        // "import a.b.c" depends on a/b/c; "from a import f" on a itself.
        std::string mod = imp.module;
        while (!mod.empty()) {
          if (auto r = resolve.python(mod, f)) {
            imports.insert(*r);
            break;
          }
          if (found_sub) break;
          const auto dot = mod.rfind('.');
          if (dot == std::string::npos) break;
          mod.resize(dot);
        }
      }
    } else {
      sf.language = "javascript";
      for (const auto& spec : js_specifiers(text))
        if (auto r = resolve.js(spec, f)) imports.insert(*r);
    }
    imports.erase(f);
    sf.imports.assign(imports.begin(), imports.end());
    out.files.push_back(std::move(sf));
  }
  return out;
}

}  // namespace fixhost::host
