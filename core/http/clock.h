// The time source of the HTTP client: reading clocks and sleeping go through this interface so
// that tests can run backoff and rate-limit waits on virtual time instead of waiting for real.
#ifndef CRMSYNC_CORE_HTTP_CLOCK_H
#define CRMSYNC_CORE_HTTP_CLOCK_H

#include <chrono>

namespace crmsync::http {

// Monotonic time for waits, wall time for HTTP dates, and a sleep; implementations must be
// thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic now, for rate limits, backoff and time budgets.
  virtual std::chrono::steady_clock::time_point now() = 0;
  // Wall-clock now, to turn a Retry-After HTTP-date into a delay.
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  // Blocks the calling thread for d (virtual clocks just move time forward).
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
};

// The process-wide real clock.
Clock& real_clock();

}  // namespace crmsync::http

#endif  // CRMSYNC_CORE_HTTP_CLOCK_H
