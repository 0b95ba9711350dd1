// Issue 9, item 9 (fuzzing): what fuzz_event found in the decoders. Damaged bytes are a
// Corruption, never an allocation of what a damaged length says, nor undefined behaviour.
#include <doctest/doctest.h>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"

#include <nlohmann/json.hpp>

using namespace fixhost;
using namespace fixhost::events;

namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

void put_u64(std::string& s, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i, v >>= 8) s[at + static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
}

}  // namespace

TEST_CASE("issue 9: fuzz_event's input, a SuiteParsed read as RunStarted, is Corruption without a 386 GB allocation") {
  // fuzz/corpus/event/crash-issue9-length.bin: its bytes read as a RunStarted give a string of
  // 0x5a00000062 bytes; cereal's reader resized the string to that before reading (ASan: out of memory).
  const std::string bytes = unhex(
      "1b000000000000001a40624159440600020000000000000072310500020011000000000000006a6573745f70617273657240312e302e30"
      "1a00000000000000660000000000000004000000000000006a657374000000000000000000000000000000000000000000000000610000"
      "005a000000070000000100000000000000000000000000000006000000000000007265706f7274000000000000000083010000010000"
      "000000000000000000");
  auto e = decode_envelope(bytes);
  REQUIRE(e.is_ok());
  CHECK(e->type == EventType::SuiteParsed);
  Event wrong = *e;
  wrong.type = EventType::RunStarted;
  wrong.schema = 1;
  auto p = decode<RunStarted>(wrong);
  REQUIRE_FALSE(p.is_ok());
  CHECK(p.status().code() == Errc::corruption);
  CHECK(p.status().message().find("bytes left") != std::string::npos);
}

TEST_CASE("issue 9: a flipped bit in a stored length is Corruption, in the payload and in the envelope") {
  SuiteFinished run;
  run.suite = "py";
  run.output.data = "1 failed";
  Event e = make_event(run, "r1");
  e.seq = 7;
  // The payload's first field is `suite`: its u64 length, then its bytes.
  Event bad = e;
  put_u64(bad.payload, 0, (std::uint64_t{1} << 35) | 2);  // 32 GiB and 2 bytes
  auto p = decode<SuiteFinished>(bad);
  REQUIRE_FALSE(p.is_ok());
  CHECK(p.status().code() == Errc::corruption);
  CHECK(p.status().message().find("event 7 (SuiteFinished): payload does not decode") == 0);

  // The envelope's run_id length (after u64 seq and i64 ts_us).
  std::string env = encode_envelope(e);
  put_u64(env, 16, std::uint64_t{1} << 40);
  auto d = decode_envelope(env);
  REQUIRE_FALSE(d.is_ok());
  CHECK(d.status().code() == Errc::corruption);

  // Undamaged, it still round-trips.
  auto ok = decode_envelope(encode_envelope(e));
  REQUIRE(ok.is_ok());
  auto back = decode<SuiteFinished>(*ok);
  REQUIRE(back.is_ok());
  CHECK(back->suite == "py");
  CHECK(back->output.data == "1 failed");
}

TEST_CASE("issue 9: a bool byte other than 0 or 1 is Corruption, not undefined behaviour") {
  // UBSan in fuzz_event: "load of value 2, which is not a valid value for type 'const bool'"
  // when `hostctl events` rendered SuiteFinished.timed_out.
  SuiteFinished run;
  Event e = make_event(run, "r1");
  // suite, runner, purpose, test_id (u64 length 0 each), exit_code, signal (i32), then timed_out.
  const std::size_t timed_out_at = 4 * 8 + 4 + 4;
  REQUIRE(e.payload[timed_out_at] == '\0');
  e.payload[timed_out_at] = '\x02';
  auto p = decode<SuiteFinished>(e);
  REQUIRE_FALSE(p.is_ok());
  CHECK(p.status().code() == Errc::corruption);
  CHECK(p.status().message().find("bool byte is 2") != std::string::npos);
  CHECK(to_json(e)["payload"].contains("error"));

  e.payload[timed_out_at] = '\x01';
  auto t = decode<SuiteFinished>(e);
  REQUIRE(t.is_ok());
  CHECK(t->timed_out);
}
