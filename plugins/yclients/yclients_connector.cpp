// The YCLIENTS connector (DESIGN §9, spec 8.1.2, 8.2.3, 8.2.5, 8.3.2): polls a salon's records
// (visits) through the YCLIENTS REST API v1, maps attended ones to sales, reads YCLIENTS webhooks,
// registers its webhook URL and writes bonuses back to the client's loyalty card.
//
// Every request carries `Accept: application/vnd.yclients.v2+json` and
// `Authorization: Bearer <partner token>[, User <user token>]`. The user token is a secret
// setting, or is obtained with login and password through POST /auth and kept in the
// integration's durable state (key "user_token"), renewed once when YCLIENTS refuses it.
//
// The fetch cursor is a JSON object (empty cursor: the first run reads all records):
//   {"since": "2025-11-17T09:00:00Z", "page": 2, "seen_up_to": "2025-11-17T09:12:44Z"}
// `since` is the newest last_change_date of the previous complete pass; a pass asks for
// changed_after = since − overlap_seconds (YCLIENTS times have second granularity and records are
// saved late, so the boundary is re-read and dedup absorbs the repeats) and walks pages until
// meta.total_count is reached or a page comes back empty. `page` (absent: 1) is the next page of
// the pass in progress and `seen_up_to` the newest last_change_date it has read so far; when the
// pass completes it becomes the next `since`. A pass cut short by an empty page keeps the old
// `since`, so the next pass reads the rest again.
//
// The provider's rate limits (5 requests per second and 200 per minute per IP) are declared in
// the descriptor (ABI 1.1) for the host's HTTP service to enforce.
#include "yclients_mapping.h"

#include <crmsync/connector.hpp>
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_money.hpp>
#include <crmsync/connector_time.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::yclients {
namespace {

constexpr const char* kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "company_id": {"type": "integer", "minimum": 1, "description": "ID of the company (salon) in YCLIENTS"},
    "partner_token": {"type": "string", "minLength": 1, "x-secret": true,
                      "description": "Partner token (Bearer); required to talk to YCLIENTS"},
    "user_token": {"type": "string", "minLength": 1, "x-secret": true,
                   "description": "User token; or give login and password to obtain one"},
    "login": {"type": "string", "minLength": 1, "description": "YCLIENTS user login, when no user_token"},
    "password": {"type": "string", "minLength": 1, "x-secret": true,
                 "description": "YCLIENTS user password, with login"},
    "base_url": {"type": "string", "pattern": "^https?://", "default": "https://api.yclients.com",
                 "description": "API root"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                 "description": "ISO 4217 currency of the salon; the integration's currency when absent"},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 200, "default": 200,
                  "description": "Records per request (YCLIENTS allows up to 200)"},
    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400, "default": 600,
                        "description": "How far before the last sync each sync starts reading again"},
    "write_back_bonus": {"type": "boolean", "default": false,
                         "description": "Write accrued and redeemed bonuses to the client's YCLIENTS loyalty card"}
  },
  "required": ["company_id"],
  "additionalProperties": false
})json";

// YCLIENTS: "200 запросов в минуту, или 5 запросов в секунду на один IP-адрес".
constexpr crmsync_rate_limit_v1 kRateLimits[] = {{5, 1000}, {200, 60000}};

// The API version every request asks for (YCLIENTS answers 2.0 envelopes to it).
constexpr std::string_view kAccept = "application/vnd.yclients.v2+json";
// The test-connection message for refused credentials (spec 8.3.2).
constexpr std::string_view kInvalidCredentials = "❌ Invalid API token or Company ID";

// The non-secret settings of one integration.
struct Config {
  std::string company_id;
  std::string base_url = "https://api.yclients.com";
  std::string login;
  std::string currency;
  int64_t page_size = 200;
  int64_t overlap_seconds = 600;
  bool write_back_bonus = false;
};

