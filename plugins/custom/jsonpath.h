// JSONPath (RFC 9535) over nlohmann::json, for the custom connector's record selection and field
// mapping.
//
// Written by hand: Debian 12 packages no C++ JSONPath library. A query is parsed once into a
// compiled form (syntax and function well-typedness are checked then, so a bad query is a
// configuration error, never a runtime surprise) and evaluated to the RFC's nodelist, in document
// order. nlohmann::json keeps object members sorted by name, which is one of the orders the RFC
// allows for object children. match() and search() take I-Regexp (RFC 9485), run by PCRE2.
#ifndef CRMSYNC_CUSTOM_JSONPATH_H
#define CRMSYNC_CUSTOM_JSONPATH_H

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace crmsync::custom {

namespace internal {
struct Query;
}  // namespace internal

// A compiled JSONPath query. Cheap to copy (shares the immutable compiled form); thread-safe.
class JsonPath {
 public:
  // Parses query. An invalid one gives INVALID_CONFIG with "invalid JSONPath <query> at position
  // <byte offset>: <reason>".
  static Result<JsonPath> compile(std::string_view query);

  // The nodes query selects in document, in document order. The pointers point into document.
  std::vector<const nlohmann::json*> select(const nlohmann::json& document) const;

  // The query text as given to compile().
  const std::string& text() const noexcept { return text_; }

 private:
  JsonPath(std::string text, std::shared_ptr<const internal::Query> query)
      : text_(std::move(text)), query_(std::move(query)) {}

  std::string text_;
  std::shared_ptr<const internal::Query> query_;
};

// Translates an I-Regexp (RFC 9485) to PCRE2 syntax; INVALID_INPUT when pattern is not an
// I-Regexp. Exposed for its tests: '.' becomes [^\n\r], '^' and '$' anchor at the start and the end
// of the string (as the JSONPath compliance suite reads them), groups do not capture, and
// everything outside the I-Regexp grammar (\d, lazy quantifiers, (?...)) is refused.
Result<std::string> iregexp_to_pcre2(std::string_view pattern);

}  // namespace crmsync::custom

#endif  // CRMSYNC_CUSTOM_JSONPATH_H
