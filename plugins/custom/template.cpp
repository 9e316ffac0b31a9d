// `{{ … }}` templates: parser and renderer (see template.h).
#include "template.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <variant>

namespace crmsync::custom {

namespace internal {

using nlohmann::json;

// One step of a path: a member name or an array index.
using PathStep = std::variant<std::string, size_t>;

// A filter with its string arguments.
struct Filter {
  enum class Kind { kDefault, kLower, kUpper, kTrim, kReplace };
  Kind kind;
  std::vector<std::string> args;
};

// Literal text, or a placeholder (path and filters).
struct TemplatePart {
  std::string literal;
  bool placeholder = false;
  std::string path_text;
  std::vector<PathStep> path;
  std::vector<Filter> filters;
};

// A syntax error at a byte offset of the template.
struct TemplateSyntaxError {
  size_t position;
  std::string reason;
};

class TemplateParser {
 public:
  explicit TemplateParser(std::string_view text) : text_(text) {}

  // The template as literal text and placeholders, in order.
  std::vector<TemplatePart> parse() {
    std::vector<TemplatePart> parts;
    while (pos_ < text_.size()) {
      size_t open = text_.find("{{", pos_);
      size_t close = text_.find("}}", pos_);
      if (close < open) fail(close, "'}}' without '{{'");
      if (open == std::string_view::npos) {
        parts.push_back(TemplatePart{std::string(text_.substr(pos_)), false, {}, {}, {}});
        break;
      }
      if (open > pos_) {
        parts.push_back(
            TemplatePart{std::string(text_.substr(pos_, open - pos_)), false, {}, {}, {}});
      }
      pos_ = open + 2;
      parts.push_back(parse_placeholder());
    }
    return parts;
  }

