#pragma once
// Binary encoding of payloads and envelopes with cereal's BinaryArchive (little-endian, strings
// and vectors as u64 length + elements). A payload's bytes are its fields in `fields()` order.
// Envelope layout: u64 seq | i64 ts_us | str run_id | u16 type | u16 schema | str source |
// u64 causation | str payload. Decoding checks every length and bool against the bytes.
#include <cereal/archives/binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <exception>
#include <istream>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>

#include "fixhost/events/event.hpp"
#include "fixhost/events/payloads.hpp"
#include "fixhost/result.hpp"

namespace fixhost::events {

namespace detail {
// Reads straight from caller-owned bytes; no copy.
class InBuf : public std::streambuf {
 public:
  InBuf(const char* p, std::size_t n) { char* b = const_cast<char*>(p); setg(b, b, b + n); }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
  // The next n bytes (n <= remaining()), consumed.
  const char* take(std::size_t n) {
    char* at = gptr();
    setg(eback(), at + n, egptr());
    return at;
  }
};

// cereal's BinaryInputArchive for bytes that may be damaged (issue 9, fuzzing): the same format,
// but a length is refused when it exceeds the bytes left (every element takes at least one), so
// a flipped bit cannot make a decoder allocate gigabytes, and a bool must be 0 or 1 (any other
// byte in a bool is undefined behaviour). Both throw cereal::Exception.
class BoundedInputArchive : public cereal::InputArchive<BoundedInputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit BoundedInputArchive(InBuf& in) : InputArchive(this), in_(in) {}
  void loadBinary(void* data, std::size_t size) {
    if (in_.sgetn(static_cast<char*>(data), static_cast<std::streamsize>(size)) != static_cast<std::streamsize>(size))
      throw cereal::Exception("truncated: " + std::to_string(size) + " more bytes expected");
  }
  void check_size(std::uint64_t n) const {
    if (n > in_.remaining())
      throw cereal::Exception("length " + std::to_string(n) + " but only " + std::to_string(in_.remaining()) +
                              " bytes left");
  }
  // The string's n bytes copied once (cereal's generic load zero-fills it, then copies).
  void load_string(std::string& s, std::uint64_t n) {
    check_size(n);
    s.assign(in_.take(static_cast<std::size_t>(n)), static_cast<std::size_t>(n));
  }
 private:
  InBuf& in_;
};

template <class T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, T& t) { ar.loadBinary(std::addressof(t), sizeof(t)); }
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, bool& b) {
  unsigned char c = 0;
  ar.loadBinary(&c, 1);
  if (c > 1) throw cereal::Exception("bool byte is " + std::to_string(c) + ", not 0 or 1");
  b = c == 1;
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::NameValuePair<T>& t) { ar(t.value); }
// The same bytes as cereal's string load reads: u64 length, then the characters.
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, std::string& s) {
  std::uint64_t n = 0;
  ar.loadBinary(&n, sizeof n);
  ar.load_string(s, n);
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
  ar.check_size(static_cast<std::uint64_t>(t.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}
// Appends straight into a std::string.
class OutBuf : public std::streambuf {
 public:
  explicit OutBuf(std::string& s) : s_(s) {}
 protected:
  std::streamsize xsputn(const char* p, std::streamsize n) override { s_.append(p, static_cast<std::size_t>(n)); return n; }
  int_type overflow(int_type c) override { if (c != traits_type::eof()) s_.push_back(static_cast<char>(c)); return c; }
 private:
  std::string& s_;
};

template <class T>
concept NestedFields = requires(T& t) { t.fields([](const char*, auto&) {}); };
template <class T>
concept PayloadFields = requires(T& t) {
  { T::k_type } -> std::convertible_to<EventType>;
  { T::k_schema } -> std::convertible_to<std::uint16_t>;
};
}  // namespace detail

// Nested structs (Blob, Frame, Evidence) serialize through their field list.
template <class Ar, detail::NestedFields T>
void serialize(Ar& ar, T& t) {
  t.fields([&](const char*, auto& m) { ar(m); });
}

// Encodes `p` at its current schema version.
template <detail::PayloadFields P>
std::string encode(const P& p) {
  std::string out;
  detail::OutBuf buf(out);
  std::ostream os(&buf);
  {
    cereal::BinaryOutputArchive ar(os);
    const_cast<P&>(p).fields([&](const char*, auto& m) { ar(m); }, P::k_schema);
  }
  return out;
}

// Decodes the payload of `e` as P, reading the fields of the schema version it was written with.
template <detail::PayloadFields P>
Result<P> decode(const Event& e) {
  if (e.type != P::k_type)
    return make_error(Errc::invalid_argument, "event " + std::to_string(e.seq) + " is " +
                                                  std::string(event_type_name(e.type)) + ", not " +
                                                  std::string(event_type_name(P::k_type)));
  if (e.schema == 0 || e.schema > P::k_schema)
    return make_error(Errc::unsupported,
                      "event " + std::to_string(e.seq) + " (" + std::string(event_type_name(e.type)) +
                          ") has schema " + std::to_string(e.schema) + " but this fixhost reads up to " +
                          std::to_string(P::k_schema) + "; upgrade fixhost to read it");
  P p;
  try {
    detail::InBuf buf(e.payload.data(), e.payload.size());
    detail::BoundedInputArchive ar(buf);
    p.fields([&](const char*, auto& m) { ar(m); }, e.schema);
  } catch (const std::exception& ex) {
    return make_error(Errc::corruption, "event " + std::to_string(e.seq) + " (" +
                                            std::string(event_type_name(e.type)) +
                                            "): payload does not decode: " + ex.what());
  }
  return p;
}

// Builds an unsequenced event carrying `p`.
template <detail::PayloadFields P>
Event make_event(const P& p, std::string run_id, std::string source = "host", std::uint64_t causation = 0) {
  Event e;
  e.ts_us = now_us();
  e.run_id = std::move(run_id);
  e.type = P::k_type;
  e.schema = P::k_schema;
  e.source = std::move(source);
  e.causation = causation;
  e.payload = encode(p);
  return e;
}

void encode_envelope(const Event& e, std::string& out);
std::string encode_envelope(const Event& e);
Result<Event> decode_envelope(std::string_view bytes);

}  // namespace fixhost::events
