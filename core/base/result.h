// Result<T>: a value or an Error, for failures caused by untrusted input or the environment.
//
// C++20 has no std::expected, so this is the project's small stand-in with the same spirit:
// errors are values with a code from the connector ABI's bands and a message for humans. A broken
// invariant is not an Error: it is a bug, and value() on an error aborts loudly.
#ifndef CRMSYNC_CORE_BASE_RESULT_H
#define CRMSYNC_CORE_BASE_RESULT_H

#include <crmsync/connector.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace crmsync {

// An error with an ABI code (CRMSYNC_E_*) and a message fit to show to an operator.
struct Error {
  int32_t code = CRMSYNC_E_INTERNAL;
  std::string message;

  bool retryable() const noexcept { return CRMSYNC_IS_RETRYABLE(code); }
};

// Builds an Error; reads well at call sites: `return fail(CRMSYNC_E_INVALID_INPUT, "...")`.
inline Error fail(int32_t code, std::string message) { return Error{code, std::move(message)}; }

// A T or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(check()); }
  const T& value() const& { return std::get<0>(check()); }
  T&& value() && { return std::get<0>(std::move(check())); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; only valid when !ok().
  const Error& error() const {
    if (ok()) die("Result::error() called on a value");
    return std::get<1>(state_);
  }

 private:
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "crmsync: broken invariant: %s\n", what);
    std::abort();
  }
  std::variant<T, Error>& check() {
    if (!ok()) die(std::get<1>(state_).message.c_str());
    return state_;
  }
  const std::variant<T, Error>& check() const {
    if (!ok()) die(std::get<1>(state_).message.c_str());
    return state_;
  }
  std::variant<T, Error> state_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const {
    if (ok_) {
      std::fprintf(stderr, "crmsync: broken invariant: Result::error() called on success\n");
      std::abort();
    }
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

// The name of an ABI code, e.g. "UNAUTHENTICATED"; "INTERNAL" for unknown codes.
inline const char* code_name(int32_t code) noexcept {
  switch (code) {
    case CRMSYNC_OK: return "OK";
    case CRMSYNC_E_UNAVAILABLE: return "UNAVAILABLE";
    case CRMSYNC_E_RATE_LIMITED: return "RATE_LIMITED";
    case CRMSYNC_E_TIMEOUT: return "TIMEOUT";
    case CRMSYNC_E_CONFLICT: return "CONFLICT";
    case CRMSYNC_E_INVALID_CONFIG: return "INVALID_CONFIG";
    case CRMSYNC_E_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case CRMSYNC_E_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case CRMSYNC_E_NOT_FOUND: return "NOT_FOUND";
    case CRMSYNC_E_INVALID_INPUT: return "INVALID_INPUT";
    case CRMSYNC_E_UNSUPPORTED: return "UNSUPPORTED";
    case CRMSYNC_E_CANCELLED: return "CANCELLED";
    default: return "INTERNAL";
  }
}

}  // namespace crmsync

#endif  // CRMSYNC_CORE_BASE_RESULT_H
