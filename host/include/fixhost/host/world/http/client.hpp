#pragma once
// A small blocking HTTP/1.1 client on Beast: http:// and https:// (OpenSSL, peer verified
// against the system's CA store, SNI set). For the Sentry REST API, the report webhook and
// stand-ins in tests. Thread-safe (no shared state); one connection per request.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::host::http {

struct Url {
  std::string scheme;  // http | https
  std::string host;
  std::string port;    // "80"/"443" when not given
  std::string target;  // path and query, "/" at least
};
// "https://sentry.io/api/0/?x=1" -> parts; InvalidArgument names the text.
Result<Url> parse_url(std::string_view url);

struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The first header of that name (case-insensitive), "" if none.
  std::string header(std::string_view name) const;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  // Sent as given; never logged (they carry tokens).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Connect + send + receive. Default: 30 s
  std::chrono::seconds timeout{30};
  // Larger response bodies are an error. Default: 64 MiB
  std::size_t max_body = 64u << 20;
};

// Errors (IOError) name the method and the URL without its query, never a header.
Result<HttpResponse> fetch(const HttpRequest& request);

}  // namespace fixhost::host::http
