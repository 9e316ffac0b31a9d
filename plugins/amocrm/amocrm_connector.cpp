// The amoCRM connector (DESIGN §9, spec 8.1.3, 8.2.5): polls an account's leads through the
// amoCRM REST API v4, maps leads in a won status to sales, turns amoCRM's form-encoded webhooks
// into re-reads of the leads they name, and registers its webhook URL.
//
// Authorization is OAuth 2.0 (POST /oauth2/access_token): the first connection exchanges the
// authorization code (secret setting `code`), later ones use the refresh token. amoCRM rotates
// refresh tokens: each one works once, and the answer carries the next. The pair is kept in the
// integration's durable state (key "oauth") and the new refresh token is stored with
// compare-and-set BEFORE the new access token is used, so a crash right after a refresh cannot
// lose it. The access token is refreshed a minute before it expires and when amoCRM answers 401.
// A refused code or refresh token is UNAUTHENTICATED with what the admin must do; it is never
// retried within a run. A changed `code` or `refresh_token` setting (the admin reconnected) wins
// over the stored pair: the state remembers a fingerprint of the setting it was seeded from.
//
// The fetch cursor is a JSON object (empty cursor: the first run reads every lead):
//   {"from": 1763380000, "page": 3, "started": 1763380800, "seen": 1763380790}
// `from` is the filter[updated_at][from] of the current pass (Unix seconds, 0: no filter);
// `page` the next page of the pass (absent: 1); `started` the host time when the pass began and
// `seen` the newest updated_at it has read. Pages are ordered by id, so leads changed during a
// pass do not shift the pages still to read. A pass ends on HTTP 204 or a page without
// _links.next; the next pass then starts at min(seen, started − overlap_seconds), re-reading the
// boundary (dedup absorbs the repeats) and whatever changed while the pass ran.
//
// A lead seen in a won status is remembered (state key "won:<id>"); if it later shows up in
// another status, that is logged as a warning and the stored transaction is left as it is.
//
// amoCRM allows 7 requests per second per integration; the limit is declared in the descriptor.
#include "amocrm_mapping.h"

#include <crmsync/connector.hpp>
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::amocrm {
namespace {

constexpr const char* kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "subdomain": {"type": "string", "pattern": "^[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*$",
                  "description": "The account's address, e.g. stimcentr.amocrm.ru (a bare name means <name>.amocrm.ru)"},
    "client_id": {"type": "string", "minLength": 1, "description": "Integration ID from amoCRM's integration settings"},
    "client_secret": {"type": "string", "minLength": 1, "x-secret": true,
                      "description": "Secret key of the integration"},
    "redirect_uri": {"type": "string", "pattern": "^https?://",
                     "description": "Redirect URI registered for the integration"},
    "code": {"type": "string", "minLength": 1, "x-secret": true,
             "description": "Authorization code for the first connection (single-use, valid 20 minutes)"},
    "refresh_token": {"type": "string", "minLength": 1, "x-secret": true,
                      "description": "A refresh token, instead of a code; rotated and kept by crmsync afterwards"},
    "won_status_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                       "default": [142], "description": "Statuses that make a lead a sale (142: Успешно реализовано)"},
    "pipeline_ids": {"type": "array", "items": {"type": "integer", "minimum": 1},
                     "description": "Only leads of these pipelines; all pipelines when absent"},
    "phone_field_code": {"type": "string", "minLength": 1, "default": "PHONE",
                         "description": "field_code of the contact's phone field"},
    "amount_field": {"type": ["string", "integer"], "pattern": "^(price|[0-9]+)$", "minimum": 1,
                     "default": "price",
                     "description": "Where the amount is: the lead's price, or the id of a custom field (whole roubles)"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                 "description": "ISO 4217 currency; the integration's currency when absent"},
    "base_url": {"type": "string", "pattern": "^https?://",
                 "description": "API root; https://<subdomain> when absent"},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 250, "default": 250,
                  "description": "Leads per request (amoCRM allows up to 250)"},
    "overlap_seconds": {"type": "integer", "minimum": 0, "maximum": 86400, "default": 300,
                        "description": "How far before the last sync each sync starts reading again"}
  },
  "required": ["subdomain", "client_id", "redirect_uri"],
  "additionalProperties": false
})json";

