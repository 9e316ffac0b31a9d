// The custom connector's settings and response mapping (see custom_mapping.h).
#include "custom_mapping.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

namespace crmsync::custom {

using nlohmann::json;

const char* const kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "definitions": {
    "source": {
      "description": "A JSONPath ($.data.id), a {{ template }}, a bare path (data.id, short for {{ data.id }}), an XPath (format xml), or an object: {\"jsonpath\"|\"template\"|\"xpath\": ..., \"default\": text} or {\"const\": value}",
      "type": ["string", "object"]
    },
    "templates": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "request": {
      "type": "object",
      "properties": {
        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH"], "default": "GET"},
        "url": {"type": "string", "pattern": "^https?://", "description": "Absolute URL; may hold {{ cursor }}, {{ since }}"},
        "query": {"$ref": "#/definitions/templates"},
        "headers": {"$ref": "#/definitions/templates"},
        "body": {"description": "A JSON value whose strings are templates, or a template string"},
        "body_format": {"type": "string", "enum": ["json", "form"], "default": "json"}
      },
      "required": ["url"],
      "additionalProperties": false
    }
  },
  "properties": {
    "name": {"type": "string", "description": "The CRM's name, shown by the connection test"},
    "request": {"$ref": "#/definitions/request"},
    "auth": {
      "type": "object",
      "properties": {
        "type": {"type": "string", "enum": ["none", "basic", "bearer", "api_key", "oauth2"]},
        "username": {"type": "string", "description": "basic: the user name (password: the secret setting password)"},
        "in": {"type": "string", "enum": ["header", "query"], "default": "header", "description": "api_key: where the key goes"},
        "name": {"type": "string", "description": "api_key: the header or query parameter name (value: the secret setting api_key)"},
        "token_url": {"type": "string", "pattern": "^https?://", "description": "oauth2: the token endpoint"},
        "client_id": {"type": "string", "description": "oauth2: the client id (client_secret: the secret setting)"},
        "grant": {"type": "string", "enum": ["client_credentials", "refresh_token"], "default": "client_credentials"},
        "scope": {"type": "string"}
      },
      "required": ["type"],
      "additionalProperties": false
    },
    "password": {"type": "string", "x-secret": true, "description": "basic: the password"},
    "token": {"type": "string", "x-secret": true, "description": "bearer: the token"},
    "api_key": {"type": "string", "x-secret": true, "description": "api_key: the key"},
    "client_secret": {"type": "string", "x-secret": true, "description": "oauth2: the client secret"},
    "refresh_token": {"type": "string", "x-secret": true, "description": "oauth2 refresh_token grant: the first refresh token; rotated ones are kept by crmsync"},
    "format": {"type": "string", "enum": ["json", "xml"], "default": "json"},
    "pagination": {
      "type": "object",
      "properties": {
        "type": {"type": "string", "enum": ["none", "page", "offset", "cursor", "next_link"]},
        "param": {"type": "string", "description": "page / offset / cursor query parameter"},
        "start": {"type": "integer", "minimum": 0, "description": "first page (default 1) or offset (default 0)"},
        "size_param": {"type": "string"},
        "size": {"type": "integer", "minimum": 1},
        "next": {"$ref": "#/definitions/source", "description": "cursor / next_link: where the response gives the next cursor or URL"},
        "max_pages": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 100}
      },
      "required": ["type"],
      "additionalProperties": false
    },
    "records": {"type": "string", "description": "JSONPath (format json) or XPath (format xml) selecting the records; default: the whole response"},
    "mapping": {
      "type": "object",
      "properties": {
        "external_id": {"$ref": "#/definitions/source"},
        "transaction_id": {"$ref": "#/definitions/source", "description": "the spec's name of external_id"},
        "amount": {"$ref": "#/definitions/source"},
        "occurred_at": {"$ref": "#/definitions/source"},
        "customer_phone": {"$ref": "#/definitions/source"},
        "customer_ref": {"$ref": "#/definitions/source"},
        "currency": {"$ref": "#/definitions/source"},
        "description": {"$ref": "#/definitions/source"},
        "filter": {"description": "a source, or {\"source\": ..., \"equals\": value} / {\"source\": ..., \"in\": [values]}"}
      },
      "required": ["amount", "occurred_at"],
      "additionalProperties": false
    },
    "cursor": {
      "type": "object",
      "properties": {
        "field": {"type": "string", "enum": ["external_id", "occurred_at", "amount", "customer_phone", "customer_ref", "currency", "description"], "description": "a mapped field whose greatest value is the next {{ cursor }}"},
        "source": {"$ref": "#/definitions/source", "description": "or any source, e.g. $.updated_at"},
        "initial": {"type": "string"},
        "since": {"type": "string", "description": "{{ since }} before the first complete pass"}
      },
      "additionalProperties": false
    },
    "push_bonus": {"$ref": "#/definitions/request"}
  },
  "required": ["request", "mapping"],
  "additionalProperties": false
})json";

