#include "fixhost/host/heal/sentry_api.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cctype>
#include <cstdlib>
#include <thread>

#include "fixhost/host/world/http/client.hpp"

namespace fixhost::host::heal {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
    else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

double clock_s() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

// One GET with the rate-limit rules: a 429 waits Retry-After (seconds) and retries; a
// X-Sentry-Rate-Limit-Remaining of 0 waits until X-Sentry-Rate-Limit-Reset before the next call.
class Client {
 public:
  Client(const SentryApiConfig& api, const FetchOptions& o, FetchReport& report) : api_(api), o_(o), report_(report) {}

  Result<http::HttpResponse> get(const std::string& url) {
    for (int attempt = 0;; ++attempt) {
      if (reset_at_ > 0) {
        const double wait = reset_at_ - now();
        reset_at_ = 0;
        if (wait > 0) {
          if (auto st = wait_for(wait, url); !st) return st;
        }
      }
      http::HttpRequest r;
      r.url = url;
      r.headers = {{"Authorization", "Bearer " + api_.token}, {"Accept", "application/json"}};
      ++report_.requests;
      auto res = http::fetch(r);
      if (!res) return res.status();
      if (auto remaining = res->header("X-Sentry-Rate-Limit-Remaining"); remaining == "0") {
        reset_at_ = std::strtod(res->header("X-Sentry-Rate-Limit-Reset").c_str(), nullptr);
      }
      if (res->status == 429) {
        if (attempt >= o_.max_retries)
          return make_error(Errc::timeout, "Sentry still answers 429 (rate limited) after " + std::to_string(attempt) +
                                               " retries for " + strip(url) + "; try again later");
        std::string after = res->header("Retry-After");
        double wait = after.empty() ? 1.0 : std::strtod(after.c_str(), nullptr);
        if (wait <= 0) wait = 1.0;
        ++report_.rate_limited;
        reset_at_ = 0;
        if (auto st = wait_for(wait, url); !st) return st;
        continue;
      }
      if (res->status == 401 || res->status == 403)
        return make_error(Errc::refused, "Sentry refused the auth token (HTTP " + std::to_string(res->status) + ") for " +
                                             strip(url) + "; check SENTRY_AUTH_TOKEN's scopes (event:read, org:read)");
      if (res->status != 200)
        return make_error(Errc::io_error, "Sentry answered HTTP " + std::to_string(res->status) + " for " + strip(url) +
                                              ": " + res->body.substr(0, 200));
      return res;
    }
  }

 private:
  static std::string strip(const std::string& url) { return url.substr(0, url.find('?')); }
  double now() const { return o_.now_s ? o_.now_s() : clock_s(); }
  Status wait_for(double seconds, const std::string& url) {
    if (seconds > static_cast<double>(o_.max_wait.count()))
      return make_error(Errc::timeout, "Sentry asks to wait " + std::to_string(static_cast<long long>(seconds)) +
                                           " s (rate limit) for " + strip(url) + ", more than the " +
                                           std::to_string(o_.max_wait.count()) + " s fixhost waits; try again later");
    auto ms = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    report_.waited_ms += ms.count();
    if (o_.sleep) o_.sleep(ms);
    else std::this_thread::sleep_for(ms);
    return Status::ok();
  }
  const SentryApiConfig& api_;
  const FetchOptions& o_;
  FetchReport& report_;
  double reset_at_ = 0;
};

}  // namespace

Result<std::optional<SentryApiConfig>> sentry_api_from_env() {
  SentryApiConfig c;
  c.org = env("SENTRY_ORG");
  c.token = env("SENTRY_AUTH_TOKEN");
  c.project = env("SENTRY_PROJECT");
  if (auto u = env("SENTRY_URL"); !u.empty()) c.url = u;
  while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();
  if (c.org.empty() || c.token.empty()) return std::optional<SentryApiConfig>();
  if (auto u = http::parse_url(c.url); !u)
    return make_error(Errc::invalid_argument, "SENTRY_URL: " + u.status().message());
  return std::optional<SentryApiConfig>(c);
}

