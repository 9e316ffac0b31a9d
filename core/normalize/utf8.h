// UTF-8 checks for text from outside (connector output): whether bytes are well-formed UTF-8
// (no overlong forms, no surrogates, nothing past U+10FFFF), and a repaired copy for messages.
#ifndef CRMSYNC_CORE_NORMALIZE_UTF8_H
#define CRMSYNC_CORE_NORMALIZE_UTF8_H

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::normalize {

// The offset of the first byte that does not start a well-formed UTF-8 sequence, or nullopt
// when all of text is well-formed.
std::optional<std::size_t> invalid_utf8_at(std::string_view text);

// text with every malformed sequence replaced by U+FFFD, cut at a character boundary to at most
// max_bytes (then ending in "…"): fit to store in a log line whatever the source gave.
std::string utf8_repaired(std::string_view text, std::size_t max_bytes);

}  // namespace crmsync::normalize

#endif  // CRMSYNC_CORE_NORMALIZE_UTF8_H
