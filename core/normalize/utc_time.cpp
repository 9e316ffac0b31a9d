// Timestamp parsing by hand (a cursor over the text: no regex, no locale, no allocation on
// success) and conversion with the date/tz library.
#include "normalize/utc_time.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <cstdio>
#include <exception>

#include "normalize/text.h"

namespace crmsync::normalize {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Reads fixed-width fields left to right.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i == s.size(); }
  bool peek(char c) const { return i < s.size() && s[i] == c; }
  bool eat(char c) {
    if (!peek(c)) return false;
    ++i;
    return true;
  }
  // Exactly `width` digits; false (nothing consumed) otherwise.
  bool number(int width, int& out) {
    if (i + width > s.size()) return false;
    int value = 0;
    for (int k = 0; k < width; ++k) {
      if (!internal::is_digit(s[i + k])) return false;
      value = value * 10 + (s[i + k] - '0');
    }
    i += width;
    out = value;
    return true;
  }
};

// The fields of a timestamp as written.
struct Fields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  std::optional<minutes> offset;  // present when the text carries one
};

// "HH:MM[:SS[.fff…]]"; the fraction may be written with '.' or ',' (ISO 8601) and is truncated to
// milliseconds.
bool read_clock(Cursor& c, Fields& f) {
  if (!c.number(2, f.hour) || !c.eat(':') || !c.number(2, f.minute)) return false;
  if (!c.eat(':')) return true;
  if (!c.number(2, f.second)) return false;
  if (c.eat('.') || c.eat(',')) {
    int digits = 0;
    while (!c.done() && internal::is_digit(c.s[c.i])) {
      if (digits < 3) f.millis = f.millis * 10 + (c.s[c.i] - '0');
      ++digits;
      ++c.i;
    }
    if (digits == 0) return false;
    for (; digits < 3; ++digits) f.millis *= 10;
  }
  return true;
}

// "Z", "+03:00", "+0300" or "+03".
bool read_offset(Cursor& c, Fields& f) {
  if (c.eat('Z') || c.eat('z')) {
    f.offset = minutes{0};
    return true;
  }
  int sign = c.eat('+') ? 1 : c.eat('-') ? -1 : 0;
  if (sign == 0) return false;
  int hours = 0, mins = 0;
  if (!c.number(2, hours)) return false;
  if (c.eat(':')) {
    if (!c.number(2, mins)) return false;
  } else if (!c.done() && !c.number(2, mins)) {
    return false;
  }
  if (hours > 23 || mins > 59) return false;
  f.offset = minutes{sign * (hours * 60 + mins)};
  return true;
}

// "YYYY-MM-DD[(T| )HH:MM[:SS[.fff]][offset]]" or "dd.mm.yyyy[ HH:MM[:SS]]"; false if the text has
// neither shape (values are checked later).
bool read_fields(std::string_view s, Fields& f) {
  Cursor c{s};
  if (s.size() >= 5 && s[4] == '-') {
    if (!c.number(4, f.year) || !c.eat('-') || !c.number(2, f.month) || !c.eat('-') ||
        !c.number(2, f.day)) {
      return false;
    }
    if (c.done()) return true;
    if (!(c.eat('T') || c.eat('t') || c.eat(' ')) || !read_clock(c, f)) return false;
    if (c.done()) return true;
    return read_offset(c, f) && c.done();
  }
  if (!c.number(2, f.day) || !c.eat('.') || !c.number(2, f.month) || !c.eat('.') ||
      !c.number(4, f.year)) {
    return false;
  }
  if (c.done()) return true;
  return c.eat(' ') && read_clock(c, f) && c.done();
}

Error invalid(std::string_view raw, std::string_view why) {
  std::string message = "Invalid time '";
  message.append(raw).append("': ").append(why);
  return fail(CRMSYNC_E_INVALID_INPUT, std::move(message));
}

constexpr std::string_view kShapes =
    "expected a form like 2025-11-17 14:30:00, 2025-11-17T14:30:00+03:00 or 17.11.2025 14:30";

