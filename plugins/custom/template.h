// `{{ … }}` templates of the custom connector: the subset of Jinja2 the spec's field mappings
// and request templates need (spec 8.1.7: `{{ response.data.id }}`).
//
// A template is literal text with placeholders. A placeholder is a path (`response.data.id`,
// `items[0].price`, `data["total sum"]`) followed by filters chained with `|`: `default("x")`,
// `lower`, `upper` (ASCII letters), `trim`, `replace("a", "b")`. Strings render as they are,
// numbers and booleans as JSON writes them, objects and arrays as compact JSON. A path that reaches
// nothing (or null) is an error naming the path, unless a default() filter gives a value. Written
// by hand: Debian packages no Jinja2 engine for C++ (inja is not packaged), and the subset is
// small.
#ifndef CRMSYNC_CUSTOM_TEMPLATE_H
#define CRMSYNC_CUSTOM_TEMPLATE_H

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <crmsync/connector_json.hpp>
#include <nlohmann/json.hpp>

#include "base/result.h"

namespace crmsync::custom {

namespace internal {
struct TemplatePart;
}  // namespace internal

// Where a template's names are looked up without copying anything: a path whose first name is
// one of roots starts there; any other path starts in members (a record's fields), when given.
struct TemplateScope {
  std::vector<std::pair<std::string_view, const nlohmann::json*>> roots;
  const nlohmann::json* members = nullptr;
};

// A compiled template. Cheap to copy; thread-safe.
class Template {
 public:
  // The empty template: renders "".
  Template();

  // Parses text. Bad syntax or an unknown filter gives INVALID_CONFIG naming the position.
  static Result<Template> compile(std::string_view text);

  // Renders the template with names resolved in context (a JSON object). A missing value
  // without default() gives INVALID_INPUT: "{{ response.data.id }}: response.data.id matched
  // nothing".
  Result<std::string> render(const nlohmann::json& context) const {
    return render(TemplateScope{{}, &context});
  }
  // The same with names resolved in scope.
  Result<std::string> render(const TemplateScope& scope) const;

  // The template text as given to compile().
  const std::string& text() const noexcept { return text_; }

 private:
  Template(std::string text, std::shared_ptr<const std::vector<internal::TemplatePart>> parts)
      : text_(std::move(text)), parts_(std::move(parts)) {}

  std::string text_;
  std::shared_ptr<const std::vector<internal::TemplatePart>> parts_;
};

}  // namespace crmsync::custom

#endif  // CRMSYNC_CUSTOM_TEMPLATE_H
