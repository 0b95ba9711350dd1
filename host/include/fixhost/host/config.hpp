#pragma once
// fixhost.toml: the project's configuration, read once at start-up. Without the file the suites
// are detected from the repository (pytest, jest) and `notes` says what was chosen and how to
// override it. Reference: docs/CONFIG.md.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host {

struct SandboxLayout;

struct SuiteConfig {
  std::string name;
  // pytest | jest | junit (any runner that writes JUnit XML, docs/RUNNERS.md)
  std::string runner;
  // junit: the runner family whose single-test re-run the host uses (vitest, mocha, gotestsum,
  // nextest, surefire, phpunit). Default: guessed from the command's words, else "" (no re-run
  // of single tests unless `rerun` is set)
  std::string family;
  // junit: where the command writes its JUnit XML, relative to `cwd` (a file, or a directory
  // whose *.xml files are read, for Surefire). Default: none; the command must then hold the
  // placeholder "{report}", which becomes a private path of the host's
  std::string report;
  // junit: the fixhost.toml [junit_families] overrides (TOML text), copied from Config so a
  // suite alone knows its family's re-run. Default: none
  std::string junit_families;
  // argv of the suite, without the report flags the host adds.
  std::vector<std::string> command;
  // Relative to the repository root. Default: "."
  std::string cwd = ".";
  // The whole suite is killed (process group) after this. Default: 10 min
  std::chrono::seconds timeout{600};
  // argv that runs only some tests; the element "{tests}" becomes the runner's selection
  // arguments (pytest node ids; jest file patterns and -t NAME). Default: none (derived from
  // `command`, docs/CONFIG.md says how)
  std::vector<std::string> rerun;
  // argv run in the suite's cwd inside a run's worktree before its first suite run, e.g.
  // ["npm", "ci"]. Default: none
  std::vector<std::string> setup;
  // Link the checkout's untracked node_modules next to the suite's package.json into the
  // worktree (jest suites without `setup`). Default: true
  bool link_node_modules = true;
  // Not from fixhost.toml: set by the engine (Session::bounded_suite) when the suite runs in a
  // run's worktree with the sandbox on, because the worktree then holds the agent's code (a
  // conftest.py, a jest setup file) and the host's own runs of it are contained like the agent.
  std::shared_ptr<const SandboxLayout> sandbox;
};

// [sandbox]: how agents (and lint, typecheck) are contained (docs/SAFETY.md#the-sandbox).
struct SandboxConfig {
  // Run them under bubblewrap; false runs them as before, watched but not contained. Default: true
  bool enabled = true;
  // Let them reach the network (agents call their APIs); false cuts it. Default: true
  bool network = true;
  // Extra paths they may read (e.g. "/opt/models") or write (e.g. "~/.claude"); the rest of the
  // file system is read-only and /tmp is private. Default: none
  std::vector<std::string> read_only;
  std::vector<std::string> writable;
  // Paths hidden from them (credentials). Default: ~/.ssh, ~/.gnupg, ~/.aws, ~/.config/gh,
  // ~/.git-credentials, ~/.netrc, ~/.docker/config.json
  std::vector<std::string> hidden{"~/.ssh", "~/.gnupg", "~/.aws", "~/.config/gh", "~/.git-credentials", "~/.netrc",
                                  "~/.docker/config.json"};
  // The bubblewrap program (looked up on PATH). Default: "bwrap"
  std::string bwrap = "bwrap";
};

// [heal]: self-heal from production errors (docs/HEAL.md#configuration).
struct HealConfig {
  // Sentry public keys (the DSN's user part) `hostctl serve` accepts; none accepts nothing.
  // Default: none
  std::vector<std::string> ingest_keys;
  // Where `hostctl serve` listens, ADDR:PORT. Default: "127.0.0.1:8765"
  std::string listen = "127.0.0.1:8765";
  // Largest event, and largest request body, after decompression; bigger is 413.
  // Default: 1 MiB and 20 MiB
  std::uint64_t max_event_bytes = 1u << 20;
  std::uint64_t max_request_bytes = 20u << 20;
  // A webhook whose Sentry-Hook-Timestamp is further than this from now is refused. Default: 5 min
  std::chrono::seconds webhook_tolerance{300};
  // Above this many error events in the last hour heal alerts a human instead of fixing. Default: 100
  std::uint64_t max_errors_per_hour = 100;
  // Globs of paths whose errors are never fixed (e.g. "vendor/**", "migrations/**"). Default: none
  std::vector<std::string> exclude;
  // The gh program (heal verify, the fix phase), and the git remote fix branches are pushed to.
  // Default: "gh", "origin"
  std::string gh = "gh";
  std::string remote = "origin";
  // Fixes per heal run, and the wall time of a whole heal run. Default: 5, 30 min
  int max_fixes = 5;
  std::chrono::seconds budget{1800};
  // `--source api`: re-use what was fetched within this window instead of fetching again. Default: 10 min
  std::chrono::seconds api_cache{600};
  // Resolve the Sentry issue inNextRelease when its PR is merged. Default: false
  bool resolve = false;
  // The incident report is POSTed here as {"text": ...} (Slack-compatible). Default: none
  std::string report_webhook;
};

