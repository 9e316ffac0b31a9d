// XPath 1.0 through pugixml (see xpath.h).
#include "xpath.h"

namespace crmsync::custom {

Result<XPath> XPath::compile(std::string_view text) {
  std::string source(text);
  try {
    auto query = std::make_shared<const pugi::xpath_query>(source.c_str());
    return XPath(std::move(source), std::move(query));
  } catch (const pugi::xpath_exception& e) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "invalid XPath " + source + " at position " +
                                              std::to_string(e.result().offset) + ": " +
                                              e.result().description());
  }
}

std::vector<pugi::xml_node> XPath::select(const pugi::xml_node& context) const {
  std::vector<pugi::xml_node> nodes;
  if (query_->return_type() != pugi::xpath_type_node_set) return nodes;
  pugi::xpath_node_set set = query_->evaluate_node_set(context);
  set.sort();
  for (const pugi::xpath_node& node : set) {
    if (node.node()) nodes.push_back(node.node());  // attributes are not records
  }
  return nodes;
}

std::optional<std::string> XPath::string_value(const pugi::xml_node& context) const {
  if (query_->return_type() == pugi::xpath_type_node_set &&
      query_->evaluate_node_set(context).empty()) {
    return std::nullopt;
  }
  return query_->evaluate_string(context);
}

Result<std::shared_ptr<pugi::xml_document>> parse_xml(std::string_view text) {
  auto document = std::make_shared<pugi::xml_document>();
  pugi::xml_parse_result parsed = document->load_buffer(text.data(), text.size());
  if (!parsed) {
    return fail(CRMSYNC_E_INVALID_INPUT, std::string("the response is not XML: ") +
                                             parsed.description() + " at offset " +
                                             std::to_string(parsed.offset));
  }
  // Walked without recursion (first child, next sibling, back up through parents).
  size_t depth = 1;  // of node: the document's top-level nodes are at depth 1
  pugi::xml_node node = document->first_child();
  while (node) {
    if (node.first_child()) {
      node = node.first_child();
      if (++depth > kMaxXmlDepth) {
        return fail(CRMSYNC_E_INVALID_INPUT,
                    "the response nests deeper than " + std::to_string(kMaxXmlDepth) + " levels");
      }
      continue;
    }
    while (node && !node.next_sibling()) {
      node = node.parent();
      --depth;
    }
    if (node) node = node.next_sibling();
  }
  return document;
}

}  // namespace crmsync::custom
