// The store under abuse (issue 9): a writer SIGKILLed at random points a hundred times; readers
// in other processes beside a writer, killed too; and each kind of damage (truncated table,
// flipped bits in a table, missing CURRENT, truncated or flipped write-ahead log, read-only store
// directory, a foreign RocksDB with and without fixhost's marker) through the real hostctl
// events, runs, stats and repair, each with its exact exit code and message.
// FIXHOST_TORTURE_LONG=1 kills the writer 1,000 times instead of 100.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <rocksdb/db.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/table_properties.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "fixhost/events/codec.hpp"
#include "fixhost/store/event_log.hpp"
#include "store_test_util.hpp"

using namespace fixhost;
using fixhost::events::Event;
using fixhost::store::EventLog;
using fixhost::store::StoreOptions;
using store_test::Child;
using store_test::TempDir;

namespace fs = std::filesystem;

namespace {

bool long_variant() {
  const char* v = std::getenv("FIXHOST_TORTURE_LONG");
  return v && std::string(v) == "1";
}

struct Ran {
  int exit_code = -1;
  std::string out, err;
};

// A hostctl child with TMPDIR set to `tmpdir`, stdout and stderr to files in `scratch`; as the
// user nobody when `as_nobody` (root ignores file permissions).
class Hostctl {
 public:
  Hostctl(std::vector<std::string> args, const fs::path& scratch, const fs::path& tmpdir, bool as_nobody = false)
      : out_(scratch / ("out-" + std::to_string(++counter_))), err_(scratch / ("err-" + std::to_string(counter_))) {
    args.insert(args.begin(), FIXHOST_HOSTCTL);
    if (as_nobody) args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (!std::string_view(*e).starts_with("TMPDIR=")) env.emplace_back(*e);
    env.push_back("TMPDIR=" + tmpdir.string());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    REQUIRE(rc == 0);
  }
  ~Hostctl() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Ran wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    Ran r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = fixhost::test::read_file(out_);
    r.err = fixhost::test::read_file(err_);
    return r;
  }
  Ran kill_and_wait() {
    ::kill(pid_, SIGKILL);
    return wait();
  }

 private:
  static inline int counter_ = 0;
  fs::path out_, err_;
  pid_t pid_ = -1;
};

// The scratch space of one test: a store path, a private TMPDIR for every child, a repo dir.
struct Bench {
  TempDir tmp;
  fs::path store = tmp / "store";
  fs::path tmpdir = tmp / "tmpdir";
  fs::path scratch = tmp / "scratch";
  fs::path repo = tmp / "repo";
  Bench() {
    fs::create_directories(tmpdir);
    fs::create_directories(scratch);
    fs::create_directories(repo);
  }
  Ran hostctl(std::vector<std::string> args, bool as_nobody = false) {
    args.insert(args.begin(), {"--store", store.string()});
    args.insert(args.end(), {"--repo", repo.string()});
    return Hostctl(std::move(args), scratch, tmpdir, as_nobody).wait();
  }
  std::string advice() const { return "copy it aside and run 'hostctl repair --store " + store.string() + "'"; }
};

// Runs the store helper to its end; returns its first line of output.
std::string helper(std::vector<std::string> args) {
  Child c(std::move(args));
  std::string line = c.read_line();
  const int status = c.wait();
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), line);
  return line;
}

std::uint64_t ok_seq(const std::string& line) {
  REQUIRE_MESSAGE(line.starts_with("ok "), line);
  return std::stoull(line.substr(3));
}

std::unique_ptr<EventLog> open_ok(const fs::path& dir, bool writable) {
  StoreOptions o;
  o.writable = writable;
  auto r = EventLog::open(dir, o);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r.value());
}

// The seqs `hostctl events` printed (the first column of each line).
std::vector<std::uint64_t> printed_seqs(const std::string& out) {
  std::vector<std::uint64_t> seqs;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) seqs.push_back(std::stoull(line.substr(0, line.find(' '))));
  return seqs;
}

std::vector<std::uint64_t> one_to(std::uint64_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = i + 1;
  return v;
}

// Every file below `dir` with its size and bytes' hash, to show a command changed nothing.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string bytes = fixhost::test::read_file(e.path());
    out[fs::relative(e.path(), dir).string()] = std::to_string(bytes.size()) + ":" + std::to_string(std::hash<std::string>{}(bytes));
  }
  return out;
}

