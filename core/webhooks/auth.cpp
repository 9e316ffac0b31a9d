// The webhook authentication modes declared in auth.h, over the host's crypto helpers.
#include "webhooks/auth.h"

#include "crypto/crypto.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace crmsync::webhooks {
namespace internal {

// Every official Standard Webhooks library allows 5 minutes of clock skew in both directions.
constexpr std::int64_t kToleranceSeconds = 300;
constexpr std::string_view kWhsecPrefix = "whsec_";
constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kMinTokenChars = 16;
constexpr std::size_t kMinStandardKeyBytes = 24;
constexpr std::size_t kMaxStandardKeyBytes = 64;

constexpr std::array<std::pair<std::string_view, AuthMode>, 4> kModes{{
    {"token", AuthMode::token},
    {"hmac-sha256", AuthMode::hmac_sha256},
    {"standard-webhooks", AuthMode::standard_webhooks},
    {"iiko-auth-token", AuthMode::iiko_auth_token},
}};

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(),
                    [](char a, char b) { return lower(a) == lower(b); });
}

std::optional<std::string_view> header(const Incoming& in, std::string_view lower_name) {
  if (!in.header) return std::nullopt;
  return in.header(lower_name);
}

Verdict refuse(std::string reason) {
  return Verdict{false, {}, std::move(reason)};
}

// Whether any non-empty secret equals any candidate. Every pair is compared in constant time, and
// an empty secret never matches, so an empty token cannot pass against a blank configuration.
bool any_secret_equals(std::span<const std::string> secrets,
                       std::span<const std::string_view> candidates) {
  bool matched = false;
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (const auto candidate : candidates) {
      matched = crypto::constant_time_equal(secret, candidate) || matched;
    }
  }
  return matched;
}

bool has_usable_secret(std::span<const std::string> secrets) {
  return std::any_of(secrets.begin(), secrets.end(), [](const auto& s) { return !s.empty(); });
}

// The Standard Webhooks MAC key: base64 of the secret without its optional "whsec_" prefix.
// Unpadded base64 is accepted too (the reference Python library does so).
Result<std::string> standard_key(std::string_view secret) {
  if (secret.starts_with(kWhsecPrefix)) secret.remove_prefix(kWhsecPrefix.size());
  if (secret.empty()) return fail(CRMSYNC_E_INVALID_CONFIG, "standard-webhooks secret is empty");
  std::string padded(secret);
  if (padded.size() % 4 != 0) padded.append(4 - padded.size() % 4, '=');
  auto key = crypto::base64_decode(padded);
  if (!key || key->empty()) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "standard-webhooks secret is not base64 (optionally prefixed with whsec_)");
  }
  return key;
}

// webhook-timestamp: unix seconds as plain decimal digits (no sign, fraction or spaces).
std::optional<std::int64_t> parse_unix_seconds(std::string_view text) {
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Verdict authenticate_token(std::span<const std::string> secrets, const Incoming& in) {
  std::vector<std::string_view> candidates;
  if (in.query_token) candidates.push_back(*in.query_token);
  if (auto value = header(in, "x-webhook-token")) candidates.push_back(*value);
  if (candidates.empty())
    return refuse("no token in the query string or the x-webhook-token header");
  if (!any_secret_equals(secrets, candidates)) return refuse("the webhook token does not match");
  return Verdict{true, {}, {}};
}

Verdict authenticate_iiko(std::span<const std::string> secrets, const Incoming& in) {
  const auto value = header(in, "authorization");
  if (!value) return refuse("no authorization header");
  // iikoCloud sends the registered authToken as is; a proxy may have added the Bearer scheme.
  std::vector<std::string_view> candidates{*value};
  constexpr std::string_view kBearer = "bearer ";
  if (starts_with_nocase(*value, kBearer)) {
    std::string_view rest = value->substr(kBearer.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    candidates.push_back(rest);
  }
  if (!any_secret_equals(secrets, candidates))
    return refuse("the authorization token does not match");
  return Verdict{true, {}, {}};
}

Verdict authenticate_hmac(std::span<const std::string> secrets, const Incoming& in) {
  const auto value = header(in, "x-signature");
  if (!value) return refuse("no x-signature header");
  constexpr std::string_view kScheme = "sha256=";
  if (!starts_with_nocase(*value, kScheme)) return refuse("x-signature is not sha256=<hex>");
  std::string hex(value->substr(kScheme.size()));
  std::transform(hex.begin(), hex.end(), hex.begin(), lower);
  const bool well_formed = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
                             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                           });
  if (!well_formed) return refuse("x-signature is not sha256=<64 hex digits>");
  bool matched = false;
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    matched = crypto::constant_time_equal(crypto::hmac_sha256_hex(secret, in.body), hex) || matched;
  }
  if (!matched) return refuse("x-signature does not match the body");
  return Verdict{true, {}, {}};
}

