// JSONPath (RFC 9535): a recursive-descent parser to a compiled query tree, its type checker and
// its evaluator. Written by hand because Debian 12 packages no C++ JSONPath library.
#include "jsonpath.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <variant>

namespace crmsync::custom {

namespace internal {

using nlohmann::json;

// The I-JSON range indexes and slice bounds must stay in (RFC 9535 §2.1).
constexpr int64_t kMaxExactInteger = (int64_t{1} << 53) - 1;

struct Expr;
struct Segment;

// A query: absolute ($) or relative (@), and its segments.
struct Query {
  bool relative = false;
  std::vector<Segment> segments;
  // Only name and index selectors, one per segment: the query yields at most one node.
  bool singular() const;
};

// One selector of a segment.
struct Selector {
  enum class Kind { kName, kWildcard, kIndex, kSlice, kFilter };
  Kind kind = Kind::kWildcard;
  std::string name;                    // kName
  int64_t index = 0;                   // kIndex
  std::optional<int64_t> start, end;   // kSlice
  int64_t step = 1;                    // kSlice
  std::shared_ptr<const Expr> filter;  // kFilter
};

// A child ([...], .name, .*) or descendant (..) segment.
struct Segment {
  bool descendant = false;
  std::vector<Selector> selectors;
};

bool Query::singular() const {
  return std::all_of(segments.begin(), segments.end(), [](const Segment& s) {
    return !s.descendant && s.selectors.size() == 1 &&
           (s.selectors[0].kind == Selector::Kind::kName ||
            s.selectors[0].kind == Selector::Kind::kIndex);
  });
}

// The declared types of function parameters and results (RFC 9535 §2.4.1).
enum class Type { kValue, kLogical, kNodes };

// The function extensions of RFC 9535 §2.4.
enum class Function { kLength, kCount, kMatch, kSearch, kValue };

// A filter expression node.
struct Expr {
  enum class Kind { kLiteral, kQuery, kFunction, kNot, kAnd, kOr, kCompare };
  Kind kind = Kind::kLiteral;
  json literal;                                   // kLiteral
  Query query;                                    // kQuery
  Function function = Function::kLength;          // kFunction
  std::vector<std::shared_ptr<const Expr>> args;  // kFunction arguments, kNot/kAnd/kOr operands,
                                                  // kCompare left and right
  std::string op;                                 // kCompare: == != < <= > >=
};

// The result type of a function.
Type result_type(Function f) {
  switch (f) {
    case Function::kLength:
    case Function::kCount:
    case Function::kValue:
      return Type::kValue;
    case Function::kMatch:
    case Function::kSearch:
      return Type::kLogical;
  }
  return Type::kValue;
}

// A parse failure: where and why. Caught by JsonPath::compile and turned into an Error.
struct SyntaxError {
  size_t position;
  std::string reason;
};

// Recursive descent over the RFC's ABNF.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  // jsonpath-query = root-identifier segments, and nothing after it.
  Query parse_query_text() {
    if (!eat('$')) fail("a query starts with '$'");
    Query query = parse_segments(false);
    if (pos_ != text_.size()) fail("unexpected character");
    return query;
  }

