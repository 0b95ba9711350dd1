// The built-in protections (docs/SAFETY.md, "Protected paths"): words that mark auth, payment
// and data-deletion code anywhere in a path, and globs for the files that configure the rails and
// CI. Words, not substrings, so that author.py, tokenizer.py or oracle.py stay editable.
#include <algorithm>
#include <array>
#include <map>

#include "policy_internal.hpp"

namespace fixhost::policy {
namespace {

bool starts_with_any(std::string_view w, std::initializer_list<std::string_view> xs) {
  return std::any_of(xs.begin(), xs.end(), [&](std::string_view x) { return w.starts_with(x); });
}
bool equals_any(std::string_view w, std::initializer_list<std::string_view> xs) {
  return std::any_of(xs.begin(), xs.end(), [&](std::string_view x) { return w == x; });
}

// auth, authn, authz, authenticate, authorization, authorize(r), oauth, basicauth; not author,
// authors, authored, authoring, authorship, coauthor, authority.
bool auth_word(std::string_view w) {
  if (w.ends_with("auth")) return true;
  if (!w.starts_with("auth")) return false;
  if (w.starts_with("author")) return starts_with_any(w, {"authoriz", "authoris"});
  return true;
}
bool login_word(std::string_view w) {
  return starts_with_any(w, {"login", "logout", "signin", "signon"}) ||
         equals_any(w, {"sso", "saml", "oidc", "mfa", "totp", "2fa"});
}
bool credential_word(std::string_view w) {
  return starts_with_any(w, {"password", "passwd", "credential", "permission"}) ||
         equals_any(w, {"secret", "secrets", "jwt", "rbac", "acl", "acls"});
}
bool payment_word(std::string_view w) {
  return starts_with_any(w, {"payment", "billing", "invoic", "refund", "payout", "chargeback", "paypal"}) ||
         equals_any(w, {"pay", "stripe", "braintree", "adyen", "creditcard", "ledger"});
}
bool deletion_word(std::string_view w) {
  return starts_with_any(w, {"delet", "purge", "purging", "erase", "erasure", "wipe", "gdpr", "anonymi", "retention",
                             "migration", "alembic"});
}

struct WordRule {
  BuiltinProtection info;
  bool (*word)(std::string_view);
};

const std::array<WordRule, 5>& word_rules() {
  static const std::array<WordRule, 5> rules{{
      {{"auth",
        "a path word starting with `auth` (auth, authn, authz, authenticate, authorization, authorize) or ending "
        "with it (oauth, basicauth); not author, authors, authored, authoring, authorship, authority",
        "authentication and authorization decide who may do what; a test-driven edit there can open access"},
       auth_word},
      {{"login", "login*, logout*, signin*, signon*, sso, saml, oidc, mfa, totp, 2fa",
        "sign-in flows and second factors; same reason as auth"},
       login_word},
      {{"credentials", "password*, passwd*, credential*, permission*, secret, secrets, jwt, rbac, acl, acls",
        "stored secrets and access rules; an edit can leak or widen them"},
       credential_word},
      {{"payments",
        "payment*, billing*, invoic*, refund*, payout*, chargeback*, paypal*, pay, stripe, braintree, adyen, "
        "creditcard, ledger",
        "moves money; a wrong fix charges or refunds the wrong amount and is not undone by a revert"},
       payment_word},
      {{"data_deletion", "delet*, purge*, purging, erase*, erasure, wipe*, gdpr, anonymi*, retention*, migration*, alembic",
        "deletes or rewrites stored data (including schema migrations); the damage outlives the code"},
       deletion_word},
  }};
  return rules;
}

struct GlobRule {
  std::size_t info;  // index into glob_infos()
  Glob glob;
};

const std::array<BuiltinProtection, 3>& glob_infos() {
  static const std::array<BuiltinProtection, 3> infos{{
      {"fixhost_config", "/fixhost.toml",
       "the rails' own configuration: an attempt could widen test_edit_categories or drop a protected glob"},
      {"ci", "/.github/**, /.gitlab-ci.yml, /.circleci/**, /.ci/**, Jenkinsfile, /azure-pipelines.yml, /.travis.yml",
       "CI decides what is tested before a merge; an attempt could stop a suite from running there"},
      {"git_config", ".gitattributes, .gitmodules, /.githooks/**, /.husky/**, /.pre-commit-config.yaml",
       "git filters, submodules and hooks run code or change what a checkout contains"},
  }};
  return infos;
}

const std::vector<GlobRule>& glob_rules() {
  static const std::vector<GlobRule> rules = [] {
    const std::array<std::pair<std::size_t, std::string_view>, 13> globs{{
        {0, "/fixhost.toml"},
        {1, "/.github/**"},
        {1, "/.gitlab-ci.yml"},
        {1, "/.circleci/**"},
        {1, "/.ci/**"},
        {1, "Jenkinsfile"},
        {1, "/azure-pipelines.yml"},
        {1, "/.travis.yml"},
        {2, ".gitattributes"},
        {2, ".gitmodules"},
        {2, "/.githooks/**"},
        {2, "/.husky/**"},
        {2, "/.pre-commit-config.yaml"},
    }};
    std::vector<GlobRule> out;
    for (const auto& [i, g] : globs) out.push_back({i, std::move(*Glob::compile(g))});
    return out;
  }();
  return rules;
}

}  // namespace

const std::vector<BuiltinProtection>& builtin_protections() {
  static const std::vector<BuiltinProtection> all = [] {
    std::vector<BuiltinProtection> v;
    for (const auto& r : word_rules()) v.push_back(r.info);
    for (const auto& i : glob_infos()) v.push_back(i);
    return v;
  }();
  return all;
}

std::optional<std::string> builtin_protection(std::string_view path) {
  for (const auto& word : path_words(path))
    for (const auto& r : word_rules())
      if (r.word(word))
        return "built-in protection '" + std::string(r.info.name) + "': the word '" + word + "' (" +
               std::string(r.info.why) + ")";
  for (const auto& r : glob_rules())
    if (r.glob.matches(path)) {
      const auto& info = glob_infos()[r.info];
      return "built-in protection '" + std::string(info.name) + "': " + r.glob.pattern() + " (" +
             std::string(info.why) + ")";
    }
  return std::nullopt;
}

}  // namespace fixhost::policy

