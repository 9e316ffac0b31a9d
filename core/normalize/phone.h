// Phone numbers from any source (CSV, CRM payloads) to E.164, the key the pipeline matches users
// by (DESIGN §4).
//
// Built on libphonenumber, with three rules of our own on top: an extension (`доб. 100`,
// `ext 100`, `x100`, `;ext=100`) is split off and returned apart from the E.164; letters are
// refused (libphonenumber silently reads Latin letters as keypad digits); and a valid number of
// another region than the business's is refused unless asked for (+7 7xx is Kazakhstan, not
// Russia). All functions are thread-safe.
//
// Speed: libphonenumber's Parse costs ~15 µs. The common Russian shapes (+7XXXXXXXXXX,
// 8XXXXXXXXXX, 7XXXXXXXXXX, XXXXXXXXXX with spaces, dashes, dots, brackets) are reduced lexically
// to the 10-digit national number, whose libphonenumber verdict is cached; other inputs are
// memoized by their text. Both caches are bounded. tests/normalize proves the shortcut gives the
// same results as libphonenumber's Parse.
#ifndef CRMSYNC_CORE_NORMALIZE_PHONE_H
#define CRMSYNC_CORE_NORMALIZE_PHONE_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace crmsync::normalize {

// A valid phone number.
struct Phone {
  std::string e164;       // "+79123456789": what users are matched by; never has the extension
  std::string extension;  // "100" for "… доб. 100"; empty if none
  std::string region;     // ISO 3166 region of the number as libphonenumber assigns it: "RU", "KZ"
};

// How to read a phone number.
struct PhoneRules {
  // Region of the business: numbers without a country code are read as numbers of this region.
  std::string_view default_region = "RU";
  // By default a valid number of another region is an error ("… is a KZ number, not RU").
  bool allow_other_regions = false;
};

// Normalizes `raw` to E.164; errors (CRMSYNC_E_INVALID_INPUT) say why the input was refused. An
// unknown default_region is CRMSYNC_E_INVALID_CONFIG.
Result<Phone> phone(std::string_view raw, const PhoneRules& rules = {});

namespace internal {

// The same as phone() without the lexical shortcut and the caches: the reference that the
// differential tests compare phone() against.
Result<Phone> phone_via_parse(std::string_view raw, const PhoneRules& rules = {});

// The 10-digit national number if `text` (trimmed, no extension) has one of the shapes that are
// read without Parse under default region RU; nullopt otherwise.
std::optional<std::uint64_t> shortcut_national_number(std::string_view text);

}  // namespace internal

}  // namespace crmsync::normalize

#endif  // CRMSYNC_CORE_NORMALIZE_PHONE_H