namespace {

// The mapping fields a record has, in the order errors report them.
constexpr const char* kFields[] = {"external_id",    "amount",       "occurred_at", "currency",
                                   "customer_phone", "customer_ref", "description"};

// An INVALID_CONFIG error naming the setting.
Error config_error(const std::string& field, const std::string& message) {
  return fail(CRMSYNC_E_INVALID_CONFIG, field + ": " + message);
}

// A string member of object, or fallback; an error when present but not a string.
Result<std::string> text_member(const json& object, const char* name, const std::string& field,
                                std::string fallback = {}) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_string()) return config_error(field + "." + name, "must be a string");
  return it->get<std::string>();
}

// A compiled template; its syntax error names the setting.
Result<Template> template_of(const std::string& text, const std::string& field) {
  auto compiled = Template::compile(text);
  if (!compiled) return config_error(field, compiled.error().message);
  return compiled;
}

// A source from its setting (see the schema's "source").
Result<Source> parse_source(const json& setting, bool xml, const std::string& field) {
  auto jsonpath = [&](const std::string& text) -> Result<Source> {
    if (xml) return config_error(field, "a JSONPath reads JSON; format is xml: use an XPath");
    auto compiled = JsonPath::compile(text);
    if (!compiled) return config_error(field, compiled.error().message);
    return Source{*compiled, std::nullopt};
  };
  auto templated = [&](const std::string& text) -> Result<Source> {
    if (xml) return config_error(field, "templates read JSON; format is xml: use an XPath");
    auto compiled = template_of(text, field);
    if (!compiled) return compiled.error();
    return Source{*compiled, std::nullopt};
  };
  auto xpath = [&](const std::string& text) -> Result<Source> {
    if (!xml) return config_error(field, "an XPath reads XML; set format to xml");
    auto compiled = XPath::compile(text);
    if (!compiled) return config_error(field, compiled.error().message);
    return Source{*compiled, std::nullopt};
  };
  if (setting.is_string()) {
    const std::string text = setting.get<std::string>();
    if (text.empty()) return config_error(field, "is empty");
    if (xml) return text.find("{{") != std::string::npos ? templated(text) : xpath(text);
    if (text.front() == '$') return jsonpath(text);
    if (text.find("{{") != std::string::npos) return templated(text);
    return templated("{{ " + text + " }}");  // a bare path, as the spec writes mappings
  }
  if (!setting.is_object()) return config_error(field, "must be a string or an object");
  Result<Source> source = config_error(field, "needs one of jsonpath, template, xpath or const");
  int kinds = 0;
  if (auto it = setting.find("const"); it != setting.end()) {
    ++kinds;
    source = Source{it->is_string() ? it->get<std::string>() : it->dump(), std::nullopt};
  }
  for (const char* kind : {"jsonpath", "template", "xpath"}) {
    auto it = setting.find(kind);
    if (it == setting.end()) continue;
    ++kinds;
    if (!it->is_string()) return config_error(field + "." + kind, "must be a string");
    const std::string text = it->get<std::string>();
    source = kind[0] == 'j' ? jsonpath(text) : kind[0] == 't' ? templated(text) : xpath(text);
  }
  if (kinds > 1) return config_error(field, "give only one of jsonpath, template, xpath or const");
  if (!source) return source;
  if (auto it = setting.find("default"); it != setting.end()) {
    source->fallback = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return source;
}

// The request's query or headers map, each value a template.
Result<std::vector<std::pair<std::string, Template>>> templates_of(const json& request,
                                                                   const char* name,
                                                                   const std::string& field) {
  std::vector<std::pair<std::string, Template>> out;
  auto it = request.find(name);
  if (it == request.end()) return out;
  if (!it->is_object()) return config_error(field + "." + name, "must be an object");
  for (const auto& [key, value] : it->items()) {
    const std::string text = value.is_string() ? value.get<std::string>() : sdk::dump_json(value);
    auto compiled = template_of(text, field + "." + name + "." + key);
    if (!compiled) return compiled.error();
    out.emplace_back(key, *compiled);
  }
  return out;
}

// Checks every string of a body template compiles.
Result<void> check_body(const json& body, const std::string& field) {
  if (body.is_string()) {
    auto compiled = template_of(body.get<std::string>(), field);
    if (!compiled) return compiled.error();
  }
  if (body.is_structured()) {
    for (const auto& [key, value] : body.items()) {
      auto checked = check_body(value, field + "." + key);
      if (!checked) return checked;
    }
  }
  return {};
}

// A request template (settings request or push_bonus).
Result<RequestTemplate> parse_request(const json& setting, const std::string& field) {
  if (!setting.is_object()) return config_error(field, "must be an object");
  RequestTemplate request;
  auto method = text_member(setting, "method", field, "GET");
  if (!method) return method.error();
  request.method = *method;
  if (request.method != "GET" && request.method != "POST" && request.method != "PUT" &&
      request.method != "PATCH") {
    return config_error(field + ".method", "must be GET, POST, PUT or PATCH");
  }
  auto url = text_member(setting, "url", field);
  if (!url) return url.error();
  if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
    return config_error(field + ".url", "must be an absolute http(s) URL");
  }
  auto url_template = template_of(*url, field + ".url");
  if (!url_template) return url_template.error();
  request.url = *url_template;
  auto query = templates_of(setting, "query", field);
  if (!query) return query.error();
  request.query = std::move(*query);
  auto headers = templates_of(setting, "headers", field);
  if (!headers) return headers.error();
  request.headers = std::move(*headers);
  if (auto it = setting.find("body"); it != setting.end() && !it->is_null()) {
    auto checked = check_body(*it, field + ".body");
    if (!checked) return checked.error();
    request.body = *it;
  }
  auto format = text_member(setting, "body_format", field, "json");
  if (!format) return format.error();
  if (*format != "json" && *format != "form") {
    return config_error(field + ".body_format", "must be json or form");
  }
  request.form = *format == "form";
  if (request.form && request.body && !request.body->is_object()) {
    return config_error(field + ".body", "a form body must be an object of fields");
  }
  return request;
}

