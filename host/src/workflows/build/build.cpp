// The parallel build workflow (build.hpp): PLAN (StreamPlanned), RUN the streams on a bounded
// pool over the engine's attempt, MERGE as the worktree_merger plugin decided, INTEGRATE, then
// COMMIT one squashed commit, REPORT.
//
// Threads: the main thread schedules, creates worktrees, commits stream branches and records
// every stream-level fact; one worker thread per running stream runs its agent attempt (the
// engine's run_attempt, which publishes AttemptStarted/AttemptFinished through the run's
// RunContext, whose publish is serialised). Git refs are read by every attempt's snapshots, so
// the host changes refs (a new stream branch, a stream's commit) only while no attempt runs:
// workers hold `gate_` shared for their attempt, the main thread holds it exclusively for ref
// changes.
#include "fixhost/host/build/build.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include "fixhost/events/codec.hpp"
#include "fixhost/host/build/metrics.hpp"
#include "fixhost/host/build/report.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/engine/attempt.hpp"
#include "fixhost/host/engine/detect.hpp"
#include "fixhost/host/engine/fix_loop.hpp"
#include "fixhost/host/engine/session.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/process.hpp"
#include "fixhost/host/world/sandbox.hpp"
#include "fixhost/sdk/paths.hpp"
#include "fixhost/store/capture.hpp"
#include "distributed.hpp"
#include "text.hpp"

namespace fixhost::host::build {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string build_branch(const std::string& run_id) { return "fixhost/build-" + run_id; }
std::string stream_branch(const std::string& run_id, const std::string& stream) {
  return "fixhost/build-" + run_id + "-" + stream;
}
fs::path build_dir(const fs::path& store_dir, const std::string& run_id) { return store_dir / "worktrees" / run_id; }

namespace {

constexpr std::size_t k_output_cap = 256 * 1024;

bool glob_any(const std::vector<std::string>& globs, const std::string& path) {
  for (const auto& g : globs)
    if (engine::path_matches(g, path)) return true;
  return false;
}

std::int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// `argv` as run in a worktree that holds agents' work: contained like the agents (a check's or
// test's configuration and code may be theirs), unless the run's sandbox is off.
std::vector<std::string> contained(const RunSandbox& sandbox, const std::vector<std::string>& argv) {
  return sandbox.on ? sandbox_argv(sandbox.layout, argv) : argv;
}

// git with the host's isolated configuration, whose stdout we need even when it exits 1.
Result<ProcessResult> git_raw(const fs::path& dir, std::vector<std::string> args) {
  ProcessSpec spec;
  spec.argv = {"git", "-C", dir.string(), "-c", "core.hooksPath=/dev/null"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {{"GIT_CONFIG_GLOBAL", "/dev/null"}, {"GIT_CONFIG_NOSYSTEM", "1"}};
  spec.interruptible = false;
  spec.timeout = std::chrono::minutes(5);
  return run_process(spec);
}

struct TreeMerge {
  std::string tree;
  std::vector<std::string> conflicts;  // files left with conflict markers
};

// `git merge-tree --write-tree a b`: git's three-way merge, in objects only (no worktree, no ref).
Result<TreeMerge> merge_trees(const fs::path& repo, const std::string& a, const std::string& b) {
  auto r = git_raw(repo, {"merge-tree", "--write-tree", "--name-only", "--no-messages", a, b});
  if (!r) return r.status();
  if (r->exit_code != 0 && r->exit_code != 1)
    return make_error(Errc::io_error, "git merge-tree " + a.substr(0, 12) + " " + b.substr(0, 12) + " in " + repo.string() +
                                          " failed: " + one_line(r->output.data, 300));
  auto ls = lines(r->output.data);
  if (ls.empty()) return make_error(Errc::io_error, "git merge-tree printed no tree in " + repo.string());
  TreeMerge m;
  m.tree = ls[0];
  if (r->exit_code == 1) m.conflicts.assign(ls.begin() + 1, ls.end());
  return m;
}

// `tree` with each of `files` as it is in `from` (removed where `from` has none), in a private index.
Result<std::string> files_from(const fs::path& repo, const fs::path& scratch, const std::string& tree,
                               const std::vector<std::string>& files, const std::string& from) {
  if (files.empty()) return tree;
  const std::map<std::string, std::string> env = {{"GIT_INDEX_FILE", scratch.string()}};
  std::error_code ec;
  fs::remove(scratch, ec);
  if (auto r = git::run(repo, {"read-tree", tree}, env); !r) return r.status();
  for (const auto& f : files) {
    auto ls = git::run(repo, {"ls-tree", from, "--", f});
    if (!ls) return ls.status();
    if (ls->empty()) {
      if (auto r = git::run(repo, {"update-index", "--force-remove", "--", f}, env); !r) return r.status();
    } else {
      // "<mode> blob <sha>\t<path>"
      std::istringstream in(*ls);
      std::string mode, type, sha;
      in >> mode >> type >> sha;
      if (auto r = git::run(repo, {"update-index", "--add", "--cacheinfo", mode + "," + sha + "," + f}, env); !r)
        return r.status();
    }
  }
  auto out = git::run(repo, {"write-tree"}, env);
  fs::remove(scratch, ec);
  return out;
}

Result<std::string> commit_tree(const fs::path& repo, const std::string& tree, const std::vector<std::string>& parents,
                                const std::string& message) {
  std::vector<std::string> args = git::identity_args(repo);
  args.insert(args.end(), {"commit-tree", tree});
  for (const auto& p : parents) args.insert(args.end(), {"-p", p});
  args.insert(args.end(), {"-m", message});
  return git::run(repo, args);
}

Result<std::vector<std::string>> changed_paths(const fs::path& repo, const std::string& a, const std::string& b) {
  auto r = git::run(repo, {"diff", "--name-only", "--no-renames", a, b});
  if (!r) return r.status();
  return lines(*r);
}

// A file's bytes in `tree` (git cat-file, exact: no trailing newline trimmed); nullopt when absent.
std::optional<std::string> blob_of(const fs::path& repo, const std::string& tree, const std::string& file) {
  auto r = git_raw(repo, {"cat-file", "blob", tree + ":" + file});
  if (!r || r->exit_code != 0) return std::nullopt;
  return r->output.data;
}

// Whether a line is one of git's conflict markers ("<<<<<<< ours", "=======", ">>>>>>> theirs",
// "||||||| base").
bool is_marker(std::string_view l) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l == "=======") return true;
  for (std::string_view m : {"<<<<<<<", ">>>>>>>", "|||||||"})
    if (l.substr(0, 7) == m && (l.size() == 7 || l[7] == ' ')) return true;
  return false;
}

std::size_t marker_lines(const std::string& text) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (is_marker(l)) ++n;
  return n;
}

// A conflicted file with the markers' labels (the merged commits' ids) taken out: the same
// conflict met at a stream's base and again in the final merge reads the same.
std::string conflict_key(const std::string& file, const std::string& text) {
  std::string out = file + '\0';
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out += (is_marker(l) ? l.substr(0, 7) : l) + "\n";
  return out;
}

// "<mode> <sha>" of `file` in `tree`, "" when absent.
std::string entry_of(const fs::path& repo, const std::string& tree, const std::string& file) {
  auto ls = git::run(repo, {"ls-tree", tree, "--", file});
  if (!ls || ls->empty()) return "";
  std::istringstream in(*ls);
  std::string mode, type, sha;
  in >> mode >> type >> sha;
  return mode + " " + sha;
}

// `tree` with each file set to an entry "<mode> <sha>", in a private index.
Result<std::string> tree_with(const fs::path& repo, const fs::path& scratch, const std::string& tree,
                              const std::map<std::string, std::string>& entries) {
  const std::map<std::string, std::string> env = {{"GIT_INDEX_FILE", scratch.string()}};
  std::error_code ec;
  fs::remove(scratch, ec);
  if (auto r = git::run(repo, {"read-tree", tree}, env); !r) return r.status();
  for (const auto& [file, entry] : entries) {
    const auto sp = entry.find(' ');
    if (auto r = git::run(repo, {"update-index", "--add", "--cacheinfo",
                                 entry.substr(0, sp) + "," + entry.substr(sp + 1) + "," + file}, env);
        !r)
      return r.status();
  }
  auto out = git::run(repo, {"write-tree"}, env);
  fs::remove(scratch, ec);
  return out;
}

// The first "file(line," (tsc) or "file:line" (flake8, eslint, mypy, pytest) of `files` in `output`.
std::pair<std::string, std::int64_t> first_location(const std::string& output, const std::vector<std::string>& files) {
  std::pair<std::string, std::int64_t> with_line{"", 0}, any{"", 0};
  std::size_t with_line_at = std::string::npos, any_at = std::string::npos;
  for (const auto& f : files)
    for (std::size_t at = output.find(f); at != std::string::npos; at = output.find(f, at + 1)) {
      if (at < any_at) any = {f, 0}, any_at = at;
      const std::size_t after = at + f.size();
      if (after + 1 >= output.size() || (output[after] != '(' && output[after] != ':')) continue;
      std::int64_t line = 0;
      for (std::size_t i = after + 1; i < output.size() && std::isdigit(static_cast<unsigned char>(output[i])); ++i)
        line = line * 10 + (output[i] - '0');
      if (line > 0 && at < with_line_at) with_line = {f, line}, with_line_at = at;
      if (line > 0) break;
    }
  return with_line_at != std::string::npos ? with_line : any;
}

