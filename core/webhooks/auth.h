// Authentication of incoming provider webhooks (DESIGN §7). Providers differ: some sign the body
// (HMAC-SHA256, Standard Webhooks), some can only echo a secret token (in the URL, a header, or
// iikoCloud's registered authToken). Each integration picks a mode and holds one or more secrets
// (several while a secret is being rotated). Every comparison runs in constant time, and refusal
// reasons never carry a secret or a signature, so they are safe to log.
#ifndef CRMSYNC_CORE_WEBHOOKS_AUTH_H
#define CRMSYNC_CORE_WEBHOOKS_AUTH_H

#include "base/result.h"

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace crmsync::webhooks {

// How an integration's webhooks prove they come from its provider.
enum class AuthMode { token, hmac_sha256, standard_webhooks, iiko_auth_token };

// Reads a mode from its configuration name: "token", "hmac-sha256", "standard-webhooks",
// "iiko-auth-token"; anything else is INVALID_CONFIG naming the accepted list.
Result<AuthMode> parse_auth_mode(std::string_view name);

// The configuration name of a mode (the inverse of parse_auth_mode).
std::string_view auth_mode_name(AuthMode mode);

// What the server saw of a request. Header lookup is case-insensitive: the callback receives
// lower-case names and must match them against the request's headers regardless of case.
struct Incoming {
  // The raw body bytes, exactly as received (signatures cover these bytes, not a re-encoding).
  std::string_view body;
  // Looks up a header value by its lower-case name; nullopt when absent.
  std::function<std::optional<std::string_view>(std::string_view lower_name)> header;
  // The URL's `token` query parameter, already percent-decoded; nullopt when absent.
  std::optional<std::string_view> query_token;
  // The server's clock, against which Standard Webhooks timestamps are checked.
  std::chrono::sys_seconds now;
};

// The outcome of authenticate.
struct Verdict {
  // True when the request is authentic.
  bool ok = false;
  // standard-webhooks: the webhook-id, the provider's idempotency key; otherwise empty.
  std::string dedup_key;
  // Why the request was refused, for logs; never contains a secret or a signature.
  std::string reason;
};

// Decides whether `in` is authentic under `mode`. secrets are the integration's current secrets
// (several during rotation: any one may match). Malformed or missing input and an empty or
// unusable secrets list are refusals with a reason, never an exception.
Verdict authenticate(AuthMode mode, std::span<const std::string> secrets, const Incoming& in);

// A new random secret in the mode's format: token and iiko-auth-token: 32 random bytes base64url
// without padding; hmac-sha256: 64 hex digits; standard-webhooks: "whsec_" + base64 of 32 bytes.
std::string generate_secret(AuthMode mode);

// Checks a configured secret's format (standard-webhooks: optional "whsec_" prefix, then base64 of
// 24-64 bytes; the other modes: at least 16 characters); INVALID_CONFIG with a clear message that
// never echoes the secret otherwise.
Result<void> check_secret(AuthMode mode, std::string_view secret);

}  // namespace crmsync::webhooks

#endif  // CRMSYNC_CORE_WEBHOOKS_AUTH_H