 private:
  [[noreturn]] void fail(std::string reason) const { throw SyntaxError{pos_, std::move(reason)}; }
  bool at_end() const { return pos_ >= text_.size(); }
  // The character ahead of the position, or NUL at the end.
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  // Consumes c when it is next.
  bool eat(char c) {
    if (peek() != c || at_end()) return false;
    ++pos_;
    return true;
  }
  // Consumes word when it is next.
  bool eat(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  // Consumes c or fails naming what was expected.
  void expect(char c, const char* what) {
    if (!eat(c)) fail(std::string("expected ") + what);
  }
  static bool blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  // S = *B (space, tab, LF, CR).
  void skip_blanks() {
    while (!at_end() && blank(peek())) ++pos_;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  static bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  // name-first: ALPHA, '_' or any non-ASCII byte of a UTF-8 sequence.
  static bool name_first(char c) {
    return alpha(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
  }

  // segments = *(S segment): blanks are consumed only when a segment follows them.
  Query parse_segments(bool relative) {
    const Nested nested(*this);
    Query query;
    query.relative = relative;
    for (;;) {
      size_t saved = pos_;
      skip_blanks();
      if (peek() == '.' && peek(1) == '.') {
        pos_ += 2;
        Segment segment{true, {}};
        if (peek() == '[') {
          segment.selectors = parse_bracketed();
        } else if (eat('*')) {
          segment.selectors.push_back(Selector{});
        } else {
          segment.selectors.push_back(parse_shorthand_name());
        }
        query.segments.push_back(std::move(segment));
      } else if (peek() == '.') {
        ++pos_;
        Segment segment{false, {}};
        if (eat('*')) {
          segment.selectors.push_back(Selector{});
        } else {
          segment.selectors.push_back(parse_shorthand_name());
        }
        query.segments.push_back(std::move(segment));
      } else if (peek() == '[') {
        query.segments.push_back(Segment{false, parse_bracketed()});
      } else {
        pos_ = saved;
        return query;
      }
    }
  }

  // member-name-shorthand after '.' or '..'.
  Selector parse_shorthand_name() {
    if (!name_first(peek())) fail("expected a member name, '*' or '['");
    size_t start = pos_;
    while (!at_end() && (name_first(peek()) || digit(peek()))) ++pos_;
    Selector selector;
    selector.kind = Selector::Kind::kName;
    selector.name = std::string(text_.substr(start, pos_ - start));
    return selector;
  }

  // bracketed-selection = "[" S selector *(S "," S selector) S "]".
  std::vector<Selector> parse_bracketed() {
    expect('[', "'['");
    std::vector<Selector> selectors;
    for (;;) {
      skip_blanks();
      selectors.push_back(parse_selector());
      skip_blanks();
      if (eat(']')) return selectors;
      expect(',', "',' or ']'");
    }
  }

  // name, wildcard, index, slice or filter selector.
  Selector parse_selector() {
    Selector selector;
    char c = peek();
    if (c == '\'' || c == '"') {
      selector.kind = Selector::Kind::kName;
      selector.name = parse_string();
    } else if (eat('*')) {
      selector.kind = Selector::Kind::kWildcard;
    } else if (eat('?')) {
      selector.kind = Selector::Kind::kFilter;
      skip_blanks();
      auto filter = parse_or(false);
      if (!is_logical(*filter)) fail("a filter needs a test or a comparison");
      selector.filter = std::move(filter);
    } else if (c == ':' || c == '-' || digit(c)) {
      std::optional<int64_t> first;
      if (c != ':') first = parse_int();
      skip_blanks();
      if (peek() != ':') {
        selector.kind = Selector::Kind::kIndex;
        selector.index = *first;
        return selector;
      }
      selector.kind = Selector::Kind::kSlice;
      selector.start = first;
      ++pos_;
      skip_blanks();
      if (peek() == '-' || digit(peek())) {
        selector.end = parse_int();
        skip_blanks();
      }
      if (eat(':')) {
        skip_blanks();
        if (peek() == '-' || digit(peek())) selector.step = parse_int();
      }
    } else {
      fail("expected a selector");
    }
    return selector;
  }

  // int = "0" / ["-"] DIGIT1 *DIGIT, within the I-JSON range.
  int64_t parse_int() {
    size_t start = pos_;
    bool negative = eat('-');
    if (!digit(peek())) fail("expected an integer");
    if (peek() == '0' && (negative || digit(peek(1)))) fail("an integer has no leading zero");
    int64_t value = 0;
    while (digit(peek())) {
      value = value * 10 + (peek() - '0');
      if (value > kMaxExactInteger) {
        pos_ = start;
        fail("integer outside the range ±(2^53-1)");
      }
      ++pos_;
    }
    return negative ? -value : value;
  }

  // A quoted name with the RFC's escapes, returned as UTF-8.
  std::string parse_string() {
    char quote = text_[pos_++];
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      char c = text_[pos_];
      if (c == quote) {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      char e = peek();
      ++pos_;
      switch (e) {
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case '/':
          out += '/';
          break;
        case '\\':
          out += '\\';
          break;
        case 'u':
          append_utf8(out, parse_unicode_escape());
          break;
        default:
          if (e == quote) {
            out += e;
            break;
          }
          --pos_;
          fail("invalid escape in a string");
      }
    }
  }

  uint32_t parse_hex4() {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = peek();
      uint32_t digit_value;
      if (c >= '0' && c <= '9') {
        digit_value = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit_value = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit_value = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        fail("expected four hex digits after \\u");
      }
      value = value * 16 + digit_value;
      ++pos_;
    }
    return value;
  }

  // After "\u": a scalar value, a surrogate pair, never a lone surrogate.
  uint32_t parse_unicode_escape() {
    uint32_t high = parse_hex4();
    if (high >= 0xDC00 && high <= 0xDFFF) fail("lone low surrogate");
    if (high < 0xD800 || high > 0xDBFF) return high;
    if (!eat("\\u")) fail("high surrogate without its low surrogate");
    uint32_t low = parse_hex4();
    if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate without its low surrogate");
    return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
  }

  // Appends a Unicode scalar value as UTF-8.
  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // --- filter expressions -----------------------------------------------------------------

  // A logical-expr: a comparison, a negation, a conjunction or disjunction, an existence test
  // or a function of LogicalType or NodesType.
  static bool is_logical(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return false;
      case Expr::Kind::kQuery:
        return true;
      case Expr::Kind::kFunction:
        return result_type(e.function) != Type::kValue;
      default:
        return true;
    }
  }

  // A comparable: a literal, a singular query or a ValueType function.
  static bool is_comparable(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return true;
      case Expr::Kind::kQuery:
        return e.query.singular();
      case Expr::Kind::kFunction:
        return result_type(e.function) == Type::kValue;
      default:
        return false;
    }
  }

