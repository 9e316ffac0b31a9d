// Webhook authentication on arbitrary headers: the first byte picks the mode (token, HMAC-SHA256,
// Standard Webhooks, iiko authToken) and whether the URL carries a token; then one line each for
// a second configured secret, the URL token and the headers authorization, x-webhook-token,
// x-signature, webhook-id, webhook-timestamp and webhook-signature; the rest is the body. The
// first secret is a well-formed one of the mode, so signatures over the body can match.
#include <array>
#include <string>
#include <vector>

#include "harness.h"
#include "input.h"
#include "webhooks/auth.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crmsync::webhooks;
  crmsync::fuzz::Input input(data, size);
  const uint8_t selector = input.byte();
  static constexpr std::array<AuthMode, 4> kModes = {AuthMode::token, AuthMode::hmac_sha256,
                                                     AuthMode::standard_webhooks,
                                                     AuthMode::iiko_auth_token};
  static constexpr std::array<const char*, 4> kSecrets = {
      "token-secret-0123456789", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "iiko-auth-token-0123456789"};
  const AuthMode mode = kModes[selector & 3];
  const std::string_view second = input.line();
  (void)check_secret(mode, second);
  (void)parse_auth_mode(second);
  const std::vector<std::string> secrets = {kSecrets[selector & 3], std::string(second)};

  const std::string_view query_token = input.line();
  static constexpr std::array<std::string_view, 6> kNames = {
      "authorization", "x-webhook-token",   "x-signature",
      "webhook-id",    "webhook-timestamp", "webhook-signature"};
  std::array<std::string_view, 6> values;
  for (std::string_view& value : values) value = input.line();

  Incoming in;
  in.body = input.rest();
  in.header = [&](std::string_view lower_name) -> std::optional<std::string_view> {
    for (size_t i = 0; i < kNames.size(); ++i) {
      if (kNames[i] == lower_name && !values[i].empty()) return values[i];
    }
    return std::nullopt;
  };
  if (selector & 4) in.query_token = query_token;
  in.now = std::chrono::sys_seconds(std::chrono::seconds(1'763'380'800));  // 2025-11-17T12:00Z
  (void)authenticate(mode, secrets, in);
  return 0;
}