// The first line of a failing command's output that reads like an error, else its first line.
std::string first_error_line(const std::string& output) {
  std::string first;
  std::istringstream in(output);
  for (std::string l; std::getline(in, l);) {
    if (l.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (first.empty()) first = l;
    std::string low = l;
    std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
    if (low.find("error") != std::string::npos || low.find("fail") != std::string::npos) return one_line(l, 400);
  }
  return one_line(first, 400);
}

enum class State { pending, running, done };

struct StreamRun {
  const Stream* st = nullptr;
  std::atomic<State> state{State::pending};  // written by its worker (-> done) and the scheduler
  std::string outcome;  // ok | failed | budget_exceeded | policy | skipped
  std::string detail;
  std::string base;
  std::string commit;
  Clock::time_point started;
  std::int64_t started_ms = 0;
  std::unique_ptr<engine::Workspace> ws;
  std::unique_ptr<engine::Session> session;
  // Filled by the worker:
  bool attempted = false;
  std::string error;  // the host's own failure
  engine::AttemptOutcome attempt;
  bool check_ran = false;
  ProcessResult check;
  std::thread worker;
  // --distributed: the job that runs it on a cluster worker, and the job's done or dead record.
  std::string job_id;
  std::optional<JobRecord> record;
};

class Build {
 public:
  Build(const Config& cfg, const BuildOptions& opts) : cfg_(cfg), opts_(opts), m_(opts.manifest) {}
  Result<BuildResult> run();

 private:
  void say(const std::string& s) const {
    std::lock_guard lock(say_mu_);  // the remote streams' waiting threads say too
    if (opts_.progress) opts_.progress(s);
  }
  Result<BuildResult> fail(const std::string& why, int code = k_exit_cannot_run);
  Status plan();
  Status schedule();
  Status start_stream(StreamRun& r);
  Status failed_start(StreamRun& r, const std::string& why);
  void work(StreamRun& r);
  void await_remote(StreamRun& r);
  Status finish_stream(StreamRun& r);
  Status finish_remote(StreamRun& r, events::StreamFinished& f);
  // Branch names use the coordinator's run id: a worker's --stream run pushes the branch the
  // coordinator waits for.
  std::string branch_run() const { return opts_.stream_of.empty() ? run_->id() : opts_.stream_of; }
  Status skip(StreamRun& r, const std::string& why);
  Result<std::vector<events::Event>> publish_finished(StreamRun& r, const events::StreamFinished& f);
  Status merge_and_integrate();
  Result<std::string> merged_base(const std::string& stream, const std::vector<std::string>& deps);
  Status integrate(const std::string& merged);
  // One failed integration step as recorded.
  struct FailedStep {
    IntegrationCommand step;
    events::IntegrationChecked checked;
    std::uint64_t seq = 0;
  };
  // One integration command in `wt`, bounded by what is left of the build's budget.
  Result<ProcessResult> run_check(const std::filesystem::path& wt, const std::vector<std::string>& argv) const;
  Result<bool> run_steps(const std::filesystem::path& wt, const std::vector<IntegrationCommand>& steps,
                         std::vector<FailedStep>* failed = nullptr);
  Result<std::vector<std::string>> fix_integration(engine::Workspace& ws, const std::vector<FailedStep>& failed);
  Status fix_command(engine::Session& s, const FailedStep& f, const std::string& id, std::size_t order, std::size_t of,
                     std::vector<std::string>& patches);
  // The integration worktree, made at its first use (a conflict to resolve, or integration) and
  // moved to `commit` on every later one.
  Status place_integration(const std::string& commit);
  // Conflicts a three-way merge left (`files`, in `conflicted`, the merge of `ours` and `theirs`)
  // handed to the [build] resolver in the integration worktree and judged; the resolved tree, or
  // nullopt when the resolution was refused (ConflictResolved says why either way).
  Result<std::optional<std::string>> resolve(const std::string& step, const std::string& ours, const std::string& theirs,
                                             const std::string& conflicted, const std::vector<std::string>& files,
                                             const std::vector<std::string>& streams, std::uint64_t cause);
  std::string resolver_prompt(const std::string& step, const std::string& conflicted,
                              const std::vector<std::string>& files, const std::vector<std::string>& streams) const;
  std::string prompt_for(const StreamRun& r) const;
  Status report();
  Result<BuildResult> finish_single();
  Status land(const std::string& merged, const std::vector<std::string>& patches, std::size_t steps_count);

  const Config& cfg_;
  const BuildOptions& opts_;
  const Manifest& m_;
  fs::path repo_, store_;
  std::string base_;  // the user's HEAD
  std::unique_ptr<RunContext> run_;
  BuildResult res_;
  Clock::time_point t0_;
  Clock::time_point deadline_;
  std::map<std::string, StreamRun> streams_;
  std::optional<events::MergePlanned> plan_;
  std::shared_mutex gate_;  // see the top of the file
  std::mutex mu_;           // guards StreamRun::state between workers and the scheduler
  std::condition_variable cv_;
  std::uint32_t conflicts_ = 0;  // MergeConflict events recorded
  std::uint32_t blocking_ = 0;   // of those, the ones no rule resolved
  std::int64_t merge_ms_ = 0, integration_ms_ = 0;
  std::string failure_cause_;
  bool contract_changed_ = false;
  bool budget_exceeded_ = false;
  bool fixed_ = false;  // integration passed only after --fix
  std::vector<std::string> failure_owners_;  // the streams owning the files the first failure names
  std::unique_ptr<engine::Workspace> integration_;
  RunSandbox integration_sandbox_;  // how the integration commands in it are contained
  std::unique_ptr<RemoteStreams> remote_;  // --distributed
  mutable std::mutex say_mu_;
  std::map<std::string, std::string> resolutions_;  // conflict_key -> the resolved "<mode> <sha>"
};

Result<BuildResult> Build::fail(const std::string& why, int code) {
  res_.error = why;
  res_.exit_code = code;
  if (run_) (void)run_->finish("error", code, why);
  return res_;
}

std::string Build::prompt_for(const StreamRun& r) const {
  const Stream& s = *r.st;
  std::ostringstream os;
  os << "# Stream `" << s.id << "` (" << s.role << ") of the feature: " << m_.feature << "\n\n";
  if (!m_.spec.empty()) {
    os << "## The spec (`" << m_.spec << "`)\n\n";
    std::ifstream in(r.ws->path() / m_.spec, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    os << (text.str().empty() ? "(the spec file is not in the repository)\n" : text.str()) << "\n\n";
  }
  os << "## Your part\n\n" << (s.prompt.empty() ? "(no prompt given: do the " + s.role + " part of the spec)" : s.prompt)
     << "\n\n## What you own\n\nYou may write only paths matching: " << join(s.owns)
     << (s.shared.empty() ? "" : "; and, shared with other streams (merged three-way): " + join(s.shared)) << ".\n";
  if (const Stream* c = m_.contract(); c && c->id != s.id)
    os << "The contract stream `" << c->id << "` owns " << join(c->owns)
       << ": read those files, do not change them (its version wins).\n";
  os << "A change anywhere else, inside .git, or outside the worktree fails this stream and nothing of it is merged. "
        "Do not commit, switch branches or move HEAD: fixhost commits your work.\n";
  if (!s.depends_on.empty()) {
    os << "\n## What your dependencies produced (already in your worktree)\n\n";
    for (const auto& d : s.depends_on) {
      const auto& dr = streams_.at(d);
      os << "- `" << d << "`";
      if (!dr.attempt.finished.summary.empty()) os << ": " << dr.attempt.finished.summary;
      os << "\n";
      for (const auto& f : dr.attempt.files) os << "  - " << f << "\n";
    }
  }
  if (!s.check.empty()) os << "\nAfterwards fixhost runs your stream's check: `" << join(s.check, " ") << "`.\n";
  return os.str();
}

Status Build::plan() {
  for (const auto& s : m_.streams) {
    events::StreamPlanned p;
    p.stream = s.id;
    p.role = s.role;
    p.owns = s.owns;
    p.depends_on = s.depends_on;
    p.agent = s.agent;
    p.shared = s.shared;
    p.prompt = s.prompt;
    p.feature = m_.feature;
    p.spec = m_.spec;
    auto r = run_->publish(p);
    if (!r) return r.status();
    streams_.try_emplace(s.id).first->second.st = &s;
  }
  return Status::ok();
}

Result<std::string> Build::merged_base(const std::string& stream, const std::vector<std::string>& deps) {
  if (deps.empty()) return base_;
  std::string cur = streams_.at(deps[0]).commit;
  for (std::size_t i = 1; i < deps.size(); ++i) {
    const std::string& other = streams_.at(deps[i]).commit;
    auto mt = merge_trees(repo_, cur, other);
    if (!mt) return mt.status();
    std::string tree = mt->tree;
    if (!mt->conflicts.empty()) {
      // The same conflict the final merge would meet: recorded now, with its hunks.
      const std::vector<std::string> involved(deps.begin(), deps.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      std::uint64_t last = 0;
      for (const auto& file : mt->conflicts) {
        events::MergeConflict c;
        c.stream = deps[i];
        c.file = file;
        c.resolution = m_.resolver.empty() ? "manual" : "resolver";
        c.streams = involved;
        c.detail = "the three-way merge of " + join(c.streams) + " (the base of '" + stream + "') left conflicts" +
                   (m_.resolver.empty() ? "" : "; handed to the [build] resolver");
        if (auto blob = blob_of(repo_, mt->tree, file)) {
          c.hunks.data = *blob;
          c.hunks.total_bytes = blob->size();
        }
        ++conflicts_;
        auto p = run_->publish(c);
        if (!p) return p.status();
        last = p->front().seq;
      }
      std::optional<std::string> resolved;
      if (!m_.resolver.empty()) {
        auto r = resolve("base:" + stream, cur, other, mt->tree, mt->conflicts, involved, last);
        if (!r) return r.status();
        resolved = std::move(*r);
      }
      if (!resolved) {
        blocking_ += static_cast<std::uint32_t>(mt->conflicts.size());
        return make_error(Errc::refused, "the streams it depends on conflict in " + join(mt->conflicts) +
                                             (m_.resolver.empty() ? "" : " and the resolver's resolution was refused"));
      }
      tree = *resolved;
    }
    auto c = commit_tree(repo_, tree, {cur, other}, "fixhost build " + run_->id() + ": base of merged " + join(deps));
    if (!c) return c.status();
    cur = *c;
  }
  // As in the final merge, the contract's version of its files wins over a dependency's change.
  const Stream* contract = m_.contract();
  if (!contract || !streams_.count(contract->id) || streams_.at(contract->id).commit.empty()) return cur;
  std::vector<std::string> files;
  for (const auto& d : deps) {
    if (d == contract->id) continue;
    for (const auto& f : streams_.at(d).attempt.files)
      if (glob_any(contract->owns, f)) files.push_back(f);
  }
  if (files.empty()) return cur;
  auto tree_of = git::run(repo_, {"rev-parse", cur + "^{tree}"});
  if (!tree_of) return tree_of.status();
  auto tree = files_from(repo_, store_ / "attempts" / run_->id() / "base.index", *tree_of, files,
                         streams_.at(contract->id).commit);
  if (!tree) return tree.status();
  return commit_tree(repo_, *tree, {cur}, "fixhost build " + run_->id() + ": the contract's version of " + join(files));
}

// A stream that could not be started (no worktree, not queued) is failed, with why.
Status Build::failed_start(StreamRun& r, const std::string& why) {
  r.state = State::done;
  r.outcome = "failed";
  r.detail = why;
  events::StreamFinished f;
  f.stream = r.st->id;
  f.outcome = r.outcome;
  f.detail = r.detail;
  f.started_ms = r.started_ms;
  f.base_commit = r.base;
  return publish_finished(r, f).status();
}

Status Build::start_stream(StreamRun& r) {
  const Stream& s = *r.st;
  r.started = Clock::now();
  r.started_ms = ms_since(t0_);
  auto base = merged_base(s.id, s.depends_on);
  if (!base) {
    r.state = State::done;
    return skip(r, base.status().message());
  }
  r.base = *base;
  if (remote_) {
    auto id = remote_->submit(branch_run(), m_, s, r.base);
    if (!id) return failed_start(r, "cannot queue it on the cluster: " + id.status().message());
    r.job_id = *id;
    r.state = State::running;
    say("stream " + s.id + ": queued as job " + r.job_id + " on " + r.base.substr(0, 12));
    return Status::ok();
  }
  engine::WorkspaceSpec spec;
  spec.repo = repo_;
  spec.path = build_dir(store_, run_->id()) / s.id;
  spec.branch = stream_branch(branch_run(), s.id);
  spec.base = r.base;
  spec.stream = s.id;
  {
    // The caller holds gate_ exclusively: a new branch, no attempt between its snapshots.
    auto ws = engine::Workspace::create(*run_, cfg_, spec, {});
    if (!ws) return failed_start(r, "cannot create its worktree: " + ws.status().message());
    r.ws = std::move(*ws);
  }
  r.session = std::make_unique<engine::Session>(cfg_, *run_, *r.ws);
  r.session->agent = s.agent;
  r.session->deadline = deadline_;
  auto sandbox = run_sandbox(cfg_, store_, r.ws->common(), r.ws->path());
  if (!sandbox) return sandbox.status();
  r.session->sandbox = std::move(*sandbox);
  r.state = State::running;
  say("stream " + s.id + ": started on " + r.base.substr(0, 12) + " in " + r.ws->path().string());
  return Status::ok();
}

void Build::work(StreamRun& r) {
  const Stream& s = *r.st;
  {
    std::shared_lock lock(gate_);
    engine::AgentCall call;
    call.test_id = "stream:" + s.id;
    call.category = s.role == "tests" ? "tests" : "build_stream";
    call.attempt = 1;
    call.dir = store_ / "attempts" / run_->id() / s.id;
    call.prompt = prompt_for(r);
    nlohmann::json owns = s.owns;
    call.env = {{"FIXHOST_STREAM", s.id},
                {"FIXHOST_ROLE", s.role},
                {"FIXHOST_OWNS", owns.dump()},
                {"FIXHOST_SHARED", nlohmann::json(s.shared).dump()},
                {"FIXHOST_FEATURE", m_.feature},
                {"FIXHOST_SPEC_FILE", m_.spec.empty() ? "" : (r.ws->path() / m_.spec).string()}};
    call.timeout = std::chrono::seconds(s.budget_s);
    call.allowed = s.owns;
    call.allowed.insert(call.allowed.end(), s.shared.begin(), s.shared.end());
    call.allowed_rule = "outside_owned";
    auto a = engine::run_attempt(*r.session, call);
    if (!a) {
      r.error = a.status().to_string();
    } else {
      r.attempted = true;
      r.attempt = std::move(*a);
      const bool agent_ok = r.attempt.agent.exit_code == 0 && !r.attempt.agent.timed_out;
      if (agent_ok && !s.check.empty() && r.attempt.rejections.empty()) {
        ProcessSpec spec;
        spec.argv = contained(r.session->sandbox, s.check);
        spec.cwd = r.ws->path().string();
        spec.timeout = std::max(std::chrono::milliseconds(1000), r.session->remaining());
        spec.head_cap = spec.tail_cap = k_output_cap;
        if (auto c = run_process(spec)) {
          r.check_ran = true;
          r.check = std::move(*c);
        } else {
          r.error = c.status().to_string();
        }
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    r.state = State::done;
  }
  cv_.notify_all();
}

void Build::await_remote(StreamRun& r) {
  // Past the build's budget the stream is given up here (the worker's own budget ends its agent).
  auto rec = remote_->await(
      r.job_id, deadline_ + std::chrono::seconds(30), [] { return interrupt_requested(); },
      [&](const JobRecord& st) {
        say("stream " + r.st->id + ": taken by worker " + st.worker + " (delivery " + std::to_string(st.delivery) + ")");
      });
  if (rec) r.record = std::move(*rec);
  else r.error = rec.status().message();
  {
    std::lock_guard lock(mu_);
    r.state = State::done;
  }
  cv_.notify_all();
}

// A stream a worker ran: the record says what it did; the commit is fetched and judged here as a
// local stream's is (its diff inside owns + shared, committed on its base by this host).
Status Build::finish_remote(StreamRun& r, events::StreamFinished& f) {
  const Stream& s = *r.st;
  f.job = r.job_id;
  if (!r.record) {
    r.outcome = r.error.find("time budget") != std::string::npos ? "budget_exceeded" : "failed";
    if (r.outcome == "budget_exceeded") budget_exceeded_ = true;
    r.detail = r.error;
    return Status::ok();
  }
  const JobRecord& rec = *r.record;
  f.worker = rec.worker;
  if (rec.what == "dead") {
    r.outcome = "failed";
    r.detail = "job " + r.job_id + " went to the dead letters: " + one_line(rec.reason, 300);
    return Status::ok();
  }
  // The worker's result ({} when an earlier delivery pushed the branch and died before telling).
  nlohmann::json res = nlohmann::json::parse(rec.result.empty() ? "{}" : rec.result, nullptr, false);
  if (!res.is_object()) res = nlohmann::json::object();
  auto str = [&](const char* k) { return res.contains(k) && res[k].is_string() ? res[k].get<std::string>() : std::string(); };
  f.summary = str("summary");
  f.agent_exit = res.contains("agent_exit") && res["agent_exit"].is_number_integer() ? res["agent_exit"].get<std::int32_t>() : 0;
  if (rec.commit.empty()) {
    r.outcome = str("outcome").empty() || str("outcome") == "ok" ? "failed" : str("outcome");
    r.detail = str("detail").empty() ? "the worker committed nothing" : str("detail");
    if (res.contains("stray") && res["stray"].is_array())
      for (const auto& p : res["stray"])
        if (p.is_string()) f.stray.push_back(p.get<std::string>());
    if (r.outcome == "budget_exceeded") budget_exceeded_ = true;
    return Status::ok();
  }
  auto fetched = remote_->fetch(rec.branch);
  if (!fetched) {
    r.outcome = "failed";
    r.detail = fetched.status().message();
    return Status::ok();
  }
  auto files = changed_paths(repo_, r.base, *fetched);
  if (!files) return files.status();
  f.files = *files;
  r.attempt.files = *files;  // the contract's files in a later base come from here
  std::vector<std::string> allowed = s.owns;
  allowed.insert(allowed.end(), s.shared.begin(), s.shared.end());
  for (const auto& p : *files)
    if (!glob_any(allowed, p)) f.stray.push_back(p);
  if (!f.stray.empty()) {
    r.outcome = "policy";
    r.detail = "outside_owned " + f.stray.front() + ": the commit worker " + rec.worker + " pushed changes files stream '" + s.id +
               "' does not own";
    return Status::ok();
  }
  auto tree = git::run(repo_, {"rev-parse", *fetched + "^{tree}"});
  if (!tree) return tree.status();
  auto c = commit_tree(repo_, *tree, {r.base},
                       "fixhost build " + run_->id() + " stream " + s.id + (f.summary.empty() ? "" : ": " + f.summary));
  if (!c) return c.status();
  if (auto u = git::run(repo_, {"update-ref", "refs/heads/" + stream_branch(branch_run(), s.id), *c}); !u) return u.status();
  r.commit = *c;
  f.commit = *c;
  if (auto ds = git::diffstat(repo_, r.base, *c)) f.diffstat = *ds;
  if (auto d = git::diff_trees(repo_, r.base, *c)) {
    store::CappedCapture cap(4u << 20, 4u << 20);  // as an attempt's diff (docs/STORE.md)
    cap.append(*d);
    f.diff = std::move(cap).finish();
  }
  r.outcome = "ok";
  return Status::ok();
}

Result<std::vector<events::Event>> Build::publish_finished(StreamRun& r, const events::StreamFinished& f) {
  StreamResult sr;
  sr.id = f.stream;
  sr.outcome = f.outcome;
  sr.detail = f.detail;
  sr.commit = f.commit;
  sr.summary = f.summary;
  sr.diffstat = f.diffstat;
  sr.files = f.files;
  sr.stray = f.stray;
  sr.agent_exit = f.agent_exit;
  sr.duration_ms = f.duration_ms;
  sr.worker = f.worker;
  res_.streams.push_back(std::move(sr));
  auto out = run_->publish(f);
  if (!out) return out.status();
  for (const auto& e : *out)
    if (e.type == events::EventType::MergePlanned)
      if (auto p = events::decode<events::MergePlanned>(e)) plan_ = std::move(*p);
  return out;
}

Status Build::skip(StreamRun& r, const std::string& why) {
  r.state = State::done;
  r.outcome = "skipped";
  r.detail = why;
  say("stream " + r.st->id + ": skipped (" + why + ")");
  events::StreamFinished f;
  f.stream = r.st->id;
  f.outcome = r.outcome;
  f.detail = why;
  f.started_ms = ms_since(t0_);
  return publish_finished(r, f).status();
}

Status Build::finish_stream(StreamRun& r) {
  if (r.worker.joinable()) r.worker.join();
  const Stream& s = *r.st;
  events::StreamFinished f;
  f.stream = s.id;
  f.started_ms = r.started_ms;
  f.base_commit = r.base;
  const auto& a = r.attempt;
  if (remote_) {
    if (auto st = finish_remote(r, f); !st) return st;
  } else if (!r.attempted) {
    r.outcome = "failed";
    r.detail = "the host could not run the attempt: " + r.error;
  } else {
    f.agent_exit = a.agent.exit_code;
    f.files = a.files;
    f.diff = a.finished.diff;
    f.summary = a.finished.summary;
    for (const auto& rej : a.rejections) {
      // The tests stream's job is writing tests: test_edited does not fail it (it is recorded).
      if (s.role == "tests" && rej.rfind("test_edited", 0) == 0) continue;
      if (rej.rfind("attempt_cost", 0) == 0) continue;  // a budget, below
      // Another stream's agent moving its own branch shows in every running attempt's ref
      // snapshot; it is that stream's tampering (its HEAD moved too), not this one's.
      if (rej.rfind("git_tampering", 0) == 0 && rej.find(" ref refs/heads/" + build_branch(run_->id()) + "-") != std::string::npos &&
          rej.find(" ref refs/heads/" + stream_branch(branch_run(), s.id) + " ") == std::string::npos)
        continue;
      std::string rule = rej.substr(0, rej.find_first_of(" :"));
      std::string rest = rej.substr(rule.size());
      std::string path = rest.size() > 1 && rest[0] == ' ' ? rest.substr(1, rest.find(':') - 1) : "";
      if (rule == "outside_owned" || rule == "git_tampering" || rule == "path_escape")
        f.stray.push_back(path.empty() ? rej : path);
      if (r.detail.empty()) r.detail = rej;
      r.outcome = "policy";
    }
    if (a.wrote_outside) {
      r.outcome = "policy";
      r.detail = "the agent changed the user's checkout";
      (void)engine::alert_wrote_outside(*r.session, "stream " + s.id, 1);
    }
    if (r.outcome.empty()) {
      if (a.over_cost) {
        r.outcome = "budget_exceeded";  // run_attempt recorded BudgetExceeded attempt_cost
        r.detail = r.session->stop_reason;
        budget_exceeded_ = true;
      } else if (a.agent.timed_out) {
        r.outcome = "budget_exceeded";
        r.detail = "killed at its budget of " + std::to_string(a.timeout.count() / 1000) + " s";
        (void)r.session->exceed(a.deadline_bound ? "run_time" : "attempt_time", a.timeout.count(), a.agent.duration_ms,
                                "stream:" + s.id, 1);
        if (a.deadline_bound) budget_exceeded_ = true;
      } else if (a.agent.exit_code != 0) {
        r.outcome = "failed";
        r.detail = "the agent exited " + std::to_string(a.agent.exit_code);
      } else if (!r.error.empty()) {
        r.outcome = "failed";
        r.detail = r.error;
      } else if (r.check_ran && (r.check.exit_code != 0 || r.check.timed_out)) {
        r.outcome = "failed";
        r.detail = "its check `" + join(s.check, " ") + "` failed: " + one_line(r.check.output.data, 200);
      } else {
        r.outcome = "ok";
      }
    }
  }
  if (r.outcome == "ok" && !remote_) {
    // The commit is the judged state (the attempt's after-snapshot tree), never a re-read.
    auto c = commit_tree(repo_, a.after.tree, {r.base},
                         "fixhost build " + run_->id() + " stream " + s.id + (f.summary.empty() ? "" : ": " + f.summary));
    if (!c) return c.status();
    std::unique_lock lock(gate_);
    if (auto u = git::run(repo_, {"update-ref", "refs/heads/" + stream_branch(branch_run(), s.id), *c}); !u)
      return u.status();
    r.commit = *c;
    f.commit = *c;
    if (auto ds = git::diffstat(repo_, r.base, *c)) f.diffstat = *ds;
  }
  f.outcome = r.outcome;
  f.detail = r.detail;
  f.duration_ms = ms_since(r.started);
  say("stream " + s.id + ": " + r.outcome + (r.detail.empty() ? "" : " (" + r.detail + ")") + " after " +
      std::to_string(f.duration_ms) + " ms, " + std::to_string(f.files.size()) + " files" +
      (f.worker.empty() ? "" : " (worker " + f.worker + ")"));
  return publish_finished(r, f).status();
}

Status Build::schedule() {
  std::uint32_t jobs = opts_.jobs ? opts_.jobs : m_.jobs;
  for (;;) {
    // Streams whose dependencies are decided: start (pool permitting) or skip.
    bool all_done = true;
    std::uint32_t running = 0;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, r] : streams_) {
        // A finished worker not yet recorded (finish_stream joins it) is not done.
        if (r.state != State::done || r.worker.joinable()) all_done = false;
        if (r.state == State::running) ++running;
      }
    }
    if (all_done) break;
    std::vector<StreamRun*> starting;
    for (const auto& id : m_.order()) {
      StreamRun& r = streams_.at(id);
      if (r.state != State::pending) continue;
      bool ready = true;
      std::string blocked;
      for (const auto& d : r.st->depends_on) {
        const auto& dr = streams_.at(d);
        if (dr.state != State::done || dr.worker.joinable()) ready = false;
        else if (dr.outcome != "ok") blocked = d;
      }
      if (!blocked.empty()) {
        if (auto st = skip(r, "depends on '" + blocked + "', which did not finish ok"); !st) return st;
        continue;
      }
      if (!ready) continue;
      if (Clock::now() >= deadline_ || interrupt_requested()) {
        if (Clock::now() >= deadline_) budget_exceeded_ = true;
        if (auto st = skip(r, interrupt_requested() ? "interrupted" : "the build's time budget ran out"); !st) return st;
        continue;
      }
      if (auto capped = engine::run_cost_cap(*run_, cfg_, "stream:" + id, 1); !capped) {
        return capped.status();
      } else if (*capped) {
        budget_exceeded_ = true;
        if (auto st = skip(r, **capped); !st) return st;
        continue;
      }
      if (jobs && running >= jobs) continue;
      starting.push_back(&r);
      ++running;
    }
    // Their worktrees (new branches) all at once, under the gate; then their agents.
    if (!starting.empty()) {
      {
        std::unique_lock gate(gate_);
        for (StreamRun* r : starting)
          if (auto st = start_stream(*r); !st) return st;
      }
      for (StreamRun* r : starting)
        if (r->state == State::running)
          r->worker = std::thread([this, r] { remote_ ? await_remote(*r) : work(*r); });
      starting.clear();
    }
    // Wait for a worker to finish, then record it.
    StreamRun* done = nullptr;
    {
      std::unique_lock lock(mu_);
      auto finished = [&] {
        for (auto& [id, r] : streams_)
          if (r.state == State::done && r.worker.joinable()) return &r;
        return static_cast<StreamRun*>(nullptr);
      };
      bool any_running = std::any_of(streams_.begin(), streams_.end(), [](const auto& kv) { return kv.second.state == State::running; });
      if (any_running) cv_.wait(lock, [&] { return finished() != nullptr; });
      done = finished();
    }
    if (done)
      if (auto st = finish_stream(*done); !st) return st;
  }
  return Status::ok();
}

Status Build::place_integration(const std::string& commit) {
  if (!integration_) {
    engine::WorkspaceSpec spec;
    spec.repo = repo_;
    spec.path = build_dir(store_, run_->id()) / "integration";
    spec.branch = stream_branch(run_->id(), "integration");
    spec.base = commit;
    spec.stream = "integration";
    auto ws = engine::Workspace::create(*run_, cfg_, spec, {});
    if (!ws) return ws.status();
    integration_ = std::move(*ws);
    return Status::ok();
  }
  // Already made for a resolution: its branch, HEAD and files move to `commit`.
  auto snap = integration_->snapshot();
  if (!snap) return snap.status();
  auto tree = git::run(repo_, {"rev-parse", commit + "^{tree}"});
  if (!tree) return tree.status();
  snap->head = commit;
  snap->tree = *tree;
  return integration_->restore(*snap);
}

std::string Build::resolver_prompt(const std::string& step, const std::string& conflicted,
                                   const std::vector<std::string>& files, const std::vector<std::string>& streams) const {
  std::ostringstream os;
  const bool base = step.rfind("base:", 0) == 0;
  os << "# Resolve a merge conflict\n\n"
     << "You are working in `" << integration_->path().string() << "`, the integration worktree of the parallel build `"
     << run_->id() << "` (\"" << m_.feature << "\"). Merging the work of " << join(streams)
     << (base ? " (the base of stream `" + step.substr(5) + "`, which depends on them)"
              : " (stream `" + step.substr(6) + "` into the merged result)")
     << " left conflicts git's three-way merge could not resolve, in: " << join(files) << ".\n\n"
     << "Edit only these files: remove every conflict marker (`<<<<<<<`, `=======`, `>>>>>>>`) and keep what both "
        "sides meant. Do not commit, switch branches or touch `.git`. Exit 0 when done, non-zero to give up. Write one "
        "line describing the resolution to the file named by `$FIXHOST_SUMMARY_FILE`.\n\n"
     << "## The streams\n\n";
  for (const auto& id : streams) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) continue;
    const auto& r = it->second;
    os << "- `" << id << "` (" << r.st->role << ")"
       << (r.attempt.finished.summary.empty() ? "" : ": " + r.attempt.finished.summary) << "; files: " << join(r.attempt.files)
       << "\n";
  }
  os << "\n## The conflicts (the files as the merge left them)\n\n";
  for (const auto& f : files) {
    auto text = blob_of(repo_, conflicted, f).value_or("");
    if (text.size() > 16000) text = text.substr(0, 16000) + "\n... (" + std::to_string(text.size() - 16000) + " more bytes)\n";
    os << "### `" << f << "`\n\n```\n" << text << (text.empty() || text.back() == '\n' ? "" : "\n") << "```\n\n";
  }
  os << "## What fixhost checks afterwards (any failure stops the build before landing)\n\n"
     << "- only the conflicted files changed (the host's rule `outside_conflict`) and the policy plugin's rules hold;\n"
     << "- no conflict marker is left, no conflicted file is deleted, and a `.json` file parses;\n"
     << "- the `[streams.check]` command of each stream above that has one passes in this worktree.\n";
  return os.str();
}

