#pragma once
// Errors as values: one Status with a small code enum and a message that names the input and
// the problem, and Result<T> holding either a value or a non-ok Status. Neither throws.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace fixhost {

enum class Errc : std::uint8_t {
  ok = 0,
  invalid_argument,  // the caller's input is wrong (bad flag, malformed report, unknown run)
  not_found,         // a named thing does not exist
  corruption,        // stored bytes do not decode or a store is damaged
  io_error,          // the OS or RocksDB failed to read or write
  busy,              // a resource is held by someone else (store writer lock)
  refused,           // a plugin or policy said no
  timeout,           // a budget ran out
  unsupported,       // a version or format this build does not know
  internal,          // a bug in fixhost
};

constexpr std::string_view errc_name(Errc c) noexcept {
  switch (c) {
    case Errc::ok: return "OK";
    case Errc::invalid_argument: return "InvalidArgument";
    case Errc::not_found: return "NotFound";
    case Errc::corruption: return "Corruption";
    case Errc::io_error: return "IOError";
    case Errc::busy: return "Busy";
    case Errc::refused: return "Refused";
    case Errc::timeout: return "Timeout";
    case Errc::unsupported: return "Unsupported";
    case Errc::internal: return "Internal";
  }
  return "Unknown";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool is_ok() const noexcept { return code_ == Errc::ok; }
  explicit operator bool() const noexcept { return is_ok(); }
  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "NotFound: store '/x/.fixhost' has no run 'r42'"
  std::string to_string() const {
    if (is_ok()) return "OK";
    return std::string(errc_name(code_)) + ": " + message_;
  }

 private:
  Errc code_ = Errc::ok;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status error) : v_(std::move(error)) {
    if (std::get<Status>(v_).is_ok()) v_ = Status(Errc::internal, "Result built from an ok Status");
  }

  bool is_ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return is_ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Status& status() const {
    static const Status k_ok;
    return is_ok() ? k_ok : std::get<1>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

inline Status make_error(Errc c, std::string msg) { return Status(c, std::move(msg)); }

}  // namespace fixhost
