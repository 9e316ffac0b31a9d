// Tests of core/webhooks/auth: every mode accepts authentic requests and refuses forged, stale,
// incomplete or malformed ones with a reason that leaks no secret; the Standard Webhooks mode is
// checked against every case of the shared upstream test data
// (tests/data/standard-webhooks/vectors.json; its Stripe part is another
// scheme).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "crypto/crypto.h"
#include "webhooks/auth.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

using namespace crmsync;
using namespace crmsync::webhooks;
using nlohmann::json;

namespace {

using Strings = std::vector<std::string>;

constexpr AuthMode kAllModes[] = {AuthMode::token, AuthMode::hmac_sha256,
                                  AuthMode::standard_webhooks, AuthMode::iiko_auth_token};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// A request as a server would hold it; incoming() views it the way the HTTP layer hands it over,
// matching header names case-insensitively.
struct Request {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> query_token;
  std::chrono::sys_seconds now{};

  Incoming incoming() const {
    Incoming in;
    in.body = body;
    in.header = [this](std::string_view name) -> std::optional<std::string_view> {
      for (const auto& [key, value] : headers) {
        if (lower(key) == name) return std::string_view(value);
      }
      return std::nullopt;
    };
    if (query_token) in.query_token = *query_token;
    in.now = now;
    return in;
  }
};

Verdict check(AuthMode mode, const std::vector<std::string>& secrets, const Request& request) {
  return authenticate(mode, secrets, request.incoming());
}

std::chrono::sys_seconds clock_now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::chrono::sys_seconds at(std::int64_t unix_seconds) {
  return std::chrono::sys_seconds(std::chrono::seconds(unix_seconds));
}

// The Standard Webhooks signing algorithm, written out here as the oracle for cases whose
// signature depends on the current time (it is itself checked against the fixed vectors).
std::string sw_key(std::string secret) {
  if (secret.starts_with("whsec_")) secret.erase(0, 6);
  if (secret.size() % 4 != 0) secret.append(4 - secret.size() % 4, '=');
  return crypto::base64_decode(secret).value();
}

std::string sw_sign(const std::string& secret, const std::string& id, const std::string& timestamp,
                    const std::string& body) {
  return "v1," + crypto::base64_encode(
                     crypto::hmac_sha256(sw_key(secret), id + "." + timestamp + "." + body));
}

Request sw_request(const std::string& secret, const std::string& id, std::int64_t timestamp,
                   const std::string& body, std::chrono::sys_seconds now) {
  const std::string ts = std::to_string(timestamp);
  return Request{body,
                 {{"webhook-id", id},
                  {"webhook-timestamp", ts},
                  {"webhook-signature", sw_sign(secret, id, ts, body)}},
                 std::nullopt,
                 now};
}

void set_header(Request& request, const std::string& name, const std::string& value) {
  for (auto& [key, current] : request.headers) {
    if (lower(key) == lower(name)) {
      current = value;
      return;
    }
  }
  request.headers.emplace_back(name, value);
}

void remove_header(Request& request, const std::string& name) {
  std::erase_if(request.headers, [&](const auto& h) { return lower(h.first) == lower(name); });
}

const json& vectors() {
  static const json data = [] {
    std::ifstream in(std::string(CRMSYNC_TEST_DATA_DIR) + "/standard-webhooks/vectors.json");
    REQUIRE_MESSAGE(in.good(), "vectors.json not found under " CRMSYNC_TEST_DATA_DIR);
    return json::parse(in);
  }();
  return data;
}

// True when every character of s is in allowed.
bool all_of(const std::string& s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string::npos;
}

// Resolves "<now>", "<now - 301>", "<now + 301>" against the current time. (Parsed by hand:
// GCC 12 warns falsely inside <regex> under the sanitizers.)
std::int64_t resolve_now(const std::string& text, std::int64_t now) {
  if (text == "<now>") return now;
  const bool plus = text.starts_with("<now + ");
  const bool minus = text.starts_with("<now - ");
  const std::string digits = text.size() > 8 ? text.substr(7, text.size() - 8) : "";
  REQUIRE_MESSAGE(
      ((plus || minus) && text.ends_with(">") && !digits.empty() && all_of(digits, "0123456789")),
      "unknown timestamp placeholder " << text);
  const std::int64_t offset = std::stoll(digits);
  return plus ? now + offset : now - offset;
}

// Replaces the signature placeholders of a verify case with the valid header value.
std::string resolve_signature(std::string text, const std::string& valid) {
  if (text == "<first 8 characters of the valid header value>") return valid.substr(0, 8);
  static const std::vector<std::string> kValid = {
      "<v1 signature computed for now>", "<valid v1 signature>",
      "<valid v1 signature for that timestamp>", "<valid v1 signature over 'msg_id.ts.'>"};
  for (const auto& placeholder : kValid) {
    for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder)) {
      text.replace(at, placeholder.size(), valid);
    }
  }
  REQUIRE_MESSAGE(text.find('<') == std::string::npos, "unknown signature placeholder in " << text);
  return text;
}

