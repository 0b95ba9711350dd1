#pragma once
// Typed payloads, one struct per event type. Each lists its fields once, in `fields(f, schema)`;
// that one list drives the binary encoding (codec.hpp) and the JSON export (json.hpp).
// Schema rule: a field added later is read only `if (schema >= N)`, so bytes written by an older
// fixhost decode forever (the field keeps its default). Bump k_schema when adding one.
#include <cstdint>
#include <string>
#include <vector>

#include "fixhost/events/event_type.hpp"

namespace fixhost::events {

// Captured bytes (test output, diffs, agent logs) under the size policy in docs/STORE.md:
// when the capture cap is hit, `data` keeps the head and the tail joined by a marker line,
// `total_bytes` is what was produced and `cut_bytes` how much of it is not in `data`.
struct Blob {
  std::string data;
  std::uint64_t total_bytes = 0;
  std::uint64_t cut_bytes = 0;
  template <class F> void fields(F&& f) { f("data", data); f("total_bytes", total_bytes); f("cut_bytes", cut_bytes); }
};

struct Frame {
  std::string file;
  std::int64_t line = 0;
  std::string function;
  bool in_app = true;
  template <class F> void fields(F&& f) { f("file", file); f("line", line); f("function", function); f("in_app", in_app); }
};

struct Evidence {
  std::string rule;     // the rule's id in the classifier's rule set
  std::string pattern;  // what it looks for
  std::string matched;  // the text it matched
  template <class F> void fields(F&& f) { f("rule", rule); f("pattern", pattern); f("matched", matched); }
};

#define FIXHOST_PAYLOAD(Name, schema)                          \
  static constexpr EventType k_type = EventType::Name;         \
  static constexpr std::uint16_t k_schema = schema

// ---- runs ---------------------------------------------------------------------------------
struct RunStarted {
  FIXHOST_PAYLOAD(RunStarted, 1);
  std::string mode;  // detect | autofix | build | heal | replay | sample
  std::string repo;  // absolute path of the repository the run is about
  std::string branch;
  std::string head;      // commit the run started from
  std::string worktree;  // where the run works ("" when it works in place, e.g. detect)
  std::vector<std::string> argv;
  std::string config;                    // fixhost.toml text in force
  std::vector<std::string> source_runs;  // replay: the runs it re-derives
  std::string host_version;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("mode", mode); f("repo", repo); f("branch", branch); f("head", head); f("worktree", worktree);
    f("argv", argv); f("config", config); f("source_runs", source_runs); f("host_version", host_version);
  }
};

struct RunFinished {
  FIXHOST_PAYLOAD(RunFinished, 1);
  std::string outcome;  // ok | failures | unfixable | budget_exceeded | error | aborted
  std::int32_t exit_code = 0;
  std::string summary;
  std::int64_t duration_ms = 0;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("outcome", outcome); f("exit_code", exit_code); f("summary", summary); f("duration_ms", duration_ms);
  }
};

// ---- suites -------------------------------------------------------------------------------
struct SuiteStarted {
  FIXHOST_PAYLOAD(SuiteStarted, 2);
  std::string suite;
  std::string runner;   // pytest | jest | command
  // detect | flaky_check | recheck | rerun | verify | setup | collect | lint | typecheck | integration
  std::string purpose;
  std::string test_id;  // set when one test is run alone
  std::vector<std::string> argv;
  std::string cwd;
  std::vector<std::string> test_ids;  // schema 2: the tests a batched re-run selects
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("suite", suite); f("runner", runner); f("purpose", purpose); f("test_id", test_id);
    f("argv", argv); f("cwd", cwd);
    if (v >= 2) f("test_ids", test_ids);
  }
};