Result<int64_t> int_member(const json& object, const char* name, const std::string& field,
                           int64_t fallback, int64_t minimum) {
  auto it = object.find(name);
  if (it == object.end()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < minimum) {
    return config_error(field + "." + name, "must be an integer ≥ " + std::to_string(minimum));
  }
  return it->get<int64_t>();
}

// settings.auth; absent means no authentication.
Result<Auth> parse_auth(const json& config) {
  Auth auth;
  auto it = config.find("auth");
  if (it == config.end()) return auth;
  if (!it->is_object()) return config_error("auth", "must be an object");
  const json& setting = *it;
  auto type = text_member(setting, "type", "auth", "none");
  if (!type) return type.error();
  if (*type == "none") return auth;
  if (*type == "basic") {
    auth.type = Auth::Type::kBasic;
    auto username = text_member(setting, "username", "auth");
    if (!username) return username.error();
    if (username->empty()) return config_error("auth.username", "is required for basic auth");
    auth.username = *username;
  } else if (*type == "bearer") {
    auth.type = Auth::Type::kBearer;
  } else if (*type == "api_key") {
    auth.type = Auth::Type::kApiKey;
    auto in = text_member(setting, "in", "auth", "header");
    auto name = text_member(setting, "name", "auth");
    if (!in) return in.error();
    if (!name) return name.error();
    if (*in != "header" && *in != "query")
      return config_error("auth.in", "must be header or query");
    if (name->empty()) return config_error("auth.name", "is required for api_key auth");
    auth.in_query = *in == "query";
    auth.key_name = *name;
  } else if (*type == "oauth2") {
    auth.type = Auth::Type::kOAuth2;
    auto token_url = text_member(setting, "token_url", "auth");
    auto client_id = text_member(setting, "client_id", "auth");
    auto grant = text_member(setting, "grant", "auth", "client_credentials");
    auto scope = text_member(setting, "scope", "auth");
    if (!token_url) return token_url.error();
    if (!client_id) return client_id.error();
    if (!grant) return grant.error();
    if (!scope) return scope.error();
    if (token_url->rfind("http://", 0) != 0 && token_url->rfind("https://", 0) != 0) {
      return config_error("auth.token_url", "must be an absolute http(s) URL");
    }
    if (client_id->empty()) return config_error("auth.client_id", "is required for oauth2");
    if (*grant != "client_credentials" && *grant != "refresh_token") {
      return config_error("auth.grant", "must be client_credentials or refresh_token");
    }
    auth.token_url = *token_url;
    auth.client_id = *client_id;
    auth.refresh_grant = *grant == "refresh_token";
    auth.scope = *scope;
  } else {
    return config_error("auth.type", "must be none, basic, bearer, api_key or oauth2");
  }
  return auth;
}

