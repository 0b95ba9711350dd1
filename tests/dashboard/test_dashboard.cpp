// The dashboard (docs/STATS.md#the-dashboard) on a known history: `hostctl stats --charts --json`
// has the hand-worked numbers, `hostctl stats --html` renders in headless Chromium with every
// chart present and the same numbers read back from the DOM, and `hostctl serve` answers `/`
// with the same page. The screenshot is kept at <build>/tests/dashboard/output/dashboard.png.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "../heal/heal_support.hpp"
#include "../stats/history.hpp"
#include "fixhost/host/dashboard.hpp"
#include "fixhost/host/stats.hpp"
#include "fixhost/test/files.hpp"
#include "fixhost/test/repo.hpp"

namespace fs = std::filesystem;
using namespace fixhost;
using json = nlohmann::ordered_json;
using fixhost::test::read_file;
using fixhost::test::TempDir;
using stats_test::utc_us;

namespace {

// A flaky test whose id is HTML: it must show as text, never as markup.
const std::string k_flaky = "tests/t.py::test_<b>flaky</b>&\"q\"";

events::AttemptFinished finished_attempt(const std::string& test, std::uint32_t n, std::optional<double> cost,
                                         std::int64_t tokens = 1000) {
  events::AttemptFinished p = stats_test::attempt_done(test, n, "logic_bug");
  if (cost) {
    p.usage.known = true;
    p.usage.cost_usd = *cost;
    p.usage.input_tokens = tokens;
    p.usage.output_tokens = tokens / 10;
    p.usage.model = "m";
  }
  return p;
}

events::FailureResolved resolved(const std::string& test, const std::string& outcome, std::uint32_t attempts,
                                 const std::string& kind = "") {
  auto p = stats_test::resolved(test, outcome, attempts);
  p.reason_kind = kind;
  return p;
}

// Two autofix runs, one heal run and one build run (the expected figures are in the test cases).
void write_history(const fs::path& dir) {
  store::StoreOptions so;
  so.sync = false;
  so.projections.push_back(host::stats_projection());
  auto log = store::EventLog::open(dir, so);
  REQUIRE(log);
  stats_test::Writer w(**log, 4);
  using namespace stats_test;
  {  // af-1: a fixed in 1 attempt (30 s, $0.25); b fixed in 2 (60 s, one attempt unknown);
     // c unfixable (its attempt reported tokens, no cost); the flaky one flaky.
    const std::string r = "af-1";
    const std::int64_t t0 = utc_us(2026, 11, 1, 10);
    w.add(r, t0, started("autofix"));
    const auto s = w.add(r, t0 + 1000000, suite("detect"));
    for (const auto& t : {"a", "b", "c"}) {
      w.add(r, t0 + 2000000, detected(t), s);
      w.add(r, t0 + 3000000, classified(t, "logic_bug"));
    }
    w.add(r, t0 + 2000000, detected(k_flaky), s);
    w.add(r, t0 + 4000000, flake(k_flaky));
    w.add(r, t0 + 4000000, resolved(k_flaky, "flaky", 0));
    w.add(r, t0 + 10000000, attempt("a", 1, "logic_bug"));
    w.add(r, t0 + 30000000, finished_attempt("a", 1, 0.25));
    w.add(r, t0 + 40000000, resolved("a", "fixed", 1));
    w.add(r, t0 + 40000000, attempt("b", 1, "logic_bug"));
    w.add(r, t0 + 50000000, finished_attempt("b", 1, 0.5));
    w.add(r, t0 + 50000000, violation("b", "skip_marker"));
    w.add(r, t0 + 50000000, reverted("b", "policy"));
    w.add(r, t0 + 60000000, attempt("b", 2, "logic_bug"));
    w.add(r, t0 + 90000000, finished_attempt("b", 2, std::nullopt));
    w.add(r, t0 + 100000000, resolved("b", "fixed", 2));
    w.add(r, t0 + 100000000, attempt("c", 1, "logic_bug"));
    auto tokens_only = finished_attempt("c", 1, 0.05);  // tokens reported, no cost: unknown cost
    tokens_only.usage.cost_usd = -1;
    w.add(r, t0 + 110000000, tokens_only);
    w.add(r, t0 + 110000000, reverted("c", "test_failed"));
    w.add(r, t0 + 120000000, resolved("c", "unfixable", 1, "attempts"));
    w.add(r, t0 + 130000000, finished("unfixable"));
  }
  {  // af-2: d fixed in 1 attempt (20 s, $0.10); the flaky one again.
    const std::string r = "af-2";
    const std::int64_t t0 = utc_us(2026, 11, 2, 10);
    w.add(r, t0, started("autofix"));
    const auto s = w.add(r, t0 + 1000000, suite("detect"));
    w.add(r, t0 + 2000000, detected("d"), s);
    w.add(r, t0 + 2000000, detected(k_flaky), s);
    w.add(r, t0 + 3000000, flake(k_flaky));
    w.add(r, t0 + 3000000, resolved(k_flaky, "flaky", 0));
    w.add(r, t0 + 5000000, attempt("d", 1, "logic_bug"));
    w.add(r, t0 + 20000000, finished_attempt("d", 1, 0.1));
    w.add(r, t0 + 25000000, resolved("d", "fixed", 1));
    w.add(r, t0 + 30000000, finished("ok"));
  }
  {  // h-1: PR #7 120 s after ISS-1 was first seen, merged, error stopped; PR #8 60 s, open.
    const std::string r = "h-1";
    const std::int64_t t0 = utc_us(2026, 11, 3, 9);
    w.add(r, t0, started("heal"));
    w.add(r, t0 + 10000000, ingested("ISS-2"));
    w.add(r, t0 + 60000000, ingested("ISS-1"));
    w.add(r, t0 + 61000000, ingested("ISS-1"));
    w.add(r, t0 + 70000000, pr_opened(8, "ISS-2"));
    w.add(r, t0 + 180000000, pr_opened(7, "ISS-1"));
    w.add(r, t0 + 200000000, pr_resolved(7, "merged", 0));
    w.add(r, t0 + 300000000, recurrence(7, true));
    w.add(r, t0 + 310000000, finished("ok"));
  }
  {  // b-1: contract (0-1 s), backend (1-4 s) and frontend (1-3 s) after it; merge 0.3 s,
     // integration 0.4 s; wall 4.8 s, serial 6 s, critical path 4.7 s.
    const std::string r = "b-1";
    const std::int64_t t0 = utc_us(2026, 11, 4, 12);
    w.add(r, t0, started("build"));
    auto plan = [&](const std::string& id, std::vector<std::string> deps) {
      events::StreamPlanned p;
      p.stream = id;
      p.role = id;
      p.depends_on = std::move(deps);
      w.add(r, t0 + 100000, p);
    };
    plan("contract", {});
    plan("backend", {"contract"});
    plan("frontend", {"contract"});
    auto done = [&](const std::string& id, std::int64_t start, std::int64_t dur) {
      auto p = stream(id);
      p.started_ms = start;
      p.duration_ms = dur;
      w.add(r, t0 + (start + dur) * 1000, p);
    };
    done("contract", 0, 1000);
    done("frontend", 1000, 2000);
    done("backend", 1000, 3000);
    auto m = merged(4800, 6000, true, 4700);
    m.merge_ms = 300;
    m.integration_ms = 400;
    w.add(r, t0 + 4800000, m);
    w.add(r, t0 + 4900000, finished("ok"));
  }
}

// ---- a small reader of the serialized DOM ---------------------------------------------------

struct Tag {
  std::string name;
  std::map<std::string, std::string> attrs;
};

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    const auto semi = s.find(';', i);
    const std::string ent = s.substr(i, semi - i + 1);
    if (ent == "&amp;") out += "&";
    else if (ent == "&lt;") out += "<";
    else if (ent == "&gt;") out += ">";
    else if (ent == "&quot;") out += "\"";
    else if (ent == "&#39;" || ent == "&apos;") out += "'";
    else if (ent == "&nbsp;") out += "\xc2\xa0";
    else {
      out.push_back('&');
      continue;
    }
    i = semi;
  }
  return out;
}