  // logical-or-expr. When bare_allowed (a function argument), a lone literal or ValueType
  // function is returned as is for the caller's type check.
  std::shared_ptr<const Expr> parse_or(bool bare_allowed) {
    const Nested nested(*this);
    auto first = parse_and(bare_allowed);
    std::vector<std::shared_ptr<const Expr>> operands{first};
    for (;;) {
      size_t saved = pos_;
      skip_blanks();
      if (!eat("||")) {
        pos_ = saved;
        break;
      }
      skip_blanks();
      operands.push_back(parse_and(false));
    }
    if (operands.size() == 1) return first;
    return combine(Expr::Kind::kOr, std::move(operands));
  }

  // logical-and-expr = basic-expr *(S "&&" S basic-expr).
  std::shared_ptr<const Expr> parse_and(bool bare_allowed) {
    size_t start = pos_;
    auto first = parse_basic(bare_allowed);
    std::vector<std::shared_ptr<const Expr>> operands{first};
    for (;;) {
      size_t saved = pos_;
      skip_blanks();
      if (!eat("&&")) {
        pos_ = saved;
        break;
      }
      skip_blanks();
      operands.push_back(parse_basic(false));
    }
    if (operands.size() == 1) return first;
    if (!is_logical(*first)) {
      pos_ = start;
      fail("'&&' needs tests or comparisons on both sides");
    }
    return combine(Expr::Kind::kAnd, std::move(operands));
  }

  // An AND or OR node; every operand must be logical.
  std::shared_ptr<const Expr> combine(Expr::Kind kind,
                                      std::vector<std::shared_ptr<const Expr>> operands) {
    for (const auto& operand : operands) {
      if (!is_logical(*operand)) fail("logical operators need tests or comparisons");
    }
    auto e = std::make_shared<Expr>();
    e->kind = kind;
    e->args = std::move(operands);
    return e;
  }

