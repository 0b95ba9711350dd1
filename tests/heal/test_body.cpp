// Request bodies: gzip, deflate and br decoded within a limit (bombs stop there), HMAC-SHA256.
#include <doctest/doctest.h>

#include <string>

#include "fixhost/host/world/http/body.hpp"

using namespace fixhost::host::http;

TEST_CASE("heal decode_body: gzip, deflate (zlib and raw) and br come back as sent") {
  const std::string text = R"({"event_id":"abc","message":"hello"})";
  for (const char* enc : {"gzip", "deflate", "br"}) {
    CAPTURE(enc);
    auto d = decode_body(enc, encode_body(enc, text), 1024);
    REQUIRE(d.error == BodyError::none);
    CHECK(d.data == text);
  }
  auto identity = decode_body("", text, 1024);
  CHECK(identity.data == text);
  auto upper = decode_body(" GZIP ", encode_body("gzip", text), 1024);
  CHECK(upper.data == text);
  // Two codings are undone right to left.
  auto both = decode_body("gzip, br", encode_body("br", encode_body("gzip", text)), 1024);
  CHECK(both.data == text);
}

TEST_CASE("heal decode_body: a decompression bomb is too_large, not an out-of-memory") {
  const std::string zeros(64u << 20, '\0');  // 64 MiB that compress to ~64 KiB
  for (const char* enc : {"gzip", "deflate", "br"}) {
    CAPTURE(enc);
    const std::string bomb = encode_body(enc, zeros);
    CHECK(bomb.size() < (1u << 20));
    auto d = decode_body(enc, bomb, 1u << 20);
    CHECK(d.error == BodyError::too_large);
    CHECK(d.data.empty());
    CHECK(d.detail.find("limit of 1048576 bytes") != std::string::npos);
  }
  auto plain = decode_body("", std::string(2000, 'x'), 1000);
  CHECK(plain.error == BodyError::too_large);
}

TEST_CASE("heal decode_body: broken or unknown encodings are named") {
  auto bad = decode_body("gzip", "this is not gzip", 1024);
  CHECK(bad.error == BodyError::malformed);
  CHECK(bad.detail.find("gzip") != std::string::npos);
  auto truncated = encode_body("gzip", std::string(5000, 'a'));
  truncated.resize(truncated.size() / 2);
  CHECK(decode_body("gzip", truncated, 1u << 20).error == BodyError::malformed);
  CHECK(decode_body("br", "\xff\xff\xff", 1024).error == BodyError::malformed);
  auto unknown = decode_body("compress", "x", 1024);
  CHECK(unknown.error == BodyError::unsupported);
  CHECK(unknown.detail.find("compress") != std::string::npos);
}

TEST_CASE("heal hmac_sha256_hex matches RFC 4231 and compares in constant time") {
  // RFC 4231, test case 2.
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(constant_time_equal("abc", "abc"));
  CHECK(!constant_time_equal("abc", "abd"));
  CHECK(!constant_time_equal("abc", "abcd"));
}
