// Sliding-window token buckets for the HTTP client.
#include "http/rate_limiter.h"

#include <algorithm>

namespace crmsync::http::internal {

RateLimiter::RateLimiter(const std::vector<RateLimit>& limits, std::chrono::milliseconds margin) {
  for (const auto& limit : limits) buckets_.push_back({limit.requests, limit.per + margin, {}});
}

RateLimiter::TimePoint RateLimiter::next_slot(TimePoint now) const {
  TimePoint slot = now;
  for (const auto& bucket : buckets_) {
    // Full bucket: the oldest spent token comes back one window after it was spent.
    if (bucket.spent.size() >= bucket.capacity) {
      slot = std::max(slot, bucket.spent[bucket.spent.size() - bucket.capacity] + bucket.window);
    }
  }
  return slot;
}

void RateLimiter::record(TimePoint at) {
  for (auto& bucket : buckets_) {
    bucket.spent.push_back(at);
    while (bucket.spent.size() > bucket.capacity) bucket.spent.pop_front();
  }
}

}  // namespace crmsync::http::internal
