// crmsync connector SDK: readers of CRM JSON for connectors, header-only, over nlohmann_json
// (a connector using this header links nlohmann_json::nlohmann_json, itself header-only).
//
// CRMs send the same field in several JSON types (ids as numbers or digit strings, flags as bool
// or 0/1, money as numbers or decimal strings). Each reader accepts exactly the spellings it
// names and answers nullopt for anything else, so that a field that changes type is reported,
// not guessed. Money never passes through floating-point arithmetic.
#ifndef CRMSYNC_CONNECTOR_JSON_HPP
#define CRMSYNC_CONNECTOR_JSON_HPP

#include <crmsync/connector.hpp>
#include <crmsync/connector_money.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace crmsync::sdk {

// The JSON document type of the readers.
using Json = nlohmann::json;

// The deepest nesting of arrays and objects any JSON this SDK parses may have. Deeper documents
// are refused before they are parsed: reading them back (serialising, walking, JSONPath's '..')
// recurses once per level, and no CRM nests its data anywhere near this deep.
inline constexpr size_t kMaxJsonDepth = 256;

// Whether the arrays and objects of a JSON text nest at most max_depth deep (brackets inside
// strings ignored). One pass over the bytes without allocating: for a valid document it is its
// exact depth, and an invalid one is refused by the parser anyway.
inline bool json_depth_within(std::string_view text, size_t max_depth = kMaxJsonDepth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Parses JSON from outside (a CRM's answer, a webhook, a cursor, settings): a discarded value
// (is_discarded()) when it is not JSON; throws Error(INVALID_INPUT, "<what> nests deeper than 256
// levels") when it nests deeper than kMaxJsonDepth. `what` names it ("the amoCRM answer").
inline Json parse_json(std::string_view text, std::string_view what) {
  if (!json_depth_within(text)) {
    throw Error(CRMSYNC_E_INVALID_INPUT, std::string(what) + " nests deeper than " +
                                             std::to_string(kMaxJsonDepth) + " levels");
  }
  return Json::parse(text, nullptr, false);
}

// text as JSON; a discarded value when it is not JSON or nests deeper than kMaxJsonDepth. For
// text whose failure the caller handles alike either way (an error body, a stored token).
inline Json try_parse_json(std::string_view text) {
  if (!json_depth_within(text)) return Json(Json::value_t::discarded);
  return Json::parse(text, nullptr, false);
}

// A JSON value as compact text, any string that is not valid UTF-8 written with U+FFFD in place
// of its invalid bytes (nlohmann's dump() throws on them): text from a CRM is not trusted to be
// UTF-8.
inline std::string dump_json(const Json& value, int indent = -1) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// The member `name` of an object; a null value when it is absent or `object` is not an object,
// so that member(member(j, "a"), "b") reads nested fields without checks.
inline const Json& member(const Json& object, std::string_view name) {
  static const Json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(name);
  return it == object.end() ? null_value : *it;
}

// The member `name` when it is a non-empty string; nullopt otherwise.
inline std::optional<std::string> text_member(const Json& object, std::string_view name) {
  const Json& value = member(object, name);
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) return std::nullopt;
  return value.get<std::string>();
}

// A JSON integer (signed or unsigned within int64_t); nullopt for any other value, digit strings
// included.
inline std::optional<int64_t> integer(const Json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<int64_t>();
  if (value.is_number_unsigned() && value.get<uint64_t>() <= INT64_MAX) {
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  return std::nullopt;
}

// A JSON integer, or its decimal text ("-1", "42"); nullopt for anything else.
inline std::optional<int64_t> integer_or_text(const Json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    int64_t out = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out);
    if (ec == std::errc() && ptr == end && !text.empty()) return out;
    return std::nullopt;
  }
  return integer(value);
}

// An id given as a JSON integer or a string of 1 to max_length ASCII digits, as text; nullopt
// otherwise.
inline std::optional<std::string> id_text(const Json& value,
                                          size_t max_length = std::string::npos) {
  if (value.is_number_unsigned() || value.is_number_integer()) return value.dump();
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!text.empty() && text.size() <= max_length &&
        text.find_first_not_of("0123456789") == std::string::npos) {
      return text;
    }
  }
  return std::nullopt;
}

// A flag given as a bool, the number 0 or 1, or the text "0" or "1"; nullopt for anything else.
inline std::optional<bool> flag(const Json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (const auto n = integer(value); n && (*n == 0 || *n == 1)) return *n == 1;
  if (value.is_string() && (value == "0" || value == "1")) return value == "1";
  return std::nullopt;
}

