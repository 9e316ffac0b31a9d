// The 1С connector (DESIGN §9, spec 8.1.1): reads sales out of a 1С:Предприятие infobase in one
// of two modes, chosen by the setting `mode`:
//
//  - http_service: the spec's HTTP service, GET {api_url}/api/transactions?since=… answering the
//    transactions {id, date, customer_phone, amount, items[]} as a list, or as an object
//    {"infobase": name, "transactions": [...]}; every transaction is a sale. The cursor is
//    {"since": "<newest date read>"}; each sync asks for since − overlap_seconds (1С records
//    sales late and its times have second granularity; dedup absorbs the repeats).
//  - odata: the standard OData interface, GET {base_url}/odata/standard.odata/<document>?
//    $format=json&$filter=Date ge datetime'…'&$orderby=Date,Ref_Key&$top=N&$skip=K. Posted
//    documents not marked for deletion are sales. The buyer is only a Контрагент_Key: the
//    counterparty is read from Catalog_Контрагенты (its КонтактнаяИнформация holds the phone)
//    once per key and kept for the instance's life. The cursor is
//    {"since": "...", "skip": K, "seen_up_to": "..."}: a pass reads Date ≥ since − overlap page
//    by page ($skip K); when a short page ends it, the newest Date it read becomes `since`.
//    Ordering by Ref_Key after Date keeps pages stable among documents of the same second.
//
// Authentication is HTTP Basic (username, password) or, when the secret `token` is set, an OAuth2
// bearer token (1С publications behind an OAuth proxy). Entity names are Cyrillic: they are sent
// percent-encoded as UTF-8.
#include "onec_mapping.h"

#include <crmsync/connector.hpp>
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_time.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::onec {
namespace {

constexpr const char* kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "mode": {"type": "string", "enum": ["http_service", "odata"], "default": "http_service",
             "description": "http_service: the infobase's /api/transactions service; odata: the standard OData interface"},
    "api_url": {"type": "string", "pattern": "^https?://",
                "description": "Root of the HTTP service (mode http_service), e.g. https://api.1c.ru/skinerica"},
    "base_url": {"type": "string", "pattern": "^https?://",
                 "description": "Publication of the infobase (mode odata), e.g. http://10.0.1.22/1c"},
    "username": {"type": "string", "minLength": 1, "description": "1С user (HTTP Basic)"},
    "password": {"type": "string", "x-secret": true, "description": "Password of the 1С user"},
    "token": {"type": "string", "minLength": 1, "x-secret": true,
              "description": "OAuth2 bearer token, instead of username and password"},
    "database_id": {"type": "string", "minLength": 1,
                    "description": "Infobase id the HTTP service serves (sent as database_id)"},
    "document": {"type": "string", "pattern": "^Document_[^/?#&'()]+$",
                 "default": "Document_РеализацияТоваровУслуг",
                 "description": "Sales document published over OData (it differs between 1С configurations)"},
    "timezone": {"type": "string", "minLength": 1,
                 "description": "IANA zone of the infobase's local times (e.g. Europe/Moscow); the business's zone when absent"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                 "description": "ISO 4217 currency of the sales; the integration's currency when absent"},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
                  "description": "Documents per OData request ($top)"},
    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400, "default": 600,
                        "description": "How far before the last sale read each sync starts reading again"}
  },
  "allOf": [
    {"if": {"properties": {"mode": {"const": "odata"}}, "required": ["mode"]},
     "then": {"required": ["base_url"]},
     "else": {"required": ["api_url"]}}
  ],
  "additionalProperties": false
})json";

// The default sales document of 1С:Бухгалтерия and 1С:Управление торговлей.
constexpr std::string_view kDefaultDocument = "Document_РеализацияТоваровУслуг";
// The counterparty catalogue, where the buyer's phone lives.
constexpr std::string_view kCounterparties = "Catalog_Контрагенты";

// The two ways to read an infobase.
enum class Mode { http_service, odata };

// The non-secret settings of one integration.
struct Config {
  Mode mode = Mode::http_service;
  std::string url;  // api_url or base_url, without a trailing slash
  std::string username;
  std::string database_id;
  std::string document = std::string(kDefaultDocument);
  std::string currency;
  int64_t page_size = 100;
  int64_t overlap_seconds = 600;
};

