// The iiko connector (DESIGN §9, spec 8.1.5): reads closed orders of a restaurant's organizations
// through the iikoCloud API (api-ru.iiko.services), maps them to sales, reads iikoCloud webhooks
// and registers the integration's webhook URL in the organizations' webhook settings.
//
// Authentication: POST /api/1/access_token {apiLogin} gives a token valid one hour, sent as
// `Authorization: Bearer <token>`. It is kept in the integration's durable state (key
// "access_token": {"token", "expires_ms"}), renewed five minutes before it expires, and renewed
// once when iiko answers 401 anyway (a token revoked or expired early).
//
// The fetch cursor is a JSON object:
//   {"revision": 1234}                         orders by revision (default): POST
//       /api/1/deliveries/by_revision with startRevision = revision (0 on the first run); the
//       answer's maxRevision is the next cursor.
//   {"from": "2025-11-17 00:00:00.000"}        orders by delivery date (sync_mode "date", or when
//       the API login may not read by revision): POST /api/1/deliveries/by_delivery_date_and_status
//       for status Closed, one window of window_hours of the organization's local time per batch,
//       from `from` until a day past the present (delivery dates are planned times, and an order
//       may close before its own); then the next pass starts overlap_hours before the present,
//       because orders close after their delivery date and dedup absorbs the re-read.
// Without a zone of its own (the API's times carry none), "the present" in the organization's
// local time is now + the settings' fixed offset when `timezone` is one ("+03:00"), else the
// widest bounds any zone allows (UTC−12 … UTC+14).
#include "iiko_mapping.h"

#include <crmsync/connector.hpp>
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_time.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::iiko {
namespace {

constexpr const char* kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "api_login": {"type": "string", "minLength": 1, "x-secret": true,
                  "description": "iikoCloud API login (iikoWeb → Интеграции → API-логины)"},
    "organization_ids": {"type": "array", "items": {"type": "string", "minLength": 1},
                         "description": "Organizations to read; all organizations of the API login when empty"},
    "base_url": {"type": "string", "pattern": "^https?://", "default": "https://api-ru.iiko.services",
                 "description": "API root"},
    "timezone": {"type": "string", "minLength": 1,
                 "description": "The organization's local time: the integration's IANA zone, or a fixed offset such as +03:00"},
    "card_phone_map": {"type": "boolean", "default": true,
                       "description": "A guest known only by a loyalty card: hand the card to the platform's card → phone table"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                 "description": "ISO 4217 currency; the integration's currency when absent"},
    "sync_mode": {"type": "string", "enum": ["revision", "date"], "default": "revision",
                  "description": "Read changed orders by revision, or closed orders by delivery date"},
    "window_hours": {"type": "integer", "minimum": 1, "maximum": 168, "default": 24,
                     "description": "Delivery-date window of one request (sync_mode date)"},
    "overlap_hours": {"type": "integer", "minimum": 0, "maximum": 72, "default": 24,
                      "description": "How far before the present each date pass starts again"},
    "history_days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 7,
                     "description": "How far back the first date pass reads (iiko keeps 7 days)"}
  },
  "additionalProperties": false
})json";

// The test-connection message for a refused API login.
constexpr std::string_view kInvalidLogin = "❌ Invalid iiko API login";
// A token is renewed this long before iiko's one hour runs out.
constexpr int64_t kTokenLifetimeMs = 3600 * 1000;
constexpr int64_t kRenewMarginMs = 5 * 60 * 1000;

// The non-secret settings of one integration.
struct Config {
  std::vector<std::string> organization_ids;
  std::string base_url = "https://api-ru.iiko.services";
  std::string offset;  // "+03:00" when `timezone` is a fixed offset, else ""
  int64_t offset_seconds = 0;
  bool revision_mode = true;
  int64_t window_hours = 24;
  int64_t overlap_hours = 24;
  int64_t history_days = 7;
  MapOptions map;
};