// Every start tag of the document with its attributes (Chromium serializes them as name="value").
std::vector<Tag> tags_of(const std::string& dom) {
  std::vector<Tag> out;
  std::size_t i = 0;
  while ((i = dom.find('<', i)) != std::string::npos) {
    ++i;
    if (i >= dom.size() || !std::isalpha(static_cast<unsigned char>(dom[i]))) continue;
    Tag t;
    while (i < dom.size() && (std::isalnum(static_cast<unsigned char>(dom[i])) || dom[i] == '-')) t.name.push_back(dom[i++]);
    while (i < dom.size() && dom[i] != '>') {
      if (std::isspace(static_cast<unsigned char>(dom[i])) || dom[i] == '/') {
        ++i;
        continue;
      }
      std::string name;
      while (i < dom.size() && dom[i] != '=' && dom[i] != '>' && !std::isspace(static_cast<unsigned char>(dom[i])))
        name.push_back(dom[i++]);
      std::string value;
      if (i < dom.size() && dom[i] == '=' && i + 1 < dom.size() && dom[i + 1] == '"') {
        const auto end = dom.find('"', i + 2);
        value = dom.substr(i + 2, end - i - 2);
        i = end + 1;
      }
      t.attrs[name] = unescape(value);
    }
    out.push_back(std::move(t));
  }
  return out;
}