Result<std::optional<std::string>> Build::resolve(const std::string& step, const std::string& ours,
                                                  const std::string& theirs, const std::string& conflicted,
                                                  const std::vector<std::string>& files,
                                                  const std::vector<std::string>& streams, std::uint64_t cause) {
  events::ConflictResolved cr;
  cr.step = step;
  cr.files = files;
  cr.streams = streams;
  cr.resolver = m_.resolver;
  auto finish = [&](std::optional<std::string> tree) -> Result<std::optional<std::string>> {
    if (tree) cr.tree = *tree;
    say("conflict in " + join(files) + " (" + step + "): " + cr.outcome + (cr.detail.empty() ? "" : " (" + cr.detail + ")"));
    if (auto r = run_->publish(cr, cause); !r) return r.status();
    return tree;
  };
  const fs::path scratch = store_ / "attempts" / run_->id() / "resolve.index";
  std::error_code ec;
  fs::create_directories(scratch.parent_path(), ec);

  // The same conflict resolved earlier in this run (at a stream's base, met again in the final
  // merge): the same resolution, no agent call.
  std::map<std::string, std::string> keys, reuse;
  for (const auto& f : files) {
    keys[f] = conflict_key(f, blob_of(repo_, conflicted, f).value_or(""));
    if (auto it = resolutions_.find(keys[f]); it != resolutions_.end()) reuse[f] = it->second;
  }
  if (reuse.size() == files.size()) {
    auto tree = tree_with(repo_, scratch, conflicted, reuse);
    if (!tree) return tree.status();
    cr.outcome = "reused";
    cr.detail = "resolved the same way earlier in this run";
    return finish(*tree);
  }

  auto placed = commit_tree(repo_, conflicted, {ours, theirs},
                            "fixhost build " + run_->id() + ": " + step + " with conflicts in " + join(files));
  if (!placed) return placed.status();
  if (auto st = place_integration(*placed); !st) return st;
  engine::Session s(cfg_, *run_, *integration_);
  s.agent = m_.resolver;
  s.deadline = deadline_;
  s.progress = opts_.progress;
  auto sandbox = run_sandbox(cfg_, store_, integration_->common(), integration_->path());
  if (!sandbox) return sandbox.status();
  s.sandbox = std::move(*sandbox);

  engine::AgentCall call;
  call.test_id = "resolve:" + step;
  call.category = "merge_conflict";
  call.attempt = 1;
  call.cause = cause;
  call.dir = store_ / "attempts" / run_->id() / ("resolve-" + step.substr(0, step.find(':')) + "-" + step.substr(step.find(':') + 1));
  call.prompt = resolver_prompt(step, conflicted, files, streams);
  call.env = {{"FIXHOST_CONFLICT_FILES", nlohmann::json(files).dump()},
              {"FIXHOST_STREAMS", nlohmann::json(streams).dump()},
              {"FIXHOST_MERGE_STEP", step},
              {"FIXHOST_FEATURE", m_.feature}};
  call.timeout = std::chrono::seconds(m_.stream_budget_s);
  for (const auto& f : files) call.allowed.push_back("/" + f);  // anchored: exactly these paths
  call.allowed_rule = "outside_conflict";
  auto a = engine::run_attempt(s, call);
  if (!a) return a.status();
  cr.attempt_seq = a->finished_seq;

  // Judge the resolution on its tree (the after-snapshot), as a stream's work is judged.
  const std::string tree = a->after.tree;
  if (a->agent.timed_out) {
    cr.outcome = "budget_exceeded";
    cr.detail = "killed at its budget of " + std::to_string(a->timeout.count() / 1000) + " s";
    (void)s.exceed(a->deadline_bound ? "run_time" : "attempt_time", a->timeout.count(), a->agent.duration_ms,
                   call.test_id, 1);
    if (a->deadline_bound) budget_exceeded_ = true;
  } else if (a->agent.exit_code != 0) {
    cr.outcome = "agent_failed";
    cr.detail = a->agent.spawn_error.empty() ? "the resolver exited " + std::to_string(a->agent.exit_code)
                                             : "the resolver could not be started: " + a->agent.spawn_error;
  } else if (a->wrote_outside) {
    cr.outcome = "rejected";
    cr.detail = "the resolver changed the user's checkout";
    (void)engine::alert_wrote_outside(s, "the resolver (" + step + ")", 1);
  } else if (!a->rejections.empty()) {
    cr.outcome = "rejected";
    cr.detail = a->rejections.front() + (a->rejections.size() > 1 ? " (and " + std::to_string(a->rejections.size() - 1) + " more)" : "");
  }
  if (cr.outcome.empty()) {
    // Belt and braces over the engine's rule: the exact paths changed, case and globs aside.
    auto changed = changed_paths(repo_, conflicted, tree);
    if (!changed) return changed.status();
    for (const auto& p : *changed)
      if (std::find(files.begin(), files.end(), p) == files.end()) {
        cr.outcome = "rejected";
        cr.detail = "it changed '" + p + "', which is not a conflicted file";
        break;
      }
  }
  for (const auto& f : files) {
    if (!cr.outcome.empty()) break;
    auto text = blob_of(repo_, tree, f);
    if (!text) {
      cr.outcome = "deleted";
      cr.detail = "it deleted '" + f + "'; a resolution keeps the file";
    } else if (auto n = marker_lines(*text); n > 0) {
      cr.outcome = "markers_left";
      cr.detail = "'" + f + "' still has " + std::to_string(n) + " conflict marker line(s)";
    } else if (fs::path(f).extension() == ".json" && !nlohmann::json::accept(*text)) {
      cr.outcome = "invalid_json";
      cr.detail = "'" + f + "' is not valid JSON after the resolution";
    }
  }
  if (cr.outcome.empty() && a->files.empty()) {
    cr.outcome = "no_change";  // a conflict without markers (binary, modify/delete) left as git left it
    cr.detail = "the resolver exited 0 but changed nothing";
  }
  // The merge step's checks again: each involved stream's own check, on the resolved files.
  for (const auto& id : streams) {
    if (!cr.outcome.empty()) break;
    const Stream* st = m_.find(id);
    if (!st || st->check.empty()) continue;
    ProcessSpec ps;
    ps.argv = contained(s.sandbox, st->check);
    ps.cwd = integration_->path().string();
    ps.timeout = s.command_timeout(std::chrono::seconds(st->budget_s));
    ps.head_cap = ps.tail_cap = k_output_cap;
    auto c = run_process(ps);
    if (!c) return c.status();
    if (c->exit_code != 0 || c->timed_out) {
      cr.outcome = "check_failed";
      cr.detail = "stream '" + id + "''s check `" + join(st->check, " ") + "` failed on the resolution: " +
                  one_line(c->output.data, 200);
    }
  }
  if (!cr.outcome.empty()) {
    if (auto st = engine::revert_attempt(s, a->before, call.test_id, 1, cr.outcome, a->files); !st) return st;
    return finish(std::nullopt);
  }
  for (const auto& f : files) resolutions_[keys[f]] = entry_of(repo_, tree, f);
  cr.outcome = "resolved";
  cr.detail = a->finished.summary;
  return finish(tree);
}

