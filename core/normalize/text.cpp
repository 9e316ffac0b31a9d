// Byte-level text helpers of core/normalize.
#include "normalize/text.h"

namespace crmsync::normalize::internal {

std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  std::size_t length = lead < 0x80           ? 1
                       : (lead >> 5) == 0x6  ? 2
                       : (lead >> 4) == 0xE  ? 3
                       : (lead >> 3) == 0x1E ? 4
                                             : 0;
  if (length == 0 || i + length > s.size()) return std::nullopt;
  if (length == 1) {
    ++i;
    return lead;
  }
  char32_t c = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return std::nullopt;
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr char32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMinimum[length] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return std::nullopt;
  i += length;
  return c;
}

std::size_t space_at(std::string_view s, std::size_t i) {
  if (i >= s.size()) return 0;
  if (s[i] == ' ' || s[i] == '\t') return 1;
  std::string_view rest = s.substr(i);
  if (rest.starts_with("\u00A0")) return 2;
  if (rest.starts_with("\u2009") || rest.starts_with("\u202F")) return 3;
  return 0;
}

std::string_view trim(std::string_view s) {
  auto is_break = [](char c) { return c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
  for (;;) {
    if (s.empty()) return s;
    if (is_break(s.front())) {
      s.remove_prefix(1);
    } else if (std::size_t n = space_at(s, 0)) {
      s.remove_prefix(n);
    } else {
      break;
    }
  }
  for (;;) {
    if (s.empty()) return s;
    if (is_break(s.back()) || s.back() == ' ' || s.back() == '\t') {
      s.remove_suffix(1);
    } else if (s.ends_with("\u00A0")) {
      s.remove_suffix(2);
    } else if (s.ends_with("\u2009") || s.ends_with("\u202F")) {
      s.remove_suffix(3);
    } else {
      break;
    }
  }
  return s;
}

}  // namespace crmsync::normalize::internal
