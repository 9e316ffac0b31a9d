// Tests of normalize::csv_dedup_id(): the documented string format, against a digest computed
// independently (sha256sum), and that the same sale written differently gets the same id.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "normalize/amount.h"
#include "normalize/dedup_key.h"
#include "normalize/phone.h"

namespace normalize = crmsync::normalize;

TEST_CASE("the id is CSV- and the SHA-256 of 'time|e164|minor|business'") {
  auto when = normalize::time_utc("2025-11-17T11:30:00Z");
  REQUIRE(when.ok());
  // printf '2025-11-17T11:30:00Z|+79123456789|150050|42' | sha256sum
  CHECK(normalize::csv_dedup_id(*when, "+79123456789", 150050, "42") ==
        "CSV-574d5db2f489510c7de948fe27a5712be45afadea1113995e66c33d174250fd3");
}

TEST_CASE("the same sale formatted differently gets the same id") {
  auto moscow = normalize::TimeZone::locate("Europe/Moscow");
  REQUIRE(moscow.ok());
  auto id = [&](std::string_view date, std::string_view phone, std::string_view amount) {
    auto when = normalize::time_utc(date, *moscow);
    auto e164 = normalize::phone(phone);
    auto minor = normalize::amount_minor(amount);
    REQUIRE(when.ok());
    REQUIRE(e164.ok());
    REQUIRE(minor.ok());
    return normalize::csv_dedup_id(*when, e164->e164, *minor, "7");
  };
  const std::string first = id("2025-11-17 14:30:00", "+79123456789", "1500.50");
  CHECK(first == id("17.11.2025 14:30", "8 (912) 345-67-89", "1 500,50"));
  CHECK(first == id("2025-11-17T11:30:00Z", "7 912 345 67 89", "1.500,50 ₽"));
  CHECK(first != id("2025-11-17 14:30:01", "+79123456789", "1500.50"));
  CHECK(first != id("2025-11-17 14:30:00", "+79123456780", "1500.50"));
  CHECK(first != id("2025-11-17 14:30:00", "+79123456789", "1500.51"));
  CHECK(first.size() == 4 + 64);
}

TEST_CASE("hashing from several threads gives the same ids") {
  auto when = normalize::from_unix_seconds(1763379000);
  REQUIRE(when.ok());
  const std::string expected = normalize::csv_dedup_id(*when, "+79123456789", 100, "b");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        if (normalize::csv_dedup_id(*when, "+79123456789", 100, "b") != expected) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int w : wrong) CHECK(w == 0);
}