// amoCRM: "не более 7 запросов в секунду" per integration.
constexpr crmsync_rate_limit_v1 kRateLimits[] = {{7, 1000}};

// The durable state key of the OAuth tokens.
constexpr std::string_view kTokensKey = "oauth";
// Access tokens are renewed this long before amoCRM's expiry.
constexpr int64_t kRefreshMarginMs = 60'000;
// Contacts read per request when looking up phones.
constexpr size_t kContactBatch = 100;
// The lead events a registered webhook subscribes to.
constexpr const char* kWebhookEvents[] = {"add_lead", "update_lead", "status_lead", "delete_lead"};

// The non-secret settings of one integration.
struct Config {
  std::string subdomain;  // host name, e.g. stimcentr.amocrm.ru
  std::string account;    // its first label, as webhooks name the account
  std::string base_url;
  std::string client_id;
  std::string redirect_uri;
  SaleRules rules;
  int64_t page_size = 250;
  int64_t overlap_seconds = 300;
};

// Reads the settings; the host validated them against kConfigSchema, this guards the rest.
Config parse_config(const std::string& text) {
  const Json json = sdk::parse_settings(text, "amoCRM");
  Config config;
  auto text_setting = [&](const char* name, std::string& out, bool required) {
    const Json& value = sdk::member(json, name);
    if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
      out = value.get<std::string>();
    } else if (required || !value.is_null()) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       std::string("amoCRM setting ") + name + " must be a non-empty string");
    }
  };
  text_setting("subdomain", config.subdomain, true);
  std::transform(config.subdomain.begin(), config.subdomain.end(), config.subdomain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (config.subdomain.find('.') == std::string::npos) config.subdomain += ".amocrm.ru";
  config.account = config.subdomain.substr(0, config.subdomain.find('.'));
  config.base_url = "https://" + config.subdomain;
  text_setting("base_url", config.base_url, false);
  while (!config.base_url.empty() && config.base_url.back() == '/') config.base_url.pop_back();
  text_setting("client_id", config.client_id, true);
  text_setting("redirect_uri", config.redirect_uri, true);
  text_setting("phone_field_code", config.rules.phone_field_code, false);
  text_setting("currency", config.rules.currency, false);

  auto id_list = [&](const char* name, std::vector<int64_t>& out) {
    const Json& value = sdk::member(json, name);
    if (value.is_null()) return;
    if (!value.is_array()) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       std::string("amoCRM setting ") + name + " must be a list of ids");
    }
    out.clear();
    for (const Json& item : value) {
      const auto id = sdk::integer(item);
      if (!id || *id < 1) {
        throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, std::string("amoCRM setting ") + name +
                                                       " holds a non-id: " + sdk::dump_json(item));
      }
      out.push_back(*id);
    }
  };
  id_list("won_status_ids", config.rules.won_status_ids);
  if (config.rules.won_status_ids.empty()) {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "amoCRM setting won_status_ids must name a status");
  }
  id_list("pipeline_ids", config.rules.pipeline_ids);

  const Json& amount = sdk::member(json, "amount_field");
  if (const auto field = sdk::integer(amount)) {
    config.rules.amount_field_id = *field;
  } else if (amount.is_string() && amount != "price") {
    const auto& text_value = amount.get_ref<const std::string&>();
    if (!internal::is_digits(text_value)) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "amoCRM setting amount_field must be \"price\" or a custom field id");
    }
    config.rules.amount_field_id = internal::digits_value(text_value);
  } else if (!amount.is_null() && !amount.is_string()) {
    throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                     "amoCRM setting amount_field must be \"price\" or a custom field id");
  }

  sdk::integer_setting(json, "page_size", 1, 250, config.page_size, "amoCRM");
  sdk::integer_setting(json, "overlap_seconds", 0, 86400, config.overlap_seconds, "amoCRM");
  return config;
}

