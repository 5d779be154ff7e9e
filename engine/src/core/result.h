// Errors as values at module boundaries: every fallible call returns Result<T>.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace matchlock {

// One error type for the whole engine: a stable machine code plus a one-line human message.
// Modules pick codes from this list; messages name the flag, field or file that caused them.
enum class ErrorCode {
  kInvalidArgument,  // bad user input (flags, rpc params, config fields)
  kNotFound,         // unknown image, sandbox, file
  kAlreadyExists,
  kIo,        // host filesystem or process failure
  kGuest,     // the guest or its agent misbehaved or failed an operation
  kVm,        // QEMU failed to start or died
  kProtocol,  // malformed frame or message (from the guest or a client)
  kCancelled,
  kTimeout,
  kUnsupported,
  kInternal,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}

  // Prefixes context onto the message: "pull busybox: " + "connection refused".
  Error with_context(const std::string& context) const {
    return Error(code, context + ": " + message);
  }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Error invalid_argument(std::string m) {
  return {ErrorCode::kInvalidArgument, std::move(m)};
}
inline Error not_found(std::string m) {
  return {ErrorCode::kNotFound, std::move(m)};
}
inline Error io_error(std::string m) {
  return {ErrorCode::kIo, std::move(m)};
}

}  // namespace matchlock

// Early return on error: MATCHLOCK_TRY(status_expr);
#define MATCHLOCK_TRY(expr)            \
  do {                                 \
    auto _st = (expr);                 \
    if (!_st.ok()) return _st.error(); \
  } while (0)