struct SuiteFinished {
  FIXHOST_PAYLOAD(SuiteFinished, 3);
  std::string suite;
  std::string runner;
  std::string purpose;
  std::string test_id;
  std::int32_t exit_code = 0;  // -1 when it did not exit normally
  std::int32_t signal = 0;     // the signal that ended it, 0 for none
  bool timed_out = false;
  std::int64_t duration_ms = 0;
  Blob output;                // stdout and stderr interleaved as produced
  Blob report;                // the runner's machine report
  std::string report_format;  // junit_xml | jest_json | none
  std::string error;          // why it could not run at all ("" when it ran)
  std::vector<std::string> test_ids;  // schema 2: the tests a batched re-run selected
  // schema 3: the runner family of a junit suite (vitest, mocha, gotestsum, nextest, surefire,
  // phpunit; "" for pytest/jest), and the directory the suite ran in (report paths are relative to it).
  std::string family;
  std::string cwd;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("suite", suite); f("runner", runner); f("purpose", purpose); f("test_id", test_id);
    f("exit_code", exit_code); f("signal", signal); f("timed_out", timed_out); f("duration_ms", duration_ms);
    f("output", output); f("report", report); f("report_format", report_format); f("error", error);
    if (v >= 2) f("test_ids", test_ids);
    if (v >= 3) { f("family", family); f("cwd", cwd); }
  }
};

struct SuiteParsed {
  FIXHOST_PAYLOAD(SuiteParsed, 2);
  std::string suite;
  std::string runner;
  std::string purpose;
  std::string test_id;
  std::uint32_t tests = 0;  // collected test cases (the tamper rail checks this never drops)
  std::uint32_t passed = 0;
  std::uint32_t failures = 0;
  std::uint32_t errors = 0;
  std::uint32_t skipped = 0;
  std::uint32_t xfailed = 0;
  std::uint32_t xpassed = 0;
  std::string parsed_from;  // report | text
  std::string note;         // why the text fallback was used, if it was
  // schema 2: what the runner said it collected (0 = it did not say), files it could not
  // collect (their tests did not run), and why it stopped early ("" = it ran to the end).
  std::uint32_t collected = 0;
  std::uint32_t collection_errors = 0;
  std::string interrupted;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("suite", suite); f("runner", runner); f("purpose", purpose); f("test_id", test_id);
    f("tests", tests); f("passed", passed); f("failures", failures); f("errors", errors);
    f("skipped", skipped); f("xfailed", xfailed); f("xpassed", xpassed);
    f("parsed_from", parsed_from); f("note", note);
    if (v >= 2) { f("collected", collected); f("collection_errors", collection_errors); f("interrupted", interrupted); }
  }
};

// ---- failures -----------------------------------------------------------------------------
struct FailureDetected {
  FIXHOST_PAYLOAD(FailureDetected, 2);
  std::string runner;   // pytest | jest | junit
  std::string suite;
  // pytest node id, "<file>::<ancestors › title>" for jest, "<group>::<name>" for junit
  // (docs/RUNNERS.md: group is the file or the class, per runner family)
  std::string test_id;
  std::string file;
  std::int64_t line = 0;
  std::string test_name;
  std::string error_type;
  std::string message;
  std::string stack_trace;
  std::string phase;  // schema 2: call | setup | teardown | collection
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("runner", runner); f("suite", suite); f("test_id", test_id); f("file", file); f("line", line);
    f("test_name", test_name); f("error_type", error_type); f("message", message);
    f("stack_trace", stack_trace);
    if (v >= 2) f("phase", phase);
  }
};

struct FailureClassified {
  FIXHOST_PAYLOAD(FailureClassified, 1);
  std::string test_id;
  std::string category;  // missing_dependency | type_error | logic_bug | stale_mock | env_mismatch | flaky | unknown
  double confidence = 0;
  std::vector<Evidence> evidence;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("test_id", test_id); f("category", category); f("confidence", confidence); f("evidence", evidence);
  }
};

struct FailureOrdered {
  FIXHOST_PAYLOAD(FailureOrdered, 1);
  // Fix order is ascending (depth, file, line): a module fewer of the repo's modules sit below
  // is fixed before the modules that import it.
  std::string test_id;
  std::int32_t depth = 0;  // longest chain of repo-local imports below `module` (0 = imports none)
  std::string module;      // repo-relative file the failure is attributed to
  std::string reason;      // how module and depth were found
  template <class F> void fields(F&& f, std::uint16_t) {
    f("test_id", test_id); f("depth", depth); f("module", module); f("reason", reason);
  }
};

