#pragma once
// `hostctl heal --source api`: the unresolved issues of a Sentry organization over its REST API
// (GET /api/0/organizations/{org}/issues/?query=is:unresolved&statsPeriod=24h, every Link cursor
// with results="true", then each issue's latest event), honouring 429 Retry-After and
// X-Sentry-Rate-Limit-*. The auth token is sent as a Bearer header only: never logged, never in
// an error message, never recorded. Thread-compatible (no shared state).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host::heal {

struct SentryApiConfig {
  std::string url = "https://sentry.io";  // SENTRY_URL
  std::string org;                        // SENTRY_ORG
  std::string project;                    // SENTRY_PROJECT: a slug or numeric id, "" for all
  std::string token;                      // SENTRY_AUTH_TOKEN
};

// From the environment, like sentry-cli. nullopt when SENTRY_ORG or SENTRY_AUTH_TOKEN is unset
// (no API configured); InvalidArgument for a SENTRY_URL that is not http(s).
Result<std::optional<SentryApiConfig>> sentry_api_from_env();

struct FetchOptions {
  std::string stats_period = "24h";
  // The longest a Retry-After / rate-limit reset is waited for; longer is an error. Default: 2 min
  std::chrono::seconds max_wait{120};
  // At most this many 429 retries per request. Default: 5
  int max_retries = 5;
  // How waiting is done (tests record instead of sleeping). Default: std::this_thread::sleep_for
  std::function<void(std::chrono::milliseconds)> sleep;
  // Seconds since the epoch now, for X-Sentry-Rate-Limit-Reset. Default: the clock
  std::function<double()> now_s;
  // At most this many issues (safety bound). Default: 1000
  std::size_t max_issues = 1000;
};

struct FetchedIssue {
  std::string id;
  std::string issue_json;   // the issue object as the list returned it
  std::string latest_json;  // its latest event ("" when that request failed: see `warnings`)
};

struct FetchReport {
  std::vector<FetchedIssue> issues;
  std::uint32_t pages = 0;
  std::uint32_t requests = 0;
  std::uint32_t rate_limited = 0;  // 429 answers waited out
  std::int64_t waited_ms = 0;
  std::vector<std::string> warnings;
};

// Errors: IOError (connection), Refused (401/403: the token), Timeout (a rate limit longer than
// max_wait or more than max_retries), InvalidArgument (an answer that is not the JSON expected).
Result<FetchReport> fetch_unresolved(const SentryApiConfig& api, const FetchOptions& options);

// PUT {url}/api/0/organizations/{org}/issues/{id}/ {"status": "resolvedInNextRelease"}
// (heal verify with [heal] resolve = true). Errors name the issue, never the token.
Status resolve_in_next_release(const SentryApiConfig& api, const std::string& issue_id);

// The URL of the `rel="next"` link when it says results="true", else nullopt.
std::optional<std::string> next_page(std::string_view link_header);

}  // namespace fixhost::host::heal