// settings.pagination; absent means one request per pass.
Result<Pagination> parse_pagination(const json& config, bool xml) {
  Pagination p;
  auto it = config.find("pagination");
  if (it == config.end()) return p;
  if (!it->is_object()) return config_error("pagination", "must be an object");
  const json& setting = *it;
  auto type = text_member(setting, "type", "pagination", "none");
  if (!type) return type.error();
  static const std::map<std::string, std::pair<Pagination::Type, const char*>> kTypes = {
      {"none", {Pagination::Type::kNone, ""}},
      {"page", {Pagination::Type::kPage, "page"}},
      {"offset", {Pagination::Type::kOffset, "offset"}},
      {"cursor", {Pagination::Type::kCursor, "cursor"}},
      {"next_link", {Pagination::Type::kNextLink, ""}}};
  auto known = kTypes.find(*type);
  if (known == kTypes.end()) {
    return config_error("pagination.type", "must be none, page, offset, cursor or next_link");
  }
  p.type = known->second.first;
  auto param = text_member(setting, "param", "pagination", known->second.second);
  auto size_param = text_member(setting, "size_param", "pagination");
  if (!param) return param.error();
  if (!size_param) return size_param.error();
  p.param = *param;
  p.size_param = *size_param;
  auto start =
      int_member(setting, "start", "pagination", p.type == Pagination::Type::kPage ? 1 : 0, 0);
  auto size = int_member(setting, "size", "pagination", 0, 1);
  auto max_pages = int_member(setting, "max_pages", "pagination", 100, 1);
  if (!start) return start.error();
  if (!size) return size.error();
  if (!max_pages) return max_pages.error();
  p.start = *start;
  p.size = *size;
  p.max_pages = *max_pages;
  if (!p.size_param.empty() && p.size == 0) {
    return config_error("pagination.size", "is required with pagination.size_param");
  }
  const bool needs_next =
      p.type == Pagination::Type::kCursor || p.type == Pagination::Type::kNextLink;
  if (needs_next) {
    auto next = setting.find("next");
    if (next == setting.end()) {
      return config_error("pagination.next", "is required for " + *type + " pagination");
    }
    auto source = parse_source(*next, xml, "pagination.next");
    if (!source) return source.error();
    p.next = std::move(*source);
  }
  return p;
}

// mapping.filter: a source, or {source, equals | in}.
Result<SaleFilter> parse_filter(const json& setting, bool xml) {
  if (setting.is_object() && setting.contains("source")) {
    auto source = parse_source(setting.at("source"), xml, "mapping.filter.source");
    if (!source) return source.error();
    SaleFilter filter{std::move(*source), {}};
    auto text = [](const json& v) {
      return v.is_string() ? v.get<std::string>() : sdk::dump_json(v);
    };
    if (auto it = setting.find("equals"); it != setting.end()) filter.values.push_back(text(*it));
    if (auto it = setting.find("in"); it != setting.end()) {
      if (!it->is_array() || it->empty()) {
        return config_error("mapping.filter.in", "must be a non-empty array");
      }
      for (const json& v : *it) filter.values.push_back(text(v));
    }
    return filter;
  }
  auto source = parse_source(setting, xml, "mapping.filter");
  if (!source) return source.error();
  return SaleFilter{std::move(*source), {}};
}

}  // namespace

std::string Source::text() const {
  if (const auto* p = std::get_if<JsonPath>(&how)) return p->text();
  if (const auto* t = std::get_if<Template>(&how)) return t->text();
  if (const auto* x = std::get_if<XPath>(&how)) return x->text();
  return "the constant " + std::get<std::string>(how);
}

