// UTF-8 checks (see utf8.h).
#include "normalize/utf8.h"

#include <algorithm>

#include "normalize/text.h"

namespace crmsync::normalize {

std::optional<std::size_t> invalid_utf8_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!internal::next_code_point(text, i)) return i;
  }
  return std::nullopt;
}

std::string utf8_repaired(std::string_view text, std::size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  std::size_t room_for_ellipsis = 0;  // the longest prefix of whole characters the ellipsis fits
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    std::string_view piece = kReplacement;
    if (internal::next_code_point(text, i)) {
      piece = text.substr(start, i - start);
    } else {
      ++i;
    }
    if (out.size() + kEllipsis.size() <= max_bytes) room_for_ellipsis = out.size();
    if (out.size() + piece.size() > max_bytes) {
      out.resize(room_for_ellipsis);
      if (out.size() + kEllipsis.size() <= max_bytes) out.append(kEllipsis);
      return out;
    }
    out.append(piece);
  }
  return out;
}

}  // namespace crmsync::normalize
