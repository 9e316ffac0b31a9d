// The custom connector (DESIGN §9 "custom", spec 8.1.7): an in-house CRM described by settings
// alone. One request template (with {{ cursor }} and {{ since }}), an authentication mode, JSON or
// XML responses, a pagination mode, a records selector and a field mapping by JSONPath, XPath,
// templates or constants (custom_mapping.h). map_response runs the same mapping on a sample body:
// it is the sandbox's entry point.
//
// The fetch cursor is a JSON object:
//   {"cursor": "2025-11-17T09:12:44Z", "since": "2025-11-17T09:00:00Z",
//    "pass": {"started": "...", "pages": 2, "offset": 100, "next": "...", "max": "..."}}
// `cursor` is the greatest value of settings.cursor (a mapped field, or any source such as
// $.updated_at) over the sales and skips of the last complete pass (settings.cursor.initial before
// one), as the CRM wrote it, compared as integers when both are; `since` the time that pass started
// (settings.cursor.since before one). `pass` is the pass in progress: each fetch reads one page,
// and the pass ends at an empty page, a short page (page and offset modes with a size), a missing
// next cursor or link, or pagination.max_pages pages.
//
// OAuth2 tokens live in the durable state key "oauth" and are replaced with compare-and-set before
// a new token is used, so a rotated refresh token is never lost; a 401 renews the token once.
#include "custom_mapping.h"

