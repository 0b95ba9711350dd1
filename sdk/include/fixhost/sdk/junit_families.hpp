#pragma once
// The runner families of the junit runner (plugins/junit_parser/families.toml, overridable in
// fixhost.toml's [junit_families.<name>]): how a JUnit XML report names tests and how to re-run
// some of them. Shared by the junit_parser plugin (test ids) and the host (re-runs), so both
// read the same data. Header-only; needs toml++.
#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::sdk::junit {

struct Family {
  std::string name;
  std::vector<std::string> words;
  std::vector<std::string> group;  // attributes giving the part of the id before "::"
  std::vector<std::string> file;   // attributes giving the source file
  std::string name_separator;
  std::vector<std::string> select;
  std::string each;
  std::string join;
  bool dashdash = false;
};

inline Status read_family_table(const toml::table& t, Family& f, const std::string& where) {
  for (const auto& kv : t) {
    const std::string key(kv.first.str());
    const toml::node& v = kv.second;  // a plain reference: lambdas cannot capture bindings (C++20 clang 14)
    auto list = [&](std::vector<std::string>& out) -> Status {
      const toml::array* a = v.as_array();
      if (!a) return Status(Errc::invalid_argument, where + "." + key + " must be an array of strings");
      out.clear();
      for (const auto& el : *a) {
        auto s = el.value<std::string>();
        if (!s) return Status(Errc::invalid_argument, where + "." + key + " must be an array of strings");
        out.push_back(*s);
      }
      return Status::ok();
    };
    auto text = [&](std::string& out) -> Status {
      auto s = v.value<std::string>();
      if (!s) return Status(Errc::invalid_argument, where + "." + key + " must be a string");
      out = *s;
      return Status::ok();
    };
    Status st;
    if (key == "words") st = list(f.words);
    else if (key == "group") st = list(f.group);
    else if (key == "file") st = list(f.file);
    else if (key == "select") st = list(f.select);
    else if (key == "name_separator") st = text(f.name_separator);
    else if (key == "each") st = text(f.each);
    else if (key == "join") st = text(f.join);
    else if (key == "dashdash") {
      auto b = v.value<bool>();
      if (!b) return Status(Errc::invalid_argument, where + ".dashdash must be true or false");
      f.dashdash = *b;
    } else
      return Status(Errc::invalid_argument, where + "." + key +
                                                " is not a family setting; use words, group, file, name_separator, "
                                                "select, each, join or dashdash (docs/RUNNERS.md)");
    if (!st.is_ok()) return st;
  }
  return Status::ok();
}

// The shipped families with `overrides` (TOML text of [junit_families] tables) applied key by key.
inline Result<std::map<std::string, Family>> read_families(std::string_view shipped, std::string_view overrides) {
  std::map<std::string, Family> out;
  std::vector<std::string> order;
  for (auto [text, label] : {std::pair{shipped, std::string("families.toml")},
                             std::pair{overrides, std::string("fixhost.toml [junit_families]")}}) {
    if (text.empty()) continue;
    toml::table t;
    try {
      t = toml::parse(text);
    } catch (const toml::parse_error& e) {
      return Status(Errc::invalid_argument, label + " is not valid TOML: " + std::string(e.description()));
    }
    for (const auto& [k, v] : t) {
      const toml::table* one = v.as_table();
      const std::string name(k.str());
      if (!one) return Status(Errc::invalid_argument, label + ": " + name + " must be a table");
      Family& f = out[name];
      f.name = name;
      if (auto st = read_family_table(*one, f, "junit_families." + name); !st.is_ok()) return st;
    }
  }
  return out;
}

inline std::string basename_of(std::string_view a) {
  auto p = a.rfind('/');
  return std::string(p == std::string_view::npos ? a : a.substr(p + 1));
}

// The first family (in name order) one of whose words is a word of `command`, or "".
inline std::string guess_family(const std::map<std::string, Family>& families, const std::vector<std::string>& command) {
  for (const auto& a : command) {
    const std::string base = basename_of(a);
    for (const auto& [name, f] : families)
      if (std::find(f.words.begin(), f.words.end(), base) != f.words.end()) return name;
  }
  return "";
}

inline std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

// A junit test id "<group>::<name>" split at the first "::" (no group when the family has none).
inline std::pair<std::string, std::string> split_id(const Family& f, std::string_view id) {
  if (f.group.empty()) return {"", std::string(id)};
  auto p = id.find("::");
  if (p == std::string_view::npos) return {"", std::string(id)};
  return {std::string(id.substr(0, p)), std::string(id.substr(p + 2))};
}

// The arguments `select` expands to for these test ids.
inline std::vector<std::string> selection_args(const Family& f, const std::vector<std::string>& ids) {
  std::vector<std::string> groups;
  std::vector<std::string> names;
  std::string each, names_regex;
  for (const auto& id : ids) {
    auto [group, name] = split_id(f, id);
    if (!group.empty() && std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
    std::string spaced = name;
    if (!f.name_separator.empty() && f.name_separator != " ") replace_all(spaced, f.name_separator, " ");
    const std::string re = regex_escape(spaced);
    if (std::find(names.begin(), names.end(), re) == names.end()) names.push_back(re);
    std::string one = f.each;
    replace_all(one, "{group_regex}", regex_escape(group));
    replace_all(one, "{name_regex}", regex_escape(name));
    replace_all(one, "{group}", group);
    replace_all(one, "{name}", name);
    if (!f.each.empty()) each += (each.empty() ? "" : f.join) + one;
  }
  for (const auto& n : names) names_regex += (names_regex.empty() ? "" : "|") + n;
  names_regex = "^(?:" + names_regex + ")$";
  std::vector<std::string> out;
  for (const auto& a : f.select) {
    if (a == "{groups}") {
      out.insert(out.end(), groups.begin(), groups.end());
      continue;
    }
    std::string x = a;
    replace_all(x, "{names_regex}", names_regex);
    replace_all(x, "{each}", each);
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace fixhost::sdk::junit
