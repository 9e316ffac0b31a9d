// Tests of the host HTTP client against the real crmsim server over loopback: retries, 429 with
// Retry-After, timeouts, resets, no-retry, rate limits measured at the server, redaction,
// recording, connection reuse, cancellation and bad input.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "http/client.h"
#include "http/rate_limiter.h"
#include "http/redactor.h"
#include "sim_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

using namespace std::chrono_literals;
using crmsync::http::Client;
using crmsync::http::ClientOptions;
using crmsync::http::Request;
using crmsync::http::SendInfo;
using crmsync::sim::testing::SimProcess;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

// Virtual time: sleeps return at once and move the clock, so backoff costs nothing.
class VirtualClock final : public crmsync::http::Clock {
 public:
  std::chrono::steady_clock::time_point now() override {
    std::lock_guard lock(mutex_);
    return base_ + offset_;
  }
  std::chrono::system_clock::time_point wall_now() override {
    std::lock_guard lock(mutex_);
    return std::chrono::system_clock::now() + offset_;
  }
  void sleep_for(milliseconds d) override {
    std::lock_guard lock(mutex_);
    offset_ += d;
    slept_ += d;
  }
  milliseconds slept() {
    std::lock_guard lock(mutex_);
    return slept_;
  }

 private:
  std::mutex mutex_;
  std::chrono::steady_clock::time_point base_ = std::chrono::steady_clock::now();
  milliseconds offset_{0};
  milliseconds slept_{0};
};

// A YCLIENTS request to the simulator.
Request yclients(const SimProcess& sim, const std::string& path) {
  Request request;
  request.url = sim.url("/yclients/api/v1" + path);
  request.headers = {{"Accept", "application/vnd.yclients.v2+json"},
                     {"Authorization", "Bearer partner-secret, User user-secret"}};
  return request;
}

std::unique_ptr<Client> make(ClientOptions options, crmsync::http::Clock* clock = nullptr,
                             crmsync::http::LogSink log = {}) {
  auto client = Client::create(std::move(options), std::move(log), clock);
  REQUIRE(client.ok());
  return std::move(client.value());
}

void fault(SimProcess& sim, json spec) {
  spec["provider"] = "yclients";
  sim.admin("POST", "faults", spec);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a GET succeeds and returns status, headers and body") {
  SimProcess sim({"--records", "3"});
  auto client = make({});
  SendInfo info;
  auto response = client->send(yclients(sim, "/company/4564"), {}, &info);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(response->header("content-type")->starts_with("application/json"));
  CHECK(json::parse(response->body)["data"]["title"] == "Миндаль");
  CHECK(info.attempts == 1);
  // A 4xx is an answer for the connector to interpret, not an error.
  auto missing = client->send(yclients(sim, "/company/1"));
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
}

TEST_CASE("a 500 is retried with backoff and the next 200 is returned") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "http_500"}, {"count", 1}});
  VirtualClock clock;
  ClientOptions options;
  options.retry.base_delay = 400ms;
  auto client = make(options, &clock);
  SendInfo info;
  auto response = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(info.attempts == 2);
  CHECK(clock.slept() <= 400ms);  // full jitter: somewhere in [0, base]
}

TEST_CASE("5xx after the last attempt is UNAVAILABLE") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "http_500"}, {"count", 10}});
  VirtualClock clock;
  ClientOptions options;
  options.retry.max_attempts = 3;
  auto client = make(options, &clock);
  SendInfo info;
  auto response = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(!response.ok());
  CHECK(response.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(info.attempts == 3);
  CHECK(sim.admin("GET", "counters")["providers"]["yclients"]["statuses"]["500"] == 3);
}

TEST_CASE("429 with Retry-After in seconds waits that long, on virtual time") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "http_429"}, {"count", 1}, {"retry_after", 3}});
  VirtualClock clock;
  auto client = make({}, &clock);
  SendInfo info;
  auto response = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(info.attempts == 2);
  CHECK(info.retry_after == 3s);
  CHECK(clock.slept() >= 3s);
  CHECK(clock.slept() < 3s + 200ms);
}

