// crmsync connector SDK: HTTP texts for connectors, header-only: URL and form encoding, Basic
// credentials, content types, and the ABI code and message for a failed HTTP status.
//
// Written by hand because a connector links only the SDK and header-only helpers (no URL or
// base64 library); each is one RFC rule.
#ifndef CRMSYNC_CONNECTOR_HTTP_HPP
#define CRMSYNC_CONNECTOR_HTTP_HPP

#include <crmsync/connector.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::sdk {

// Percent-encodes every byte that is not unreserved (RFC 3986 §2.3: A-Z a-z 0-9 - _ . ~), for
// query keys and values, path segments and form values: UTF-8 text becomes %XX bytes, a space %20.
inline std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Decodes one application/x-www-form-urlencoded component or query value ("+" is a space, %XX a
// byte); nullopt for a "%" not followed by two hex digits.
inline std::optional<std::string> form_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The decoded value of the first query parameter `name` of url ("" for "name=" and "name");
// nullopt when url has none or its value is malformed.
inline std::optional<std::string> query_param(std::string_view url, std::string_view name) {
  url = url.substr(0, url.find('#'));
  const size_t question = url.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  std::string_view query = url.substr(question + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (form_decode(pair.substr(0, eq)) != name) continue;
    return form_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return std::nullopt;
}

// Base64 (RFC 4648 §4, with padding) of bytes, e.g. for "Authorization: Basic …".
inline std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t n = byte(i) << 16 | (two ? byte(i + 1) << 8 : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += two ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The media type of a Content-Type value, lower-case, without parameters and spaces
// ("Application/JSON; charset=utf-8" → "application/json"); "" for an empty value.
inline std::string media_type(std::string_view content_type) {
  std::string out;
  for (char c : content_type.substr(0, content_type.find(';'))) {
    if (c != ' ' && c != '\t') out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  return out;
}

// True for a Content-Type that carries JSON: application/json, text/json or any "…+json".
inline bool is_json_media_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  return type == "application/json" || type == "text/json" || type.ends_with("+json");
}

// The ABI code for a failed HTTP status: 401 UNAUTHENTICATED, 402 (payment required) and 403
// PERMISSION_DENIED, 404 NOT_FOUND, 408 TIMEOUT, 429 RATE_LIMITED, 5xx UNAVAILABLE, any other
// INVALID_INPUT. Also fits providers that repeat HTTP statuses as error codes in their bodies.
inline int32_t http_status_code(int64_t status) noexcept {
  if (status == 401) return CRMSYNC_E_UNAUTHENTICATED;
  if (status == 402 || status == 403) return CRMSYNC_E_PERMISSION_DENIED;
  if (status == 404) return CRMSYNC_E_NOT_FOUND;
  if (status == 408) return CRMSYNC_E_TIMEOUT;
  if (status == 429) return CRMSYNC_E_RATE_LIMITED;
  if (status >= 500) return CRMSYNC_E_UNAVAILABLE;
  return CRMSYNC_E_INVALID_INPUT;
}

// The start of a response body for an error message: up to `limit` bytes, "…" when cut.
inline std::string body_excerpt(std::string_view body, size_t limit = 200) {
  if (body.size() <= limit) return std::string(body);
  return std::string(body.substr(0, limit)) + "…";
}

// "<what>: HTTP <status>: <detail>", the message of a failed request (detail: the provider's
// own error text, or a body_excerpt).
inline std::string http_error_message(std::string_view what, int32_t status,
                                      std::string_view detail) {
  return std::string(what) + ": HTTP " + std::to_string(status) + ": " + std::string(detail);
}

// Throws Error(http_status_code(status), http_error_message(what, status, detail)).
[[noreturn]] inline void throw_http_error(std::string_view what, int32_t status,
                                          std::string_view detail) {
  throw Error(http_status_code(status), http_error_message(what, status, detail));
}

}  // namespace crmsync::sdk

#endif  // CRMSYNC_CONNECTOR_HTTP_HPP
