// The SMTP mailer: composes an RFC 5322 / MIME message by hand (no Debian package offers a small
// MIME composer for C++) and hands the SMTP conversation to libcurl.
#include "alerts/alerts.h"
#include "alerts/internal.h"

#include "crypto/crypto.h"

#include <curl/curl.h>
#include <date/date.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>

namespace crmsync::alerts {

namespace internal {

std::string encode_header_words(std::string_view text) {
  // An encoded word is at most 75 characters; "=?UTF-8?B?" and "?=" leave 63, which hold 45
  // bytes of base64-encoded text. Words split between UTF-8 characters, never inside one.
  constexpr size_t kMaxBytes = 45;
  auto continuation = [&](size_t i) {
    return (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
  };
  std::string out;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.size(), start + kMaxBytes);
    while (end < text.size() && continuation(end)) --end;
    if (!out.empty()) out += "\r\n ";  // folded: each word on its own line
    out += "=?UTF-8?B?" + crypto::base64_encode(text.substr(start, end - start)) + "?=";
    start = end;
  }
  return out;
}

std::string base64_lines(std::string_view text) {
  // Canonical text/plain has CRLF line ends (RFC 2045 §6.8) before it is encoded.
  std::string canonical;
  canonical.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) canonical += '\r';
    canonical += text[i];
  }
  const std::string encoded = crypto::base64_encode(canonical);
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += 76) out += encoded.substr(i, 76) + "\r\n";
  return out;
}

std::string compose_message(const MailerOptions& options, const Email& email, store::Timestamp now,
                            const std::string& message_id) {
  std::string to;
  for (const auto& address : options.to) to += (to.empty() ? "" : ", ") + address;
  std::string message;
  message +=
      "Date: " +
      date::format("%a, %d %b %Y %H:%M:%S +0000", std::chrono::floor<std::chrono::seconds>(now)) +
      "\r\n";
  message += "From: " + options.from + "\r\n";
  message += "To: " + to + "\r\n";
  message += "Subject: " + encode_header_words(email.subject) + "\r\n";
  message += "Message-ID: " + message_id + "\r\n";
  message += "MIME-Version: 1.0\r\n";
  message += "Content-Type: text/plain; charset=utf-8\r\n";
  message += "Content-Transfer-Encoding: base64\r\n";
  message += "\r\n";
  message += base64_lines(email.body);
  return message;
}

}  // namespace internal

namespace {

// An address goes into the envelope and the headers verbatim, so anything that could end a
// command or a header, or wrap the address, is refused.
Result<void> check_address(const std::string& address, const std::string& what) {
  const auto at = address.find('@');
  const bool bad_char = std::any_of(address.begin(), address.end(), [](char c) {
    return c == ' ' || c == '<' || c == '>' || c == '\r' || c == '\n' || c == ',' || c == '\t' ||
           c == '"';
  });
  if (address.empty() || bad_char || at == std::string::npos || at == 0 ||
      at + 1 == address.size()) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                what + " '" + address + "' is not a bare e-mail address (user@example.com)");
  }
  return {};
}

// The URL without its user and password, for messages.
std::string safe_url(const std::string& url) {
  CURLU* parsed = curl_url();
  std::string out = "(invalid URL)";
  if (curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    curl_url_set(parsed, CURLUPART_USER, nullptr, 0);
    curl_url_set(parsed, CURLUPART_PASSWORD, nullptr, 0);
    char* text = nullptr;
    if (curl_url_get(parsed, CURLUPART_URL, &text, 0) == CURLUE_OK) out = text;
    curl_free(text);
  }
  curl_url_cleanup(parsed);
  return out;
}

std::string random_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  const uint64_t a = generator();
  const uint64_t b = generator();
  return crypto::to_hex(std::string(reinterpret_cast<const char*>(&a), sizeof a) +
                        std::string(reinterpret_cast<const char*>(&b), sizeof b));
}

// libcurl's upload source: the message, handed out in chunks.
struct Upload {
  std::string_view rest;
};