const Tag* find_tag(const std::vector<Tag>& tags, const std::map<std::string, std::string>& want) {
  for (const auto& t : tags) {
    bool ok = true;
    for (const auto& [k, v] : want)
      if (!t.attrs.count(k) || t.attrs.at(k) != v) ok = false;
    if (ok) return &t;
  }
  return nullptr;
}

// The attribute as a number (REQUIREs that the tag has it).
double number(const Tag* t, const std::string& attr) {
  REQUIRE(t != nullptr);
  REQUIRE_MESSAGE(t->attrs.count(attr), "no " << attr);
  return std::stod(t->attrs.at(attr));
}

// ---- Chromium ---------------------------------------------------------------------------------

struct Chromium {
  int code = -1;
  std::string out, err;
};

// chromium --headless ... ARGS, in its own process group with a throwaway HOME and profile; the
// whole group is killed when it is done (or after 120 s).
Chromium chromium(const std::vector<std::string>& args, const fs::path& scratch) {
  const fs::path home = scratch / "chromium-home";
  fs::create_directories(home);
  std::vector<std::string> argv{"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                "--no-first-run", "--user-data-dir=" + (home / "profile").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env{"HOME=" + home.string(), "PATH=/usr/bin:/bin", "XDG_CONFIG_HOME=" + home.string(),
                               "XDG_CACHE_HOME=" + home.string()};
  std::vector<char*> av, ev;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(e.data());
  ev.push_back(nullptr);
  const fs::path out = scratch / "chromium.out", err = scratch / "chromium.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, av[0], &fa, &attr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  REQUIRE_MESSAGE(rc == 0, "cannot start /usr/bin/chromium (Debian package chromium; scripts/setup.sh installs it)");
  int status = 0;
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-pid, SIGKILL);  // the browser's helpers too
  if (!done) ::waitpid(pid, &status, 0);
  Chromium c;
  c.code = done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  c.out = read_file(out);
  c.err = read_file(err);
  return c;
}

json run_json(const test::GitRepo& repo, std::vector<std::string> args) {
  args.push_back("--json");
  auto r = repo.hostctl(args);
  INFO("stderr: " << r.err);
  REQUIRE(r.code == 0);
  return json::parse(r.out);
}

// Every scalar of every chart equals the data-* attribute of its <section>.
void check_sections(const std::vector<Tag>& tags, const json& charts) {
  for (const char* name : host::k_dashboard_charts) {
    INFO("chart " << name);
    const Tag* sec = find_tag(tags, {{"id", std::string("chart-") + name}});
    REQUIRE(sec != nullptr);
    CHECK(sec->name == "section");
    CHECK(sec->attrs.at("data-chart") == name);
    for (const auto& [k, v] : charts[name].items()) {
      if (k == "title" || k == "summary" || v.is_array() || v.is_object()) continue;
      std::string attr = "data-" + k;
      std::replace(attr.begin(), attr.end(), '_', '-');
      INFO("attribute " << attr);
      REQUIRE(sec->attrs.count(attr));
      const std::string& got = sec->attrs.at(attr);
      if (v.is_number()) CHECK(std::stod(got) == doctest::Approx(v.get<double>()));
      else if (v.is_null()) CHECK((got == "null" || got == "unknown"));
      else CHECK(got == (v.is_string() ? v.get<std::string>() : v.dump()));
    }
  }
}