struct FlakeDetected {
  FIXHOST_PAYLOAD(FlakeDetected, 1);
  std::string test_id;
  std::uint32_t reruns = 0;
  std::uint32_t passes = 0;
  template <class F> void fields(F&& f, std::uint16_t) { f("test_id", test_id); f("reruns", reruns); f("passes", passes); }
};

// ---- the fix loop -------------------------------------------------------------------------
struct AttemptStarted {
  FIXHOST_PAYLOAD(AttemptStarted, 2);
  std::string test_id;
  std::uint32_t attempt = 0;  // 1-based
  std::string agent;          // the agent command
  std::string category;
  Blob prompt;
  // v2: how the agent was contained: "bwrap", "bwrap, no network", or "off: <why>" ("" before v2)
  std::string sandbox;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("test_id", test_id); f("attempt", attempt); f("agent", agent); f("category", category); f("prompt", prompt);
    if (v >= 2) f("sandbox", sandbox);
  }
};

// What an agent reported spending on one attempt (FIXHOST_USAGE_FILE, docs/USAGE.md). `known`
// false: the agent reported nothing (or garbage), so the spend is unknown, never zero.
struct AgentUsage {
  bool known = false;
  std::int64_t input_tokens = -1;   // -1: not reported
  std::int64_t output_tokens = -1;  // -1: not reported
  double cost_usd = -1;             // -1: not reported
  std::string model;
  template <class F> void fields(F&& f) {
    f("known", known); f("input_tokens", input_tokens); f("output_tokens", output_tokens);
    f("cost_usd", cost_usd); f("model", model);
  }
};

struct AttemptFinished {
  FIXHOST_PAYLOAD(AttemptFinished, 2);
  std::string test_id;
  std::uint32_t attempt = 0;
  std::string category;  // of the failure being fixed (test edits are allowed for some)
  std::int32_t agent_exit = 0;
  std::int32_t signal = 0;
  bool timed_out = false;
  std::int64_t duration_ms = 0;
  Blob diff;  // `git diff` (unified, with renames) of the worktree before and after the attempt
  std::vector<std::string> files_touched;  // "M path", "A path", "D path", "R old -> new"
  Blob output;          // the agent's stdout and stderr
  std::string summary;  // what the agent wrote to FIXHOST_SUMMARY_FILE
  // What the host saw of git and the file system (facts the policy plugin judges):
  std::vector<std::string> git_changes;  // "HEAD moved a1b2 -> c3d4", "ref refs/heads/main moved ...", ...
  std::vector<std::string> escapes;      // touched paths that are symlinks leading outside the worktree
  AgentUsage usage;                      // v2: what the agent said it spent (unknown before v2)
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("test_id", test_id); f("attempt", attempt); f("category", category); f("agent_exit", agent_exit);
    f("signal", signal); f("timed_out", timed_out); f("duration_ms", duration_ms); f("diff", diff);
    f("files_touched", files_touched); f("output", output); f("summary", summary);
    f("git_changes", git_changes); f("escapes", escapes);
    if (v >= 2) f("usage", usage);
  }
};

struct TestRerun {
  FIXHOST_PAYLOAD(TestRerun, 1);
  std::string test_id;
  std::uint32_t attempt = 0;
  bool passed = false;
  std::string detail;  // first line of the error when it failed
  template <class F> void fields(F&& f, std::uint16_t) {
    f("test_id", test_id); f("attempt", attempt); f("passed", passed); f("detail", detail);
  }
};

struct PolicyViolation {
  FIXHOST_PAYLOAD(PolicyViolation, 1);
  std::string test_id;
  std::uint32_t attempt = 0;
  // protected_path | test_deleted | skip_marker | assertion_weakened | test_edited |
  // git_tampering | path_escape | tests_collected_dropped
  std::string rule;
  std::string path;
  std::string detail;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("test_id", test_id); f("attempt", attempt); f("rule", rule); f("path", path); f("detail", detail);
  }
};