  // basic-expr: a paren-expr, a comparison or a test, with an optional '!'.
  std::shared_ptr<const Expr> parse_basic(bool bare_allowed) {
    size_t start = pos_;
    if (eat('!')) {
      skip_blanks();
      std::shared_ptr<const Expr> operand;
      if (peek() == '(') {
        operand = parse_paren();
      } else {
        operand = parse_primary();
        if (operand->kind == Expr::Kind::kLiteral || !is_logical(*operand)) {
          pos_ = start;
          fail("'!' needs a test or a parenthesized expression");
        }
      }
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::kNot;
      e->args.push_back(std::move(operand));
      return e;
    }
    if (peek() == '(') return parse_paren();
    auto left = parse_primary();
    size_t after_left = pos_;
    skip_blanks();
    static constexpr std::string_view kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (std::string_view op : kOps) {
      if (!eat(op)) continue;
      skip_blanks();
      size_t right_start = pos_;
      auto right = parse_primary();
      if (!is_comparable(*left)) {
        pos_ = start;
        fail("only literals, singular queries and value functions can be compared");
      }
      if (!is_comparable(*right)) {
        pos_ = right_start;
        fail("only literals, singular queries and value functions can be compared");
      }
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::kCompare;
      e->op = std::string(op);
      e->args = {std::move(left), std::move(right)};
      return e;
    }
    pos_ = after_left;
    if (!bare_allowed && !is_logical(*left)) {
      pos_ = start;
      fail(left->kind == Expr::Kind::kLiteral ? "a literal alone is not a test"
                                              : "a value function alone is not a test");
    }
    return left;
  }

  // paren-expr: the inner expression, marked logical by wrapping it in a one-operand AND.
  std::shared_ptr<const Expr> parse_paren() {
    expect('(', "'('");
    skip_blanks();
    auto inner = parse_or(false);
    skip_blanks();
    expect(')', "')'");
    if (!is_logical(*inner)) fail("a parenthesized expression must be a test or a comparison");
    return combine(Expr::Kind::kAnd, {std::move(inner)});
  }

  // A literal, a query (@... or $...) or a function call.
  std::shared_ptr<const Expr> parse_primary() {
    auto e = std::make_shared<Expr>();
    char c = peek();
    if (c == '@' || c == '$') {
      ++pos_;
      e->kind = Expr::Kind::kQuery;
      e->query = parse_segments(c == '@');
    } else if (c == '\'' || c == '"') {
      e->literal = parse_string();
    } else if (c == '-' || digit(c)) {
      e->literal = parse_number();
    } else if (eat("true")) {
      e->literal = true;
    } else if (eat("false")) {
      e->literal = false;
    } else if (eat("null")) {
      e->literal = nullptr;
    } else if (c >= 'a' && c <= 'z') {
      return parse_function();
    } else {
      fail("expected a literal, a query or a function");
    }
    if (e->kind == Expr::Kind::kLiteral && (name_first(peek()) || digit(peek()))) {
      fail("unexpected character after a literal");
    }
    return e;
  }

  // number = (int / "-0") [ frac ] [ exp ]
  json parse_number() {
    size_t start = pos_;
    eat('-');
    if (!digit(peek())) fail("expected a number");
    if (peek() == '0' && digit(peek(1))) fail("a number has no leading zero");
    while (digit(peek())) ++pos_;
    bool integral = true;
    if (eat('.')) {
      integral = false;
      if (!digit(peek())) fail("expected digits after '.'");
      while (digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digit(peek())) fail("expected digits in the exponent");
      while (digit(peek())) ++pos_;
    }
    std::string text(text_.substr(start, pos_ - start));
    if (integral && text.size() < 16) return std::stoll(text);
    // Beyond a double's range (1e400) is an error; below it (1e-400) the number reads as 0.
    errno = 0;
    const double value = std::strtod(text.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(value)) fail("number out of range");
    return value;
  }

