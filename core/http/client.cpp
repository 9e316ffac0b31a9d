// The host's HTTP client on libcurl: one easy handle per integration (connection reuse), retries
// with backoff, rate limits, redaction and recording.
#include "http/client.h"

#include "http/rate_limiter.h"
#include "http/redactor.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "base/json.h"

namespace crmsync::http {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

class RealClock final : public Clock {
 public:
  steady_clock::time_point now() override { return steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() override {
    return std::chrono::system_clock::now();
  }
  void sleep_for(milliseconds d) override { std::this_thread::sleep_for(d); }
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Why one attempt did not produce a response to hand back.
struct AttemptFailure {
  Error error;
  bool retryable = false;
  std::optional<milliseconds> retry_after;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::vector<Header>*>(user);
  std::string_view line(data, size * count);
  // Each status line (an interim 100 Continue, a proxy's CONNECT answer) starts a new block.
  if (line.starts_with("HTTP/")) {
    headers->clear();
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    headers->push_back(
        {std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
  }
  return size * count;
}

// Lets libcurl abort a transfer in flight when the caller cancels.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const CancelCheck*>(user);
  return (*cancelled && (*cancelled)()) ? 1 : 0;
}

std::string wall_time_text(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf, n) + "." + std::to_string(1000 + ms % 1000).substr(1) + "Z";
}

}  // namespace

Clock& real_clock() {
  static RealClock clock;
  return clock;
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point wall_now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    // More than a day is as good as "give up now"; capping also avoids overflow.
    if (value.size() > 6) return milliseconds(86'400'000);
    return std::min(milliseconds(std::stoll(std::string(value)) * 1000), milliseconds(86'400'000));
  }
  // An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms); libcurl parses all.
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(when) - wall_now;
  return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(delta));
}

namespace internal {

class ClientImpl {
 public:
  ClientImpl(ClientOptions options, LogSink log, Clock& clock, CURL* easy,
             std::unique_ptr<std::ofstream> recording)
      : options_(std::move(options)),
        log_(std::move(log)),
        clock_(clock),
        easy_(easy),
        recording_(std::move(recording)),
        redactor_(options_.secrets),
        limiter_(options_.rate_limits, options_.rate_limit_margin),
        rng_(std::random_device{}()) {}
  ~ClientImpl() { curl_easy_cleanup(easy_); }

  Result<Response> send(const Request& request, const CancelCheck& cancelled, SendInfo* info);
  void add_secret(std::string_view secret) { redactor_.add_secret(secret); }

 private:
  Result<Response> attempt(const Request& request, const CancelCheck& cancelled,
                           AttemptFailure& failure);
  // Appends one attempt, redacted, to the recording file (if any).
  void record(const Request& request, const Response* response, const Error* error,
              milliseconds elapsed);
  void log(int32_t level, const std::string& line) {
    if (log_) log_(level, options_.integration + ": " + redactor_.text(line));
  }
  // Waits until deadline in short slices, asking cancelled in between; false when cancelled.
  bool wait_until(steady_clock::time_point deadline, const CancelCheck& cancelled);
  milliseconds backoff(uint32_t retry_number);
  // libcurl's CURLOPT_OPENSOCKETFUNCTION: opens a connection's socket only when the address
  // policy allows the resolved address (every new connection, so a name that re-resolves to
  // another address is checked again).
  static curl_socket_t open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);

  ClientOptions options_;
  std::string refused_;  // why the attempt's last connection was not opened
  LogSink log_;
  Clock& clock_;
  CURL* easy_;
  std::unique_ptr<std::ofstream> recording_;
  Redactor redactor_;
  RateLimiter limiter_;
  std::mt19937_64 rng_;
  std::mutex mutex_;
};

curl_socket_t ClientImpl::open_socket(void* self, curlsocktype purpose, curl_sockaddr* address) {
  auto* impl = static_cast<ClientImpl*>(self);
  if (purpose == CURLSOCKTYPE_IPCXN) {
    if (auto why = impl->options_.address_policy->refusal(&address->addr)) {
      impl->refused_ = std::move(*why);
      return CURL_SOCKET_BAD;
    }
  }
  return socket(address->family, address->socktype, address->protocol);
}

