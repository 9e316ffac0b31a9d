// Simulated iikoCloud (API 1), shaped like the samples and OpenAPI excerpt in fixtures/iiko:
// access tokens that expire after an hour of simulated time, organizations, delivery orders by
// revision and by delivery date with nested items, modifiers, discounts and payments, status
// transitions over time, webhook settings, and DeliveryOrderUpdate / TableOrderUpdate bodies.
#include "../sim.h"

#include <date/date.h>

#include <algorithm>
#include <cstdio>

namespace crmsync::sim {
namespace iiko_provider {

using std::chrono::seconds;

constexpr int64_t kTokenSeconds = 3600;  // "The standard token lifetime is 1 hour."

struct Product {
  const char* name;
  int64_t price;  // kopecks
};

const std::vector<Product> kProducts = {
    {"Сыр Бри", 45000},  {"Хамон Серрано 100 г", 68000}, {"Круассан", 18500},
    {"Капучино", 22000}, {"Паста карбонара", 56000},     {"Устрицы", 39050},
    {"Багет", 12000},    {"Вино Шабли 0,75", 289000},
};
const std::vector<Product> kModifiers = {{"Двойной шот", 6000}, {"Овсяное молоко", 5050}};
const std::vector<std::string> kNames = {"Анна", "Мария", "Дмитрий", "Елена", "Игорь", "Ольга"};
const std::vector<std::string> kOrgNames = {"Лисичкино", "Лисичкино Парк", "Лисичкино Сити"};
const std::vector<int> kOrgOffsets = {3, 5, 3};

struct Item {
  const Product* product;
  int amount;
  std::optional<const Product*> modifier;
  bool deleted;
};

// How the guest is known: phone on the order, phone only on the customer, loyalty card, nobody.
enum class Guest { order_phone, customer_phone, card, none };

struct Order {
  std::string id;
  size_t org;
  int64_t number;
  SimTime created;
  SimTime complete_before;  // the delivery date
  std::vector<Item> items;
  int64_t discount;   // kopecks
  int64_t sum_delta;  // kopecks added to `sum` (a sum that does not add up)
  Guest guest;
  std::string phone;
  std::string card;
  std::string customer_name;
  std::string status;
  std::optional<SimTime> closed;
  std::optional<SimTime> cancelled;
  std::optional<std::pair<SimTime, std::string>> pending;  // a later status change
  int64_t revision;
  SimTime changed;
};

struct Organization {
  std::string id;
  std::string name;
  int offset_hours;
  Json webhooks;             // {webHooksUri, authToken}
  int webhooks_updates = 0;  // update_settings calls that changed this organization
};

std::string uuid(Rng& rng) {
  char text[40];
  std::snprintf(text, sizeof text, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
                static_cast<unsigned long long>(rng.next() & 0xffffffff),
                static_cast<unsigned long long>(rng.next() & 0xffff),
                static_cast<unsigned long long>(rng.next() & 0xfff),
                static_cast<unsigned long long>(rng.next() & 0xfff),
                static_cast<unsigned long long>(rng.next() & 0xffffffffffffULL));
  return text;
}

double money(int64_t kopecks) {
  return static_cast<double>(kopecks) / 100.0;
}

// "yyyy-MM-dd HH:mm:ss.fff" of t at offset hours (0: UTC).
std::string iiko_time(SimTime t, int offset_hours) {
  return local_text(t, offset_hours) + ".000";
}

int64_t item_cost(const Item& item) {
  return item.product->price * item.amount;
}

int64_t modifier_cost(const Item& item) {
  return item.modifier ? (*item.modifier)->price * item.amount : 0;
}

class Iiko final : public Provider {
 public:
  std::string name() const override { return "iiko"; }

  void add_flags(CLI::App& app) override {
    app.add_option("--iiko-api-login", api_login_, "iiko API login")->capture_default_str();
    app.add_flag(
        "--iiko-no-revision", no_revision_,
        "the API login lacks the 'Orders: receiving by revision' group (by_revision: 403)");
  }

