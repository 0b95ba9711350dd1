#include "fixhost/host/world/http/body.hpp"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace fixhost::host::http {
namespace {

constexpr std::size_t k_chunk = 64 * 1024;

DecodedBody fail(BodyError e, std::string detail) {
  DecodedBody d;
  d.error = e;
  d.detail = std::move(detail);
  return d;
}

std::string too_large_detail(std::string_view what, std::size_t limit) {
  return std::string(what) + " body inflates past the limit of " + std::to_string(limit) +
         " bytes; send smaller events (the limit is [heal] max_request_bytes / max_event_bytes)";
}

// window_bits: 15+16 gzip, 15 zlib, -15 raw deflate.
DecodedBody inflate_zlib(std::string_view in, std::size_t limit, int window_bits, std::string_view name) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return fail(BodyError::malformed, "zlib could not start");
  DecodedBody out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::vector<char> buf(k_chunk);
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t produced = buf.size() - zs.avail_out;
    if (out.data.size() + produced > limit) {
      inflateEnd(&zs);
      return fail(BodyError::too_large, too_large_detail(name, limit));
    }
    out.data.append(buf.data(), produced);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members (allowed by RFC 1952): keep going.
      if (zs.avail_in > 0 && window_bits > 15) {
        if (inflateReset(&zs) != Z_OK) break;
        continue;
      }
      break;
    }
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && produced == 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return fail(BodyError::malformed, std::string(name) + " body is not valid " + std::string(name) + " data (" +
                                          (zs.msg ? zs.msg : "truncated") + ")");
  return out;
}

DecodedBody inflate_brotli(std::string_view in, std::size_t limit) {
  BrotliDecoderState* st = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (!st) return fail(BodyError::malformed, "brotli could not start");
  DecodedBody out;
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
  size_t avail_in = in.size();
  std::vector<uint8_t> buf(k_chunk);
  BrotliDecoderResult rc;
  while (true) {
    uint8_t* next_out = buf.data();
    size_t avail_out = buf.size();
    rc = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    const std::size_t produced = buf.size() - avail_out;
    if (out.data.size() + produced > limit) {
      BrotliDecoderDestroyInstance(st);
      return fail(BodyError::too_large, too_large_detail("br", limit));
    }
    out.data.append(reinterpret_cast<const char*>(buf.data()), produced);
    if (rc != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) break;
  }
  BrotliDecoderDestroyInstance(st);
  if (rc != BROTLI_DECODER_RESULT_SUCCESS) return fail(BodyError::malformed, "br body is not valid brotli data");
  return out;
}

std::string trim_lower(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

DecodedBody decode_body(std::string_view content_encoding, std::string_view body, std::size_t limit) {
  std::vector<std::string> codings;
  std::size_t start = 0;
  while (start <= content_encoding.size()) {
    auto comma = content_encoding.find(',', start);
    auto part = trim_lower(content_encoding.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!part.empty() && part != "identity") codings.push_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  DecodedBody cur;
  if (codings.empty()) {
    if (body.size() > limit)
      return fail(BodyError::too_large, "body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                                            std::to_string(limit) + " bytes");
    cur.data.assign(body);
    return cur;
  }
  std::string data(body);
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    if (*it == "gzip" || *it == "x-gzip") {
      cur = inflate_zlib(data, limit, 15 + 16, "gzip");
    } else if (*it == "deflate") {
      // HTTP's "deflate" is zlib-wrapped; some clients send raw deflate: accept both.
      const bool zlib_header = data.size() >= 2 && (static_cast<unsigned char>(data[0]) & 0x0f) == 8 &&
                               ((static_cast<unsigned char>(data[0]) << 8) | static_cast<unsigned char>(data[1])) % 31 == 0;
      cur = inflate_zlib(data, limit, zlib_header ? 15 : -15, "deflate");
    } else if (*it == "br") {
      cur = inflate_brotli(data, limit);
    } else {
      return fail(BodyError::unsupported, "Content-Encoding '" + *it + "' is not supported; send gzip, deflate, br or none");
    }
    if (cur.error != BodyError::none) return cur;
    data = std::move(cur.data);
  }
  cur.data = std::move(data);
  return cur;
}

std::string encode_body(std::string_view content_encoding, std::string_view data) {
  if (content_encoding == "br") {
    std::string out(BrotliEncoderMaxCompressedSize(data.size()) + 16, '\0');
    size_t n = out.size();
    BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, data.size(),
                          reinterpret_cast<const uint8_t*>(data.data()), &n, reinterpret_cast<uint8_t*>(out.data()));
    out.resize(n);
    return out;
  }
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, content_encoding == "gzip" ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(digits[mac[i] >> 4]);
    hex.push_back(digits[mac[i] & 0xf]);
  }
  return hex;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace fixhost::host::http