bool ClientImpl::wait_until(steady_clock::time_point deadline, const CancelCheck& cancelled) {
  for (;;) {
    if (cancelled && cancelled()) return false;
    const auto now = clock_.now();
    if (now >= deadline) return true;
    clock_.sleep_for(std::min(milliseconds(100), std::chrono::ceil<milliseconds>(deadline - now)));
  }
}

milliseconds ClientImpl::backoff(uint32_t retry_number) {
  // Full jitter: uniform in [0, min(cap, base * 2^(n-1))], so that clients that failed together
  // do not come back together.
  const auto base = options_.retry.base_delay.count();
  const auto cap = options_.retry.max_delay.count();
  const auto ceiling = std::min<int64_t>(cap, base << std::min<uint32_t>(retry_number - 1, 30));
  if (ceiling <= 0) return milliseconds(0);
  std::uniform_int_distribution<int64_t> pick(0, ceiling);
  return milliseconds(pick(rng_));
}

Result<Response> ClientImpl::send(const Request& request, const CancelCheck& cancelled,
                                  SendInfo* info) {
  SendInfo local;
  SendInfo& out = info ? *info : local;
  out = {};
  if (request.method.empty() ||
      !std::all_of(request.method.begin(), request.method.end(),
                   [](char c) { return std::isupper(static_cast<unsigned char>(c)); })) {
    return fail(CRMSYNC_E_INVALID_INPUT, "HTTP method '" + request.method + "' is not valid");
  }
  {
    CURLU* parsed = curl_url();
    const bool ok = curl_url_set(parsed, CURLUPART_URL, request.url.c_str(), 0) == CURLUE_OK;
    char* scheme = nullptr;
    const bool http = ok && curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                      (std::string_view(scheme) == "http" || std::string_view(scheme) == "https");
    curl_free(scheme);
    curl_url_cleanup(parsed);
    if (!http) {
      return fail(CRMSYNC_E_INVALID_INPUT,
                  "'" + redactor_.url(request.url) + "' is not an absolute http(s) URL");
    }
  }

  std::lock_guard lock(mutex_);
  const auto started = clock_.now();
  const auto& policy = options_.retry;
  const uint32_t max_attempts = request.no_retry ? 1 : policy.max_attempts;
  const std::string what = request.method + " " + redactor_.url(request.url);
  for (uint32_t attempt_no = 1;; ++attempt_no) {
    if (cancelled && cancelled()) return fail(CRMSYNC_E_CANCELLED, what + ": cancelled");
    if (!wait_until(limiter_.next_slot(clock_.now()), cancelled)) {
      return fail(CRMSYNC_E_CANCELLED, what + ": cancelled while waiting for the rate limit");
    }
    limiter_.record(clock_.now());
    out.attempts = attempt_no;

    AttemptFailure failure;
    auto result = attempt(request, cancelled, failure);
    if (result) return result;
    if (failure.retry_after) out.retry_after = *failure.retry_after;
    Error error = failure.error;
    if (!failure.retryable) return error;
    if (request.no_retry) {
      error.message += " (not retried: the request is not idempotent)";
      log(CRMSYNC_LOG_WARNING, error.message);
      return error;
    }
    if (attempt_no >= max_attempts) {
      error.message += " after " + std::to_string(attempt_no) + " attempts";
      log(CRMSYNC_LOG_ERROR, error.message);
      return error;
    }
    milliseconds delay = backoff(attempt_no);
    if (failure.retry_after) {
      if (*failure.retry_after > policy.max_retry_after) {
        error.message += "; Retry-After " + std::to_string(failure.retry_after->count()) +
                         " ms is longer than this run waits";
        log(CRMSYNC_LOG_ERROR, error.message);
        return error;
      }
      delay = *failure.retry_after;
    }
    const auto elapsed = clock_.now() - started;
    if (elapsed + delay > policy.max_total) {
      error.message += " after " + std::to_string(attempt_no) + " attempts (retry budget of " +
                       std::to_string(policy.max_total.count()) + " ms spent)";
      log(CRMSYNC_LOG_ERROR, error.message);
      return error;
    }
    log(CRMSYNC_LOG_WARNING, error.message + "; retrying in " + std::to_string(delay.count()) +
                                 " ms (attempt " + std::to_string(attempt_no + 1) + "/" +
                                 std::to_string(max_attempts) + ")");
    if (!wait_until(clock_.now() + delay, cancelled)) {
      return fail(CRMSYNC_E_CANCELLED, what + ": cancelled while waiting to retry");
    }
  }
}