namespace fixhost::policy {

std::vector<WideProtection> wide_protections(const std::vector<std::string>& paths, const Policy& policy) {
  std::vector<std::string> sources;
  for (const auto& p : paths)
    if (!is_test_file(p)) sources.push_back(p);
  std::vector<WideProtection> out;
  if (sources.size() < 3) return out;
  for (const auto& r : word_rules()) {
    WideProtection w;
    w.protection = std::string(r.info.name);
    w.total = static_cast<std::uint32_t>(sources.size());
    std::map<std::string, std::uint32_t> prefixes;  // directory up to the matching segment
    std::map<std::string, std::uint32_t> words;
    for (const auto& p : sources) {
      // Still protected by this rule once the repository's unprotect globs are applied?
      auto why = policy.protection(p);
      if (!why || why->find("built-in protection '" + w.protection + "'") == std::string::npos) continue;
      ++w.covered;
      if (w.examples.size() < 5) w.examples.push_back(p);
      std::size_t start = 0;
      for (std::size_t i = 0; i <= p.size(); ++i) {
        if (i < p.size() && p[i] != '/') continue;
        std::string_view seg(p.data() + start, i - start);
        bool hit = false;
        for (const auto& word : path_words(seg))
          if (r.word(word)) {
            ++words[word];
            hit = true;
            break;
          }
        if (hit) {
          if (i < p.size()) ++prefixes[p.substr(0, i + 1)];
          break;
        }
        start = i + 1;
      }
    }
    if (w.covered < 3 || w.covered * 2 <= w.total) continue;
    for (const auto& [word, n] : words)
      if (w.word.empty() || n > words[w.word]) w.word = word;
    std::uint32_t best = 0;
    for (const auto& [prefix, n] : prefixes)
      if (n > best) best = n, w.prefix = prefix;
    const std::string glob = w.prefix.empty() ? "**/*" + w.word + "*" : w.prefix + "**";
    w.suggestion = "unprotect = [\"" + glob + "\"]\n# and protect what really is " + w.protection +
                   " code there, e.g.\n# protected = [\"" + (w.prefix.empty() ? "" : w.prefix) + "<the sensitive files>\"]";
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace fixhost::policy
