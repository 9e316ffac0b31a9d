// The per-integration rate limiter of the HTTP client: several "N requests per window" limits
// enforced together (YCLIENTS: 5 per second and 200 per minute).
#ifndef CRMSYNC_CORE_HTTP_RATE_LIMITER_H
#define CRMSYNC_CORE_HTTP_RATE_LIMITER_H

#include "http/client.h"

#include <chrono>
#include <deque>
#include <vector>

namespace crmsync::http::internal {

// A token bucket per limit whose tokens come back exactly one window after they were spent
// (a sliding window). A classic refilling bucket of capacity N lets up to 2N requests through
// within one window (a full bucket plus its refill), which a provider that counts per window
// rejects; this one never exceeds N in any window. Not thread-safe: the Client serialises use.
class RateLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // limits must each have requests > 0 and per > 0; margin widens every window.
  RateLimiter(const std::vector<RateLimit>& limits, std::chrono::milliseconds margin);

  // The earliest time at or after now when one more request fits every limit.
  TimePoint next_slot(TimePoint now) const;
  // Spends one token of every limit at time `at`.
  void record(TimePoint at);

 private:
  struct Bucket {
    uint32_t capacity;
    std::chrono::milliseconds window;
    std::deque<TimePoint> spent;  // start times of the last `capacity` requests
  };
  std::vector<Bucket> buckets_;
};

}  // namespace crmsync::http::internal

#endif  // CRMSYNC_CORE_HTTP_RATE_LIMITER_H
