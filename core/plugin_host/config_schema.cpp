// ConfigSchema: a connector's JSON Schema compiled with valijson, and the checks of integration
// configs against it.
#define VALIJSON_USE_EXCEPTIONS 1  // a malformed schema must be an error, not an abort

// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s std::regex (which valijson uses)
// when building with sanitizers; it is not in this file's code. Clang has no such warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "plugin_host/internal.h"

namespace crmsync::plugin_host::internal {

struct ConfigSchema::Compiled {
  valijson::Schema schema;
};

ConfigSchema::ConfigSchema() : compiled_(std::make_unique<Compiled>()) {}
ConfigSchema::~ConfigSchema() = default;

Result<std::unique_ptr<ConfigSchema>> ConfigSchema::compile(std::string_view text) {
  nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded()) return fail(CRMSYNC_E_INVALID_INPUT, "config_schema is not JSON");
  if (!document.is_object() || document.value("type", "") != "object") {
    return fail(CRMSYNC_E_INVALID_INPUT,
                "config_schema must describe an object (\"type\": \"object\")");
  }
  std::unique_ptr<ConfigSchema> out(new ConfigSchema());
  try {
    // Draft 7 is the newest draft valijson implements; the keywords connectors use (type,
    // properties, required, enum, pattern, minimum...) read the same in draft 2020-12.
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, out->compiled_->schema);
  } catch (const std::exception& e) {
    return fail(CRMSYNC_E_INVALID_INPUT, std::string("config_schema: ") + e.what());
  }
  if (auto properties = document.find("properties");
      properties != document.end() && properties->is_object()) {
    for (const auto& [name, property] : properties->items()) {
      if (property.is_object() && property.value("x-secret", false) == true) {
        out->secret_fields_.push_back(name);
      }
    }
  }
  return out;
}

namespace {

// valijson's context ["<root>", "[settings]", "[0]"] as "settings[0]".
std::string field_path(const std::vector<std::string>& context) {
  std::string out;
  for (const std::string& part : context) {
    if (part.size() < 2 || part.front() != '[') continue;  // "<root>"
    std::string name = part.substr(1, part.size() - 2);
    bool index = name.find_first_not_of("0123456789") == std::string::npos;
    if (index) {
      out += part;
    } else {
      out += (out.empty() ? "" : ".") + name;
    }
  }
  return out;
}

// A valijson error as a field and what is wrong with it.
FieldError field_error(const valijson::ValidationResults::Error& error) {
  const std::string path = field_path(error.context);
  static constexpr std::string_view kMissing = "Missing required property '";
  if (error.description.rfind(kMissing, 0) == 0) {
    std::string name = error.description.substr(kMissing.size());
    name = name.substr(0, name.find('\''));
    return {path.empty() ? name : path + "." + name, "is required"};
  }
  static constexpr std::string_view kUnknown = "'additionalProperties' constraints: '";
  if (const size_t at = error.description.find(kUnknown); at != std::string::npos) {
    std::string name = error.description.substr(at + kUnknown.size());
    name = name.substr(0, name.find('\''));
    return {path.empty() ? name : path + "." + name, "is not a known setting"};
  }
  std::string text = error.description;
  if (!text.empty() && text.back() == '.') text.pop_back();
  return {path, text};
}

std::string describe(const valijson::ValidationResults::Error& error) {
  const FieldError field = field_error(error);
  if (field.message == "is required" || field.message == "is not a known setting") {
    return "field `" + field.field + "` " + field.message;
  }
  return field.field.empty() ? field.message : "field `" + field.field + "`: " + field.message;
}

// valijson reports each enclosing schema of a violation too ("Failed to validate against schema
// associated with property name 'x'"); those say nothing a form can show.
bool is_enclosing(const valijson::ValidationResults::Error& error) {
  return error.description.rfind("Failed to validate", 0) == 0;
}

}  // namespace

Result<void> ConfigSchema::validate(const nlohmann::json& config) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(config);
  if (validator.validate(compiled_->schema, adapter, &results)) return {};
  valijson::ValidationResults::Error first;
  results.popError(first);
  std::string message = "config: " + describe(first);
  // The first error is the most specific; the rest are usually its enclosing schemas.
  return fail(CRMSYNC_E_INVALID_CONFIG, message);
}

std::vector<FieldError> ConfigSchema::field_errors(const nlohmann::json& config) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(config);
  std::vector<FieldError> out;
  if (validator.validate(compiled_->schema, adapter, &results)) return out;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    if (!is_enclosing(error)) out.push_back(field_error(error));
  }
  return out;
}

}  // namespace crmsync::plugin_host::internal