Result<Response> ClientImpl::attempt(const Request& request, const CancelCheck& cancelled,
                                     AttemptFailure& failure) {
  const std::string what = request.method + " " + redactor_.url(request.url);
  curl_easy_reset(easy_);  // keeps the connection cache, TLS sessions and DNS cache
  Response response;
  char curl_error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) {
    headers = curl_slist_append(headers, (h.name + ": " + h.value).c_str());
  }
  // libcurl would otherwise add "Expect: 100-continue" to larger bodies and wait for it.
  headers = curl_slist_append(headers, "Expect:");
  const milliseconds timeout =
      request.timeout.count() > 0 ? request.timeout : options_.request_timeout;

  curl_easy_setopt(easy_, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  refused_.clear();
  if (options_.address_policy) {
    curl_easy_setopt(easy_, CURLOPT_OPENSOCKETFUNCTION, &ClientImpl::open_socket);
    curl_easy_setopt(easy_, CURLOPT_OPENSOCKETDATA, this);
  }
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  if (!options_.proxy.empty()) curl_easy_setopt(easy_, CURLOPT_PROXY, options_.proxy.c_str());
  // On a reused connection that turns out dead, libcurl silently sends the request again on a
  // new one; a request that must never be sent twice gets a fresh connection instead.
  if (request.no_retry) curl_easy_setopt(easy_, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, &cancelled);
  if (request.method == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET" && request.body.empty()) {
    curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
  } else {
    if (!request.body.empty() || request.method == "POST") {
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, request.body.data());
    }
    if (request.method != "POST") {
      curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }

  const auto began = clock_.now();
  const CURLcode code = curl_easy_perform(easy_);
  curl_slist_free_all(headers);
  const auto elapsed = std::chrono::duration_cast<milliseconds>(clock_.now() - began);
  long status = 0;
  long connects = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy_, CURLINFO_NUM_CONNECTS, &connects);
  const std::string took = " (" + std::to_string(elapsed.count()) + " ms, " +
                           std::to_string(connects) + " new connections)";

  if (code != CURLE_OK && !refused_.empty()) {
    // The settings point at a forbidden address: resending cannot help, an admin must act.
    failure.error = fail(CRMSYNC_E_INVALID_CONFIG, what + ": " + refused_);
    log(CRMSYNC_LOG_WARNING, failure.error.message);
    record(request, nullptr, &failure.error, elapsed);
    return failure.error;
  }
  if (code != CURLE_OK) {
    const std::string detail = curl_error[0] ? curl_error : curl_easy_strerror(code);
    failure.error.message = what + ": " + redactor_.text(detail);
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        failure.error.code = CRMSYNC_E_TIMEOUT;
        failure.retryable = true;
        break;
      case CURLE_ABORTED_BY_CALLBACK:
        failure.error = fail(CRMSYNC_E_CANCELLED, what + ": cancelled in flight");
        break;
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        failure.error.code = CRMSYNC_E_INVALID_INPUT;
        break;
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        failure.error.code = CRMSYNC_E_UNAVAILABLE;
        failure.retryable = true;
        break;
      default:  // certificate problems, protocol violations: resending will not help
        failure.error.code = CRMSYNC_E_UNAVAILABLE;
        break;
    }
    log(CRMSYNC_LOG_DEBUG, failure.error.message + took);
    record(request, nullptr, &failure.error, elapsed);
    return failure.error;
  }

  response.status = static_cast<int32_t>(status);
  log(CRMSYNC_LOG_DEBUG, what + " -> " + std::to_string(status) + took);
  record(request, &response, nullptr, elapsed);
  const bool too_many = status == 429;
  const bool server_error = status >= 500 && status <= 599 && status != 501 && status != 505;
  if (!too_many && !server_error) return response;

  if (auto value = response.header("Retry-After")) {
    failure.retry_after = parse_retry_after(*value, clock_.wall_now());
  }
  std::string snippet =
      request.sensitive
          ? std::string()
          : redactor_.body(response.body, response.header("Content-Type").value_or(""));
  if (snippet.size() > 200) snippet = snippet.substr(0, 200) + "...";
  failure.error.code = too_many ? CRMSYNC_E_RATE_LIMITED : CRMSYNC_E_UNAVAILABLE;
  failure.error.message =
      what + ": HTTP " + std::to_string(status) + (snippet.empty() ? "" : " " + snippet);
  failure.retryable = true;
  return failure.error;
}