// Parses and validates; `zone` may be null when the text must carry an offset.
Result<UtcTime> parse(std::string_view raw, const TimeZone* zone) {
  std::string_view s = internal::trim(raw);
  if (s.empty()) return fail(CRMSYNC_E_INVALID_INPUT, "Time is empty");
  Fields f;
  if (!read_fields(s, f)) return invalid(s, kShapes);
  if (f.year < 1) return invalid(s, "year 0000 does not exist");
  if (f.month < 1 || f.month > 12) {
    return invalid(s, "month " + std::to_string(f.month) + " does not exist");
  }
  const date::year_month_day ymd{date::year{f.year}, date::month(f.month), date::day(f.day)};
  if (!ymd.ok()) {
    // Year and month are as written (4 and 2 digits), so the text itself has them.
    return invalid(s, "day " + std::to_string(f.day) + " does not exist in " +
                          std::string(s.substr(s[4] == '-' ? 0 : 6, 4)) + "-" +
                          std::string(s.substr(s[4] == '-' ? 5 : 3, 2)));
  }
  if (f.hour > 23 || f.minute > 59 || f.second > 59) return invalid(s, "no such time of day");
  const milliseconds since_epoch = date::sys_days(ymd).time_since_epoch() +
                                   std::chrono::hours{f.hour} + minutes{f.minute} +
                                   seconds{f.second} + milliseconds{f.millis};
  if (f.offset) return UtcTime{since_epoch - *f.offset};
  if (zone == nullptr) return invalid(s, "no UTC offset (add Z or +03:00)");
  return zone->to_utc(since_epoch);
}

constexpr std::int64_t kMaxUnixSeconds = 253402300799;  // 9999-12-31T23:59:59Z

}  // namespace

Result<TimeZone> TimeZone::locate(std::string_view iana_name) {
  try {
    return TimeZone(date::locate_zone(iana_name));
  } catch (const std::exception& e) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "Unknown time zone '" + std::string(iana_name) + "': " + e.what());
  }
}

std::string_view TimeZone::name() const {
  return zone_->name();
}

UtcTime TimeZone::to_utc(milliseconds local_since_epoch) const {
  const date::local_seconds local{std::chrono::floor<seconds>(local_since_epoch)};
  // `first` is the offset in force just before the local time: the unique one, the earlier of an
  // overlap, or the one before a gap, which shifts a nonexistent time forward by the gap.
  const date::local_info info = zone_->get_info(local);
  return UtcTime{local_since_epoch - info.first.offset};
}

Result<UtcTime> time_utc(std::string_view raw, const TimeZone& zone) {
  return parse(raw, &zone);
}

Result<UtcTime> time_utc(std::string_view raw) {
  return parse(raw, nullptr);
}

Result<UtcTime> from_unix_seconds(std::int64_t value) {
  if (value < 0 || value > kMaxUnixSeconds) {
    return fail(CRMSYNC_E_INVALID_INPUT,
                "Unix time " + std::to_string(value) + " is out of range (1970..9999)");
  }
  return UtcTime{seconds{value}};
}

Result<UtcTime> from_unix_millis(std::int64_t value) {
  if (value < 0 || value / 1000 > kMaxUnixSeconds) {
    return fail(CRMSYNC_E_INVALID_INPUT,
                "Unix time " + std::to_string(value) + " ms is out of range (1970..9999)");
  }
  return UtcTime{milliseconds{value}};
}

std::string rfc3339_utc(UtcTime time) {
  const auto day = std::chrono::floor<date::days>(time);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<milliseconds> clock{time - day};
  std::array<char, 32> text{};
  int length = std::snprintf(
      text.data(), text.size(), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
      static_cast<int>(clock.seconds().count()));
  if (const auto millis = clock.subseconds().count(); millis != 0) {
    length += std::snprintf(text.data() + length, text.size() - length, ".%03d",
                            static_cast<int>(millis));
  }
  text[length++] = 'Z';
  return std::string(text.data(), length);
}

}  // namespace crmsync::normalize
