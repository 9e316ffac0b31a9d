// Phone spellings for the normalization tests and the normalize_speed benchmark: the shapes of
// bench/sales_csv.py and harder ones.
#ifndef CRMSYNC_TESTS_NORMALIZE_PHONE_SHAPES_H
#define CRMSYNC_TESTS_NORMALIZE_PHONE_SHAPES_H

#include <random>
#include <string>

namespace crmsync::test {

// How many shapes bench/sales_csv.py's spell_phone has, and how many there are in all.
inline constexpr unsigned kSalesCsvPhoneShapes = 8;
inline constexpr unsigned kAllPhoneShapes = 16;

// A spelling of the 10-digit national number n: the first kSalesCsvPhoneShapes are
// bench/sales_csv.py's spellings; the rest are more the shortcut reads (bare, dots) and some it
// must leave to Parse (810 prefix, (8), too few or too many digits, extensions). shapes picks how
// many to use.
inline std::string phone_shape(std::mt19937_64& rng, const std::string& n, unsigned shapes) {
  const std::string a = n.substr(0, 3), b = n.substr(3, 3), c = n.substr(6, 2), d = n.substr(8, 2);
  switch (rng() % shapes) {
    case 0:
      return "+7" + n;
    case 1:
      return "7" + n;
    case 2:
      return "8" + n;
    case 3:
      return "8 (" + a + ") " + b + "-" + c + "-" + d;
    case 4:
      return "+7 " + a + " " + b + " " + c + " " + d;
    case 5:
      return "8-" + a + "-" + b + "-" + c + "-" + d;
    case 6:
      return "+7(" + a + ")" + b + c + d;
    case 7:
      return "8 " + a + " " + b + "-" + c + "-" + d;
    case 8:
      return n;
    case 9:
      return "(" + a + ") " + b + "." + c + "." + d;
    case 10:
      return "8 10 7 " + n;
    case 11:
      return "+7 (8) " + n;
    case 12:
      return "+7 " + n.substr(0, 9);
    case 13:
      return "8" + n + std::to_string(rng() % 10);
    case 14:
      return "+7 " + a + " " + b + "-" + c + "-" + d + " доб. " + std::to_string(rng() % 1000);
    default:
      return "8 " + a + " " + b + c + d + ", ext " + std::to_string(1 + rng() % 99);
  }
}

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_NORMALIZE_PHONE_SHAPES_H
