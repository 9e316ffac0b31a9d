// The outbound address policy (see address_policy.h).
#include "http/address_policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace crmsync::http {
namespace {

using Bytes = std::array<uint8_t, 16>;

Bytes mapped_v4(const uint8_t v4[4]) {
  Bytes out{};
  out[10] = 0xff;
  out[11] = 0xff;
  std::memcpy(out.data() + 12, v4, 4);
  return out;
}

std::optional<Bytes> bytes_of(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return mapped_v4(reinterpret_cast<const uint8_t*>(&in->sin_addr));
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    Bytes out{};
    std::memcpy(out.data(), &in6->sin6_addr, 16);
    return out;
  }
  return std::nullopt;
}

bool in_prefix(const Bytes& address, const Bytes& network, int prefix) {
  for (int bit = 0; bit < prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((address[bit / 8] & mask) != (network[bit / 8] & mask)) return false;
  }
  return true;
}

bool is_mapped_v4(const Bytes& a) {
  return std::all_of(a.begin(), a.begin() + 10, [](uint8_t b) { return b == 0; }) &&
         a[10] == 0xff && a[11] == 0xff;
}

// What an IPv4 address (as 4 bytes) is, when the host's network or nobody's; nullptr otherwise.
const char* v4_kind(const uint8_t* a) {
  if (a[0] == 0) return "an unspecified (0.0.0.0/8)";
  if (a[0] == 127) return "a loopback";
  if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
    return "a private (RFC 1918)";
  if (a[0] == 100 && (a[1] & 0xc0) == 64) return "a shared (CGNAT 100.64.0.0/10)";
  if (a[0] == 169 && a[1] == 254) return "a link-local";
  if (a[0] == 192 && a[1] == 0 && a[2] == 0) return "a reserved (192.0.0.0/24)";
  if (a[0] == 198 && (a[1] & 0xfe) == 18) return "a benchmarking (198.18.0.0/15)";
  if (a[0] >= 224 && a[0] < 240) return "a multicast";
  if (a[0] >= 240) return "a reserved (240.0.0.0/4)";
  return nullptr;
}

const char* v6_kind(const Bytes& a) {
  const bool zero_head = std::all_of(a.begin(), a.begin() + 12, [](uint8_t b) { return b == 0; });
  if (is_mapped_v4(a)) return v4_kind(a.data() + 12);
  if (zero_head) {  // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
    if (a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1)
      return a[15] == 0 ? "an unspecified" : "a loopback";
    return v4_kind(a.data() + 12);
  }
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) {  // NAT64 64:ff9b::/96
    return v4_kind(a.data() + 12);
  }
  if ((a[0] & 0xfe) == 0xfc) return "a unique-local (fc00::/7)";
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return "a link-local";
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return "a site-local";
  if (a[0] == 0xff) return "a multicast";
  return nullptr;
}

std::string text_of(const Bytes& a) {
  char out[INET6_ADDRSTRLEN] = {0};
  if (is_mapped_v4(a)) {
    inet_ntop(AF_INET, a.data() + 12, out, sizeof out);
  } else {
    inet_ntop(AF_INET6, a.data(), out, sizeof out);
  }
  return out;
}

}  // namespace

Result<AddressPolicy> AddressPolicy::create(const std::vector<std::string>& allow) {
  AddressPolicy policy;
  for (const std::string& entry : allow) {
    const size_t slash = entry.find('/');
    const std::string address = entry.substr(0, slash);
    Range range;
    uint8_t v4[4];
    int width = 0;
    if (inet_pton(AF_INET, address.c_str(), v4) == 1) {
      range.bytes = mapped_v4(v4);
      width = 32;
    } else if (inet_pton(AF_INET6, address.c_str(), range.bytes.data()) == 1) {
      width = 128;
    } else {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "'" + entry + "' is not an IP address or CIDR range (e.g. 127.0.0.0/8, ::1)");
    }
    int prefix = width;
    if (slash != std::string::npos) {
      const std::string bits = entry.substr(slash + 1);
      const bool digits =
          !bits.empty() && bits.size() <= 3 &&
          std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || std::stoi(bits) > width) {
        return fail(CRMSYNC_E_INVALID_CONFIG,
                    "'" + entry + "' has a prefix length outside 0.." + std::to_string(width));
      }
      prefix = std::stoi(bits);
    }
    range.prefix = prefix + (128 - width);
    policy.allowed_.push_back(range);
  }
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) == 0) {
    for (const ifaddrs* i = interfaces; i != nullptr; i = i->ifa_next) {
      if (auto bytes = bytes_of(i->ifa_addr)) policy.own_.push_back(*bytes);
    }
    freeifaddrs(interfaces);
  }
  return policy;
}

std::optional<std::string> AddressPolicy::refusal(const sockaddr* address) const {
  const std::optional<Bytes> bytes = bytes_of(address);
  if (!bytes) return std::string("the address is not IPv4 or IPv6");
  for (const Range& range : allowed_) {
    if (in_prefix(*bytes, range.bytes, range.prefix)) return std::nullopt;
  }
  const char* kind = v6_kind(*bytes);
  if (kind == nullptr && std::find(own_.begin(), own_.end(), *bytes) != own_.end()) {
    kind = "one of this host's own";
  }
  if (kind == nullptr) return std::nullopt;
  return text_of(*bytes) + " is " + kind + " address; connectors may not reach it unless " +
         std::string(kSetting) + " in the config allows it";
}

}  // namespace crmsync::http