// Reads the settings; the host validated them against kConfigSchema, this guards the rest.
Config parse_config(const sdk::OpenArgs& args) {
  const Json json = sdk::parse_settings(args.config_json, "iiko");
  using sdk::member;
  Config config;
  config.map.currency = args.currency;
  const Json& ids = member(json, "organization_ids");
  if (!ids.is_null() && !ids.is_array()) {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                     "iiko setting organization_ids must be a list of ids");
  }
  for (const Json& id : ids.is_array() ? ids : Json::array()) {
    if (!id.is_string() || id.get_ref<const std::string&>().empty()) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "iiko setting organization_ids must be a list of ids");
    }
    config.organization_ids.push_back(id.get<std::string>());
  }
  auto text = [&](const char* name, std::string& out) {
    const Json& value = member(json, name);
    if (value.is_string()) out = value.get<std::string>();
  };
  text("base_url", config.base_url);
  while (!config.base_url.empty() && config.base_url.back() == '/') config.base_url.pop_back();
  std::string currency;
  text("currency", currency);
  if (!currency.empty()) config.map.currency = currency;
  std::string zone;
  text("timezone", zone);
  if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
    const auto seconds = sdk::utc_offset_seconds(zone);
    if (!seconds || zone.size() != 6) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "iiko setting timezone: a fixed offset is written +HH:MM, not " + zone);
    }
    config.offset = zone;
    config.offset_seconds = *seconds;
  } else if (!zone.empty() && zone != args.timezone) {
    // Without a zone database the connector cannot convert between two named zones; iiko's times
    // are then read by the host in the integration's zone, so the two must be the same.
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                     "iiko setting timezone (" + zone +
                         ") differs from the integration's time zone (" + args.timezone +
                         "): set the integration's zone to the organization's, or give "
                         "a fixed offset such as +03:00");
  }
  const Json& cards = member(json, "card_phone_map");
  config.map.card_phone_map = !cards.is_boolean() || cards.get<bool>();
  const Json& mode = member(json, "sync_mode");
  if (!mode.is_null() && mode != "revision" && mode != "date") {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "iiko setting sync_mode must be revision or date");
  }
  config.revision_mode = mode != "date";
  sdk::integer_setting(json, "window_hours", 1, 168, config.window_hours, "iiko");
  sdk::integer_setting(json, "overlap_hours", 0, 72, config.overlap_hours, "iiko");
  sdk::integer_setting(json, "history_days", 1, 7, config.history_days, "iiko");
  return config;
}

// The fetch cursor (see the file comment): a revision, or the start of the next date window.
struct Cursor {
  std::optional<int64_t> revision;
  std::optional<int64_t> from;  // civil seconds of the organization's local time

  // Reads a cursor this connector wrote (empty: the first run); anything else is INVALID_INPUT.
  static Cursor parse(std::string_view text) {
    const sdk::CursorReader reader(text, "Not an iiko cursor: " + std::string(text));
    Cursor cursor;
    cursor.revision = reader.integer_field("revision", 0);
    cursor.from = reader.time_field("from", internal::local_seconds);
    if (cursor.revision && cursor.from) reader.invalid();
    return cursor;
  }
};

// iiko's error text from its body {"errorDescription", "error"}, or the body's start.
std::string provider_message(const std::string& body) {
  const Json json = sdk::try_parse_json(body);
  const Json& description = sdk::member(json, "errorDescription");
  if (description.is_string()) return description.get<std::string>();
  return sdk::body_excerpt(body);
}

// A JSON object answer; throws `code` when the body is not one.
Json object_body(std::string_view body, int32_t code, std::string_view what) {
  return sdk::parse_object(body, code, "iiko " + std::string(what));
}

// One iiko integration (one API login, one or more organizations).
class IikoConnector : public sdk::Connector {
 public:
  IikoConnector(sdk::Host host, const sdk::OpenArgs& args)
      : sdk::Connector(host), config_(parse_config(args)) {}