Status Build::merge_and_integrate() {
  const auto merge_t0 = Clock::now();
  if (!plan_)
    return make_error(Errc::internal, "the worktree_merger plugin decided no merge (is worktree_merger.so loaded? see "
                                      "`hostctl plugins`)");
  const Stream* contract = m_.contract();
  const std::string contract_commit =
      contract && streams_.count(contract->id) && !streams_.at(contract->id).commit.empty()
          ? streams_.at(contract->id).commit
          : base_;
  if (!plan_->excluded.empty()) {
    failure_cause_ = blocking_ ? "conflict" : "stream";
    say("not merged: " + join(plan_->excluded, "; ") + ": nothing lands");
    merge_ms_ = ms_since(merge_t0);
    return Status::ok();
  }
  std::map<std::string, const events::MergeDecision*> decision;
  for (const auto& d : plan_->decisions) decision[d.file] = &d;
  for (const auto& d : plan_->decisions) {
    if (d.resolution != "refused") continue;
    events::MergeConflict c;
    c.stream = d.streams.empty() ? "" : d.streams.back();
    c.file = d.file;
    c.resolution = "manual";
    c.streams = d.streams;
    c.detail = "written by " + join(d.streams) + ", which do not all list it in `shared`";
    ++conflicts_;
    ++blocking_;
    if (auto r = run_->publish(c); !r) return r.status();
  }
  if (blocking_) {
    failure_cause_ = "conflict";
    merge_ms_ = ms_since(merge_t0);
    return Status::ok();
  }
  const fs::path scratch_index = store_ / "attempts" / run_->id() / "merge.index";
  std::error_code ec;
  fs::create_directories(scratch_index.parent_path(), ec);
  std::string cur = base_;
  for (const auto& id : plan_->order) {
    const StreamRun& r = streams_.at(id);
    auto mt = merge_trees(repo_, cur, r.commit);
    if (!mt) return mt.status();
    std::vector<std::string> contract_files;
    for (const auto& d : plan_->decisions)
      if (d.resolution == "contract_wins" && id != d.winner &&
          std::find(d.streams.begin(), d.streams.end(), id) != d.streams.end())
        contract_files.push_back(d.file);
    std::vector<std::string> conflicted, involved;
    std::uint64_t last = 0;
    for (const auto& file : mt->conflicts) {
      if (std::find(contract_files.begin(), contract_files.end(), file) != contract_files.end()) continue;
      events::MergeConflict c;
      c.stream = id;
      c.file = file;
      c.resolution = m_.resolver.empty() ? "manual" : "resolver";
      auto it = decision.find(file);
      c.streams = it != decision.end() ? it->second->streams : std::vector<std::string>{id};
      c.detail = (it != decision.end() && it->second->resolution == "three_way" ? "three-way merge left conflicts"
                                                                                : "conflict") +
                 std::string(m_.resolver.empty() ? "; no [build] resolver: the run stops before landing"
                                                 : "; handed to the [build] resolver");
      if (auto blob = blob_of(repo_, mt->tree, file)) {
        c.hunks.data = *blob;
        c.hunks.total_bytes = blob->size();
      }
      for (const auto& x : c.streams)
        if (std::find(involved.begin(), involved.end(), x) == involved.end()) involved.push_back(x);
      ++conflicts_;
      auto p = run_->publish(c);
      if (!p) return p.status();
      last = p->front().seq;
      conflicted.push_back(file);
    }
    std::string merged_tree = mt->tree;
    if (!conflicted.empty()) {
      std::optional<std::string> resolved;
      if (!m_.resolver.empty()) {
        auto rs = resolve("merge:" + id, cur, r.commit, mt->tree, conflicted, involved, last);
        if (!rs) return rs.status();
        resolved = std::move(*rs);
      }
      if (!resolved) {
        blocking_ += static_cast<std::uint32_t>(conflicted.size());
        break;
      }
      merged_tree = *resolved;
    }
    auto tree = files_from(repo_, scratch_index, merged_tree, contract_files, contract_commit);
    if (!tree) return tree.status();
    for (const auto& file : contract_files) {
      events::MergeConflict c;
      c.stream = id;
      c.file = file;
      c.resolution = "contract_wins";
      c.streams = decision.at(file)->streams;
      c.detail = "'" + id + "' changed a file the contract stream owns; the contract's version is kept";
      ++conflicts_;
      if (auto p = run_->publish(c); !p) return p.status();
    }
    auto commit = commit_tree(repo_, *tree, {cur, r.commit}, "fixhost build " + run_->id() + ": merge stream " + id);
    if (!commit) return commit.status();
    cur = *commit;
  }
  merge_ms_ = ms_since(merge_t0);
  // contract_wins conflicts are resolved by the rule; any other stops the build before landing.
  if (blocking_) {
    failure_cause_ = "conflict";
    return Status::ok();
  }
  if (contract) {
    auto changed = changed_paths(repo_, contract_commit, cur);
    if (!changed) return changed.status();
    for (const auto& p : *changed)
      if (glob_any(contract->owns, p)) contract_changed_ = true;
  }
  return integrate(cur);
}

