#pragma once
// The policy plugin's rules as a library: globs, test-file recognition, a reader of `git diff`
// text, and Policy::judge, which turns one AttemptFinished into the violations it contains.
// Everything here is pure (no I/O, no clock), so replay re-judges old diffs with today's rules.
// docs/SAFETY.md describes each rule; the tests in tests/plugins/policy/ pin them down.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/result.hpp"
#include "fixhost/sdk/paths.hpp"

namespace fixhost::policy {

// ---- paths ------------------------------------------------------------------------------------

// Path globs and test-file recognition are the SDK's (fixhost/sdk/paths.hpp), shared with the host.
using sdk::Glob;
using sdk::is_test_file;

// The words of a path, lower-cased, split at every non-alphanumeric character and at camelCase
// boundaries: "src/OAuthClient/user_login.py" -> src, o, auth, client, user, login, py.
std::vector<std::string> path_words(std::string_view path);

// A protection that ships with fixhost (docs/SAFETY.md lists them all).
struct BuiltinProtection {
  std::string_view name;     // "auth", "payments", ...
  std::string_view matches;  // human-readable: which words or globs
  std::string_view why;
};
const std::vector<BuiltinProtection>& builtin_protections();

// A built-in word protection that covers most of a repository's source files, usually because
// its package is named after the word (a library called `ledger`): every attempt there would be
// refused, so the host says so before the run.
struct WideProtection {
  std::string protection;  // "payments"
  std::string word;        // "ledger"
  std::string prefix;      // the directory most covered files share ("ledger/"), "" if none
  std::uint32_t covered = 0, total = 0;
  std::vector<std::string> examples;
  std::string suggestion;  // fixhost.toml lines
};
// Over the non-test source files in `paths`: each word protection covering more than half of
// them (and at least 3) that `policy` does not exempt.
class Policy;
std::vector<WideProtection> wide_protections(const std::vector<std::string>& paths, const Policy& policy);

// ---- diffs ------------------------------------------------------------------------------------

struct DiffLine {
  int line = 0;      // in the old file for a removed line, in the new file for an added one
  std::string text;  // without the leading '+'/'-' and the newline
};

// A maximal run of removed and added lines between two context lines: what replaced what.
struct Change {
  std::vector<DiffLine> removed;
  std::vector<DiffLine> added;
};

struct FileDiff {
  char status = 'M';     // A added, D deleted, M modified, R renamed, C copied, T type changed
  std::string old_path;  // "" when added
  std::string new_path;  // "" when deleted
  bool binary = false;
  // False when libgit2 could not read this file's section (e.g. the capture cap cut through it):
  // its +/- lines were then taken line by line, without line numbers.
  bool parsed = true;
  std::vector<Change> changes;
  const std::string& path() const noexcept { return new_path.empty() ? old_path : new_path; }
};

// Reads the unified diff `git diff --binary -M` prints, one FileDiff per `diff --git` section, in
// order. Never fails: a section libgit2 refuses is read leniently (FileDiff::parsed = false), and
// a capture-cap marker line is skipped.
std::vector<FileDiff> read_diff(std::string_view text);

// ---- the policy -------------------------------------------------------------------------------

struct Violation {
  std::string rule;  // protected_path | test_deleted | skip_marker | assertion_weakened |
                     // test_edited | git_tampering | path_escape
  std::string path;
  std::string detail;
  bool operator==(const Violation&) const = default;
};

// The `[plugins.policy]` table. The host fills `protected` and `test_edit_categories` from the
// top-level keys of fixhost.toml when the table does not set them (host/src/config.cpp).
struct Settings {
  // Globs no attempt may touch, in addition to the built-in protections. Default: none
  std::vector<std::string> protected_globs;
  // Globs exempt from the built-in protections (not from `protected`), for false positives such
  // as a `docs/auth-guide/` folder. Default: none
  std::vector<std::string> unprotect;
  // Failure categories whose fixes may edit test files. Default: {"stale_mock"}
  std::vector<std::string> test_edit_categories{"stale_mock"};
};

// Parses the table's TOML text ("" gives the defaults). Unknown keys and wrong types are
// InvalidArgument naming the key and what is expected.
Result<Settings> parse_settings(std::string_view toml);

// Judges attempts. Immutable after make(); safe to share between threads.
class Policy {
 public:
  static Result<Policy> make(Settings settings);

  std::vector<Violation> judge(const events::AttemptFinished& attempt) const;

  // Why `path` is protected ("built-in auth: ..." or "protected glob `x`"), or nullopt.
  std::optional<std::string> protection(std::string_view path) const;
  bool may_edit_tests(std::string_view category) const;

 private:
  Settings settings_;
  std::vector<Glob> protected_;
  std::vector<Glob> unprotect_;
};

}  // namespace fixhost::policy