// The fetch cursor (see the file comment). Times are Unix seconds, 0 when absent.
struct Cursor {
  int64_t from = 0;
  int64_t page = 1;
  int64_t started = 0;
  int64_t seen = 0;

  // Reads a cursor this connector wrote; anything else is INVALID_INPUT.
  static Cursor parse(std::string_view text) {
    const sdk::CursorReader reader(text, "Not an amoCRM cursor: " + std::string(text));
    Cursor cursor;
    cursor.from = reader.integer_field("from", 0).value_or(0);
    cursor.page = reader.integer_field("page", 1).value_or(1);
    cursor.started = reader.integer_field("started", 0).value_or(0);
    cursor.seen = reader.integer_field("seen", 0).value_or(0);
    return cursor;
  }

  // The cursor as checkpointed.
  std::string text() const {
    Json json = Json::object();
    if (from > 0) json["from"] = from;
    if (page > 1) json["page"] = page;
    if (started > 0) json["started"] = started;
    if (seen > 0) json["seen"] = seen;
    return sdk::dump_json(json);
  }
};

// amoCRM's error message from its problem JSON {"title", "detail", "hint"}, else the body's start.
std::string provider_message(const std::string& body) {
  const Json json = sdk::try_parse_json(body);
  for (const char* name : {"hint", "detail", "title"}) {
    const Json& value = sdk::member(json, name);
    if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
      return value.get<std::string>();
    }
  }
  return sdk::body_excerpt(body);
}

// A JSON object answer; throws `code` when the body is not one.
Json json_object(std::string_view body, int32_t code, std::string_view what) {
  return sdk::parse_object(body, code, "amoCRM " + std::string(what));
}

// The leads of a list answer (_embedded.leads), or nullopt when the body is not one.
const Json* embedded_leads(const Json& page) {
  const Json& leads = sdk::member(sdk::member(page, "_embedded"), "leads");
  return leads.is_array() ? &leads : nullptr;
}

