// Timestamps from any source to UTC, DESIGN §4.
//
// A timestamp either carries its offset (RFC 3339 / ISO 8601: "2025-11-17T14:30:00+03:00", "Z",
// "+0300", "+03") or is local time of the integration's IANA zone ("2025-11-17 14:30:00",
// "17.11.2025 14:30", "17.11.2025"), converted with the howardhinnant date/tz library over the
// OS tz database (/usr/share/zoneinfo). Local times that do not exist or exist twice around a
// DST change follow java.time's policy:
//   - in a gap (clocks jump forward) the time is shifted forward by the length of the gap:
//     02:30 on the spring-forward night in Berlin is read as 03:30 CEST;
//   - in an overlap (clocks go back) the earlier offset is used: 02:30 on the fall-back night in
//     Berlin is read as 02:30 CEST, the first of the two.
// Both rules amount to "local time minus the offset in force just before the local time".
// Unix seconds (amoCRM) and milliseconds convert too. Functions are thread-safe.
#ifndef CRMSYNC_CORE_NORMALIZE_UTC_TIME_H
#define CRMSYNC_CORE_NORMALIZE_UTC_TIME_H

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace date {
class time_zone;
}

namespace crmsync::normalize {

// A UTC instant with millisecond precision (finer input digits are truncated).
using UtcTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

// An IANA time zone; a cheap handle, copyable and shareable between threads.
class TimeZone {
 public:
  // Finds a zone by IANA name ("Europe/Moscow"); an unknown name is CRMSYNC_E_INVALID_CONFIG.
  static Result<TimeZone> locate(std::string_view iana_name);

  // The IANA name, as given to locate().
  std::string_view name() const;

  // UTC of a local time of this zone, given as milliseconds since the local epoch, with the gap
  // and overlap policy described above.
  UtcTime to_utc(std::chrono::milliseconds local_since_epoch) const;

 private:
  explicit TimeZone(const date::time_zone* zone) : zone_(zone) {}
  const date::time_zone* zone_;  // owned by the date library's database, lives for the process
};

// A timestamp with an offset, or local time of `zone`, to UTC; errors say what is wrong with it.
Result<UtcTime> time_utc(std::string_view raw, const TimeZone& zone);

// A timestamp that must carry its own offset ("…Z", "…+03:00"); local time is an error.
Result<UtcTime> time_utc(std::string_view raw);

// Unix seconds to UTC; years outside 1970..9999 are refused.
Result<UtcTime> from_unix_seconds(std::int64_t seconds);

// Unix milliseconds to UTC; years outside 1970..9999 are refused.
Result<UtcTime> from_unix_millis(std::int64_t millis);

// RFC 3339 in UTC: "2025-11-17T11:30:00Z", or "2025-11-17T11:30:00.250Z" when there are
// milliseconds.
std::string rfc3339_utc(UtcTime time);

}  // namespace crmsync::normalize

#endif  // CRMSYNC_CORE_NORMALIZE_UTC_TIME_H
