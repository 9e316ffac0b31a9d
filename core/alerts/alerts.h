// Alert e-mails about failing integrations (spec 8.2.6-8.2.8, DESIGN §6): an SMTP mailer on
// libcurl, and the two alerts the sync runner raises. A run-failure alert goes out once per
// failure streak, when an integration reaches kFailureThreshold consecutive failed runs; an
// item alert goes out once per record that failed all its retries. Every alert is written to the
// store's alerts table, whose (integration, kind, streak) key keeps it to one per streak.
//
// Delivery is at least once: the mail is sent first and recorded after, so a mail that could not
// be sent (SMTP server down, refused) is not recorded and the next call for the same streak
// (the next failed run, or a retry of the call) tries again. Only a crash between sending and
// recording can send one alert twice.
#ifndef CRMSYNC_CORE_ALERTS_ALERTS_H
#define CRMSYNC_CORE_ALERTS_ALERTS_H

#include "base/result.h"
#include "config/config.h"
#include "http/client.h"
#include "store/store.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace crmsync::alerts {

// How to reach the SMTP server and whom to write.
struct MailerOptions {
  // smtp://host[:port] (plain) or smtps://host[:port] (implicit TLS), optionally with
  // user:password@ before the host (percent-encoded).
  std::string smtp_url;
  std::string username;           // overrides the URL's user when not empty
  std::string password;           // overrides the URL's password when not empty
  bool require_starttls = false;  // smtp:// only: upgrade with STARTTLS or fail
  std::string from;               // a bare address: alerts@example.com
  std::vector<std::string> to;    // bare addresses, at least one
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{30'000};  // the whole SMTP conversation
};

// One e-mail: UTF-8 subject and plain-text body (LF or CRLF line ends).
struct Email {
  std::string subject;
  std::string body;
};

// Sends e-mails over SMTP, one connection per message. Thread-safe.
class Mailer {
 public:
  // Validates the options: the URL scheme, addresses (no spaces, angle brackets or line breaks),
  // non-empty recipients, positive timeouts; errors are INVALID_CONFIG.
  static Result<std::unique_ptr<Mailer>> create(MailerOptions options);

  // Builds an RFC 5322 message (Date of `now`, From, To, RFC 2047 Subject, Message-ID, MIME
  // text/plain UTF-8, base64 body) and sends it. Errors: UNAVAILABLE when the server cannot be
  // reached or refuses the message, TIMEOUT, UNAUTHENTICATED when the login is refused.
  Result<void> send(const Email& email, store::Timestamp now) const;

  // The options the mailer was built with.
  const MailerOptions& options() const noexcept { return options_; }

 private:
  explicit Mailer(MailerOptions options) : options_(std::move(options)) {}
  MailerOptions options_;
};

// A mailer for the configuration's alerts section, or nullptr when alerts.smtp_url is empty.
Result<std::unique_ptr<Mailer>> make_mailer(const config::AlertsConfig& alerts);

// Where the alert links point.
struct AlertContext {
  std::string admin_base_url;  // e.g. "https://crm.example.com"; no trailing slash needed
};

// server.public_url, or http://listen:port when it is empty.
std::string admin_base_url(const config::ServerConfig& server);

// Consecutive failed runs that raise the alert.
inline constexpr int kFailureThreshold = 3;

// Alert kinds, as stored in the alerts table.
inline constexpr const char* kRunFailuresKind = "sync_failures";
inline constexpr const char* kPermanentlyFailedKind = "permanently_failed";

// What a notify call did.
enum class AlertOutcome {
  not_due,          // below the threshold: nothing to alert
  already_alerted,  // this streak or item has its alert already
  sent,             // mailed and recorded
  recorded_unsent,  // no mailer configured: recorded and logged only
};

// Call after every finished run of an integration (after store.finish_run). When the integration
// has reached kFailureThreshold consecutive failures and its current streak has no alert yet,
// mails "Ошибка синхронизации с {CRM} - {business}" with the last run's error, the last
// successful sync in the business's time zone and links to the logs and settings, then records
// it. The streak is named by the id of its first failed run, so calling again for the same
// streak (a retry, the 4th failure) never sends twice. mailer may be null: the alert is then
// recorded and logged, not sent. Errors: from the store, or the mailer's (nothing is recorded
// then, so the next call retries).
Result<AlertOutcome> notify_run_failure(store::Store& store, const Mailer* mailer,
                                        const AlertContext& context,
                                        const std::string& integration_id, store::Timestamp now,
                                        const http::LogSink& log = {});

// Call when fail_item returned permanently_failed for a retry_queue item: mails which record
// failed and why, once per item (the streak is the item id), then records it. Same null-mailer
// and error rules as notify_run_failure.
Result<AlertOutcome> notify_permanent_failure(store::Store& store, const Mailer* mailer,
                                              const AlertContext& context,
                                              const store::RetryItem& item,
                                              const std::string& error, store::Timestamp now,
                                              const http::LogSink& log = {});

// The CRM's name as the alerts show it: "yclients" → "YCLIENTS", "1c" → "1С"; an unknown
// type is upper-cased; "custom" shows the integration id.
std::string crm_display_name(const std::string& crm_type, const std::string& integration_id);

}  // namespace crmsync::alerts

#endif  // CRMSYNC_CORE_ALERTS_ALERTS_H