void ClientImpl::record(const Request& request, const Response* response, const Error* error,
                        milliseconds elapsed) {
  if (!recording_) return;
  auto headers_json = [&](const std::vector<Header>& headers) {
    auto list = nlohmann::json::array();
    for (const auto& h : headers) list.push_back({h.name, redactor_.header_value(h.name, h.value)});
    return list;
  };
  auto body_text = [&](const std::string& body, const std::vector<Header>& headers) {
    if (request.sensitive) return "[" + std::to_string(body.size()) + " bytes withheld]";
    std::string content_type;
    for (const auto& h : headers) {
      if (iequals(h.name, "Content-Type")) content_type = h.value;
    }
    return redactor_.body(body, content_type);
  };
  nlohmann::json line = {{"time", wall_time_text(clock_.wall_now())},
                         {"integration", options_.integration},
                         {"elapsed_ms", elapsed.count()},
                         {"request",
                          {{"method", request.method},
                           {"url", redactor_.url(request.url)},
                           {"headers", headers_json(request.headers)},
                           {"body", body_text(request.body, request.headers)}}},
                         {"response", nullptr},
                         {"error", nullptr}};
  if (response) {
    line["response"] = {{"status", response->status},
                        {"headers", headers_json(response->headers)},
                        {"body", body_text(response->body, response->headers)}};
  }
  if (error) line["error"] = {{"code", code_name(error->code)}, {"message", error->message}};
  *recording_ << dump_json(line) << '\n';
  recording_->flush();
}

}  // namespace internal

Result<std::unique_ptr<Client>> Client::create(ClientOptions options, LogSink log, Clock* clock) {
  for (const auto& limit : options.rate_limits) {
    if (limit.requests == 0 || limit.per.count() <= 0) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "rate limit of " + std::to_string(limit.requests) + " requests per " +
                      std::to_string(limit.per.count()) + " ms: both must be positive");
    }
  }
  if (options.retry.max_attempts == 0) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "retry.max_attempts must be at least 1");
  }
  if (options.connect_timeout.count() <= 0 || options.request_timeout.count() <= 0) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "HTTP timeouts must be positive");
  }
  if (options.retry.base_delay.count() < 0 || options.retry.max_delay.count() < 0 ||
      options.retry.max_total.count() < 0 || options.rate_limit_margin.count() < 0) {
    return fail(CRMSYNC_E_INVALID_CONFIG, "HTTP retry delays must not be negative");
  }
  std::unique_ptr<std::ofstream> recording;
  if (!options.recording_path.empty()) {
    recording = std::make_unique<std::ofstream>(options.recording_path, std::ios::app);
    if (!*recording) {
      return fail(CRMSYNC_E_INVALID_CONFIG,
                  "cannot open HTTP recording file '" + options.recording_path + "'");
    }
  }
  global_init();
  CURL* easy = curl_easy_init();
  if (!easy) return fail(CRMSYNC_E_INTERNAL, "libcurl could not create a handle");
  auto impl = std::make_unique<internal::ClientImpl>(std::move(options), std::move(log),
                                                     clock ? *clock : real_clock(), easy,
                                                     std::move(recording));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<internal::ClientImpl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<Response> Client::send(const Request& request, const CancelCheck& cancelled,
                              SendInfo* info) {
  return impl_->send(request, cancelled, info);
}

void Client::add_secret(std::string secret) {
  impl_->add_secret(secret);
}

}  // namespace crmsync::http