struct RegressionDetected {
  FIXHOST_PAYLOAD(RegressionDetected, 1);
  std::string broken;     // the test (or lint/typecheck finding) that broke
  std::string caused_by;  // test_id of the failure whose fix broke it
  std::string check;      // suite | lint | typecheck
  std::string detail;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("broken", broken); f("caused_by", caused_by); f("check", check); f("detail", detail);
  }
};

struct Reverted {
  FIXHOST_PAYLOAD(Reverted, 1);
  std::string test_id;
  std::uint32_t attempt = 0;
  std::string reason;  // test_failed | policy | regression | budget | gave_up
  std::vector<std::string> files;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("test_id", test_id); f("attempt", attempt); f("reason", reason); f("files", files);
  }
};

struct BudgetExceeded {
  FIXHOST_PAYLOAD(BudgetExceeded, 2);
  std::string budget;  // attempts | attempt_time | run_time | suite_time | run_cost | attempt_cost
  std::int64_t limit = 0;  // attempts, or milliseconds (0 for the cost budgets)
  std::int64_t used = 0;
  std::string test_id;
  std::uint32_t attempt = 0;
  // v2, the cost budgets (docs/USAGE.md): the cap and the known spend in USD (-1 otherwise),
  // and how many attempts of the run reported no cost (the cap could not count them).
  double limit_usd = -1;
  double used_usd = -1;
  std::uint32_t attempts_cost_unknown = 0;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("budget", budget); f("limit", limit); f("used", used); f("test_id", test_id); f("attempt", attempt);
    if (v >= 2) { f("limit_usd", limit_usd); f("used_usd", used_usd); f("attempts_cost_unknown", attempts_cost_unknown); }
  }
};

struct FailureResolved {
  FIXHOST_PAYLOAD(FailureResolved, 2);
  std::string test_id;
  // fixed | unfixable | flaky | cured (passes after another failure's fix; no agent call) |
  // unverified (fixed, but the run ended before the fix was verified and committed)
  std::string outcome;
  std::uint32_t attempts = 0;
  std::string reason;      // why unfixable
  std::string last_error;  // the test's last error line
  std::string suggestion;  // a manual next step
  std::string approach;    // the agent's summary, or the diffstat
  std::vector<std::string> files;
  std::uint32_t round = 0;   // schema 2: the round it was found in (1 = detect)
  std::string resolved_by;   // schema 2: for cured, the test whose fix cured it
  // schema 2: why it is not fixed, as a word: attempts | policy | gave_up | budget | regression |
  // unverified | not_attempted ("" when fixed, cured or flaky)
  std::string reason_kind;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("test_id", test_id); f("outcome", outcome); f("attempts", attempts); f("reason", reason);
    f("last_error", last_error); f("suggestion", suggestion); f("approach", approach); f("files", files);
    if (v >= 2) { f("round", round); f("resolved_by", resolved_by); f("reason_kind", reason_kind); }
  }
};

struct Committed {
  FIXHOST_PAYLOAD(Committed, 1);
  std::string branch;
  std::string commit;
  std::string message;
  std::vector<std::string> files;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("branch", branch); f("commit", commit); f("message", message); f("files", files);
  }
};

struct ApprovalGiven {
  FIXHOST_PAYLOAD(ApprovalGiven, 1);
  std::string approved_run;
  std::string branch;         // the run's branch
  std::string target_branch;  // the user's branch it was merged into
  std::string merge_commit;
  bool pushed = false;
  std::string remote;
  std::string user;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("approved_run", approved_run); f("branch", branch); f("target_branch", target_branch);
    f("merge_commit", merge_commit); f("pushed", pushed); f("remote", remote); f("user", user);
  }
};

