// What hostctl serve and heal read from outside: request bodies (gzip, deflate, br, decoded
// within a limit), Sentry store events, envelopes, webhook bodies and REST issues. The first
// byte picks the reader, the rest is its input. Nothing may crash, and a decoded body never
// exceeds its limit.
#include <cstdlib>

#include "fixhost/host/heal/ingest.hpp"
#include "fixhost/host/world/http/body.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using namespace fixhost::host;
  const std::string_view in = fixhost::fuzz::bytes(data + 1, size - 1);
  heal::IngestLimits limits;
  limits.max_event_bytes = 64 * 1024;
  limits.max_request_bytes = 256 * 1024;
  switch (data[0] % 6) {
    case 0: {
      for (const char* enc : {"gzip", "deflate", "br"}) {
        auto d = http::decode_body(enc, in, 64 * 1024);
        if (d.error == http::BodyError::none && d.data.size() > 64 * 1024) std::abort();
      }
      break;
    }
    case 1: (void)heal::read_store("7", in, limits); break;
    case 2: (void)heal::read_envelope("7", in, limits); break;
    case 3:
      for (const char* r : {"issue", "event_alert", "error"}) (void)heal::read_webhook(r, in, "id", limits);
      break;
    case 4: {
      auto nul = in.find('\0');
      (void)heal::read_api_issue(in.substr(0, nul), nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1));
      break;
    }
    case 5:
      (void)heal::sentry_key_from_auth(in);
      (void)heal::sentry_key_from_query(in);
      (void)heal::key_from_dsn(in);
      (void)heal::check_webhook_timestamp(in, 1e9, 300);
      break;
  }
  return 0;
}
