// Results of filesystem operations: a value or a positive errno. The VFS speaks errno end to end
// (providers produce it, the FUSE server hands it to the guest kernel), so it does not use the
// engine's message-carrying Result<T>.
#pragma once

#include <cerrno>
#include <utility>
#include <variant>

namespace matchlock::vfs {

struct Errno {
  int value = EIO;  // positive, e.g. ENOENT
};

template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Outcome(Errno e) : v_(e) {}                 // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  int error() const { return std::get<Errno>(v_).value; }

 private:
  std::variant<T, Errno> v_;
};

struct Done {};
using Status = Outcome<Done>;
inline Status ok_status() {
  return Done{};
}

}  // namespace matchlock::vfs