// ---- self-heal ----------------------------------------------------------------------------
struct PrOpened {
  FIXHOST_PAYLOAD(PrOpened, 1);
  std::string provider;  // github
  std::uint64_t number = 0;
  std::string url;
  std::string branch;  // fix/sentry-<id>
  std::string base;
  std::string title;
  std::string issue_id;  // the Sentry issue it fixes
  template <class F> void fields(F&& f, std::uint16_t) {
    f("provider", provider); f("number", number); f("url", url); f("branch", branch); f("base", base);
    f("title", title); f("issue_id", issue_id);
  }
};

struct PrResolved {
  FIXHOST_PAYLOAD(PrResolved, 1);
  std::uint64_t number = 0;
  std::string state;  // merged | closed
  std::uint32_t human_commits = 0;
  std::int64_t resolved_at_us = 0;
  std::string issue_id;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("number", number); f("state", state); f("human_commits", human_commits);
    f("resolved_at_us", resolved_at_us); f("issue_id", issue_id);
  }
};

struct SentryIssueIngested {
  FIXHOST_PAYLOAD(SentryIssueIngested, 2);
  std::string issue_id;
  std::string short_id;
  std::string via;  // api | webhook | envelope | store
  std::string project;
  std::string title;
  std::string culprit;
  std::string level;  // fatal | error | warning | info | debug
  std::string platform;
  std::uint64_t count = 0;
  std::uint64_t user_count = 0;
  std::string first_seen;  // ISO 8601 as Sentry sends it
  std::string last_seen;
  std::string fingerprint;
  std::vector<Frame> frames;  // innermost last, as Sentry orders them
  Blob raw;                   // the payload as received
  // schema 2
  std::string event_id;        // the event's id (32 hex), "" for an issue without an event
  std::string release;
  std::string environment;
  std::string exception_type;  // the innermost exception's type ("" for a message event)
  std::string exception_value;
  std::string user;            // user id, else email, else ip: what Sentry counts users by
  std::string delivery_id;     // webhooks: the Request-ID header (deliveries are deduplicated on it)
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("issue_id", issue_id); f("short_id", short_id); f("via", via); f("project", project); f("title", title);
    f("culprit", culprit); f("level", level); f("platform", platform); f("count", count);
    f("user_count", user_count); f("first_seen", first_seen); f("last_seen", last_seen);
    f("fingerprint", fingerprint); f("frames", frames); f("raw", raw);
    if (v >= 2) {
      f("event_id", event_id); f("release", release); f("environment", environment);
      f("exception_type", exception_type); f("exception_value", exception_value); f("user", user);
      f("delivery_id", delivery_id);
    }
  }
};

struct IssueTriaged {
  FIXHOST_PAYLOAD(IssueTriaged, 2);
  std::string issue_id;
  std::string group;     // hash of the normalised stack trace
  std::string priority;  // P0 | P1 | P2 (the severity class)
  double score = 0;      // this event's contribution to the group's priority (severity weight)
  std::uint64_t frequency = 0;
  std::uint32_t severity = 0;  // the severity class's weight
  std::string reason;          // why this severity, and for skip/human why
  // schema 2
  std::string decision;  // fix | document | skip | human
  std::string title;
  std::string culprit;   // file:line of the innermost in-app frame
  std::string level;
  std::string event_id;
  std::string user;
  std::string release;
  std::string environment;
  std::string grouping;  // fingerprint | in_app | exception | message: what the group was made from
  std::string rules;     // the severity rule that matched (its id)
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("issue_id", issue_id); f("group", group); f("priority", priority); f("score", score);
    f("frequency", frequency); f("severity", severity); f("reason", reason);
    if (v >= 2) {
      f("decision", decision); f("title", title); f("culprit", culprit); f("level", level);
      f("event_id", event_id); f("user", user); f("release", release); f("environment", environment);
      f("grouping", grouping); f("rules", rules);
    }
  }
};

struct HumanAlert {
  FIXHOST_PAYLOAD(HumanAlert, 1);
  std::string reason;  // infrastructure | budget | protected_path | other
  std::string summary;
  std::string detail;
  double error_rate = 0;  // events per minute when it fired
  template <class F> void fields(F&& f, std::uint16_t) {
    f("reason", reason); f("summary", summary); f("detail", detail); f("error_rate", error_rate);
  }
};

