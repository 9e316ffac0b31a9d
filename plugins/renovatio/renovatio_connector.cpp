// The МИС Renovatio connector (DESIGN §4, §9, spec 8.1.4): reads a clinic's paid invoices
// (getInvoices) or, for clinics that do not invoice, its completed appointments
// (getAppointments) through Renovatio's public API, and hands them to the host as medical sales
// (see renovatio_mapping.h for what a medical sale may carry).
//
// Every call is POST {base_url}/api/public/{method} with an application/x-www-form-urlencoded
// body holding api_key and the method's parameters; answers are {"error": 0, "data": ...} or
// {"error": 1, "data": {"code": ..., "desc": ...}}. Every request is marked
// CRMSYNC_HTTP_SENSITIVE, so the host records no body of it and quotes none in errors; this
// connector logs no field of an invoice or appointment and quotes none in its own messages.
//
// Dates are "dd.mm.yyyy", times "dd.mm.yyyy HH:MM" in the clinic's zone. The fetch cursor is
// {"from": "dd.mm.yyyy"}: a fetch reads the days from `from` to at most window_days later (the
// first run starts history_days back), and says there is more while it has not reached today.
// Once it has, the next sync starts lookback_days before today again: invoices are paid and
// appointments closed days after their date, and dedup absorbs what is read twice. "Today" is
// the date at UTC+14, the latest any clinic's calendar can show, because the connector has no
// time-zone database.
#include "renovatio_mapping.h"

#include <crmsync/connector.hpp>
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crmsync::renovatio {
namespace {

constexpr const char* kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "api_key": {"type": "string", "minLength": 1, "x-secret": true,
                "description": "API key issued in МИС Renovatio (Настройки → API)"},
    "patient_salt": {"type": "string", "minLength": 16, "x-secret": true,
                     "description": "Secret salt of the patient id hashes; never change it, or the same patient gets a new hash"},
    "clinic_id": {"type": "integer", "minimum": 1, "description": "ID of the clinic in МИС Renovatio"},
    "base_url": {"type": "string", "pattern": "^https?://", "default": "https://app.rnova.org",
                 "description": "API root"},
    "source": {"type": "string", "enum": ["invoices", "appointments"], "default": "invoices",
               "description": "invoices: paid invoices are sales; appointments: completed appointments are, at their services' prices"},
    "timezone": {"type": "string", "minLength": 1,
                 "description": "IANA zone of the clinic's local times (e.g. Europe/Moscow); the business's zone when absent"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                 "description": "ISO 4217 currency of the clinic; the integration's currency when absent"},
    "window_days": {"type": "integer", "minimum": 1, "maximum": 31, "default": 7,
                    "description": "Days read per request"},
    "lookback_days": {"type": "integer", "minimum": 0, "maximum": 31, "default": 3,
                      "description": "Days before today each sync reads again (late payments)"},
    "history_days": {"type": "integer", "minimum": 0, "maximum": 366, "default": 30,
                     "description": "Days before today the first sync starts"}
  },
  "required": ["clinic_id"],
  "additionalProperties": false
})json";

// Where sales come from.
enum class Source { invoices, appointments };

// The non-secret settings of one integration.
struct Config {
  std::string clinic_id;
  std::string base_url = "https://app.rnova.org";
  Source source = Source::invoices;
  std::string currency;
  int64_t window_days = 7;
  int64_t lookback_days = 3;
  int64_t history_days = 30;
};

