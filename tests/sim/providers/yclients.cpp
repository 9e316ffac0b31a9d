// Simulated YCLIENTS (API v1), shaped like the samples in fixtures/yclients: companies, partner
// and user authentication, records with paging and filters, hooks settings, loyalty cards and
// their manual transactions, and webhook bodies.
#include "../sim.h"

#include <date/date.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace crmsync::sim {
namespace yclients_provider {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t kFirstCompanyId = 4564;
constexpr int kMaxCount = 200;  // YCLIENTS caps `count` of list endpoints at 200
constexpr int kDefaultCount = 50;

struct Service {
  int64_t id;
  const char* title;
  double price;
};

const std::vector<Service> kServices = {
    {1, "Наращивание волос", 4500}, {331, "Стрижка у ТОП-мастера", 2500},
    {333, "Окрашивание", 5200.5},   {340, "Маникюр", 1800},
    {341, "Педикюр", 2300},         {350, "Укладка", 1499.5},
    {360, "Массаж лица", 3100},     {370, "Коррекция бровей", 900},
};
const std::vector<std::string> kFirstNames = {"Анна",  "Мария",  "Ольга", "Дмитрий", "Елена",
                                              "Игорь", "Сергей", "Ирина", "Наталья", "lx"};
const std::vector<std::string> kLastNames = {"Иванова",  "Смирнова", "Кузнецова", "Попов",
                                             "Соколова", "Лебедев",  "Новикова",  "Морозова"};
const std::vector<std::string> kTitles = {"Миндаль", "Лисичкино", "Барбершоп Борода",
                                          "Студия Лотос", "Салон Жасмин"};

struct Staff {
  int64_t id;
  std::string name;
  std::string specialization;
};

struct Client {
  int64_t id;
  std::string name;
  std::string phone;  // 11 digits, "7..."
  std::string email;
  std::string card;  // "" or a card number
};

struct Line {
  const Service* service;
  int discount;  // percent
  int amount;
};

struct Good {
  int64_t id;
  int64_t good_id;
  std::string title;
  double cost;
};

struct Record {
  int64_t id;
  size_t company;
  size_t staff;
  std::optional<size_t> client;
  std::vector<Line> services;
  std::vector<Good> goods;
  SimTime at;       // the visit
  SimTime created;  // create_date
  SimTime changed;  // last_change_date
  int attendance;   // -1 no-show, 0 waiting, 1 came, 2 confirmed
  bool paid_full;
  bool deleted;
  bool flags_as_ints;  // deleted/prepaid as 0/1 (as in visit responses) instead of booleans
  int phone_style;     // 0 "+7...", 1 "7...", 2 a JSON number
  std::string comment;
  bool online;
};

struct Card {
  int64_t id;
  size_t company;
  size_t client;
  std::string number;
  int64_t balance_kopecks;
  Json operations = Json::array();
};

struct Company {
  int64_t id;
  std::string title;
  int offset_hours;
  std::string zone;
  int64_t group_id;
  std::vector<Staff> staff;
  std::vector<Client> clients;
  Json hooks;
  uint64_t created_so_far = 0;  // records made after start, for deterministic seeds
};

double money(int64_t kopecks) {
  return static_cast<double>(kopecks) / 100.0;
}

double line_cost(const Line& line) {
  return std::round(line.service->price * line.amount * (100 - line.discount)) / 100.0;
}

Json default_hooks() {
  return {{"urls", Json::array()},
          {"active", 0},
          {"salon", 0},
          {"service_category", 0},
          {"service", 0},
          {"good", 0},
          {"master", 0},
          {"client", 0},
          {"record", 0},
          {"goods_operations_sale", 0},
          {"goods_operations_receipt", 0},
          {"goods_operations_consumable", 0},
          {"goods_operations_stolen", 0},
          {"goods_operations_move", 0},
          {"finances_operation", 0}};
}

class Yclients final : public Provider {
 public:
  std::string name() const override { return "yclients"; }

