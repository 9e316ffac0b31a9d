// XPath 1.0 over XML responses for the custom connector (records by an XPath from the document,
// fields by an XPath relative to each record), run by pugixml.
#ifndef CRMSYNC_CUSTOM_XPATH_H
#define CRMSYNC_CUSTOM_XPATH_H

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "base/result.h"

namespace crmsync::custom {

// A compiled XPath 1.0 expression. Cheap to copy; evaluation is read-only.
class XPath {
 public:
  // Compiles text; a syntax error gives INVALID_CONFIG with pugixml's reason and offset.
  static Result<XPath> compile(std::string_view text);

  // The element and text nodes a node-set expression selects from context, in document order;
  // empty for other expression types.
  std::vector<pugi::xml_node> select(const pugi::xml_node& context) const;

  // The expression's string value from context (the first selected node's text for a node-set,
  // the XPath string conversion otherwise); nullopt when a node-set is empty.
  std::optional<std::string> string_value(const pugi::xml_node& context) const;

  // The expression text as given to compile().
  const std::string& text() const noexcept { return text_; }

 private:
  XPath(std::string text, std::shared_ptr<const pugi::xpath_query> query)
      : text_(std::move(text)), query_(std::move(query)) {}

  std::string text_;
  std::shared_ptr<const pugi::xpath_query> query_;
};

// How deep the elements of an XML response may nest: as deep as JSON (sdk::kMaxJsonDepth).
inline constexpr size_t kMaxXmlDepth = 256;

// Parses an XML document; INVALID_INPUT with pugixml's reason and offset when it is not XML, or
// "the response nests deeper than 256 levels".
Result<std::shared_ptr<pugi::xml_document>> parse_xml(std::string_view text);

}  // namespace crmsync::custom

#endif  // CRMSYNC_CUSTOM_XPATH_H