// A JSON number as plain decimal text: an integer as written, a fraction as the shortest text
// that reads back as the same double in fixed notation, which is the decimal the sender wrote
// (for up to 15 significant digits): 1500.5 → "1500.5", 2 → "2". nullopt for non-numbers.
inline std::optional<std::string> number_text(const Json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (!value.is_number_float()) return std::nullopt;
  char buffer[512];
  const auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof buffer, value.get<double>(), std::chars_format::fixed);
  if (ec != std::errc()) return std::nullopt;
  return std::string(buffer, end);
}

// A money value, a JSON number or a decimal string, in minor units (see decimal_minor); nullopt
// when it is neither or has fractions of a minor unit.
inline std::optional<int64_t> money_minor(const Json& value) {
  if (value.is_string()) return decimal_minor(value.get_ref<const std::string&>());
  const auto text = number_text(value);
  return text ? decimal_minor(*text) : std::nullopt;
}

// Parses a body that must be a JSON object; throws Error(code, "<what> is not JSON") or
// Error(code, "<what> is not a JSON object") otherwise, as parse_json past kMaxJsonDepth. `what`
// names it for the admin
// ("amoCRM token answer").
inline Json parse_object(std::string_view body, int32_t code, std::string_view what) {
  Json json = parse_json(body, what);
  if (json.is_discarded()) throw Error(code, std::string(what) + " is not JSON");
  if (!json.is_object()) throw Error(code, std::string(what) + " is not a JSON object");
  return json;
}

// Parses a connector's settings (OpenArgs::config_json), which must be a JSON object; throws
// Error(INVALID_CONFIG, "<label> settings must be an object") otherwise. label names the CRM.
inline Json parse_settings(std::string_view config_json, std::string_view label) {
  Json json = parse_json(config_json, std::string(label) + " settings");
  if (!json.is_object()) {
    throw Error(CRMSYNC_E_INVALID_CONFIG, std::string(label) + " settings must be an object");
  }
  return json;
}

// Reads the optional integer setting `name` of settings into out (left alone when absent);
// throws Error(INVALID_CONFIG, "<label> setting <name> must be <low>..<high>") when it is present
// but not a JSON integer in that range.
inline void integer_setting(const Json& settings, std::string_view name, int64_t low, int64_t high,
                            int64_t& out, std::string_view label) {
  const Json& value = member(settings, name);
  if (value.is_null()) return;
  const auto n = integer(value);
  if (!n || *n < low || *n > high) {
    throw Error(CRMSYNC_E_INVALID_CONFIG, std::string(label) + " setting " + std::string(name) +
                                              " must be " + std::to_string(low) + ".." +
                                              std::to_string(high));
  }
  out = *n;
}

// A fetch cursor that a connector wrote as a JSON object, read field by field. An empty text is
// the first run's cursor (every field absent); a text the connector cannot have written throws
// Error(INVALID_INPUT, invalid_message), so a corrupted cursor is reported, never half-read.
class CursorReader {
 public:
  // Parses text; throws when it is neither empty nor a JSON object. invalid_message is the whole
  // message ("Not a YCLIENTS cursor: …"; leave the text out where it may hold personal data).
  CursorReader(std::string_view text, std::string invalid_message)
      : message_(std::move(invalid_message)) {
    if (text.empty()) return;
    if (!json_depth_within(text)) invalid();
    json_ = Json::parse(text, nullptr, false);
    if (!json_.is_object()) invalid();
  }

  // The field `name`; a null value when absent.
  const Json& field(std::string_view name) const { return member(json_, name); }

  // An integer field of at least `low`; nullopt when absent, throws when it is anything else.
  std::optional<int64_t> integer_field(std::string_view name, int64_t low = INT64_MIN) const {
    const Json& value = field(name);
    if (value.is_null()) return std::nullopt;
    const auto n = integer(value);
    if (!n || *n < low) invalid();
    return n;
  }

  // A string field; nullopt when absent, throws when it is anything else.
  std::optional<std::string> text_field(std::string_view name) const {
    const Json& value = field(name);
    if (value.is_null()) return std::nullopt;
    if (!value.is_string()) invalid();
    return value.get<std::string>();
  }

  // A time field read with parse (parse_rfc3339, parse_local_time or the connector's own reader
  // returning std::optional<int64_t>); nullopt when absent, throws when parse refuses it.
  template <class Parse>
  std::optional<int64_t> time_field(std::string_view name, Parse parse) const {
    const auto text = text_field(name);
    if (!text) return std::nullopt;
    const std::optional<int64_t> time = parse(*text);
    if (!time) invalid();
    return time;
  }

  // Throws Error(INVALID_INPUT, invalid_message), for checks the connector adds.
  [[noreturn]] void invalid() const { throw Error(CRMSYNC_E_INVALID_INPUT, message_); }

 private:
  Json json_;  // null for the empty cursor
  std::string message_;
};

}  // namespace crmsync::sdk

#endif  // CRMSYNC_CONNECTOR_JSON_HPP