// Reads the settings; the host validated them against kConfigSchema, this guards the rest.
Config parse_config(const std::string& text) {
  const Json json = sdk::parse_settings(text, "МИС Renovatio");
  Config config;
  const auto clinic = internal::id_text(sdk::member(json, "clinic_id"));
  if (!clinic)
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "МИС Renovatio setting clinic_id is required");
  config.clinic_id = *clinic;
  if (const Json& url = sdk::member(json, "base_url"); url.is_string()) {
    config.base_url = url.get<std::string>();
  }
  while (!config.base_url.empty() && config.base_url.back() == '/') config.base_url.pop_back();
  const Json& source = sdk::member(json, "source");
  if (source == "appointments") {
    config.source = Source::appointments;
  } else if (!source.is_null() && source != "invoices") {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                     "МИС Renovatio setting source must be invoices or appointments");
  }
  if (const Json& currency = sdk::member(json, "currency"); currency.is_string()) {
    config.currency = currency.get<std::string>();
  }
  constexpr std::string_view kLabel = "МИС Renovatio";
  sdk::integer_setting(json, "window_days", 1, 31, config.window_days, kLabel);
  sdk::integer_setting(json, "lookback_days", 0, 31, config.lookback_days, kLabel);
  sdk::integer_setting(json, "history_days", 0, 366, config.history_days, kLabel);
  return config;
}

// The fetch cursor {"from": "dd.mm.yyyy"} (see the file comment); nullopt when empty.
std::optional<int64_t> parse_cursor(std::string_view text) {
  if (text.empty()) return std::nullopt;
  // The text is not quoted: a corrupted cursor could hold anything.
  const sdk::CursorReader reader(text, "Not a МИС Renovatio cursor");
  const auto day = reader.time_field("from", internal::day_number);
  if (!day) reader.invalid();
  return day;
}

// One integration: one clinic.
class RenovatioConnector : public sdk::Connector {
 public:
  RenovatioConnector(sdk::Host host, const sdk::OpenArgs& args)
      : sdk::Connector(host), config_(parse_config(args.config_json)) {}