Result<Config> parse_config(std::string_view config_json) {
  json settings = sdk::try_parse_json(config_json);
  if (settings.is_discarded() || !settings.is_object()) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "the settings are not a JSON object");
  }
  Config config;
  auto name = text_member(settings, "name", "settings");
  if (!name) return name.error();
  config.name = *name;
  auto format = text_member(settings, "format", "settings", "json");
  if (!format) return format.error();
  if (*format != "json" && *format != "xml") return config_error("format", "must be json or xml");
  config.xml = *format == "xml";

  auto request = settings.find("request");
  if (request == settings.end()) return config_error("request", "is required");
  auto parsed_request = parse_request(*request, "request");
  if (!parsed_request) return parsed_request.error();
  config.request = std::move(*parsed_request);
  auto auth = parse_auth(settings);
  if (!auth) return auth.error();
  config.auth = std::move(*auth);
  auto pagination = parse_pagination(settings, config.xml);
  if (!pagination) return pagination.error();
  config.pagination = std::move(*pagination);

  auto records = text_member(settings, "records", "settings", config.xml ? "/*" : "$");
  if (!records) return records.error();
  if (config.xml) {
    auto compiled = XPath::compile(*records);
    if (!compiled) return config_error("records", compiled.error().message);
    config.xml_records = *compiled;
  } else {
    auto compiled = JsonPath::compile(*records);
    if (!compiled) return config_error("records", compiled.error().message);
    config.json_records = *compiled;
  }

  auto mapping = settings.find("mapping");
  if (mapping == settings.end() || !mapping->is_object()) {
    return config_error("mapping", "is required: an object of fields");
  }
  for (const auto& [key, value] : mapping->items()) {
    if (key == "filter") {
      auto filter = parse_filter(value, config.xml);
      if (!filter) return filter.error();
      config.filter = std::move(*filter);
      continue;
    }
    const std::string field = key == "transaction_id" ? "external_id" : key;
    if (std::find_if(std::begin(kFields), std::end(kFields),
                     [&](const char* f) { return field == f; }) == std::end(kFields)) {
      return config_error("mapping." + key,
                          "unknown field (known: external_id or transaction_id, amount, "
                          "occurred_at, currency, customer_phone, customer_ref, description, "
                          "filter)");
    }
    if (config.fields.count(field) != 0) {
      return config_error("mapping." + key, "external_id and transaction_id are the same field");
    }
    auto source = parse_source(value, config.xml, "mapping." + key);
    if (!source) return source.error();
    config.fields.emplace(field, std::move(*source));
  }
  for (const char* required : {"amount", "occurred_at"}) {
    if (config.fields.count(required) == 0) {
      return config_error(std::string("mapping.") + required, "is required");
    }
  }

  if (auto cursor = settings.find("cursor"); cursor != settings.end()) {
    if (!cursor->is_object()) return config_error("cursor", "must be an object");
    auto field = text_member(*cursor, "field", "cursor");
    auto initial = text_member(*cursor, "initial", "cursor");
    auto since = text_member(*cursor, "since", "cursor");
    if (!field) return field.error();
    if (!initial) return initial.error();
    if (!since) return since.error();
    const auto source = cursor->find("source");
    if (!field->empty() && source != cursor->end()) {
      return config_error("cursor", "give field or source, not both");
    }
    if (!field->empty()) {
      auto mapped = config.fields.find(*field);
      if (mapped == config.fields.end()) {
        return config_error("cursor.field",
                            "must name a mapped field (" + *field + " is not mapped)");
      }
      config.cursor = mapped->second;
    } else if (source != cursor->end()) {
      auto parsed = parse_source(*source, config.xml, "cursor.source");
      if (!parsed) return parsed.error();
      config.cursor = std::move(*parsed);
    }
    config.cursor_initial = *initial;
    config.since_initial = *since;
  }
  if (auto push = settings.find("push_bonus"); push != settings.end()) {
    auto parsed = parse_request(*push, "push_bonus");
    if (!parsed) return parsed.error();
    config.push_bonus = std::move(*parsed);
  }
  return config;
}

namespace {

// The value a source finds in a record, or nullopt when nothing matched. JSON records come with
// the template scope (the record's members, plus response and record).
struct RecordView {
  const json* record = nullptr;
  const TemplateScope* scope = nullptr;
  pugi::xml_node node;
};

// A value quoted in a message, clipped (on a UTF-8 boundary) so that a hostile 50 MB field does
// not become a 50 MB log line.
std::string clipped_quote(const std::string& value) {
  constexpr size_t kShown = 80;
  if (value.size() <= kShown) return "\"" + value + "\"";
  size_t end = kShown;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
  return "\"" + value.substr(0, end) + "…\" (" + std::to_string(value.size()) + " bytes)";
}

// A JSON value as text: strings as they are, the rest as JSON.
std::string json_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : sdk::dump_json(value);
}