  void add_flags(CLI::App& app) override {
    app.add_option("--yclients-partner-token", partner_token_, "YCLIENTS partner token")
        ->capture_default_str();
    app.add_option("--yclients-user-token", user_token_, "YCLIENTS user token /auth hands out")
        ->capture_default_str();
    app.add_option("--yclients-login", login_, "YCLIENTS user login")->capture_default_str();
    app.add_option("--yclients-password", password_, "YCLIENTS user password")
        ->capture_default_str();
    app.add_flag("--yclients-lenient-accept", lenient_accept_,
                 "accept requests without Accept: application/vnd.yclients.v2+json");
  }

  void generate(const DataOptions& options) override;
  void routes(Routes& routes) override;
  void advance(SimTime from, SimTime to) override;
  Result<Json> add_records(const Json& params, SimTime now) override;
  Result<Json> webhook_payload(const Json& params) override;
  Json state() const override;

  Reply error(int status, const std::string& message) const override {
    return Reply::json(status,
                       {{"success", false}, {"data", nullptr}, {"meta", {{"message", message}}}});
  }

 private:
  Record make_record(size_t company, Rng& rng, SimTime at, SimTime created, SimTime changed,
                     bool may_be_unfinished);
  Json render(const Record& record) const;
  Json render_card(const Card& card) const;
  // nullopt when authorised; otherwise the error reply.
  std::optional<Reply> check(const SimRequest& request, bool needs_user) const;
  std::optional<size_t> company_index(const std::string& id) const;
  Reply ok(const Json& data, const Json& meta = Json::array()) const {
    return Reply::json(200, {{"success", true}, {"data", data}, {"meta", meta}});
  }
  Reply list_records(const SimRequest& request);
  Reply manual_transaction(const SimRequest& request);

