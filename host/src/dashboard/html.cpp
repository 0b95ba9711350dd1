// The dashboard page (dashboard.hpp): hand-written inline SVG, one <section> per chart, every
// number also a data-* attribute so a test (or a scraper) reads the page back from its DOM.
// Nothing is fetched at view time; the live page's only script polls serve's /dashboard.json.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <sstream>

#include "fixhost/host/dashboard.hpp"

namespace fixhost::host {
namespace {

using Json = nlohmann::ordered_json;

std::string esc(const Json& j) { return html_escape(j.is_string() ? j.get<std::string>() : j.dump()); }

// A number as an attribute: the JSON text of the number, "null" (or `null_text`) when none.
std::string num(const Json& v, const char* null_text = "null") {
  if (v.is_number_float()) {
    std::ostringstream os;
    os << v.dump();
    return os.str();
  }
  if (v.is_number() || v.is_boolean()) return v.dump();
  if (v.is_null()) return null_text;
  return esc(v);
}
double dbl(const Json& v) { return v.is_number() ? v.get<double>() : 0.0; }

std::string attr_name(const std::string& key) {
  std::string out = "data-";
  for (char c : key) out.push_back(c == '_' ? '-' : c);
  return out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
std::string ms_text(double ms) {
  return ms >= 10000 ? fixed(ms / 1000, 0) + " s" : ms >= 1000 ? fixed(ms / 1000, 1) + " s" : fixed(ms, 0) + " ms";
}
std::string short_label(const std::string& s, std::size_t max = 48) {
  if (s.size() <= max) return s;
  return "..." + s.substr(s.size() - (max - 3));
}
std::string utc_text(std::int64_t us) {
  const std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// <section id="chart-NAME" data-chart="NAME" data-KEY="number"...> with the chart's scalars.
std::string open_section(const std::string& name, const Json& c, const char* null_text = "null") {
  std::string out = "<section class=\"chart\" id=\"chart-" + html_escape(name) + "\" data-chart=\"" + html_escape(name) + "\"";
  for (const auto& [k, v] : c.items()) {
    if (k == "title" || k == "summary" || v.is_array() || v.is_object()) continue;
    out += " " + attr_name(k) + "=\"" + num(v, null_text) + "\"";
  }
  out += ">\n<h2>" + esc(c.value("title", name)) + "</h2>\n<p class=\"summary\">" + esc(c.value("summary", "")) + "</p>\n";
  return out;
}

struct Bar {
  std::string label;  // raw; escaped when drawn
  double value = 0;
  std::string text;   // drawn after the bar; raw
  std::string attrs;  // extra attributes of the mark, already escaped
  std::string cls = "bar";
};

// Horizontal bars, one row each, scaled to the largest value.
std::string hbars(const std::vector<Bar>& bars, const std::string& empty_text) {
  if (bars.empty()) return "<p class=\"empty\">" + html_escape(empty_text) + "</p>\n";
  const int row = 22, label_w = 360, bar_w = 560, width = label_w + bar_w + 260;
  double max = 0;
  for (const auto& b : bars) max = std::max(max, b.value);
  std::string out = "<svg class=\"bars\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(row * static_cast<int>(bars.size()) + 8) + "\" viewBox=\"0 0 " + std::to_string(width) +
                    " " + std::to_string(row * static_cast<int>(bars.size()) + 8) + "\" role=\"img\">\n";
  int y = 4;
  for (const auto& b : bars) {
    const double w = max > 0 ? b.value / max * bar_w : 0;
    out += "<g class=\"row\"><title>" + html_escape(b.label) + "</title>";
    out += "<text class=\"label\" x=\"" + std::to_string(label_w - 8) + "\" y=\"" + std::to_string(y + 15) +
           "\" text-anchor=\"end\">" + html_escape(short_label(b.label)) + "</text>";
    out += "<rect class=\"" + b.cls + "\" x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(y + 2) + "\" width=\"" +
           fixed(std::max(w, b.value > 0 ? 1.0 : 0.0), 1) + "\" height=\"" + std::to_string(row - 6) + "\" " + b.attrs + "/>";
    out += "<text class=\"value\" x=\"" + fixed(label_w + w + 6, 1) + "\" y=\"" + std::to_string(y + 15) + "\">" +
           html_escape(b.text) + "</text></g>\n";
    y += row;
  }
  return out + "</svg>\n";
}

std::string success_over_time(const Json& c) {
  const Json& pts = c["points"];
  if (pts.empty()) return "<p class=\"empty\">no autofix runs</p>\n";
  const int w = 1000, h = 240, left = 50, right = 20, top = 10, bottom = 40;
  const double n = static_cast<double>(pts.size());
  auto x = [&](std::size_t i) { return left + (n <= 1 ? (w - left - right) / 2.0 : static_cast<double>(i) * (w - left - right) / (n - 1)); };
  auto y = [&](double r) { return top + (1 - r) * (h - top - bottom); };
  std::string out = "<svg class=\"line\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) + "\" viewBox=\"0 0 " +
                    std::to_string(w) + " " + std::to_string(h) + "\" role=\"img\">\n";
  for (double g : {0.0, 0.5, 1.0}) {
    out += "<line class=\"grid\" x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(w - right) + "\" y1=\"" +
           fixed(y(g), 1) + "\" y2=\"" + fixed(y(g), 1) + "\"/>";
    out += "<text class=\"axis\" x=\"" + std::to_string(left - 6) + "\" y=\"" + fixed(y(g) + 4, 1) + "\" text-anchor=\"end\">" +
           fixed(g * 100, 0) + "%</text>\n";
  }
  std::string line;
  for (std::size_t i = 0; i < pts.size(); ++i)
    if (pts[i]["rate"].is_number()) line += (line.empty() ? "" : " ") + fixed(x(i), 1) + "," + fixed(y(dbl(pts[i]["rate"])), 1);
  if (!line.empty()) out += "<polyline class=\"trend\" points=\"" + line + "\"/>\n";
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const Json& p = pts[i];
    const bool has = p["rate"].is_number();
    out += "<circle class=\"point" + std::string(has ? "" : " none") + "\" cx=\"" + fixed(x(i), 1) + "\" cy=\"" +
           fixed(has ? y(dbl(p["rate"])) : y(0), 1) + "\" r=\"5\" data-run=\"" + esc(p["run"]) + "\" data-rate=\"" +
           num(p["rate"]) + "\" data-fixed=\"" + num(p["fixed"]) + "\" data-unfixable=\"" + num(p["unfixable"]) +
           "\" data-start-us=\"" + num(p["start_us"]) + "\"><title>" + esc(p["run"]) + " " +
           html_escape(utc_text(p["start_us"].get<std::int64_t>())) + ": " + num(p["fixed"]) + " fixed, " +
           num(p["unfixable"]) + " unfixable</title></circle>\n";
  }
  const std::size_t step = std::max<std::size_t>(1, pts.size() / 8);
  for (std::size_t i = 0; i < pts.size(); i += step)
    out += "<text class=\"axis\" x=\"" + fixed(x(i), 1) + "\" y=\"" + std::to_string(h - 14) + "\" text-anchor=\"" +
           (i == 0 && pts.size() > 1 ? "start" : i + step >= pts.size() && pts.size() > 1 ? "end" : "middle") + "\">" +
           html_escape(utc_text(pts[i]["start_us"].get<std::int64_t>())) + "</text>\n";
  return out + "</svg>\n";
}

std::string gantt(const Json& b) {
  const Json& streams = b["streams"];
  double span = std::max(dbl(b["wall_ms"]), 1.0);
  double end = 0;
  for (const auto& s : streams) end = std::max(end, dbl(s["started_ms"]) + dbl(s["duration_ms"]));
  const double merge_ms = dbl(b["merge_ms"]), integ_ms = dbl(b["integration_ms"]);
  span = std::max(span, end + merge_ms + integ_ms);
  const int row = 22, label_w = 200, bar_w = 760, width = label_w + bar_w + 120;
  const int rows = static_cast<int>(streams.size()) + 1;
  auto x = [&](double ms) { return label_w + ms / span * bar_w; };
  std::string out = "<svg class=\"gantt\" data-run=\"" + esc(b["run"]) + "\" width=\"" + std::to_string(width) +
                    "\" height=\"" + std::to_string(rows * row + 24) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(rows * row + 24) + "\" role=\"img\">\n";
  int y = 4;
  for (const auto& s : streams) {
    const bool critical = s["critical"].get<bool>();
    out += "<text class=\"label\" x=\"" + std::to_string(label_w - 8) + "\" y=\"" + std::to_string(y + 15) +
           "\" text-anchor=\"end\">" + html_escape(short_label(s["stream"].get<std::string>(), 28)) + "</text>";
    out += "<rect class=\"stream " + html_escape(s["outcome"].get<std::string>()) + (critical ? " critical" : "") + "\" x=\"" +
           fixed(x(dbl(s["started_ms"])), 1) + "\" y=\"" + std::to_string(y + 2) + "\" width=\"" +
           fixed(std::max(1.0, dbl(s["duration_ms"]) / span * bar_w), 1) + "\" height=\"" + std::to_string(row - 6) +
           "\" data-stream=\"" + esc(s["stream"]) + "\" data-started-ms=\"" + num(s["started_ms"]) + "\" data-duration-ms=\"" +
           num(s["duration_ms"]) + "\" data-outcome=\"" + esc(s["outcome"]) + "\" data-critical=\"" + num(s["critical"]) +
           "\"><title>" + esc(s["stream"]) + " (" + esc(s["role"]) + "): " + esc(s["outcome"]) + ", " +
           html_escape(ms_text(dbl(s["duration_ms"]))) + "</title></rect>";
    out += "<text class=\"value\" x=\"" + fixed(x(dbl(s["started_ms"]) + dbl(s["duration_ms"])) + 6, 1) + "\" y=\"" +
           std::to_string(y + 15) + "\">" + html_escape(ms_text(dbl(s["duration_ms"]))) + "</text>\n";
    y += row;
  }
  out += "<text class=\"label\" x=\"" + std::to_string(label_w - 8) + "\" y=\"" + std::to_string(y + 15) +
         "\" text-anchor=\"end\">merge + integration</text>";
  out += "<rect class=\"merge\" x=\"" + fixed(x(end), 1) + "\" y=\"" + std::to_string(y + 2) + "\" width=\"" +
         fixed(std::max(1.0, merge_ms / span * bar_w), 1) + "\" height=\"" + std::to_string(row - 6) + "\" data-merge-ms=\"" +
         num(b["merge_ms"]) + "\"/>";
  out += "<rect class=\"integration\" x=\"" + fixed(x(end + merge_ms), 1) + "\" y=\"" + std::to_string(y + 2) +
         "\" width=\"" + fixed(std::max(1.0, integ_ms / span * bar_w), 1) + "\" height=\"" + std::to_string(row - 6) +
         "\" data-integration-ms=\"" + num(b["integration_ms"]) + "\"/>\n";
  y += row;
  out += "<text class=\"axis\" x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(y + 14) + "\">0</text>";
  out += "<text class=\"axis\" x=\"" + std::to_string(label_w + bar_w) + "\" y=\"" + std::to_string(y + 14) +
         "\" text-anchor=\"end\">" + html_escape(ms_text(span)) + "</text>\n";
  return out + "</svg>\n";
}

const char* k_style = R"(body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin:0 0 4px}section.chart{border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:0 0 18px}
p.summary{color:#555;margin:0 0 8px}p.empty{color:#888;font-style:italic}svg text{font-size:12px;fill:#333}
svg text.axis{fill:#777;font-size:11px}rect.bar{fill:#4a7fd4}rect.bar.unknown{fill:#bbb}rect.bar.wall{fill:#4a7fd4}
rect.bar.critical{fill:#e0a030}rect.bar.serial{fill:#9bb8e8}rect.bar.merged{fill:#3a9a5a}rect.bar.closed{fill:#c0504d}
rect.bar.open{fill:#bbb}line.grid{stroke:#eee}polyline.trend{fill:none;stroke:#4a7fd4;stroke-width:2}
circle.point{fill:#4a7fd4}circle.point.none{fill:#fff;stroke:#999}rect.stream{fill:#9bb8e8}rect.stream.critical{stroke:#d05000;stroke-width:2}
rect.stream.failed,rect.stream.policy,rect.stream.budget_exceeded{fill:#e8a0a0}rect.merge{fill:#999}rect.integration{fill:#666}
.meta{color:#777;font-size:12px}h3{font-size:14px;margin:10px 0 2px})";

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string dashboard_html(const nlohmann::ordered_json& data, const DashboardHtmlOptions& options) {
  const Json& charts = data["charts"];
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fixhost dashboard</title>\n<style>";
  out += k_style;
  out += "</style></head>\n<body data-as-of-seq=\"" + num(data["as_of_seq"]) + "\">\n<h1>fixhost dashboard</h1>\n";
  out += "<p class=\"meta\">as of event " + num(data["as_of_seq"]);
  const Json& f = data["filters"];
  if (f.is_object()) {
    if (f.contains("run") && !f["run"].is_null()) out += ", run " + esc(f["run"]);
    if (f.contains("since") && !f["since"].is_null()) out += ", runs since " + esc(f["since"]);
    if (f.contains("mode") && !f["mode"].is_null()) out += ", mode " + esc(f["mode"]);
  }
  out += "; definitions: docs/STATS.md</p>\n";

  {  // fix success over time
    const Json& c = charts["fix_success_over_time"];
    out += open_section("fix_success_over_time", c) + success_over_time(c) + "</section>\n";
  }
  {
    const Json& c = charts["attempts_per_fix"];
    std::vector<Bar> bars;
    for (const auto& b : c["buckets"])
      bars.push_back({std::to_string(b["attempts"].get<std::uint64_t>()) + " attempt" + (b["attempts"] == 1 ? "" : "s"),
                      dbl(b["fixes"]), num(b["fixes"]) + (b["fixes"] == 1 ? " fix" : " fixes"),
                      "data-attempts=\"" + num(b["attempts"]) + "\" data-fixes=\"" + num(b["fixes"]) + "\""});
    out += open_section("attempts_per_fix", c) + hbars(bars, "no fixes") + "</section>\n";
  }
  for (const char* name : {"reverts_by_reason", "policy_violations_by_rule"}) {
    const Json& c = charts[name];
    std::vector<Bar> bars;
    for (const auto& b : c["bars"])
      bars.push_back({b["key"].get<std::string>(), dbl(b["count"]), num(b["count"]),
                      "data-key=\"" + esc(b["key"]) + "\" data-count=\"" + num(b["count"]) + "\""});
    out += open_section(name, c) + hbars(bars, "none") + "</section>\n";
  }
  {
    const Json& c = charts["time_per_fix"];
    std::vector<Bar> bars;
    for (const auto& x : c["fixes"])
      bars.push_back({x["test"].get<std::string>(), dbl(x["wall_ms"]), ms_text(dbl(x["wall_ms"])),
                      "data-run=\"" + esc(x["run"]) + "\" data-test=\"" + esc(x["test"]) + "\" data-wall-ms=\"" +
                          num(x["wall_ms"]) + "\""});
    out += open_section("time_per_fix", c) + hbars(bars, "no fixes with a recorded attempt") + "</section>\n";
  }
  {
    const Json& c = charts["cost_per_fix"];
    std::vector<Bar> bars;
    double max = 0;
    for (const auto& x : c["fixes"]) max = std::max(max, dbl(x["cost_usd"]));
    for (const auto& x : c["fixes"]) {
      const bool known = x["cost_usd"].is_number();
      Bar b{x["test"].get<std::string>(), known ? dbl(x["cost_usd"]) : 0,
            known ? "$" + fixed(dbl(x["cost_usd"]), 4) : std::string("unknown"),
            "data-run=\"" + esc(x["run"]) + "\" data-test=\"" + esc(x["test"]) + "\" data-cost-usd=\"" +
                num(x["cost_usd"], "unknown") + "\" data-unknown-attempts=\"" + num(x["unknown_attempts"]) + "\""};
      if (!known) b.cls = "bar unknown";
      bars.push_back(std::move(b));
    }
    out += open_section("cost_per_fix", c, "unknown") + hbars(bars, "no fixes") + "</section>\n";
  }
  {
    const Json& c = charts["flaky_tests"];
    std::vector<Bar> bars;
    for (const auto& x : c["tests"])
      bars.push_back({x["test"].get<std::string>(), dbl(x["runs"]), num(x["runs"]) + " runs",
                      "data-test=\"" + esc(x["test"]) + "\" data-runs=\"" + num(x["runs"]) + "\""});
    out += open_section("flaky_tests", c) + hbars(bars, "no flaky tests") + "</section>\n";
  }
  {
    const Json& c = charts["heal"];
    out += open_section("heal", c);
    std::vector<Bar> states, recs, times;
    for (const auto& [k, v] : c["outcomes"].items())
      states.push_back({k, dbl(v), num(v), "data-state=\"" + html_escape(k) + "\" data-count=\"" + num(v) + "\"", "bar " + k});
    for (const auto& [k, v] : c["recurrence"].items())
      recs.push_back({k, dbl(v), num(v), "data-recurrence=\"" + html_escape(k) + "\" data-count=\"" + num(v) + "\""});
    for (const auto& p : c["prs"])
      times.push_back({"#" + num(p["number"]) + " " + p["issue"].get<std::string>(), dbl(p["time_to_pr_ms"]),
                       ms_text(dbl(p["time_to_pr_ms"])) + ", " + p["state"].get<std::string>() + ", " +
                           p["recurrence"].get<std::string>(),
                       "data-number=\"" + num(p["number"]) + "\" data-issue=\"" + esc(p["issue"]) + "\" data-time-to-pr-ms=\"" +
                           num(p["time_to_pr_ms"]) + "\" data-state=\"" + esc(p["state"]) + "\" data-recurrence=\"" +
                           esc(p["recurrence"]) + "\"",
                       "bar pr"});
    out += "<h3>PR states</h3>\n<div class=\"outcomes\">" + hbars(states, "no PRs") + "</div>";
    out += "<h3>Error after the fix</h3>\n<div class=\"recurrence\">" + hbars(recs, "no PRs") + "</div>";
    out += "<h3>Time to PR</h3>\n<div class=\"time-to-pr\">" + hbars(times, "no PRs") + "</div></section>\n";
  }
  {
    const Json& c = charts["build_speedup"];
    std::vector<Bar> bars;
    for (const auto& b : c["builds"]) {
      const std::string run = b["run"].get<std::string>();
      const std::string a = "data-run=\"" + esc(b["run"]) + "\" data-speedup=\"" + num(b["speedup"]) + "\"";
      bars.push_back({run + " wall", dbl(b["wall_ms"]),
                      ms_text(dbl(b["wall_ms"])) + (b["speedup"].is_number() ? ", " + fixed(dbl(b["speedup"]), 2) + "x vs serial" : ""),
                      a + " data-wall-ms=\"" + num(b["wall_ms"]) + "\"", "bar wall"});
      bars.push_back({run + " critical path", dbl(b["critical_ms"]), ms_text(dbl(b["critical_ms"])),
                      a + " data-critical-ms=\"" + num(b["critical_ms"]) + "\" data-critical-over-wall=\"" +
                          num(b["critical_over_wall"]) + "\"",
                      "bar critical"});
      bars.push_back({run + " serial sum", dbl(b["serial_ms"]), ms_text(dbl(b["serial_ms"])),
                      a + " data-serial-ms=\"" + num(b["serial_ms"]) + "\"", "bar serial"});
    }
    out += open_section("build_speedup", c) + hbars(bars, "no merged builds") + "</section>\n";
  }
  {
    const Json& c = charts["build_timelines"];
    out += open_section("build_timelines", c);
    if (c["builds"].empty()) out += "<p class=\"empty\">no builds</p>\n";
    for (const auto& b : c["builds"]) {
      out += "<div class=\"timeline\" data-run=\"" + esc(b["run"]) + "\" data-wall-ms=\"" + num(b["wall_ms"]) +
             "\" data-critical-ms=\"" + num(b["critical_ms"]) + "\" data-streams=\"" + std::to_string(b["streams"].size()) +
             "\"><h3>" + esc(b["run"]) + (b["wall_ms"].is_number() ? ": wall " + html_escape(ms_text(dbl(b["wall_ms"]))) : "") +
             (b["critical_ms"].is_number() && dbl(b["critical_ms"]) > 0
                  ? ", critical path " + html_escape(ms_text(dbl(b["critical_ms"])))
                  : "") +
             "</h3>\n" + gantt(b) + "</div>\n";
    }
    out += "</section>\n";
  }
  // The data itself, for scripts; '<' escaped so no string can end the element.
  std::string j = data.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string safe;
  safe.reserve(j.size());
  for (char ch : j) {
    if (ch == '<') safe += "\\u003c";
    else safe.push_back(ch);
  }
  out += "<script type=\"application/json\" id=\"dashboard-data\">" + safe + "</script>\n";
  if (!options.poll_url.empty()) {
    const Json url = options.poll_url;
    std::string u = url.dump();
    std::string su;
    for (char ch : u) su += ch == '<' ? std::string("\\u003c") : std::string(1, ch);
    out += "<script>(function(){var seq=" + num(data["as_of_seq"]) + ";setInterval(function(){fetch(" + su +
           ",{cache:\"no-store\"}).then(function(r){return r.json();}).then(function(d){if(d.as_of_seq!==seq)location.reload();})"
           ".catch(function(){});}," +
           std::to_string(std::max(1, options.poll_seconds) * 1000) + ");})();</script>\n";
  }
  return out + "</body></html>\n";
}

std::string dashboard_text(const nlohmann::ordered_json& data) {
  std::string out = "as of event " + num(data["as_of_seq"]) + "\n";
  for (const char* name : k_dashboard_charts) {
    const Json& c = data["charts"][name];
    out += std::string(name) + ": " + c.value("title", "") + ": " + c.value("summary", "") + "\n";
  }
  return out;
}

}  // namespace fixhost::host