// Reads the settings; the host validated them against kConfigSchema, this guards the rest.
Config parse_config(const std::string& text) {
  const Json json = sdk::parse_settings(text, "1С");
  Config config;
  auto text_setting = [&](const char* name) {
    const Json& value = sdk::member(json, name);
    return value.is_string() ? value.get<std::string>() : std::string();
  };
  const std::string mode = text_setting("mode");
  if (mode == "odata") {
    config.mode = Mode::odata;
  } else if (!mode.empty() && mode != "http_service") {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "1С setting mode must be http_service or odata");
  }
  const char* url_name = config.mode == Mode::odata ? "base_url" : "api_url";
  config.url = text_setting(url_name);
  while (!config.url.empty() && config.url.back() == '/') config.url.pop_back();
  if (!config.url.starts_with("http://") && !config.url.starts_with("https://")) {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                     std::string("1С setting ") + url_name + " is required (an http(s) URL)");
  }
  config.username = text_setting("username");
  config.database_id = text_setting("database_id");
  config.currency = text_setting("currency");
  if (const std::string document = text_setting("document"); !document.empty()) {
    if (!document.starts_with("Document_") ||
        document.find_first_of("/?#&'() ") != std::string::npos) {
      throw sdk::Error(
          CRMSYNC_E_INVALID_CONFIG,
          "1С setting document must name a document entity, like " + std::string(kDefaultDocument));
    }
    config.document = document;
  }
  sdk::integer_setting(json, "page_size", 1, 1000, config.page_size, "1С");
  sdk::integer_setting(json, "overlap_seconds", 0, 86400, config.overlap_seconds, "1С");
  return config;
}

// The fetch cursor (see the file comment). Times are 1С local times, kept as seconds since the
// local epoch; 0 when absent.
struct Cursor {
  int64_t since = 0;
  int64_t skip = 0;
  int64_t seen_up_to = 0;

  // Reads a cursor this connector wrote; anything else is INVALID_INPUT.
  static Cursor parse(std::string_view text) {
    const sdk::CursorReader reader(text, "Not a 1С cursor: " + std::string(text));
    Cursor cursor;
    cursor.since = reader.time_field("since", sdk::parse_local_time).value_or(0);
    cursor.skip = reader.integer_field("skip", 0).value_or(0);
    cursor.seen_up_to = reader.time_field("seen_up_to", sdk::parse_local_time).value_or(0);
    return cursor;
  }

  // The cursor as checkpointed.
  std::string text() const {
    Json json = Json::object();
    if (since != 0) json["since"] = sdk::format_local_time(since);
    if (skip > 0) json["skip"] = skip;
    if (seen_up_to != 0) json["seen_up_to"] = sdk::format_local_time(seen_up_to);
    return sdk::dump_json(json);
  }
};

// 1С's error text: OData's {"odata.error": {"message": {"value": ...}}}, the HTTP service's
// {"error": ...}, else the start of the body.
std::string provider_message(const std::string& body) {
  const Json json = sdk::try_parse_json(body);
  const Json& odata =
      sdk::member(sdk::member(sdk::member(json, "odata.error"), "message"), "value");
  if (odata.is_string()) return odata.get<std::string>();
  const Json& error = sdk::member(json, "error");
  if (error.is_string()) return error.get<std::string>();
  return sdk::body_excerpt(body);
}

// The transactions of an HTTP service answer: a list, or {"transactions": [...]}; throws `code`
// for anything else.
const Json& transactions_of(const Json& body, int32_t code) {
  if (body.is_array()) return body;
  const Json& list = sdk::member(body, "transactions");
  if (!list.is_array()) {
    throw sdk::Error(code,
                     "Not a 1С transactions answer: expected a list or {\"transactions\": [...]}");
  }
  return list;
}

// The documents of an OData answer {"value": [...]}; throws `code` for anything else.
const Json& documents_of(const Json& body, int32_t code) {
  const Json& list = sdk::member(body, "value");
  if (!list.is_array()) throw sdk::Error(code, "Not a 1С OData answer: it has no \"value\" list");
  return list;
}

// One integration: one 1С infobase.
class OnecConnector : public sdk::Connector {
 public:
  OnecConnector(sdk::Host host, const sdk::OpenArgs& args)
      : sdk::Connector(host), config_(parse_config(args.config_json)) {}

