// A stored event's bytes, as the store hands them to readers: decode_envelope, then the JSON
// export (`hostctl events`, which decodes the payload as the envelope's type), then the payload
// decoded as every payload type at a schema it supports. A payload that decodes must encode and
// decode again.
#include <algorithm>
#include <cstdlib>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace fixhost::events;

template <class P>
void decode_as(const Event& e) {
  Event probe = e;
  probe.type = P::k_type;
  probe.schema = std::clamp<std::uint16_t>(e.schema, 1, P::k_schema);
  auto p = decode<P>(probe);
  if (!p) return;
  Event again = make_event(*p, probe.run_id);
  if (!decode<P>(again)) std::abort();  // what we wrote we must read back
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto e = decode_envelope(fixhost::fuzz::bytes(data, size));
  if (!e) return 0;
  std::string line = to_json_line(*e);
  (void)line;
#define FIXHOST_X(name, id, kind) decode_as<name>(*e);
  FIXHOST_EVENT_TYPES(FIXHOST_X)
#undef FIXHOST_X
  return 0;
}