Status Build::integrate(const std::string& merged) {
  const auto t = Clock::now();
  if (auto st = place_integration(merged); !st) return st;
  const fs::path wt = integration_->path();
  auto sandbox = run_sandbox(cfg_, store_, integration_->common(), wt);
  if (!sandbox) return sandbox.status();
  integration_sandbox_ = std::move(*sandbox);
  std::vector<IntegrationCommand> steps;
  if (!m_.contract_check.empty()) steps.push_back({"contract_check", m_.contract_check});
  steps.insert(steps.end(), m_.commands.begin(), m_.commands.end());
  std::vector<FailedStep> failed;
  auto first = run_steps(wt, steps, &failed);
  if (!first) return first.status();
  bool passed = *first;
  std::vector<std::string> patches;
  if (!passed && !opts_.fix_agent.empty()) {
    auto fixed = fix_integration(*integration_, failed);
    if (!fixed) return fixed.status();
    patches = std::move(*fixed);
    if (!patches.empty()) {
      say("integration: " + std::to_string(patches.size()) + " fixes kept; running the integration commands again");
      auto again = run_steps(wt, steps);
      if (!again) return again.status();
      passed = *again;
      if (passed) failure_cause_.clear(), fixed_ = true;
    }
  }
  integration_ms_ = ms_since(t);
  if (!passed) return Status::ok();
  return land(merged, patches, steps.size());
}