Verdict authenticate_standard(std::span<const std::string> secrets, const Incoming& in) {
  std::vector<std::string> keys;
  for (const auto& secret : secrets) {
    if (auto key = standard_key(secret)) keys.push_back(std::move(*key));
  }
  if (keys.empty()) return refuse("no usable standard-webhooks secret is configured");

  const auto id = header(in, "webhook-id");
  const auto timestamp = header(in, "webhook-timestamp");
  const auto signatures = header(in, "webhook-signature");
  if (!id || id->empty()) return refuse("no webhook-id header");
  if (!timestamp) return refuse("no webhook-timestamp header");
  if (!signatures) return refuse("no webhook-signature header");

  const auto seconds = parse_unix_seconds(*timestamp);
  if (!seconds) return refuse("webhook-timestamp is not integer unix seconds");
  const std::int64_t now = in.now.time_since_epoch().count();
  if (*seconds < now - kToleranceSeconds)
    return refuse("webhook-timestamp is more than 300 s in the past");
  if (*seconds > now + kToleranceSeconds)
    return refuse("webhook-timestamp is more than 300 s in the future");

  std::string content;
  content.reserve(id->size() + timestamp->size() + in.body.size() + 2);
  content.append(*id).append(".").append(*timestamp).append(".").append(in.body);
  std::vector<std::string> expected;
  for (const auto& key : keys)
    expected.push_back(crypto::base64_encode(crypto::hmac_sha256(key, content)));

  // A space-separated list lets the sender sign with several keys; versions other than v1
  // (such as the asymmetric v1a) are not ours to check and are skipped.
  bool seen_v1 = false;
  bool matched = false;
  std::string_view rest = *signatures;
  while (!rest.empty()) {
    const std::size_t space = rest.find(' ');
    const std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    const std::size_t comma = entry.find(',');
    if (comma == std::string_view::npos || entry.substr(0, comma) != "v1") continue;
    seen_v1 = true;
    const std::string_view signature = entry.substr(comma + 1);
    for (const auto& mac : expected)
      matched = crypto::constant_time_equal(mac, signature) || matched;
  }
  if (!seen_v1) return refuse("webhook-signature has no v1 signature");
  if (!matched) return refuse("no v1 signature in webhook-signature matches");
  return Verdict{true, std::string(*id), {}};
}

std::string random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    // Without a working CSPRNG no secret can be issued safely; there is nothing to fall back to.
    std::fprintf(stderr, "crmsync: broken invariant: OpenSSL RAND_bytes failed\n");
    std::abort();
  }
  return out;
}

// base64url without padding (RFC 4648 §5): safe to paste into a URL query unescaped.
std::string base64url(std::string_view bytes) {
  std::string text = crypto::base64_encode(bytes);
  std::replace(text.begin(), text.end(), '+', '-');
  std::replace(text.begin(), text.end(), '/', '_');
  text.erase(std::remove(text.begin(), text.end(), '='), text.end());
  return text;
}

}  // namespace internal

Result<AuthMode> parse_auth_mode(std::string_view name) {
  for (const auto& [mode_name, mode] : internal::kModes) {
    if (name == mode_name) return mode;
  }
  return fail(CRMSYNC_E_INVALID_CONFIG,
              "unknown webhook auth mode \"" + std::string(name.substr(0, 64)) +
                  "\"; accepted: token, hmac-sha256, standard-webhooks, iiko-auth-token");
}

std::string_view auth_mode_name(AuthMode mode) {
  for (const auto& [mode_name, candidate] : internal::kModes) {
    if (candidate == mode) return mode_name;
  }
  std::fprintf(stderr, "crmsync: broken invariant: AuthMode %d has no name\n",
               static_cast<int>(mode));
  std::abort();
}

Verdict authenticate(AuthMode mode, std::span<const std::string> secrets, const Incoming& in) {
  using namespace internal;
  if (!has_usable_secret(secrets)) return refuse("no webhook secret is configured");
  switch (mode) {
    case AuthMode::token:
      return authenticate_token(secrets, in);
    case AuthMode::iiko_auth_token:
      return authenticate_iiko(secrets, in);
    case AuthMode::hmac_sha256:
      return authenticate_hmac(secrets, in);
    case AuthMode::standard_webhooks:
      return authenticate_standard(secrets, in);
  }
  return refuse("unknown webhook auth mode");
}

std::string generate_secret(AuthMode mode) {
  using namespace internal;
  const std::string bytes = random_bytes(kSecretBytes);
  switch (mode) {
    case AuthMode::token:
    case AuthMode::iiko_auth_token:
      return base64url(bytes);
    case AuthMode::hmac_sha256:
      return crypto::to_hex(bytes);
    case AuthMode::standard_webhooks:
      return std::string(kWhsecPrefix) + crypto::base64_encode(bytes);
  }
  std::fprintf(stderr, "crmsync: broken invariant: AuthMode %d has no secret format\n",
               static_cast<int>(mode));
  std::abort();
}

Result<void> check_secret(AuthMode mode, std::string_view secret) {
  using namespace internal;
  const std::string name(auth_mode_name(mode));
  if (mode == AuthMode::standard_webhooks) {
    auto key = standard_key(secret);
    if (!key) return key.error();
    if (key->size() < kMinStandardKeyBytes || key->size() > kMaxStandardKeyBytes) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "standard-webhooks secret must decode to 24-64 bytes, not " +
                      std::to_string(key->size()));
    }
    return {};
  }
  if (secret.empty()) return fail(CRMSYNC_E_INVALID_CONFIG, name + " secret is empty");
  if (secret.size() < kMinTokenChars) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                name + " secret is too short: " + std::to_string(secret.size()) +
                    " characters, at least 16 needed");
  }
  return {};
}

}  // namespace crmsync::webhooks
