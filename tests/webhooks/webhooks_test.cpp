// Webhook ingestion end to end: the Beast server (routes, keep-alive, body limit, timeouts,
// graceful stop), the receiver's authentication and group commit into a real store (SQLite and
// PostgreSQL), the inbox workers turning stored webhooks into sales through the YCLIENTS
// connector, iiko webhooks authenticated by their authToken, and webhook registration with the CRM
// through crmsim.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include "crypto/crypto.h"
#include "http/client.h"
#include "server/server.h"
#include "sim_process.h"
#include "support/backends.h"
#include "support/engine_world.h"
#include "support/raw_http.h"
#include "webhooks/receiver.h"

namespace {

using namespace crmsync;
using namespace std::chrono_literals;
using nlohmann::json;
using test::RawClient;
using test::status_of;
using test::test_key;
using test::World;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string post(const std::string& path, const std::string& body, bool keep_alive = true) {
  return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
         (keep_alive ? "" : "Connection: close\r\n") +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

server::ServerOptions options_on_any_port() {
  server::ServerOptions options;
  options.port = 0;
  return options;
}

server::Router echo_router() {
  server::Router router;
  router.add("POST", "/echo/{word}", [](server::Request&& request, server::Reply reply) {
    reply(server::Response::json(
        200,
        json{{"word", request.params["word"]}, {"body", request.body}, {"q", request.query["q"]}}
            .dump()));
  });
  return router;
}

TEST_CASE("server: routes with captures, 404 and 405, several requests on one connection") {
  auto server = server::Server::start(options_on_any_port(), echo_router()).value();
  RawClient client(server->port());
  client.send(post("/echo/h%C3%A9llo?q=a+b%21", "one"));
  const std::string first = client.read_response();
  CHECK(status_of(first) == 200);
  const json answer = json::parse(first.substr(first.find("\r\n\r\n") + 4));
  CHECK(answer["word"] == "héllo");
  CHECK(answer["q"] == "a b!");
  CHECK(answer["body"] == "one");
  client.send(post("/nowhere", ""));
  CHECK(status_of(client.read_response()) == 404);
  client.send("GET /echo/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
  CHECK(status_of(client.read_response()) == 405);
  CHECK(server->stats().connections == 1);
  CHECK(server->stats().requests == 3);
}

TEST_CASE("server: a handler that throws, at once or later on its worker, answers 500 with an id") {
  std::vector<std::jthread> workers;
  server::Router router;
  router.add("GET", "/now", [](server::Request&&, server::Reply) {
    throw std::runtime_error("SELECT secret FROM keys");
  });
  router.add("GET", "/later", [&workers](server::Request&&, server::Reply reply) {
    workers.emplace_back([reply] {
      server::answer_guarded(reply, [] { throw std::logic_error("[json.exception.type_error]"); });
    });
  });
  router.add("GET", "/busy", [](server::Request&&, server::Reply reply) {
    reply(server::Response::json(503, R"({"error":"try again"})"));
  });
  router.add("GET", "/fine", [](server::Request&& request, server::Reply reply) {
    reply(server::Response::json(200, json{{"id", request.request_id}}.dump()));
  });
  server::ServerOptions options = options_on_any_port();
  options.threads = 1;
  auto server = server::Server::start(options, std::move(router)).value();
  RawClient client(server->port());
  // The answer's status, X-Request-Id and JSON body.
  auto get = [&client](const std::string& path) {
    client.send("GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const std::string response = client.read_response();
    const size_t at = response.find("X-Request-Id: ");
    const std::string id = at == std::string::npos ? "" : response.substr(at + 14, 16);
    return std::make_tuple(status_of(response), id,
                           json::parse(response.substr(response.find("\r\n\r\n") + 4)));
  };
  std::set<std::string> ids;
  for (const std::string path : {"/now", "/later"}) {
    CAPTURE(path);
    const auto [status, id, body] = get(path);
    CHECK(status == 500);
    CHECK(body["error"] == "internal error");  // the detail stays in the host's log
    CHECK(id.size() == 16);
    CHECK(body["request_id"] == id);
    ids.insert(id);
  }
  const auto [busy, busy_id, busy_body] = get("/busy");
  CHECK(busy == 503);
  CHECK(busy_body["error"] == "try again");
  CHECK(busy_body["request_id"] == busy_id);
  const auto [fine, fine_id, fine_body] = get("/fine");  // the same connection and thread
  CHECK(fine == 200);
  CHECK(fine_body["id"] == fine_id);
  ids.insert(fine_id);
  CHECK(ids.size() == 3);
}

TEST_CASE("server: a body over the limit gets 413 and the connection closes") {
  server::ServerOptions options = options_on_any_port();
  options.body_limit = 1024;
  auto server = server::Server::start(options, echo_router()).value();
  RawClient client(server->port());
  client.send(post("/echo/big", std::string(2000, 'x')));
  CHECK(status_of(client.read_response()) == 413);
  CHECK(client.closed_within(1s));
  CHECK(server->stats().too_large == 1);

  RawClient fits(server->port());
  fits.send(post("/echo/small", std::string(1000, 'x')));
  CHECK(status_of(fits.read_response()) == 200);
}

// A route whose gate admits only "Authorization: ok", counting the bodies its handler saw; the
// route takes bodies up to 4 MiB while the server's default stays 1 MiB.
struct GatedRoute {
  std::atomic<int> handled{0};
  server::Router router() {
    server::Router router = echo_router();
    router.add_gated(
        "POST", "/upload",
        [this](const server::Request& head, server::Decide decide) {
          if (head.header("authorization") != "ok") {
            return decide(server::Response::json(401, R"({"error":"unauthorized"})"));
          }
          decide(server::Handler([this](server::Request&& request, server::Reply reply) {
            ++handled;
            reply(server::Response::json(200, json{{"size", request.body.size()}}.dump()));
          }));
        },
        4u << 20);
    return router;
  }
};

std::string upload_head(const std::string& auth, const std::string& framing) {
  return "POST /upload HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + auth + "\r\n" + framing +
         "\r\n";
}

TEST_CASE("server: a gate refuses on the headers, before a byte of the body is read") {
  GatedRoute gated;
  auto server = server::Server::start(options_on_any_port(), gated.router()).value();
  // Neither a declared 10 MiB body nor an endless chunked one is waited for: the 401 comes
  // while the client has sent nothing but headers, and the connection then closes.
  for (const std::string framing :
       {"Content-Length: 3500000\r\n", "Transfer-Encoding: chunked\r\n"}) {
    RawClient client(server->port());
    client.send(upload_head("wrong", framing));
    const std::string answer = client.read_response();
    CHECK(status_of(answer) == 401);
    CHECK(answer.find("Connection: close") != std::string::npos);
    CHECK(client.closed_within(1s));
  }
  // Declared larger than even this route's limit: 413 without reading.
  RawClient huge(server->port());
  huge.send(upload_head("ok", "Content-Length: " + std::to_string(5u << 20) + "\r\n"));
  CHECK(status_of(huge.read_response()) == 413);
  CHECK(gated.handled == 0);
  CHECK(server->stats().too_large == 1);
}

TEST_CASE("server: a route's own limit admits a 3.5 MB body with Content-Length") {
  GatedRoute gated;
  auto server = server::Server::start(options_on_any_port(), gated.router()).value();
  const std::string body(3'500'000, 'x');
  RawClient client(server->port());
  client.send(upload_head("ok", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body);
  const std::string answer = client.read_response();
  REQUIRE(status_of(answer) == 200);
  CHECK(json::parse(answer.substr(answer.find("\r\n\r\n") + 4))["size"] == body.size());
  // Other routes keep the server's 1 MiB.
  RawClient other(server->port());
  other.send("POST /echo/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n");
  CHECK(status_of(other.read_response()) == 413);
}

TEST_CASE("server: Expect: 100-continue gets 100 only once the gate admits the request") {
  GatedRoute gated;
  auto server = server::Server::start(options_on_any_port(), gated.router()).value();
  RawClient client(server->port());
  client.send(upload_head("ok", "Content-Length: 5\r\nExpect: 100-continue\r\n"));
  CHECK(client.read_response() == "HTTP/1.1 100 Continue\r\n\r\n");
  client.send("hello");
  CHECK(status_of(client.read_response()) == 200);
  RawClient refused(server->port());
  refused.send(upload_head("no", "Content-Length: 5\r\nExpect: 100-continue\r\n"));
  CHECK(status_of(refused.read_response()) == 401);
}

TEST_CASE("server: headers over the limit answer 431 and close") {
  server::ServerOptions options = options_on_any_port();
  options.header_limit = 4096;
  auto server = server::Server::start(options, echo_router()).value();
  RawClient client(server->port());
  client.send("POST /echo/a HTTP/1.1\r\nHost: localhost\r\nX-Big: " + std::string(8000, 'a') +
              "\r\nContent-Length: 2\r\n\r\nhi");
  CHECK(status_of(client.read_response()) == 431);
  CHECK(client.closed_within(1s));
  CHECK(server->stats().headers_too_large == 1);
  RawClient fits(server->port());
  fits.send(post("/echo/a", "hi"));
  CHECK(status_of(fits.read_response()) == 200);
}

TEST_CASE("server: connections past the cap are answered 503 and closed; freed ones count") {
  server::ServerOptions options = options_on_any_port();
  options.max_connections = 2;
  auto server = server::Server::start(options, echo_router()).value();
  auto first = std::make_unique<RawClient>(server->port());
  RawClient second(server->port());
  // Both are sessions once they have been served.
  first->send(post("/echo/a", "1"));
  CHECK(status_of(first->read_response()) == 200);
  second.send(post("/echo/b", "2"));
  CHECK(status_of(second.read_response()) == 200);
  RawClient third(server->port());
  const std::string refused = third.read_response();
  CHECK(status_of(refused) == 503);
  CHECK(refused.find("Connection: close") != std::string::npos);
  CHECK(third.closed_within(1s));
  CHECK(server->stats().over_capacity == 1);
  first.reset();  // frees a place
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    RawClient fourth(server->port());
    fourth.send(post("/echo/c", "3"));
    served = status_of(fourth.read_response()) == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  CHECK(served);
}

TEST_CASE("server: bodies past the in-flight budget get 503 unread; the budget frees up") {
  server::ServerOptions options = options_on_any_port();
  options.max_inflight_body_bytes = 1u << 20;
  auto server = server::Server::start(options, echo_router()).value();
  // Holds 800 KB of the budget while its body trickles in.
  RawClient slow(server->port());
  slow.send("POST /echo/slow HTTP/1.1\r\nHost: localhost\r\nContent-Length: 800000\r\n\r\nab");
  std::this_thread::sleep_for(100ms);
  RawClient other(server->port());
  other.send(post("/echo/other", std::string(400'000, 'x')));
  const std::string busy = other.read_response();
  CHECK(status_of(busy) == 503);
  CHECK(busy.find("Retry-After: 1") != std::string::npos);
  // Small bodies still fit beside it.
  RawClient small(server->port());
  small.send(post("/echo/small", "hi"));
  CHECK(status_of(small.read_response()) == 200);
  slow.send(std::string(800'000 - 2, 'y'));
  CHECK(status_of(slow.read_response()) == 200);
  RawClient again(server->port());
  again.send(post("/echo/other", std::string(400'000, 'x')));
  CHECK(status_of(again.read_response()) == 200);
}

TEST_CASE("server: a client that stalls in its headers or body is cut off") {
  server::ServerOptions options = options_on_any_port();
  options.header_timeout = 300ms;
  options.body_timeout = 300ms;
  auto server = server::Server::start(options, echo_router()).value();
  RawClient headers(server->port());
  headers.send("POST /echo/slow HTTP/1.1\r\nHost: loc");
  CHECK(headers.closed_within(2s));
  RawClient body(server->port());
  body.send("POST /echo/slow HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(body.closed_within(2s));
  CHECK(server->stats().timed_out == 2);
  // Meanwhile others are served.
  RawClient other(server->port());
  other.send(post("/echo/fast", "ok"));
  CHECK(status_of(other.read_response()) == 200);
}

TEST_CASE("server: stopping lets a request in flight finish and closes idle connections") {
  server::Router router;
  std::vector<std::thread> late;
  router.add("POST", "/slow", [&late](server::Request&&, server::Reply reply) {
    late.emplace_back([reply = std::move(reply)] {
      std::this_thread::sleep_for(300ms);
      reply(server::Response::json(200, R"({"done":true})"));
    });
  });
  auto server = server::Server::start(options_on_any_port(), std::move(router)).value();
  RawClient idle(server->port());
  RawClient busy(server->port());
  busy.send(post("/slow", ""));
  std::this_thread::sleep_for(100ms);
  std::thread stopper([&] { server->stop(5s); });
  const std::string answer = busy.read_response();
  CHECK(status_of(answer) == 200);
  CHECK(answer.find("Connection: close") != std::string::npos);
  CHECK(idle.closed_within(2s));
  stopper.join();
  for (auto& t : late) t.join();
}

// ---------------------------------------------------------------------------------------------
// The receiver in a host: store, engine, server, workers.
// ---------------------------------------------------------------------------------------------

// A record of the YCLIENTS fixture, attended and paid, with its own id and phone.
json yclients_event(int64_t record_id) {
  std::ifstream in(std::string(CRMSYNC_TEST_DATA_DIR) +
                   "/fixtures/yclients/record-get-response.json");
  json record = json::parse(in)["data"];
  record["id"] = record_id;
  record["attendance"] = 1;
  record["client"]["phone"] = "7916" + std::to_string(1000000 + record_id % 1000000);
  return {{"company_id", 4564},
          {"resource", "record"},
          {"resource_id", record_id},
          {"status", "create"},
          {"data", record}};
}

http::Request json_post(const std::string& url, const std::string& body,
                        std::vector<http::Header> headers = {}) {
  http::Request request;
  request.method = "POST";
  request.url = url;
  request.headers = std::move(headers);
  request.headers.push_back({"Content-Type", "application/json"});
  request.body = body;
  request.timeout = 5s;
  return request;
}

template <class B>
struct Receiving {
  World<B> world;
  std::unique_ptr<webhooks::InboxWorkers> workers;
  std::unique_ptr<webhooks::Receiver> receiver;
  std::unique_ptr<server::Server> server;
  std::unique_ptr<http::Client> client = http::Client::create({}).value();

  Receiving() {
    world.add("mindal-yclients", "yclients",
              {{"company_id", 4564}, {"partner_token", "p"}, {"user_token", "u"}});
    workers = std::make_unique<webhooks::InboxWorkers>(
        *world.engine,
        webhooks::InboxWorkerOptions{.threads = 2, .poll = 1s, .max_lag = 20s, .log = {}});
    webhooks::ReceiverOptions options;
    options.now = [this] { return world.clock.now(); };
    options.endpoint_ttl = 0ms;  // tests change endpoints between requests
    options.on_stored = [this] { workers->wake(); };
    receiver = std::make_unique<webhooks::Receiver>(
        *world.store, std::vector<crypto::MasterKey>{test_key()}, options);
    server::Router router;
    receiver->add_routes(router);
    server = server::Server::start(options_on_any_port(), std::move(router)).value();
  }
  ~Receiving() {
    server->stop(1s);
    receiver.reset();
    workers->stop();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(server->port()); }

  // Sets the integration's endpoint to mode with secrets.
  void set_endpoint(const std::string& mode, std::vector<std::string> secrets) {
    auto endpoint = sync::seal_webhook_endpoint("mindal-yclients", {mode, std::move(secrets)},
                                                test_key(), world.clock.now())
                        .value();
    REQUIRE(world.store->put_webhook_endpoint(endpoint));
  }

  http::Response send(const std::string& url, const std::string& body,
                      std::vector<http::Header> headers = {}) {
    return client->send(json_post(url, body, std::move(headers))).value();
  }

  int64_t inbox(const std::string& where = "1=1") {
    return world.count("SELECT COUNT(*) FROM webhook_inbox WHERE " + where);
  }
  int64_t sales() { return world.count("SELECT COUNT(*) FROM transactions"); }

  // Waits until what counts reaches want (or 5 s pass); returns how long it took.
  std::chrono::milliseconds wait_for(const std::function<int64_t()>& what, int64_t want) {
    const auto start = std::chrono::steady_clock::now();
    while (what() < want && std::chrono::steady_clock::now() - start < 5s) {
      std::this_thread::sleep_for(5ms);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  }
};

TEST_CASE_TEMPLATE("a YCLIENTS webhook with its token is stored, acknowledged and a sale in < 1 s",
                   B, CRMSYNC_TEST_BACKENDS) {
  Receiving<B> host;
  const std::string url = host.world.engine->webhook_url("mindal-yclients", host.base()).value();
  CHECK(url.find(host.base() + "/webhooks/yclients/mindal-yclients?token=") == 0);
  const auto response = host.send(url, yclients_event(101).dump());
  CHECK(response.status == 200);
  CHECK(host.inbox() == 1);  // committed before the answer
  const auto took = host.wait_for([&] { return host.sales(); }, 1);
  CHECK(host.sales() == 1);
  CHECK(took < 1s);
  host.wait_for([&] { return host.inbox("status = 'done'"); }, 1);
  CHECK(host.inbox("status = 'done'") == 1);
  CHECK(host.world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'YCLIENTS-101'") ==
        1);
  // Neither the token nor the URL is kept with the stored webhook.
  const std::string token = url.substr(url.find("token=") + 6);
  CHECK(host.world.count("SELECT COUNT(*) FROM webhook_inbox WHERE CAST(headers AS TEXT) LIKE '%" +
                         token + "%'") == 0);
  CHECK(host.receiver->stats().accepted == 1);
}

TEST_CASE("token: a wrong or missing token is 401; unknown, mistyped or disabled is 404") {
  Receiving<test::Sqlite> host;
  const std::string url = host.world.engine->webhook_url("mindal-yclients", host.base()).value();
  const std::string body = yclients_event(7).dump();
  const std::string path = "/webhooks/yclients/mindal-yclients";
  CHECK(host.send(host.base() + path + "?token=wrong", body).status == 401);
  CHECK(host.send(host.base() + path, body).status == 401);
  const std::string token = url.substr(url.find("token=") + 6);
  CHECK(host.send(host.base() + path, body, {{"X-Webhook-Token", token}}).status == 200);
  CHECK(host.send(host.base() + "/webhooks/yclients/nobody?token=" + token, body).status == 404);
  CHECK(host.send(host.base() + "/webhooks/amocrm/mindal-yclients?token=" + token, body).status ==
        404);
  REQUIRE(
      host.world.store->set_integration_active("mindal-yclients", false, host.world.clock.now()));
  CHECK(host.send(url, body).status == 404);
  CHECK(host.inbox() == 1);
  const auto stats = host.receiver->stats();
  CHECK(stats.unauthorized == 2);
  CHECK(stats.not_found == 3);
}

TEST_CASE_TEMPLATE("standard-webhooks: signed once, a replay is acknowledged without a second row",
                   B, CRMSYNC_TEST_BACKENDS) {
  Receiving<B> host;
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  host.set_endpoint("standard-webhooks", {"whsec_" + crypto::base64_encode(std::string(32, 'k')),
                                          secret});  // rotation: the second one signs
  const std::string url = host.base() + "/webhooks/yclients/mindal-yclients";
  const std::string body = yclients_event(55).dump();
  auto signed_headers = [&](const std::string& id, int64_t ts) {
    const std::string key = crypto::base64_decode(secret.substr(6)).value();
    const std::string signature =
        crypto::base64_encode(crypto::hmac_sha256(key, id + "." + std::to_string(ts) + "." + body));
    return std::vector<http::Header>{{"webhook-id", id},
                                     {"webhook-timestamp", std::to_string(ts)},
                                     {"webhook-signature", "v1a,xyz v1," + signature}};
  };
  const int64_t now = host.world.clock.now().time_since_epoch() / 1s;
  CHECK(host.send(url, body, signed_headers("msg_1", now)).status == 200);
  const auto again = host.send(url, body, signed_headers("msg_1", now));
  CHECK(again.status == 200);
  CHECK(again.body.find("duplicate") != std::string::npos);
  CHECK(host.inbox() == 1);
  CHECK(host.inbox("dedup_key = 'msg_1'") == 1);
  CHECK(host.send(url, body, signed_headers("msg_2", now - 301)).status == 401);
  auto tampered = signed_headers("msg_3", now);
  CHECK(host.send(url, body + " ", tampered).status == 401);
  CHECK(host.send(url, body).status == 401);
  host.wait_for([&] { return host.sales(); }, 1);
  CHECK(host.sales() == 1);
}

TEST_CASE("hmac-sha256 and iiko-auth-token endpoints") {
  Receiving<test::Sqlite> host;
  const std::string url = host.base() + "/webhooks/yclients/mindal-yclients";
  const std::string body = yclients_event(9).dump();
  host.set_endpoint("hmac-sha256", {"a-shared-secret-of-the-spec"});
  const std::string mac = crypto::hmac_sha256_hex("a-shared-secret-of-the-spec", body);
  CHECK(host.send(url, body, {{"X-Signature", "sha256=" + mac}}).status == 200);
  CHECK(host.send(url, body, {{"X-Signature", "sha256=" + std::string(64, '0')}}).status == 401);

  host.set_endpoint("iiko-auth-token", {"iiko-token-0123456789"});
  CHECK(host.send(url, body, {{"Authorization", "iiko-token-0123456789"}}).status == 200);
  CHECK(host.send(url, body, {{"Authorization", "Bearer iiko-token-0123456789"}}).status == 200);
  CHECK(host.send(url, body, {{"Authorization", "iiko-token-other"}}).status == 401);
  CHECK(host.inbox() == 3);
}

TEST_CASE("a malformed body is acknowledged and ends permanently failed with a clear error") {
  Receiving<test::Sqlite> host;
  const std::string url = host.world.engine->webhook_url("mindal-yclients", host.base()).value();
  CHECK(host.send(url, "{not json").status == 200);
  CHECK(host.send(url, yclients_event(12).dump()).status == 200);
  host.wait_for([&] { return host.inbox("status <> 'pending'"); }, 2);
  CHECK(host.inbox("status = 'permanently_failed'") == 1);
  CHECK(host.inbox("status = 'done'") == 1);
  CHECK(host.sales() == 1);
  const auto errors = test::logs_of(*host.world.store, "mindal-yclients", store::LogType::error);
  REQUIRE(!errors.empty());
  CHECK(errors.front().message.find("permanently_failed") != std::string::npos);
  CHECK(errors.front().message.find("JSON") != std::string::npos);
}

TEST_CASE("concurrent webhooks are group-committed: every 200 is a row, every row a sale") {
  Receiving<test::Sqlite> host;
  const std::string url = host.world.engine->webhook_url("mindal-yclients", host.base()).value();
  std::atomic<int> ok{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&, t] {
      auto client = http::Client::create({}).value();
      for (int i = 0; i < 25; ++i) {
        auto sent = client->send(json_post(url, yclients_event(1000 + t * 100 + i).dump()));
        if (sent && sent->status == 200) ++ok;
      }
    });
  }
  for (auto& s : senders) s.join();
  CHECK(ok == 200);
  CHECK(host.inbox() == 200);
  CHECK(host.receiver->stats().commits < 200);  // some commits carried several requests
  host.wait_for([&] { return host.sales(); }, 200);
  CHECK(host.sales() == 200);
}

TEST_CASE(
    "inbox workers pause between passes while a fresh burst comes in, not past max_lag or after") {
  using webhooks::InboxWorkers;
  CHECK(InboxWorkers::pauses_after(32, 32, 1s, true, 20s));         // a burst
  CHECK_FALSE(InboxWorkers::pauses_after(31, 32, 1s, true, 20s));   // caught up
  CHECK_FALSE(InboxWorkers::pauses_after(32, 32, 1s, false, 20s));  // the burst is over
  CHECK_FALSE(InboxWorkers::pauses_after(32, 32, 20s, true, 20s));  // too late to wait longer

  World<test::Sqlite> world;
  world.add("mindal-yclients", "yclients",
            {{"company_id", 4564}, {"partner_token", "p"}, {"user_token", "u"}});
  // 100 webhooks received together: claims of 32, 32, 32 and 4.
  auto burst = [&](std::chrono::milliseconds waited) {
    std::vector<store::InboxItem> items(100);
    for (int i = 0; i < 100; ++i) {
      items[i].integration_id = "mindal-yclients";
      items[i].received_at = world.clock.now() - waited;
      items[i].headers_json = R"({"content-type":"application/json"})";
      items[i].body = yclients_event(5000 + i).dump();
    }
    REQUIRE(world.store->enqueue_webhooks(items, store::Sync::now));
  };
  const webhooks::InboxWorkerOptions options{.threads = 1, .poll = 1h, .max_lag = 20s, .log = {}};
  std::optional<InboxWorkers> workers;
  // Drains the burst, with the receiver storing more meanwhile or not. A receiver that stores
  // wakes the workers after each commit; here it does so whenever the engine reads the clock
  // (at least once in every pass) until the burst is drained, so that every pass sees it
  // whatever the scheduler does.
  auto drain = [&](bool receiving) {
    if (receiving) {
      world.clock.on_read = [&workers] {
        if (workers->stats().processed < 100) workers->wake();
      };
    }
    workers.emplace(*world.engine, options);  // waits for its first wake (poll is an hour)
    workers->wake();                          // the burst was stored
    const auto start = std::chrono::steady_clock::now();
    while (workers->stats().processed < 100 && std::chrono::steady_clock::now() - start < 20s) {
      std::this_thread::sleep_for(1ms);
    }
    REQUIRE(workers->stats().processed == 100);
  };

  SUBCASE("fresh, while more are stored: each full claim is followed by a pause") {
    burst(0ms);
    drain(true);
    CHECK(workers->stats().paused == 3);
  }
  SUBCASE("fresh, once the receiver is quiet: caught up without a pause") {
    burst(0ms);
    drain(false);
    CHECK(workers->stats().paused == 0);
  }
  SUBCASE("late: webhooks that waited max_lag already are mapped without a pause") {
    burst(25s);
    drain(true);
    CHECK(workers->stats().paused == 0);
  }
  CHECK(world.count("SELECT COUNT(*) FROM transactions") == 100);
  // Stopping ends the workers' wait at once (their poll is an hour).
  const auto stopping = std::chrono::steady_clock::now();
  workers->stop();
  CHECK(std::chrono::steady_clock::now() - stopping < 1s);
  world.clock.on_read = nullptr;  // it refers to the workers, which go first
}

TEST_CASE("a webhook committed but not synced to disk is answered 503, never 200") {
  Receiving<test::Sqlite> host;
  const std::string url = host.world.engine->webhook_url("mindal-yclients", host.base()).value();
  // Without its name the log cannot be synced: the commit happened, durability is unknown.
  const std::string log = host.world.db.config().target + "-wal";
  REQUIRE(std::filesystem::exists(log));
  std::filesystem::rename(log, log + ".moved");
  http::Request once = json_post(url, yclients_event(501).dump());
  once.no_retry = true;  // the client would retry a 503 on its own
  const auto refused = host.client->send(once);
  std::filesystem::rename(log + ".moved", log);
  REQUIRE_FALSE(refused);  // the client reports a 5xx as an error
  CHECK(refused.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(refused.error().message.find("HTTP 503") != std::string::npos);
  CHECK(host.receiver->stats().unavailable == 1);
  CHECK(host.receiver->stats().accepted == 0);
  // The sender's retry is acknowledged once the disk can be synced again.
  CHECK(host.send(url, yclients_event(502).dump()).status == 200);
  CHECK(host.receiver->stats().syncs >= 2);
}

TEST_CASE("the webhook URL is registered with YCLIENTS while active and removed when disabled") {
  sim::testing::SimProcess sim({"--companies", "1", "--records", "5"});
  World<test::Sqlite> world;
  world.add("mindal-yclients", "yclients",
            {{"company_id", 4564},
             {"partner_token", "partner-secret"},
             {"user_token", "user-secret"},
             {"base_url", sim.url("/yclients")}});
  auto hooks = [&] {
    return sim.admin("GET", "state?provider=yclients")["companies"][0]["hooks_settings"]["urls"];
  };
  const std::string public_url = "https://crmsync.example.com";
  CHECK(world.engine->reconcile_webhook("mindal-yclients", public_url).value());
  const std::string url = world.engine->webhook_url("mindal-yclients", public_url).value();
  CHECK(hooks() == json::array({url}));
  CHECK_FALSE(world.engine->reconcile_webhook("mindal-yclients", public_url).value());
  REQUIRE(world.store->set_integration_active("mindal-yclients", false, world.clock.now()));
  CHECK(world.engine->reconcile_webhook("mindal-yclients", public_url).value());
  CHECK(hooks().empty());
  CHECK(world.store->get_webhook_endpoint("mindal-yclients")->registered_url.empty());
}

TEST_CASE("iiko: the registered authToken comes back in the Authorization header and is a sale") {
  sim::testing::SimProcess sim({"--companies", "1", "--records", "1", "--new-per-hour", "0"});
  Receiving<test::Sqlite> host;
  REQUIRE(host.world.host.load(std::string(CRMSYNC_PLUGIN_DIR) + "/iiko.so").ok());
  host.world.add("mindal-iiko", "iiko",
                 {{"api_login", "iiko-login-secret"}, {"base_url", sim.url("/iiko")}});
  auto endpoint = sync::seal_webhook_endpoint("mindal-iiko", {"iiko-auth-token", {}}, test_key(),
                                              host.world.clock.now());
  REQUIRE(host.world.store->put_webhook_endpoint(endpoint.value()));
  CHECK(host.world.engine->reconcile_webhook("mindal-iiko", host.base()).value());
  const json org = sim.admin("GET", "state?provider=iiko")["organizations"][0];
  REQUIRE(org["webhooks"]["authToken"].is_string());

  const json added = sim.admin("POST", "records", {{"provider", "iiko"}});
  const std::string order = added["ids"][0];
  const std::string url = host.base() + "/webhooks/iiko/mindal-iiko";  // the header alone
  const json sent =
      sim.admin("POST", "webhook", {{"provider", "iiko"}, {"url", url}, {"order_ids", {order}}});
  CHECK(sent["status"] == 200);
  CHECK(sent["payload"]["headers"]["Authorization"] == org["webhooks"]["authToken"]);
  host.wait_for([&] { return host.sales(); }, 1);
  CHECK(host.world.count("SELECT COUNT(*) FROM transactions WHERE external_id = 'IIKO-" + order +
                         "'") == 1);
  // The same body without the header, or with another token, is refused.
  const std::string body = sent["payload"]["body"];
  CHECK(host.send(url, body).status == 401);
  CHECK(host.send(url, body, {{"Authorization", "iiko-other-token-0123456789"}}).status == 401);
  CHECK(host.inbox() == 1);
}

}  // namespace