// Fails when a refusal reason carries any of the given secret strings.
void check_reason_is_clean(const Verdict& verdict, const std::vector<std::string>& secrets) {
  CHECK_FALSE(verdict.reason.empty());
  for (const auto& secret : secrets) {
    if (secret.size() >= 4) CHECK(verdict.reason.find(secret) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("parse_auth_mode reads the four names and auth_mode_name inverts it") {
  const std::pair<std::string, AuthMode> names[] = {
      {"token", AuthMode::token},
      {"hmac-sha256", AuthMode::hmac_sha256},
      {"standard-webhooks", AuthMode::standard_webhooks},
      {"iiko-auth-token", AuthMode::iiko_auth_token}};
  for (const auto& [name, mode] : names) {
    CAPTURE(name);
    auto parsed = parse_auth_mode(name);
    REQUIRE(parsed.ok());
    CHECK(*parsed == mode);
    CHECK(auth_mode_name(mode) == name);
  }
}

TEST_CASE("parse_auth_mode refuses other names with INVALID_CONFIG listing the accepted ones") {
  for (const auto& name : Strings{"", "Token", "TOKEN", "hmac_sha256", "hmac", "standard webhooks",
                                  "iiko", " token", std::string(1000, 'x')}) {
    CAPTURE(name);
    auto parsed = parse_auth_mode(name);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == CRMSYNC_E_INVALID_CONFIG);
    CHECK(parsed.error().message.find(
              "accepted: token, hmac-sha256, standard-webhooks, iiko-auth-token") !=
          std::string::npos);
    CHECK(parsed.error().message.size() < 200);
  }
}

TEST_CASE("token mode accepts the secret from the query string or the x-webhook-token header") {
  const std::vector<std::string> secrets = {"s3cr3t-token-0123456789"};
  Request query{"{}", {}, "s3cr3t-token-0123456789", clock_now()};
  CHECK(check(AuthMode::token, secrets, query).ok);
  Request header{"{}", {{"X-Webhook-Token", "s3cr3t-token-0123456789"}}, std::nullopt, clock_now()};
  CHECK(check(AuthMode::token, secrets, header).ok);
  // Either place is enough: a wrong query token does not spoil a right header, and vice versa.
  Request both{"{}", {{"x-webhook-token", "s3cr3t-token-0123456789"}}, "wrong", clock_now()};
  CHECK(check(AuthMode::token, secrets, both).ok);
  Request both_reversed{
      "{}", {{"x-webhook-token", "wrong"}}, "s3cr3t-token-0123456789", clock_now()};
  CHECK(check(AuthMode::token, secrets, both_reversed).ok);
  CHECK(check(AuthMode::token, secrets, query).dedup_key.empty());
}

TEST_CASE("token mode refuses wrong, empty, near-miss and missing tokens") {
  const std::vector<std::string> secrets = {"s3cr3t-token-0123456789"};
  for (const auto& token :
       Strings{"", "wrong", "s3cr3t-token-012345678", "s3cr3t-token-01234567890",
               "S3CR3T-TOKEN-0123456789", " s3cr3t-token-0123456789"}) {
    CAPTURE(token);
    const auto by_query = check(AuthMode::token, secrets, Request{"{}", {}, token, clock_now()});
    CHECK_FALSE(by_query.ok);
    check_reason_is_clean(by_query, secrets);
    const auto by_header = check(AuthMode::token, secrets,
                                 Request{"{}", {{"x-webhook-token", token}}, std::nullopt, {}});
    CHECK_FALSE(by_header.ok);
  }
  const auto missing = check(AuthMode::token, secrets, Request{"{}", {}, std::nullopt, {}});
  CHECK_FALSE(missing.ok);
  CHECK(missing.reason.find("no token") != std::string::npos);
  // A token in another header does not count.
  CHECK_FALSE(check(AuthMode::token, secrets,
                    Request{"{}", {{"authorization", secrets[0]}}, std::nullopt, {}})
                  .ok);
}

TEST_CASE("token mode never matches an empty configured secret, even with an empty token") {
  const auto verdict =
      check(AuthMode::token, {""}, Request{"{}", {{"x-webhook-token", ""}}, "", {}});
  CHECK_FALSE(verdict.ok);
  CHECK(verdict.reason.find("no webhook secret") != std::string::npos);
  CHECK(check(AuthMode::token, {"", "real-secret-0123456789"},
              Request{"{}", {}, "real-secret-0123456789", {}})
            .ok);
  CHECK_FALSE(check(AuthMode::token, {"", "real-secret-0123456789"}, Request{"{}", {}, "", {}}).ok);
}

TEST_CASE("token mode accepts any of several secrets during rotation") {
  const std::vector<std::string> secrets = {"old-secret-0123456789", "new-secret-0123456789"};
  CHECK(check(AuthMode::token, secrets, Request{"{}", {}, "old-secret-0123456789", {}}).ok);
  CHECK(check(AuthMode::token, secrets, Request{"{}", {}, "new-secret-0123456789", {}}).ok);
  CHECK_FALSE(check(AuthMode::token, secrets, Request{"{}", {}, "other-secret-012345678", {}}).ok);
}

TEST_CASE("iiko-auth-token mode accepts the raw authToken or Bearer <authToken>") {
  const std::vector<std::string> secrets = {"iiko-registered-token-123"};
  for (const auto& value :
       Strings{"iiko-registered-token-123", "Bearer iiko-registered-token-123",
               "bearer iiko-registered-token-123", "BEARER  iiko-registered-token-123"}) {
    CAPTURE(value);
    const auto verdict = check(AuthMode::iiko_auth_token, secrets,
                               Request{"{}", {{"Authorization", value}}, std::nullopt, {}});
    CHECK(verdict.ok);
    CHECK(verdict.dedup_key.empty());
  }
}

TEST_CASE("iiko-auth-token mode refuses wrong, empty and missing authorization") {
  const std::vector<std::string> secrets = {"iiko-registered-token-123"};
  for (const auto& value :
       Strings{"", "Bearer", "Bearer ", "Bearer wrong", "Basic iiko-registered-token-123",
               "iiko-registered-token-12", "Bearer iiko-registered-token-1234"}) {
    CAPTURE(value);
    const auto verdict = check(AuthMode::iiko_auth_token, secrets,
                               Request{"{}", {{"authorization", value}}, std::nullopt, {}});
    CHECK_FALSE(verdict.ok);
    check_reason_is_clean(verdict, secrets);
  }
  const auto missing =
      check(AuthMode::iiko_auth_token, secrets, Request{"{}", {}, "iiko-registered-token-123", {}});
  CHECK_FALSE(missing.ok);
  CHECK(missing.reason.find("authorization") != std::string::npos);
}

TEST_CASE("iiko-auth-token mode accepts any of several secrets during rotation") {
  const std::vector<std::string> secrets = {"iiko-old-token-0123456", "iiko-new-token-0123456"};
  for (const auto& secret : secrets) {
    CHECK(check(AuthMode::iiko_auth_token, secrets,
                Request{"{}", {{"authorization", "Bearer " + secret}}, std::nullopt, {}})
              .ok);
  }
  CHECK_FALSE(check(AuthMode::iiko_auth_token, secrets,
                    Request{"{}", {{"authorization", "iiko-third-token-012345"}}, std::nullopt, {}})
                  .ok);
}

TEST_CASE("hmac-sha256 mode accepts sha256=<hex> of the body in lower or upper case") {
  // The well-known HMAC-SHA256 example: key "key", the pangram as the message.
  const std::string body = "The quick brown fox jumps over the lazy dog";
  const std::string hex = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
  const std::vector<std::string> secrets = {"key"};
  for (const auto& value : Strings{"sha256=" + hex, "sha256=" + upper(hex)}) {
    CAPTURE(value);
    const auto verdict =
        check(AuthMode::hmac_sha256, secrets, Request{body, {{"X-Signature", value}}, {}, {}});
    CHECK(verdict.ok);
    CHECK(verdict.dedup_key.empty());
  }
}

TEST_CASE("hmac-sha256 mode refuses forged, truncated, malformed and missing signatures") {
  const std::string secret = "hmac-secret-0123456789abcdef";
  const std::string body = R"({"company_id":1,"resource":"record"})";
  const std::string good = crypto::hmac_sha256_hex(secret, body);
  std::string flipped = good;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  const std::vector<std::string> secrets = {secret};
  for (const auto& value :
       Strings{"sha256=" + flipped, "sha256=" + good.substr(0, 63), "sha256=" + good + "0", good,
               "sha1=" + good, "sha256=", "", "sha256=" + std::string(64, 'g'),
               "sha256=" + crypto::hmac_sha256_hex(secret, body + " ")}) {
    CAPTURE(value);
    const auto verdict =
        check(AuthMode::hmac_sha256, secrets, Request{body, {{"x-signature", value}}, {}, {}});
    CHECK_FALSE(verdict.ok);
    check_reason_is_clean(verdict, {secret, good});
  }
  // The signature covers the exact body: one changed byte is a forgery.
  CHECK_FALSE(check(AuthMode::hmac_sha256, secrets,
                    Request{body + "\n", {{"x-signature", "sha256=" + good}}, {}, {}})
                  .ok);
  const auto missing = check(AuthMode::hmac_sha256, secrets, Request{body, {}, good, {}});
  CHECK_FALSE(missing.ok);
  CHECK(missing.reason.find("x-signature") != std::string::npos);
}

TEST_CASE("hmac-sha256 mode accepts a signature under any of several secrets") {
  const std::vector<std::string> secrets = {"hmac-old-secret-0123456789",
                                            "hmac-new-secret-0123456789"};
  const std::string body = "payload";
  for (const auto& secret : secrets) {
    CHECK(
        check(
            AuthMode::hmac_sha256, secrets,
            Request{
                body, {{"x-signature", "sha256=" + crypto::hmac_sha256_hex(secret, body)}}, {}, {}})
            .ok);
  }
  CHECK_FALSE(check(AuthMode::hmac_sha256, secrets,
                    Request{body,
                            {{"x-signature",
                              "sha256=" + crypto::hmac_sha256_hex("hmac-third-0123456789", body)}},
                            {},
                            {}})
                  .ok);
}

TEST_CASE("the signing oracle reproduces every published Standard Webhooks vector") {
  for (const auto& v : vectors().at("vectors")) {
    CAPTURE(v.at("id").get<std::string>());
    CHECK(sw_sign(v.at("secret"), v.at("msg_id"), std::to_string(v.at("timestamp").get<long>()),
                  v.at("payload")) == v.at("expected_signature").get<std::string>());
    if (v.contains("secret_key_hex")) {
      CHECK(crypto::to_hex(sw_key(v.at("secret"))) == v.at("secret_key_hex").get<std::string>());
    }
  }
}

TEST_CASE("standard-webhooks accepts every published and derived vector at its own timestamp") {
  std::vector<json> all(vectors().at("vectors").begin(), vectors().at("vectors").end());
  for (const auto& v : vectors().at("derived_vectors").at("vectors")) all.push_back(v);
  REQUIRE(all.size() == 7);
  for (const auto& v : all) {
    CAPTURE(v.at("id").get<std::string>());
    const std::int64_t ts = v.at("timestamp");
    Request request{v.at("payload"),
                    {{"webhook-id", v.at("msg_id")},
                     {"webhook-timestamp", std::to_string(ts)},
                     {"webhook-signature", v.at("expected_signature")}},
                    std::nullopt,
                    at(ts)};
    const std::vector<std::string> secrets = {v.at("secret")};
    const auto verdict = check(AuthMode::standard_webhooks, secrets, request);
    CHECK_MESSAGE(verdict.ok, verdict.reason);
    CHECK(verdict.dedup_key == v.at("msg_id").get<std::string>());
    // The same signature over a changed body, id or timestamp is a forgery.
    Request body_changed = request;
    body_changed.body += " ";
    CHECK_FALSE(check(AuthMode::standard_webhooks, secrets, body_changed).ok);
    Request id_changed = request;
    set_header(id_changed, "webhook-id", "msg_other");
    CHECK_FALSE(check(AuthMode::standard_webhooks, secrets, id_changed).ok);
    Request ts_changed = request;
    set_header(ts_changed, "webhook-timestamp", std::to_string(ts + 1));
    CHECK_FALSE(check(AuthMode::standard_webhooks, secrets, ts_changed).ok);
  }
}

TEST_CASE("standard-webhooks decides every upstream verify case as expected") {
  const auto& cases = vectors().at("verify_cases");
  REQUIRE(cases.size() == 22);
  const json& base = cases.at(0);
  REQUIRE(base.at("id") == "sw-verify-valid");
  const std::int64_t now = clock_now().time_since_epoch().count();
  for (const auto& c : cases) {
    const std::string id = c.at("id");
    CAPTURE(id);
    const std::string secret = c.value("secret", base.at("secret").get<std::string>());
    const std::string msg_id = c.value("msg_id", base.at("msg_id").get<std::string>());
    const std::string payload = c.value("payload", base.at("payload").get<std::string>());
    const std::int64_t ts = resolve_now(c.value("timestamp", std::string("<now>")), now);
    const std::string ts_text = c.value("webhook_timestamp", std::to_string(ts));
    const std::string valid = sw_sign(secret, msg_id, ts_text, payload);
    const std::string signature = resolve_signature(c.value("signature_header", valid), valid);

    std::vector<std::string> names = {"webhook-id", "webhook-timestamp", "webhook-signature"};
    if (c.contains("headers_named")) names = c.at("headers_named").get<std::vector<std::string>>();
    REQUIRE(names.size() == 3);
    Request request{payload,
                    {{names[0], msg_id}, {names[1], ts_text}, {names[2], signature}},
                    std::nullopt,
                    at(now)};
    if (c.contains("remove_header")) remove_header(request, c.at("remove_header"));

    const std::vector<std::string> secrets = {secret};
    const auto verdict = check(AuthMode::standard_webhooks, secrets, request);
    const std::string expect = c.at("expect");
    REQUIRE((expect == "accept" || expect == "reject"));
    if (expect == "accept") {
      CHECK_MESSAGE(verdict.ok, verdict.reason);
      CHECK(verdict.dedup_key == msg_id);
    } else {
      CHECK_FALSE(verdict.ok);
      CHECK(verdict.dedup_key.empty());
      check_reason_is_clean(verdict, {secret, valid.substr(3)});
    }
    if (c.contains("remove_header")) {
      CHECK(verdict.reason.find(c.at("remove_header").get<std::string>()) != std::string::npos);
    }
  }
}

TEST_CASE("standard-webhooks handles every upstream secret case") {
  const auto& base = vectors().at("verify_cases").at(0);
  const std::string msg_id = base.at("msg_id");
  const std::string payload = base.at("payload");
  const auto now = clock_now();
  const auto& cases = vectors().at("secret_cases");
  REQUIRE(cases.size() == 4);
  for (const auto& c : cases) {
    const std::string secret = c.at("secret");
    const std::string expect = c.at("expect");
    CAPTURE(secret);
    if (expect.starts_with("reject")) {
      // An empty key cannot sign: the request is signed with a real key, the secret is refused.
      const auto request =
          sw_request(base.at("secret"), msg_id, now.time_since_epoch().count(), payload, now);
      const auto verdict = check(AuthMode::standard_webhooks, {secret}, request);
      CHECK_FALSE(verdict.ok);
      CHECK(verdict.reason.find("secret") != std::string::npos);
      const auto checked = check_secret(AuthMode::standard_webhooks, secret);
      REQUIRE_FALSE(checked.ok());
      CHECK(checked.error().code == CRMSYNC_E_INVALID_CONFIG);
      CHECK(checked.error().message.find("empty") != std::string::npos);
    } else {
      REQUIRE(expect.starts_with("accept"));
      // Unpadded base64 verifies; check_secret still holds configured keys to 24-64 bytes.
      const auto request = sw_request(secret, msg_id, now.time_since_epoch().count(), payload, now);
      CHECK(check(AuthMode::standard_webhooks, {secret}, request).ok);
      CHECK(check(AuthMode::standard_webhooks, {"whsec_" + secret}, request).ok);
      const std::size_t key_size = sw_key(secret).size();
      const auto checked = check_secret(AuthMode::standard_webhooks, secret);
      CHECK(checked.ok() == (key_size >= 24 && key_size <= 64));
      if (!checked.ok()) CHECK(checked.error().message.find("24-64 bytes") != std::string::npos);
    }
  }
}

TEST_CASE("standard-webhooks refuses every non-integer or negative timestamp case") {
  const auto& base = vectors().at("verify_cases").at(0);
  const std::string secret = base.at("secret");
  const std::string msg_id = base.at("msg_id");
  const std::string payload = base.at("payload");
  const auto& cases = vectors().at("timestamp_sign_cases");
  REQUIRE(cases.size() == 3);
  for (const auto& c : cases) {
    const std::string ts_text = c.at("timestamp");
    CAPTURE(ts_text);
    // The clock is set to the number the text starts with, so only the format can refuse it.
    std::int64_t leading = 0;
    const auto parsed = std::from_chars(ts_text.data(), ts_text.data() + ts_text.size(), leading);
    const auto now = parsed.ec == std::errc() ? at(leading) : clock_now();
    Request request{payload,
                    {{"webhook-id", msg_id},
                     {"webhook-timestamp", ts_text},
                     {"webhook-signature", sw_sign(secret, msg_id, ts_text, payload)}},
                    std::nullopt,
                    now};
    const auto verdict = check(AuthMode::standard_webhooks, {secret}, request);
    CHECK_FALSE(verdict.ok);
    CHECK(verdict.reason.find("webhook-timestamp is not integer") != std::string::npos);
  }
}

TEST_CASE("standard-webhooks accepts timestamps within 300 s either way and refuses 301 s") {
  const std::string secret = generate_secret(AuthMode::standard_webhooks);
  const auto now = clock_now();
  const std::int64_t t = now.time_since_epoch().count();
  for (const std::int64_t offset : {0, 1, -1, 299, -299, 300, -300}) {
    CAPTURE(offset);
    CHECK(check(AuthMode::standard_webhooks, {secret},
                sw_request(secret, "msg_1", t + offset, "{}", now))
              .ok);
  }
  for (const std::int64_t offset : std::vector<std::int64_t>{301, -301, 86400, -86400, -t}) {
    CAPTURE(offset);
    const auto verdict = check(AuthMode::standard_webhooks, {secret},
                               sw_request(secret, "msg_1", t + offset, "{}", now));
    CHECK_FALSE(verdict.ok);
    CHECK(verdict.reason.find(offset > 0 ? "future" : "past") != std::string::npos);
  }
  // More digits than any int64 holds is refused as malformed, not wrapped around.
  Request overflow = sw_request(secret, "msg_1", t, "{}", now);
  set_header(overflow, "webhook-timestamp", std::string(40, '9'));
  CHECK_FALSE(check(AuthMode::standard_webhooks, {secret}, overflow).ok);
}

TEST_CASE("standard-webhooks accepts a signature under any of several secrets, skipping bad ones") {
  const std::string old_secret = generate_secret(AuthMode::standard_webhooks);
  const std::string new_secret = generate_secret(AuthMode::standard_webhooks);
  const std::vector<std::string> secrets = {"", "whsec_", "not base64 !", old_secret, new_secret};
  const auto now = clock_now();
  const std::int64_t t = now.time_since_epoch().count();
  CHECK(check(AuthMode::standard_webhooks, secrets, sw_request(old_secret, "msg_a", t, "{}", now))
            .ok);
  CHECK(check(AuthMode::standard_webhooks, secrets, sw_request(new_secret, "msg_b", t, "{}", now))
            .ok);
  const std::string other = generate_secret(AuthMode::standard_webhooks);
  CHECK_FALSE(
      check(AuthMode::standard_webhooks, secrets, sw_request(other, "msg_c", t, "{}", now)).ok);
  // The sender rotating: old and new signatures side by side, either key verifies.
  Request both = sw_request(old_secret, "msg_d", t, "{}", now);
  set_header(both, "webhook-signature",
             sw_sign(other, "msg_d", std::to_string(t), "{}") + " " +
                 sw_sign(new_secret, "msg_d", std::to_string(t), "{}"));
  CHECK(check(AuthMode::standard_webhooks, {new_secret}, both).ok);
  CHECK_FALSE(check(AuthMode::standard_webhooks, {old_secret}, both).ok);
}

TEST_CASE("standard-webhooks skips versions other than v1 and tolerates a messy signature list") {
  const std::string secret = generate_secret(AuthMode::standard_webhooks);
  const auto now = clock_now();
  const std::int64_t t = now.time_since_epoch().count();
  const Request good = sw_request(secret, "msg_v", t, "{}", now);
  const std::string valid = sw_sign(secret, "msg_v", std::to_string(t), "{}");
  const std::string mac = valid.substr(3);

  Request v1a_only = good;
  set_header(v1a_only, "webhook-signature", "v1a," + mac);
  const auto refused = check(AuthMode::standard_webhooks, {secret}, v1a_only);
  CHECK_FALSE(refused.ok);
  CHECK(refused.reason.find("no v1 signature") != std::string::npos);
  CHECK(refused.reason.find(mac) == std::string::npos);

  for (const auto& list : Strings{"v1a," + mac + " " + valid, "  " + valid + "  ",
                                  "garbage " + valid, ", v1 " + valid}) {
    CAPTURE(list);
    Request request = good;
    set_header(request, "webhook-signature", list);
    CHECK(check(AuthMode::standard_webhooks, {secret}, request).ok);
  }
  for (const auto& list :
       Strings{"", " ", ",", "v1", "V1," + mac, "v1, " + mac, "v1," + mac + "x"}) {
    CAPTURE(list);
    Request request = good;
    set_header(request, "webhook-signature", list);
    CHECK_FALSE(check(AuthMode::standard_webhooks, {secret}, request).ok);
  }
  Request empty_id = good;
  set_header(empty_id, "webhook-id", "");
  CHECK_FALSE(check(AuthMode::standard_webhooks, {secret}, empty_id).ok);
}

TEST_CASE("every mode refuses an empty secrets list or a request with no header lookup") {
  const auto now = clock_now();
  const std::string sw_secret = generate_secret(AuthMode::standard_webhooks);
  const Request signed_request =
      sw_request(sw_secret, "msg_e", now.time_since_epoch().count(), "{}", now);
  for (const auto mode : kAllModes) {
    CAPTURE(auth_mode_name(mode));
    const auto verdict = authenticate(mode, {}, signed_request.incoming());
    CHECK_FALSE(verdict.ok);
    CHECK(verdict.reason == "no webhook secret is configured");

    Incoming bare;
    bare.body = "{}";
    bare.now = now;
    const std::vector<std::string> secrets = {generate_secret(mode)};
    const auto without_headers = authenticate(mode, secrets, bare);
    CHECK_FALSE(without_headers.ok);
    CHECK_FALSE(without_headers.reason.empty());
  }
}

TEST_CASE("generate_secret gives fresh secrets in each mode's format that check and authenticate") {
  const std::string base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::string base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto base64url43 = [&](const std::string& s) { return s.size() == 43 && all_of(s, base64url); };
  auto hex64 = [](const std::string& s) { return s.size() == 64 && all_of(s, "0123456789abcdef"); };
  auto whsec = [&](const std::string& s) {
    return s.size() == 50 && s.starts_with("whsec_") && s.ends_with("=") &&
           all_of(s.substr(6, 43), base64);
  };
  const auto now = clock_now();
  for (const auto mode : kAllModes) {
    CAPTURE(auth_mode_name(mode));
    const std::string secret = generate_secret(mode);
    CHECK(generate_secret(mode) != secret);
    CHECK(check_secret(mode, secret).ok());
    const std::vector<std::string> secrets = {secret};
    Request request{"{\"x\":1}", {}, std::nullopt, now};
    switch (mode) {
      case AuthMode::token:
        CHECK(base64url43(secret));
        request.query_token = secret;
        break;
      case AuthMode::iiko_auth_token:
        CHECK(base64url43(secret));
        request.headers = {{"authorization", secret}};
        break;
      case AuthMode::hmac_sha256:
        CHECK(hex64(secret));
        request.headers = {
            {"x-signature", "sha256=" + crypto::hmac_sha256_hex(secret, request.body)}};
        break;
      case AuthMode::standard_webhooks:
        CHECK(whsec(secret));
        CHECK(sw_key(secret).size() == 32);
        request = sw_request(secret, "msg_g", now.time_since_epoch().count(), request.body, now);
        break;
    }
    CHECK(check(mode, secrets, request).ok);
  }
}

TEST_CASE("check_secret refuses malformed secrets with INVALID_CONFIG and never echoes them") {
  const std::string short_token = "short-secret-15";
  REQUIRE(short_token.size() == 15);
  for (const auto mode : {AuthMode::token, AuthMode::hmac_sha256, AuthMode::iiko_auth_token}) {
    CAPTURE(auth_mode_name(mode));
    CHECK(check_secret(mode, std::string(16, 'a')).ok());
    const auto empty = check_secret(mode, "");
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().code == CRMSYNC_E_INVALID_CONFIG);
    CHECK(empty.error().message == std::string(auth_mode_name(mode)) + " secret is empty");
    const auto too_short = check_secret(mode, short_token);
    REQUIRE_FALSE(too_short.ok());
    CHECK(too_short.error().code == CRMSYNC_E_INVALID_CONFIG);
    CHECK(too_short.error().message.find("at least 16") != std::string::npos);
    CHECK(too_short.error().message.find(short_token) == std::string::npos);
  }
  const std::string key23 = crypto::base64_encode(std::string(23, 'k'));
  const std::string key24 = crypto::base64_encode(std::string(24, 'k'));
  const std::string key64 = crypto::base64_encode(std::string(64, 'k'));
  const std::string key65 = crypto::base64_encode(std::string(65, 'k'));
  CHECK(check_secret(AuthMode::standard_webhooks, key24).ok());
  CHECK(check_secret(AuthMode::standard_webhooks, "whsec_" + key24).ok());
  CHECK(check_secret(AuthMode::standard_webhooks, key64).ok());
  for (const auto& secret : Strings{"", "whsec_", key23, key65, "whsec_" + key65,
                                    "whsec_not base64 at all!", "whsec_a", "wh sec_" + key24}) {
    CAPTURE(secret);
    const auto checked = check_secret(AuthMode::standard_webhooks, secret);
    REQUIRE_FALSE(checked.ok());
    CHECK(checked.error().code == CRMSYNC_E_INVALID_CONFIG);
    CHECK(checked.error().message.find("standard-webhooks secret") == 0);
    if (secret.size() > 8) CHECK(checked.error().message.find(secret) == std::string::npos);
  }
}