TEST_CASE("429 with Retry-After as an HTTP-date waits until that date") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "http_429"}, {"count", 1}, {"retry_after", 2}, {"retry_after_date", true}});
  VirtualClock clock;
  auto client = make({}, &clock);
  SendInfo info;
  auto response = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(response.ok());
  CHECK(info.attempts == 2);
  // The date has one-second resolution: 2 s from the server's now is 1..2 s from ours.
  CHECK(clock.slept() >= 900ms);
  CHECK(clock.slept() <= 2200ms);
}

TEST_CASE("a real Retry-After of 1 s is waited for on the real clock") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "http_429"}, {"count", 1}, {"retry_after", 1}});
  auto client = make({});
  const auto began = std::chrono::steady_clock::now();
  auto response = client->send(yclients(sim, "/records/4564"));
  const auto took = std::chrono::steady_clock::now() - began;
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(took >= 1s);
  CHECK(took < 5s);
}

TEST_CASE("429 after the last attempt is RATE_LIMITED with the retry hint") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "http_429"}, {"count", 10}, {"retry_after", 2}});
  VirtualClock clock;
  ClientOptions options;
  options.retry.max_attempts = 2;
  auto client = make(options, &clock);
  SendInfo info;
  auto response = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(!response.ok());
  CHECK(response.error().code == CRMSYNC_E_RATE_LIMITED);
  CHECK(info.retry_after == 2s);
  CHECK(info.attempts == 2);

  // A Retry-After longer than the run may wait ends the call at once.
  sim.admin("DELETE", "faults");
  fault(sim, {{"kind", "http_429"}, {"count", 1}, {"retry_after", 600}});
  auto long_wait = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(!long_wait.ok());
  CHECK(long_wait.error().code == CRMSYNC_E_RATE_LIMITED);
  CHECK(info.attempts == 1);
  CHECK(info.retry_after == 600s);
}

TEST_CASE("a silent server times out, is retried, and ends as TIMEOUT") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "timeout"}, {"count", 5}, {"delay_ms", 3000}});
  VirtualClock clock;
  ClientOptions options;
  options.retry.max_attempts = 2;
  auto client = make(options, &clock);
  Request request = yclients(sim, "/records/4564");
  request.timeout = 300ms;
  SendInfo info;
  const auto began = std::chrono::steady_clock::now();
  auto response = client->send(request, {}, &info);
  REQUIRE(!response.ok());
  CHECK(response.error().code == CRMSYNC_E_TIMEOUT);
  CHECK(info.attempts == 2);
  CHECK(std::chrono::steady_clock::now() - began < 2500ms);
}

