// Exception barriers for the host's threads: a worker (scheduler, inbox, webhook commit and sync
// stages, I/O threads) calls its work through these, so an exception that escapes a bug or a
// library on some input is reported like any failure and the thread goes on. std::terminate is
// never the answer to input.
#ifndef CRMSYNC_CORE_BASE_BARRIER_H
#define CRMSYNC_CORE_BASE_BARRIER_H

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "base/result.h"

namespace crmsync {

// The text of the exception being handled (inside a catch block).
inline std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// Calls work, which returns a Result, and answers an exception escaping it as an INTERNAL error
// "<what>: <exception>".
template <class Work>
std::invoke_result_t<Work> catch_internal(std::string_view what, Work&& work) noexcept {
  try {
    return std::forward<Work>(work)();
  } catch (...) {
    return fail(CRMSYNC_E_INTERNAL, std::string(what) + ": " + current_exception_text());
  }
}

}  // namespace crmsync

#endif  // CRMSYNC_CORE_BASE_BARRIER_H
