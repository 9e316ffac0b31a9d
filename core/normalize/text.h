// Byte-level text helpers shared by the normalizers (private to core/normalize): no locale, no
// allocation, UTF-8 aware where the inputs need it.
#ifndef CRMSYNC_CORE_NORMALIZE_TEXT_H
#define CRMSYNC_CORE_NORMALIZE_TEXT_H

#include <optional>
#include <string_view>

namespace crmsync::normalize::internal {

// True for '0'..'9'.
constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// ASCII lower case; other bytes unchanged.
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

// Decodes the UTF-8 code point at s[i] and advances i; nullopt (i unchanged) on malformed UTF-8.
std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i);

// Length of the space at s[i] (ASCII space or tab, U+00A0, U+2009, U+202F), or 0.
std::size_t space_at(std::string_view s, std::size_t i);

// `s` without leading and trailing spaces (as space_at) and line breaks.
std::string_view trim(std::string_view s);

}  // namespace crmsync::normalize::internal

#endif  // CRMSYNC_CORE_NORMALIZE_TEXT_H