  // function-expr: a known function with well-typed arguments.
  std::shared_ptr<const Expr> parse_function() {
    size_t start = pos_;
    while (!at_end() && ((peek() >= 'a' && peek() <= 'z') || peek() == '_' || digit(peek()))) {
      ++pos_;
    }
    std::string_view name = text_.substr(start, pos_ - start);
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::kFunction;
    std::vector<Type> params;
    if (name == "length") {
      e->function = Function::kLength;
      params = {Type::kValue};
    } else if (name == "count") {
      e->function = Function::kCount;
      params = {Type::kNodes};
    } else if (name == "match") {
      e->function = Function::kMatch;
      params = {Type::kValue, Type::kValue};
    } else if (name == "search") {
      e->function = Function::kSearch;
      params = {Type::kValue, Type::kValue};
    } else if (name == "value") {
      e->function = Function::kValue;
      params = {Type::kNodes};
    } else {
      pos_ = start;
      fail("unknown function '" + std::string(name) + "'");
    }
    expect('(', "'(' after a function name");
    skip_blanks();
    if (peek() != ')') {
      for (;;) {
        size_t arg_start = pos_;
        auto arg = parse_or(true);
        if (e->args.size() >= params.size()) {
          pos_ = arg_start;
          fail(std::string(name) + "() takes " + std::to_string(params.size()) + " argument(s)");
        }
        if (!fits(*arg, params[e->args.size()])) {
          pos_ = arg_start;
          fail("argument " + std::to_string(e->args.size() + 1) + " of " + std::string(name) +
               "() has the wrong type");
        }
        e->args.push_back(std::move(arg));
        skip_blanks();
        if (!eat(',')) break;
        skip_blanks();
      }
    }
    expect(')', "')' closing the function call");
    if (e->args.size() != params.size()) {
      fail(std::string(name) + "() takes " + std::to_string(params.size()) + " argument(s)");
    }
    return e;
  }

  // The RFC's well-typedness rules for an argument of declared type param (§2.4.3).
  static bool fits(const Expr& arg, Type param) {
    switch (param) {
      case Type::kValue:
        return is_comparable(arg);
      case Type::kNodes:
        return arg.kind == Expr::Kind::kQuery ||
               (arg.kind == Expr::Kind::kFunction && result_type(arg.function) == Type::kNodes);
      case Type::kLogical:
        return is_logical(arg);
    }
    return false;
  }

  // Counts the expressions and queries being parsed inside each other: the parser (and the
  // evaluation of its tree) recurses once per level, so settings may not nest them deeply.
  struct Nested {
    explicit Nested(Parser& parser) : parser(parser) {
      if (++parser.depth_ > kMaxQueryNesting) {
        parser.fail("nested deeper than " + std::to_string(kMaxQueryNesting) + " levels");
      }
    }
    ~Nested() { --parser.depth_; }
    Nested(const Nested&) = delete;
    Nested& operator=(const Nested&) = delete;
    Parser& parser;
  };
  static constexpr int kMaxQueryNesting = 64;

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// --- evaluation -----------------------------------------------------------------------------

using Nodes = std::vector<const json*>;

// A ValueType result: Nothing, a node of the document, or a value a function computed.
struct Value {
  std::variant<std::monostate, const json*, json> v;
  bool nothing() const { return v.index() == 0; }
  const json& get() const { return v.index() == 1 ? *std::get<1>(v) : std::get<2>(v); }
};

// One selector applied to node's children.
void select_children(const json& node, const Selector& s, const json& root, Nodes& out);

// A segment's selectors on node, and on every descendant for '..'.
void apply_segment(const Segment& segment, const json& node, const json& root, Nodes& out) {
  for (const Selector& s : segment.selectors) select_children(node, s, root, out);
  if (!segment.descendant || !node.is_structured()) return;
  for (const json& child : node) apply_segment(segment, child, root, out);
}

// The nodelist of a query from the current node (@) or the root ($).
Nodes evaluate(const Query& query, const json& current, const json& root) {
  Nodes nodes{query.relative ? &current : &root};
  for (const Segment& segment : query.segments) {
    Nodes next;
    for (const json* node : nodes) apply_segment(segment, *node, root, next);
    nodes = std::move(next);
  }
  return nodes;
}

// A logical expression's truth for the current node.
bool test(const Expr& e, const json& current, const json& root);

// UTF-8 scalar values in s.
size_t scalar_count(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// I-Regexp match (whole string) or search (any substring); false for an invalid pattern.
bool regex_test(const std::string& subject, const std::string& pattern, bool whole) {
  auto translated = iregexp_to_pcre2(pattern);
  if (!translated) return false;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated->data()), translated->size(),
                    PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) return false;
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(code, nullptr);
  int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                       whole ? (PCRE2_ANCHORED | PCRE2_ENDANCHORED) : 0u, match, nullptr);
  pcre2_match_data_free(match);
  pcre2_code_free(code);
  return rc >= 0;
}