// The table files of a store's events column family, oldest first.
std::vector<fs::path> event_tables(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".sst") continue;
    rocksdb::SstFileReader reader{rocksdb::Options()};
    REQUIRE(reader.Open(e.path().string()).ok());
    if (reader.GetTableProperties()->column_family_name == "events") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> logs_of(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log" && fs::file_size(e.path()) > 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void flip_byte(const fs::path& file, std::uintmax_t offset) {
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  io.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  io.seekp(static_cast<std::streamoff>(offset));
  io.write(&c, 1);
  REQUIRE(io.good());
}

// events, runs and stats each exit 2 naming the damage and the repair; never an empty answer.
void check_readers_refuse(Bench& b, const std::string& what) {
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"events"}, {"runs"}, {"stats"}, {"stats", "--rebuild"}}) {
    CAPTURE(cmd.front());
    const Ran r = b.hostctl(cmd);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.starts_with("hostctl: Corruption: store '" + b.store.string() + "' is damaged ("), r.err);
    CHECK_MESSAGE(r.err.find(what) != std::string::npos, r.err);
    CHECK_MESSAGE(r.err.ends_with(b.advice() + "\n"), r.err);
    CHECK(r.out.find("no runs recorded") == std::string::npos);
  }
}

// The repair's one line: "repaired '<store>': <kept> events kept, <lost part>; the damaged
// original is in '<store>.damaged-...'".
void check_repaired_line(const Bench& b, const Ran& r, std::uint64_t kept, const std::string& lost_part) {
  const std::string head = "repaired '" + b.store.string() + "': " + std::to_string(kept) + " events kept, " + lost_part +
                           "; the damaged original is in '" + b.store.string() + ".damaged-";
  CHECK_MESSAGE(r.out.starts_with(head), r.out);
  CHECK(r.out.ends_with("'\n"));
}

fs::path backup_of(const Bench& b) {
  for (const auto& e : fs::directory_iterator(b.tmp.path()))
    if (e.path().filename().string().starts_with("store.damaged-")) return e.path();
  return {};
}

// A store of two sessions of runs (each closed, so in tables of their own): returns the last seq
// of each session.
std::pair<std::uint64_t, std::uint64_t> two_sessions(const fs::path& dir) {
  const std::uint64_t first = ok_seq(helper({"runs", dir.string(), "2", "20"}));
  const std::uint64_t second = ok_seq(helper({"runs", dir.string(), "2", "20"}));
  return {first, second};
}

// A store whose events are only in the write-ahead log: the writer was killed after they were
// acknowledged. Returns the last seq.
std::uint64_t killed_session(const fs::path& dir) {
  Child writer({"runs", dir.string(), "2", "20", "hang"});
  const std::uint64_t last = ok_seq(writer.read_line());
  const int status = writer.kill_and_wait(SIGKILL);
  REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  REQUIRE(event_tables(dir).empty());
  REQUIRE_FALSE(logs_of(dir).empty());
  return last;
}

// Checks what a killed crash writer left: seqs 1..N, whole batches in order, all decodable,
// indexes consistent. Returns N. (One assertion per check, not per event: the store grows to
// tens of thousands of events.)
std::uint64_t check_crash_store(EventLog& log) {
  std::uint64_t expect_seq = 1, batch = 0, index = 0, size = 0;
  std::string problem;
  Status s = log.scan(1, 0, [&](const Event& e) {
    auto bad = [&](const std::string& why) {
      problem = "event " + std::to_string(e.seq) + ": " + why;
      return false;
    };
    if (e.seq != expect_seq) return bad("expected " + std::to_string(expect_seq));
    ++expect_seq;
    auto p = events::decode<events::TestRerun>(e);
    if (!p) return bad(p.status().to_string());
    const auto& id = p->test_id;
    const auto c1 = id.find(':'), c2 = id.find(':', c1 + 1);
    const std::uint64_t k = std::stoull(id.substr(0, c1)), i = std::stoull(id.substr(c1 + 1, c2 - c1 - 1)),
                        m = std::stoull(id.substr(c2 + 1));
    if (i == 0) {
      if (index != size)
        return bad("batch " + std::to_string(batch) + " is torn: " + std::to_string(index) + " of " + std::to_string(size));
      if (k != batch + 1) return bad("batch " + std::to_string(k) + " follows batch " + std::to_string(batch));
      batch = k;
      index = 0;
      size = m;
    }
    if (!(k == batch && i == index && m == size)) return bad("out of its batch " + std::to_string(batch));
    ++index;
    return true;
  });
  REQUIRE_MESSAGE(s.is_ok(), s.to_string());
  REQUIRE_MESSAGE(problem.empty(), problem);
  REQUIRE_MESSAGE(index == size, "the last batch " << batch << " is torn: " << index << " of " << size << " events");
  REQUIRE(log.last_seq() == expect_seq - 1);
  Status v = log.verify_indexes();
  REQUIRE_MESSAGE(v.is_ok(), v.to_string());
  return expect_seq - 1;
}

}  // namespace