  // A token, then POST /api/1/organizations: "✅ Connected to Iiko - <names>", or why not.
  std::string health_check() override {
    Json organizations;
    try {
      organizations = list_organizations();
    } catch (const sdk::Error& e) {
      if (e.code() == CRMSYNC_E_INVALID_CONFIG || e.code() == CRMSYNC_E_CANCELLED) throw;
      if (e.code() == CRMSYNC_E_UNAUTHENTICATED) {
        host().log(CRMSYNC_LOG_WARNING, std::string("Test connection: ") + e.what());
        throw sdk::Error(e.code(), std::string(kInvalidLogin));
      }
      if (e.code() == CRMSYNC_E_NOT_FOUND || e.code() == CRMSYNC_E_PERMISSION_DENIED) {
        throw sdk::Error(e.code(), "❌ " + std::string(e.what()));
      }
      throw sdk::Error(e.code(), "❌ iiko is unavailable at " + config_.base_url + ": " + e.what());
    }
    std::string names;
    for (const Json& organization : organizations) {
      const Json& name = sdk::member(organization, "name");
      if (!names.empty()) names += ", ";
      names += name.is_string() ? name.get<std::string>() : "?";
    }
    return "✅ Connected to Iiko - " + names;
  }

  void fetch(std::string_view cursor_text, sdk::Sink& sink) override {
    const Cursor cursor = Cursor::parse(cursor_text);
    if (!cursor.from && config_.revision_mode) {
      if (fetch_by_revision(cursor.revision.value_or(0), sink)) return;
    }
    fetch_by_date(cursor.from, sink);
  }