// Ok(nullopt): nothing matched (and no default); an error: a template failed otherwise.
Result<std::optional<std::string>> evaluate(const Source& source, const RecordView& view) {
  std::optional<std::string> found;
  if (const auto* path = std::get_if<JsonPath>(&source.how)) {
    auto nodes = path->select(*view.record);
    if (!nodes.empty() && !nodes.front()->is_null()) found = json_text(*nodes.front());
  } else if (const auto* templated = std::get_if<Template>(&source.how)) {
    auto rendered = templated->render(*view.scope);
    if (rendered) {
      found = *rendered;
    } else if (rendered.error().code != CRMSYNC_E_INVALID_INPUT) {
      return rendered.error();
    }
  } else if (const auto* xpath = std::get_if<XPath>(&source.how)) {
    found = xpath->string_value(view.node);
  } else {
    found = std::get<std::string>(source.how);
  }
  if (!found) found = source.fallback;
  return found;
}

// Whether a filter value without equals/in marks a sale.
bool truthy(const std::string& v) {
  return !v.empty() && v != "0" && v != "false" && v != "null";
}

// Days since 1970-01-01 → civil date (Howard Hinnant's algorithm; the connector links no date
// library).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

// "1763380800" (seconds) or "1763380800000" (milliseconds) → RFC 3339 UTC; other text as is.
std::string time_text(const std::string& value) {
  const bool digits = !value.empty() && std::all_of(value.begin(), value.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (value.size() != 10 && value.size() != 13)) return value;
  int64_t ms = std::stoll(value);
  if (value.size() == 10) ms *= 1000;
  return utc_text(ms);
}

// One record mapped to a sale, a skip or a failure.
std::variant<sdk::Record, MappedPage::Skip, MappedPage::Failure> map_record(
    const Config& config, const RecordView& view, const std::string& raw, size_t ordinal,
    std::string& cursor_value) {
  const std::string locator = "Record " + std::to_string(ordinal);
  std::map<std::string, std::string> values;
  std::string id;
  if (auto it = config.fields.find("external_id"); it != config.fields.end()) {
    auto value = evaluate(it->second, view);
    if (value && *value) id = **value;
  }
  // Sales and skips move the cursor, as they are the records the CRM need not send again.
  auto advance_cursor = [&] {
    if (!config.cursor) return;
    auto value = evaluate(*config.cursor, view);
    if (!value || !*value || (**value).empty()) return;
    if (cursor_value.empty() || cursor_less(cursor_value, **value)) cursor_value = **value;
  };
  if (config.filter) {
    auto value = evaluate(config.filter->source, view);
    if (!value) return MappedPage::Failure{id, locator + ": filter: " + value.error().message, raw};
    const std::string shown = *value ? clipped_quote(**value) : "nothing";
    bool sale =
        *value && (config.filter->values.empty()
                       ? truthy(**value)
                       : std::find(config.filter->values.begin(), config.filter->values.end(),
                                   **value) != config.filter->values.end());
    if (!sale) {
      advance_cursor();
      return MappedPage::Skip{
          id, "not a sale: filter " + config.filter->source.text() + " gave " + shown};
    }
  }
  for (const auto& [field, source] : config.fields) {
    auto value = evaluate(source, view);
    if (!value)
      return MappedPage::Failure{id, locator + ": " + field + ": " + value.error().message, raw};
    if (!*value) {
      return MappedPage::Failure{
          id, locator + ": " + field + ": " + source.text() + " matched nothing", raw};
    }
    values[field] = **value;
  }
  // The host reads amounts and times in every format it knows; a value without a single digit
  // is a path pointing at the wrong member, reported here where the path is known.
  for (const char* field : {"amount", "occurred_at"}) {
    const std::string& value = values[field];
    if (std::none_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return MappedPage::Failure{id,
                                 locator + ": " + field + ": " + config.fields.at(field).text() +
                                     " gave " + clipped_quote(value) + ", which is not " +
                                     (field[0] == 'a' ? "an amount" : "a time"),
                                 raw};
    }
  }
  sdk::Record record;
  record.external_id = id;
  record.amount = values["amount"];
  record.occurred_at = time_text(values["occurred_at"]);
  record.currency = values["currency"];
  record.customer_phone = values["customer_phone"];
  record.customer_ref = values["customer_ref"];
  record.description = values["description"];
  record.raw_json = raw;
  record.locator = locator;
  advance_cursor();
  return record;
}

