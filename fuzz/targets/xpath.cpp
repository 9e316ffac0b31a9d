// The custom connector's XPath 1.0 over XML: the first line of the input is the expression, the
// rest an XML document (parsed by parse_xml, as responses are); the expression selects nodes and
// takes string values from the document and from each selected node, as record fields are read.
#include "xpath.h"
#include "harness.h"
#include "input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crmsync::fuzz::Input input(data, size);
  auto compiled = crmsync::custom::XPath::compile(input.line());
  auto document = crmsync::custom::parse_xml(input.rest());
  if (!compiled || !document) return 0;
  const pugi::xml_node root = **document;
  (void)compiled->string_value(root);
  for (const pugi::xml_node& node : compiled->select(root)) (void)compiled->string_value(node);
  return 0;
}
