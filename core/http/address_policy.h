// Which addresses the host's HTTP client may connect to on a connector's behalf. A connector's
// address is set by a business owner (base_url, a custom connector's request.url), so by default
// it may not reach the host's network: loopback, unspecified, link-local, private (RFC 1918,
// unique-local fc00::/7), CGNAT 100.64/10, multicast, reserved, the addresses of the host's own
// interfaces, and the IPv4-mapped and -compatible IPv6 forms of all these. The platform admin
// allows ranges in the config (`http.allow_private`). The check runs on the resolved address as
// the socket is opened, so a name that resolves (or re-resolves) to such an address is refused.
#ifndef CRMSYNC_CORE_HTTP_ADDRESS_POLICY_H
#define CRMSYNC_CORE_HTTP_ADDRESS_POLICY_H

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace crmsync::http {

class AddressPolicy {
 public:
  // A policy allowing the given CIDR ranges or single addresses ("127.0.0.0/8", "::1",
  // "10.1.2.3"); INVALID_CONFIG naming the bad entry otherwise. The host's own interface
  // addresses are read now.
  static Result<AddressPolicy> create(const std::vector<std::string>& allow);

  // Why address may not be connected to ("127.0.0.1 is a loopback address"), or nullopt.
  std::optional<std::string> refusal(const sockaddr* address) const;

  // The config key that allows ranges, for error messages.
  static constexpr std::string_view kSetting = "http.allow_private";

 private:
  // An IPv6 address (IPv4 as ::ffff:a.b.c.d) and a prefix length over those 128 bits.
  struct Range {
    std::array<uint8_t, 16> bytes{};
    int prefix = 0;
  };
  std::vector<Range> allowed_;
  std::vector<std::array<uint8_t, 16>> own_;  // the host's interface addresses
};

}  // namespace crmsync::http

#endif  // CRMSYNC_CORE_HTTP_ADDRESS_POLICY_H