TEST_CASE("torture: a writer SIGKILLed at 100 random points loses nothing acknowledged, tears nothing, reuses no seq") {
  Bench b;
  const int rounds = long_variant() ? 1000 : 100;
  std::mt19937 rng(std::random_device{}());
  std::uint64_t last = 0;
  int killed_writing = 0;
  double open_s = 0, check_s = 0;
  for (int round = 0; round < rounds; ++round) {
    if (round % 25 == 0 && fs::exists(b.store)) {
      // A new store now and then, so that kills during creation come up and checks stay cheap.
      fs::remove_all(b.store);
      last = 0;
    }
    // Most kills land while it appends, some while it opens or creates the store.
    const int delay_ms = 10 + static_cast<int>(rng() % 190);
    CAPTURE(round);
    CAPTURE(delay_ms);
    std::uint64_t acked = 0;
    {
      Child writer({"crash", b.store.string(), std::to_string(rng())});
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      const int status = writer.kill_and_wait(SIGKILL);
      REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "the crash writer stopped by itself");
      for (std::string line = writer.read_line(); !line.empty(); line = writer.read_line()) {
        REQUIRE_MESSAGE(line.starts_with("acked "), line);
        acked = std::stoull(line.substr(6));
      }
    }
    if (acked > 0) ++killed_writing;
    if (!fs::exists(b.store / "CURRENT")) continue;  // killed before it created the store
    if (round % 2 == 0) {
      // Killed between CURRENT and the column families: a reader is told the store holds no
      // events (a writer would finish it), and nothing was acknowledged before that.
      StoreOptions ro;
      ro.writable = false;
      if (auto r = EventLog::open(b.store, ro); !r && r.status().code() == Errc::not_found) {
        CHECK_MESSAGE(r.status().message().find("holds no events") != std::string::npos, r.status().to_string());
        CHECK(acked == 0);
        CHECK(last == 0);
        continue;
      }
    }
    // Readers and writers alike see whole batches 1..N, with N at least what was acknowledged.
    const auto t0 = std::chrono::steady_clock::now();
    auto log = open_ok(b.store, round % 2 == 0);
    const auto t1 = std::chrono::steady_clock::now();
    const std::uint64_t n = check_crash_store(*log);
    log.reset();
    open_s += std::chrono::duration<double>(t1 - t0).count();
    check_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    CHECK(n >= acked);
    CHECK(n >= last);
    last = n;
  }
  MESSAGE(rounds << " kills (" << killed_writing << " while appending) left " << last << " events; open " << open_s << " s, check " << check_s << " s");
  CHECK(killed_writing > rounds / 3);
  // A store of killed writers is not damaged: repair leaves it as it is.
  const auto before = snapshot(b.store);
  const Ran r = b.hostctl({"repair"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "store '" + b.store.string() + "' is healthy: " + std::to_string(last) +
                     " events, indexes consistent; nothing was changed\n");
  auto after = snapshot(b.store);
  after.erase("WRITER");
  auto before_no_lock = before;
  before_no_lock.erase("WRITER");
  CHECK(after == before_no_lock);
}