TEST_CASE("a connection reset is retried; refused connections are UNAVAILABLE") {
  SimProcess sim({"--records", "3"});
  fault(sim, {{"kind", "reset"}, {"count", 1}});
  VirtualClock clock;
  ClientOptions options;
  options.retry.max_attempts = 3;
  auto client = make(options, &clock);
  SendInfo info;
  auto response = client->send(yclients(sim, "/records/4564"), {}, &info);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(info.attempts == 2);

  Request refused;
  refused.url = "http://127.0.0.1:1/nothing";
  auto none = client->send(refused, {}, &info);
  REQUIRE(!none.ok());
  CHECK(none.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(info.attempts == 3);
}

TEST_CASE("a request flagged no-retry is sent once, whatever happens") {
  SimProcess sim({"--records", "3"});
  VirtualClock clock;
  auto client = make({}, &clock);
  Request post = yclients(sim, "/company/4564/loyalty/cards/9210520/manual_transaction");
  post.method = "POST";
  post.body = R"({"amount": 10, "title": "bonus"})";
  post.headers.push_back({"Content-Type", "application/json"});
  post.no_retry = true;
  SendInfo info;

  fault(sim, {{"kind", "http_500"}, {"count", 3}, {"endpoint", "loyalty_transaction"}});
  auto server_error = client->send(post, {}, &info);
  REQUIRE(!server_error.ok());
  CHECK(server_error.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(info.attempts == 1);

  sim.admin("DELETE", "faults");
  fault(sim, {{"kind", "reset"}, {"count", 3}, {"endpoint", "loyalty_transaction"}});
  auto reset = client->send(post, {}, &info);
  REQUIRE(!reset.ok());
  CHECK(info.attempts == 1);
  CHECK(sim.admin("GET", "counters")["providers"]["yclients"]["endpoints"]["loyalty_transaction"] ==
        2);
  CHECK(clock.slept() == 0ms);
}

TEST_CASE("a rate limit of 5 requests per second is never exceeded at the server") {
  SimProcess sim({"--records", "3"});
  ClientOptions options;
  options.rate_limits = {{5, 1000ms}, {200, 60'000ms}};
  auto client = make(options);
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) {
    auto response = client->send(yclients(sim, "/company/4564"));
    REQUIRE(response.ok());
    REQUIRE(response->status == 200);
  }
  const auto took = std::chrono::steady_clock::now() - began;
  CHECK(took >= 5s);  // 5 at once, then 25 more at 5 per second
  auto requests = sim.admin("GET", "requests?provider=yclients");
  REQUIRE(requests.size() == 30);
  size_t worst = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < requests.size(); ++j) {
      if (requests[j]["t_ms"].get<int64_t>() - requests[i]["t_ms"].get<int64_t>() < 1000) {
        ++in_window;
      }
    }
    worst = std::max(worst, in_window);
  }
  MESSAGE("most requests in any 1 s window at the server: " << worst);
  CHECK(worst <= 5);
  CHECK(sim.admin("GET", "counters")["providers"]["yclients"]["max_requests_per_second"] <= 5);
}

TEST_CASE("the rate limiter enforces several windows at once") {
  crmsync::http::internal::RateLimiter limiter({{2, 1000ms}, {3, 10'000ms}}, 0ms);
  const auto t0 = std::chrono::steady_clock::time_point{};
  CHECK(limiter.next_slot(t0) == t0);
  limiter.record(t0);
  limiter.record(t0);
  CHECK(limiter.next_slot(t0) == t0 + 1000ms);  // per-second limit
  limiter.record(t0 + 1000ms);
  CHECK(limiter.next_slot(t0 + 1000ms) == t0 + 10'000ms);  // per-10-seconds limit
}

TEST_CASE("secrets never reach log lines or recordings") {
  SimProcess sim({"--records", "3"});
  const auto recording = (std::filesystem::temp_directory_path() /
                          ("crmsync-http-" + std::to_string(getpid()) + ".jsonl"))
                             .string();
  std::filesystem::remove(recording);
  std::vector<std::string> lines;
  std::mutex mutex;
  ClientOptions options;
  options.integration = "yclients#1";
  options.secrets = {"partner-secret"};
  options.recording_path = recording;
  VirtualClock clock;
  auto client = make(options, &clock, [&](int32_t, const std::string& line) {
    std::lock_guard lock(mutex);
    lines.push_back(line);
  });

  // The login: password in the JSON body, the user token in the JSON answer.
  Request auth = yclients(sim, "/auth");
  auth.method = "POST";
  auth.headers = {{"Accept", "application/vnd.yclients.v2+json"},
                  {"Authorization", "Bearer partner-secret"},
                  {"Content-Type", "application/json"}};
  auth.body = R"({"login": "admin@mindal.example", "password": "password"})";
  auto login = client->send(auth);
  REQUIRE(login.ok());
  CHECK(login->status == 200);
  const std::string user_token = json::parse(login->body)["data"]["user_token"];
  client->add_secret(user_token);

  // Secret-named query parameters, and a failure whose message quotes the URL.
  fault(sim, {{"kind", "http_500"}, {"count", 1}});
  Request get = yclients(sim, "/records/4564?page=1&api_key=qk-123456&Token=tk-987654");
  auto response = client->send(get);
  REQUIRE(response.ok());

  const std::string recorded = slurp(recording);
  std::string logged;
  for (const auto& line : lines) logged += line + "\n";
  for (const std::string& text : {recorded, logged}) {
    CHECK(text.find("partner-secret") == std::string::npos);
    CHECK(text.find("user-secret") == std::string::npos);
    CHECK(text.find("qk-123456") == std::string::npos);
    CHECK(text.find("tk-987654") == std::string::npos);
    CHECK(text.find("page=1") != std::string::npos);
  }
  // The field stays, its value goes (the body is a JSON string inside the JSON line).
  CHECK(recorded.find(R"(\"password\":\"[REDACTED]\")") != std::string::npos);
  CHECK(recorded.find("[REDACTED]") != std::string::npos);
  // One JSON object per attempt: the login, the 500 and the retried 200.
  std::istringstream in(recorded);
  std::string line;
  std::vector<json> entries;
  while (std::getline(in, line)) entries.push_back(json::parse(line));
  REQUIRE(entries.size() == 3);
  CHECK(entries[1]["response"]["status"] == 500);
  CHECK(entries[2]["response"]["status"] == 200);
  CHECK(json::parse(entries[2]["response"]["body"].get<std::string>())["meta"]["total_count"] == 3);
  CHECK(entries[2]["request"]["url"].get<std::string>().find("api_key=[REDACTED]") !=
        std::string::npos);
  std::filesystem::remove(recording);
}

TEST_CASE("a sensitive exchange is recorded and reported without its bodies") {
  SimProcess sim({"--records", "3"});
  const auto recording = (std::filesystem::temp_directory_path() /
                          ("crmsync-http-sensitive-" + std::to_string(getpid()) + ".jsonl"))
                             .string();
  std::filesystem::remove(recording);
  ClientOptions options;
  options.recording_path = recording;
  options.retry.max_attempts = 1;
  VirtualClock clock;
  auto client = make(options, &clock);

  Request get = yclients(sim, "/records/4564?page=1");
  get.sensitive = true;
  auto ok = client->send(get);
  REQUIRE(ok.ok());
  REQUIRE(ok->status == 200);
  CHECK(ok->body.find("total_count") != std::string::npos);  // the connector still gets it

  fault(sim, {{"kind", "http_500"}, {"count", 1}});
  auto failed = client->send(get);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message.find("HTTP 500") != std::string::npos);
  CHECK(failed.error().message.find("{") == std::string::npos);

  const std::string recorded = slurp(recording);
  CHECK(recorded.find("total_count") == std::string::npos);
  CHECK(recorded.find("bytes withheld]") != std::string::npos);
  CHECK(recorded.find("page=1") != std::string::npos);
  std::filesystem::remove(recording);
}

TEST_CASE("the redactor hides secret-named fields in JSON, forms and headers") {
  crmsync::http::internal::Redactor redactor({"s3cr3t"});
  CHECK(redactor.header_value("Authorization", "Bearer abc") == "[REDACTED]");
  CHECK(redactor.header_value("X-Api-Key", "abc") == "[REDACTED]");
  CHECK(redactor.header_value("Accept", "application/json") == "application/json");
  auto body = json::parse(redactor.body(
      R"({"data":{"user_token":"u1","items":[{"apiLogin":"l1","title":"x s3cr3t"}]}})", ""));
  CHECK(body["data"]["user_token"] == "[REDACTED]");
  CHECK(body["data"]["items"][0]["apiLogin"] == "[REDACTED]");
  CHECK(body["data"]["items"][0]["title"] == "x [REDACTED]");
  CHECK(redactor.body("api_key=abc&method=getAppointments", "application/x-www-form-urlencoded") ==
        "api_key=[REDACTED]&method=getAppointments");
  CHECK(redactor.url("https://h/p?a=1&password=x%20y#frag") ==
        "https://h/p?a=1&password=[REDACTED]#frag");
  CHECK(redactor.text("not json: s3cr3t") == "not json: [REDACTED]");
}

TEST_CASE("one connection serves many requests of one client") {
  SimProcess sim({"--records", "3"});
  auto client = make({});
  for (int i = 0; i < 20; ++i) {
    auto response = client->send(yclients(sim, "/records/4564?page=" + std::to_string(i + 1)));
    REQUIRE(response.ok());
  }
  // The admin client that reads the counters opens the only other connection.
  CHECK(sim.admin("GET", "counters")["connections"] == 2);
}

TEST_CASE("cancellation stops retries and rate-limit waits") {
  SimProcess sim({"--records", "3"});
  VirtualClock clock;
  ClientOptions options;
  options.rate_limits = {{1, 60'000ms}};
  auto client = make(options, &clock);
  int asked = 0;
  fault(sim, {{"kind", "http_500"}, {"count", 5}});
  SendInfo info;
  auto response = client->send(
      yclients(sim, "/records/4564"), [&] { return ++asked > 2; }, &info);
  REQUIRE(!response.ok());
  CHECK(response.error().code == CRMSYNC_E_CANCELLED);
  CHECK(info.attempts == 1);

  // The next request would wait a minute for the limiter; cancelling ends the wait.
  bool stop = false;
  auto waiting = client->send(
      yclients(sim, "/company/4564"),
      [&] {
        const bool now = stop;
        stop = true;
        return now;
      },
      &info);
  REQUIRE(!waiting.ok());
  CHECK(waiting.error().code == CRMSYNC_E_CANCELLED);
  CHECK(clock.slept() < 1s);
}

TEST_CASE("bad requests and bad options are clear errors") {
  auto client = make({});
  Request request;
  request.url = "not a url";
  auto bad_url = client->send(request);
  REQUIRE(!bad_url.ok());
  CHECK(bad_url.error().code == CRMSYNC_E_INVALID_INPUT);
  request.url = "ftp://127.0.0.1/file";
  CHECK(client->send(request).error().code == CRMSYNC_E_INVALID_INPUT);
  request.url = "http://127.0.0.1:1/";
  request.method = "get";
  CHECK(client->send(request).error().code == CRMSYNC_E_INVALID_INPUT);

  ClientOptions zero_limit;
  zero_limit.rate_limits = {{0, 1000ms}};
  CHECK(Client::create(zero_limit).error().code == CRMSYNC_E_INVALID_CONFIG);
  ClientOptions no_attempts;
  no_attempts.retry.max_attempts = 0;
  CHECK(Client::create(no_attempts).error().code == CRMSYNC_E_INVALID_CONFIG);
  ClientOptions bad_recording;
  bad_recording.recording_path = "/nonexistent-dir/x.jsonl";
  auto bad = Client::create(bad_recording);
  REQUIRE(!bad.ok());
  CHECK(bad.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(bad.error().message.find("/nonexistent-dir/x.jsonl") != std::string::npos);
}

TEST_CASE("Retry-After parses seconds and HTTP-dates") {
  using crmsync::http::parse_retry_after;
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // 2015-10-21 07:28:00 UTC
  CHECK(parse_retry_after("120", now) == milliseconds(120'000));
  CHECK(parse_retry_after(" 3 ", now) == milliseconds(3'000));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == milliseconds(30'000));
  CHECK(parse_retry_after("Wednesday, 21-Oct-15 07:28:10 GMT", now) == milliseconds(10'000));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == milliseconds(0));
  CHECK(parse_retry_after("99999999999", now) == milliseconds(86'400'000));
  CHECK(!parse_retry_after("soon", now));
  CHECK(!parse_retry_after("-1", now));
  CHECK(!parse_retry_after("", now));
}

namespace {

using crmsync::http::AddressPolicy;

std::shared_ptr<const AddressPolicy> policy(const std::vector<std::string>& allow) {
  auto created = AddressPolicy::create(allow);
  REQUIRE(created.ok());
  return std::make_shared<const AddressPolicy>(std::move(created.value()));
}

// Why the policy refuses a literal address ("" when it allows it).
std::string refusal(const AddressPolicy& p, const std::string& text) {
  sockaddr_storage storage{};
  if (text.find(':') == std::string::npos) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, text.c_str(), &in->sin_addr) == 1);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, text.c_str(), &in6->sin6_addr) == 1);
  }
  return p.refusal(reinterpret_cast<const sockaddr*>(&storage)).value_or("");
}

}  // namespace

TEST_CASE("the address policy refuses the host's networks by default, allows what is listed") {
  const auto strict = policy({});
  for (const char* address : {"127.0.0.1",
                              "127.8.9.10",
                              "0.0.0.0",
                              "10.1.2.3",
                              "172.16.0.1",
                              "172.31.255.255",
                              "192.168.1.1",
                              "100.64.0.1",
                              "100.127.255.255",
                              "169.254.169.254",
                              "224.0.0.1",
                              "255.255.255.255",
                              "::1",
                              "::",
                              "fc00::1",
                              "fd12:3456::1",
                              "fe80::1",
                              "ff02::1",
                              "::ffff:127.0.0.1",
                              "::ffff:169.254.169.254",
                              "::ffff:10.0.0.1",
                              "::127.0.0.1",
                              "64:ff9b::a9fe:a9fe"}) {
    INFO(address);
    CHECK(refusal(*strict, address).find("http.allow_private") != std::string::npos);
  }
  CHECK(refusal(*strict, "169.254.169.254") ==
        "169.254.169.254 is a link-local address; connectors may not reach it unless "
        "http.allow_private in the config allows it");
  for (const char* address : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "2a00:1450:4010::65"}) {
    INFO(address);
    CHECK(refusal(*strict, address).empty());
  }
  const auto allowing = policy({"127.0.0.0/8", "10.1.0.0/16", "::1"});
  CHECK(refusal(*allowing, "127.0.0.1").empty());
  CHECK(refusal(*allowing, "::ffff:127.0.0.2").empty());
  CHECK(refusal(*allowing, "10.1.200.3").empty());
  CHECK(!refusal(*allowing, "10.2.0.1").empty());
  CHECK(refusal(*allowing, "::1").empty());
  CHECK(!refusal(*allowing, "fe80::1").empty());
  for (const char* bad : {"localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x"}) {
    INFO(bad);
    CHECK(AddressPolicy::create({bad}).error().code == CRMSYNC_E_INVALID_CONFIG);
  }
}

TEST_CASE("a client with the policy refuses loopback at connect time, by address or by name") {
  SimProcess sim({"--records", "3"});
  ClientOptions options;
  options.address_policy = policy({});
  options.retry.base_delay = 1ms;
  auto client = make(options);
  SendInfo info;
  auto refused = client->send(yclients(sim, "/company/4564"), {}, &info);
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(refused.error().message.find("127.0.0.1 is a loopback address") != std::string::npos);
  CHECK(refused.error().message.find("http.allow_private") != std::string::npos);
  CHECK(info.attempts == 1);  // not retried: only an admin can change it
  const json counters = sim.admin("GET", "counters");
  CHECK(counters["providers"].value("yclients", json::object()).value("requests", 0) == 0);
  // A name that resolves to loopback is refused the same way: the resolved address is checked.
  Request by_name = yclients(sim, "/company/4564");
  by_name.url.replace(by_name.url.find("127.0.0.1"), 9, "localhost");
  auto named = client->send(by_name);
  REQUIRE(!named.ok());
  CHECK(named.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(named.error().message.find("loopback address") != std::string::npos);

  options.address_policy = policy({"127.0.0.0/8", "::1"});
  auto allowed = make(options)->send(by_name);
  REQUIRE(allowed.ok());
  CHECK(allowed->status == 200);
}
