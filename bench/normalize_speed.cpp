// normalize_speed: per-call cost of the normalizers on a sales_csv.py-like workload (70% repeat
// customers, its phone and amount shapes, Moscow local times). Run by hand:
//   normalize_speed [rows]        (default 50000)
// Prints CPU nanoseconds per call (thread CPU time: the machine may be shared); "via Parse" is
// libphonenumber without the shortcut and the caches.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "normalize/amount.h"
#include "normalize/dedup_key.h"
#include "normalize/phone.h"
#include "normalize/utc_time.h"
#include "phone_shapes.h"

namespace normalize = crmsync::normalize;

namespace {

std::string amount_shape(std::mt19937_64& rng, std::int64_t kopecks) {
  const std::string rub = std::to_string(kopecks / 100);
  const std::string kop = (kopecks % 100 < 10 ? "0" : "") + std::to_string(kopecks % 100);
  std::string spaced;
  for (std::size_t k = 0; k < rub.size(); ++k) {
    if (k > 0 && (rub.size() - k) % 3 == 0) spaced += "\u00A0";
    spaced += rub[k];
  }
  switch (rng() % 4) {
    case 0:
      return rub;
    case 1:
      return rub + "." + kop;
    case 2:
      return rub + "," + kop;
    default:
      return spaced + "," + kop;
  }
}

double cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

template <class F>
double ns_per_call(std::size_t calls, F&& body) {
  const double start = cpu_ns();
  body();
  return (cpu_ns() - start) / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t rows = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 50000;
  std::mt19937_64 rng(1);
  std::vector<std::string> customers, phones, amounts, dates;
  for (std::size_t i = 0; i < rows; ++i) {
    std::string n;
    if (!customers.empty() && rng() % 10 < 7) {
      n = customers[rng() % customers.size()];
    } else {
      n = "9" + std::to_string(100'000'000 + rng() % 900'000'000);
      customers.push_back(n);
    }
    phones.push_back(crmsync::test::phone_shape(rng, n, crmsync::test::kSalesCsvPhoneShapes));
    amounts.push_back(amount_shape(rng, 100 + static_cast<std::int64_t>(rng() % 5'000'000)));
    char date[32];
    std::snprintf(date, sizeof date, "2025-%02d-%02d %02d:%02d:%02d",
                  static_cast<int>(1 + rng() % 11), static_cast<int>(1 + rng() % 28),
                  static_cast<int>(8 + rng() % 14), static_cast<int>(rng() % 60),
                  static_cast<int>(rng() % 60));
    dates.emplace_back(date);
  }
  std::size_t sink = 0;
  const std::size_t parse_rows = std::min<std::size_t>(rows, 20000);
  const double parse = ns_per_call(parse_rows, [&] {
    for (std::size_t i = 0; i < parse_rows; ++i) {
      sink += normalize::internal::phone_via_parse(phones[i]).ok();
    }
  });
  const double cold = ns_per_call(rows, [&] {
    for (const auto& p : phones) sink += normalize::phone(p).ok();
  });
  const double warm = ns_per_call(rows, [&] {
    for (const auto& p : phones) sink += normalize::phone(p).ok();
  });
  const double amount = ns_per_call(rows, [&] {
    for (const auto& a : amounts) sink += normalize::amount_minor(a).ok();
  });
  const auto moscow = normalize::TimeZone::locate("Europe/Moscow");
  if (!moscow.ok()) return 1;
  std::vector<normalize::UtcTime> times;
  times.reserve(rows);
  const double time = ns_per_call(rows, [&] {
    for (const auto& d : dates) times.push_back(*normalize::time_utc(d, *moscow));
  });
  const double dedup = ns_per_call(rows, [&] {
    for (std::size_t i = 0; i < rows; ++i) {
      sink += normalize::csv_dedup_id(times[i], "+79123456789", 150050, "42").size();
    }
  });
  std::printf("rows %zu, distinct customers %zu\n", rows, customers.size());
  std::printf("phone via Parse only      %8.0f ns/call\n", parse);
  std::printf("phone() first pass        %8.0f ns/call (shortcut + verdict cache fill)\n", cold);
  std::printf("phone() second pass       %8.0f ns/call (warm caches)\n", warm);
  std::printf("amount_minor()            %8.0f ns/call\n", amount);
  std::printf("time_utc() Moscow local   %8.0f ns/call\n", time);
  std::printf("csv_dedup_id()            %8.0f ns/call\n", dedup);
  return sink == 0 ? 1 : 0;
}
