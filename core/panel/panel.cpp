#include "panel/panel.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "panel_files.h"

namespace crmsync::panel {
namespace {

// The panel runs only its own scripts and styles and talks only to this host: no inline code,
// so an injected string cannot run. No page may frame it (clickjacking an admin's clicks) and no
// injected <base> may redirect its relative URLs; X-Frame-Options says the same to browsers
// that predate frame-ancestors.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

// The headers every answer under /admin carries.
std::vector<std::pair<std::string, std::string>> common_headers() {
  return {{"Content-Security-Policy", kContentSecurityPolicy},
          {"X-Frame-Options", "DENY"},
          {"X-Content-Type-Options", "nosniff"},
          {"Cache-Control", "no-cache"}};
}

// True when an If-None-Match header (a list of tags, weak ones included, or "*") names etag; the
// tag is quoted and 32 hex digits long, so finding it in the list is exact.
bool matches(std::string_view if_none_match, std::string_view etag) {
  return if_none_match.find('*') != std::string_view::npos ||
         if_none_match.find(etag) != std::string_view::npos;
}

// The file's answer: 304 when the client holds this version, the bytes otherwise.
server::Response serve_file(const internal::PanelFile& file, const server::Request& request) {
  server::Response response;
  response.headers = common_headers();
  response.headers.emplace_back("ETag", std::string(file.etag));
  if (matches(request.header("if-none-match").value_or(""), file.etag)) {
    response.status = 304;
    response.content_type = std::string(file.content_type);
    return response;
  }
  response.status = 200;
  response.content_type = std::string(file.content_type);
  response.body = std::string(file.bytes);
  return response;
}

const internal::PanelFile* find_file(std::string_view name) {
  const auto files = internal::panel_files();
  auto it = std::find_if(files.begin(), files.end(),
                         [name](const internal::PanelFile& f) { return f.name == name; });
  return it == files.end() ? nullptr : &*it;
}

// The answer for a name that is not a file of the panel.
server::Response not_found(std::string_view name) {
  server::Response response = server::Response::text(404, "no file '" + std::string(name) + "'");
  response.headers = common_headers();
  return response;
}

}  // namespace

void add_routes(server::Router& router) {
  // The index must exist: the build embeds panel/ and the panel starts from index.html.
  const internal::PanelFile* index = find_file("index.html");
  if (!index) {
    std::fputs("panel: index.html is not embedded (panel/ is incomplete)\n", stderr);
    std::abort();
  }
  router.add("GET", "/admin", [](server::Request&&, server::Reply reply) {
    server::Response response = server::Response::text(301, "/admin/");
    response.headers = common_headers();
    response.headers.emplace_back("Location", "/admin/");
    reply(std::move(response));
  });
  router.add("GET", "/admin/", [index](server::Request&& request, server::Reply reply) {
    reply(serve_file(*index, request));
  });
  router.add("GET", "/admin/{file}", [](server::Request&& request, server::Reply reply) {
    const std::string& name = request.params.at("file");
    const internal::PanelFile* file = find_file(name);
    reply(file ? serve_file(*file, request) : not_found(name));
  });
}

}  // namespace crmsync::panel