// A comparable's or ValueType argument's value.
Value value_of(const Expr& e, const json& current, const json& root) {
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return Value{&e.literal};
    case Expr::Kind::kQuery: {
      Nodes nodes = evaluate(e.query, current, root);
      if (nodes.size() == 1) return Value{nodes[0]};
      return Value{};
    }
    case Expr::Kind::kFunction: {
      if (e.function == Function::kLength) {
        Value arg = value_of(*e.args[0], current, root);
        if (arg.nothing()) return Value{};
        const json& v = arg.get();
        if (v.is_string()) return Value{json(scalar_count(v.get_ref<const std::string&>()))};
        if (v.is_structured()) return Value{json(v.size())};
        return Value{};
      }
      Nodes nodes = evaluate(e.args[0]->query, current, root);
      if (e.function == Function::kCount) return Value{json(nodes.size())};
      if (nodes.size() == 1) return Value{nodes[0]};
      return Value{};
    }
    default:
      break;
  }
  std::abort();  // the parser admits only literals, singular queries and value functions here
}

// == of RFC 9535 §2.3.5.2.2: Nothing equals only Nothing; numbers by value.
bool equal(const Value& a, const Value& b) {
  if (a.nothing() || b.nothing()) return a.nothing() && b.nothing();
  return a.get() == b.get();
}

// <: numbers with numbers, strings with strings by code point; otherwise false.
bool less(const Value& a, const Value& b) {
  if (a.nothing() || b.nothing()) return false;
  const json& x = a.get();
  const json& y = b.get();
  if (x.is_number() && y.is_number()) return x < y;
  if (x.is_string() && y.is_string()) {
    return x.get_ref<const std::string&>() < y.get_ref<const std::string&>();
  }
  return false;
}

// A comparison-expr.
bool compare(const Expr& e, const json& current, const json& root) {
  Value a = value_of(*e.args[0], current, root);
  Value b = value_of(*e.args[1], current, root);
  const std::string& op = e.op;
  if (op == "==") return equal(a, b);
  if (op == "!=") return !equal(a, b);
  if (op == "<") return less(a, b);
  if (op == ">") return less(b, a);
  if (op == "<=") return less(a, b) || equal(a, b);
  return less(b, a) || equal(a, b);
}

bool test(const Expr& e, const json& current, const json& root) {
  switch (e.kind) {
    case Expr::Kind::kQuery:
      return !evaluate(e.query, current, root).empty();
    case Expr::Kind::kNot:
      return !test(*e.args[0], current, root);
    case Expr::Kind::kAnd:
      return std::all_of(e.args.begin(), e.args.end(),
                         [&](const auto& a) { return test(*a, current, root); });
    case Expr::Kind::kOr:
      return std::any_of(e.args.begin(), e.args.end(),
                         [&](const auto& a) { return test(*a, current, root); });
    case Expr::Kind::kCompare:
      return compare(e, current, root);
    case Expr::Kind::kFunction: {
      Value subject = value_of(*e.args[0], current, root);
      Value pattern = value_of(*e.args[1], current, root);
      if (subject.nothing() || pattern.nothing() || !subject.get().is_string() ||
          !pattern.get().is_string()) {
        return false;
      }
      return regex_test(subject.get().get_ref<const std::string&>(),
                        pattern.get().get_ref<const std::string&>(),
                        e.function == Function::kMatch);
    }
    case Expr::Kind::kLiteral:
      break;
  }
  std::abort();  // the parser admits no literal as a test
}

// The RFC's slice bounds (§2.3.4.2.2).
void select_slice(const json& array, const Selector& s, Nodes& out) {
  const int64_t len = static_cast<int64_t>(array.size());
  const int64_t step = s.step;
  if (step == 0) return;
  auto normalize = [&](int64_t i) { return i >= 0 ? i : len + i; };
  int64_t start = s.start ? normalize(*s.start) : (step > 0 ? 0 : len - 1);
  int64_t end = s.end ? normalize(*s.end) : (step > 0 ? len : -len - 1);
  if (step > 0) {
    int64_t lower = std::min(std::max(start, int64_t{0}), len);
    int64_t upper = std::min(std::max(end, int64_t{0}), len);
    for (int64_t i = lower; i < upper; i += step) out.push_back(&array[static_cast<size_t>(i)]);
  } else {
    int64_t upper = std::min(std::max(start, int64_t{-1}), len - 1);
    int64_t lower = std::min(std::max(end, int64_t{-1}), len - 1);
    for (int64_t i = upper; lower < i; i += step) out.push_back(&array[static_cast<size_t>(i)]);
  }
}

