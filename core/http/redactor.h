// Redaction of secrets from what the HTTP client logs and records: sensitive header values,
// query and form parameters and JSON fields named like credentials, and configured secret strings.
#ifndef CRMSYNC_CORE_HTTP_REDACTOR_H
#define CRMSYNC_CORE_HTTP_REDACTOR_H

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::http::internal {

// What replaces a secret.
inline constexpr std::string_view kRedacted = "[REDACTED]";

// Thread-safe: secrets may be added while other threads redact.
class Redactor {
 public:
  // secrets: literal strings to hide wherever they appear (empty ones are ignored).
  explicit Redactor(std::vector<std::string> secrets);

  // Adds a literal secret (and its percent-encoded form).
  void add_secret(std::string_view secret);

  // True for names like token, api_key, password, Authorization (case and '-'/'_' ignored).
  static bool is_secret_name(std::string_view name);

  // A URL with secret-named query parameters and literal secrets hidden.
  std::string url(std::string_view url) const;
  // A header value, wholly hidden when the header name is sensitive.
  std::string header_value(std::string_view name, std::string_view value) const;
  // A body: JSON fields or form parameters named like secrets hidden (by content_type or by
  // sniffing), then literal secrets.
  std::string body(std::string_view body, std::string_view content_type) const;
  // Any text (an error message, a log line): literal secrets hidden.
  std::string text(std::string_view text) const;

 private:
  std::string form(std::string_view params) const;
  mutable std::mutex mutex_;
  std::vector<std::string> secrets_;
};

}  // namespace crmsync::http::internal

#endif  // CRMSYNC_CORE_HTTP_REDACTOR_H
