// `{{ … }}` templates: paths, literal text, each filter, and the errors an admin sees.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "template.h"

using crmsync::custom::Template;
using nlohmann::json;

namespace {

const json kContext = json::parse(R"({
  "response": {"data": {"id": 42, "total": 1500.5, "client": {"phone": " +7 (912) 345-67-89 "},
               "status": "PAID", "items": [{"price": "100.00"}, {"price": "200.00"}],
               "note": null, "paid": true, "tags": ["a", "b"], "total sum": "7"}},
  "cursor": "2025-01-01"
})");

std::string render(const std::string& text) {
  auto compiled = Template::compile(text);
  REQUIRE_MESSAGE(compiled, (compiled ? "" : compiled.error().message));
  auto rendered = compiled->render(kContext);
  REQUIRE_MESSAGE(rendered, (rendered ? "" : rendered.error().message));
  return *rendered;
}

std::string compile_error(const std::string& text) {
  auto compiled = Template::compile(text);
  REQUIRE_FALSE(compiled);
  CHECK(compiled.error().code == CRMSYNC_E_INVALID_CONFIG);
  return compiled.error().message;
}

}  // namespace

TEST_CASE("dotted and indexed paths render their values") {
  CHECK(render("{{ response.data.id }}") == "42");
  CHECK(render("{{response.data.total}}") == "1500.5");
  CHECK(render("{{ response.data.items[1].price }}") == "200.00");
  CHECK(render("{{ response.data[\"total sum\"] }}") == "7");
  CHECK(render("{{ response.data.paid }}") == "true");
  CHECK(render("{{ response.data.tags }}") == "[\"a\",\"b\"]");
}

TEST_CASE("literal text around placeholders is kept") {
  CHECK(render("/orders?since={{ cursor }}&id={{ response.data.id }}!") ==
        "/orders?since=2025-01-01&id=42!");
  CHECK(render("no placeholders") == "no placeholders");
}

TEST_CASE("default() fills a missing or null value") {
  CHECK(render("{{ response.data.currency | default(\"RUB\") }}") == "RUB");
  CHECK(render("{{ response.data.note | default('none') }}") == "none");
  CHECK(render("{{ response.data.id | default(\"0\") }}") == "42");
  CHECK(render("{{ response.data.nothing | lower | default(\"X\") }}") == "X");
}

TEST_CASE("lower, upper, trim and replace transform the value, chained left to right") {
  CHECK(render("{{ response.data.status | lower }}") == "paid");
  CHECK(render("{{ response.data.items[0].price | upper }}") == "100.00");
  CHECK(render("{{ response.data.client.phone | trim }}") == "+7 (912) 345-67-89");
  CHECK(
      render("{{ response.data.client.phone | trim | replace(\"-\", \"\") | replace(' ', '') }}") ==
      "+7(912)3456789");
  CHECK(render("{{ response.data.status | lower | upper }}") == "PAID");
}

TEST_CASE("a missing value without default() names the path") {
  auto compiled = Template::compile("{{ response.data.client.email }}");
  REQUIRE(compiled);
  auto rendered = compiled->render(kContext);
  REQUIRE_FALSE(rendered);
  CHECK(rendered.error().code == CRMSYNC_E_INVALID_INPUT);
  CHECK(rendered.error().message ==
        "{{ response.data.client.email }}: response.data.client.email matched nothing");
  CHECK_FALSE(Template::compile("{{ response.data.items[5].price }}")->render(kContext));
}

TEST_CASE("an unknown filter is refused by name") {
  CHECK(compile_error("{{ response.data.id | title }}") ==
        "invalid template {{ response.data.id | title }} at position 22: unknown filter 'title' "
        "(known: default, lower, upper, trim, replace)");
}

TEST_CASE("bad syntax is refused with its position") {
  CHECK(compile_error("{{ response.data.id ") ==
        "invalid template {{ response.data.id  at position 20: expected '}}' or '|'");
  CHECK(compile_error("{{ }}").find("expected a name") != std::string::npos);
  CHECK(compile_error("total }}").find("'}}' without '{{'") != std::string::npos);
  CHECK(compile_error("{{ a.[0] }}").find("expected a name after '.'") != std::string::npos);
  CHECK(compile_error("{{ a[x] }}").find("expected an index or a quoted name") !=
        std::string::npos);
  CHECK(compile_error("{{ a | replace(\"x\") }}").find("takes 2 quoted argument(s)") !=
        std::string::npos);
  CHECK(compile_error("{{ a | default(\"x) }}").find("unterminated string") != std::string::npos);
}