  void generate(const DataOptions& options) override;
  void routes(Routes& routes) override;
  void advance(SimTime from, SimTime to) override;
  Result<Json> add_records(const Json& params, SimTime now) override;
  Result<Json> webhook_payload(const Json& params) override;
  Json state() const override;

  Reply error(int status, const std::string& message) const override {
    return Reply::json(status, {{"correlationId", "48fb4cd3-2ef6-4479-bea1-7c92721b988c"},
                                {"errorDescription", message},
                                {"error", status == 401 ? "UNAUTHORIZED" : "BAD_REQUEST"}});
  }

 private:
  Order make_order(size_t org, Rng& rng, SimTime created);
  Json render(const Order& order, bool table) const;
  std::optional<Reply> check(const SimRequest& request) const;
  std::optional<Reply> organizations_of(const Json& body, std::vector<size_t>& out) const;
  Reply ok(Json body) const {
    Json out = {{"correlationId", "48fb4cd3-2ef6-4479-bea1-7c92721b988c"}};
    for (auto& [key, value] : body.items()) out[key] = value;
    return Reply::json(200, out);
  }
  Json grouped(const std::vector<size_t>& orgs,
               const std::function<bool(const Order&)>& keep) const;
  void set_status(Order& order, const std::string& status, SimTime at);