#include <crmsync/connector.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::custom {
namespace {

using nlohmann::json;

// The access token's assumed lifetime when the token endpoint gives no expires_in.
constexpr int64_t kDefaultTokenSeconds = 3600;
// A token this close to its expiry is renewed first.
constexpr int64_t kRefreshMarginMs = 60'000;
// The durable state key of the OAuth2 tokens.
constexpr std::string_view kTokensKey = "oauth";

// Ends the current entry point with an ABI code and a message for the admin.
[[noreturn]] void throw_error(int32_t code, const std::string& message) {
  throw sdk::Error(code, message);
}

// Base64 (RFC 4648) for Basic authentication; written here because the connector links no
// library that has it.
std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// FNV-1a, to notice that the configured credentials changed without storing them.
std::string fingerprint(std::string_view text) {
  uint64_t hash = 1469598103934665603ull;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

// "https://crm.example.com:8443/api/..." → "crm.example.com:8443".
std::string host_of(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  return std::string(url.substr(start, end == std::string_view::npos ? url.npos : end - start));
}

// A next link as the response gave it, made absolute against the request URL.
std::string absolute_link(const std::string& link, const std::string& request_url) {
  if (link.rfind("http://", 0) == 0 || link.rfind("https://", 0) == 0) return link;
  const size_t scheme = request_url.find("://");
  const size_t path = request_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const std::string origin = request_url.substr(0, path);
  if (!link.empty() && link.front() == '/') return origin + link;
  const size_t query = request_url.find('?');
  const std::string base = request_url.substr(0, query);
  return base.substr(0, base.rfind('/') + 1) + link;
}

// Adds one percent-encoded query parameter to url.
std::string append_query(std::string url, const std::string& name, const std::string& value) {
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + url_encode(name) + "=" + url_encode(value);
}

// The first bytes of a body for an error message.
std::string snippet(const std::string& body) {
  return body.size() <= 200 ? body : body.substr(0, 200) + "…";
}

// The in-progress pass and the incremental cursor, as kept in the fetch cursor.
struct FetchState {
  std::string cursor;
  std::string since;
  bool in_pass = false;
  std::string started;
  int64_t pages = 0;
  int64_t offset = 0;
  std::string next;
  std::string max;

  // Reads a cursor given back by the host; empty: the first run.
  static FetchState parse(std::string_view text) {
    FetchState state;
    if (text.empty()) return state;
    json j = sdk::try_parse_json(text);
    if (j.is_discarded() || !j.is_object()) {
      throw_error(CRMSYNC_E_INVALID_INPUT, "Not a custom connector cursor: " + std::string(text));
    }
    state.cursor = j.value("cursor", "");
    state.since = j.value("since", "");
    if (auto pass = j.find("pass"); pass != j.end() && pass->is_object()) {
      state.in_pass = true;
      state.started = pass->value("started", "");
      state.pages = pass->value("pages", int64_t{0});
      state.offset = pass->value("offset", int64_t{0});
      state.next = pass->value("next", "");
      state.max = pass->value("max", "");
    }
    return state;
  }

  // The cursor text handed to checkpoint.
  std::string text() const {
    json j = {{"cursor", cursor}, {"since", since}};
    if (in_pass) {
      j["pass"] = {
          {"started", started}, {"pages", pages}, {"offset", offset}, {"next", next}, {"max", max}};
    }
    return sdk::dump_json(j);
  }
};

// OAuth2 tokens as kept in the durable state.
struct Tokens {
  std::string access;
  std::string refresh;
  int64_t expires_at_ms = 0;
  std::string seed;  // fingerprint of the grant settings they descend from

  std::string text() const {
    return sdk::dump_json(json{{"access_token", access},
                               {"refresh_token", refresh},
                               {"expires_at_ms", expires_at_ms},
                               {"seed", seed}});
  }
  // The stored tokens, or nullopt when unreadable.
  static std::optional<Tokens> parse(const std::string& text) {
    json j = sdk::try_parse_json(text);
    if (j.is_discarded() || !j.is_object() || !j.contains("access_token")) return std::nullopt;
    return Tokens{j.value("access_token", ""), j.value("refresh_token", ""),
                  j.value("expires_at_ms", int64_t{0}), j.value("seed", "")};
  }
};

class CustomConnector : public sdk::Connector {
 public:
  // Reads and checks the settings; INVALID_CONFIG names the field.
  CustomConnector(sdk::Host host, const sdk::OpenArgs& args) : sdk::Connector(host) {
    auto config = parse_config(args.config_json);
    if (!config) throw_error(config.error().code, config.error().message);
    config_ = std::move(*config);
    display_ = config_.name.empty() ? host_of(config_.request.url.text()) : config_.name;
    require_secrets();
  }

  // One list request: "✅ Connected to <name>" or "❌ <reason>".
  std::string health_check() override {
    try {
      FetchState state;
      state.cursor = config_.cursor_initial;
      state.since = config_.since_initial;
      const sdk::HttpResponse response = send_list(state);
      auto page = map_body(config_, response.body);
      if (!page) throw_error(CRMSYNC_E_UNAVAILABLE, display_ + ": " + page.error().message);
    } catch (const sdk::Error& e) {
      if (e.code() == CRMSYNC_E_CANCELLED) throw;
      throw sdk::Error(e.code(), "❌ " + std::string(e.what()), e.retry_after_ms());
    }
    return "✅ Connected to " + display_;
  }

  // One page of the pass (see the file comment).
  void fetch(std::string_view cursor, sdk::Sink& sink) override {
    FetchState state = FetchState::parse(cursor);
    if (state.cursor.empty()) state.cursor = config_.cursor_initial;
    if (state.since.empty()) state.since = config_.since_initial;
    if (!state.in_pass) {
      state.in_pass = true;
      state.started = utc_text(host().now_ms());
      state.offset = config_.pagination.start;
    }
    if (host().cancelled()) throw_error(CRMSYNC_E_CANCELLED, "Cancelled");
    const sdk::HttpResponse response = send_list(state);
    auto page = map_body(config_, response.body);
    if (!page) throw_error(CRMSYNC_E_UNAVAILABLE, display_ + ": " + page.error().message);
    deliver(*page, sink);
    if (!page->max_cursor.empty() &&
        (state.max.empty() || cursor_less(state.max, page->max_cursor))) {
      state.max = page->max_cursor;
    }
    ++state.pages;
    if (advance(state, *page)) {
      sink.checkpoint(state.text(), true);
      return;
    }
    if (!state.max.empty() && (state.cursor.empty() || cursor_less(state.cursor, state.max))) {
      state.cursor = state.max;
    }
    state.since = state.started;
    state.in_pass = false;
    sink.checkpoint(state.text(), false);
  }

  // The sandbox: maps a sample body like fetch, without HTTP or checkpoint.
  void map_response(std::string_view body, sdk::Sink& sink) override {
    auto page = map_body(config_, body);
    if (!page) throw_error(page.error().code, page.error().message);
    deliver(*page, sink);
  }

  // Idempotent through the durable state key "bonus:<idempotency_key>", set once the CRM
  // accepted the bonus (2xx, or 409 for one it already has).
  void push_bonus(const crmsync_bonus_event_v1& event, std::string_view key) override {
    if (!config_.push_bonus) {
      host().log(CRMSYNC_LOG_DEBUG, "Bonus write-back is not configured for this integration");
      return;
    }
    if (key.empty()) throw_error(CRMSYNC_E_INVALID_INPUT, "push_bonus needs an idempotency key");
    const std::string state_key = "bonus:" + std::string(key);
    if (host().state_get(state_key)) return;
    const int64_t minor = event.amount_minor;
    const std::string amount = std::to_string(minor / 100) + "." +
                               std::to_string(minor % 100 / 10) + std::to_string(minor % 10);
    const json context = {{"transaction",
                           {{"external_id", std::string(sdk::view(event.external_id))},
                            {"customer_phone", std::string(sdk::view(event.customer_phone))}}},
                          {"bonus",
                           {{"kind", event.kind == CRMSYNC_BONUS_REDEEMED ? "redeemed" : "accrued"},
                            {"amount", amount},
                            {"amount_minor", minor},
                            {"currency", std::string(sdk::view(event.currency))},
                            {"occurred_at", std::string(sdk::view(event.occurred_at))}}},
                          {"idempotency_key", std::string(key)}};
    sdk::HttpRequest request = build(*config_.push_bonus, context, "push_bonus");
    // Resending is safe only when the CRM can recognise the repeat by the key.
    request.no_retry =
        request.url.find(key) == std::string::npos && request.body.find(key) == std::string::npos &&
        std::none_of(request.headers.begin(), request.headers.end(),
                     [&](const auto& h) { return h.second.find(key) != h.second.npos; });
    const sdk::HttpResponse response = send(request);
    if (response.status != 409) check_status(response, "push_bonus.url");
    if (!host().state_cas(state_key, 0, "1")) {
      host().log(CRMSYNC_LOG_DEBUG, "Bonus " + std::string(key) + " was recorded concurrently");
    }
  }

 private:
  // The secrets the auth mode needs must be set.
  void require_secrets() const {
    auto need = [&](const char* name, const char* mode) {
      if (!host().secret(name)) {
        throw_error(CRMSYNC_E_INVALID_CONFIG,
                    std::string(name) + ": the secret setting is required for " + mode + " auth");
      }
    };
    switch (config_.auth.type) {
      case Auth::Type::kNone:
        break;
      case Auth::Type::kBasic:
        need("password", "basic");
        break;
      case Auth::Type::kBearer:
        need("token", "bearer");
        break;
      case Auth::Type::kApiKey:
        need("api_key", "api_key");
        break;
      case Auth::Type::kOAuth2:
        need("client_secret", "oauth2");
        break;
    }
  }

  // Renders a request template: URL, query, headers and body.
  sdk::HttpRequest build(const RequestTemplate& t, const json& context, const std::string& field) {
    auto rendered = [&](const Template& text, const std::string& where) {
      auto out = text.render(context);
      if (!out) throw_error(CRMSYNC_E_INVALID_CONFIG, where + ": " + out.error().message);
      return *out;
    };
    sdk::HttpRequest request;
    request.method = t.method;
    request.url = rendered(t.url, field + ".url");
    for (const auto& [name, value] : t.query) {
      request.url = append_query(request.url, name, rendered(value, field + ".query." + name));
    }
    for (const auto& [name, value] : t.headers) {
      request.headers.emplace_back(name, rendered(value, field + ".headers." + name));
    }
    auto body = render_body(t, context);
    if (!body) throw_error(CRMSYNC_E_INVALID_CONFIG, field + ".body: " + body.error().message);
    request.body = std::move(*body);
    if (t.body) {
      request.headers.emplace_back(
          "Content-Type", t.form ? "application/x-www-form-urlencoded" : "application/json");
    }
    request.headers.emplace_back("Accept", config_.xml ? "application/xml" : "application/json");
    return request;
  }

  // The list request for the current page of the pass, sent.
  sdk::HttpResponse send_list(const FetchState& state) {
    const json context = {{"cursor", state.cursor}, {"since", state.since}};
    sdk::HttpRequest request = build(config_.request, context, "request");
    const Pagination& p = config_.pagination;
    switch (p.type) {
      case Pagination::Type::kNone:
        break;
      case Pagination::Type::kPage:
        request.url = append_query(request.url, p.param, std::to_string(p.start + state.pages));
        break;
      case Pagination::Type::kOffset:
        request.url = append_query(request.url, p.param, std::to_string(state.offset));
        break;
      case Pagination::Type::kCursor:
        if (!state.next.empty()) request.url = append_query(request.url, p.param, state.next);
        break;
      case Pagination::Type::kNextLink:
        if (!state.next.empty()) request.url = absolute_link(state.next, request.url);
        break;
    }
    if (!p.size_param.empty() && !(p.type == Pagination::Type::kNextLink && !state.next.empty())) {
      request.url = append_query(request.url, p.size_param, std::to_string(p.size));
    }
    request.no_retry = request.method != "GET";
    last_url_ = request.url;
    const sdk::HttpResponse response = send(request);
    check_status(response, "request.url");
    return response;
  }

  // Moves the pass to its next page; false when the pass is over.
  bool advance(FetchState& state, const MappedPage& page) {
    const Pagination& p = config_.pagination;
    if (p.type == Pagination::Type::kNone || page.record_count == 0) return false;
    if (state.pages >= p.max_pages) {
      host().log(CRMSYNC_LOG_WARNING, "Stopped after " + std::to_string(state.pages) +
                                          " pages (pagination.max_pages); the rest is read on "
                                          "the next sync");
      return false;
    }
    switch (p.type) {
      case Pagination::Type::kPage:
        return p.size == 0 || page.record_count >= static_cast<size_t>(p.size);
      case Pagination::Type::kOffset:
        state.offset += static_cast<int64_t>(page.record_count);
        return p.size == 0 || page.record_count >= static_cast<size_t>(p.size);
      case Pagination::Type::kCursor:
      case Pagination::Type::kNextLink: {
        if (!page.next) return false;
        std::string next = p.type == Pagination::Type::kNextLink
                               ? absolute_link(*page.next, last_url_)
                               : *page.next;
        if (next == state.next || next == last_url_) return false;  // a provider looping on itself
        state.next = std::move(next);
        return true;
      }
      case Pagination::Type::kNone:
        break;
    }
    return false;
  }

  // Hands the page's outcomes to the sink, in document order.
  void deliver(const MappedPage& page, sdk::Sink& sink) {
    for (const auto& outcome : page.outcomes) {
      if (const auto* record = std::get_if<sdk::Record>(&outcome)) {
        sink.record(*record);
      } else if (const auto* skip = std::get_if<MappedPage::Skip>(&outcome)) {
        sink.skip(skip->external_id, skip->reason);
      } else {
        const auto& failure = std::get<MappedPage::Failure>(outcome);
        sink.fail(failure.external_id, failure.reason, failure.raw);
      }
    }
  }

  // Sends with authentication; an OAuth2 401 renews the token once and repeats the request.
  sdk::HttpResponse send(sdk::HttpRequest request) {
    const sdk::HttpRequest plain = request;
    std::string refused;
    for (int attempt = 0;; ++attempt) {
      if (host().cancelled()) throw_error(CRMSYNC_E_CANCELLED, "Cancelled");
      request = plain;
      authenticate(request, refused);
      sdk::HttpResponse response = host().http(request);
      if (response.status != 401 || config_.auth.type != Auth::Type::kOAuth2 || attempt > 0) {
        return response;
      }
      refused = tokens_ ? tokens_->access : std::string();
      host().log(CRMSYNC_LOG_INFO, display_ + " refused the access token; renewing it");
    }
  }

  // Adds the auth mode's header or query parameter.
  void authenticate(sdk::HttpRequest& request, const std::string& refused) {
    switch (config_.auth.type) {
      case Auth::Type::kNone:
        return;
      case Auth::Type::kBasic:
        request.headers.emplace_back(
            "Authorization", "Basic " + base64(config_.auth.username + ":" + secret("password")));
        return;
      case Auth::Type::kBearer:
        request.headers.emplace_back("Authorization", "Bearer " + secret("token"));
        return;
      case Auth::Type::kApiKey:
        if (config_.auth.in_query) {
          request.url = append_query(request.url, config_.auth.key_name, secret("api_key"));
        } else {
          request.headers.emplace_back(config_.auth.key_name, secret("api_key"));
        }
        return;
      case Auth::Type::kOAuth2:
        request.headers.emplace_back("Authorization", "Bearer " + access_token(refused));
        return;
    }
  }

  // A secret setting; INVALID_CONFIG when unset.
  std::string secret(const char* name) const {
    auto value = host().secret(name);
    if (!value)
      throw_error(CRMSYNC_E_INVALID_CONFIG, std::string(name) + ": the secret setting is required");
    return *value;
  }

  // A valid OAuth2 access token: in memory, stored, or new; never `refused`.
  std::string access_token(const std::string& refused) {
    const int64_t now = host().now_ms();
    if (tokens_ && tokens_->access != refused && now < tokens_->expires_at_ms - kRefreshMarginMs) {
      return tokens_->access;
    }
    const std::optional<std::string> configured_refresh =
        config_.auth.refresh_grant ? host().secret("refresh_token") : std::nullopt;
    const std::string seed = fingerprint(config_.auth.token_url + "\n" + config_.auth.client_id +
                                         "\n" + configured_refresh.value_or(""));
    const auto stored = host().state_get(kTokensKey);
    version_ = stored ? stored->version : 0;
    std::optional<Tokens> current = stored ? Tokens::parse(stored->value) : std::nullopt;
    if (current && current->seed == seed) {
      tokens_ = current;
      if (current->access != refused && now < current->expires_at_ms - kRefreshMarginMs) {
        return current->access;
      }
      request_tokens(config_.auth.refresh_grant ? current->refresh : std::string(), seed);
      return tokens_->access;
    }
    if (config_.auth.refresh_grant && !configured_refresh) {
      throw_error(CRMSYNC_E_INVALID_CONFIG,
                  "refresh_token: the secret setting is required for the oauth2 refresh_token "
                  "grant");
    }
    request_tokens(configured_refresh.value_or(""), seed);
    return tokens_->access;
  }

  // Asks the token endpoint for a token (client credentials, or the refresh token given) and
  // stores the answer with compare-and-set against version_ before anything uses it.
  void request_tokens(const std::string& refresh, const std::string& seed) {
    std::string body =
        "grant_type=" +
        std::string(config_.auth.refresh_grant ? "refresh_token" : "client_credentials") +
        "&client_id=" + url_encode(config_.auth.client_id) +
        "&client_secret=" + url_encode(secret("client_secret"));
    if (config_.auth.refresh_grant) body += "&refresh_token=" + url_encode(refresh);
    if (!config_.auth.scope.empty()) body += "&scope=" + url_encode(config_.auth.scope);
    sdk::HttpRequest request;
    request.method = "POST";
    request.url = config_.auth.token_url;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    request.body = body;
    request.no_retry = config_.auth.refresh_grant;  // a rotating refresh token works once
    request.sensitive = true;                       // secrets and tokens: out of recordings
    const sdk::HttpResponse response = host().http(request);
    if (response.status == 400 || response.status == 401 || response.status == 403) {
      if (config_.auth.refresh_grant) {
        // Another run of this integration may have rotated the token meanwhile.
        const auto stored = host().state_get(kTokensKey);
        if (stored && stored->version != version_) {
          if (auto winner = Tokens::parse(stored->value)) {
            tokens_ = winner;
            version_ = stored->version;
            return;
          }
        }
        throw_error(CRMSYNC_E_UNAUTHENTICATED,
                    display_ + " refused the OAuth2 refresh token (HTTP " +
                        std::to_string(response.status) +
                        "): enter a new refresh_token in the integration's settings");
      }
      throw_error(CRMSYNC_E_UNAUTHENTICATED, display_ +
                                                 " refused the OAuth2 client credentials (HTTP " +
                                                 std::to_string(response.status) +
                                                 "): check auth.client_id and client_secret");
    }
    check_status(response, "auth.token_url");
    json answer = sdk::parse_json(response.body, "the token answer (auth.token_url)");
    if (answer.is_discarded() || !answer.is_object() || !answer.contains("access_token") ||
        !answer["access_token"].is_string()) {
      throw_error(CRMSYNC_E_UNAVAILABLE, display_ + ": the token answer has no access_token");
    }
    int64_t lifetime = kDefaultTokenSeconds;
    if (auto it = answer.find("expires_in"); it != answer.end() && it->is_number_integer()) {
      lifetime = it->get<int64_t>();
    }
    Tokens fresh{answer["access_token"].get<std::string>(), answer.value("refresh_token", refresh),
                 host().now_ms() + lifetime * 1000, seed};
    const auto stored = host().state_cas(kTokensKey, version_, fresh.text());
    if (!stored) {
      throw_error(CRMSYNC_E_CONFLICT,
                  "The OAuth2 tokens were renewed concurrently by another run; try again");
    }
    version_ = *stored;
    tokens_ = fresh;
    host().log(CRMSYNC_LOG_INFO,
               config_.auth.refresh_grant
                   ? "OAuth2 access token renewed; the new refresh token is stored"
                   : "OAuth2 access token obtained");
  }

  // 2xx passes; anything else is an error with the SDK code that fits.
  void check_status(const sdk::HttpResponse& response, const std::string& field) const {
    const int32_t status = response.status;
    if (status >= 200 && status < 300) return;
    const std::string code = "HTTP " + std::to_string(status);
    if (status == 401 || status == 403) {
      throw_error(CRMSYNC_E_UNAUTHENTICATED,
                  display_ + " refused the credentials (" + code +
                      "): check the auth settings and secrets of the integration");
    }
    if (status == 429)
      throw_error(CRMSYNC_E_RATE_LIMITED, display_ + " is rate limiting (" + code + ")");
    if (status >= 500) throw_error(CRMSYNC_E_UNAVAILABLE, display_ + " answered " + code);
    throw_error(CRMSYNC_E_INVALID_CONFIG, field + ": " + display_ + " refused the request (" +
                                              code + "): " + snippet(response.body));
  }

  Config config_;
  std::string display_;
  std::string last_url_;
  std::optional<Tokens> tokens_;
  uint64_t version_ = 0;
};

}  // namespace
}  // namespace crmsync::custom

CRMSYNC_CONNECTOR(crmsync::custom::CustomConnector,
                  {.id = "custom",
                   .display_name = "Custom CRM",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::custom::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL |
                                   CRMSYNC_CAP_PUSH_BONUS,
                   .abi_minor_required = 2})