Result<std::vector<std::string>> Build::fix_integration(engine::Workspace& ws, const std::vector<FailedStep>& failed) {
  engine::Session s(cfg_, *run_, ws);
  s.agent = opts_.fix_agent;
  s.deadline = deadline_;
  s.progress = opts_.progress;
  auto sandbox = run_sandbox(cfg_, store_, ws.common(), ws.path());
  if (!sandbox) return sandbox.status();
  s.sandbox = std::move(*sandbox);
  std::vector<std::string> patches;
  // Each failed step in order: a tests step through fixhost.toml's suites (each failing test to
  // the fix loop); a type check, lint, the contract check, or a tests step no suite reports a
  // failure of, as one failing command.
  bool tests_done = false;
  for (std::size_t k = 0; k < failed.size() && !s.stop && !s.over_budget(); ++k) {
    const FailedStep& f = failed[k];
    if (f.step.kind == "tests" && !cfg_.suites.empty()) {
      if (tests_done) continue;
      tests_done = true;
      DetectOptions d;
      d.root = ws.path();
      d.skip_flaky_check = true;
      d.progress = opts_.progress;
      auto det = run_detect(*run_, s.bounded(), d);
      if (!det) return det.status();
      const std::size_t n = det->failures.size();
      for (std::size_t i = 0; i < n && !s.stop && !s.over_budget(); ++i) {
        engine::FixRequest req;
        req.failure = &det->failures[i];
        req.order = i + 1;
        req.of = n;
        req.max_attempts = static_cast<std::uint32_t>(cfg_.max_attempts);
        req.attempts_dir = store_ / "attempts" / run_->id() / "fix";
        const auto& df = det->failures[i];
        engine::FixOutcome fo;
        fo.test_id = df.failure.test_id;
        fo.file = df.failure.file;
        fo.line = df.failure.line;
        fo.category = df.category;
        fo.last_error = df.failure.error_type + ": " + one_line(df.failure.message, 200);
        if (df.flaky) continue;  // passed when re-run: not a fix for an agent
        auto p = engine::fix_failure(s, req, fo);
        if (!p) return p.status();
        if (auto st = engine::publish_resolved(s, fo); !st) return st;
        if (*p) patches.push_back(**p);
      }
      if (n > 0) continue;
    }
    // integration:<kind>, numbered when a kind fails twice (two lint commands).
    std::size_t same = 0;
    for (std::size_t j = 0; j < k; ++j) same += failed[j].step.kind == f.step.kind;
    const std::string id = "integration:" + f.step.kind + (same ? "#" + std::to_string(same + 1) : "");
    if (auto st = fix_command(s, f, id, k + 1, failed.size(), patches); !st) return st;
  }
  if (s.cost_exceeded) budget_exceeded_ = true;
  return patches;
}

