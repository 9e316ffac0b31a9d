// The custom connector's settings and its response mapping: what an admin configures (request,
// auth, format, pagination, records, field mapping, cursor, bonus write-back) read into a checked
// Config, and the pure function that turns one response body into sales, skips and per-record
// failures. No HTTP here: fetch, map_response (the sandbox) and the tests share it.
#ifndef CRMSYNC_CUSTOM_CUSTOM_MAPPING_H
#define CRMSYNC_CUSTOM_CUSTOM_MAPPING_H

#include <crmsync/connector.hpp>
#include <crmsync/connector_json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "jsonpath.h"
#include "template.h"
#include "xpath.h"

namespace crmsync::custom {

// The JSON Schema (draft 7 keywords) of the settings; secrets are top-level "x-secret" fields.
extern const char* const kConfigSchema;

// Where a mapped value comes from: a JSONPath or a template over a JSON record, an XPath
// relative to an XML record, or a constant.
struct Source {
  std::variant<JsonPath, Template, XPath, std::string> how;  // std::string: a constant
  std::optional<std::string> fallback;                       // "default": used when nothing matched
  // A short description for error messages: "$.data.id", "{{ data.id }}", "/order/id".
  std::string text() const;
};

// The "is a sale" condition: the source's value equals one of `values`, or, without values, is
// truthy (present and not "", "0", "false" or "null").
struct SaleFilter {
  Source source;
  std::vector<std::string> values;
};

// A request template (the list request and the bonus write-back).
struct RequestTemplate {
  std::string method = "GET";
  Template url;
  std::vector<std::pair<std::string, Template>> query;
  std::vector<std::pair<std::string, Template>> headers;
  std::optional<nlohmann::json> body;  // string members are templates, rendered recursively
  bool form = false;                   // body as application/x-www-form-urlencoded
};

// How requests are authenticated.
struct Auth {
  enum class Type { kNone, kBasic, kBearer, kApiKey, kOAuth2 };
  Type type = Type::kNone;
  std::string username;        // basic (the password is the secret "password")
  bool in_query = false;       // api_key: query parameter instead of a header
  std::string key_name;        // api_key: header or parameter name (the value: "api_key")
  std::string token_url;       // oauth2
  std::string client_id;       // oauth2 (the secret: "client_secret")
  bool refresh_grant = false;  // oauth2: refresh_token grant instead of client_credentials
  std::string scope;           // oauth2, optional
};

// How the list is paged.
struct Pagination {
  enum class Type { kNone, kPage, kOffset, kCursor, kNextLink };
  Type type = Type::kNone;
  std::string param;           // page / offset / cursor query parameter
  int64_t start = 0;           // first page number or offset
  std::string size_param;      // optional page-size parameter
  int64_t size = 0;            // its value; a shorter page ends the pass
  std::optional<Source> next;  // cursor / next_link: where the next cursor or URL is
  int64_t max_pages = 100;     // a hard limit of pages per pass
};

// The checked settings of one integration.
struct Config {
  std::string name;  // shown by the health check; the URL's host when empty
  RequestTemplate request;
  Auth auth;
  bool xml = false;
  Pagination pagination;
  std::optional<JsonPath> json_records;  // format json: the records selector
  std::optional<XPath> xml_records;      // format xml: the records selector
  std::map<std::string, Source> fields;  // external_id, amount, occurred_at, customer_phone...
  std::optional<SaleFilter> filter;
  std::optional<Source> cursor;  // its greatest value over sales and skips: the next {{ cursor }}
  std::string cursor_initial;    // {{ cursor }} before the first complete pass
  std::string since_initial;     // {{ since }} before the first complete pass
  std::optional<RequestTemplate> push_bonus;
};

// Reads settings (config_json as open() receives it). Errors are INVALID_CONFIG naming the field:
// "mapping.amount: invalid JSONPath $.total[ at position 8: expected a selector".
Result<Config> parse_config(std::string_view config_json);

// What one response body holds.
struct MappedPage {
  // In document order: a sale, a skip (not a sale) or a failure (could not be mapped).
  struct Skip {
    std::string external_id;
    std::string reason;
  };
  struct Failure {
    std::string external_id;
    std::string reason;
    std::string raw;
  };
  std::vector<std::variant<sdk::Record, Skip, Failure>> outcomes;
  size_t record_count = 0;          // objects the records selector found
  std::optional<std::string> next;  // pagination.next's value, when configured and present
  std::string max_cursor;           // the greatest cursor value of the sales and skips, or ""
};

// Maps a response body. A body that is not JSON / XML is INVALID_INPUT; a record that cannot be
// mapped is a Failure naming the field and the path or value ("Record 3: amount: $.total matched
// nothing").
Result<MappedPage> map_body(const Config& config, std::string_view body);

// Greater for cursor values: numerically when both are integers, else as text.
bool cursor_less(const std::string& a, const std::string& b);

// Renders a request template's body with context: JSON text, or a form-encoded string.
Result<std::string> render_body(const RequestTemplate& request, const nlohmann::json& context);

// Percent-encodes text for a URL query or a form value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view text);

// Unix milliseconds as RFC 3339 UTC ("2025-11-17T09:00:00Z").
std::string utc_text(int64_t unix_ms);

}  // namespace crmsync::custom

#endif  // CRMSYNC_CUSTOM_CUSTOM_MAPPING_H