// The marks of the known history, read from the DOM.
void check_marks(const std::vector<Tag>& tags) {
  // Fix success over time: af-1 2 of 3, af-2 1 of 1.
  CHECK(number(find_tag(tags, {{"class", "point"}, {"data-run", "af-1"}}), "data-rate") == doctest::Approx(2.0 / 3));
  CHECK(number(find_tag(tags, {{"class", "point"}, {"data-run", "af-1"}}), "data-unfixable") == 1);
  CHECK(number(find_tag(tags, {{"class", "point"}, {"data-run", "af-2"}}), "data-rate") == 1);
  // Attempts per fix: a and d in one, b in two.
  CHECK(number(find_tag(tags, {{"data-attempts", "1"}}), "data-fixes") == 2);
  CHECK(number(find_tag(tags, {{"data-attempts", "2"}}), "data-fixes") == 1);
  // Reverts and violations.
  const Tag* revs = find_tag(tags, {{"id", "chart-reverts_by_reason"}});
  CHECK(number(revs, "data-total") == 2);
  CHECK(number(find_tag(tags, {{"data-key", "policy"}}), "data-count") == 1);
  CHECK(number(find_tag(tags, {{"data-key", "test_failed"}}), "data-count") == 1);
  CHECK(number(find_tag(tags, {{"data-key", "skip_marker"}}), "data-count") == 1);
  CHECK(number(find_tag(tags, {{"data-key", "gave_up"}}), "data-count") == 0);
  // Time per fix.
  CHECK(number(find_tag(tags, {{"data-test", "a"}, {"data-wall-ms", "30000"}}), "data-wall-ms") == 30000);
  CHECK(number(find_tag(tags, {{"data-test", "b"}, {"data-wall-ms", "60000"}}), "data-wall-ms") == 60000);
  CHECK(number(find_tag(tags, {{"id", "chart-time_per_fix"}}), "data-median-ms") == 30000);
  // Cost per fix: b's second attempt reported nothing, so b's cost is unknown, not $0.50.
  CHECK(number(find_tag(tags, {{"data-test", "a"}, {"data-cost-usd", "0.25"}}), "data-cost-usd") == 0.25);
  const Tag* b_cost = find_tag(tags, {{"data-test", "b"}, {"data-unknown-attempts", "1"}});
  REQUIRE(b_cost != nullptr);
  CHECK(b_cost->attrs.at("data-cost-usd") == "unknown");
  CHECK(b_cost->attrs.at("class") == "bar unknown");
  const Tag* cost = find_tag(tags, {{"id", "chart-cost_per_fix"}});
  CHECK(number(cost, "data-mean-cost-per-fix-usd") == doctest::Approx(0.175));
  CHECK(number(cost, "data-fixes-with-unknown-cost") == 1);
  CHECK(number(cost, "data-attempts-unknown") == 2);
  // Flaky tests: the HTML-looking id is an attribute value and text, never an element.
  CHECK(number(find_tag(tags, {{"data-test", k_flaky}}), "data-runs") == 2);
  for (const auto& t : tags) CHECK_MESSAGE(t.name != "b", "a test id became markup");
  // Heal.
  CHECK(number(find_tag(tags, {{"data-number", "7"}}), "data-time-to-pr-ms") == 120000);
  CHECK(find_tag(tags, {{"data-number", "7"}})->attrs.at("data-state") == "merged");
  CHECK(find_tag(tags, {{"data-number", "8"}})->attrs.at("data-recurrence") == "unchecked");
  CHECK(number(find_tag(tags, {{"data-state", "open"}, {"data-count", "1"}}), "data-count") == 1);
  CHECK(number(find_tag(tags, {{"data-recurrence", "stopped"}, {"data-count", "1"}}), "data-count") == 1);
  CHECK(number(find_tag(tags, {{"id", "chart-heal"}}), "data-mean-time-to-pr-ms") == 90000);
  // Build.
  CHECK(number(find_tag(tags, {{"class", "bar wall"}, {"data-run", "b-1"}}), "data-speedup") == doctest::Approx(1.25));
  CHECK(number(find_tag(tags, {{"class", "bar critical"}, {"data-run", "b-1"}}), "data-critical-ms") == 4700);
  const Tag* backend = find_tag(tags, {{"data-stream", "backend"}});
  CHECK(number(backend, "data-started-ms") == 1000);
  CHECK(number(backend, "data-duration-ms") == 3000);
  CHECK(backend->attrs.at("data-critical") == "true");
  CHECK(find_tag(tags, {{"data-stream", "frontend"}})->attrs.at("data-critical") == "false");
  CHECK(number(find_tag(tags, {{"class", "merge"}}), "data-merge-ms") == 300);
  CHECK(find_tag(tags, {{"id", "dashboard-data"}}) != nullptr);
}

const char* k_toml = "[heal]\ningest_keys = [\"k1\"]\n";

}  // namespace

