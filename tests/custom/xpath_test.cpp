// XPath 1.0 through pugixml: records by XPath, fields by relative XPath, and bad input.
#include <doctest/doctest.h>

#include <string>

#include "xpath.h"

using crmsync::custom::parse_xml;
using crmsync::custom::XPath;

namespace {

constexpr const char* kOrders = R"(<?xml version="1.0" encoding="UTF-8"?>
<response><orders>
  <order id="A-1"><total>1500.50</total><client><phone>+79123456789</phone></client></order>
  <order id="A-2"><total>99</total><client/></order>
</orders></response>)";

}  // namespace

TEST_CASE("records by XPath, fields by relative XPath") {
  auto document = parse_xml(kOrders);
  REQUIRE(document);
  auto records = XPath::compile("/response/orders/order");
  REQUIRE(records);
  auto orders = records->select(**document);
  REQUIRE(orders.size() == 2);
  auto id = XPath::compile("@id");
  auto total = XPath::compile("total");
  auto phone = XPath::compile("client/phone");
  auto count = XPath::compile("count(../order)");
  REQUIRE((id && total && phone && count));
  CHECK(*id->string_value(orders[0]) == "A-1");
  CHECK(*total->string_value(orders[0]) == "1500.50");
  CHECK(*phone->string_value(orders[0]) == "+79123456789");
  CHECK(*count->string_value(orders[1]) == "2");
  CHECK_FALSE(phone->string_value(orders[1]).has_value());
}

TEST_CASE("a bad XPath is refused with pugixml's reason") {
  auto bad = XPath::compile("/order[total >");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(bad.error().message.rfind("invalid XPath /order[total > at position ", 0) == 0);
}

TEST_CASE("a body that is not XML is INVALID_INPUT") {
  auto document = parse_xml("<orders><order></orders>");
  REQUIRE_FALSE(document);
  CHECK(document.error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(document.error().message.rfind("the response is not XML: ", 0) == 0);
}

TEST_CASE("XML nested deeper than 256 levels is INVALID_INPUT; 256 levels parse") {
  auto nested = [](int depth) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += "<a>";
    for (int i = 0; i < depth; ++i) text += "</a>";
    return text;
  };
  auto deep = parse_xml(nested(100'000));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(deep.error().message == "the response nests deeper than 256 levels");
  CHECK(parse_xml(nested(256)));
  CHECK_FALSE(parse_xml(nested(257)));
  CHECK(parse_xml("<?xml version=\"1.0\"?><!-- a --><r><a/><b><c/></b><d/></r>"));
}