Status Build::fix_command(engine::Session& s, const FailedStep& f, const std::string& id, std::size_t order,
                          std::size_t of, std::vector<std::string>& patches) {
  // The failing command as a failure of the engine's: its output is the evidence, its first
  // file:line the location, and re-running it is the verification.
  DetectedFailure d;
  d.seq = f.seq;
  auto& fd = d.failure;
  fd.runner = "command";
  fd.suite = "integration";
  fd.test_id = id;
  fd.test_name = join(f.step.argv, " ");
  auto [file, line] = first_location(f.checked.output.data, f.checked.files);
  fd.file = file;
  fd.line = line;
  fd.phase = "call";
  fd.error_type = f.step.kind == "types" ? "TypeError" : f.step.kind == "lint" ? "LintError"
                  : f.step.kind == "contract_check" ? "ContractMismatch" : "CommandFailed";
  fd.message = first_error_line(f.checked.output.data);
  fd.stack_trace = f.checked.output.data;
  d.category = f.step.kind == "types" ? "type_error" : f.step.kind == "lint" ? "lint"
               : f.step.kind == "contract_check" ? "contract" : "integration";
  d.order = static_cast<std::uint32_t>(order);

  engine::FixRequest req;
  req.failure = &d;
  req.order = order;
  req.of = of;
  req.max_attempts = static_cast<std::uint32_t>(cfg_.max_attempts);
  req.attempts_dir = store_ / "attempts" / run_->id() / "fix-command";
  req.command = f.step.argv;
  req.env = {{"FIXHOST_CHECK_KIND", f.step.kind},
             {"FIXHOST_CHECK_COMMAND", nlohmann::json(f.step.argv).dump()},
             {"FIXHOST_CHECK_FILES", nlohmann::json(f.checked.files).dump()},
             {"FIXHOST_OWNERS", nlohmann::json(f.checked.owners).dump()}};
  std::ostringstream extra;
  extra << "\n## Where it comes from\n\nThis is the integration of the parallel build `" << run_->id() << "` (\""
        << m_.feature << "\"): the streams' work merged, on the integration branch.\n";
  if (!f.checked.files.empty()) {
    extra << "The output names:\n";
    for (const auto& x : f.checked.files) {
      const Stream* o = owner_of(m_, x);
      extra << "- `" << x << "`" << (o ? " (stream `" + o->id + "`, " + o->role + ")" : "") << "\n";
    }
  }
  for (const auto& id : f.checked.owners)
    if (auto it = streams_.find(id); it != streams_.end() && !it->second.attempt.finished.summary.empty())
      extra << "- stream `" << id << "` did: " << it->second.attempt.finished.summary << "\n";
  if (const Stream* c = m_.contract())
    extra << "The contract stream's files (" << join(c->owns) << ") are the agreement between the streams: fix the "
          << "code that contradicts them rather than them.\n";
  req.prompt_extra = extra.str();
  const fs::path wt = s.ws.path();
  const auto argv = f.step.argv;
  req.verify = [this, wt, argv](std::string& last_error) -> Result<bool> {
    auto pr = run_check(wt, argv);
    if (!pr) return pr.status();
    const bool ok = pr->exit_code == 0 && !pr->timed_out;
    if (!ok) last_error = pr->spawn_error.empty() ? first_error_line(pr->output.data) : pr->spawn_error;
    return ok;
  };
  engine::FixOutcome fo;
  fo.test_id = fd.test_id;
  fo.file = fd.file;
  fo.line = fd.line;
  fo.category = d.category;
  fo.last_error = fd.message;
  say("integration --fix: " + fd.test_id + " (" + join(argv, " ") + ")" +
      (f.checked.owners.empty() ? "" : ", files of " + join(f.checked.owners)));
  auto p = engine::fix_failure(s, req, fo);
  if (!p) return p.status();
  if (auto st = engine::publish_resolved(s, fo, f.seq); !st) return st;
  if (*p) patches.push_back(**p);
  return Status::ok();
}

Result<ProcessResult> Build::run_check(const fs::path& wt, const std::vector<std::string>& argv) const {
  ProcessSpec ps;
  ps.argv = contained(integration_sandbox_, argv);
  ps.cwd = wt.string();
  ps.timeout = std::max(std::chrono::milliseconds(1000),
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()));
  ps.head_cap = ps.tail_cap = k_output_cap;
  return run_process(ps);
}

Result<bool> Build::run_steps(const fs::path& wt, const std::vector<IntegrationCommand>& steps,
                              std::vector<FailedStep>* failed) {
  auto tracked = git::run(wt, {"ls-files"});
  std::vector<std::string> files = tracked ? lines(*tracked) : std::vector<std::string>{};
  bool passed = true;
  for (const auto& step : steps) {
    auto pr = run_check(wt, step.argv);
    if (!pr) return pr.status();
    events::IntegrationChecked ic;
    ic.kind = step.kind;
    ic.argv = step.argv;
    ic.exit_code = pr->exit_code;
    ic.signal = pr->signal;
    ic.passed = pr->exit_code == 0 && !pr->timed_out;
    ic.duration_ms = pr->duration_ms;
    ic.output = pr->output;
    if (!pr->spawn_error.empty()) ic.output.data = pr->spawn_error + "\n" + ic.output.data;
    if (!ic.passed) {
      // The files the output names (stack traces, tsc's file(line,col)) and who owns them.
      std::set<std::string> owners;
      for (const auto& f : files) {
        if (ic.output.data.find(f) == std::string::npos) continue;
        ic.files.push_back(f);
        if (const Stream* o = owner_of(m_, f)) owners.insert(o->id);
      }
      ic.owners.assign(owners.begin(), owners.end());
      if (passed) failure_cause_ = step.kind, failure_owners_ = ic.owners;
      passed = false;
    }
    say(std::string("integration ") + (ic.passed ? "passed" : "FAILED") + ": " + join(step.argv, " ") +
        (ic.owners.empty() ? "" : " (files of " + join(ic.owners) + ")"));
    auto r = run_->publish(ic);
    if (!r) return r.status();
    if (!ic.passed && failed) failed->push_back({step, ic, r->front().seq});
  }
  return passed;
}