TEST_CASE("--charts --json: every chart's numbers on a known history") {
  test::GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}});
  write_history(repo.store());
  const json charts = run_json(repo, {"stats", "--charts"});
  for (const char* name : host::k_dashboard_charts) CHECK_MESSAGE(charts.contains(name), name);
  const json& st = charts["fix_success_over_time"];
  CHECK(st["rate"].get<double>() == doctest::Approx(0.75));
  CHECK(st["fixed"] == 3);
  CHECK(st["unfixable"] == 1);
  REQUIRE(st["points"].size() == 2);
  CHECK(st["points"][0]["run"] == "af-1");
  CHECK(st["points"][0]["rate"].get<double>() == doctest::Approx(2.0 / 3));
  CHECK(st["points"][1]["rate"].get<double>() == 1);
  // The points are counted by the stats rules: they add up to the stats figures.
  const json figures = run_json(repo, {"stats"});
  CHECK(st["fixed"] == figures["autofix"]["fixed"]["value"]);
  CHECK(st["unfixable"] == figures["autofix"]["unfixable"]["value"]);
  const json& ap = charts["attempts_per_fix"];
  CHECK(ap["fixes"] == 3);
  CHECK(ap["mean"].get<double>() == doctest::Approx(4.0 / 3));
  CHECK(ap["buckets"] == json::parse(R"([{"attempts":1,"fixes":2},{"attempts":2,"fixes":1}])"));
  CHECK(charts["reverts_by_reason"]["total"] == 2);
  CHECK(charts["policy_violations_by_rule"]["total"] == 1);
  const json& tp = charts["time_per_fix"];
  CHECK(tp["median_ms"].get<double>() == 30000);
  CHECK(tp["median_ms_scan"].get<double>() == 30000);
  CHECK(tp["listed"] == 3);
  CHECK(st["per"] == "run");
  CHECK(tp["count"] == 3);
  const json& cost = charts["cost_per_fix"];
  CHECK(cost["attempts"] == 5);
  CHECK(cost["attempts_unknown"] == 2);  // b's second (nothing reported) and c's (tokens, no cost)
  CHECK(cost["fixes_with_known_cost"] == 2);
  CHECK(cost["fixes_with_unknown_cost"] == 1);
  CHECK(cost["mean_cost_per_fix_usd"].get<double>() == doctest::Approx(0.175));
  CHECK(cost["known_cost_usd"].get<double>() == doctest::Approx(0.85));
  for (const auto& f : cost["fixes"])
    if (f["test"] == "b") CHECK(f["cost_usd"].is_null());
  const json& fl = charts["flaky_tests"];
  REQUIRE(fl["tests"].size() == 1);
  CHECK(fl["tests"][0]["test"] == k_flaky);
  CHECK(fl["tests"][0]["runs"] == 2);
  const json& h = charts["heal"];
  CHECK(h["prs_opened"] == 2);
  CHECK(h["mean_time_to_pr_ms"].get<double>() == 90000);
  CHECK(h["outcomes"] == json::parse(R"({"closed":0,"merged":1,"open":1})"));
  CHECK(h["recurrence"] == json::parse(R"({"came_back":0,"stopped":1,"unchecked":1})"));
  const json& bs = charts["build_speedup"];
  REQUIRE(bs["builds"].size() == 1);
  CHECK(bs["builds"][0]["speedup"].get<double>() == doctest::Approx(1.25));
  CHECK(bs["builds"][0]["critical_over_wall"].get<double>() == doctest::Approx(4700.0 / 4800));
  CHECK(bs["parallel_speedup"].get<double>() == doctest::Approx(1.25));
  const json& tl = charts["build_timelines"]["builds"];
  REQUIRE(tl.size() == 1);
  CHECK(tl[0]["critical_chain"] == json::parse(R"(["contract","backend"])"));
  CHECK(tl[0]["streams"].size() == 3);

  SUBCASE("--mode heal leaves the other charts empty; text form names every chart") {
    const json only = run_json(repo, {"stats", "--charts", "--mode", "heal"});
    CHECK(only["heal"]["prs_opened"] == 2);
    CHECK(only["fix_success_over_time"]["points"].empty());
    CHECK(only["build_timelines"]["builds"].empty());
    auto r = repo.hostctl({"stats", "--charts"});
    CHECK(r.code == 0);
    for (const char* name : host::k_dashboard_charts) CHECK(r.out.find(std::string(name) + ": ") != std::string::npos);
  }
  SUBCASE("an --html file that cannot be written exits 2 naming it") {
    auto r = repo.hostctl({"stats", "--html", "/nonexistent-dir/dash.html"});
    CHECK(r.code == 2);
    CHECK(r.err.find("/nonexistent-dir/dash.html") != std::string::npos);
  }
  SUBCASE("--rebuild does not combine with --charts") {
    auto r = repo.hostctl({"stats", "--charts", "--rebuild"});
    CHECK(r.code == 2);
    CHECK(r.err.find("--rebuild") != std::string::npos);
  }
}