 private:
  // Stops parsing with a syntax error at position.
  [[noreturn]] static void fail(size_t position, std::string reason) {
    throw TemplateSyntaxError{position, std::move(reason)};
  }
  [[noreturn]] void fail(std::string reason) const { fail(pos_, std::move(reason)); }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  // Skips spaces inside a placeholder.
  void skip_blanks() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  // A name: letters, digits and '_', not starting with a digit.
  std::string identifier(const char* what) {
    size_t start = pos_;
    if (std::isdigit(static_cast<unsigned char>(peek())) || !ident_char(peek())) {
      fail(std::string("expected ") + what);
    }
    while (ident_char(peek())) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // After "{{": a path, filters, "}}".
  TemplatePart parse_placeholder() {
    TemplatePart part;
    part.placeholder = true;
    skip_blanks();
    size_t path_start = pos_;
    part.path.emplace_back(identifier("a name"));
    for (;;) {
      if (peek() == '.') {
        ++pos_;
        part.path.emplace_back(identifier("a name after '.'"));
      } else if (peek() == '[') {
        ++pos_;
        if (peek() == '"' || peek() == '\'') {
          part.path.emplace_back(string_literal());
        } else {
          size_t start = pos_;
          while (std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
          if (pos_ == start || pos_ - start > 9) fail("expected an index or a quoted name");
          part.path.emplace_back(std::stoul(std::string(text_.substr(start, pos_ - start))));
        }
        if (peek() != ']') fail("expected ']'");
        ++pos_;
      } else {
        break;
      }
    }
    part.path_text = std::string(text_.substr(path_start, pos_ - path_start));
    skip_blanks();
    while (peek() == '|') {
      ++pos_;
      skip_blanks();
      part.filters.push_back(parse_filter());
      skip_blanks();
    }
    if (text_.substr(pos_, 2) != "}}") fail("expected '}}' or '|'");
    pos_ += 2;
    return part;
  }

  // A known filter with its quoted arguments.
  Filter parse_filter() {
    size_t start = pos_;
    std::string name = identifier("a filter name");
    static const std::pair<const char*, std::pair<Filter::Kind, size_t>> kFilters[] = {
        {"default", {Filter::Kind::kDefault, 1}},
        {"lower", {Filter::Kind::kLower, 0}},
        {"upper", {Filter::Kind::kUpper, 0}},
        {"trim", {Filter::Kind::kTrim, 0}},
        {"replace", {Filter::Kind::kReplace, 2}}};
    auto it = std::find_if(std::begin(kFilters), std::end(kFilters),
                           [&](const auto& f) { return name == f.first; });
    if (it == std::end(kFilters)) {
      fail(start, "unknown filter '" + name + "' (known: default, lower, upper, trim, replace)");
    }
    Filter filter{it->second.first, {}};
    skip_blanks();
    if (peek() == '(') {
      ++pos_;
      skip_blanks();
      while (peek() != ')') {
        if (!filter.args.empty()) {
          if (peek() != ',') fail("expected ',' or ')'");
          ++pos_;
          skip_blanks();
        }
        filter.args.push_back(string_literal());
        skip_blanks();
      }
      ++pos_;
    }
    if (filter.args.size() != it->second.second) {
      fail(start, "filter '" + name + "' takes " + std::to_string(it->second.second) +
                      " quoted argument(s)");
    }
    return filter;
  }

  // A "…" or '…' string with \\, \" and \' escapes.
  std::string string_literal() {
    char quote = peek();
    if (quote != '"' && quote != '\'') fail("expected a quoted string");
    ++pos_;
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_++];
      if (c == quote) return out;
      if (c == '\\' && pos_ < text_.size()) c = text_[pos_++];
      out += c;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// The value at path in scope, or nullptr.
const json* resolve(const TemplateScope& scope, const std::vector<PathStep>& path) {
  const json* node = scope.members;
  auto step_it = path.begin();
  if (const auto* first = path.empty() ? nullptr : std::get_if<std::string>(&path.front())) {
    for (const auto& [name, root] : scope.roots) {
      if (name == *first) {
        node = root;
        ++step_it;
        break;
      }
    }
  }
  if (node == nullptr) return nullptr;
  for (; step_it != path.end(); ++step_it) {
    const PathStep& step = *step_it;
    if (const auto* name = std::get_if<std::string>(&step)) {
      if (!node->is_object()) return nullptr;
      auto it = node->find(*name);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else {
      size_t index = std::get<size_t>(step);
      if (!node->is_array() || index >= node->size()) return nullptr;
      node = &(*node)[index];
    }
  }
  return node->is_null() ? nullptr : node;
}

// A value as the template shows it.
std::string text_of(const json& value) {
  return value.is_string() ? value.get<std::string>() : sdk::dump_json(value);
}

// Every occurrence of from replaced by to.
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

}  // namespace internal

Template::Template() : parts_(std::make_shared<const std::vector<internal::TemplatePart>>()) {}

Result<Template> Template::compile(std::string_view text) {
  try {
    auto parts = std::make_shared<std::vector<internal::TemplatePart>>(
        internal::TemplateParser(text).parse());
    return Template(std::string(text), std::move(parts));
  } catch (const internal::TemplateSyntaxError& e) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "invalid template " + std::string(text) +
                                              " at position " + std::to_string(e.position) + ": " +
                                              e.reason);
  }
}

Result<std::string> Template::render(const TemplateScope& scope) const {
  using internal::Filter;
  std::string out;
  for (const internal::TemplatePart& part : *parts_) {
    if (!part.placeholder) {
      out += part.literal;
      continue;
    }
    const nlohmann::json* found = internal::resolve(scope, part.path);
    std::optional<std::string> value;
    if (found != nullptr) value = internal::text_of(*found);
    for (const Filter& filter : part.filters) {
      if (filter.kind == Filter::Kind::kDefault) {
        if (!value) value = filter.args[0];
        continue;
      }
      if (!value) continue;  // a later default() may still give one
      std::string& s = *value;
      switch (filter.kind) {
        case Filter::Kind::kLower:
          std::transform(s.begin(), s.end(), s.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          break;
        case Filter::Kind::kUpper:
          std::transform(s.begin(), s.end(), s.begin(),
                         [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
          break;
        case Filter::Kind::kTrim: {
          auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
          auto first = std::find_if_not(s.begin(), s.end(), blank);
          auto last = std::find_if_not(s.rbegin(), s.rend(), blank).base();
          s = first < last ? std::string(first, last) : std::string();
          break;
        }
        case Filter::Kind::kReplace:
          s = internal::replace_all(s, filter.args[0], filter.args[1]);
          break;
        case Filter::Kind::kDefault:
          break;
      }
    }
    if (!value) {
      return fail(CRMSYNC_E_INVALID_INPUT,
                  "{{ " + part.path_text + " }}: " + part.path_text + " matched nothing");
    }
    out += *value;
  }
  return out;
}

}  // namespace crmsync::custom
