// Tests of normalize time functions: offsets, local time in IANA zones with DST gaps and overlaps
// (Berlin, New York) and Moscow's history, invalid dates, Unix time and the RFC 3339 formatter.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "normalize/utc_time.h"

namespace normalize = crmsync::normalize;

namespace {

normalize::TimeZone zone(std::string_view name) {
  auto located = normalize::TimeZone::locate(name);
  REQUIRE_MESSAGE(located.ok(), located.error().message);
  return *located;
}

// The UTC of `raw` in `zone_name`, as RFC 3339.
std::string utc(std::string_view raw, std::string_view zone_name = "Europe/Moscow") {
  auto result = normalize::time_utc(raw, zone(zone_name));
  INFO("input: '" << raw << "' in " << zone_name);
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  return normalize::rfc3339_utc(*result);
}

std::string error(std::string_view raw) {
  auto result = normalize::time_utc(raw, zone("Europe/Moscow"));
  INFO("input: '" << raw << "'");
  REQUIRE(!result.ok());
  CHECK(result.error().code == CRMSYNC_E_INVALID_INPUT);
  return result.error().message;
}

}  // namespace

TEST_CASE("explicit offsets: Z, +03:00, +0300, +03") {
  auto offset_only = [](std::string_view raw) {
    auto result = normalize::time_utc(raw);
    INFO("input: '" << raw << "'");
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    return normalize::rfc3339_utc(*result);
  };
  CHECK(offset_only("2025-11-17T11:30:00Z") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17t11:30:00z") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17T14:30:00+03:00") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17T14:30:00+0300") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17T14:30:00+03") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17 14:30+03:00") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17T06:30:00-05:00") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17T17:00:00+05:30") == "2025-11-17T11:30:00Z");
  CHECK(offset_only("2025-11-17T11:30:00.25Z") == "2025-11-17T11:30:00.250Z");
  CHECK(offset_only("2025-11-17T11:30:00,123456789Z") == "2025-11-17T11:30:00.123Z");
  CHECK(offset_only("2025-01-01T01:00:00+03:00") == "2024-12-31T22:00:00Z");
  // An offset wins over the zone.
  CHECK(utc("2025-11-17T14:30:00+03:00", "America/New_York") == "2025-11-17T11:30:00Z");
  auto local = normalize::time_utc("2025-11-17 14:30:00");
  REQUIRE(!local.ok());
  CHECK(local.error().message ==
        "Invalid time '2025-11-17 14:30:00': no UTC offset (add Z or +03:00)");
}

TEST_CASE("local time forms in Europe/Moscow") {
  CHECK(utc("2025-11-17 14:30:00") == "2025-11-17T11:30:00Z");
  CHECK(utc("2025-11-17 14:30") == "2025-11-17T11:30:00Z");
  CHECK(utc("2025-11-17 14:30:00.500") == "2025-11-17T11:30:00.500Z");
  CHECK(utc("2025-11-17T14:30:00") == "2025-11-17T11:30:00Z");
  CHECK(utc("17.11.2025 14:30") == "2025-11-17T11:30:00Z");
  CHECK(utc("17.11.2025 14:30:15") == "2025-11-17T11:30:15Z");
  CHECK(utc("17.11.2025") == "2025-11-16T21:00:00Z");
  CHECK(utc("2025-11-17") == "2025-11-16T21:00:00Z");
  CHECK(utc("  2025-11-17 14:30:00 ") == "2025-11-17T11:30:00Z");
  CHECK(utc("2024-02-29 12:00:00") == "2024-02-29T09:00:00Z");
}

TEST_CASE("Moscow history: DST in 2010, UTC+4 in 2011-2014, UTC+3 since") {
  CHECK(utc("2010-01-15 12:00:00") == "2010-01-15T09:00:00Z");  // MSK +3
  CHECK(utc("2010-07-01 12:00:00") == "2010-07-01T08:00:00Z");  // MSD +4
  CHECK(utc("2010-03-28 02:30:00") == "2010-03-27T23:30:00Z");  // gap: read as 03:30 MSD
  CHECK(utc("2010-10-31 02:30:00") == "2010-10-30T22:30:00Z");  // overlap: earlier, MSD
  CHECK(utc("2012-07-01 12:00:00") == "2012-07-01T08:00:00Z");  // +4 all year
  CHECK(utc("2013-01-15 12:00:00") == "2013-01-15T08:00:00Z");
  CHECK(utc("2014-10-26 01:30:00") == "2014-10-25T21:30:00Z");  // overlap of the +4 → +3 change
  CHECK(utc("2014-10-26 02:00:00") == "2014-10-25T23:00:00Z");
  CHECK(utc("2025-07-01 12:00:00") == "2025-07-01T09:00:00Z");
}

TEST_CASE("DST gap: a nonexistent local time is shifted forward by the gap") {
  // Berlin, 2025-03-30: 02:00 CET → 03:00 CEST.
  CHECK(utc("2025-03-30 01:59:59", "Europe/Berlin") == "2025-03-30T00:59:59Z");
  CHECK(utc("2025-03-30 02:00:00", "Europe/Berlin") == "2025-03-30T01:00:00Z");
  CHECK(utc("2025-03-30 02:30:00", "Europe/Berlin") == "2025-03-30T01:30:00Z");
  CHECK(utc("2025-03-30 03:00:00", "Europe/Berlin") == "2025-03-30T01:00:00Z");
  // New York, 2025-03-09: 02:00 EST → 03:00 EDT.
  CHECK(utc("2025-03-09 02:30:00", "America/New_York") == "2025-03-09T07:30:00Z");
  CHECK(utc("2025-03-09 03:30:00", "America/New_York") == "2025-03-09T07:30:00Z");
}

