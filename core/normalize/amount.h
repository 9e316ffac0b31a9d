// Money amounts from any source to integer minor units (kopecks for RUB), DESIGN §4.
//
// Accepts what people and programs write: "1500", "1500.50", "1500,50", "1 500,50" (groups by
// space, U+00A0, U+202F or U+2009), "1,500.50", "1.500,50", an optional currency suffix (₽,
// руб., руб, р.); and JSON numbers as text ("1000.5", "1e3"). Refuses what cannot be read without a
// guess: "1,000" and "1.000" could be a thousand or one, so they are errors, as are more decimals
// than the currency has. No locale, no regex, no allocation on success.
#ifndef CRMSYNC_CORE_NORMALIZE_AMOUNT_H
#define CRMSYNC_CORE_NORMALIZE_AMOUNT_H

#include <cstdint>
#include <string_view>

#include "base/result.h"

namespace crmsync::normalize {

// What an amount may be.
struct AmountRules {
  bool allow_zero = false;      // a sale of 0 is refused by default
  bool allow_negative = false;  // refunds are opt-in
  int minor_digits = 2;         // decimals of the currency: 2 for RUB; more is an error
};

// A human-written or exported amount to minor units: "1 500,50 ₽" → 150050.
Result<std::int64_t> amount_minor(std::string_view raw, const AmountRules& rules = {});

// A JSON number's text (as nlohmann::json::dump() writes it: "1000", "1000.5", "1e+20") to minor
// units. Extra decimals are an error unless they are zeros ("12.300" is 1230).
Result<std::int64_t> amount_minor_json(std::string_view json_number, const AmountRules& rules = {});

}  // namespace crmsync::normalize

#endif  // CRMSYNC_CORE_NORMALIZE_AMOUNT_H