struct ErrorRecurrenceChecked {
  FIXHOST_PAYLOAD(ErrorRecurrenceChecked, 1);
  std::string issue_id;
  std::uint64_t pr_number = 0;
  bool stopped = false;
  std::uint64_t events_since = 0;
  std::int64_t window_s = 0;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("issue_id", issue_id); f("pr_number", pr_number); f("stopped", stopped);
    f("events_since", events_since); f("window_s", window_s);
  }
};

// ---- parallel build -----------------------------------------------------------------------
struct StreamPlanned {
  FIXHOST_PAYLOAD(StreamPlanned, 2);
  std::string stream;
  std::string role;  // contract | backend | frontend | tests | ...
  std::vector<std::string> owns;  // globs of the files this stream may write
  std::vector<std::string> depends_on;
  std::string agent;
  // v2: globs this stream shares with others (merged three-way), its part of the work, the
  // manifest's feature and the build's spec path ("" before v2)
  std::vector<std::string> shared;
  std::string prompt;
  std::string feature;
  std::string spec;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("stream", stream); f("role", role); f("owns", owns); f("depends_on", depends_on); f("agent", agent);
    if (v >= 2) { f("shared", shared); f("prompt", prompt); f("feature", feature); f("spec", spec); }
  }
};

struct WorktreeCreated {
  FIXHOST_PAYLOAD(WorktreeCreated, 1);
  std::string stream;  // "" for a run's own worktree
  std::string path;
  std::string branch;
  std::string base_commit;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("stream", stream); f("path", path); f("branch", branch); f("base_commit", base_commit);
  }
};

struct StreamFinished {
  FIXHOST_PAYLOAD(StreamFinished, 3);
  std::string stream;
  std::string outcome;  // ok | failed | budget_exceeded | policy | skipped
  std::int64_t duration_ms = 0;
  std::string commit;
  std::vector<std::string> files;  // repo-relative paths the stream's diff touches
  std::int32_t agent_exit = 0;
  // v2 ("" / 0 / empty before v2):
  std::int64_t started_ms = 0;  // when the stream's agent started, ms after the build started
  std::string base_commit;      // what its worktree was based on
  Blob diff;                    // `git diff` of base_commit..commit, with renames
  std::string diffstat;         // "3 files, +40 -2"
  std::string summary;          // what the agent wrote to FIXHOST_SUMMARY_FILE
  std::vector<std::string> stray;  // paths outside its `owns`, inside .git or outside the worktree
  std::string detail;              // why it failed, one line
  // v3 ("" before v3): hostctl build --distributed: the cluster worker that ran the stream and its job
  std::string worker;
  std::string job;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("stream", stream); f("outcome", outcome); f("duration_ms", duration_ms); f("commit", commit);
    f("files", files); f("agent_exit", agent_exit);
    if (v >= 2) {
      f("started_ms", started_ms); f("base_commit", base_commit); f("diff", diff); f("diffstat", diffstat);
      f("summary", summary); f("stray", stray); f("detail", detail);
    }
    if (v >= 3) {
      f("worker", worker); f("job", job);
    }
  }
};

struct WorktreesMerged {
  FIXHOST_PAYLOAD(WorktreesMerged, 2);
  std::vector<std::string> streams;
  std::string commit;
  std::uint32_t conflicts = 0;
  bool integration_passed = false;
  std::int64_t wall_ms = 0;    // the parallel run's wall clock
  std::int64_t serial_ms = 0;  // the sum of the streams' durations
  // v2 (0 / "" / false before v2):
  std::int64_t critical_ms = 0;     // longest dependency chain of stream durations + merge + integration
  std::int64_t merge_ms = 0;        // carrying out the merges
  std::int64_t integration_ms = 0;  // contract check and integration commands
  std::string failure_cause;        // "" | stream | conflict | contract_check | tests | lint | types
  bool contract_changed = false;    // a contract-owned file changed after the contract stream
  bool first_try = false;           // integration passed without --fix attempts
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("streams", streams); f("commit", commit); f("conflicts", conflicts);
    f("integration_passed", integration_passed); f("wall_ms", wall_ms); f("serial_ms", serial_ms);
    if (v >= 2) {
      f("critical_ms", critical_ms); f("merge_ms", merge_ms); f("integration_ms", integration_ms);
      f("failure_cause", failure_cause); f("contract_changed", contract_changed); f("first_try", first_try);
    }
  }
};

