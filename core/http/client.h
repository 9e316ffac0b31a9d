// The host's HTTP client: runs every request a connector makes (DESIGN §3.5, §6).
//
// One Client per integration. It owns a libcurl easy handle, so connections (TCP and TLS
// sessions) are reused from one request to the next, and the integration's rate limits. send()
// adds timeouts, waits for the rate limiter, retries 429 (honouring Retry-After), 5xx, timeouts
// and connection resets with exponential backoff and full jitter inside bounded attempts and
// time, checks for cancellation between attempts, and redacts secrets from every log line and
// recording. Errors come back as values with the connector ABI's codes.
#ifndef CRMSYNC_CORE_HTTP_CLIENT_H
#define CRMSYNC_CORE_HTTP_CLIENT_H

#include "base/result.h"
#include "http/address_policy.h"
#include "http/clock.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crmsync::http {

// One HTTP header; names compare case-insensitively.
struct Header {
  std::string name;
  std::string value;
};

// A request to run.
struct Request {
  std::string method = "GET";            // any token: GET, POST, PUT, PATCH, DELETE, ...
  std::string url;                       // absolute http(s) URL, already percent-encoded
  std::vector<Header> headers;           // sent as given (no Expect: 100-continue is added)
  std::string body;                      // sent when not empty
  std::chrono::milliseconds timeout{0};  // total per attempt; 0: ClientOptions::request_timeout
  bool no_retry = false;                 // non-idempotent: never sent twice, whatever happens
  bool sensitive = false;  // personal or medical bodies: never recorded nor quoted in errors
};

// A response that arrived (any status the retry policy does not consume).
struct Response {
  int32_t status = 0;
  std::vector<Header> headers;  // of the final response (after no redirects: none are followed)
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

// "At most `requests` requests in any window of length `per`"; several may apply at once
// (YCLIENTS: 5 per second and 200 per minute).
struct RateLimit {
  uint32_t requests = 0;
  std::chrono::milliseconds per{0};
};

// In-run retries of transient failures.
struct RetryPolicy {
  uint32_t max_attempts = 5;                          // including the first; 1 disables retries
  std::chrono::milliseconds base_delay{500};          // backoff before the 2nd attempt, doubling
  std::chrono::milliseconds max_delay{30'000};        // cap of one backoff
  std::chrono::milliseconds max_total{120'000};       // budget of one send(), waits included
  std::chrono::milliseconds max_retry_after{60'000};  // longer Retry-After: give up at once
};

// What a Client is built with.
struct ClientOptions {
  std::string integration;  // shown in log lines, e.g. "yclients#12"
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // default total time of one attempt
  std::string proxy;                   // e.g. "http://proxy:3128"; empty: libcurl reads *_proxy env
  std::vector<RateLimit> rate_limits;  // empty: unlimited
  // Added to every rate-limit window, so that network jitter cannot squeeze one window's
  // requests into less than `per` at the provider's side.
  std::chrono::milliseconds rate_limit_margin{50};
  RetryPolicy retry;
  std::vector<std::string> secrets;  // literal strings redacted wherever they appear
  std::string recording_path;        // non-empty: append redacted JSON lines per attempt
  std::string user_agent = "crmsync/0.1";
  // Non-null: every new connection's resolved address must pass it, or the attempt fails with
  // INVALID_CONFIG naming the address and the setting (not retried). Null: any address (the
  // host's own clients, whose URLs only the platform admin sets).
  std::shared_ptr<const AddressPolicy> address_policy;
};

// Log levels match the ABI's CRMSYNC_LOG_* values.
using LogSink = std::function<void(int32_t level, const std::string& line)>;

// Asked between attempts and during waits; true stops send() with CANCELLED.
using CancelCheck = std::function<bool()>;

// What send() reports beside its result.
struct SendInfo {
  uint32_t attempts = 0;                     // requests actually put on the wire or tried
  std::chrono::milliseconds retry_after{0};  // the provider's last Retry-After (429/503), if any
};

namespace internal {
class ClientImpl;
}

// An HTTP client for one integration. Thread-safe: concurrent send() calls run one at a time.
class Client {
 public:
  // Validates the options (bad proxy URL, empty rate limit, unwritable recording file...) and
  // builds a client. clock defaults to the real one and must outlive the client.
  static Result<std::unique_ptr<Client>> create(ClientOptions options, LogSink log = {},
                                                Clock* clock = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs a request. Ok with any response except those the policy retries to exhaustion: 429 →
  // RATE_LIMITED, 5xx → UNAVAILABLE, no answer in time → TIMEOUT, refused/reset → UNAVAILABLE,
  // cancelled → CANCELLED; a malformed request → INVALID_INPUT. info (optional) gets attempts
  // and the last Retry-After.
  Result<Response> send(const Request& request, const CancelCheck& cancelled = {},
                        SendInfo* info = nullptr);

  // Adds a secret learnt at run time (a fresh user or access token) to the redaction list.
  void add_secret(std::string secret);

 private:
  explicit Client(std::unique_ptr<internal::ClientImpl> impl);
  std::unique_ptr<internal::ClientImpl> impl_;
};

// Parses a Retry-After value: delay-seconds or an HTTP-date (relative to wall_now); nullopt when
// it is neither. Dates in the past give 0.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point wall_now);

}  // namespace crmsync::http

#endif  // CRMSYNC_CORE_HTTP_CLIENT_H