TEST_CASE("DST overlap: an ambiguous local time takes the earlier offset") {
  // Berlin, 2025-10-26: 03:00 CEST → 02:00 CET; 02:00-02:59 happen twice.
  CHECK(utc("2025-10-26 01:59:59", "Europe/Berlin") == "2025-10-25T23:59:59Z");
  CHECK(utc("2025-10-26 02:00:00", "Europe/Berlin") == "2025-10-26T00:00:00Z");
  CHECK(utc("2025-10-26 02:30:00", "Europe/Berlin") == "2025-10-26T00:30:00Z");
  CHECK(utc("2025-10-26 03:00:00", "Europe/Berlin") == "2025-10-26T02:00:00Z");
  // New York, 2025-11-02: 02:00 EDT → 01:00 EST.
  CHECK(utc("2025-11-02 01:30:00", "America/New_York") == "2025-11-02T05:30:00Z");
  CHECK(utc("2025-11-02 02:00:00", "America/New_York") == "2025-11-02T07:00:00Z");
}

TEST_CASE("invalid dates are errors with clear messages") {
  CHECK(error("2025-13-01 10:00:00") ==
        "Invalid time '2025-13-01 10:00:00': month 13 does not exist");
  CHECK(error("2025-11-31 10:00:00") ==
        "Invalid time '2025-11-31 10:00:00': day 31 does not exist in 2025-11");
  CHECK(error("2025-02-29") == "Invalid time '2025-02-29': day 29 does not exist in 2025-02");
  CHECK(error("yesterday") ==
        "Invalid time 'yesterday': expected a form like 2025-11-17 14:30:00, "
        "2025-11-17T14:30:00+03:00 or 17.11.2025 14:30");
  CHECK(error("17/11/2025 14:30").starts_with("Invalid time '17/11/2025 14:30': expected a form"));
  CHECK(error("") == "Time is empty");
  CHECK(error(" ") == "Time is empty");
  CHECK(error("2025-11-17 24:00:00") == "Invalid time '2025-11-17 24:00:00': no such time of day");
  CHECK(error("2025-11-17 10:60:00").ends_with("no such time of day"));
  CHECK(error("2025-11-17 23:59:60").ends_with("no such time of day"));
  CHECK(error("0000-01-01") == "Invalid time '0000-01-01': year 0000 does not exist");
  CHECK(error("2025-00-10") == "Invalid time '2025-00-10': month 0 does not exist");
  CHECK(error("2025-11-00").ends_with("day 0 does not exist in 2025-11"));
  for (std::string_view bad : {"2025-11-17 10:00:00 junk", "2025-11-17T10:00:00+25:00",
                               "2025-11-17T10:00:00+03:", "2025-1-17", "2025-11-17 10",
                               "2025-11-17 10:00:", "2025-11-17 10:00:00.", "17.11.2025T14:30",
                               "17.11.25 14:30", "1763379000", "2025-11-17T10:00:00+03:00Z"}) {
    CHECK(error(bad).find("expected a form") != std::string::npos);
  }
}

TEST_CASE("time zones: unknown names are configuration errors") {
  auto unknown = normalize::TimeZone::locate("Mars/Olympus_Mons");
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(unknown.error().message.starts_with("Unknown time zone 'Mars/Olympus_Mons'"));
  CHECK(!normalize::TimeZone::locate("").ok());
  CHECK(zone("Europe/Moscow").name() == "Europe/Moscow");
}

TEST_CASE("Unix seconds and milliseconds") {
  auto seconds = normalize::from_unix_seconds(1763379000);
  REQUIRE(seconds.ok());
  CHECK(normalize::rfc3339_utc(*seconds) == "2025-11-17T11:30:00Z");
  auto millis = normalize::from_unix_millis(1763379000250);
  REQUIRE(millis.ok());
  CHECK(normalize::rfc3339_utc(*millis) == "2025-11-17T11:30:00.250Z");
  CHECK(normalize::rfc3339_utc(*normalize::from_unix_seconds(0)) == "1970-01-01T00:00:00Z");
  CHECK(normalize::rfc3339_utc(*normalize::from_unix_seconds(253402300799)) ==
        "9999-12-31T23:59:59Z");
  CHECK(!normalize::from_unix_seconds(-1).ok());
  CHECK(!normalize::from_unix_seconds(253402300800).ok());
  CHECK(normalize::from_unix_seconds(253402300800).error().message ==
        "Unix time 253402300800 is out of range (1970..9999)");
  CHECK(!normalize::from_unix_millis(-1).ok());
  CHECK(!normalize::from_unix_millis(INT64_MAX).ok());
}

TEST_CASE("RFC 3339 formatting round-trips") {
  for (std::string_view text : {"2025-11-17T11:30:00Z", "1999-12-31T23:59:59.999Z",
                                "0001-01-01T00:00:00Z", "2024-02-29T00:00:00.001Z"}) {
    auto parsed = normalize::time_utc(text);
    REQUIRE(parsed.ok());
    CHECK(normalize::rfc3339_utc(*parsed) == text);
  }
}

TEST_CASE("conversions agree across threads") {
  const auto berlin = zone("Europe/Berlin");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto result = normalize::time_utc("2025-10-26 02:30:00", berlin);
        if (!result.ok() || normalize::rfc3339_utc(*result) != "2025-10-26T00:30:00Z") ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int w : wrong) CHECK(w == 0);
}