// The records a selector found: one selected array stands for its elements.
std::vector<const json*> json_records(const JsonPath& selector, const json& document) {
  auto nodes = selector.select(document);
  if (nodes.size() == 1 && nodes.front()->is_array()) {
    std::vector<const json*> elements;
    for (const json& element : *nodes.front()) elements.push_back(&element);
    return elements;
  }
  return nodes;
}

}  // namespace

Result<MappedPage> map_body(const Config& config, std::string_view body) {
  MappedPage page;
  if (config.xml) {
    auto document = parse_xml(body);
    if (!document) return document.error();
    const pugi::xml_node root = **document;
    const auto records = config.xml_records->select(root);
    page.record_count = records.size();
    size_t ordinal = 0;
    for (const pugi::xml_node& node : records) {
      std::ostringstream xml_text;
      node.print(xml_text, "", pugi::format_raw);
      page.outcomes.push_back(map_record(config, RecordView{nullptr, nullptr, node},
                                         sdk::dump_json(json(xml_text.str())), ++ordinal,
                                         page.max_cursor));
    }
    if (config.pagination.next) {
      auto next = evaluate(*config.pagination.next, RecordView{nullptr, nullptr, root});
      if (next && *next && !(**next).empty()) page.next = **next;
    }
    return page;
  }
  if (!sdk::json_depth_within(body)) {
    return fail(CRMSYNC_E_INVALID_INPUT,
                "the response nests deeper than " + std::to_string(sdk::kMaxJsonDepth) + " levels");
  }
  json document = json::parse(body, nullptr, false);
  if (document.is_discarded()) {
    return fail(CRMSYNC_E_INVALID_INPUT, "the response is not JSON");
  }
  const auto records = json_records(*config.json_records, document);
  page.record_count = records.size();
  size_t ordinal = 0;
  for (const json* record : records) {
    const TemplateScope scope{{{"response", &document}, {"record", record}},
                              record->is_object() ? record : nullptr};
    page.outcomes.push_back(map_record(config, RecordView{record, &scope, {}}, record->dump(),
                                       ++ordinal, page.max_cursor));
  }
  if (config.pagination.next) {
    const TemplateScope scope{{{"response", &document}},
                              document.is_object() ? &document : nullptr};
    auto next = evaluate(*config.pagination.next, RecordView{&document, &scope, {}});
    if (next && *next && !(**next).empty()) page.next = **next;
  }
  return page;
}

bool cursor_less(const std::string& a, const std::string& b) {
  auto integer = [](const std::string& s) {
    return !s.empty() && s.size() < 19 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (integer(a) && integer(b)) return std::stoll(a) < std::stoll(b);
  return a < b;
}

namespace {

// body with every string rendered as a template; status keeps the first error.
json render_json(const json& body, const json& context, Result<void>& status) {
  if (body.is_string()) {
    auto rendered = Template::compile(body.get<std::string>())->render(context);
    if (!rendered) {
      status = rendered.error();
      return nullptr;
    }
    return *rendered;
  }
  if (!body.is_structured()) return body;
  json out = body.is_object() ? json::object() : json::array();
  for (auto it = body.begin(); it != body.end(); ++it) {
    json value = render_json(it.value(), context, status);
    if (body.is_object()) {
      out[it.key()] = std::move(value);
    } else {
      out.push_back(std::move(value));
    }
  }
  return out;
}

}  // namespace

Result<std::string> render_body(const RequestTemplate& request, const json& context) {
  if (!request.body) return std::string();
  Result<void> status;
  json rendered = render_json(*request.body, context, status);
  if (!status) return status.error();
  if (!request.form)
    return rendered.is_string() ? rendered.get<std::string>() : sdk::dump_json(rendered);
  std::string form;
  for (const auto& [key, value] : rendered.items()) {
    if (!form.empty()) form += '&';
    form += url_encode(key) + "=" + url_encode(json_text(value));
  }
  return form;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string utc_text(int64_t unix_ms) {
  int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  int64_t rest = seconds - days * 86400;
  int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  civil_from_days(days, y, m, d);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rest / 3600),
                static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60));
  return buffer;
}

}  // namespace crmsync::custom