TEST_CASE("torture: readers in other processes beside a writer: big events, no crash, nothing left behind") {
  Bench b;
  // SuiteFinished events of 100 KiB crashed every reader once (issue 9).
  const std::uint64_t first = ok_seq(helper({"runs", b.store.string(), "3", "5"}));
  Child writer({"append", b.store.string(), "3000", "live"});
  std::uint64_t reads = 0, last_seen = 0;
  for (int i = 0; i < 12; ++i) {
    const Ran events = b.hostctl({"events"});
    REQUIRE_MESSAGE(events.exit_code == 0, events.err);
    const auto seqs = printed_seqs(events.out);
    REQUIRE(seqs.size() >= first);
    CHECK(seqs == one_to(seqs.size()));  // a prefix of the log, gap-free
    CHECK(seqs.size() >= last_seen);
    last_seen = seqs.size();
    const Ran runs = b.hostctl({"runs", "--json"});
    CHECK_MESSAGE(runs.exit_code == 0, runs.err);
    CHECK(runs.out.find("\"run-2\"") != std::string::npos);
    const Ran stats = b.hostctl({"stats", "--rebuild", "--json"});
    CHECK_MESSAGE(stats.exit_code == 0, stats.err);
    ++reads;
  }
  CHECK(writer.read_line() == "ok " + std::to_string(first + 3000));
  writer.wait();
  // A follower killed with SIGKILL leaves nothing either.
  const auto before = snapshot(b.store);
  {
    Hostctl follow({"--store", b.store.string(), "events", "--follow", "--repo", b.repo.string()}, b.scratch, b.tmpdir);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    const Ran r = follow.kill_and_wait();
    CHECK(r.exit_code == 128 + SIGKILL);
    CHECK(printed_seqs(r.out) == one_to(first + 3000));
  }
  CHECK(snapshot(b.store) == before);
  CHECK(fs::is_empty(b.tmpdir));  // no fixhost-reader-* directories
  MESSAGE(reads << " rounds of events, runs and stats beside the writer");
}

