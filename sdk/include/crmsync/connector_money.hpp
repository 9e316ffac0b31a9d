// crmsync connector SDK: exact money texts for connectors, header-only.
//
// Money never passes through floating point (DESIGN: amounts are DECIMAL text or exact MINOR
// units): these helpers turn a CRM's decimal text into minor units (kopecks, cents) and back,
// digit by digit. Currencies with two decimals are assumed, as the ABI's MINOR amounts are.
#ifndef CRMSYNC_CONNECTOR_MONEY_HPP
#define CRMSYNC_CONNECTOR_MONEY_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::sdk {

// Decimal text ("1500", "-20.5", "1000.00", "7.500") → minor units (150000, -2050, 100000, 750);
// nullopt unless it is an optional "-", 1 to 15 digits, and optionally "." with at least one
// digit, of which those past the second must be zeros (no fractions of a minor unit).
inline std::optional<int64_t> decimal_minor(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) return std::nullopt;
  while (fraction.size() > 2 && fraction.back() == '0') fraction.remove_suffix(1);
  if (fraction.size() > 2) return std::nullopt;
  auto digits_only = [](std::string_view s) {
    return s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits_only(whole) || !digits_only(fraction) || whole.size() > 15) return std::nullopt;
  int64_t minor = 0;
  for (char c : whole) minor = minor * 10 + (c - '0');
  for (size_t i = 0; i < 2; ++i) minor = minor * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  return negative ? -minor : minor;
}

// Minor units → decimal text with two decimals ("1500.50", "-3.05", "0.00").
inline std::string minor_text(int64_t minor) {
  const bool negative = minor < 0;
  const uint64_t magnitude =
      negative ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  std::string cents = std::to_string(magnitude % 100);
  if (cents.size() < 2) cents.insert(0, "0");
  return (negative ? "-" : "") + std::to_string(magnitude / 100) + "." + cents;
}

}  // namespace crmsync::sdk

#endif  // CRMSYNC_CONNECTOR_MONEY_HPP