  std::string api_login_ = "iiko-login-secret";
  bool no_revision_ = false;
  DataOptions options_;
  std::vector<Organization> orgs_;
  std::vector<Order> orders_;
  std::map<std::string, SimTime> tokens_;  // token → expiry (simulated time)
  int64_t tokens_issued_ = 0;
  int64_t next_revision_ = 0;
  int64_t next_number_ = 1;
  uint64_t created_so_far_ = 0;
  SimTime now_{};
};

Order Iiko::make_order(size_t org, Rng& rng, SimTime created) {
  Order o{};
  o.id = uuid(rng);
  o.org = org;
  o.number = next_number_++;
  o.created = created;
  o.complete_before = created + seconds(rng.between(1800, 5400));
  const int lines = static_cast<int>(rng.between(1, 4));
  for (int i = 0; i < lines; ++i) {
    Item item{&rng.pick(kProducts), static_cast<int>(rng.between(1, 3)), std::nullopt, false};
    if (rng.chance(0.3)) item.modifier = &rng.pick(kModifiers);
    item.deleted = lines > 1 && rng.chance(0.1);
    o.items.push_back(item);
  }
  int64_t total = 0;
  for (const Item& item : o.items) {
    if (!item.deleted) total += item_cost(item) + modifier_cost(item);
  }
  o.discount = rng.chance(0.2) ? total / 10 : 0;
  const uint64_t kind = rng.below(10);
  o.guest = kind < 5   ? Guest::order_phone
            : kind < 7 ? Guest::customer_phone
            : kind < 9 ? Guest::card
                       : Guest::none;
  char phone[16];
  std::snprintf(phone, sizeof phone, "%s9%09llu", rng.chance(0.5) ? "+7" : "8",
                static_cast<unsigned long long>(rng.below(1'000'000'000)));
  o.phone = phone;
  o.card = std::to_string(4400000 + rng.below(100000));
  o.customer_name = rng.pick(kNames);
  o.status = "Unconfirmed";
  o.revision = ++next_revision_;
  o.changed = created;
  return o;
}

void Iiko::set_status(Order& order, const std::string& status, SimTime at) {
  order.status = status;
  if (status == "Closed") order.closed = at;
  if (status == "Cancelled") order.cancelled = at;
  order.revision = ++next_revision_;
  order.changed = at;
}

void Iiko::generate(const DataOptions& options) {
  options_ = options;
  orgs_.clear();
  orders_.clear();
  tokens_.clear();
  tokens_issued_ = 0;
  next_revision_ = 0;
  next_number_ = 1;
  created_so_far_ = 0;
  now_ = options.start;
  for (int i = 0; i < options.companies; ++i) {
    Rng rng(mix_seed(options.seed, 0x11c0, static_cast<uint64_t>(i)));
    Organization org;
    // The first organization has the fixtures' id.
    org.id = i == 0 ? "7bc05553-4b68-44e8-b7bc-37be63c6d9e9" : uuid(rng);
    org.name = i < static_cast<int>(kOrgNames.size()) ? kOrgNames[static_cast<size_t>(i)]
                                                      : "Лисичкино " + std::to_string(i + 1);
    org.offset_hours = kOrgOffsets[static_cast<size_t>(i) % kOrgOffsets.size()];
    org.webhooks = {{"webHooksUri", ""}, {"authToken", nullptr}};
    orgs_.push_back(std::move(org));
  }
  const int64_t span = static_cast<int64_t>(options.history_days) * 86400;
  for (size_t i = 0; i < orgs_.size(); ++i) {
    Rng rng(mix_seed(options.seed, 0x0d3, i));
    std::vector<int64_t> offsets;
    for (int k = 0; k < options.records; ++k) offsets.push_back(rng.between(0, span - 1));
    std::sort(offsets.begin(), offsets.end());
    for (int64_t off : offsets) {
      Order o = make_order(i, rng, options.start - seconds(span) + seconds(off));
      const SimTime done = o.complete_before + seconds(rng.between(-600, 1800));
      if (rng.chance(options.deleted_share + options.no_show_share)) {
        set_status(o, "Cancelled", std::min(done, options.start));
      } else if (done > options.start) {
        set_status(o, "OnWay", options.start);
        o.pending = {done, "Closed"};
      } else {
        set_status(o, "Closed", done);
      }
      orders_.push_back(std::move(o));
    }
  }
}

void Iiko::advance(SimTime from, SimTime to) {
  now_ = to;
  // Pending transitions in time order, so revisions follow the clock.
  std::vector<Order*> due;
  for (auto& o : orders_) {
    if (o.pending && o.pending->first > from && o.pending->first <= to) due.push_back(&o);
  }
  std::sort(due.begin(), due.end(),
            [](const Order* a, const Order* b) { return a->pending->first < b->pending->first; });
  for (Order* o : due) {
    const auto [at, status] = *o->pending;
    o->pending.reset();
    set_status(*o, status, at);
  }
  // New orders: new_per_hour per organization, the n-th at start + n / rate.
  if (options_.new_per_hour <= 0 || orgs_.empty()) return;
  const double period = 3600.0 / (options_.new_per_hour * static_cast<double>(orgs_.size()));
  for (;;) {
    const SimTime at =
        options_.start +
        seconds(static_cast<int64_t>(period * static_cast<double>(created_so_far_ + 1)));
    if (at > to) break;
    if (at > from) {
      Rng rng(mix_seed(options_.seed, 0x9e4, created_so_far_));
      Order o = make_order(created_so_far_ % orgs_.size(), rng, at);
      set_status(o, "Closed", at);
      orders_.push_back(std::move(o));
    }
    ++created_so_far_;
  }
}

Result<Json> Iiko::add_records(const Json& params, SimTime now) {
  const size_t org = params.value("organization", 0u);
  if (org >= orgs_.size())
    return fail(CRMSYNC_E_NOT_FOUND, "no organization " + std::to_string(org));
  const int count = params.value("count", 1);
  if (count < 1 || count > 10000)
    return fail(CRMSYNC_E_INVALID_INPUT, "count must be within 1..10000");
  const std::string status = params.value("status", "Closed");
  if (status != "Closed" && status != "Cancelled" && status != "OnWay") {
    return fail(CRMSYNC_E_INVALID_INPUT, "status must be Closed, Cancelled or OnWay");
  }
  const std::string guest = params.value("guest", "order_phone");
  static const std::map<std::string, Guest> kGuests = {{"order_phone", Guest::order_phone},
                                                       {"customer_phone", Guest::customer_phone},
                                                       {"card", Guest::card},
                                                       {"none", Guest::none}};
  if (!kGuests.count(guest)) {
    return fail(CRMSYNC_E_INVALID_INPUT, "guest must be order_phone, customer_phone, card or none");
  }
  const int64_t close_after = params.value("close_after", int64_t{0});
  const int64_t cancel_after = params.value("cancel_after", int64_t{0});
  Rng rng(mix_seed(options_.seed, 0xadd, static_cast<uint64_t>(next_number_)));
  Json ids = Json::array();
  for (int k = 0; k < count; ++k) {
    Order o = make_order(org, rng, now - seconds(3600));
    o.complete_before = now;
    o.guest = kGuests.at(guest);
    o.sum_delta = params.value("sum_delta", int64_t{0});
    set_status(o, status, now);
    if (close_after > 0) o.pending = {now + seconds(close_after), "Closed"};
    if (cancel_after > 0) o.pending = {now + seconds(cancel_after), "Cancelled"};
    ids.push_back(o.id);
    orders_.push_back(std::move(o));
  }
  return Json{{"ids", ids}};
}

Json Iiko::render(const Order& o, bool table) const {
  const Organization& org = orgs_[o.org];
  const int off = org.offset_hours;
  auto when = [&](const std::optional<SimTime>& t) {
    return t ? Json(iiko_time(*t, off)) : Json(nullptr);
  };
  Rng rng(mix_seed(options_.seed, 0x17e, static_cast<uint64_t>(o.number)));
  Json items = Json::array();
  int64_t total = 0;
  for (const Item& item : o.items) {
    Json modifiers = Json::array();
    if (item.modifier) {
      modifiers.push_back({{"product", {{"id", uuid(rng)}, {"name", (*item.modifier)->name}}},
                           {"amount", item.amount},
                           {"amountIndependentOfParentAmount", false},
                           {"productGroup", nullptr},
                           {"price", money((*item.modifier)->price)},
                           {"pricePredefined", true},
                           {"resultSum", money(modifier_cost(item))},
                           {"deleted", nullptr},
                           {"positionId", uuid(rng)},
                           {"defaultAmount", 0},
                           {"hideIfDefaultAmount", false},
                           {"taxPercent", 20.0}});
    }
    Json deleted = nullptr;
    if (item.deleted) {
      deleted = {{"deletionMethod",
                  {{"id", "1"},
                   {"comment", "гость передумал"},
                   {"removalType", {{"id", uuid(rng)}, {"name", "Без списания"}}}}}};
    } else {
      total += item_cost(item) + modifier_cost(item);
    }
    items.push_back({{"product", {{"id", uuid(rng)}, {"name", item.product->name}}},
                     {"modifiers", modifiers},
                     {"price", money(item.product->price)},
                     {"cost", money(item_cost(item))},
                     {"pricePredefined", true},
                     {"positionId", uuid(rng)},
                     {"taxPercent", 20.0},
                     {"type", "Product"},
                     {"status", item.deleted ? "Deleted" : "Added"},
                     {"deleted", deleted},
                     {"amount", item.amount},
                     {"comment", nullptr},
                     {"whenPrinted", iiko_time(o.created, off)},
                     {"size", nullptr},
                     {"comboInformation", nullptr}});
  }
  const int64_t sum = total - o.discount + o.sum_delta;
  Json customer = nullptr;
  if (o.guest != Guest::none) {
    customer = {{"id", uuid(rng)},
                {"name", o.customer_name},
                {"surname", nullptr},
                {"comment", nullptr},
                {"gender", "NotSpecified"},
                {"inBlacklist", false},
                {"blacklistReason", nullptr},
                {"birthdate", nullptr}};
    if (o.guest == Guest::customer_phone) customer["phone"] = o.phone;
    if (o.guest == Guest::card) customer["cardNumber"] = o.card;
  }
  Json discounts = Json::array();
  if (o.discount > 0) {
    discounts.push_back({{"discountType", {{"id", uuid(rng)}, {"name", "Скидка 10%"}}},
                         {"sum", money(o.discount)},
                         {"selectivePositions", nullptr}});
  }
  Json payments = Json::array();
  if (o.status == "Closed") {
    payments.push_back(
        {{"paymentType", {{"id", uuid(rng)}, {"name", "Банковская карта"}, {"kind", "Card"}}},
         {"sum", money(sum)},
         {"isPreliminary", false},
         {"isExternal", false},
         {"isProcessedExternally", false},
         {"isFiscalizedExternally", false}});
  }
  std::string status = o.status;
  if (table) status = o.status == "Closed" ? "Closed" : o.status == "Cancelled" ? "Deleted" : "New";
  Json order = {{"parentDeliveryId", nullptr},
                {"customer", customer},
                {"phone", o.guest == Guest::order_phone ? Json(o.phone) : Json(nullptr)},
                {"status", status}};
  if (!table) {
    order["cancelInfo"] = o.cancelled
                              ? Json{{"whenCancelled", iiko_time(*o.cancelled, off)},
                                     {"cause", {{"id", uuid(rng)}, {"name", "Отказ гостя"}}},
                                     {"comment", nullptr}}
                              : Json(nullptr);
    order["completeBefore"] = iiko_time(o.complete_before, off);
  }
  order["whenCreated"] = iiko_time(o.created, off);
  order["comment"] = nullptr;
  order["isDeleted"] = false;
  order["sum"] = money(sum);
  order["number"] = o.number;
  order["sourceKey"] = nullptr;
  order["whenClosed"] = when(o.closed);
  order["items"] = items;
  order["payments"] = payments;
  order["discounts"] = discounts;
  if (table) order["tableIds"] = Json::array({uuid(rng)});
  order["terminalGroupId"] = "4fab19a5-203c-4bf5-94eb-f572aa8b117b";
  order["processedPaymentsSum"] = o.status == "Closed" ? money(sum) : 0.0;
  Json info = {{"id", o.id}};
  if (table) info["posId"] = uuid(rng);
  info["organizationId"] = org.id;
  info["timestamp"] = (o.changed.time_since_epoch() / seconds(1)) * 1000;
  info["creationStatus"] = "Success";
  info["errorInfo"] = nullptr;
  info["order"] = order;
  return info;
}

std::optional<Reply> Iiko::check(const SimRequest& request) const {
  const std::string authorization = request.header("authorization");
  if (!authorization.starts_with("Bearer ")) return error(401, "Authorization header is missing");
  const auto it = tokens_.find(authorization.substr(7));
  if (it == tokens_.end()) return error(401, "Token is not valid");
  if (it->second <= now_) return error(401, "Token is expired");
  return std::nullopt;
}

// Reads organizationIds of a request body: every id must be known.
std::optional<Reply> Iiko::organizations_of(const Json& body, std::vector<size_t>& out) const {
  if (!body.is_object() || !body.contains("organizationIds") ||
      !body["organizationIds"].is_array()) {
    return error(400, "organizationIds is required");
  }
  for (const Json& id : body["organizationIds"]) {
    const auto it =
        std::find_if(orgs_.begin(), orgs_.end(), [&](const Organization& o) { return id == o.id; });
    if (it == orgs_.end()) return error(400, "Unknown organization " + id.dump());
    out.push_back(static_cast<size_t>(it - orgs_.begin()));
  }
  return std::nullopt;
}

Json Iiko::grouped(const std::vector<size_t>& orgs,
                   const std::function<bool(const Order&)>& keep) const {
  Json groups = Json::array();
  for (size_t org : orgs) {
    Json orders = Json::array();
    for (const Order& o : orders_) {
      if (o.org == org && keep(o)) orders.push_back(render(o, false));
    }
    groups.push_back({{"organizationId", orgs_[org].id}, {"orders", orders}});
  }
  return groups;
}

Result<Json> Iiko::webhook_payload(const Json& params) {
  const bool table = params.value("type", "delivery") == "table";
  const bool batch = params.value("batch", false);
  std::vector<const Order*> chosen;
  if (params.contains("order_ids")) {
    for (const Json& id : params["order_ids"]) {
      const auto it =
          std::find_if(orders_.begin(), orders_.end(), [&](const Order& o) { return id == o.id; });
      if (it == orders_.end()) return fail(CRMSYNC_E_NOT_FOUND, "no order " + id.dump());
      chosen.push_back(&*it);
    }
  } else {
    const size_t count = params.value("count", 1u);
    for (auto it = orders_.rbegin(); it != orders_.rend() && chosen.size() < count; ++it) {
      chosen.insert(chosen.begin(), &*it);
    }
    if (count == 0 || chosen.size() < count) {
      return fail(CRMSYNC_E_INVALID_INPUT, "count must be within 1..number of orders");
    }
  }
  Json events = Json::array();
  for (const Order* o : chosen) {
    events.push_back({{"eventType", table ? "TableOrderUpdate" : "DeliveryOrderUpdate"},
                      {"eventTime", iiko_time(o->changed, 0)},
                      {"organizationId", orgs_[o->org].id},
                      {"correlationId", "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
                      {"eventInfo", render(*o, table)}});
  }
  Json body = events.size() == 1 && !batch ? events[0] : events;
  // iikoCloud sends the authToken registered for the organization in the Authorization header.
  const Json& token = orgs_[chosen.front()->org].webhooks["authToken"];
  if (!token.is_string()) return body;
  return Json{{"content_type", "application/json"},
              {"body", body.dump()},
              {"headers", {{"Authorization", token}}}};
}

Json Iiko::state() const {
  Json orgs = Json::array();
  for (const Organization& org : orgs_) {
    orgs.push_back({{"id", org.id},
                    {"name", org.name},
                    {"offset_hours", org.offset_hours},
                    {"webhooks", org.webhooks},
                    {"webhooks_updates", org.webhooks_updates}});
  }
  Json statuses = Json::object();
  for (const Order& o : orders_) statuses[o.status] = statuses.value(o.status, 0) + 1;
  return {{"organizations", orgs},
          {"orders", orders_.size()},
          {"statuses", statuses},
          {"revision", next_revision_},
          {"tokens_issued", tokens_issued_}};
}

void Iiko::routes(Routes& routes) {
  routes.add("POST", "/api/1/access_token", "access_token", [this](const SimRequest& request) {
    const auto body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("apiLogin")) {
      return error(400, "apiLogin is required");
    }
    if (body["apiLogin"] != api_login_) return error(401, "Login is not authorized");
    const std::string token = "iiko-token-" + std::to_string(++tokens_issued_);
    tokens_[token] = now_ + seconds(kTokenSeconds);
    return ok({{"token", token}});
  });

  routes.add("POST", "/api/1/organizations", "organizations", [this](const SimRequest& request) {
    if (auto denied = check(request)) return *denied;
    const auto body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return error(400, "Request body is not JSON");
    const Json& wanted = body.contains("organizationIds") ? body["organizationIds"] : Json();
    Json list = Json::array();
    for (const Organization& org : orgs_) {
      if (wanted.is_array() &&
          std::find(wanted.begin(), wanted.end(), Json(org.id)) == wanted.end()) {
        continue;
      }
      list.push_back({{"responseType", "Simple"}, {"id", org.id}, {"name", org.name}});
    }
    return ok({{"organizations", list}});
  });

  routes.add(
      "POST", "/api/1/deliveries/by_revision", "by_revision", [this](const SimRequest& request) {
        if (auto denied = check(request)) return *denied;
        if (no_revision_) {
          return error(403, "Restriction group 'Orders: receiving by revision' is not allowed");
        }
        const auto body = Json::parse(request.body, nullptr, false);
        std::vector<size_t> orgs;
        if (auto bad = organizations_of(body, orgs)) return *bad;
        if (!body.contains("startRevision") || !body["startRevision"].is_number_integer()) {
          return error(400, "startRevision is required");
        }
        const int64_t start = body["startRevision"].get<int64_t>();
        Json groups = grouped(orgs, [&](const Order& o) { return o.revision > start; });
        if (request.empty_page) {
          for (Json& group : groups) group["orders"] = Json::array();
        }
        return ok({{"maxRevision", next_revision_}, {"ordersByOrganizations", groups}});
      });

  routes.add("POST", "/api/1/deliveries/by_delivery_date_and_status", "by_delivery_date_and_status",
             [this](const SimRequest& request) {
               if (auto denied = check(request)) return *denied;
               const auto body = Json::parse(request.body, nullptr, false);
               std::vector<size_t> orgs;
               if (auto bad = organizations_of(body, orgs)) return *bad;
               if (!body.contains("deliveryDateFrom") || !body["deliveryDateFrom"].is_string()) {
                 return error(400, "deliveryDateFrom is required");
               }
               const std::string from_text = body["deliveryDateFrom"];
               const std::string to_text = body.value("deliveryDateTo", Json()).is_string()
                                               ? body["deliveryDateTo"].get<std::string>()
                                               : std::string();
               Json statuses = body.value("statuses", Json());
               Json groups = Json::array();
               for (size_t org : orgs) {
                 const int off = orgs_[org].offset_hours;
                 const auto from = parse_time(from_text, off);
                 const auto to = to_text.empty() ? std::optional<SimTime>(SimTime::max())
                                                 : parse_time(to_text, off);
                 if (!from || !to || from_text.size() != 23 ||
                     (!to_text.empty() && to_text.size() != 23)) {
                   return error(400, "Dates must be yyyy-MM-dd HH:mm:ss.fff");
                 }
                 Json orders = Json::array();
                 for (const Order& o : orders_) {
                   if (o.org != org || o.complete_before < *from || o.complete_before > *to)
                     continue;
                   if (statuses.is_array() && std::find(statuses.begin(), statuses.end(),
                                                        Json(o.status)) == statuses.end()) {
                     continue;
                   }
                   if (!request.empty_page) orders.push_back(render(o, false));
                 }
                 groups.push_back({{"organizationId", orgs_[org].id}, {"orders", orders}});
               }
               return ok({{"ordersByOrganizations", groups}});
             });

  routes.add("POST", "/api/1/deliveries/by_id", "by_id", [this](const SimRequest& request) {
    if (auto denied = check(request)) return *denied;
    const auto body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("orderIds")) {
      return error(400, "organizationId and orderIds are required");
    }
    Json orders = Json::array();
    for (const Order& o : orders_) {
      if (body.value("organizationId", "") == orgs_[o.org].id &&
          std::find(body["orderIds"].begin(), body["orderIds"].end(), Json(o.id)) !=
              body["orderIds"].end()) {
        orders.push_back(render(o, false));
      }
    }
    return ok({{"orders", orders}});
  });

  routes.add("POST", "/api/1/webhooks/settings", "webhooks_settings",
             [this](const SimRequest& request) {
               if (auto denied = check(request)) return *denied;
               const auto body = Json::parse(request.body, nullptr, false);
               for (const Organization& org : orgs_) {
                 if (body.is_object() && body.value("organizationId", "") == org.id) {
                   return ok({{"apiLoginName", "crmsync"},
                              {"webHooksUri", org.webhooks["webHooksUri"]},
                              {"authToken", org.webhooks["authToken"]},
                              {"webHooksFilter", nullptr}});
                 }
               }
               return error(400, "Unknown organizationId");
             });

  routes.add("POST", "/api/1/webhooks/update_settings", "webhooks_update_settings",
             [this](const SimRequest& request) {
               if (auto denied = check(request)) return *denied;
               const auto body = Json::parse(request.body, nullptr, false);
               if (body.is_discarded() || !body.is_object() || !body.contains("webHooksUri") ||
                   !body["webHooksUri"].is_string()) {
                 return error(400, "organizationId and webHooksUri are required");
               }
               for (Organization& org : orgs_) {
                 if (body.value("organizationId", "") == org.id) {
                   org.webhooks = {{"webHooksUri", body["webHooksUri"]},
                                   {"authToken", body.value("authToken", Json())}};
                   ++org.webhooks_updates;
                   return ok(Json::object());
                 }
               }
               return error(400, "Unknown organizationId");
             });
}

}  // namespace iiko_provider

std::unique_ptr<Provider> make_iiko() {
  return std::make_unique<iiko_provider::Iiko>();
}

}  // namespace crmsync::sim