std::optional<std::string> next_page(std::string_view link) {
  // <URL>; rel="previous"; results="false"; cursor="...", <URL>; rel="next"; results="true"; cursor="..."
  std::size_t pos = 0;
  while ((pos = link.find('<', pos)) != std::string_view::npos) {
    auto close = link.find('>', pos);
    if (close == std::string_view::npos) break;
    std::string url(link.substr(pos + 1, close - pos - 1));
    auto next_link = link.find('<', close);
    std::string_view params = link.substr(close + 1, next_link == std::string_view::npos ? std::string_view::npos : next_link - close - 1);
    const bool is_next = params.find("rel=\"next\"") != std::string_view::npos;
    const bool has_results = params.find("results=\"true\"") != std::string_view::npos;
    if (is_next) return has_results ? std::optional<std::string>(url) : std::nullopt;
    pos = close;
  }
  return std::nullopt;
}

Result<FetchReport> fetch_unresolved(const SentryApiConfig& api, const FetchOptions& options) {
  FetchReport report;
  Client client(api, options, report);
  std::string query = "is:unresolved";
  std::string url = api.url + "/api/0/organizations/" + percent_encode(api.org) + "/issues/?query=";
  const bool numeric_project = !api.project.empty() && api.project.find_first_not_of("0123456789") == std::string::npos;
  if (!api.project.empty() && !numeric_project) query += " project:" + api.project;
  url += percent_encode(query) + "&statsPeriod=" + percent_encode(options.stats_period);
  if (numeric_project) url += "&project=" + api.project;
  std::optional<std::string> page = url;
  while (page && report.issues.size() < options.max_issues) {
    auto res = client.get(*page);
    if (!res) return res.status();
    ++report.pages;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.is_array())
      return make_error(Errc::invalid_argument, "Sentry's issue list (page " + std::to_string(report.pages) +
                                                    ") is not a JSON array; is SENTRY_URL a Sentry server?");
    for (const auto& issue : j) {
      if (!issue.is_object() || !issue.contains("id")) continue;
      FetchedIssue f;
      f.id = issue["id"].is_string() ? issue["id"].get<std::string>() : issue["id"].dump();
      f.issue_json = issue.dump();
      report.issues.push_back(std::move(f));
      if (report.issues.size() >= options.max_issues) break;
    }
    page = next_page(res->header("Link"));
  }
  for (auto& f : report.issues) {
    auto res = client.get(api.url + "/api/0/organizations/" + percent_encode(api.org) + "/issues/" + percent_encode(f.id) +
                          "/events/latest/");
    if (!res) {
      if (res.status().code() == Errc::timeout || res.status().code() == Errc::refused) return res.status();
      report.warnings.push_back("issue " + f.id + ": no latest event: " + res.status().message());
      continue;
    }
    f.latest_json = res->body;
  }
  return report;
}

Status resolve_in_next_release(const SentryApiConfig& api, const std::string& issue_id) {
  http::HttpRequest r;
  r.method = "PUT";
  r.url = api.url + "/api/0/organizations/" + percent_encode(api.org) + "/issues/" + percent_encode(issue_id) + "/";
  r.headers = {{"Authorization", "Bearer " + api.token}, {"Content-Type", "application/json"}};
  r.body = R"({"status":"resolvedInNextRelease"})";
  auto res = http::fetch(r);
  if (!res) return res.status();
  if (res->status / 100 == 2) return Status::ok();
  const std::string what = "Sentry answered HTTP " + std::to_string(res->status) + " to resolving issue " + issue_id +
                           " inNextRelease (PUT " + r.url + ")";
  switch (res->status) {
    case 401:
      return make_error(Errc::refused, what + ": the token in SENTRY_AUTH_TOKEN is not valid (expired or revoked); "
                                              "make a new one with the event:write scope");
    case 403:
      return make_error(Errc::refused, what + ": the token may not change this issue; it needs the event:write scope "
                                              "and access to the organization '" + api.org + "'");
    case 404:
      return make_error(Errc::not_found, what + ": no such issue in the organization '" + api.org +
                                              "' (check SENTRY_ORG, or the issue was deleted or merged)");
    case 429: {
      std::string after = res->header("Retry-After");
      return make_error(Errc::busy, what + ": rate limited" + (after.empty() ? "" : " (Retry-After " + after + " s)") +
                                        "; run hostctl heal verify again later");
    }
    default:
      return make_error(Errc::io_error, what);
  }
}

}  // namespace fixhost::host::heal
