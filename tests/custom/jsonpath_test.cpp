// JSONPath (RFC 9535): every case of the JSONPath Compliance Test Suite, plus the error messages
// and I-Regexp translation the suite does not state.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jsonpath.h"

using crmsync::custom::iregexp_to_pcre2;
using crmsync::custom::JsonPath;
using nlohmann::json;

namespace {

json load_cts() {
  std::ifstream in(std::string(CRMSYNC_TEST_DATA_DIR) + "/jsonpath-cts/cts.json");
  REQUIRE(in.good());
  return json::parse(in);
}

// The nodelist's values, to compare with the suite's `result`.
json values(const std::vector<const json*>& nodes) {
  json out = json::array();
  for (const json* node : nodes) out.push_back(*node);
  return out;
}

// The failure of one case, or empty when it passes.
std::string run_case(const json& c) {
  const std::string selector = c.at("selector").get<std::string>();
  auto query = JsonPath::compile(selector);
  if (c.value("invalid_selector", false)) {
    return query ? "accepted an invalid selector" : "";
  }
  if (!query) return "rejected a valid selector: " + query.error().message;
  json got = values(query->select(c.at("document")));
  if (c.contains("result")) {
    return got == c.at("result") ? "" : "got " + got.dump() + ", want " + c.at("result").dump();
  }
  for (const json& allowed : c.at("results")) {
    if (got == allowed) return "";
  }
  return "got " + got.dump() + ", want one of " + c.at("results").dump();
}

}  // namespace

TEST_CASE("every JSONPath compliance case passes") {
  json cts = load_cts();
  const json& tests = cts.at("tests");
  REQUIRE(tests.size() == 703);
  size_t failures = 0;
  for (const json& c : tests) {
    std::string failure = run_case(c);
    if (failure.empty()) continue;
    ++failures;
    FAIL_CHECK(c.at("name").get<std::string>()
               << " [" << c.at("selector").get<std::string>() << "]: " << failure);
  }
  CHECK(failures == 0);
}

TEST_CASE("an invalid query names its position and reason") {
  auto query = JsonPath::compile("$.data[?@.total > ]");
  REQUIRE_FALSE(query);
  CHECK(query.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(query.error().message ==
        "invalid JSONPath $.data[?@.total > ] at position 18: expected a literal, a query or a "
        "function");
}

TEST_CASE("a query nested deeper than 64 levels is refused, not recursed into") {
  std::string parens = "$[?";
  for (int i = 0; i < 100'000; ++i) parens += '(';
  auto deep = JsonPath::compile(parens + "@.a" + std::string(100'000, ')') + "]");
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(deep.error().message.find("nested deeper than 64 levels") != std::string::npos);
  std::string filters = "$";
  for (int i = 0; i < 100'000; ++i) filters += "[?@";
  CHECK_FALSE(JsonPath::compile(filters + std::string(100'000, ']')));
  CHECK(JsonPath::compile("$[?((((@.a))))]"));
}

TEST_CASE("indexes beyond the I-JSON range are rejected") {
  CHECK(JsonPath::compile("$[9007199254740991]"));
  auto too_big = JsonPath::compile("$[9007199254740992]");
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().message.find("range") != std::string::npos);
  CHECK_FALSE(JsonPath::compile("$[-9007199254740992:]"));
}

TEST_CASE("number literals beyond a double's range are rejected, tiny ones read as zero") {
  auto huge = JsonPath::compile("$[?@ == 7777777E7777777777]");
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message ==
        "invalid JSONPath $[?@ == 7777777E7777777777] at position 26: number out of range");
  CHECK_FALSE(JsonPath::compile("$[?@ < -1e309]"));
  auto tiny = JsonPath::compile("$[?@ == 1e-400]");
  REQUIRE(tiny);
  CHECK(tiny->select(nlohmann::json::array({0, 1})).size() == 1);
}

TEST_CASE("a function with the wrong argument type is rejected when compiled") {
  auto query = JsonPath::compile("$[?length(@.*) > 1]");
  REQUIRE_FALSE(query);
  CHECK(query.error().message.find("argument 1 of length() has the wrong type") !=
        std::string::npos);
}

TEST_CASE("I-Regexp translates to PCRE2 and non-I-Regexp syntax is refused") {
  CHECK(*iregexp_to_pcre2("a.c") == "a[^\\n\\r]c");
  CHECK(*iregexp_to_pcre2("(ab)+|[^x-z]{2,3}") == "(?:ab)+|[^x-z]{2,3}");
  CHECK(*iregexp_to_pcre2("\\p{Lu}\\P{Nd}") == "\\p{Lu}\\P{Nd}");
  CHECK_FALSE(iregexp_to_pcre2("\\d+"));
  CHECK_FALSE(iregexp_to_pcre2("a*?"));
  CHECK_FALSE(iregexp_to_pcre2("(?:a)"));
  CHECK_FALSE(iregexp_to_pcre2("\\p{Xx}"));
  CHECK_FALSE(iregexp_to_pcre2("a{,3}"));
}

TEST_CASE("match() excludes only line breaks from '.' and anchors the whole string") {
  json document = json::array({"a\u2028b", "a\nb", "a\rb", "ab", "xaxb"});
  auto query = JsonPath::compile("$[?match(@, 'a.b')]");
  REQUIRE(query);
  json got = values(query->select(document));
  CHECK(got == json::array({"a\u2028b"}));
  auto search = JsonPath::compile("$[?search(@, 'a.b')]");
  REQUIRE(search);
  CHECK(values(search->select(document)) == json::array({"a\u2028b", "xaxb"}));
}