  std::string partner_token_ = "partner-secret";
  std::string user_token_ = "user-secret";
  std::string login_ = "admin@mindal.example";
  std::string password_ = "password";
  bool lenient_accept_ = false;
  DataOptions options_;
  std::vector<Company> companies_;
  std::vector<Record> records_;  // ids ascending
  std::vector<Card> cards_;
  int64_t next_record_id_ = 1;
};

Record Yclients::make_record(size_t company, Rng& rng, SimTime at, SimTime created, SimTime changed,
                             bool may_be_unfinished) {
  const Company& c = companies_[company];
  Record r{};
  r.id = next_record_id_++;
  r.company = company;
  r.staff = rng.below(c.staff.size());
  if (!rng.chance(0.1)) r.client = rng.below(c.clients.size());  // walk-ins have no client
  const int lines = static_cast<int>(rng.between(1, 3));
  for (int i = 0; i < lines; ++i) {
    static const std::vector<int> kDiscounts = {0, 0, 0, 0, 10, 50};
    r.services.push_back({&rng.pick(kServices), rng.pick(kDiscounts), 1});
  }
  if (rng.chance(0.15)) {
    r.goods.push_back({r.id * 10 + 1, 4853000 + rng.between(1, 50), "Шампунь 250 мл",
                       static_cast<double>(rng.between(3, 30) * 50)});
  }
  r.at = at;
  r.created = created;
  r.changed = changed;
  r.deleted = rng.chance(options_.deleted_share);
  if (rng.chance(options_.no_show_share)) {
    r.attendance = -1;
    r.paid_full = false;
  } else if (may_be_unfinished && rng.chance(options_.unpaid_share)) {
    static const std::vector<int> kUnfinished = {0, 1, 2};  // 1 here: came, not paid in full
    r.attendance = rng.pick(kUnfinished);
    r.paid_full = false;
  } else {
    r.attendance = 1;
    r.paid_full = true;
  }
  r.flags_as_ints = rng.chance(0.3);
  r.phone_style = static_cast<int>(rng.below(3));
  static const std::vector<std::string> kComments = {"", "", "не записывать", "перезвонить"};
  r.comment = rng.pick(kComments);
  r.online = rng.chance(0.4);
  return r;
}

void Yclients::generate(const DataOptions& options) {
  options_ = options;
  companies_.clear();
  records_.clear();
  cards_.clear();
  next_record_id_ = 1;
  static const std::vector<std::pair<int, const char*>> kZones = {{3, "Europe/Moscow"},
                                                                  {9, "Asia/Yakutsk"},
                                                                  {5, "Asia/Yekaterinburg"},
                                                                  {7, "Asia/Novosibirsk"}};
  for (int i = 0; i < options.companies; ++i) {
    Rng rng(mix_seed(options.seed, 0x9c11e47, static_cast<uint64_t>(i)));
    Company c;
    c.id = kFirstCompanyId + i;
    c.title = i < static_cast<int>(kTitles.size()) ? kTitles[static_cast<size_t>(i)]
                                                   : "Салон " + std::to_string(i + 1);
    c.offset_hours = kZones[static_cast<size_t>(i) % kZones.size()].first;
    c.zone = kZones[static_cast<size_t>(i) % kZones.size()].second;
    c.group_id = 145000 + i;
    c.hooks = default_hooks();
    static const std::vector<std::string> kSpecs = {"стилист", "наращивание волос",
                                                    "мастер маникюра", "косметолог"};
    for (int s = 0; s < 4; ++s) {
      c.staff.push_back(
          {9 + s * 40 + i * 1000, rng.pick(kFirstNames), kSpecs[static_cast<size_t>(s)]});
    }
    const int clients = std::max(5, options.records / 3);
    for (int k = 0; k < clients; ++k) {
      Client client;
      client.id = 18936825 + i * 100000 + k;
      client.name = rng.pick(kFirstNames) + " " + rng.pick(kLastNames);
      char phone[16];
      std::snprintf(phone, sizeof phone, "79%09llu",
                    static_cast<unsigned long long>(rng.below(1'000'000'000)));
      client.phone = phone;
      client.email = rng.chance(0.5) ? "client" + std::to_string(client.id) + "@example.com" : "";
      if (rng.chance(0.6)) {
        client.card = std::to_string(c.group_id) + std::to_string(100000 + k);
        cards_.push_back({static_cast<int64_t>(9210520 + cards_.size()), static_cast<size_t>(i),
                          static_cast<size_t>(k), client.card, rng.between(0, 2000) * 100});
      }
      c.clients.push_back(std::move(client));
    }
    companies_.push_back(std::move(c));
  }
  // Initial history, spread over history_days before start, in visit order.
  for (size_t i = 0; i < companies_.size(); ++i) {
    Rng rng(mix_seed(options.seed, 0x4ec0, i));
    const int64_t span = static_cast<int64_t>(options.history_days) * 86400;
    std::vector<int64_t> offsets;
    for (int k = 0; k < options.records; ++k) offsets.push_back(rng.between(0, span - 1));
    std::sort(offsets.begin(), offsets.end());
    for (int64_t off : offsets) {
      const SimTime at = options.start - seconds(span) + seconds(off);
      const SimTime created = at - seconds(rng.between(3600, 7 * 86400));
      const SimTime changed = std::min(options.start, at + seconds(rng.between(600, 7200)));
      records_.push_back(make_record(i, rng, at, created, changed, true));
    }
  }
  std::sort(records_.begin(), records_.end(),
            [](const Record& a, const Record& b) { return a.id < b.id; });
}

void Yclients::advance(SimTime from, SimTime to) {
  // Each company gains new_per_hour records per simulated hour; the n-th new record of a
  // company appears at start + n / rate, so the result does not depend on how time was advanced.
  if (options_.new_per_hour <= 0) return;
  const double period = 3600.0 / options_.new_per_hour;
  for (size_t i = 0; i < companies_.size(); ++i) {
    Company& c = companies_[i];
    for (;;) {
      const SimTime due =
          options_.start + seconds(static_cast<int64_t>(
                               std::ceil(period * static_cast<double>(c.created_so_far + 1))));
      if (due > to) break;
      if (due > from) {
        Rng rng(mix_seed(options_.seed, 0x9e3 + i, c.created_so_far));
        const SimTime at = due - seconds(rng.between(0, 3600));
        records_.push_back(
            make_record(i, rng, at, at - seconds(rng.between(3600, 86400)), due, true));
      }
      ++c.created_so_far;
    }
  }
}

Result<Json> Yclients::add_records(const Json& params, SimTime now) {
  // {"record_ids", "attendance"}: an admin edits existing records (the visit happened, or not).
  if (params.contains("record_ids")) {
    if (!params.contains("attendance") || !params["attendance"].is_number_integer()) {
      return fail(CRMSYNC_E_INVALID_INPUT, "editing records needs an integer \"attendance\"");
    }
    Json ids = Json::array();
    for (const auto& id : params["record_ids"]) {
      if (!id.is_number_integer()) return fail(CRMSYNC_E_INVALID_INPUT, "record_ids: integers");
      const auto it = std::lower_bound(records_.begin(), records_.end(), id.get<int64_t>(),
                                       [](const Record& r, int64_t want) { return r.id < want; });
      if (it == records_.end() || it->id != id.get<int64_t>()) {
        return fail(CRMSYNC_E_NOT_FOUND, "no record " + id.dump());
      }
      it->attendance = params["attendance"].get<int>();
      it->changed = now;
      ids.push_back(it->id);
    }
    return Json{{"ids", ids}};
  }
  const int64_t company_id = params.value("company_id", kFirstCompanyId);
  const auto index = company_index(std::to_string(company_id));
  if (!index) return fail(CRMSYNC_E_NOT_FOUND, "no company " + std::to_string(company_id));
  const int count = params.value("count", 1);
  if (count < 1 || count > 10000) {
    return fail(CRMSYNC_E_INVALID_INPUT, "count must be within 1..10000");
  }
  const bool paid = params.value("paid", true);
  Rng rng(mix_seed(options_.seed, 0xadd, static_cast<uint64_t>(next_record_id_)));
  Json ids = Json::array();
  for (int k = 0; k < count; ++k) {
    Record r = make_record(*index, rng, now, now - hours(1), now, !paid);
    if (paid) {
      r.attendance = 1;
      r.paid_full = true;
      r.deleted = false;
    }
    ids.push_back(r.id);
    records_.push_back(std::move(r));
  }
  return Json{{"ids", ids}};
}

Result<Json> Yclients::webhook_payload(const Json& params) {
  const std::string status = params.value("status", "create");
  const bool batch = params.value("batch", false);
  std::vector<const Record*> chosen;
  if (params.contains("record_ids")) {
    for (const auto& id : params["record_ids"]) {
      if (!id.is_number_integer()) return fail(CRMSYNC_E_INVALID_INPUT, "record_ids: integers");
      const auto it = std::lower_bound(records_.begin(), records_.end(), id.get<int64_t>(),
                                       [](const Record& r, int64_t want) { return r.id < want; });
      if (it == records_.end() || it->id != id.get<int64_t>()) {
        return fail(CRMSYNC_E_NOT_FOUND, "no record " + id.dump());
      }
      chosen.push_back(&*it);
    }
  } else {
    // The latest `count` records, of one company when company_id is given.
    std::optional<size_t> company;
    if (params.contains("company_id")) {
      const auto& id = params["company_id"];
      company = company_index(id.is_string() ? id.get<std::string>() : id.dump());
      if (!company) return fail(CRMSYNC_E_NOT_FOUND, "no company " + params["company_id"].dump());
    }
    const size_t count = params.value("count", 1u);
    for (auto it = records_.rbegin(); it != records_.rend() && chosen.size() < count; ++it) {
      if (!company || it->company == *company) chosen.insert(chosen.begin(), &*it);
    }
    if (count == 0 || chosen.size() < count) {
      return fail(CRMSYNC_E_INVALID_INPUT, "count must be within 1..number of records");
    }
  }
  Json events = Json::array();
  for (const Record* r : chosen) {
    events.push_back({{"company_id", companies_[r->company].id},
                      {"resource", "record"},
                      {"resource_id", r->id},
                      {"status", status},
                      {"data", render(*r)}});
  }
  if (events.size() == 1 && !batch) return events[0];
  return events;
}

Json Yclients::state() const {
  Json companies = Json::array();
  for (const auto& c : companies_) {
    const auto records = std::count_if(records_.begin(), records_.end(), [&](const Record& r) {
      return companies_[r.company].id == c.id;
    });
    companies.push_back({{"id", c.id},
                         {"title", c.title},
                         {"group_id", c.group_id},
                         {"records", records},
                         {"hooks_settings", c.hooks}});
  }
  Json cards = Json::array();
  for (const auto& card : cards_) {
    cards.push_back({{"id", card.id},
                     {"company_id", companies_[card.company].id},
                     {"phone", companies_[card.company].clients[card.client].phone},
                     {"number", card.number},
                     {"balance", money(card.balance_kopecks)},
                     {"operations", card.operations}});
  }
  return {{"companies", companies},
          {"cards", cards},
          {"records", records_.size()},
          {"last_record_id", records_.empty() ? Json(nullptr) : Json(records_.back().id)},
          {"user_token", user_token_}};
}

std::optional<size_t> Yclients::company_index(const std::string& id) const {
  for (size_t i = 0; i < companies_.size(); ++i) {
    if (std::to_string(companies_[i].id) == id) return i;
  }
  return std::nullopt;
}

std::optional<Reply> Yclients::check(const SimRequest& request, bool needs_user) const {
  const std::string accept = request.header("accept");
  if (!lenient_accept_ && accept.find("application/vnd.yclients.v2+json") == std::string::npos) {
    return error(400, "Accept: application/vnd.yclients.v2+json is required");
  }
  // "Bearer <partner>" or "Bearer <partner>, User <user>".
  const std::string auth = request.header("authorization");
  std::string partner, user;
  if (auth.starts_with("Bearer ")) {
    const size_t comma = auth.find(',');
    partner = auth.substr(7, comma == std::string::npos ? std::string::npos : comma - 7);
    while (!partner.empty() && partner.back() == ' ') partner.pop_back();
    if (comma != std::string::npos) {
      std::string rest = auth.substr(comma + 1);
      while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
      if (rest.starts_with("User ")) user = rest.substr(5);
    }
  }
  if (partner.empty()) return error(401, "Authentication needed.");
  if (partner != partner_token_) return error(401, "Partner authentication failed.");
  if (needs_user && user != user_token_) return error(401, "User authentication failed.");
  return std::nullopt;
}

Json Yclients::render(const Record& r) const {
  const Company& c = companies_[r.company];
  const Staff& staff = c.staff[r.staff];
  Json services = Json::array();
  double total = 0;
  for (const auto& line : r.services) {
    const double cost = line_cost(line);
    total += cost;
    services.push_back({{"id", line.service->id},
                        {"title", line.service->title},
                        {"cost", cost},
                        {"manual_cost", cost},
                        {"cost_per_unit", line.service->price},
                        {"discount", line.discount},
                        {"first_cost", line.service->price * line.amount},
                        {"amount", line.amount}});
  }
  Json goods = Json::array();
  for (const auto& g : r.goods) {
    total += g.cost;
    goods.push_back({{"id", g.id},
                     {"good_id", g.good_id},
                     {"title", g.title},
                     {"amount", 1},
                     {"cost_per_unit", g.cost},
                     {"discount", 0},
                     {"cost", g.cost}});
  }
  Json client = nullptr;
  Json phone = nullptr;
  if (r.client) {
    const Client& cl = c.clients[*r.client];
    phone = r.phone_style == 0   ? Json("+" + cl.phone)
            : r.phone_style == 1 ? Json(cl.phone)
                                 : Json(std::stoll(cl.phone));
    client = {{"id", cl.id},
              {"name", cl.name},
              {"phone", phone},
              {"card", cl.card},
              {"email", cl.email},
              {"success_visits_count", 1 + cl.id % 40},
              {"fail_visits_count", cl.id % 4}};
  }
  const int64_t length = 3600 * static_cast<int64_t>(r.services.size());
  Json finance = Json::array();
  if (r.paid_full) {
    finance.push_back({{"id", 6024000 + r.id},
                       {"document_id", 8174000 + r.id},
                       {"date", local_text(r.changed, c.offset_hours)},
                       {"type_id", 5},
                       {"expense_id", 5},
                       {"account_id", 90459},
                       {"amount", total},
                       {"client_id", client.is_null() ? Json(0) : client["id"]},
                       {"master_id", 0},
                       {"supplier_id", 0},
                       {"comment", ""},
                       {"item_id", r.services.front().service->id},
                       {"target_type_id", 1},
                       {"record_id", r.id},
                       {"goods_transaction_id", 0},
                       {"expense", {{"id", 5}, {"title", "Оказание услуг"}}},
                       {"account", {{"id", 90459}, {"title", "Основная касса"}}},
                       {"client", client.is_null() ? Json::array()
                                                   : Json{{"id", client["id"]},
                                                          {"name", client["name"]},
                                                          {"phone", client["phone"]}}},
                       {"master", Json::array()},
                       {"supplier", Json::array()}});
  }
  auto flag = [&](bool value) { return r.flags_as_ints ? Json(value ? 1 : 0) : Json(value); };
  const std::string visit_id = std::to_string(8262000 + r.id);
  return {{"id", r.id},
          {"company_id", c.id},
          {"staff_id", staff.id},
          {"services", services},
          {"goods_transactions", goods},
          {"staff",
           {{"id", staff.id},
            {"api_id", nullptr},
            {"name", staff.name},
            {"specialization", staff.specialization},
            {"position", {{"id", 1}, {"title", "Администратор"}}},
            {"avatar", "http://yclients.com/images/no-master-sm.png"},
            {"avatar_big", "http://yclients.com/images/no-master.png"},
            {"rating", 0},
            {"votes_count", 0}}},
          {"client", client},
          {"clients_count", 1},
          {"date", local_text(r.at, c.offset_hours)},
          {"datetime",
           date::format("%FT%T", r.at + hours(c.offset_hours)) + offset_text(c.offset_hours, true)},
          {"create_date", date::format("%FT%T", r.created + hours(c.offset_hours)) +
                              offset_text(c.offset_hours, false)},
          {"comment", r.comment},
          {"online", r.online},
          {"visit_attendance", r.attendance},
          {"attendance", r.attendance},
          {"confirmed", 1},
          {"seance_length", length},
          {"length", length},
          {"sms_before", 0},
          {"sms_now", 0},
          {"sms_now_text", ""},
          {"email_now", 0},
          {"notified", 0},
          {"master_request", 0},
          {"api_id", ""},
          {"from_url", ""},
          {"review_requested", 0},
          {"visit_id", visit_id},
          {"created_user_id", 1073232},
          {"deleted", flag(r.deleted)},
          {"paid_full", r.paid_full ? 1 : 0},
          {"prepaid", flag(false)},
          {"prepaid_confirmed", flag(false)},
          {"last_change_date", date::format("%FT%T", r.changed + hours(c.offset_hours)) +
                                   offset_text(c.offset_hours, false)},
          {"custom_color", ""},
          {"custom_font_color", ""},
          {"record_labels", Json::array()},
          {"activity_id", 0},
          {"custom_fields", Json::object()},
          {"documents", Json::array({{{"id", 8172000 + r.id},
                                      {"type_id", 7},
                                      {"storage_id", 0},
                                      {"user_id", 746310},
                                      {"company_id", c.id},
                                      {"number", 4000 + r.id},
                                      {"comment", ""},
                                      {"date_created", local_text(r.created, c.offset_hours)},
                                      {"category_id", 0},
                                      {"visit_id", 8262000 + r.id},
                                      {"record_id", r.id},
                                      {"type_title", "Визит"}}})},
          {"consumables", Json::array()},
          {"finance_transactions", finance}};
}

Json Yclients::render_card(const Card& card) const {
  const Company& c = companies_[card.company];
  return {{"id", card.id},
          {"balance", money(card.balance_kopecks)},
          {"points", 0},
          {"paid_amount", 0},
          {"sold_amount", 0},
          {"visits_count", card.operations.size()},
          {"number", card.number},
          {"type_id", 10992},
          {"salon_group_id", c.group_id},
          {"type", {{"id", 10992}, {"title", "Бонусная карта"}, {"salon_group_id", c.group_id}}},
          {"salon_group", {{"id", c.group_id}, {"title", c.title}}},
          {"programs", Json::array({{{"id", 18005},
                                     {"title", "Кэшбэк 5%"},
                                     {"value", 0},
                                     {"loyalty_type_id", 11},
                                     {"item_type_id", 3},
                                     {"value_unit_id", 1},
                                     {"group_id", c.group_id},
                                     {"loyalty_type",
                                      {{"id", 11},
                                       {"title", "Кэшбэк"},
                                       {"is_discount", false},
                                       {"is_cashback", true},
                                       {"is_static", true},
                                       {"is_accumulative", false}}},
                                     {"rules", Json::array({{{"id", 72803},
                                                             {"loyalty_program_id", 18005},
                                                             {"loyalty_type_id", 11},
                                                             {"value", 5},
                                                             {"parameter", 0}}})}}})}};
}

Reply Yclients::list_records(const SimRequest& request) {
  if (auto denied = check(request, true)) return *denied;
  const auto index = company_index(request.params.at("company_id"));
  if (!index) return error(404, "Компания не найдена");
  const int offset = companies_[*index].offset_hours;
  auto page = request.int_param("page", 1);
  const auto count = request.int_param("count", kDefaultCount);
  if (!page || !count) return error(400, "page and count must be positive integers");
  std::optional<SimTime> changed_after, changed_before, start, end;
  for (auto [name, target] :
       {std::pair{"changed_after", &changed_after}, std::pair{"changed_before", &changed_before},
        std::pair{"start_date", &start}, std::pair{"end_date", &end}}) {
    const auto it = request.query.find(name);
    if (it == request.query.end() || it->second.empty()) continue;
    *target = parse_time(it->second, offset);
    if (!*target) return error(400, std::string("Неверный формат параметра ") + name);
  }
  if (request.repeat_page && *page > 1) --*page;
  const int64_t per_page = std::min<int64_t>(*count, kMaxCount);
  std::vector<const Record*> matched;
  for (const auto& r : records_) {
    if (r.company != *index) continue;
    if (changed_after && r.changed < *changed_after) continue;
    if (changed_before && r.changed > *changed_before) continue;
    // start_date/end_date compare the visit's local calendar day.
    const SimTime local_day = std::chrono::floor<date::days>(r.at + hours(offset)) - hours(offset);
    if (start &&
        local_day < std::chrono::floor<date::days>(*start + hours(offset)) - hours(offset)) {
      continue;
    }
    if (end && local_day > std::chrono::floor<date::days>(*end + hours(offset)) - hours(offset)) {
      continue;
    }
    matched.push_back(&r);
  }
  Json data = Json::array();
  const size_t first = static_cast<size_t>((*page - 1) * per_page);
  for (size_t k = first; !request.empty_page && k < matched.size() && k < first + per_page; ++k) {
    data.push_back(render(*matched[k]));
  }
  return ok(data, {{"page", *page}, {"total_count", matched.size()}});
}

Reply Yclients::manual_transaction(const SimRequest& request) {
  if (auto denied = check(request, true)) return *denied;
  const auto body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("amount") ||
      !body["amount"].is_number()) {
    return error(422, "Поле amount обязательно");
  }
  const double amount = body["amount"].get<double>();
  const auto kopecks = static_cast<int64_t>(std::llround(amount * 100));
  if (kopecks == 0) return error(422, "Сумма операции не может быть нулевой");
  const std::string card_id = request.params.at("card_id");
  for (auto& card : cards_) {
    if (std::to_string(card.id) != card_id) continue;
    const Company& c = companies_[card.company];
    const auto scope = request.params.find("company_id");
    if (scope != request.params.end()
            ? scope->second != std::to_string(c.id)
            : request.params.at("chain_id") != std::to_string(c.group_id)) {
      return error(404, "Карта не найдена");
    }
    if (card.balance_kopecks + kopecks < 0) return error(422, "Недостаточно средств на карте");
    card.balance_kopecks += kopecks;
    card.operations.push_back({{"amount", amount}, {"title", body.value("title", "")}});
    return ok(render_card(card));
  }
  return error(404, "Карта не найдена");
}

void Yclients::routes(Routes& routes) {
  routes.add("GET", "/api/v1/company/{id}", "company", [this](const SimRequest& request) {
    if (auto denied = check(request, false)) return *denied;
    const auto index = company_index(request.params.at("id"));
    if (!index) return error(404, "Компания не найдена");
    const Company& c = companies_[*index];
    return ok({{"id", c.id},
               {"title", c.title},
               {"public_title", c.title},
               {"short_descr", "Салон красоты"},
               {"country_id", 1},
               {"country", "Россия"},
               {"city_id", 2},
               {"city", "Москва"},
               {"timezone", c.offset_hours},
               {"timezone_name", c.zone},
               {"address", "ул. Примерная, 1"},
               {"phone", "+7 495 000-00-00"},
               {"currency_short_title", "₽"},
               {"main_group_id", c.group_id},
               {"active", 1}});
  });

  routes.add("POST", "/api/v1/auth", "auth", [this](const SimRequest& request) {
    if (auto denied = check(request, false)) return *denied;
    const auto body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("login") ||
        !body.contains("password")) {
      return error(400, "Необходимо передать login и password");
    }
    if (body["login"] != login_ || body["password"] != password_) {
      return error(401, "Неверный логин или пароль");
    }
    return ok({{"id", 1073232},
               {"user_token", user_token_},
               {"name", "Администратор"},
               {"phone", "79000000000"},
               {"login", login_},
               {"email", login_},
               {"avatar", "https://assets.yclients.com/general/0/01/123.png"},
               {"is_approved", true}});
  });

  routes.add("GET", "/api/v1/records/{company_id}", "records",
             [this](const SimRequest& request) { return list_records(request); });

  routes.add("GET", "/api/v1/record/{company_id}/{record_id}", "record",
             [this](const SimRequest& request) {
               if (auto denied = check(request, true)) return *denied;
               for (const auto& r : records_) {
                 if (std::to_string(r.id) == request.params.at("record_id") &&
                     std::to_string(companies_[r.company].id) == request.params.at("company_id")) {
                   return ok(render(r));
                 }
               }
               return error(404, "Запись не найдена");
             });

  auto hooks = [this](const SimRequest& request) {
    if (auto denied = check(request, true)) return *denied;
    const auto index = company_index(request.params.at("company_id"));
    if (!index) return error(404, "Компания не найдена");
    Json& settings = companies_[*index].hooks;
    if (request.method == "POST") {
      const auto body = Json::parse(request.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) return error(400, "Неверный JSON");
      for (const auto& [key, value] : body.items()) {
        if (!settings.contains(key)) return error(422, "Неизвестное поле " + key);
        if (key == "urls" ? !value.is_array() : !value.is_number_integer()) {
          return error(422, "Неверное значение поля " + key);
        }
        settings[key] = value;
      }
    }
    return ok(settings);
  };
  routes.add("GET", "/api/v1/hooks_settings/{company_id}", "hooks_settings", hooks);
  routes.add("POST", "/api/v1/hooks_settings/{company_id}", "hooks_settings", hooks);

  routes.add("GET", "/api/v1/loyalty/cards/{phone}/{group_id}/{company_id}", "loyalty_cards",
             [this](const SimRequest& request) {
               if (auto denied = check(request, true)) return *denied;
               const auto index = company_index(request.params.at("company_id"));
               if (!index) return error(404, "Компания не найдена");
               std::string digits;
               for (char ch : request.params.at("phone")) {
                 if (std::isdigit(static_cast<unsigned char>(ch))) digits += ch;
               }
               const Company& c = companies_[*index];
               Json data = Json::array();
               if (request.params.at("group_id") == std::to_string(c.group_id)) {
                 for (const auto& card : cards_) {
                   if (card.company == *index && c.clients[card.client].phone == digits) {
                     data.push_back(render_card(card));
                   }
                 }
               }
               return ok(data);
             });

  routes.add("POST", "/api/v1/company/{company_id}/loyalty/cards/{card_id}/manual_transaction",
             "loyalty_transaction",
             [this](const SimRequest& request) { return manual_transaction(request); });
  routes.add("POST", "/api/v1/chain/{chain_id}/loyalty/cards/{card_id}/manual_transaction",
             "loyalty_transaction",
             [this](const SimRequest& request) { return manual_transaction(request); });
}

}  // namespace yclients_provider

std::unique_ptr<Provider> make_yclients() {
  return std::make_unique<yclients_provider::Yclients>();
}

}  // namespace crmsync::sim