TEST_CASE("--html renders in headless Chromium with the charts' numbers in the DOM") {
  test::GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}});
  write_history(repo.store());
  TempDir tmp("fixhost-dashboard");
  const fs::path page = tmp / "dashboard.html";
  auto w = repo.hostctl({"stats", "--html", page.string()});
  INFO("stderr: " << w.err);
  REQUIRE(w.code == 0);
  const std::string html = read_file(page);
  // Self-contained: nothing to fetch at view time.
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("http") == std::string::npos);
  const json charts = run_json(repo, {"stats", "--charts"});

  auto dom = chromium({"--dump-dom", "file://" + page.string()}, tmp.path());
  REQUIRE_MESSAGE(dom.code == 0, "chromium: " << dom.err.substr(0, 2000));
  const auto tags = tags_of(dom.out);
  REQUIRE(tags.size() > 50);
  check_sections(tags, charts);
  check_marks(tags);

  // The screenshot stays under the build tree for a person to look at.
  const fs::path shots = FIXHOST_DASHBOARD_OUTPUT;
  fs::create_directories(shots);
  fs::remove(shots / "dashboard.png");
  auto shot = chromium({"--screenshot=" + (shots / "dashboard.png").string(), "--window-size=1280,3200",
                        "--hide-scrollbars", "file://" + page.string()},
                       tmp.path());
  CHECK_MESSAGE(shot.code == 0, "chromium: " << shot.err.substr(0, 2000));
  const std::string png = read_file(shots / "dashboard.png");
  REQUIRE(png.size() > 10000);
  CHECK(png.substr(1, 3) == "PNG");
}

TEST_CASE("hostctl serve shows the same dashboard at / and its data at /dashboard.json") {
  test::GitRepo repo(std::map<std::string, std::string>{{"fixhost.toml", k_toml}});
  write_history(repo.store());
  const json charts = run_json(repo, {"stats", "--charts"});
  test::ServeProcess serve(repo.dir());
  auto page = test::http_request(serve.url(), "GET", "/");
  REQUIRE(page.status == 200);
  CHECK(page.headers["Content-Type"] == "text/html; charset=utf-8");
  CHECK(page.body.find("fetch(\"/dashboard.json\"") != std::string::npos);  // live: it polls
  auto data = test::http_request(serve.url(), "GET", "/dashboard.json");
  REQUIRE(data.status == 200);
  const json served = json::parse(data.body);
  CHECK(served["charts"] == charts);
  CHECK(test::http_request(serve.url(), "POST", "/").status == 405);

  // Live: an event recorded while serve runs is in the next answer.
  const std::string ev = nlohmann::json{{"event_id", "0123456789abcdef0123456789abcdef"}, {"level", "error"},
                                        {"platform", "python"},
                                        {"exception", {{"values", nlohmann::json::array({{{"type", "KeyError"}, {"value", "'x'"}}})}}}}
                             .dump();
  auto posted = test::http_request(serve.url(), "POST", "/api/7/store/", ev,
                                   {{"X-Sentry-Auth", "Sentry sentry_key=k1, sentry_version=7, sentry_client=test/1.0"},
                                    {"Content-Type", "application/json"}});
  REQUIRE_MESSAGE(posted.status == 200, posted.body);
  const json later = json::parse(test::http_request(serve.url(), "GET", "/dashboard.json").body);
  CHECK(later["as_of_seq"].get<std::uint64_t>() > served["as_of_seq"].get<std::uint64_t>());
  auto page2 = test::http_request(serve.url(), "GET", "/");
  CHECK(page2.body.find("data-as-of-seq=\"" + later["as_of_seq"].dump() + "\"") != std::string::npos);

  TempDir tmp("fixhost-dashboard");
  auto dom = chromium({"--dump-dom", serve.url() + "/"}, tmp.path());
  REQUIRE_MESSAGE(dom.code == 0, "chromium: " << dom.err.substr(0, 2000));
  const auto tags = tags_of(dom.out);
  check_sections(tags, served["charts"]);
  check_marks(tags);
  CHECK(serve.stop() == 0);
}
