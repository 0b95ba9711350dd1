#include <utility>  // before Asio (g++ 12 in C++20 mode)

#include "fixhost/host/world/http/client.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>

namespace fixhost::host::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string without_query(const std::string& url) { return url.substr(0, url.find('?')); }

// Sync reads and writes ignore beast's expires_after: the socket's own timeouts bound them.
void socket_timeouts(tcp::socket& sock, std::chrono::seconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count());
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

template <class Stream>
Result<HttpResponse> exchange(Stream& stream, const Url& u, const HttpRequest& r) {
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(r.method), u.target, 11);
  req.set(bhttp::field::host, u.host);
  req.set(bhttp::field::user_agent, "fixhost");
  for (const auto& [k, v] : r.headers) req.set(k, v);
  req.body() = r.body;
  req.prepare_payload();
  bhttp::write(stream, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(r.max_body);
  bhttp::read(stream, buf, parser);
  auto res = parser.release();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

Result<Url> parse_url(std::string_view text) {
  Url u;
  auto scheme = text.find("://");
  auto bad = [&] {
    return make_error(Errc::invalid_argument,
                      "URL '" + without_query(std::string(text)) + "' is not http(s)://HOST[:PORT][/PATH]");
  };
  if (scheme == std::string_view::npos) return bad();
  u.scheme = std::string(text.substr(0, scheme));
  for (char& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.scheme != "http" && u.scheme != "https") return bad();
  std::string_view rest = text.substr(scheme + 3);
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!u.target.empty() && u.target[0] == '?') u.target = "/" + u.target;
  if (authority.find('@') != std::string_view::npos) return bad();  // credentials never go in URLs here
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad();
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = std::string(authority.substr(close + 2));
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty()) return bad();
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
  if (u.port.find_first_not_of("0123456789") != std::string::npos) return bad();
  return u;
}

Result<HttpResponse> fetch(const HttpRequest& r) {
  auto u = parse_url(r.url);
  if (!u) return u.status();
  const std::string what = r.method + " " + without_query(r.url);
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(u->host, u->port);
    if (u->scheme == "http") {
      beast::tcp_stream stream(ioc);
      stream.expires_after(r.timeout);
      stream.connect(endpoints);
      socket_timeouts(stream.socket(), r.timeout);
      auto res = exchange(stream, *u, r);
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      return res;
    }
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str()))
      return make_error(Errc::io_error, what + ": could not set the TLS server name");
    stream.set_verify_callback(net::ssl::host_name_verification(u->host));
    beast::get_lowest_layer(stream).expires_after(r.timeout);
    beast::get_lowest_layer(stream).connect(endpoints);
    socket_timeouts(beast::get_lowest_layer(stream).socket(), r.timeout);
    stream.handshake(net::ssl::stream_base::client);
    auto res = exchange(stream, *u, r);
    beast::error_code ec;
    stream.shutdown(ec);  // servers often close without close_notify; not an error
    return res;
  } catch (const boost::system::system_error& e) {
    return make_error(Errc::io_error, what + ": " + e.code().message());
  } catch (const std::exception& e) {
    return make_error(Errc::io_error, what + ": " + e.what());
  }
}

}  // namespace fixhost::host::http