size_t read_message(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->rest.size());
  std::memcpy(buffer, upload->rest.data(), n);
  upload->rest.remove_prefix(n);
  return n;
}

}  // namespace

Result<std::unique_ptr<Mailer>> Mailer::create(MailerOptions options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURLU* parsed = curl_url();
  char* scheme = nullptr;
  const bool parsed_ok =
      curl_url_set(parsed, CURLUPART_URL, options.smtp_url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
  const std::string scheme_name = parsed_ok ? scheme : "";
  curl_free(scheme);
  curl_url_cleanup(parsed);
  if (scheme_name != "smtp" && scheme_name != "smtps") {
    return fail(CRMSYNC_E_INVALID_CONFIG, "alerts.smtp_url '" + safe_url(options.smtp_url) +
                                              "' is not an smtp:// or smtps:// URL");
  }
  if (auto ok = check_address(options.from, "alerts.from"); !ok) return ok.error();
  if (options.to.empty()) return fail(CRMSYNC_E_INVALID_CONFIG, "alerts.to: no recipients");
  for (const auto& address : options.to) {
    if (auto ok = check_address(address, "alerts.to"); !ok) return ok.error();
  }
  if (options.connect_timeout.count() <= 0 || options.timeout.count() <= 0) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "SMTP timeouts must be positive");
  }
  return std::unique_ptr<Mailer>(new Mailer(std::move(options)));
}

Result<void> Mailer::send(const Email& email, store::Timestamp now) const {
  const std::string domain = options_.from.substr(options_.from.find('@') + 1);
  const std::string message =
      internal::compose_message(options_, email, now, "<" + random_id() + "@" + domain + ">");
  Upload upload{message};

  CURL* easy = curl_easy_init();
  if (easy == nullptr) return fail(CRMSYNC_E_INTERNAL, "curl_easy_init failed");
  curl_slist* recipients = nullptr;
  for (const auto& address : options_.to) {
    recipients = curl_slist_append(recipients, ("<" + address + ">").c_str());
  }
  char curl_error[CURL_ERROR_SIZE] = {0};
  const std::string mail_from = "<" + options_.from + ">";
  curl_easy_setopt(easy, CURLOPT_URL, options_.smtp_url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(easy, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_message);
  curl_easy_setopt(easy, CURLOPT_READDATA, &upload);
  curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  if (!options_.username.empty())
    curl_easy_setopt(easy, CURLOPT_USERNAME, options_.username.c_str());
  if (!options_.password.empty())
    curl_easy_setopt(easy, CURLOPT_PASSWORD, options_.password.c_str());
  if (options_.require_starttls)
    curl_easy_setopt(easy, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));

  const CURLcode code = curl_easy_perform(easy);
  long reply = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply);
  curl_slist_free_all(recipients);
  curl_easy_cleanup(easy);
  if (code == CURLE_OK) return {};

  const std::string what = "sending an alert e-mail via " + safe_url(options_.smtp_url) + ": " +
                           (curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code)) +
                           (reply > 0 ? " (last SMTP reply " + std::to_string(reply) + ")" : "");
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return fail(CRMSYNC_E_TIMEOUT, what);
    case CURLE_LOGIN_DENIED:
      return fail(CRMSYNC_E_UNAUTHENTICATED, what);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return fail(CRMSYNC_E_INVALID_CONFIG, what);
    default:
      break;
  }
  // A 5xx reply is the server's final word on this message (bad sender or recipient).
  if (reply >= 500 && reply <= 599) return fail(CRMSYNC_E_INVALID_CONFIG, what);
  return fail(CRMSYNC_E_UNAVAILABLE, what);
}

Result<std::unique_ptr<Mailer>> make_mailer(const config::AlertsConfig& alerts) {
  if (alerts.smtp_url.empty()) return std::unique_ptr<Mailer>();
  MailerOptions options;
  options.smtp_url = alerts.smtp_url;
  options.from = alerts.from;
  options.to = alerts.to;
  return Mailer::create(std::move(options));
}

}  // namespace crmsync::alerts