  // http_service: one transactions request from now; odata: the service document, which must
  // publish the sales document and the counterparty catalogue.
  std::string health_check() override {
    sdk::HttpResponse response;
    const std::string url = config_.mode == Mode::odata
                                ? odata_root() + "/?$format=json"
                                : transactions_url(sdk::format_local_time(host().now_ms() / 1000));
    try {
      response = send(url);
    } catch (const sdk::Error& e) {
      if (e.code() == CRMSYNC_E_INVALID_CONFIG || e.code() == CRMSYNC_E_CANCELLED) throw;
      throw sdk::Error(e.code(), "❌ Cannot reach 1С at " + config_.url + ": no answer");
    }
    if (response.status == 401) {
      throw sdk::Error(CRMSYNC_E_UNAUTHENTICATED,
                       "❌ 1С refused the username or password (HTTP 401): check the 1С user "
                       "and its password, or the token");
    }
    if (response.status == 403) {
      throw sdk::Error(CRMSYNC_E_PERMISSION_DENIED,
                       "❌ The 1С user may not read this data (HTTP 403): give it the rights");
    }
    if (response.status == 404) {
      throw sdk::Error(CRMSYNC_E_NOT_FOUND,
                       std::string("❌ No 1С ") +
                           (config_.mode == Mode::odata ? "OData interface" : "HTTP service") +
                           " at " + config_.url + " (HTTP 404): check the URL and database_id");
    }
    if (response.status != 200) {
      throw sdk::Error(sdk::http_status_code(response.status),
                       "❌ 1С answered HTTP " + std::to_string(response.status) + ": " +
                           provider_message(response.body));
    }
    const Json body = sdk::parse_json(response.body, "the 1С answer");
    if (config_.mode == Mode::http_service) {
      transactions_of(body, CRMSYNC_E_UNAVAILABLE);
      const auto name = sdk::text_member(body, "infobase");
      return "✅ Connected to 1С" + (name ? " - " + *name : std::string());
    }
    const Json& sets = documents_of(body, CRMSYNC_E_UNAVAILABLE);
    for (std::string_view wanted : {std::string_view(config_.document), kCounterparties}) {
      const bool published = std::any_of(sets.begin(), sets.end(), [&](const Json& set) {
        return sdk::member(set, "name") == Json(std::string(wanted));
      });
      if (!published) {
        throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                         "❌ 1С does not publish " + std::string(wanted) +
                             " over OData: add it to the OData composition of the infobase");
      }
    }
    return "✅ Connected to 1С";
  }

  void fetch(std::string_view cursor_text, sdk::Sink& sink) override {
    const Cursor cursor = Cursor::parse(cursor_text);
    if (config_.mode == Mode::http_service) {
      fetch_transactions(cursor, sink);
    } else {
      fetch_documents(cursor, sink);
    }
  }

  // A saved answer of the list endpoint of the configured mode. Offline, so OData documents map
  // without their buyer's phone (that needs a Catalog_Контрагенты request).
  void map_response(std::string_view body_text, sdk::Sink& sink) override {
    const Json body = sdk::parse_json(body_text, "the 1С response");
    if (body.is_discarded()) throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "1С response is not JSON");
    if (config_.mode == Mode::http_service) {
      for (const Json& tx : transactions_of(body, CRMSYNC_E_INVALID_INPUT)) {
        sdk::deliver(map_transaction(tx, config_.currency), sink, sdk::dump_json(tx));
      }
      return;
    }
    for (const Json& document : documents_of(body, CRMSYNC_E_INVALID_INPUT)) {
      sdk::deliver(map_document(document, "", config_.currency), sink, sdk::dump_json(document));
    }
  }

 private:
  // {base_url}/odata/standard.odata
  std::string odata_root() const { return config_.url + "/odata/standard.odata"; }

  // GET {api_url}/api/transactions?since=…[&database_id=…]; since empty: everything.
  std::string transactions_url(const std::string& since) const {
    std::string url = config_.url + "/api/transactions";
    char separator = '?';
    if (!since.empty()) {
      url += "?since=" + sdk::percent_encode(since);
      separator = '&';
    }
    if (!config_.database_id.empty()) {
      url += separator + std::string("database_id=") + sdk::percent_encode(config_.database_id);
    }
    return url;
  }

  // The Authorization header value: the bearer token when set, else Basic credentials.
  std::string authorization() const {
    if (auto token = host().secret("token")) return "Bearer " + *token;
    if (config_.username.empty()) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "1С needs username and password, or a token");
    }
    return "Basic " + sdk::base64(config_.username + ":" + host().secret("password").value_or(""));
  }

  // GET url with 1С's headers; any HTTP status comes back.
  sdk::HttpResponse send(const std::string& url) const {
    if (host().cancelled()) throw sdk::Error(CRMSYNC_E_CANCELLED, "Cancelled");
    sdk::HttpRequest request;
    request.url = url;
    request.headers = {{"Accept", "application/json"}, {"Authorization", authorization()}};
    return host().http(request);
  }

  // GET url that must answer 200 with JSON.
  Json get_json(const std::string& url, const std::string& what) const {
    const sdk::HttpResponse response = send(url);
    if (response.status != 200) {
      std::string message =
          sdk::http_error_message("1С " + what, response.status, provider_message(response.body));
      if (response.status == 401) message += " (check the 1С username and password)";
      throw sdk::Error(sdk::http_status_code(response.status), message);
    }
    Json body = sdk::parse_json(response.body, "1С " + what);
    if (body.is_discarded()) throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "1С " + what + " is not JSON");
    return body;
  }

  // http_service: every transaction since the cursor − overlap, in one request.
  void fetch_transactions(const Cursor& cursor, sdk::Sink& sink) {
    const std::string since =
        cursor.since != 0 ? sdk::format_local_time(cursor.since - config_.overlap_seconds) : "";
    const Json body = get_json(transactions_url(since), "transactions");
    Cursor next = cursor;
    for (const Json& tx : transactions_of(body, CRMSYNC_E_UNAVAILABLE)) {
      sdk::deliver(map_transaction(tx, config_.currency), sink, sdk::dump_json(tx));
      const Json& date = sdk::member(tx, "date");
      if (date.is_string() && date.get_ref<const std::string&>().size() >= 19) {
        const auto seconds = sdk::parse_local_time(date.get<std::string>().substr(0, 19));
        if (seconds && *seconds > next.since) next.since = *seconds;
      }
    }
    sink.checkpoint(next.text(), false);
  }

  // odata: one page of the current pass (see the file comment).
  void fetch_documents(const Cursor& cursor, sdk::Sink& sink) {
    std::string url = odata_root() + "/" + sdk::percent_encode(config_.document) +
                      "?$format=json&$orderby=" + sdk::percent_encode("Date,Ref_Key") +
                      "&$top=" + std::to_string(config_.page_size) +
                      "&$skip=" + std::to_string(cursor.skip);
    if (cursor.since != 0) {
      const std::string from = sdk::format_local_time(cursor.since - config_.overlap_seconds);
      url += "&$filter=" + sdk::percent_encode("Date ge datetime'" + from + "'");
    }
    const Json body = get_json(url, config_.document + " page");
    const Json& documents = documents_of(body, CRMSYNC_E_UNAVAILABLE);
    Cursor next = cursor;
    for (const Json& document : documents) {
      std::string phone;
      const auto posted = sdk::member(document, "Posted");
      const auto deleted = sdk::member(document, "DeletionMark");
      if (posted == true && deleted == false) phone = buyer_phone(document);
      sdk::deliver(map_document(document, phone, config_.currency), sink, sdk::dump_json(document));
      const Json& date = sdk::member(document, "Date");
      const auto seconds =
          date.is_string() ? sdk::parse_local_time(date.get<std::string>()) : std::nullopt;
      if (seconds && !date.get_ref<const std::string&>().starts_with("0001-01-01")) {
        next.seen_up_to = std::max(next.seen_up_to, *seconds);
      }
    }
    const bool more = static_cast<int64_t>(documents.size()) >= config_.page_size;
    if (more) {
      next.skip = cursor.skip + static_cast<int64_t>(documents.size());
    } else {
      next.since = std::max(cursor.since, next.seen_up_to);
      next.skip = 0;
      next.seen_up_to = 0;
    }
    sink.checkpoint(next.text(), more);
  }

  // The phone of a document's buyer ("" when it has none, with a warning saying why).
  std::string buyer_phone(const Json& document) {
    const std::string ref = sdk::text_member(document, "Ref_Key").value_or("?");
    const auto key = buyer_key(document);
    if (!key) {
      host().log(
          CRMSYNC_LOG_WARNING,
          "1С document " + ref + " names no counterparty: the sale is stored without a customer");
      return "";
    }
    const auto phone = counterparty(*key);
    if (!phone) {
      host().log(CRMSYNC_LOG_WARNING, "1С counterparty " + *key + " of document " + ref +
                                          " has no phone: the sale is stored without a customer");
      return "";
    }
    return *phone;
  }

  // The phone of a counterparty, read once per key from Catalog_Контрагенты(guid'…').
  std::optional<std::string> counterparty(const std::string& key) {
    if (auto known = phones_.find(key); known != phones_.end()) return known->second;
    if (!internal::is_guid(key)) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "1С Контрагент_Key is not a GUID: " + key);
    }
    const std::string url = odata_root() + "/" + sdk::percent_encode(kCounterparties) + "(guid'" +
                            key + "')?$format=json";
    const sdk::HttpResponse response = send(url);
    std::optional<std::string> phone;
    if (response.status == 404) {
      host().log(CRMSYNC_LOG_WARNING, "1С counterparty " + key + " does not exist");
    } else if (response.status != 200) {
      sdk::throw_http_error("1С counterparty " + key, response.status,
                            provider_message(response.body));
    } else {
      const Json body = sdk::parse_json(response.body, "the 1С counterparty answer");
      if (!body.is_object())
        throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "1С counterparty " + key + " is not JSON");
      phone = counterparty_phone(body);
    }
    phones_.emplace(key, phone);
    return phone;
  }

  Config config_;
  // Counterparty phones by Контрагент_Key (nullopt: none), read once for the instance's life.
  std::map<std::string, std::optional<std::string>> phones_;
};

}  // namespace
}  // namespace crmsync::onec

CRMSYNC_CONNECTOR(crmsync::onec::OnecConnector,
                  {.id = "1c",
                   .display_name = "1С",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::onec::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL,
                   .abi_minor_required = 1})