  // getClinics: the clinic's title, or why not.
  std::string health_check() override {
    Json clinics;
    try {
      clinics = call("getClinics", {});
    } catch (const sdk::Error& e) {
      if (e.code() == CRMSYNC_E_INVALID_CONFIG || e.code() == CRMSYNC_E_CANCELLED) throw;
      throw sdk::Error(e.code(), "❌ " + std::string(e.what()));
    }
    if (!clinics.is_array()) {
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "❌ МИС Renovatio getClinics answered no clinic list");
    }
    for (const Json& clinic : clinics) {
      if (internal::id_text(sdk::member(clinic, "id")) != config_.clinic_id) continue;
      const Json& title = sdk::member(clinic, "title");
      return "✅ Connected to МИС Renovatio - " +
             (title.is_string() ? title.get<std::string>() : config_.clinic_id);
    }
    throw sdk::Error(CRMSYNC_E_NOT_FOUND, "❌ МИС Renovatio has no clinic " + config_.clinic_id +
                                              " for this API key: check clinic_id");
  }

  // One window of days (see the cursor in the file comment).
  void fetch(std::string_view cursor_text, sdk::Sink& sink) override {
    const auto cursor = parse_cursor(cursor_text);
    const int64_t today = (host().now_ms() / 1000 + 14 * 3600) / 86400;
    const int64_t from = cursor.value_or(today - config_.history_days);
    const int64_t to = std::min(from + config_.window_days - 1, today);
    const bool invoices = config_.source == Source::invoices;
    const Json data = call(invoices ? "getInvoices" : "getAppointments",
                           {{"clinic_id", config_.clinic_id},
                            {"date_from", internal::day_text(from)},
                            {"date_to", internal::day_text(std::max(from, to))}});
    deliver_all(data, sink, CRMSYNC_E_UNAVAILABLE);
    const bool more = to < today;
    const int64_t next = more ? to + 1 : today - config_.lookback_days;
    sink.checkpoint(sdk::dump_json(Json{{"from", internal::day_text(next)}}), more);
  }

  // A saved getInvoices or getAppointments answer (per `source`), offline.
  void map_response(std::string_view body, sdk::Sink& sink) override {
    deliver_all(envelope_data(body, CRMSYNC_E_INVALID_INPUT), sink, CRMSYNC_E_INVALID_INPUT);
  }

 private:
  // The salt of the patient hashes; required, since an unsalted hash of a small id is reversible.
  std::string salt() const {
    auto salt = host().secret("patient_salt");
    if (!salt || salt->size() < 16) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "МИС Renovatio setting patient_salt is required (16 characters or more)");
    }
    return *salt;
  }

  // Maps each invoice or appointment of a data list; throws `code` when data is not a list.
  void deliver_all(const Json& data, sdk::Sink& sink, int32_t code) const {
    if (!data.is_array()) throw sdk::Error(code, "МИС Renovatio answered no list");
    const std::string patient_salt = salt();
    for (const Json& object : data) {
      const Mapped mapped = config_.source == Source::invoices
                                ? map_invoice(object, patient_salt, config_.currency)
                                : map_appointment(object, patient_salt, config_.currency);
      // The raw object stays out of the logs: it is medical data.
      sdk::deliver(mapped, sink, "");
    }
  }

  // The data of an {"error": 0, "data": ...} envelope; throws for an error envelope (with the
  // code Renovatio gave) or anything else (with `code`). Never quotes the body.
  static Json envelope_data(std::string_view body, int32_t code) {
    Json json = sdk::parse_json(body, "МИС Renovatio answer");
    if (json.is_discarded()) throw sdk::Error(code, "МИС Renovatio answer is not JSON");
    const Json& error = sdk::member(json, "error");
    if (!json.is_object() || !error.is_number_integer() || !json.contains("data")) {
      throw sdk::Error(code, "МИС Renovatio answer has no {error, data} envelope");
    }
    if (error.get<int64_t>() != 0) {
      const Json& provider_code = sdk::member(json["data"], "code");
      const int64_t n = provider_code.is_number_integer() ? provider_code.get<int64_t>() : 0;
      if (n == 401) {
        throw sdk::Error(
            CRMSYNC_E_UNAUTHENTICATED,
            "МИС Renovatio refused the API key: set a valid api_key (Настройки → API)");
      }
      throw sdk::Error(n == 0 ? CRMSYNC_E_INVALID_INPUT : sdk::http_status_code(n),
                       "МИС Renovatio refused the request (error code " + std::to_string(n) + ")");
    }
    return std::move(json["data"]);
  }

  // POST {base_url}/api/public/{method} with api_key and params; the answer's data.
  Json call(const std::string& method,
            const std::vector<std::pair<std::string, std::string>>& params) const {
    if (host().cancelled()) throw sdk::Error(CRMSYNC_E_CANCELLED, "Cancelled");
    const auto key = host().secret("api_key");
    if (!key)
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "МИС Renovatio setting api_key is required");
    sdk::HttpRequest request;
    request.method = "POST";
    request.url = config_.base_url + "/api/public/" + method;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    request.body = "api_key=" + sdk::percent_encode(*key);
    for (const auto& [name, value] : params) {
      request.body += "&" + name + "=" + sdk::percent_encode(value);
    }
    request.sensitive = true;
    const sdk::HttpResponse response = host().http(request);
    if (response.status == 401 || response.status == 403) {
      throw sdk::Error(CRMSYNC_E_UNAUTHENTICATED,
                       "МИС Renovatio refused the API key: set a valid api_key (Настройки → API)");
    }
    if (response.status != 200) {
      throw sdk::Error(sdk::http_status_code(response.status),
                       "МИС Renovatio " + method + ": HTTP " + std::to_string(response.status));
    }
    return envelope_data(response.body, CRMSYNC_E_UNAVAILABLE);
  }

  Config config_;
};

}  // namespace
}  // namespace crmsync::renovatio

CRMSYNC_CONNECTOR(crmsync::renovatio::RenovatioConnector,
                  {.id = "renovatio",
                   .display_name = "МИС Renovatio",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::renovatio::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL,
                   .abi_minor_required = 2})