TEST_CASE("torture: each kind of damage gets its exact exit code and message, and repair makes nothing worse") {
  Bench b;
  SUBCASE("a healthy store: repair changes nothing") {
    const auto [s1, s2] = two_sessions(b.store);
    const auto before = snapshot(b.store);
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "store '" + b.store.string() + "' is healthy: " + std::to_string(s2) +
                       " events, indexes consistent; nothing was changed\n");
    CHECK(snapshot(b.store) == before);
    CHECK(backup_of(b).empty());
  }
  SUBCASE("a killed writer's store (events only in the write-ahead log): healthy, all events read") {
    const std::uint64_t last = killed_session(b.store);
    const Ran events = b.hostctl({"events"});
    CHECK(events.exit_code == 0);
    CHECK(printed_seqs(events.out) == one_to(last));
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "store '" + b.store.string() + "' is healthy: " + std::to_string(last) +
                       " events, indexes consistent; nothing was changed\n");
  }
  SUBCASE("truncated table: readers refuse; repair keeps the other table and names the lost seqs") {
    const auto [s1, s2] = two_sessions(b.store);
    const auto tables = event_tables(b.store);
    REQUIRE(tables.size() == 2);
    fs::resize_file(tables.back(), fs::file_size(tables.back()) / 2);
    check_readers_refuse(b, "opening: Corruption: ");
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 1);
    check_repaired_line(b, r, s1,
                        std::to_string(s2 - s1) + " lost (seqs " + std::to_string(s1 + 1) + ".." + std::to_string(s2) + ")");
    CHECK(fs::exists(backup_of(b) / "CURRENT"));
    const Ran events = b.hostctl({"events"});
    CHECK(events.exit_code == 0);
    CHECK(printed_seqs(events.out) == one_to(s1));
    const Ran runs = b.hostctl({"runs", "--json"});
    CHECK(runs.exit_code == 0);
    CHECK(runs.out.find("\"run-0\"") != std::string::npos);
    // The lost seqs are never handed out again.
    CHECK(ok_seq(helper({"append", b.store.string(), "1"})) == s2 + 1);
  }
  SUBCASE("flipped bits in a table: readers refuse; repair loses only the damaged block") {
    const auto [s1, s2] = two_sessions(b.store);
    const auto tables = event_tables(b.store);
    REQUIRE(tables.size() == 2);
    flip_byte(tables.front(), 20);  // inside the first data block: seqs 1 and 2
    check_readers_refuse(b, "Corruption: block checksum mismatch");
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 1);
    check_repaired_line(b, r, s2 - 2, "2 lost (seqs 1..2)");
    const Ran events = b.hostctl({"events"});
    CHECK(events.exit_code == 0);
    auto expect = one_to(s2);
    expect.erase(expect.begin(), expect.begin() + 2);
    CHECK(printed_seqs(events.out) == expect);
    // The run whose RunStarted was lost has no row; the others are all there.
    const Ran runs = b.hostctl({"runs", "--json"});
    CHECK(runs.exit_code == 0);
    CHECK(runs.out.find("\"run-0\"") == std::string::npos);
    CHECK(runs.out.find("\"run-1\"") != std::string::npos);
  }
  SUBCASE("missing CURRENT: readers refuse; repair recovers every event from the tables") {
    const auto [s1, s2] = two_sessions(b.store);
    fs::remove(b.store / "CURRENT");
    check_readers_refuse(b, "its CURRENT file is missing");
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 0);
    check_repaired_line(b, r, s2, "none lost");
    const Ran events = b.hostctl({"events"});
    CHECK(events.exit_code == 0);
    CHECK(printed_seqs(events.out) == one_to(s2));
  }
  SUBCASE("truncated write-ahead log: readers and writers refuse; repair names the lost tail and never reuses it") {
    const std::uint64_t last = killed_session(b.store);
    const auto log = logs_of(b.store).back();
    fs::resize_file(log, fs::file_size(log) / 2);
    const Ran events = b.hostctl({"events"});
    REQUIRE(events.exit_code == 2);
    // "its log ends at event K but events up to N were written (HIGH_WATER): events K+1..N are missing"
    const auto at = events.err.find("its log ends at event ");
    REQUIRE_MESSAGE(at != std::string::npos, events.err);
    const std::uint64_t kept = std::stoull(events.err.substr(at + 22));
    CHECK(kept < last);
    const std::string what = "its log ends at event " + std::to_string(kept) + " but events up to " + std::to_string(last) +
                             " were written (HIGH_WATER): events " + std::to_string(kept + 1) + ".." +
                             std::to_string(last) + " are missing";
    check_readers_refuse(b, what);
    Child writer({"append", b.store.string(), "1"});
    const std::string line = writer.read_line();
    CHECK_MESSAGE(line.starts_with("error Corruption: store '" + b.store.string() + "' is damaged (" + what), line);
    writer.wait();
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 1);
    check_repaired_line(b, r, kept,
                        std::to_string(last - kept) + " lost (seqs " + std::to_string(kept + 1) + ".." + std::to_string(last) + ")");
    const Ran after = b.hostctl({"events"});
    CHECK(after.exit_code == 0);
    CHECK(printed_seqs(after.out) == one_to(kept));
    CHECK(ok_seq(helper({"append", b.store.string(), "1"})) == last + 1);
  }
  SUBCASE("flipped bits in the write-ahead log: readers and writers refuse; repair loses only that record") {
    const std::uint64_t last = killed_session(b.store);
    const auto log = logs_of(b.store).back();
    // Inside the 26th record (the SuiteFinished of run-1: 100 KiB over several log blocks).
    flip_byte(log, fs::file_size(log) / 2 + 5000);
    check_readers_refuse(b, "opening: Corruption: ");
    Child writer({"append", b.store.string(), "1"});
    const std::string line = writer.read_line();
    CHECK_MESSAGE(line.starts_with("error Corruption: store '" + b.store.string() + "' is damaged (opening: Corruption: "), line);
    writer.wait();
    const Ran r = b.hostctl({"repair"});
    CHECK(r.exit_code == 1);
    check_repaired_line(b, r, last - 1, "1 lost (seqs 25)");
    auto expect = one_to(last);
    expect.erase(expect.begin() + 24);
    const Ran after = b.hostctl({"events"});
    CHECK(after.exit_code == 0);
    CHECK(printed_seqs(after.out) == expect);
    CHECK(ok_seq(helper({"append", b.store.string(), "1"})) == last + 1);
  }
  SUBCASE("a read-only store directory: reading works, repair says what to do") {
    const auto [s1, s2] = two_sessions(b.store);
    fs::permissions(b.tmp.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                      fs::perms::others_read | fs::perms::others_exec);
    fs::permissions(b.tmpdir, fs::perms::all);
    fs::permissions(b.scratch, fs::perms::all);
    for (const auto& e : fs::recursive_directory_iterator(b.store))
      fs::permissions(e.path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                      fs::perm_options::remove);
    fs::permissions(b.store, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                    fs::perm_options::remove);
    const bool as_nobody = ::geteuid() == 0;
    const auto before = snapshot(b.store);
    const Ran events = b.hostctl({"events"}, as_nobody);
    CHECK_MESSAGE(events.exit_code == 0, events.err);
    CHECK(printed_seqs(events.out) == one_to(s2));
    const Ran runs = b.hostctl({"runs", "--json"}, as_nobody);
    CHECK_MESSAGE(runs.exit_code == 0, runs.err);
    std::size_t listed = 0;
    for (auto at = runs.out.find("\"run_id\""); at != std::string::npos; at = runs.out.find("\"run_id\"", at + 1)) ++listed;
    CHECK(listed == 4);
    const Ran stats = b.hostctl({"stats", "--json"}, as_nobody);
    CHECK_MESSAGE(stats.exit_code == 0, stats.err);
    CHECK(stats.out.find("\"as_of_seq\": " + std::to_string(s2)) != std::string::npos);
    const Ran r = b.hostctl({"repair"}, as_nobody);
    CHECK(r.exit_code == 2);
    CHECK(r.err == "hostctl: IOError: store '" + b.store.string() + "': cannot open '" + (b.store / "WRITER").string() +
                       "': Permission denied; writing needs a writable store directory: make it writable (chmod -R u+w " +
                       b.store.string() + ") or run as its owner (events, runs and stats only read it)\n");
    CHECK(snapshot(b.store) == before);
    fs::permissions(b.store, fs::perms::owner_write, fs::perm_options::add);
  }
  for (const bool marked : {false, true}) {
    SUBCASE(marked ? "a foreign RocksDB with fixhost's marker: refused, untouched"
                   : "a foreign RocksDB without fixhost's marker: refused, untouched") {
      {
        rocksdb::Options o;
        o.create_if_missing = true;
        rocksdb::DB* db = nullptr;
        REQUIRE(rocksdb::DB::Open(o, b.store.string(), &db).ok());
        REQUIRE(db->Put(rocksdb::WriteOptions(), "user:1", "someone else's data").ok());
        delete db;
      }
      if (marked) fixhost::test::write_file(b.store / "FIXHOST_STORE", "fixhost-store 1\n");
      const auto before = snapshot(b.store);
      for (const char* cmd : {"events", "runs", "stats"}) {
        CAPTURE(cmd);
        const Ran r = b.hostctl({cmd});
        CHECK(r.exit_code == 2);
        if (marked)
          CHECK(r.err == "hostctl: Corruption: store '" + b.store.string() +
                             "' is damaged (its RocksDB database lacks the column families events, by_run, by_type but "
                             "holds data: a database fixhost did not write, or one that lost them); " + b.advice() + "\n");
        else
          CHECK(r.err == "hostctl: InvalidArgument: '" + b.store.string() +
                             "' is not a fixhost store (it is a non-empty directory without a FIXHOST_STORE file); pass "
                             "the store directory (--store DIR / FIXHOST_STORE), or an empty or new directory to create "
                             "a store there\n");
      }
      const Ran r = b.hostctl({"repair"});
      CHECK(r.exit_code == 2);
      if (marked)
        CHECK(r.err == "hostctl: InvalidArgument: '" + b.store.string() +
                           "' holds a RocksDB database without fixhost's events column family, so there is nothing to "
                           "repair; if it is not a fixhost store, remove its FIXHOST_STORE file, else restore it from a "
                           "copy\n");
      else
        CHECK(r.err == "hostctl: InvalidArgument: '" + b.store.string() +
                           "' is not a fixhost store (no FIXHOST_STORE file); repair only runs on a store directory\n");
      auto after = snapshot(b.store);
      after.erase("WRITER");  // repair takes the lock before it looks inside
      CHECK(after == before);
      CHECK(backup_of(b).empty());
    }
  }
}