struct MergeConflict {
  FIXHOST_PAYLOAD(MergeConflict, 2);
  std::string stream;
  std::string file;
  std::string resolution;  // contract_wins | manual | resolver
  std::string detail;
  // v2: the conflicting hunks (git's conflict markers) and every stream that wrote the file
  Blob hunks;
  std::vector<std::string> streams;
  template <class F> void fields(F&& f, std::uint16_t v) {
    f("stream", stream); f("file", file); f("resolution", resolution); f("detail", detail);
    if (v >= 2) { f("hunks", hunks); f("streams", streams); }
  }
};

// ---- reporting and the host itself ---------------------------------------------------------
struct ReportWritten {
  FIXHOST_PAYLOAD(ReportWritten, 1);
  std::string kind;  // autofix | build | heal | incident
  std::string path;  // where it was also written, "" if only stored
  Blob markdown;
  template <class F> void fields(F&& f, std::uint16_t) { f("kind", kind); f("path", path); f("markdown", markdown); }
};

struct PluginFailed {
  FIXHOST_PAYLOAD(PluginFailed, 1);
  std::string plugin;  // name@version
  std::uint64_t trigger_seq = 0;
  std::uint16_t trigger_type = 0;
  std::string error;
  template <class F> void fields(F&& f, std::uint16_t) {
    f("plugin", plugin); f("trigger_seq", trigger_seq); f("trigger_type", trigger_type); f("error", error);
  }
};

struct ReplayCompared {
  FIXHOST_PAYLOAD(ReplayCompared, 1);
  std::string source_run;
  std::uint32_t only_recorded = 0;
  std::uint32_t only_replayed = 0;
  std::uint32_t category_changes = 0;
  std::uint32_t order_changes = 0;
  std::uint32_t severity_changes = 0;
  std::string detail;  // JSON lines, one per difference
  template <class F> void fields(F&& f, std::uint16_t) {
    f("source_run", source_run); f("only_recorded", only_recorded); f("only_replayed", only_replayed);
    f("category_changes", category_changes); f("order_changes", order_changes);
    f("severity_changes", severity_changes); f("detail", detail);
  }
};

// What the host read of the repository's own sources: each file and the repo-local modules it
// imports. The ordering plugin derives the fix order from this fact alone.
struct SourceFile {
  std::string path;      // relative to the repository root
  std::string language;  // python | javascript
  std::vector<std::string> imports;  // repo-relative paths of the files it imports
  template <class F> void fields(F&& f) { f("path", path); f("language", language); f("imports", imports); }
};

struct SourceScanned {
  FIXHOST_PAYLOAD(SourceScanned, 1);
  std::string root;
  std::vector<SourceFile> files;
  template <class F> void fields(F&& f, std::uint16_t) { f("root", root); f("files", files); }
};

// A round of fixing begins: round 1 holds the failures detect found; a later round the ones
// that appeared once earlier fixes let more tests run (a file that failed to import).
struct RoundStarted {
  FIXHOST_PAYLOAD(RoundStarted, 1);
  std::uint32_t round = 0;
  std::string found_by;               // detect | recheck | verify
  std::vector<std::string> test_ids;  // the failures of this round
  template <class F> void fields(F&& f, std::uint16_t) {
    f("round", round); f("found_by", found_by); f("test_ids", test_ids);
  }
};

