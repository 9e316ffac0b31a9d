// crmsync connector SDK: civil-date and time-text helpers for connectors, header-only.
//
// A connector links only the SDK and header-only helpers, so it cannot use the date library the
// host links: these helpers cover what connectors need for cursors and sale times without it
// (days_from_civil / civil_from_days are H. Hinnant's public-domain algorithms). They know no time
// zones: a "civil" second count is a wall time counted as if it were UTC, which is what overlap
// and window arithmetic on zoneless CRM times needs. Validation matches the host's: a date must
// exist in the proleptic Gregorian calendar, a time of day is 00:00:00..23:59:59.
#ifndef CRMSYNC_CONNECTOR_TIME_HPP
#define CRMSYNC_CONNECTOR_TIME_HPP

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::sdk {

// A date of the proleptic Gregorian calendar.
struct CivilDate {
  int64_t year = 1970;
  int64_t month = 1;  // 1..12
  int64_t day = 1;    // 1..31
};

// Days since 1970-01-01 of a civil date (negative before it); month and day are not checked.
inline int64_t days_from_civil(int64_t year, int64_t month, int64_t day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t yoe = year - era * 400;
  const int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The civil date of a day count since 1970-01-01 (the inverse of days_from_civil).
inline CivilDate civil_from_days(int64_t days) noexcept {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp + (mp < 10 ? 3 : -9);
  return CivilDate{yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// True when the date exists (2024-02-29 does, 2025-02-29 and 2025-04-31 do not).
inline bool is_civil_date(int64_t year, int64_t month, int64_t day) noexcept {
  if (month < 1 || month > 12 || day < 1) return false;
  const CivilDate back = civil_from_days(days_from_civil(year, month, day));
  return back.year == year && back.month == month && back.day == day;
}

// A UTC offset "Z", "+03:00" or "+0300" (also "-…", "z") → seconds east of UTC; nullopt for
// anything else, "" included.
inline std::optional<int64_t> utc_offset_seconds(std::string_view zone) noexcept {
  if (zone == "Z" || zone == "z") return 0;
  if (zone.size() != 5 && zone.size() != 6) return std::nullopt;
  if (zone[0] != '+' && zone[0] != '-') return std::nullopt;
  if (zone.size() == 6 && zone[3] != ':') return std::nullopt;
  const std::string_view hh = zone.substr(1, 2);
  const std::string_view mm = zone.substr(zone.size() - 2);
  for (char c : {hh[0], hh[1], mm[0], mm[1]}) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const int64_t hours = (hh[0] - '0') * 10 + (hh[1] - '0');
  const int64_t minutes = (mm[0] - '0') * 10 + (mm[1] - '0');
  if (hours > 23 || minutes > 59) return std::nullopt;
  const int64_t seconds = hours * 3600 + minutes * 60;
  return zone[0] == '-' ? -seconds : seconds;
}

namespace internal {

// "YYYY-MM-DD(T| )HH:MM:SS[.digits]" at the start of text → civil seconds, with `rest` set to what
// follows; nullopt when the prefix is not such a time or names none that exists.
inline std::optional<int64_t> civil_seconds_prefix(std::string_view text, std::string_view& rest) {
  if (text.size() < 19) return std::nullopt;
  bool ok = true;
  auto number = [&](size_t at, size_t n) {
    int64_t out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') ok = false;
      out = out * 10 + (text[i] - '0');
    }
    return out;
  };
  const int64_t y = number(0, 4), mo = number(5, 2), d = number(8, 2), h = number(11, 2),
                mi = number(14, 2), s = number(17, 2);
  if (!ok || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') ||
      text[13] != ':' || text[16] != ':' || !is_civil_date(y, mo, d) || h > 23 || mi > 59 ||
      s > 59) {
    return std::nullopt;
  }
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const size_t digits = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == digits) return std::nullopt;
  }
  rest = text.substr(at);
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

// Seconds → "YYYY-MM-DD?HH:MM:SS" with `separator` between date and time.
inline std::string format_civil_seconds(int64_t seconds, char separator) {
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  const CivilDate date = civil_from_days(days);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02lld-%02lld%c%02lld:%02lld:%02lld",
                static_cast<long long>(date.year), static_cast<long long>(date.month),
                static_cast<long long>(date.day), separator, static_cast<long long>(rest / 3600),
                static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60));
  return buffer;
}

}  // namespace internal

// A zoneless local time "YYYY-MM-DDTHH:MM:SS" or "YYYY-MM-DD HH:MM:SS", optionally with a
// fraction ".fff" (ignored), and nothing after it → civil seconds; nullopt otherwise.
inline std::optional<int64_t> parse_local_time(std::string_view text) {
  std::string_view rest;
  const auto seconds = internal::civil_seconds_prefix(text, rest);
  if (!seconds || !rest.empty()) return std::nullopt;
  return seconds;
}

// An RFC 3339 time "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM|±HHMM)" (a space is accepted for the T)
// → Unix seconds; nullopt when it is not one or carries no offset.
inline std::optional<int64_t> parse_rfc3339(std::string_view text) {
  std::string_view rest;
  const auto civil = internal::civil_seconds_prefix(text, rest);
  if (!civil) return std::nullopt;
  const auto offset = utc_offset_seconds(rest);
  if (!offset) return std::nullopt;
  return *civil - *offset;
}

// Unix seconds → "YYYY-MM-DDTHH:MM:SSZ".
inline std::string format_utc(int64_t unix_seconds) {
  return internal::format_civil_seconds(unix_seconds, 'T') + "Z";
}

// Civil seconds → "YYYY-MM-DDTHH:MM:SS", or with `separator` (e.g. ' ') between date and time.
inline std::string format_local_time(int64_t civil_seconds, char separator = 'T') {
  return internal::format_civil_seconds(civil_seconds, separator);
}

}  // namespace crmsync::sdk

#endif  // CRMSYNC_CONNECTOR_TIME_HPP
