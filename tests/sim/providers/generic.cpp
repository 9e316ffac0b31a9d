// Simulated in-house CRM for the custom connector: one list of orders served as JSON or XML,
// behind any of the authentication modes (none, bearer, basic, api_key, oauth2 with client
// credentials or rotating refresh tokens) and any of the paging styles (none, page, offset,
// cursor, next_link, single: one order per response with a link to the next). See generic.md.
#include "../sim.h"

#include <curl/curl.h>
#include <date/date.h>

#include <algorithm>
#include <cstdio>
#include <set>

namespace crmsync::sim {
namespace generic_provider {

using std::chrono::hours;
using std::chrono::seconds;

constexpr int kOffsetHours = 3;  // the CRM keeps Moscow time
constexpr int64_t kFirstOrderId = 1001;
constexpr int64_t kDefaultPageSize = 20;

const std::vector<std::string> kNames = {"Анна Смирнова", "Иван Петров", "Ольга Кузнецова",
                                         "Дмитрий Соколов", "Мария Лебедева"};
const std::vector<std::string> kStatuses = {"paid", "paid", "paid", "new", "cancelled"};

struct Order {
  int64_t id;
  SimTime created;
  SimTime updated;
  std::string status;
  int64_t total_kopecks;
  std::string name;
  std::string phone_digits;  // ten digits after +7
};

// Base64 of user:password, to check Basic credentials.
std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

// A form-encoded body as a map.
std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    auto decode = [](std::string text) {
      std::replace(text.begin(), text.end(), '+', ' ');
      int length = 0;
      char* decoded =
          curl_easy_unescape(nullptr, text.c_str(), static_cast<int>(text.size()), &length);
      std::string value(decoded, static_cast<size_t>(length));
      curl_free(decoded);
      return value;
    };
    if (!pair.empty()) {
      out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

// A time as the CRM writes it: "2025-11-17T14:30:00+03:00".
std::string rfc3339(SimTime t) {
  std::string local = local_text(t, kOffsetHours);
  local[10] = 'T';
  return local + offset_text(kOffsetHours, true);
}

// Text safe inside an XML element or attribute.
std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

class Generic final : public Provider {
 public:
  std::string name() const override { return "generic"; }

  void add_flags(CLI::App& app) override {
    app.add_option("--generic-token", token_, "bearer token")->capture_default_str();
    app.add_option("--generic-user", user_, "basic user")->capture_default_str();
    app.add_option("--generic-password", password_, "basic password")->capture_default_str();
    app.add_option("--generic-api-key", api_key_, "API key (X-Api-Key or ?api_key=)")
        ->capture_default_str();
    app.add_option("--generic-client-id", client_id_, "OAuth2 client id")->capture_default_str();
    app.add_option("--generic-client-secret", client_secret_, "OAuth2 client secret")
        ->capture_default_str();
    app.add_option("--generic-refresh-token", first_refresh_, "first OAuth2 refresh token")
        ->capture_default_str();
    app.add_option("--generic-token-lifetime", token_lifetime_, "OAuth2 access token seconds")
        ->capture_default_str();
  }

  void generate(const DataOptions& options) override {
    options_ = options;
    now_ = options.start;
    orders_.clear();
    access_tokens_.clear();
    refresh_token_ = first_refresh_;
    issued_ = 0;
    created_so_far_ = 0;
    bonuses_ = Json::array();
    Rng rng(mix_seed(options.seed, 0x9e4e));
    const int64_t span = static_cast<int64_t>(options.history_days) * 86400;
    std::vector<int64_t> offsets;
    for (int k = 0; k < options.records; ++k) offsets.push_back(rng.between(0, span - 1));
    std::sort(offsets.begin(), offsets.end());
    for (int64_t off : offsets)
      orders_.push_back(make_order(rng, options.start - seconds(span - off)));
  }

  void routes(Routes& routes) override {
    routes.add("POST", "/oauth/token", "token",
               [this](const SimRequest& request) { return token(request); });
    routes.add("GET", "/api/{auth}/{paging}/{format}", "orders",
               [this](const SimRequest& request) { return list(request); });
    routes.add("POST", "/api/{auth}/bonuses", "bonuses",
               [this](const SimRequest& request) { return bonus(request); });
  }

  void advance(SimTime from, SimTime to) override {
    now_ = to;
    if (options_.new_per_hour <= 0) return;
    const double period = 3600.0 / options_.new_per_hour;
    for (;;) {
      const SimTime due =
          options_.start +
          seconds(static_cast<int64_t>(period * static_cast<double>(created_so_far_ + 1)));
      if (due > to) break;
      if (due > from) {
        Rng rng(mix_seed(options_.seed, 0x9e4f, created_so_far_));
        orders_.push_back(make_order(rng, due));
      }
      ++created_so_far_;
    }
  }

  Result<Json> add_records(const Json& params, SimTime now) override {
    const int count = params.value("count", 1);
    if (count < 1 || count > 10000) return fail(CRMSYNC_E_INVALID_INPUT, "count: 1..10000");
    Rng rng(mix_seed(options_.seed, 0xadd9e4, static_cast<uint64_t>(orders_.size())));
    Json ids = Json::array();
    for (int k = 0; k < count; ++k) {
      Order order = make_order(rng, now);
      order.status = params.value("status", "paid");
      ids.push_back(order.id);
      orders_.push_back(std::move(order));
    }
    return Json{{"ids", ids}};
  }

  Result<Json> webhook_payload(const Json& /*params*/) override {
    return fail(CRMSYNC_E_UNSUPPORTED, "the generic CRM sends no webhooks");
  }

  Json state() const override {
    Json orders = Json::array();
    for (const Order& o : orders_) {
      orders.push_back({{"id", o.id},
                        {"status", o.status},
                        {"amount_minor", o.total_kopecks},
                        {"phone", "+7" + o.phone_digits},
                        {"created_utc", date::format("%FT%TZ", o.created)},
                        {"created_ms", o.created.time_since_epoch().count() * 1000}});
    }
    return {{"orders", orders},
            {"refresh_token", refresh_token_},
            {"tokens_issued", issued_},
            {"bonuses", bonuses_}};
  }

  Reply error(int status, const std::string& message) const override {
    return Reply::json(status,
                       {{"error", status == 401 ? "unauthorized" : "error"}, {"message", message}});
  }

 private:
  // A new order at time at, with the next id.
  Order make_order(Rng& rng, SimTime at) {
    Order o;
    o.id = kFirstOrderId + static_cast<int64_t>(orders_.size());
    o.created = at;
    o.updated = at + seconds(rng.between(0, 600));
    o.status = rng.pick(kStatuses);
    o.total_kopecks = rng.between(100, 2'000'000) / 10 * 10;
    o.name = rng.pick(kNames);
    char digits[16];
    std::snprintf(digits, sizeof digits, "9%09llu",
                  static_cast<unsigned long long>(rng.below(1'000'000'000)));
    o.phone_digits = digits;
    return o;
  }

  // "8 (912) 345-67-89", as people type phones into a CRM.
  static std::string phone_text(const Order& o) {
    const std::string& d = o.phone_digits;
    return "8 (" + d.substr(0, 3) + ") " + d.substr(3, 3) + "-" + d.substr(6, 2) + "-" +
           d.substr(8, 2);
  }

  // An order in the JSON views; numeric_total writes the total as a JSON number.
  Json order_json(const Order& o, bool numeric_total) const {
    Json total = numeric_total ? Json(static_cast<double>(o.total_kopecks) / 100.0)
                               : Json(money_text(o.total_kopecks));
    return {{"id", o.id},
            {"number", "ORD-" + std::to_string(o.id)},
            {"status", o.status},
            {"total", total},
            {"currency", "RUB"},
            {"created_at", rfc3339(o.created)},
            {"updated_at", rfc3339(o.updated)},
            {"client", {{"name", o.name}, {"phone", phone_text(o)}}}};
  }

  // An order in the XML views.
  std::string order_xml(const Order& o) const {
    return "<order id=\"" + std::to_string(o.id) + "\"><number>ORD-" + std::to_string(o.id) +
           "</number><status>" + o.status + "</status><total>" + money_text(o.total_kopecks) +
           "</total><created>" + local_text(o.created, kOffsetHours) + "</created><client><name>" +
           xml_escape(o.name) + "</name><phone>+7 " + o.phone_digits.substr(0, 3) + " " +
           o.phone_digits.substr(3, 3) + " " + o.phone_digits.substr(6, 2) + " " +
           o.phone_digits.substr(8, 2) + "</phone></client></order>";
  }

  // Whether the request carries the credentials its auth mode asks for.
  bool authorized(const SimRequest& request, const std::string& mode) const {
    const std::string authorization = request.header("authorization");
    if (mode == "none") return true;
    if (mode == "bearer") return authorization == "Bearer " + token_;
    if (mode == "basic") return authorization == "Basic " + base64(user_ + ":" + password_);
    if (mode == "api_key") {
      auto it = request.query.find("api_key");
      return request.header("x-api-key") == api_key_ ||
             (it != request.query.end() && it->second == api_key_);
    }
    if (mode == "oauth2") {
      if (authorization.rfind("Bearer ", 0) != 0) return false;
      auto it = access_tokens_.find(authorization.substr(7));
      return it != access_tokens_.end() && now_ < it->second;
    }
    return false;
  }

  // POST /oauth/token: client credentials or a single-use refresh token.
  Reply token(const SimRequest& request) {
    const auto form = parse_form(request.body);
    auto field = [&](const char* name) {
      auto it = form.find(name);
      return it == form.end() ? std::string() : it->second;
    };
    if (field("client_id") != client_id_ || field("client_secret") != client_secret_) {
      return Reply::json(401, {{"error", "invalid_client"}});
    }
    const std::string grant = field("grant_type");
    Json answer;
    if (grant == "refresh_token") {
      if (field("refresh_token") != refresh_token_) {
        return Reply::json(400, {{"error", "invalid_grant"}});
      }
      refresh_token_ = "generic-refresh-" + std::to_string(issued_ + 2);  // single use: rotated
      answer["refresh_token"] = refresh_token_;
    } else if (grant != "client_credentials") {
      return Reply::json(400, {{"error", "unsupported_grant_type"}});
    }
    const std::string access = "generic-access-" + std::to_string(++issued_);
    access_tokens_[access] = now_ + seconds(token_lifetime_);
    answer["access_token"] = access;
    answer["token_type"] = "Bearer";
    answer["expires_in"] = token_lifetime_;
    return Reply::json(200, answer);
  }

  // POST /api/{auth}/bonuses: one bonus per Idempotency-Key.
  Reply bonus(const SimRequest& request) {
    if (!authorized(request, request.params.at("auth"))) return error(401, "Unauthorized");
    Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return error(400, "JSON body expected");
    const std::string key = request.header("idempotency-key");
    for (const Json& seen : bonuses_) {
      if (!key.empty() && seen.value("idempotency_key", "") == key) {
        return error(409, "Duplicate idempotency key");
      }
    }
    body["idempotency_key"] = key;
    bonuses_.push_back(body);
    return Reply::json(201, {{"ok", true}});
  }

  // GET /api/{auth}/{paging}/{format}: the orders, paged the requested way.
  Reply list(const SimRequest& request) {
    const std::string& auth = request.params.at("auth");
    const std::string& paging = request.params.at("paging");
    const std::string& format = request.params.at("format");
    static const std::set<std::string> kAuth = {"none", "bearer", "basic", "api_key", "oauth2"};
    static const std::set<std::string> kPaging = {"none",   "page",      "offset",
                                                  "cursor", "next_link", "single"};
    if (!kAuth.count(auth) || !kPaging.count(paging) || (format != "json" && format != "xml")) {
      return error(404, "No such endpoint");
    }
    if (!authorized(request, auth)) return error(401, "Unauthorized");

    std::vector<const Order*> matching;
    std::optional<SimTime> after;
    if (auto it = request.query.find("updated_after");
        it != request.query.end() && !it->second.empty()) {
      after = parse_time(it->second, kOffsetHours);
      if (!after) return error(400, "updated_after: not a time");
    }
    for (const Order& o : orders_) {
      if (o.created > now_) continue;
      if (!after || o.updated > *after) matching.push_back(&o);
    }
    std::stable_sort(matching.begin(), matching.end(),
                     [](const Order* a, const Order* b) { return a->updated < b->updated; });

    const auto size = request.int_param(
        paging == "page" || paging == "next_link" ? "per_page" : "limit", kDefaultPageSize);
    if (!size || *size < 1) return error(400, "page size: a positive integer");
    size_t first = 0;
    size_t count = matching.size();
    std::optional<std::string> next;
    const std::string self = "/generic/api/" + auth + "/" + paging + "/" + format;
    if (paging == "page" || paging == "next_link") {
      const auto page = request.int_param("page", 1);
      if (!page || *page < 1) return error(400, "page: a positive integer");
      first = static_cast<size_t>((*page - 1) * *size);
      count = static_cast<size_t>(*size);
      if (first + count < matching.size()) {
        next = paging == "page" ? std::to_string(*page + 1)
                                : self + "?page=" + std::to_string(*page + 1) +
                                      "&per_page=" + std::to_string(*size);
      }
    } else if (paging == "offset") {
      const auto it = request.query.find("offset");
      const std::string offset = it == request.query.end() ? "0" : it->second;
      if (offset.empty() || offset.size() > 9 ||
          offset.find_first_not_of("0123456789") != std::string::npos) {
        return error(400, "offset: a non-negative integer");
      }
      first = static_cast<size_t>(std::stoll(offset));
      count = static_cast<size_t>(*size);
    } else if (paging == "cursor") {
      if (auto it = request.query.find("cursor"); it != request.query.end()) {
        if (it->second.size() < 2 || it->second[0] != 'c') return error(400, "cursor: invalid");
        const int64_t last = std::stoll(it->second.substr(1));
        while (first < matching.size() && matching[first]->id != last) ++first;
        if (first == matching.size()) return error(400, "cursor: unknown");
        ++first;
      }
      count = static_cast<size_t>(*size);
      if (first + count < matching.size()) {
        next = "c" + std::to_string(matching[first + count - 1]->id);
      }
    } else if (paging == "single") {
      if (auto it = request.query.find("after"); it != request.query.end()) {
        const int64_t last = std::stoll(it->second);
        while (first < matching.size() && matching[first]->id != last) ++first;
        ++first;
      }
      count = 1;
      if (first + 1 < matching.size()) {
        next = self + "?after=" + std::to_string(matching[first]->id);
      }
    }
    first = std::min(first, matching.size());
    const size_t end = std::min(matching.size(), first + count);
    const std::vector<const Order*> shown(matching.begin() + static_cast<std::ptrdiff_t>(first),
                                          matching.begin() + static_cast<std::ptrdiff_t>(end));
    return format == "json" ? json_reply(paging, shown, matching.size(), first, *size, next)
                            : xml_reply(shown, matching.size(), next);
  }

  // The JSON body of each paging view.
  Reply json_reply(const std::string& paging, const std::vector<const Order*>& shown, size_t total,
                   size_t first, int64_t size, const std::optional<std::string>& next) const {
    Json list = Json::array();
    for (const Order* o : shown) list.push_back(order_json(*o, paging == "cursor"));
    Json body;
    if (paging == "none") {
      body = list;
    } else if (paging == "page") {
      body = {{"data", list},
              {"meta",
               {{"page", first / static_cast<size_t>(size) + 1},
                {"per_page", size},
                {"total", total}}}};
    } else if (paging == "offset") {
      body = {{"items", list}, {"offset", first}, {"limit", size}, {"total", total}};
    } else if (paging == "cursor") {
      body = {{"orders", list}, {"next_cursor", next ? Json(*next) : Json(nullptr)}};
    } else if (paging == "next_link") {
      body = {{"results", list}, {"links", Json::object()}};
      if (next) body["links"]["next"] = *next;
    } else {
      Json data = nullptr;
      if (!shown.empty()) {
        const Order& o = *shown.front();
        data = {{"id", o.id},
                {"total", money_text(o.total_kopecks)},
                {"created", o.created.time_since_epoch().count()},  // Unix seconds
                {"status", o.status},
                {"client", {{"phone", "+7" + o.phone_digits}}}};
      }
      body = {{"data", data}, {"next", next ? Json(*next) : Json(nullptr)}};
    }
    return Reply::json(200, body);
  }

  // The XML body, with <next> when there is a next page.
  Reply xml_reply(const std::vector<const Order*>& shown, size_t total,
                  const std::optional<std::string>& next) const {
    std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><orders total=\"" +
                       std::to_string(total) + "\">";
    for (const Order* o : shown) body += order_xml(*o);
    body += "</orders>";
    if (next) body += "<next>" + xml_escape(*next) + "</next>";
    body += "</response>";
    Reply reply;
    reply.content_type = "application/xml; charset=utf-8";
    reply.body = std::move(body);
    return reply;
  }

  std::string token_ = "generic-token";
  std::string user_ = "sync";
  std::string password_ = "generic-password";
  std::string api_key_ = "generic-key";
  std::string client_id_ = "crmsync";
  std::string client_secret_ = "generic-client-secret";
  std::string first_refresh_ = "generic-refresh-1";
  int64_t token_lifetime_ = 3600;

  DataOptions options_;
  SimTime now_{};
  std::vector<Order> orders_;
  std::map<std::string, SimTime> access_tokens_;
  std::string refresh_token_;
  int64_t issued_ = 0;
  uint64_t created_so_far_ = 0;
  Json bonuses_ = Json::array();
};

}  // namespace generic_provider

std::unique_ptr<Provider> make_generic() {
  return std::make_unique<generic_provider::Generic>();
}

}  // namespace crmsync::sim