void select_children(const json& node, const Selector& s, const json& root, Nodes& out) {
  switch (s.kind) {
    case Selector::Kind::kName: {
      if (!node.is_object()) return;
      auto it = node.find(s.name);
      if (it != node.end()) out.push_back(&*it);
      return;
    }
    case Selector::Kind::kWildcard:
      if (node.is_structured()) {
        for (const json& child : node) out.push_back(&child);
      }
      return;
    case Selector::Kind::kIndex: {
      if (!node.is_array()) return;
      const int64_t len = static_cast<int64_t>(node.size());
      int64_t i = s.index >= 0 ? s.index : len + s.index;
      if (i >= 0 && i < len) out.push_back(&node[static_cast<size_t>(i)]);
      return;
    }
    case Selector::Kind::kSlice:
      if (node.is_array()) select_slice(node, s, out);
      return;
    case Selector::Kind::kFilter:
      if (node.is_structured()) {
        for (const json& child : node) {
          if (test(*s.filter, child, root)) out.push_back(&child);
        }
      }
      return;
  }
}

// --- I-Regexp -------------------------------------------------------------------------------

// Translates RFC 9485's grammar to PCRE2, one production at a time.
class IRegexpTranslator {
 public:
  explicit IRegexpTranslator(std::string_view p) : p_(p) {}

  // The whole pattern as PCRE2; false when it is not an I-Regexp.
  bool translate(std::string& out) {
    if (!branches(out)) return false;
    return pos_ == p_.size();
  }

 private:
  char peek() const { return pos_ < p_.size() ? p_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= p_.size(); }

  // i-regexp = branch *( "|" branch )
  bool branches(std::string& out) {
    for (;;) {
      while (!at_end() && peek() != '|' && peek() != ')') {
        if (!piece(out)) return false;
      }
      if (peek() != '|') return true;
      out += '|';
      ++pos_;
    }
  }

  // piece = atom [ quantifier ].
  bool piece(std::string& out) {
    if (!atom(out)) return false;
    char c = peek();
    if (c == '*' || c == '+' || c == '?') {
      out += c;
      ++pos_;
    } else if (c == '{') {
      // "{" QuantExact [ "," [ QuantExact ] ] "}"
      size_t start = pos_++;
      if (!digits()) return false;
      if (peek() == ',') {
        ++pos_;
        digits();
      }
      if (peek() != '}') return false;
      ++pos_;
      out.append(p_.substr(start, pos_ - start));
    }
    return true;
  }