struct Config {
  std::filesystem::path repo;  // absolute repository root
  std::filesystem::path file;  // the fixhost.toml read ("" when none)
  std::string text;            // its text, recorded in RunStarted

  std::vector<SuiteConfig> suites;
  // Python interpreter that has pytest (used for detected pytest suites).
  // Default: $FIXHOST_PYTHON, else the first of python3, /usr/bin/python3 that imports pytest
  std::string python;
  // Extra plugin directories, after the built-in one, relative to the repository root.
  std::vector<std::filesystem::path> plugin_dirs;
  // `[plugins.<name>]` tables, re-serialised as TOML text, handed to Plugin::configure.
  std::map<std::string, std::string> plugin_config;
  // `[[plugins.external]] command = [...]`: out-of-process plugins (docs/PLUGINS.md), argv each,
  // run in the repository root. Default: none
  std::vector<std::vector<std::string>> external_plugins;
  // `[junit_families.<name>]` tables, re-serialised as TOML text: overrides of (or additions to)
  // the junit families of plugins/junit_parser/families.toml. Default: none
  std::string junit_families;

  // Autofix. The agent command, run as /bin/sh -c CMD in the worktree. Default: none
  std::string agent;
  // Attempts per failure. Default: 3
  int max_attempts = 3;
  // Re-runs of the failures (all of a suite's together, then alone those that passed) before
  // they are reported as real. Default: 1 (one batched re-run: a failure that passes there is
  // flaky; 2 catches flakes that fail twice in a row, for the cost of a second batch)
  int flaky_reruns = 1;
  // At most this many failures per suite go through the flaky check; the rest are reported as
  // real without it, and detect says how many were skipped. Default: 500
  int flaky_check_max = 500;
  // Rounds of fixing: failures that appear once others are fixed (tests hidden behind a
  // collection error) are fixed in a next round, up to this many rounds in all. Default: 4
  int max_rounds = 4;
  // Wall time for a whole run. Default: 20 min
  std::chrono::seconds run_budget{1200};
  // Wall time for one agent attempt. Default: 5 min
  std::chrono::seconds attempt_budget{300};
  // What the agents of one run may spend, in USD, as they report it (FIXHOST_USAGE_FILE,
  // docs/USAGE.md): no attempt starts once the known spend reaches it. Default: 0 (no cap)
  double max_cost_usd = 0;
  // What one attempt may spend, in USD: an attempt that reports more is reverted and the run
  // stops. Default: 0 (no cap)
  double max_attempt_cost_usd = 0;
  // Lint and type-check commands run at verify time (argv). Default: none
  std::vector<std::string> lint;
  std::vector<std::string> typecheck;
  // Globs an attempt may not touch, added to the built-in defaults (docs/SAFETY.md).
  std::vector<std::string> protected_paths;
  // Globs exempt from the built-in protections (never from `protected`), e.g. ["ledger/**"]
  // for a package named after a protected word (docs/SAFETY.md). Default: none
  std::vector<std::string> unprotect;
  // Untracked files copied into the run's worktree (`.env`, fixtures). Default: none
  std::vector<std::string> worktree_include;
  // Categories whose fixes may edit test files. Default: {"stale_mock"}
  std::vector<std::string> test_edit_categories{"stale_mock"};
  // Used by `hostctl stats` for the time-saved estimate. Default: 30
  double minutes_per_manual_fix = 30;

  // [sandbox]: agents contained under bubblewrap (docs/SAFETY.md#the-sandbox).
  SandboxConfig sandbox;

  // [heal]: hostctl serve, triage and heal (docs/HEAL.md).
  HealConfig heal;

  // What was detected or defaulted, one line each, for the user.
  std::vector<std::string> notes;
};

// Reads <repo>/fixhost.toml, or detects the suites when there is none. Errors name the file,
// the key and what is expected (InvalidArgument), or say that no suite could be found.
// With `probe_python` false no process is started: an unset `python` stays "python3" (for
// commands that run no suite, such as replay).
Result<Config> load_config(const std::filesystem::path& repo, bool probe_python = true);

// "90", "90s", "5m", "1h", "1h30m" -> seconds.
Result<std::chrono::seconds> parse_duration(std::string_view text);

// Whether `python` can `import pytest` (runs it).
bool python_has_pytest(const std::string& python);

}  // namespace fixhost::host