// A built-in protection covers so much of the repository (its package is named after a
// protected word) that attempts there would all be refused. Derived by the policy plugin from
// SourceScanned; the host stops before running an agent and shows `suggestion`.
struct ProtectionTooWide {
  FIXHOST_PAYLOAD(ProtectionTooWide, 1);
  std::string protection;  // auth | payments | ...
  std::string matched;     // the word or glob, e.g. "ledger"
  std::uint32_t files_covered = 0;
  std::uint32_t files_total = 0;
  std::vector<std::string> examples;  // a few covered paths
  std::string suggestion;             // the fixhost.toml lines to write
  template <class F> void fields(F&& f, std::uint16_t) {
    f("protection", protection); f("matched", matched); f("files_covered", files_covered);
    f("files_total", files_total); f("examples", examples); f("suggestion", suggestion);
  }
};

// ---- parallel build (ids 50-59) ------------------------------------------------------------
// One file several streams wrote, and what the merger decided for it.
struct MergeDecision {
  std::string file;
  std::vector<std::string> streams;  // in merge order
  std::string resolution;            // contract_wins | three_way | refused
  std::string winner;                // the stream whose version is kept ("" for three_way)
  template <class F> void fields(F&& f) {
    f("file", file); f("streams", streams); f("resolution", resolution); f("winner", winner);
  }
};

// The worktree_merger plugin's decision for a build, derived from its StreamPlanned and
// StreamFinished events alone: the order to merge in and the rule for each overlapping file.
struct MergePlanned {
  FIXHOST_PAYLOAD(MergePlanned, 1);
  std::vector<std::string> order;      // streams to merge, dependencies first
  std::vector<std::string> excluded;   // "stream: why" (failed, or depends on a failed stream)
  std::vector<MergeDecision> decisions;
  std::string rules_version;           // the merger's rule set, e.g. "worktree_merger/1"
  template <class F> void fields(F&& f, std::uint16_t) {
    f("order", order); f("excluded", excluded); f("decisions", decisions); f("rules_version", rules_version);
  }
};

// One integration step on the integration branch (the contract check or one command).
struct IntegrationChecked {
  FIXHOST_PAYLOAD(IntegrationChecked, 1);
  std::string kind;  // contract_check | tests | lint | types
  std::vector<std::string> argv;
  std::int32_t exit_code = 0;
  std::int32_t signal = 0;
  bool passed = false;
  std::int64_t duration_ms = 0;
  Blob output;
  std::vector<std::string> files;   // repo files named in the output (stack traces, tsc errors)
  std::vector<std::string> owners;  // the streams owning those files
  template <class F> void fields(F&& f, std::uint16_t) {
    f("kind", kind); f("argv", argv); f("exit_code", exit_code); f("signal", signal); f("passed", passed);
    f("duration_ms", duration_ms); f("output", output); f("files", files); f("owners", owners);
  }
};

// What became of conflicts a three-way merge left, handed to the `[build] resolver` agent (one
// event per merge step: a stream's base, or a stream merged into the integration result).
struct ConflictResolved {
  FIXHOST_PAYLOAD(ConflictResolved, 1);
  std::string step;                  // "base of <stream>" | "merge of <stream>"
  std::vector<std::string> files;    // the conflicted files, the only ones the resolver may write
  std::vector<std::string> streams;  // the streams whose changes conflicted
  std::string resolver;              // the agent command
  // resolved | reused (the same conflict resolved earlier in the run, no agent call) | agent_failed
  // | budget_exceeded | rejected (the rails: a file other than the conflicted ones, policy)
  // | markers_left | invalid_json | deleted | check_failed | no_change
  std::string outcome;
  std::string detail;                // why, one line
  std::string tree;                  // the resolved tree ("" unless resolved or reused)
  std::uint64_t attempt_seq = 0;     // the resolver's AttemptFinished (0 when reused)
  template <class F> void fields(F&& f, std::uint16_t) {
    f("step", step); f("files", files); f("streams", streams); f("resolver", resolver); f("outcome", outcome);
    f("detail", detail); f("tree", tree); f("attempt_seq", attempt_seq);
  }
};

#undef FIXHOST_PAYLOAD

}  // namespace fixhost::events