  // QuantExact = 1*DIGIT.
  bool digits() {
    size_t start = pos_;
    while (peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  // atom = NormalChar / charClass / "(" i-regexp ")".
  bool atom(std::string& out) {
    char c = peek();
    switch (c) {
      case '(':
        ++pos_;
        out += "(?:";
        if (!branches(out) || peek() != ')') return false;
        ++pos_;
        out += ')';
        return true;
      case '.':
        ++pos_;
        out += "[^\\n\\r]";
        return true;
      case '[':
        return class_expr(out);
      case '\\':
        return escape(out);
      case ')':
      case '*':
      case '+':
      case '?':
      case ']':
      case '{':
      case '}':
      case '|':
        return false;
      case '^':
        // RFC 9485's grammar reads '^' and '$' as plain characters, but the JSONPath compliance
        // suite (what implementations agree on) reads them as anchors.
        ++pos_;
        out += "\\A";
        return true;
      case '$':
        ++pos_;
        out += "\\z";
        return true;
      default:
        ++pos_;
        out += c;
        return true;
    }
  }

  // SingleCharEsc, catEsc or complEsc, copied: PCRE2 reads them the same way.
  bool escape(std::string& out) {
    ++pos_;
    char c = peek();
    static constexpr std::string_view kSingle = "()*+-.?[\\]^nrt{|}";
    if (!at_end() && kSingle.find(c) != std::string_view::npos) {
      ++pos_;
      out += '\\';
      out += c;
      return true;
    }
    if (c == 'p' || c == 'P') {
      ++pos_;
      if (peek() != '{') return false;
      size_t start = ++pos_;
      while (!at_end() && peek() != '}') ++pos_;
      if (at_end()) return false;
      std::string_view property = p_.substr(start, pos_ - start);
      ++pos_;
      if (!category(property)) return false;
      out += '\\';
      out += c;
      out += '{';
      out.append(property);
      out += '}';
      return true;
    }
    return false;
  }

  // IsCategory: a Unicode general category the grammar names.
  static bool category(std::string_view p) {
    if (p.empty() || p.size() > 2) return false;
    static constexpr std::pair<char, std::string_view> kCategories[] = {
        {'L', "lmotu"}, {'M', "cen"},  {'N', "dlo"}, {'P', "cdefios"},
        {'Z', "lps"},   {'S', "ckmo"}, {'C', "cfno"}};
    for (const auto& [major, minors] : kCategories) {
      if (p[0] != major) continue;
      return p.size() == 1 || minors.find(p[1]) != std::string_view::npos;
    }
    return false;
  }

  // charClassExpr = "[" [ "^" ] ( "-" / CCE1 ) *CCE1 [ "-" ] "]"
  bool class_expr(std::string& out) {
    ++pos_;
    out += '[';
    if (peek() == '^') {
      ++pos_;
      out += '^';
    }
    bool first = true;
    for (;;) {
      char c = peek();
      if (at_end()) return false;
      if (c == ']') {
        if (first) return false;
        ++pos_;
        out += ']';
        return true;
      }
      if (c == '-') {
        // A '-' is literal only first or last.
        bool last = pos_ + 1 < p_.size() && p_[pos_ + 1] == ']';
        if (!first && !last) return false;
        ++pos_;
        out += "\\-";
        first = false;
        continue;
      }
      if (c == '\\' && pos_ + 1 < p_.size() && (p_[pos_ + 1] == 'p' || p_[pos_ + 1] == 'P')) {
        if (!escape(out)) return false;
        first = false;
        continue;
      }
      if (!class_char(out)) return false;
      if (peek() == '-' && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        out += '-';
        if (!class_char(out)) return false;
      }
      first = false;
    }
  }

  // CCchar: any character but '-', '[', '\' and ']', or a SingleCharEsc.
  bool class_char(std::string& out) {
    char c = peek();
    if (c == '\\') {
      if (pos_ + 1 < p_.size() && (p_[pos_ + 1] == 'p' || p_[pos_ + 1] == 'P')) return false;
      return escape(out);
    }
    if (c == '-' || c == '[' || c == ']') return false;
    // Keep a UTF-8 sequence whole so a range endpoint is one character.
    size_t length = 1;
    auto lead = static_cast<unsigned char>(c);
    if (lead >= 0xF0) {
      length = 4;
    } else if (lead >= 0xE0) {
      length = 3;
    } else if (lead >= 0xC0) {
      length = 2;
    }
    out.append(p_.substr(pos_, length));
    pos_ += length;
    return true;
  }

  std::string_view p_;
  size_t pos_ = 0;
};

}  // namespace internal

Result<JsonPath> JsonPath::compile(std::string_view query) {
  try {
    internal::Parser parser(query);
    auto compiled = std::make_shared<internal::Query>(parser.parse_query_text());
    return JsonPath(std::string(query), std::move(compiled));
  } catch (const internal::SyntaxError& e) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "invalid JSONPath " + std::string(query) +
                                              " at position " + std::to_string(e.position) + ": " +
                                              e.reason);
  }
}

std::vector<const nlohmann::json*> JsonPath::select(const nlohmann::json& document) const {
  return internal::evaluate(*query_, document, document);
}

Result<std::string> iregexp_to_pcre2(std::string_view pattern) {
  std::string out;
  if (!internal::IRegexpTranslator(pattern).translate(out)) {
    return fail(CRMSYNC_E_INVALID_INPUT, "not an I-Regexp: " + std::string(pattern));
  }
  return out;
}

}  // namespace crmsync::custom
