#pragma once
// Request bodies as they arrive over HTTP: Content-Encoding (gzip, deflate, br, identity)
// decoded without ever producing more than a limit (a decompression bomb stops at the limit),
// and the HMAC-SHA256 signatures of webhooks. Thread-safe (no shared state).
#include <cstddef>
#include <string>
#include <string_view>

namespace fixhost::host::http {

enum class BodyError { none, too_large, malformed, unsupported };

struct DecodedBody {
  BodyError error = BodyError::none;
  std::string data;    // the decoded bytes (when error == none)
  std::string detail;  // what was wrong, for the 400/413/415 answer
};

// Decodes `body` sent with `content_encoding` ("" or identity, gzip, x-gzip, deflate (zlib or
// raw), br; a list such as "gzip, br" is undone right to left). More than `limit` decoded bytes
// is too_large; the decoder stops there.
DecodedBody decode_body(std::string_view content_encoding, std::string_view body, std::size_t limit);

// Compresses (for tests and benchmarks): gzip, deflate (zlib) or br.
std::string encode_body(std::string_view content_encoding, std::string_view data);

// Lowercase hex of HMAC-SHA256(key, data) (OpenSSL).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Compares two strings in time that depends only on their lengths (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace fixhost::host::http