// Reads the settings; the host validated them against kConfigSchema, this guards the rest.
Config parse_config(const std::string& text) {
  const Json json = sdk::parse_settings(text, "YCLIENTS");
  Config config;
  const auto company = sdk::id_text(sdk::member(json, "company_id"));
  if (!company)
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "YCLIENTS setting company_id is required");
  config.company_id = *company;
  auto text_setting = [&](const char* name, std::string& out) {
    const Json& value = sdk::member(json, name);
    if (value.is_string()) out = value.get<std::string>();
  };
  text_setting("base_url", config.base_url);
  while (!config.base_url.empty() && config.base_url.back() == '/') config.base_url.pop_back();
  text_setting("login", config.login);
  text_setting("currency", config.currency);
  sdk::integer_setting(json, "page_size", 1, 200, config.page_size, "YCLIENTS");
  sdk::integer_setting(json, "overlap_seconds", 0, 86400, config.overlap_seconds, "YCLIENTS");
  const Json& write_back = sdk::member(json, "write_back_bonus");
  config.write_back_bonus = write_back.is_boolean() && write_back.get<bool>();
  return config;
}

// The fetch cursor (see the file comment).
// Times are Unix seconds, 0 when absent (no YCLIENTS record changed in 1970).
struct Cursor {
  int64_t since = 0;
  int64_t page = 1;
  int64_t seen_up_to = 0;

  // Reads a cursor this connector wrote; anything else is INVALID_INPUT.
  static Cursor parse(std::string_view text) {
    const sdk::CursorReader reader(text, "Not a YCLIENTS cursor: " + std::string(text));
    auto time = [&](const char* name) {
      const auto seconds = reader.time_field(name, sdk::parse_rfc3339);
      if (seconds && *seconds <= 0) reader.invalid();
      return seconds.value_or(0);
    };
    Cursor cursor;
    cursor.since = time("since");
    cursor.seen_up_to = time("seen_up_to");
    cursor.page = reader.integer_field("page", 1).value_or(1);
    return cursor;
  }

  // The cursor as checkpointed.
  std::string text() const {
    Json json = Json::object();
    if (since > 0) json["since"] = sdk::format_utc(since);
    if (page > 1) json["page"] = page;
    if (seen_up_to > 0) json["seen_up_to"] = sdk::format_utc(seen_up_to);
    return sdk::dump_json(json);
  }
};

// YCLIENTS's error message from its envelope {"success": false, "meta": {"message": ...}}.
std::string provider_message(const std::string& body) {
  const Json json = sdk::try_parse_json(body);
  const Json& message = sdk::member(sdk::member(json, "meta"), "message");
  if (message.is_string()) return message.get<std::string>();
  return sdk::body_excerpt(body);
}

// A successful YCLIENTS envelope {success, data, meta}; throws `code` when the body is not one.
Json envelope(std::string_view body, int32_t code, std::string_view what) {
  Json json = sdk::parse_json(body, "YCLIENTS " + std::string(what));
  if (json.is_discarded()) {
    throw sdk::Error(code, "YCLIENTS " + std::string(what) + " is not JSON");
  }
  if (!json.is_object() || !json.contains("data")) {
    throw sdk::Error(code,
                     "YCLIENTS " + std::string(what) + " has no {success, data, meta} envelope");
  }
  if (json["success"] == false) {
    throw sdk::Error(code, "YCLIENTS " + std::string(what) +
                               " reports a failure: " + provider_message(std::string(body)));
  }
  return json;
}

// The `data` of a successful YCLIENTS envelope (see envelope()).
Json envelope_data(std::string_view body, int32_t code, std::string_view what) {
  return std::move(envelope(body, code, what)["data"]);
}

// Delivers one mapped record to the sink, with the record as its raw JSON.
void deliver(const Mapped& mapped, const Json& raw, const sdk::Sink& sink) {
  sdk::deliver(mapped, sink, sdk::raw_text(raw));
}

// One YCLIENTS integration (one company).
class YclientsConnector : public sdk::Connector {
 public:
  YclientsConnector(sdk::Host host, const sdk::OpenArgs& args)
      : sdk::Connector(host), config_(parse_config(args.config_json)) {}