  // iikoCloud sends the authToken registered with the URL; the host checks it before this runs.
  // The body is one event or a list of events.
  void parse_webhook(const sdk::WebhookRequest& request, sdk::Sink& sink) override {
    const Json body = sdk::parse_json(request.body, "the iiko webhook");
    if (body.is_discarded())
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "iiko webhook body is not JSON");
    if (!body.is_object() && !body.is_array()) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "iiko webhook body is neither an event nor a list");
    }
    if (body.is_object()) {
      webhook_event(body, sink);
    } else {
      for (const Json& event : body) webhook_event(event, sink);
    }
  }

  // Accepts an answer of by_revision or by_delivery_date_and_status ({ordersByOrganizations}),
  // of by_id ({orders}), or one OrderInfo, as saved from the API.
  void map_response(std::string_view body, sdk::Sink& sink) override {
    const Json json = sdk::parse_json(body, "the iiko response");
    if (json.is_discarded()) throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "iiko response is not JSON");
    if (json.is_object() && json.contains("ordersByOrganizations")) {
      deliver_groups(json["ordersByOrganizations"], sink);
    } else if (json.is_object() && json.contains("orders")) {
      deliver_list(json["orders"], sink);
    } else if (json.is_object() && json.contains("order") && json.contains("id")) {
      deliver(json, OrderKind::delivery, "", sink);
    } else {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                       "Not an iiko orders response: no ordersByOrganizations, orders or order");
    }
  }

  // Sets every organization's webhook settings to url with authToken = url's `token` parameter
  // (empty url: clears them); settings already equal are left alone. The registered URL is kept
  // in the durable state key "webhook_url".
  void configure_webhook(std::string_view url) override {
    const std::string token = sdk::query_param(url, "token").value_or("");
    if (!url.empty() && token.empty()) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                       "The webhook URL has no token parameter for iiko's authToken");
    }
    for (const std::string& organization : organization_ids()) {
      const Json current =
          object_body(send_ok("/api/1/webhooks/settings", Json{{"organizationId", organization}},
                              "webhook settings")
                          .body,
                      CRMSYNC_E_UNAVAILABLE, "webhook settings");
      const Json& uri = sdk::member(current, "webHooksUri");
      const Json& auth = sdk::member(current, "authToken");
      const bool same = uri.is_string() && uri == std::string(url) &&
                        (url.empty() || (auth.is_string() && auth == token));
      if (same) continue;
      Json update = {{"organizationId", organization}, {"webHooksUri", std::string(url)}};
      update["authToken"] = url.empty() ? Json(nullptr) : Json(token);
      send_ok("/api/1/webhooks/update_settings", update, "webhook settings update");
    }
    const auto registered = host().state_get("webhook_url");
    if (!registered || registered->value != url) {
      if (!host().state_cas("webhook_url", registered ? registered->version : 0, url)) {
        throw sdk::Error(CRMSYNC_E_CONFLICT, "The webhook registration changed meanwhile");
      }
    }
    host().log(CRMSYNC_LOG_INFO, url.empty() ? "iiko webhook removed" : "iiko webhook registered");
  }

 private:
  // The stored token unless it is missing, refused (fresh) or about to expire; else a new one.
  std::string access_token(bool fresh) {
    const auto stored = host().state_get("access_token");
    const int64_t now = host().now_ms();
    if (stored && !fresh) {
      const Json saved = sdk::try_parse_json(stored->value);
      const Json& token = sdk::member(saved, "token");
      const Json& expires = sdk::member(saved, "expires_ms");
      if (token.is_string() && expires.is_number_integer() &&
          now < expires.get<int64_t>() - kRenewMarginMs) {
        return token.get<std::string>();
      }
    }
    const auto login = host().secret("api_login");
    if (!login) throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "iiko setting api_login is required");
    const sdk::HttpResponse response = post("/api/1/access_token", Json{{"apiLogin", *login}}, "");
    if (response.status == 401 || response.status == 400 || response.status == 403) {
      throw sdk::Error(CRMSYNC_E_UNAUTHENTICATED, "iiko refused the API login (HTTP " +
                                                      std::to_string(response.status) + ": " +
                                                      provider_message(response.body) +
                                                      "); check api_login in iikoWeb");
    }
    check_ok(response, "access_token");
    const Json answer = object_body(response.body, CRMSYNC_E_UNAVAILABLE, "access_token answer");
    const Json& token = sdk::member(answer, "token");
    if (!token.is_string() || token.get_ref<const std::string&>().empty()) {
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "iiko access_token answer has no token");
    }
    const Json saved = {{"token", token}, {"expires_ms", now + kTokenLifetimeMs}};
    // Another run may have renewed it meanwhile: both tokens are valid, so keep theirs.
    if (!host().state_cas("access_token", stored ? stored->version : 0, sdk::dump_json(saved))) {
      host().log(CRMSYNC_LOG_DEBUG, "iiko token renewed concurrently; using this one for now");
    }
    return token.get<std::string>();
  }

  // A POST with a JSON body; token empty means no Authorization header.
  sdk::HttpResponse post(const std::string& path, const Json& body, const std::string& token) {
    if (host().cancelled()) throw sdk::Error(CRMSYNC_E_CANCELLED, "Cancelled");
    sdk::HttpRequest request;
    request.method = "POST";
    request.url = config_.base_url + path;
    request.headers = {{"Content-Type", "application/json"}};
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    request.body = sdk::dump_json(body);
    return host().http(request);
  }

  // Throws the ABI error for a non-200 answer.
  static void check_ok(const sdk::HttpResponse& response, const std::string& what) {
    if (response.status == 200) return;
    sdk::throw_http_error("iiko " + what, response.status, provider_message(response.body));
  }

  // An authorised POST; a refused token is renewed once. Any status comes back.
  sdk::HttpResponse send(const std::string& path, const Json& body) {
    sdk::HttpResponse response = post(path, body, access_token(false));
    if (response.status == 401) {
      host().log(CRMSYNC_LOG_INFO, "iiko refused the access token; renewing it");
      response = post(path, body, access_token(true));
    }
    return response;
  }

  // An authorised POST that must answer 200.
  sdk::HttpResponse send_ok(const std::string& path, const Json& body, const std::string& what) {
    sdk::HttpResponse response = send(path, body);
    check_ok(response, what);
    return response;
  }

  // The organizations of the settings (or all of the API login's), as iiko lists them; throws
  // NOT_FOUND when a configured one is not available to the login.
  Json list_organizations() {
    Json request = {
        {"organizationIds", nullptr}, {"returnAdditionalInfo", false}, {"includeDisabled", false}};
    if (!config_.organization_ids.empty()) request["organizationIds"] = config_.organization_ids;
    const Json answer = object_body(send_ok("/api/1/organizations", request, "organizations").body,
                                    CRMSYNC_E_UNAVAILABLE, "organizations answer");
    const Json& list = sdk::member(answer, "organizations");
    if (!list.is_array())
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "iiko organizations answer has no list");
    for (const std::string& wanted : config_.organization_ids) {
      const bool found = std::any_of(list.begin(), list.end(),
                                     [&](const Json& o) { return sdk::member(o, "id") == wanted; });
      if (!found) {
        throw sdk::Error(CRMSYNC_E_NOT_FOUND,
                         "iiko organization " + wanted + " is not available to this API login");
      }
    }
    if (list.empty())
      throw sdk::Error(CRMSYNC_E_NOT_FOUND, "The iiko API login has no organizations");
    return list;
  }

  // The configured organization ids, or all of the API login's (asked once per instance).
  const std::vector<std::string>& organization_ids() {
    if (config_.organization_ids.empty() && all_organizations_.empty()) {
      for (const Json& organization : list_organizations()) {
        const Json& id = sdk::member(organization, "id");
        if (id.is_string()) all_organizations_.push_back(id.get<std::string>());
      }
    }
    return config_.organization_ids.empty() ? all_organizations_ : config_.organization_ids;
  }

  // One by_revision batch; false when the API login may not read by revision (then the caller
  // reads by date).
  bool fetch_by_revision(int64_t start, sdk::Sink& sink) {
    const Json request = {
        {"startRevision", start}, {"organizationIds", organization_ids()}, {"sourceKeys", nullptr}};
    const sdk::HttpResponse response = send("/api/1/deliveries/by_revision", request);
    if (response.status == 403) {
      host().log(CRMSYNC_LOG_WARNING, "iiko refused orders by revision (" +
                                          provider_message(response.body) +
                                          "); reading closed orders by delivery date instead");
      return false;
    }
    check_ok(response, "deliveries by_revision");
    const Json answer = object_body(response.body, CRMSYNC_E_UNAVAILABLE, "by_revision answer");
    const Json& max = sdk::member(answer, "maxRevision");
    if (!max.is_number_integer()) {
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "iiko by_revision answer has no maxRevision");
    }
    deliver_groups(sdk::member(answer, "ordersByOrganizations"), sink);
    sink.checkpoint(sdk::dump_json(Json{{"revision", std::max(start, max.get<int64_t>())}}), false);
    return true;
  }

  // One delivery-date window (see the file comment).
  void fetch_by_date(std::optional<int64_t> from, sdk::Sink& sink) {
    const int64_t now = host().now_ms() / 1000;
    const bool fixed = !config_.offset.empty();
    const int64_t local_low = fixed ? now + config_.offset_seconds : now - 12 * 3600;
    // Delivery dates are planned times: an order planned for later may close early, so a pass
    // reads a day past the present.
    const int64_t local_high = (fixed ? now + config_.offset_seconds : now + 14 * 3600) + 86400;
    const int64_t start = from.value_or(local_low - config_.history_days * 86400);
    const int64_t end = start + config_.window_hours * 3600;
    const Json request = {{"organizationIds", organization_ids()},
                          {"deliveryDateFrom", internal::local_text(start)},
                          {"deliveryDateTo", internal::local_text(end)},
                          {"statuses", Json::array({"Closed"})},
                          {"sourceKeys", nullptr}};
    const Json answer = object_body(
        send_ok("/api/1/deliveries/by_delivery_date_and_status", request, "deliveries by date")
            .body,
        CRMSYNC_E_UNAVAILABLE, "by_delivery_date_and_status answer");
    deliver_groups(sdk::member(answer, "ordersByOrganizations"), sink);
    const bool more = end < local_high;
    const int64_t next = more ? end : local_low - config_.overlap_hours * 3600;
    sink.checkpoint(sdk::dump_json(Json{{"from", internal::local_text(std::max(next, start))}}),
                    more);
  }

  // The orders of an ordersByOrganizations list.
  void deliver_groups(const Json& groups, sdk::Sink& sink) {
    if (!groups.is_array())
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "iiko answer has no ordersByOrganizations list");
    for (const Json& group : groups) deliver_list(sdk::member(group, "orders"), sink);
  }

  // The OrderInfo objects of an orders list.
  void deliver_list(const Json& orders, sdk::Sink& sink) {
    if (!orders.is_array()) throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "iiko orders is not a list");
    for (const Json& info : orders) deliver(info, OrderKind::delivery, "", sink);
  }

  // Maps one OrderInfo and hands the result to the sink; logs a sum that does not add up.
  void deliver(const Json& info, OrderKind kind, const std::string& fallback_time,
               sdk::Sink& sink) {
    Check check;
    const Mapped mapped = map_order(info, kind, config_.map, config_.offset, fallback_time, &check);
    if (!check.warning.empty()) host().log(CRMSYNC_LOG_WARNING, check.warning);
    sdk::deliver(mapped, sink, sdk::raw_text(info));
  }

  // One webhook event {eventType, eventTime (UTC), organizationId, correlationId, eventInfo}.
  void webhook_event(const Json& event, sdk::Sink& sink) {
    const Json& type = sdk::member(event, "eventType");
    const Json& info = sdk::member(event, "eventInfo");
    const Json& id = sdk::member(info, "id");
    const std::string order_id = id.is_string() ? id.get<std::string>() : std::string();
    if (!event.is_object() || !type.is_string()) {
      sink.fail(order_id, "Not an iiko webhook event (no eventType)", sdk::raw_text(event));
      return;
    }
    const std::string name = type.get<std::string>();
    if (name != "DeliveryOrderUpdate" && name != "TableOrderUpdate") {
      host().log(CRMSYNC_LOG_INFO,
                 "iiko webhook " + name + " ignored: only order updates are sales");
      return;
    }
    const Json& organization = sdk::member(event, "organizationId");
    const auto& allowed = config_.organization_ids;
    if (!allowed.empty() && organization.is_string() &&
        std::find(allowed.begin(), allowed.end(), organization.get<std::string>()) ==
            allowed.end()) {
      sink.fail(order_id,
                "Webhook for organization " + organization.get<std::string>() +
                    ", which this integration does not read",
                sdk::raw_text(event));
      return;
    }
    std::string fallback;
    const Json& time = sdk::member(event, "eventTime");
    if (time.is_string()) {
      if (!internal::local_seconds(time.get<std::string>())) {
        sink.fail(order_id, "eventTime is not yyyy-MM-dd HH:mm:ss.fff", sdk::raw_text(event));
        return;
      }
      fallback = time.get<std::string>().substr(0, 19) + "Z";
      fallback[10] = 'T';
    }
    deliver(info, name == "TableOrderUpdate" ? OrderKind::table : OrderKind::delivery, fallback,
            sink);
  }

  Config config_;  // immutable after open, so parse_webhook may run concurrently
  std::vector<std::string> all_organizations_;  // the login's organizations, when none configured
};

}  // namespace
}  // namespace crmsync::iiko

CRMSYNC_CONNECTOR(crmsync::iiko::IikoConnector,
                  {.id = "iiko",
                   .display_name = "iiko",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::iiko::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL |
                                   CRMSYNC_CAP_WEBHOOK,
                   .abi_minor_required = 1})