// FNV-1a 64 of text in hex: a fingerprint of the setting the stored tokens came from, so that the
// state never holds a secret setting, only notices that it changed. Written by hand: eight lines,
// and no cryptographic strength is needed.
std::string fingerprint(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

// The OAuth token pair as kept in the durable state.
struct Tokens {
  std::string access;
  std::string refresh;
  int64_t expires_at_ms = 0;
  std::string seed;  // fingerprint of the code / refresh_token setting it descends from

  std::string text() const {
    return sdk::dump_json(Json{{"access_token", access},
                               {"refresh_token", refresh},
                               {"expires_at_ms", expires_at_ms},
                               {"seed", seed}});
  }
  // Reads the stored pair; nullopt when the state holds something else.
  static std::optional<Tokens> parse(const std::string& text) {
    const Json json = sdk::try_parse_json(text);
    const Json& access = sdk::member(json, "access_token");
    const Json& refresh = sdk::member(json, "refresh_token");
    const auto expires = sdk::integer(sdk::member(json, "expires_at_ms"));
    const Json& seed = sdk::member(json, "seed");
    if (!access.is_string() || !refresh.is_string() || !expires || !seed.is_string()) {
      return std::nullopt;
    }
    return Tokens{access.get<std::string>(), refresh.get<std::string>(), *expires,
                  seed.get<std::string>()};
  }
};

// How a grant request is made.
enum class Grant { authorization_code, refresh_token };

// One amoCRM integration (one account).
class AmocrmConnector : public sdk::Connector {
 public:
  AmocrmConnector(sdk::Host host, const sdk::OpenArgs& args)
      : sdk::Connector(host), config_(parse_config(args.config_json)) {}

  // GET /api/v4/account: the account's name, or why not.
  std::string health_check() override {
    sdk::HttpResponse response;
    try {
      response = api("GET", config_.base_url + "/api/v4/account");
      check_ok(response, "account");
    } catch (const sdk::Error& e) {
      if (e.code() == CRMSYNC_E_CANCELLED) throw;
      throw sdk::Error(e.code(), "❌ " + std::string(e.what()));
    }
    const Json account = json_object(response.body, CRMSYNC_E_UNAVAILABLE, "account answer");
    const Json& name = sdk::member(account, "name");
    return "✅ Connected to AMO CRM - " + (name.is_string() ? name.get<std::string>() : "?");
  }

  // One leads page of the current pass (see the cursor in the file comment).
  void fetch(std::string_view cursor_text, sdk::Sink& sink) override {
    Cursor cursor = Cursor::parse(cursor_text);
    if (cursor.page == 1) cursor.started = host().now_ms() / 1000;
    std::string url = config_.base_url +
                      "/api/v4/leads?with=contacts&limit=" + std::to_string(config_.page_size) +
                      "&page=" + std::to_string(cursor.page) + "&" +
                      sdk::percent_encode("order[id]") + "=asc";
    if (cursor.from > 0) {
      url +=
          "&" + sdk::percent_encode("filter[updated_at][from]") + "=" + std::to_string(cursor.from);
    }
    for (int64_t pipeline : config_.rules.pipeline_ids) {
      url += "&" + sdk::percent_encode("filter[pipeline_id][]") + "=" + std::to_string(pipeline);
    }
    const sdk::HttpResponse response = api("GET", url);
    Json page = Json::object();
    const Json* leads = nullptr;
    bool next = false;
    if (response.status != 204) {
      check_ok(response, "leads page " + std::to_string(cursor.page));
      page = json_object(response.body, CRMSYNC_E_UNAVAILABLE, "leads page");
      leads = embedded_leads(page);
      if (!leads)
        throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "amoCRM leads page has no _embedded.leads");
      next = sdk::member(sdk::member(sdk::member(page, "_links"), "next"), "href").is_string();
    }

    Cursor following = cursor;
    if (leads) {
      const auto contacts = load_contacts(*leads);
      for (const Json& lead : *leads) {
        deliver(lead, map_lead(lead, config_.rules, contacts), sink, /*track=*/true);
        const auto updated = sdk::integer(sdk::member(lead, "updated_at"));
        following.seen = std::max(following.seen, updated.value_or(0));
      }
    }
    const bool more = next && leads && !leads->empty();
    if (more) {
      following.page = cursor.page + 1;
    } else {
      if (following.seen > 0) {
        following.from = std::max(
            cursor.from, std::min(following.seen, cursor.started - config_.overlap_seconds));
      }
      following.page = 1;
      following.started = 0;
      following.seen = 0;
    }
    sink.checkpoint(following.text(), more);
  }

  // GET /api/v4/leads/{id}?with=contacts, mapped like fetch; a lead that is gone is skipped.
  void fetch_object(std::string_view id, sdk::Sink& sink) override {
    if (!internal::is_digits(id)) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "Not an amoCRM lead id: " + std::string(id));
    }
    const sdk::HttpResponse response =
        api("GET", config_.base_url + "/api/v4/leads/" + std::string(id) + "?with=contacts");
    if (response.status == 204 || response.status == 404) {
      sink.skip(id, "Not a sale: the lead no longer exists in amoCRM");
      return;
    }
    check_ok(response, "lead " + std::string(id));
    const Json lead = json_object(response.body, CRMSYNC_E_UNAVAILABLE, "lead answer");
    const Json leads = Json::array({lead});
    deliver(lead, map_lead(lead, config_.rules, load_contacts(leads)), sink, /*track=*/true);
  }

  // amoCRM does not sign webhooks; the host authenticated the URL's secret token first. Every
  // lead event is a trigger to re-read the lead (the body carries amoCRM's old field names and
  // text prices); deleted leads are skipped.
  void parse_webhook(const sdk::WebhookRequest& request, sdk::Sink& sink) override {
    if (sdk::media_type(request.content_type) != "application/x-www-form-urlencoded") {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                       "amoCRM webhooks are application/x-www-form-urlencoded, not " +
                           (request.content_type.empty() ? std::string("untyped bodies")
                                                         : request.content_type));
    }
    const auto read = read_webhook(request.body);
    if (const auto* error = std::get_if<std::string>(&read)) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "amoCRM webhook body: " + *error);
    }
    const WebhookBody& body = std::get<WebhookBody>(read);
    if (body.subdomain && *body.subdomain != config_.account) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "Webhook from amoCRM account " + *body.subdomain +
                                                    ", this integration is " + config_.account);
    }
    if (body.leads.empty()) {
      std::string entities;
      for (const auto& entity : body.other_entities)
        entities += (entities.empty() ? "" : ", ") + entity;
      host().log(CRMSYNC_LOG_INFO, "amoCRM webhook about " +
                                       (entities.empty() ? std::string("the account") : entities) +
                                       " ignored: only leads are sales");
      return;
    }
    std::set<std::string> named;
    for (const LeadEvent& event : body.leads) {
      if (!internal::is_digits(event.id)) {
        sink.fail("", "leads[" + event.event + "] event without a numeric lead id",
                  sdk::dump_json(Json{{"event", event.event}, {"id", event.id}}));
      } else if (event.event == "delete") {
        sink.skip(event.id, "Not a sale: the lead was deleted in amoCRM");
      } else if (named.insert(event.id).second) {
        sink.refetch(event.id);
      }
    }
  }

  // Accepts a leads list ({_embedded: {leads: [...]}}) or one lead, as saved from the API; the
  // phone needs the contacts API, so offline sales carry none.
  void map_response(std::string_view body, sdk::Sink& sink) override {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return;  // HTTP 204
    const Json json = json_object(body, CRMSYNC_E_INVALID_INPUT, "response");
    const std::map<int64_t, Json> no_contacts;
    auto is_lead = [](const Json& j) { return j.is_object() && j.contains("status_id"); };
    if (const Json* leads = embedded_leads(json)) {
      // A contact or company lists its leads as bare {id, _links} references, not leads.
      if (!leads->empty() && std::none_of(leads->begin(), leads->end(), is_lead)) {
        throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                         "Not an amoCRM leads response: its _embedded.leads are references without "
                         "status_id");
      }
      for (const Json& lead : *leads) {
        deliver(lead, map_lead(lead, config_.rules, no_contacts), sink, /*track=*/false);
      }
      return;
    }
    if (is_lead(json) && json.contains("pipeline_id")) {
      deliver(json, map_lead(json, config_.rules, no_contacts), sink, /*track=*/false);
      return;
    }
    throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                     "Not an amoCRM leads response: neither _embedded.leads nor a lead "
                     "(status_id, pipeline_id)");
  }

  // Subscribes url to the lead events through /api/v4/webhooks (amoCRM keeps one subscription per
  // destination, so repeating it is harmless), or unsubscribes the URL registered before when url
  // is empty; the registered URL is kept in the durable state key "webhook_url".
  void configure_webhook(std::string_view url) override {
    const auto registered = host().state_get("webhook_url");
    const std::string endpoint = config_.base_url + "/api/v4/webhooks";
    if (registered && !registered->value.empty() && registered->value != url) {
      const sdk::HttpResponse removed =
          api("DELETE", endpoint, sdk::dump_json(Json{{"destination", registered->value}}));
      if (removed.status != 404) check_ok(removed, "webhook removal");
    }
    if (!url.empty()) {
      Json events = Json::array();
      for (const char* event : kWebhookEvents) events.push_back(event);
      const Json subscription = {
          {"destination", std::string(url)}, {"settings", events}, {"sort", 10}};
      check_ok(api("POST", endpoint, sdk::dump_json(subscription)), "webhook subscription");
    }
    if (!registered || registered->value != url) {
      if (!host().state_cas("webhook_url", registered ? registered->version : 0, url)) {
        throw sdk::Error(CRMSYNC_E_CONFLICT, "The webhook registration changed meanwhile");
      }
    }
    host().log(CRMSYNC_LOG_INFO, url.empty() ? "amoCRM webhook removed"
                                             : "amoCRM webhook registered: " + std::string(url));
  }

 private:
  // The grant setting the tokens come from: the code, else the refresh token; nullopt: neither.
  std::optional<std::pair<Grant, std::string>> configured_grant() const {
    if (auto code = host().secret("code")) return std::pair{Grant::authorization_code, *code};
    if (auto refresh = host().secret("refresh_token")) {
      return std::pair{Grant::refresh_token, *refresh};
    }
    return std::nullopt;
  }

  // A valid access token: the one in memory, the stored one, or a new one (see the file comment).
  // refused: an access token amoCRM just answered 401 to, never to be used again.
  std::string access_token(const std::string& refused = {}) {
    const int64_t now = host().now_ms();
    if (tokens_ && tokens_->access != refused && now < tokens_->expires_at_ms - kRefreshMarginMs) {
      return tokens_->access;
    }
    const auto grant = configured_grant();
    const std::string seed =
        grant ? fingerprint((grant->first == Grant::authorization_code ? "code:" : "refresh:") +
                            grant->second)
              : std::string();
    const auto stored = host().state_get(kTokensKey);
    std::optional<Tokens> current = stored ? Tokens::parse(stored->value) : std::nullopt;
    if (stored && !current) {
      host().log(CRMSYNC_LOG_WARNING, "The stored amoCRM tokens are unreadable; connecting anew");
    }
    version_ = stored ? stored->version : 0;
    if (current && (!grant || current->seed == seed)) {
      tokens_ = current;
      if (current->access != refused && now < current->expires_at_ms - kRefreshMarginMs) {
        return current->access;
      }
      request_tokens(Grant::refresh_token, current->refresh, current->seed);
      return tokens_->access;
    }
    if (!grant) {
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG,
                       "amoCRM needs an authorization code (setting code) or a refresh_token to "
                       "connect: create one in the integration's settings in amoCRM");
    }
    if (current) {
      host().log(CRMSYNC_LOG_INFO,
                 "A new amoCRM code or refresh token is configured; connecting "
                 "with it instead of the stored tokens");
    }
    request_tokens(grant->first, grant->second, seed);
    return tokens_->access;
  }

  // POST /oauth2/access_token; stores the new pair with compare-and-set against version_ before
  // anything uses it.
  void request_tokens(Grant grant, const std::string& credential, const std::string& seed) {
    const auto secret = host().secret("client_secret");
    if (!secret)
      throw sdk::Error(CRMSYNC_E_INVALID_CONFIG, "amoCRM setting client_secret is required");
    Json body = {{"client_id", config_.client_id},
                 {"client_secret", *secret},
                 {"redirect_uri", config_.redirect_uri}};
    if (grant == Grant::authorization_code) {
      body["grant_type"] = "authorization_code";
      body["code"] = credential;
    } else {
      body["grant_type"] = "refresh_token";
      body["refresh_token"] = credential;
    }
    if (host().cancelled()) throw sdk::Error(CRMSYNC_E_CANCELLED, "Cancelled");
    sdk::HttpRequest request;
    request.method = "POST";
    request.url = config_.base_url + "/oauth2/access_token";
    request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    request.body = sdk::dump_json(body);
    request.no_retry = true;   // the credential is single-use: never send it twice
    request.sensitive = true;  // client secret and tokens: kept out of recordings and messages
    const sdk::HttpResponse response = host().http(request);
    if (response.status == 400 || response.status == 401 || response.status == 403) {
      if (grant == Grant::refresh_token) {
        // Another instance of this integration may have rotated the token meanwhile.
        const auto stored = host().state_get(kTokensKey);
        if (stored && stored->version != version_) {
          if (auto winner = Tokens::parse(stored->value)) {
            tokens_ = winner;
            version_ = stored->version;
            return;
          }
        }
        throw sdk::Error(CRMSYNC_E_UNAUTHENTICATED,
                         "amoCRM refused the refresh token (" + provider_message(response.body) +
                             "): the integration was disconnected in amoCRM or the token was lost. "
                             "Reconnect it: create a new authorization code in amoCRM and enter it "
                             "as the integration's code");
      }
      throw sdk::Error(
          CRMSYNC_E_UNAUTHENTICATED,
          "amoCRM refused the authorization code (" + provider_message(response.body) +
              "): a code works once and for 20 minutes. Create a new one in amoCRM and "
              "enter it as the integration's code");
    }
    check_ok(response, "token request");
    const Json answer = json_object(response.body, CRMSYNC_E_UNAVAILABLE, "token answer");
    const Json& access = sdk::member(answer, "access_token");
    const Json& refresh = sdk::member(answer, "refresh_token");
    const auto expires_in = sdk::integer(sdk::member(answer, "expires_in"));
    if (!access.is_string() || !refresh.is_string() || !expires_in || *expires_in <= 0) {
      throw sdk::Error(CRMSYNC_E_UNAVAILABLE,
                       "amoCRM token answer lacks access_token, refresh_token or expires_in");
    }
    Tokens fresh{access.get<std::string>(), refresh.get<std::string>(),
                 host().now_ms() + *expires_in * 1000, seed};
    // The old refresh token is spent now: the new one must be durable before anything else.
    const auto stored = host().state_cas(kTokensKey, version_, fresh.text());
    if (!stored) {
      throw sdk::Error(CRMSYNC_E_CONFLICT,
                       "The amoCRM tokens were renewed concurrently by another run; try again");
    }
    version_ = *stored;
    tokens_ = fresh;
    host().log(CRMSYNC_LOG_INFO,
               grant == Grant::authorization_code
                   ? "amoCRM authorization code exchanged; tokens stored"
                   : "amoCRM access token renewed; the new refresh token is stored");
  }

  // Runs an API request with the access token; a 401 renews the token once and repeats it.
  sdk::HttpResponse api(const std::string& method, const std::string& url,
                        const std::string& body = {}) {
    std::string refused;
    for (int attempt = 0;; ++attempt) {
      if (host().cancelled()) throw sdk::Error(CRMSYNC_E_CANCELLED, "Cancelled");
      const std::string token = access_token(refused);
      sdk::HttpRequest request;
      request.method = method;
      request.url = url;
      request.headers = {{"Authorization", "Bearer " + token}, {"Accept", "application/json"}};
      if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
      request.body = body;
      request.no_retry = method != "GET";
      sdk::HttpResponse response = host().http(request);
      if (response.status != 401 || attempt == 1) return response;
      host().log(CRMSYNC_LOG_INFO, "amoCRM refused the access token (HTTP 401); renewing it");
      refused = token;
    }
  }

  // Throws the ABI error for an answer that is not a success.
  static void check_ok(const sdk::HttpResponse& response, const std::string& what) {
    if (response.status >= 200 && response.status < 300) return;
    std::string message =
        sdk::http_error_message("amoCRM " + what, response.status, provider_message(response.body));
    if (response.status == 401) {
      message += ". Reconnect the integration with a new authorization code";
    } else if (response.status == 402) {
      message += ". The amoCRM account is not paid";
    }
    throw sdk::Error(sdk::http_status_code(response.status), message);
  }

  // The contacts of the won leads' main contacts, read with filter[id][] in batches.
  std::map<int64_t, Json> load_contacts(const Json& leads) {
    std::vector<int64_t> ids;
    for (const Json& lead : leads) {
      if (!is_won(lead, config_.rules)) continue;
      if (const auto id = main_contact_id(lead)) ids.push_back(*id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::map<int64_t, Json> out;
    for (size_t at = 0; at < ids.size(); at += kContactBatch) {
      const size_t end = std::min(ids.size(), at + kContactBatch);
      std::string url =
          config_.base_url + "/api/v4/contacts?limit=" + std::to_string(kContactBatch);
      for (size_t i = at; i < end; ++i) {
        url += "&" + sdk::percent_encode("filter[id][]") + "=" + std::to_string(ids[i]);
      }
      const sdk::HttpResponse response = api("GET", url);
      if (response.status == 204) continue;
      check_ok(response, "contacts");
      const Json page = json_object(response.body, CRMSYNC_E_UNAVAILABLE, "contacts answer");
      const Json& contacts = sdk::member(sdk::member(page, "_embedded"), "contacts");
      if (!contacts.is_array()) {
        throw sdk::Error(CRMSYNC_E_UNAVAILABLE, "amoCRM contacts answer has no _embedded.contacts");
      }
      for (const Json& contact : contacts) {
        if (const auto id = sdk::integer(sdk::member(contact, "id"))) {
          out[*id] = contact;
        }
      }
    }
    return out;
  }

  // Delivers one mapped lead; with track, remembers won leads and logs one that left its won
  // status after it was delivered as a sale.
  void deliver(const Json& lead, const Mapped& mapped, const sdk::Sink& sink, bool track) {
    if (const auto* sale = std::get_if<Sale>(&mapped)) {
      sink.record(sale->record);
      if (track) remember(sale->record.external_id, "won");
    } else if (const auto* skip = std::get_if<NotSale>(&mapped)) {
      if (track && skip->status_id != 0 &&
          std::find(config_.rules.won_status_ids.begin(), config_.rules.won_status_ids.end(),
                    skip->status_id) == config_.rules.won_status_ids.end()) {
        const std::string state = "status " + std::to_string(skip->status_id);
        const auto before = host().state_get("won:" + skip->external_id);
        if (before && before->value == "won") {
          host().log(CRMSYNC_LOG_WARNING,
                     "amoCRM lead " + skip->external_id + " left the won status (now " + state +
                         ") after it was stored as a sale; the stored transaction is unchanged");
          remember(skip->external_id, state);
        }
      }
      sink.skip(skip->external_id, skip->reason);
    } else {
      const auto& bad = std::get<Unreadable>(mapped);
      sink.fail(bad.external_id, bad.reason, sdk::dump_json(lead));
    }
  }

  // Sets the durable "won:<id>" mark to value unless it already holds it.
  void remember(const std::string& id, const std::string& value) {
    const std::string key = "won:" + id;
    const auto before = host().state_get(key);
    if (before && before->value == value) return;
    if (!host().state_cas(key, before ? before->version : 0, value)) {
      throw sdk::Error(CRMSYNC_E_CONFLICT,
                       "The status mark of amoCRM lead " + id + " changed meanwhile");
    }
  }

  Config config_;                 // immutable after open, so parse_webhook may run concurrently
  std::optional<Tokens> tokens_;  // the pair in use (fetch-side calls only, never parse_webhook)
  uint64_t version_ = 0;          // the state version tokens_ was read or written at
};

}  // namespace
}  // namespace crmsync::amocrm

CRMSYNC_CONNECTOR(crmsync::amocrm::AmocrmConnector,
                  {.id = "amocrm",
                   .display_name = "AMO CRM",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::amocrm::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL |
                                   CRMSYNC_CAP_WEBHOOK,
                   .abi_minor_required = 2,
                   .rate_limits = crmsync::amocrm::kRateLimits,
                   .rate_limit_count = 1})