  // GET /company/{id} with the partner token: the company's title, or why not.
  std::string health_check() override {
    sdk::HttpResponse response;
    try {
      response = send("GET", "/api/v1/company/" + config_.company_id, {}, Auth::partner);
    } catch (const sdk::Error& e) {
      if (e.code() == CRMSYNC_E_INVALID_CONFIG || e.code() == CRMSYNC_E_CANCELLED) throw;
      throw sdk::Error(e.code(), "❌ Cannot reach YCLIENTS at " + config_.base_url +
                                     ": network error, no answer (" + code_text(e.code()) + ")");
    }
    if (response.status == 401 || response.status == 403 || response.status == 404) {
      host().log(CRMSYNC_LOG_WARNING, "Test connection: YCLIENTS answered HTTP " +
                                          std::to_string(response.status) + ": " +
                                          provider_message(response.body));
      throw sdk::Error(response.status == 404 ? CRMSYNC_E_NOT_FOUND : CRMSYNC_E_UNAUTHENTICATED,
                       std::string(kInvalidCredentials));
    }
    if (response.status != 200) {
      throw sdk::Error(sdk::http_status_code(response.status),
                       "❌ YCLIENTS is unavailable: HTTP " + std::to_string(response.status) + ": " +
                           provider_message(response.body));
    }
    const Json company = envelope_data(response.body, CRMSYNC_E_UNAVAILABLE, "company answer");
    const Json& title = sdk::member(company, "title");
    if (!config_.login.empty() && !secret("user_token")) {
      try {
        user_token();
      } catch (const sdk::Error& e) {
        throw sdk::Error(e.code(), "❌ " + std::string(e.what()));
      }
    }
    return "✅ Connected to YCLIENTS - " + (title.is_string() ? title.get<std::string>() : "?");
  }

