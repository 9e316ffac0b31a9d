// The admin panel's files as `crmsync serve` serves them, through a real server on loopback.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "http/client.h"
#include "panel/panel.h"
#include "server/server.h"

namespace {

using namespace crmsync;

// A server with only the panel's routes, and a client for it.
struct PanelServer {
  std::unique_ptr<server::Server> server;
  std::unique_ptr<http::Client> client;

  PanelServer() {
    server::Router router;
    panel::add_routes(router);
    server::ServerOptions options;
    options.port = 0;
    server = server::Server::start(options, std::move(router)).value();
    client = http::Client::create({}).value();
  }

  http::Response get(const std::string& path, std::vector<http::Header> headers = {}) {
    http::Request request;
    request.url = "http://127.0.0.1:" + std::to_string(server->port()) + path;
    request.headers = std::move(headers);
    request.no_retry = true;
    auto answer = client->send(request);
    REQUIRE(answer.ok());
    return *answer;
  }
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every file the panel ships: panel/ and the packaged YAML reader.
std::map<std::string, std::filesystem::path> shipped_files() {
  std::map<std::string, std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(CRMSYNC_PANEL_DIR)) {
    out[entry.path().filename().string()] = entry.path();
  }
  out["js-yaml.mjs"] = CRMSYNC_JS_YAML_MODULE;
  return out;
}

const std::map<std::string, std::string> kTypes = {{".html", "text/html; charset=utf-8"},
                                                   {".css", "text/css; charset=utf-8"},
                                                   {".js", "text/javascript; charset=utf-8"},
                                                   {".mjs", "text/javascript; charset=utf-8"},
                                                   {".svg", "image/svg+xml"},
                                                   {".png", "image/png"},
                                                   {".json", "application/json"},
                                                   {".ico", "image/x-icon"}};

void check_security_headers(const http::Response& answer) {
  CHECK(answer.header("content-security-policy").value_or("") ==
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'");
  CHECK(answer.header("x-frame-options").value_or("") == "DENY");
  CHECK(answer.header("x-content-type-options").value_or("") == "nosniff");
  CHECK(answer.header("cache-control").value_or("") == "no-cache");
}

}  // namespace

TEST_CASE("every embedded file is served with its content type, exact bytes and headers") {
  PanelServer panel;
  const auto files = shipped_files();
  REQUIRE(files.count("index.html") == 1);
  REQUIRE(files.count("app.js") == 1);
  for (const auto& [name, path] : files) {
    INFO(name);
    const http::Response answer = panel.get("/admin/" + name);
    CHECK(answer.status == 200);
    CHECK(answer.header("content-type").value_or("") ==
          kTypes.at(std::filesystem::path(name).extension().string()));
    CHECK(answer.body == read_file(path));
    CHECK(answer.header("etag").value_or("").size() == 34);  // quoted 32 hex digits
    check_security_headers(answer);
  }
}

TEST_CASE("/admin/ is index.html and /admin redirects to it") {
  PanelServer panel;
  const http::Response index = panel.get("/admin/");
  CHECK(index.status == 200);
  CHECK(index.header("content-type").value_or("") == "text/html; charset=utf-8");
  CHECK(index.body == read_file(std::filesystem::path(CRMSYNC_PANEL_DIR) / "index.html"));
  check_security_headers(index);
  const http::Response redirect = panel.get("/admin");
  CHECK(redirect.status == 301);
  CHECK(redirect.header("location").value_or("") == "/admin/");
}

TEST_CASE("the ETag answers 304 on If-None-Match, a changed or foreign tag gets the file") {
  PanelServer panel;
  const http::Response first = panel.get("/admin/app.js");
  const std::string etag(first.header("etag").value_or(""));
  REQUIRE(!etag.empty());
  CHECK(panel.get("/admin/app.js").header("etag").value_or("") == etag);  // stable
  CHECK(panel.get("/admin/style.css").header("etag").value_or("") != etag);

  const http::Response again = panel.get("/admin/app.js", {{"If-None-Match", etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(again.header("etag").value_or("") == etag);
  check_security_headers(again);
  CHECK(panel.get("/admin/app.js", {{"If-None-Match", "W/" + etag + ", \"other\""}}).status == 304);
  CHECK(panel.get("/admin/app.js", {{"If-None-Match", "*"}}).status == 304);
  const http::Response stale = panel.get("/admin/app.js", {{"If-None-Match", "\"0123\""}});
  CHECK(stale.status == 200);
  CHECK(stale.body == first.body);
  const http::Response index = panel.get("/admin/", {{"If-None-Match", etag}});
  CHECK(index.status == 200);
  CHECK(panel.get("/admin/", {{"If-None-Match", std::string(index.header("etag").value_or(""))}})
            .status == 304);
}

TEST_CASE("unknown files, paths outside the flat panel and other methods are refused") {
  PanelServer panel;
  const http::Response missing = panel.get("/admin/nosuch.js");
  CHECK(missing.status == 404);
  CHECK(missing.body.find("nosuch.js") != std::string::npos);
  check_security_headers(missing);
  CHECK(panel.get("/admin/..%2Fpanel.h").status == 404);
  CHECK(panel.get("/admin/%2e%2e").status == 404);
  CHECK(panel.get("/admin/sub/app.js").status == 404);
  CHECK(panel.get("/admin/index.html%00.js").status == 404);
  CHECK(panel.get("/adminx").status == 404);

  http::Request post;
  post.method = "POST";
  post.url = "http://127.0.0.1:" + std::to_string(panel.server->port()) + "/admin/app.js";
  post.body = "x";
  post.no_retry = true;
  auto refused = panel.client->send(post);
  REQUIRE(refused.ok());
  CHECK(refused->status == 405);
}
