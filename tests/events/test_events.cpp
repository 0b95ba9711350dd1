#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"

using namespace fixhost::events;

namespace {
std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}
std::string tohex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) { out.push_back(d[c >> 4]); out.push_back(d[c & 15]); }
  return out;
}
}  // namespace

TEST_CASE("type ids are stable and names round-trip") {
  CHECK(static_cast<int>(EventType::RunStarted) == 1);
  CHECK(static_cast<int>(EventType::FailureDetected) == 6);
  CHECK(static_cast<int>(EventType::PluginFailed) == 32);
  for (std::uint16_t i = 1; i <= k_max_event_type; ++i) {
    if (!is_known_event_type(i)) {
      CHECK(event_type_name(static_cast<EventType>(i)) == "Unknown");
      CHECK_FALSE(parse_event_type(std::to_string(i)).has_value());
      continue;
    }
    auto t = static_cast<EventType>(i);
    REQUIRE(event_type_name(t) != "Unknown");
    CHECK(parse_event_type(event_type_name(t)) == t);
    CHECK(parse_event_type(std::to_string(i)) == t);
  }
  CHECK(parse_event_type("failuredetected") == EventType::FailureDetected);
  CHECK_FALSE(parse_event_type("0").has_value());
  CHECK_FALSE(parse_event_type("NoSuchEvent").has_value());
  CHECK(event_kind(EventType::SuiteFinished) == EventKind::fact);
  CHECK(event_kind(EventType::FailureDetected) == EventKind::derived);
}

TEST_CASE("payload and envelope round-trip") {
  SuiteFinished s;
  s.suite = "py";
  s.runner = "pytest";
  s.exit_code = 1;
  s.signal = 9;
  s.output.data = std::string("line\n\0bin\xff", 10);
  s.output.total_bytes = 10;
  auto e = make_event(s, "r1", "host", 7);
  e.seq = 42;
  auto bytes = encode_envelope(e);
  auto back = decode_envelope(bytes);
  REQUIRE(back.is_ok());
  CHECK(back->seq == 42);
  CHECK(back->run_id == "r1");
  CHECK(back->causation == 7);
  CHECK(back->type == EventType::SuiteFinished);
  auto p = decode<SuiteFinished>(*back);
  REQUIRE(p.is_ok());
  CHECK(p->signal == 9);
  CHECK(p->output.data == s.output.data);

  // JSON export does not throw on invalid UTF-8 and carries the field names.
  auto line = to_json_line(*back);
  auto j = nlohmann::json::parse(line);
  CHECK(j["type"] == "SuiteFinished");
  CHECK(j["payload"]["signal"] == 9);
  CHECK(j["payload"]["output"]["total_bytes"] == 10);
}

TEST_CASE("every type renders to JSON") {
  for (std::uint16_t i = 1; i <= k_max_event_type; ++i) {
    if (!is_known_event_type(i)) continue;
    Event e;
    e.type = static_cast<EventType>(i);
    e.schema = 1;
    e.payload = "";  // an empty payload does not decode ...
    auto j = to_json(e);
    CHECK(j["payload"].contains("error"));  // ... and says so instead of throwing
  }
  FailureClassified c;
  c.test_id = "t";
  c.category = "logic_bug";
  c.evidence.push_back({"assert", "AssertionError", "AssertionError: 1 != 2"});
  auto j = to_json(make_event(c, "r"));
  CHECK(j["payload"]["evidence"][0]["matched"] == "AssertionError: 1 != 2");
}

// Bytes of a FailureDetected written at schema 1 (before `phase` existed), as fixhost 0.1
// stored them (cereal binary: u64-length strings, i64 line). They must decode forever.
static const char* k_failure_v1_hex =
    "060000000000000070797465737402000000000000007079170000000000000074657374732f7465"
    "73745f612e70793a3a746573745f780f0000000000000074657374732f746573745f612e70790c00"
    "0000000000000600000000000000746573745f780e00000000000000417373657274696f6e457272"
    "6f720d000000000000006173736572742031203d3d203202000000000000007462";

TEST_CASE("a schema-1 FailureDetected stays readable") {
  FailureDetected f;
  f.runner = "pytest";
  f.suite = "py";
  f.test_id = "tests/test_a.py::test_x";
  f.file = "tests/test_a.py";
  f.line = 12;
  f.test_name = "test_x";
  f.error_type = "AssertionError";
  f.message = "assert 1 == 2";
  f.stack_trace = "tb";
  std::string fixture = k_failure_v1_hex;
  Event e;
  e.seq = 5;
  e.type = EventType::FailureDetected;
  e.schema = 1;
  e.payload = unhex(fixture);
  auto p = decode<FailureDetected>(e);
  REQUIRE(p.is_ok());
  CHECK(p->test_id == f.test_id);
  CHECK(p->line == 12);
  CHECK(p->stack_trace == "tb");
  CHECK(p->phase.empty());
  // The current encoder writes schema 2, which is not the v1 layout.
  CHECK(tohex(encode(f)) != fixture);

  e.schema = 3;
  auto newer = decode<FailureDetected>(e);
  CHECK(newer.status().code() == fixhost::Errc::unsupported);
}

TEST_CASE("truncated payload is a Corruption error, not a crash") {
  FailureDetected f;
  f.message = std::string(1000, 'x');
  auto e = make_event(f, "r");
  e.payload.resize(e.payload.size() / 2);
  auto p = decode<FailureDetected>(e);
  CHECK(p.status().code() == fixhost::Errc::corruption);
  CHECK(decode_envelope("abc").status().code() == fixhost::Errc::corruption);
}