  // One records page of the current pass (see the cursor in the file comment).
  void fetch(std::string_view cursor_text, sdk::Sink& sink) override {
    const Cursor cursor = Cursor::parse(cursor_text);
    std::string path = "/api/v1/records/" + config_.company_id +
                       "?page=" + std::to_string(cursor.page) +
                       "&count=" + std::to_string(config_.page_size);
    if (cursor.since > 0) {
      path += "&changed_after=" +
              sdk::percent_encode(sdk::format_utc(cursor.since - config_.overlap_seconds));
    }
    const sdk::HttpResponse response = send_ok("GET", path, {}, "records page");
    const Json page_json = envelope(response.body, CRMSYNC_E_UNAVAILABLE, "records page");
    const Json& data = page_json["data"];
    const Json& meta = sdk::member(page_json, "meta");
    if (!data.is_array())
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "YCLIENTS records page has no data list");
    const auto total = sdk::integer_or_text(sdk::member(meta, "total_count"));
    if (!total)
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "YCLIENTS records page has no meta.total_count");
    const auto page = sdk::integer_or_text(sdk::member(meta, "page"));
    if (page && *page != cursor.page) {
      // A repeated page would silently lose the page asked for: fail the batch, retry it later.
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "YCLIENTS answered page " + std::to_string(*page) +
                                                  " when asked for page " +
                                                  std::to_string(cursor.page));
    }

    Cursor next = cursor;
    for (const Json& record : data) {
      deliver(map_record(record, config_.currency), record, sink);
      const Json& changed = sdk::member(record, "last_change_date");
      const auto when =
          changed.is_string() ? sdk::parse_rfc3339(changed.get<std::string>()) : std::nullopt;
      next.seen_up_to = std::max(next.seen_up_to, when.value_or(0));
    }
    const int64_t seen = (cursor.page - 1) * config_.page_size + static_cast<int64_t>(data.size());
    const bool more = !data.empty() && seen < *total;
    if (more) {
      next.page = cursor.page + 1;
    } else {
      if (seen >= *total) {
        next.since = std::max(cursor.since, next.seen_up_to);
      } else {
        host().log(CRMSYNC_LOG_WARNING,
                   "YCLIENTS sent an empty page " + std::to_string(cursor.page) + " of " +
                       std::to_string(*total) + " records; the next sync reads them again");
      }
      next.page = 1;
      next.seen_up_to = 0;
    }
    sink.checkpoint(next.text(), more);
  }

  // GET /record/{company}/{id}; a record that is gone is skipped.
  void fetch_object(std::string_view id, sdk::Sink& sink) override {
    if (id.empty() || id.find_first_not_of("0123456789") != std::string_view::npos) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "Not a YCLIENTS record id: " + std::string(id));
    }
    const std::string path = "/api/v1/record/" + config_.company_id + "/" + std::string(id);
    const sdk::HttpResponse response = send("GET", path, {}, Auth::user);
    if (response.status == 404) {
      sink.skip(id, "Not a sale: the record no longer exists in YCLIENTS");
      return;
    }
    check_ok(response, "record " + std::string(id));
    const Json record = envelope_data(response.body, CRMSYNC_E_UNAVAILABLE, "record answer");
    deliver(map_record(record, config_.currency), record, sink);
  }

  // YCLIENTS does not sign webhooks; the host authenticates the URL's secret token first.
  void parse_webhook(const sdk::WebhookRequest& request, sdk::Sink& sink) override {
    // An untyped body is read as JSON too.
    if (!sdk::media_type(request.content_type).empty() &&
        !sdk::is_json_media_type(request.content_type)) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                       "YCLIENTS webhooks are JSON, not " + request.content_type);
    }
    const Json body = sdk::parse_json(request.body, "the YCLIENTS webhook");
    if (body.is_discarded())
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "YCLIENTS webhook body is not JSON");
    if (!body.is_object() && !body.is_array()) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                       "YCLIENTS webhook body is neither an event nor a list");
    }
    if (body.is_object()) {
      webhook_event(body, sink);
    } else {
      for (const Json& event : body) webhook_event(event, sink);
    }
  }

  // Accepts a records list page ({data: [...]}), one record ({data: {...}}) or a visit
  // ({data: {records: [...]}}), as saved from the API.
  void map_response(std::string_view body, sdk::Sink& sink) override {
    const Json data = envelope_data(body, CRMSYNC_E_INVALID_INPUT, "response");
    const Json* records = &data;
    if (data.is_object() && data.contains("records")) records = &data["records"];
    auto is_record = [](const Json& j) { return j.is_object() && j.contains("attendance"); };
    if (records->is_object()) {
      if (!is_record(*records)) {
        throw sdk::Error(
            CRMSYNC_E_INVALID_INPUT,
            "Not a YCLIENTS records response: its data is not a record (no attendance)");
      }
      deliver(map_record(*records, config_.currency), *records, sink);
      return;
    }
    if (!records->is_array())
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "YCLIENTS response data is not a list");
    if (!records->empty() && std::none_of(records->begin(), records->end(), is_record)) {
      throw sdk::Error(
          CRMSYNC_E_INVALID_INPUT,
          "Not a YCLIENTS records response: its objects are not records (no attendance)");
    }
    for (const Json& record : *records) deliver(map_record(record, config_.currency), record, sink);
  }

  // Adds url to the company's hooks settings (records on), or removes the URL registered before
  // when url is empty; the registered URL is kept in the durable state key "webhook_url".
  void configure_webhook(std::string_view url) override {
    const std::string path = "/api/v1/hooks_settings/" + config_.company_id;
    Json settings = envelope_data(send_ok("GET", path, {}, "hooks settings").body,
                                  CRMSYNC_E_UNAVAILABLE, "hooks settings");
    if (!settings.is_object())
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "YCLIENTS hooks settings are not an object");
    Json urls = sdk::member(settings, "urls").is_array() ? settings["urls"] : Json::array();
    const auto registered = host().state_get("webhook_url");
    auto drop = [&](const std::string& old) {
      urls.erase(std::remove(urls.begin(), urls.end(), Json(old)), urls.end());
    };
    if (registered && registered->value != url) drop(registered->value);
    if (!url.empty() && std::find(urls.begin(), urls.end(), Json(url)) == urls.end()) {
      urls.push_back(std::string(url));
    }
    Json update = {{"urls", urls}, {"active", urls.empty() ? 0 : 1}};
    if (!url.empty()) update["record"] = 1;
    send_ok("POST", path, sdk::dump_json(update), "hooks settings update");
    if (!registered || registered->value != url) {
      if (!host().state_cas("webhook_url", registered ? registered->version : 0, url)) {
        throw sdk::Error(CRMSYNC_E_CONFLICT, "The webhook registration changed meanwhile");
      }
    }
    host().log(CRMSYNC_LOG_INFO, url.empty() ? "YCLIENTS webhook removed"
                                             : "YCLIENTS webhook registered: " + std::string(url));
  }

  // Idempotent through the durable state key "bonus:<idempotency_key>", set once YCLIENTS
  // accepted the operation. YCLIENTS has no idempotency key of its own, so a response lost after
  // YCLIENTS applied the operation is the one case a retry can repeat it.
  void push_bonus(const crmsync_bonus_event_v1& event, std::string_view key) override {
    if (!config_.write_back_bonus) {
      host().log(CRMSYNC_LOG_DEBUG, "Bonus write-back is off for this integration");
      return;
    }
    if (key.empty())
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "push_bonus needs an idempotency key");
    const std::string state_key = "bonus:" + std::string(key);
    if (host().state_get(state_key)) return;
    if (event.amount_minor <= 0)
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "A bonus amount must be positive");
    std::string digits;
    for (char c : sdk::view(event.customer_phone)) {
      if (c >= '0' && c <= '9') digits += c;
    }
    if (digits.empty())
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "A bonus needs the client's phone");

    const Json company =
        envelope_data(send_ok("GET", "/api/v1/company/" + config_.company_id, {}, "company").body,
                      CRMSYNC_E_UNAVAILABLE, "company answer");
    const auto group = sdk::id_text(sdk::member(company, "main_group_id"));
    if (!group) throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "YCLIENTS company has no main_group_id");
    const Json cards = envelope_data(
        send_ok("GET", "/api/v1/loyalty/cards/" + digits + "/" + *group + "/" + config_.company_id,
                {}, "loyalty cards")
            .body,
        CRMSYNC_E_UNAVAILABLE, "loyalty cards");
    if (!cards.is_array() || cards.empty()) {
      throw sdk::Error(CRMSYNC_E_NOT_FOUND,
                       "The client +" + digits + " has no YCLIENTS loyalty card");
    }
    const auto card = sdk::id_text(sdk::member(cards[0], "id"));
    if (!card) throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "A YCLIENTS loyalty card has no id");

    const bool redeemed = event.kind == CRMSYNC_BONUS_REDEEMED;
    const std::string sale = "YCLIENTS-" + std::string(sdk::view(event.external_id));
    // The amount is written as decimal text: money never passes through a float.
    const std::string amount = sdk::minor_text(redeemed ? -event.amount_minor : event.amount_minor);
    const Json title =
        std::string(redeemed ? "Списание бонусов за " : "Начисление бонусов за ") + sale;
    const std::string body = "{\"amount\":" + amount + ",\"title\":" + sdk::dump_json(title) + "}";
    send_ok(
        "POST",
        "/api/v1/company/" + config_.company_id + "/loyalty/cards/" + *card + "/manual_transaction",
        body, "loyalty card operation", /*no_retry=*/true);
    if (!host().state_cas(state_key, 0, "done")) {
      throw sdk::Error(CRMSYNC_E_CONFLICT,
                       "The bonus " + std::string(key) + " was written concurrently");
    }
  }

 private:
  // Which tokens a request carries: partner only (company, auth) or partner and user.
  enum class Auth { partner, user };

  // How a failure to get any answer reads in the test-connection message.
  static std::string code_text(int32_t code) {
    switch (code) {
      case CRMSYNC_E_TIMEOUT:
        return "timeout";
      case CRMSYNC_E_RATE_LIMITED:
        return "rate limited";
      default:
        return "connection failed";
    }
  }

  // A secret setting of the integration, if set.
  std::optional<std::string> secret(std::string_view name) const { return host().secret(name); }

  // The partner token, which every request needs.
  std::string partner_token() const {
    auto token = secret("partner_token");
    if (!token)
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "YCLIENTS setting partner_token is required");
    return *token;
  }

  // The user token: the secret setting, else the durable one obtained with login and password
  // (fresh: ignore the stored one, it was refused).
  std::string user_token(bool fresh = false) {
    if (auto token = secret("user_token")) return *token;
    if (config_.login.empty()) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "YCLIENTS needs a user_token, or login and password to obtain one");
    }
    const auto stored = host().state_get("user_token");
    if (stored && !fresh) return stored->value;
    const auto password = secret("password");
    if (!password)
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "YCLIENTS setting password is required with login");
    const Json credentials = {{"login", config_.login}, {"password", *password}};
    const sdk::HttpResponse response =
        send("POST", "/api/v1/auth", sdk::dump_json(credentials), Auth::partner);
    if (response.status == 401 || response.status == 403 || response.status == 400) {
      throw sdk::Error(CRMSYNC_E_UNAUTHENTICATED, "YCLIENTS refused the login or password: " +
                                                      provider_message(response.body));
    }
    check_ok(response, "auth");
    const Json data = envelope_data(response.body, CRMSYNC_E_UNAVAILABLE, "auth answer");
    const Json& token = sdk::member(data, "user_token");
    if (!token.is_string() || token.get_ref<const std::string&>().empty()) {
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "YCLIENTS auth answer has no user_token");
    }
    // Another run may have renewed it meanwhile: then both tokens are valid, keep the stored one.
    if (!host().state_cas("user_token", stored ? stored->version : 0, token.get<std::string>())) {
      if (auto winner = host().state_get("user_token")) return winner->value;
    }
    return token.get<std::string>();
  }

  // Runs a request with the YCLIENTS headers; any HTTP status comes back.
  sdk::HttpResponse send(const std::string& method, const std::string& path, std::string body,
                         Auth auth, bool no_retry = false, bool fresh_user = false) {
    if (host().cancelled()) throw sdk::Error(CRMSYNC_E_CANCELLED, "Cancelled");
    sdk::HttpRequest request;
    request.method = method;
    request.url = config_.base_url + path;
    std::string authorization = "Bearer " + partner_token();
    if (auth == Auth::user) authorization += ", User " + user_token(fresh_user);
    request.headers = {{"Accept", std::string(kAccept)}, {"Authorization", authorization}};
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    request.body = std::move(body);
    request.no_retry = no_retry;
    return host().http(request);
  }

  // Throws the ABI error for a non-200 answer.
  void check_ok(const sdk::HttpResponse& response, const std::string& what) const {
    if (response.status == 200 || response.status == 201) return;
    sdk::throw_http_error("YCLIENTS " + what, response.status, provider_message(response.body));
  }

  // A user-authorised request that must succeed; a refused stored user token is renewed once.
  sdk::HttpResponse send_ok(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& what,
                            bool no_retry = false) {
    sdk::HttpResponse response = send(method, path, body, Auth::user, no_retry);
    if (response.status == 401 && !config_.login.empty() && !secret("user_token")) {
      host().log(CRMSYNC_LOG_INFO, "YCLIENTS refused the stored user token; logging in again");
      response = send(method, path, body, Auth::user, no_retry, /*fresh_user=*/true);
    }
    check_ok(response, what);
    return response;
  }

  // One webhook event {company_id, resource, resource_id, status, data}.
  void webhook_event(const Json& event, sdk::Sink& sink) {
    const auto resource_id = sdk::id_text(sdk::member(event, "resource_id"));
    const Json& resource = sdk::member(event, "resource");
    if (!event.is_object() || !resource.is_string()) {
      sink.fail(resource_id.value_or(""), "Not a YCLIENTS webhook event (no resource)",
                sdk::raw_text(event));
      return;
    }
    if (resource != "record") {
      host().log(CRMSYNC_LOG_INFO, "YCLIENTS webhook for " + resource.get<std::string>() +
                                       " ignored: only records are sales");
      return;
    }
    const auto company = sdk::id_text(sdk::member(event, "company_id"));
    if (company && *company != config_.company_id) {
      sink.fail(
          resource_id.value_or(""),
          "Webhook for company " + *company + ", this integration is company " + config_.company_id,
          sdk::raw_text(event));
      return;
    }
    const Json& status = sdk::member(event, "status");
    if (status == "delete") {
      if (!resource_id) {
        sink.fail("", "A record delete event without resource_id", sdk::raw_text(event));
        return;
      }
      host().log(CRMSYNC_LOG_INFO, "YCLIENTS record " + *resource_id + " deleted (webhook)");
      sink.skip(*resource_id, "Not a sale: the record was deleted");
      return;
    }
    if (status != "create" && status != "update") {
      sink.fail(resource_id.value_or(""), "Unknown record event status " + sdk::raw_text(status),
                sdk::raw_text(event));
      return;
    }
    const Json& data = sdk::member(event, "data");
    if (data.is_object() && !data.empty()) {
      deliver(map_record(data, config_.currency), data, sink);
    } else if (resource_id) {
      sink.refetch(*resource_id);
    } else {
      sink.fail("", "A record event with neither data nor resource_id", sdk::raw_text(event));
    }
  }

  Config config_;  // immutable after open, so parse_webhook may run concurrently
};

}  // namespace
}  // namespace crmsync::yclients

CRMSYNC_CONNECTOR(crmsync::yclients::YclientsConnector,
                  {.id = "yclients",
                   .display_name = "YCLIENTS",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::yclients::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL |
                                   CRMSYNC_CAP_WEBHOOK | CRMSYNC_CAP_PUSH_BONUS,
                   .abi_minor_required = 1,
                   .rate_limits = crmsync::yclients::kRateLimits,
                   .rate_limit_count = 2})
