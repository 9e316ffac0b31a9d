// Redaction of secrets from HTTP log lines and recordings.
#include "http/redactor.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>

#include "base/json.h"

namespace crmsync::http::internal {
namespace {

std::string lower_underscored(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Replaces every occurrence of needle in text.
void replace_all(std::string& text, std::string_view needle, std::string_view with) {
  if (needle.empty()) return;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + with.size())) {
    text.replace(at, needle.size(), with);
  }
}

// Hides string values of secret-named keys at any depth.
void redact_json(nlohmann::json& value) {
  if (value.is_object()) {
    for (auto& [key, item] : value.items()) {
      if (Redactor::is_secret_name(key) && !item.is_object() && !item.is_array()) {
        item = kRedacted;
      } else {
        redact_json(item);
      }
    }
  } else if (value.is_array()) {
    for (auto& item : value) redact_json(item);
  }
}

bool looks_like_form(std::string_view body) {
  return !body.empty() && body.find('=') != std::string_view::npos &&
         std::all_of(body.begin(), body.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) ||
                  std::string_view("=&%+-_.~[]*").find(c) != std::string_view::npos;
         });
}

}  // namespace

Redactor::Redactor(std::vector<std::string> secrets) {
  for (const auto& secret : secrets) add_secret(secret);
}

void Redactor::add_secret(std::string_view secret) {
  if (secret.empty()) return;
  std::lock_guard lock(mutex_);
  secrets_.emplace_back(secret);
  // Secrets travel percent-encoded in URLs and form bodies too.
  if (char* escaped = curl_easy_escape(nullptr, secret.data(), static_cast<int>(secret.size()))) {
    if (secret != escaped) secrets_.emplace_back(escaped);
    curl_free(escaped);
  }
  // Longest first, so a secret that contains another is hidden whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

bool Redactor::is_secret_name(std::string_view name) {
  static constexpr std::array<std::string_view, 11> kParts = {
      "token",    "password",      "passwd", "secret",    "api_key",    "apikey",
      "apilogin", "authorization", "cookie", "signature", "private_key"};
  static constexpr std::array<std::string_view, 5> kWhole = {"key", "pass", "pwd", "auth", "sig"};
  const std::string n = lower_underscored(name);
  return std::any_of(kParts.begin(), kParts.end(),
                     [&](std::string_view p) { return n.find(p) != std::string::npos; }) ||
         std::find(kWhole.begin(), kWhole.end(), n) != kWhole.end();
}

std::string Redactor::form(std::string_view params) const {
  std::string out;
  size_t start = 0;
  while (start <= params.size()) {
    size_t end = params.find('&', start);
    if (end == std::string_view::npos) end = params.size();
    std::string_view pair = params.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (!out.empty() || start > 0) out += '&';
    std::string_view name = pair.substr(0, eq);
    std::string decoded_name(name);
    int decoded_len = 0;
    if (char* d =
            curl_easy_unescape(nullptr, name.data(), static_cast<int>(name.size()), &decoded_len)) {
      decoded_name.assign(d, static_cast<size_t>(decoded_len));
      curl_free(d);
    }
    if (eq != std::string_view::npos && is_secret_name(decoded_name)) {
      out.append(name).append("=").append(kRedacted);
    } else {
      out.append(pair);
    }
    start = end + 1;
  }
  return out;
}

std::string Redactor::url(std::string_view url) const {
  std::string out;
  const size_t q = url.find('?');
  if (q == std::string_view::npos) {
    out = url;
  } else {
    const size_t hash = url.find('#', q);
    out.append(url.substr(0, q + 1));
    out.append(form(url.substr(q + 1, hash == std::string_view::npos ? hash : hash - q - 1)));
    if (hash != std::string_view::npos) out.append(url.substr(hash));
  }
  return text(out);
}

std::string Redactor::header_value(std::string_view name, std::string_view value) const {
  if (is_secret_name(name) || lower_underscored(name) == "x_api_key") return std::string(kRedacted);
  return text(value);
}

std::string Redactor::body(std::string_view body, std::string_view content_type) const {
  const std::string type = lower_underscored(content_type);
  std::string out;
  auto json = parse_json_or_discarded(body);
  if (!json.is_discarded() && (json.is_object() || json.is_array())) {
    redact_json(json);
    out = dump_json(json);
  } else if (type.find("x_www_form_urlencoded") != std::string::npos || looks_like_form(body)) {
    out = form(body);
  } else {
    out = body;
  }
  return text(out);
}

std::string Redactor::text(std::string_view text) const {
  std::string out(text);
  std::lock_guard lock(mutex_);
  for (const auto& secret : secrets_) replace_all(out, secret, kRedacted);
  return out;
}

}  // namespace crmsync::http::internal