Status Build::land(const std::string& merged, const std::vector<std::string>& patches, std::size_t steps_count) {
  // COMMIT: one squashed commit on fixhost/build-<run>, parent the user's HEAD, from the merged
  // tree and the kept fixes' judged patches (never from what the worktree holds).
  auto tree = patches.empty() ? git::run(repo_, {"rev-parse", merged + "^{tree}"})
                              : git::tree_from_patches(repo_, merged, patches);
  if (!tree) return tree.status();
  std::ostringstream msg;
  msg << "fixhost build: " << m_.feature << "\n\n";
  if (!m_.spec.empty()) msg << "Spec: " << m_.spec << "\n\n";
  msg << "Streams (merged in order " << join(plan_->order, ", ") << "):\n";
  std::vector<std::string> all_files;
  for (const auto& id : plan_->order) {
    const auto& r = streams_.at(id);
    msg << "- " << id << " (" << r.st->role << "): "
        << (r.attempt.finished.summary.empty() ? std::to_string(r.attempt.files.size()) + " files"
                                               : r.attempt.finished.summary)
        << "\n";
    all_files.insert(all_files.end(), r.attempt.files.begin(), r.attempt.files.end());
  }
  msg << "\nMade by fixhost build " << run_->id() << "; integration: "
      << (steps_count == 0 ? std::string("no commands") : std::to_string(steps_count) + " commands passed")
      << (patches.empty() ? "" : "; " + std::to_string(patches.size()) + " integration fixes by the fix loop (--fix)") << ".\n";
  auto squash = commit_tree(repo_, *tree, {base_}, msg.str());
  if (!squash) return squash.status();
  if (auto u = git::run(repo_, {"update-ref", "refs/heads/" + build_branch(run_->id()), *squash}); !u) return u.status();
  std::sort(all_files.begin(), all_files.end());
  all_files.erase(std::unique(all_files.begin(), all_files.end()), all_files.end());
  events::Committed c;
  c.branch = build_branch(run_->id());
  c.commit = *squash;
  c.message = msg.str();
  c.files = all_files;
  if (auto r = run_->publish(c); !r) return r.status();
  res_.commit = *squash;
  res_.landed = true;
  return Status::ok();
}

Status Build::report() {
  std::vector<events::Event> evs;
  auto st = run_->log().scan_run(run_->id(), [&](const events::Event& e) {
    evs.push_back(e);
    return true;
  });
  if (!st) return st;
  auto rec = collect_build(evs);
  res_.table = report_table(rec);
  res_.markdown = report_markdown(rec);
  events::ReportWritten rw;
  rw.kind = "build";
  rw.path = opts_.report_path;
  rw.markdown.data = res_.markdown;
  rw.markdown.total_bytes = res_.markdown.size();
  if (!opts_.report_path.empty()) {
    std::ofstream out(opts_.report_path, std::ios::binary);
    out << res_.markdown;
  }
  auto r = run_->publish(rw);
  return r.is_ok() ? Status::ok() : r.status();
}

// --stream: the one stream's outcome is the run's; nothing is merged or integrated here.
Result<BuildResult> Build::finish_single() {
  const auto& [id, r] = *streams_.begin();
  res_.commit = r.commit;
  res_.branch = r.commit.empty() ? "" : stream_branch(branch_run(), id);
  const bool over = r.outcome == "budget_exceeded";
  res_.exit_code = r.outcome == "ok" ? k_exit_ok : over ? 3 : 1;
  const std::string summary = "stream " + id + ": " + r.outcome + (r.detail.empty() ? "" : " (" + r.detail + ")");
  if (auto st = run_->finish(r.outcome == "ok" ? "ok" : over ? "budget_exceeded" : "failures", res_.exit_code, summary); !st)
    return st;
  return res_;
}

Result<BuildResult> Build::run() {
  repo_ = cfg_.repo;
  store_ = opts_.store_dir;
  if (!git::is_repository(repo_))
    return fail("'" + repo_.string() + "' is not a git repository: a build works in git worktrees so your checkout is "
                "never touched; run `git init && git add -A && git commit` there first");
  auto head = git::head(repo_);
  if (!head) return fail("'" + repo_.string() + "' has no commit yet: the streams branch from HEAD; commit first");
  base_ = *head;
  auto br = git::current_branch(repo_);
  if (opts_.distributed) {
    if (opts_.remote.empty())
      return fail("--distributed needs a git remote every worker can clone and push to: pass --remote URL, or add one as "
                  "origin (git remote add origin URL)");
    remote_ = std::make_unique<RemoteStreams>(opts_.cluster, repo_, opts_.remote, opts_.submitter);
    if (auto st = remote_->check(); !st) return fail(st.message());
  }

  RunOptions ro;
  ro.store_dir = store_;
  ro.extra_plugin_dirs = opts_.extra_plugin_dirs;
  ro.mode = opts_.only_stream.empty() ? "build" : "build_stream";
  ro.argv = opts_.argv;
  ro.run_id = new_run_id();
  ro.branch = br ? *br : "";
  ro.head = base_;
  ro.worktree = build_dir(store_, ro.run_id).string();
  std::error_code ec;
  fs::create_directories(store_, ec);
  auto run = RunContext::start(cfg_, ro);
  if (!run) return run.status();
  run_ = std::move(*run);
  res_.run_id = run_->id();
  res_.branch = build_branch(res_.run_id);
  for (const char* needed : {"policy", "worktree_merger"}) {
    bool loaded = false;
    for (const auto& p : run_->plugins().loaded)
      if (p->info.name == needed) loaded = true;
    if (!loaded)
      return fail(std::string("the ") + needed + " plugin is not loaded (see `hostctl plugins`): a build will not run "
                  "without it; rebuild fixhost or restore " + needed + ".so in the plugin directory");
  }
  t0_ = Clock::now();
  deadline_ = t0_ + std::chrono::seconds(m_.budget_s);
  say("build " + res_.run_id + ": " + std::to_string(m_.streams.size()) + " streams for \"" + m_.feature + "\"");

  if (auto st = plan(); !st) return fail(st.to_string());
  auto sched = schedule();
  // Every worker is joined before anything else happens, even when scheduling failed.
  for (auto& [id, r] : streams_)
    if (r.worker.joinable()) r.worker.join();
  if (!sched) return fail(sched.to_string());
  if (!opts_.only_stream.empty()) return finish_single();
  if (auto st = merge_and_integrate(); !st) return fail(st.to_string());
  if (remote_) {
    std::vector<std::string> ids;
    for (const auto& [id, r] : streams_)
      if (!r.job_id.empty()) ids.push_back(id);
    remote_->cleanup(branch_run(), ids);
  }
  const std::int64_t wall = ms_since(t0_);

  std::vector<StreamTiming> timings;
  std::int64_t serial = 0;
  {
    std::vector<events::Event> evs;
    (void)run_->log().scan_run(run_->id(), [&](const events::Event& e) {
      if (e.type == events::EventType::StreamPlanned || e.type == events::EventType::StreamFinished) evs.push_back(e);
      return true;
    });
    timings = collect_build(evs).timings();
    serial = serial_sum(timings);
  }
  events::WorktreesMerged wm;
  wm.streams = plan_ ? plan_->order : std::vector<std::string>{};
  wm.commit = res_.commit;
  wm.conflicts = conflicts_;
  wm.integration_passed = res_.landed;
  wm.wall_ms = wall;
  wm.serial_ms = serial;
  wm.merge_ms = merge_ms_;
  wm.integration_ms = integration_ms_;
  wm.critical_ms = critical_path(timings, merge_ms_, integration_ms_).ms;
  wm.failure_cause = res_.landed ? "" : (failure_cause_.empty() ? "stream" : failure_cause_);
  wm.contract_changed = contract_changed_;
  wm.first_try = res_.landed && !fixed_;
  if (auto r = run_->publish(wm); !r) return fail(r.status().to_string());
  if (auto st = report(); !st) return fail(st.to_string());

  std::string outcome = res_.landed ? "ok" : budget_exceeded_ ? "budget_exceeded" : "failures";
  res_.exit_code = res_.landed ? k_exit_ok : budget_exceeded_ ? 3 : 1;
  std::string summary = res_.landed ? "landed " + res_.commit.substr(0, 12) + " on " + res_.branch
                                    : "nothing landed: " + wm.failure_cause +
                                          (failure_owners_.empty() ? "" : " (files of " + join(failure_owners_) + ")");
  if (auto st = run_->finish(outcome, res_.exit_code, summary); !st) return st;
  return res_;
}

}  // namespace

Result<BuildResult> run_build(const Config& config, const BuildOptions& options) {
  if (!options.only_stream.empty()) {
    const auto& ss = options.manifest.streams;
    auto it = std::find_if(ss.begin(), ss.end(), [&](const Stream& s) { return s.id == options.only_stream; });
    if (it == ss.end()) {
      std::vector<std::string> ids;
      for (const auto& s : ss) ids.push_back(s.id);
      return make_error(Errc::invalid_argument,
                        "--stream '" + options.only_stream + "' is not a stream of the manifest (its streams: " + join(ids) + ")");
    }
    if (options.distributed) return make_error(Errc::invalid_argument, "--stream runs one stream here; drop --distributed");
    BuildOptions one = options;
    one.manifest = stream_manifest(options.manifest, *it);
    Build b(config, one);
    return b.run();
  }
  Build b(config, options);
  return b.run();
}

}  // namespace fixhost::host::build
