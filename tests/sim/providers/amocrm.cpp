// Simulated amoCRM (API v4), shaped like the samples in fixtures/amocrm: the OAuth token endpoint
// with short-lived access tokens and single-use rotating refresh tokens, the account, leads with
// HAL paging, filters and HTTP 204 for empty pages, contacts with PHONE fields, pipelines with
// their statuses, the webhooks API, and form-encoded webhook bodies like the captured ones.
#include "../sim.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace crmsync::sim {
namespace amocrm_provider {

using std::chrono::seconds;

constexpr int64_t kAccountId = 30551812;
constexpr int64_t kMainPipeline = 3177727;
constexpr int64_t kRepeatPipeline = 3177800;
constexpr int64_t kWon = 142;
constexpr int64_t kLost = 143;
constexpr int64_t kAmountField = 586715;  // "Сумма оплаты", numeric custom field of leads
constexpr int64_t kCommentField = 586717;  // "Комментарий", multi-line text field of leads
constexpr int kMaxLimit = 250;             // amoCRM caps `limit` at 250
constexpr int kDefaultLimit = 50;

struct Status {
  int64_t id;
  const char* name;
  int sort;
  const char* color;
  int type;
};

const std::vector<Status> kMainStatuses = {
    {32392156, "Неразобранное", 10, "#c1c1c1", 1},
    {32392159, "Первичный контакт", 20, "#99ccff", 0},
    {32392165, "Принимают решение", 30, "#ffcc66", 0},
    {kWon, "Успешно реализовано", 10000, "#CCFF66", 0},
    {kLost, "Закрыто и не реализовано", 11000, "#D5D8DB", 0}};
const std::vector<Status> kRepeatStatuses = {
    {32392200, "Новая заявка", 10, "#99ccff", 0},
    {kWon, "Успешно реализовано", 10000, "#CCFF66", 0},
    {kLost, "Закрыто и не реализовано", 11000, "#D5D8DB", 0}};
const std::vector<std::string> kLeadNames = {"Абонемент на месяц", "Разовое посещение",
                                             "Годовой абонемент", "Персональная тренировка",
                                             "Сделка для примера"};
const std::vector<int64_t> kPrices = {1500, 2500, 4500, 12000, 46333, 655};
const std::vector<std::string> kFirstNames = {"Иван", "Мария", "Ольга", "Дмитрий", "Елена"};
const std::vector<std::string> kLastNames = {"Иванов", "Смирнова", "Кузнецова", "Попов"};
const std::vector<std::string> kComments = {"", "Позвонить после 18:00",
                                            "Оплата картой\nЧек отправлен на почту",
                                            "Скидка 10% «Друг»\r\nпо промокоду СТИМ"};

struct Contact {
  int64_t id;
  std::string name;
  std::vector<std::string> phones;  // as staff typed them
  SimTime created;
};

struct Lead {
  int64_t id;
  std::string name;
  int64_t price;
  int64_t status_id;
  int64_t pipeline_id;
  std::vector<std::pair<size_t, bool>> contacts;  // (contact index, is_main)
  std::string comment;
  bool deleted;
  SimTime created;
  SimTime updated;
  std::optional<SimTime> closed;
};

struct Webhook {
  int64_t id;
  std::string destination;
  Json settings;
  int64_t sort;
  SimTime created;
};

int64_t unix(SimTime t) {
  return t.time_since_epoch().count();
}

// Percent-decodes a query component ("+" as a space) with libcurl.
std::string decode(std::string_view text) {
  std::string plus_as_space(text);
  std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
  int length = 0;
  char* decoded = curl_easy_unescape(nullptr, plus_as_space.c_str(),
                                     static_cast<int>(plus_as_space.size()), &length);
  std::string out(decoded, static_cast<size_t>(length));
  curl_free(decoded);
  return out;
}

// Percent-encodes a form component the way amoCRM's webhook client does ("+" for spaces).
std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The query of a target with repeated keys kept (filter[id][]=1&filter[id][]=2).
std::multimap<std::string, std::string> query_of(const std::string& target) {
  std::multimap<std::string, std::string> out;
  const size_t q = target.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    out.emplace(decode(pair.substr(0, eq)),
                eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1)));
  }
  return out;
}

// The integer values of key and key[] (amoCRM takes both); nullopt when one is not an integer.
std::optional<std::set<int64_t>> id_filter(const std::multimap<std::string, std::string>& query,
                                           const std::string& key) {
  std::set<int64_t> out;
  for (const std::string& name : {key, key + "[]"}) {
    const auto [first, last] = query.equal_range(name);
    for (auto it = first; it != last; ++it) {
      if (it->second.empty() || it->second.find_first_not_of("0123456789") != std::string::npos ||
          it->second.size() > 18) {
        return std::nullopt;
      }
      out.insert(std::stoll(it->second));
    }
  }
  return out;
}

class Amocrm final : public Provider {
 public:
  std::string name() const override { return "amocrm"; }

  void add_flags(CLI::App& app) override {
    app.add_option("--amocrm-client-id", client_id_, "amoCRM integration id")
        ->capture_default_str();
    app.add_option("--amocrm-client-secret", client_secret_, "amoCRM integration secret")
        ->capture_default_str();
    app.add_option("--amocrm-redirect-uri", redirect_uri_, "amoCRM integration redirect URI")
        ->capture_default_str();
    app.add_option("--amocrm-code", code_, "amoCRM authorization code (single-use)")
        ->capture_default_str();
    app.add_option("--amocrm-refresh-token", initial_refresh_,
                   "a refresh token valid at start (single-use)")
        ->capture_default_str();
    app.add_option("--amocrm-token-ttl", token_ttl_, "access token lifetime, simulated seconds")
        ->capture_default_str();
  }

  void generate(const DataOptions& options) override;
  void routes(Routes& routes) override;
  void advance(SimTime from, SimTime to) override;
  Result<Json> add_records(const Json& params, SimTime now) override;
  Result<Json> webhook_payload(const Json& params) override;
  Json state() const override;

  // amoCRM's problem JSON.
  Reply error(int status, const std::string& message) const override {
    Reply reply = Reply::json(status, {{"title", status == 401   ? "Unauthorized"
                                                 : status == 404 ? "Not Found"
                                                 : status == 400 ? "Bad Request"
                                                                 : "Error"},
                                       {"type", "https://httpstatus.es/" + std::to_string(status)},
                                       {"status", status},
                                       {"detail", message}});
    reply.content_type = "application/problem+json";
    return reply;
  }

 private:
  Lead make_lead(Rng& rng, SimTime created, SimTime updated, bool may_be_open);
  Json render_lead(const Lead& lead, bool with_contacts, const std::string& base) const;
  Json render_contact(size_t index, const std::string& base) const;
  // nullopt when the bearer token is valid now; otherwise the 401 reply.
  std::optional<Reply> check(const SimRequest& request) const;
  // "http://<host>/amocrm": the origin and prefix HAL links name, as the client reached us.
  static std::string base_of(const SimRequest& request) {
    return "http://" + request.header("host") + "/amocrm";
  }
  const Lead* find_lead(int64_t id) const;
  Reply token(const SimRequest& request);
  Reply list_leads(const SimRequest& request);
  Reply list_contacts(const SimRequest& request);
  Reply webhooks(const SimRequest& request);
  Json render_webhook(const Webhook& webhook) const;
  // A HAL list answer: _page, _links (self, next, first, prev) and _embedded.<name>.
  static Json hal_page(const std::string& base, const std::string& path,
                       const std::multimap<std::string, std::string>& query, int64_t page,
                       bool has_next, const std::string& name, Json items);

  std::string client_id_ = "stim-client";
  std::string client_secret_ = "stim-secret";
  std::string redirect_uri_ = "https://crm.example.com/oauth/amocrm";
  std::string code_ = "stim-code";
  std::string initial_refresh_ = "stim-refresh-0";
  int64_t token_ttl_ = 86400;
  DataOptions options_;
  SimTime now_{};  // the latest simulated time seen (advance / add_records)
  std::vector<Contact> contacts_;
  std::vector<Lead> leads_;  // ids ascending
  std::vector<Webhook> webhooks_;
  std::set<std::string> refresh_tokens_;          // valid, unused refresh tokens
  std::map<std::string, SimTime> access_tokens_;  // token → expiry
  bool code_used_ = false;
  int64_t tokens_issued_ = 0;
  int64_t refresh_grants_ = 0;
  int64_t refused_grants_ = 0;
  int64_t next_lead_id_ = 3912171;
  int64_t next_webhook_id_ = 1;
  uint64_t created_so_far_ = 0;
};

Lead Amocrm::make_lead(Rng& rng, SimTime created, SimTime updated, bool may_be_open) {
  Lead lead{};
  lead.id = next_lead_id_++;
  lead.name = rng.pick(kLeadNames);
  lead.price = rng.pick(kPrices);
  lead.pipeline_id = rng.chance(0.8) ? kMainPipeline : kRepeatPipeline;
  const auto& statuses = lead.pipeline_id == kMainPipeline ? kMainStatuses : kRepeatStatuses;
  if (rng.chance(options_.no_show_share)) {
    lead.status_id = kLost;
  } else if (may_be_open && rng.chance(options_.unpaid_share)) {
    lead.status_id = statuses[rng.below(statuses.size() - 2)].id;
  } else {
    lead.status_id = kWon;
  }
  lead.deleted = rng.chance(options_.deleted_share);
  if (!rng.chance(0.05)) {
    const size_t main = rng.below(contacts_.size());
    if (rng.chance(0.15)) lead.contacts.emplace_back(rng.below(contacts_.size()), false);
    lead.contacts.emplace_back(main, true);
  }
  lead.comment = rng.pick(kComments);
  lead.created = created;
  lead.updated = updated;
  if (lead.status_id == kWon || lead.status_id == kLost) lead.closed = updated;
  return lead;
}

void Amocrm::generate(const DataOptions& options) {
  options_ = options;
  now_ = options.start;
  contacts_.clear();
  leads_.clear();
  webhooks_.clear();
  refresh_tokens_ = {initial_refresh_};
  access_tokens_.clear();
  code_used_ = false;
  tokens_issued_ = refresh_grants_ = refused_grants_ = 0;
  next_lead_id_ = 3912171;
  next_webhook_id_ = 1;
  created_so_far_ = 0;
  Rng rng(mix_seed(options.seed, 0xa30c4));
  const int contacts = std::max(5, options.records / 2);
  for (int k = 0; k < contacts; ++k) {
    Contact c;
    c.id = 10971465 + k;
    c.name = rng.pick(kFirstNames) + " " + rng.pick(kLastNames);
    c.created = options.start - seconds(rng.between(86400, 90 * 86400));
    if (!rng.chance(0.1)) {  // some contacts have no phone at all
      const auto n = static_cast<unsigned long long>(rng.below(10'000'000));
      char phone[40];
      static const std::vector<const char*> kFormats = {"+7916%07llu", "8916%07llu",
                                                        "+7 (916) %07llu", "7916%07llu"};
      std::snprintf(phone, sizeof phone, rng.pick(kFormats), n);
      c.phones.push_back(phone);
      if (rng.chance(0.2)) c.phones.push_back("+7495" + std::to_string(1000000 + k));
    }
    contacts_.push_back(std::move(c));
  }
  const int64_t span = static_cast<int64_t>(options.history_days) * 86400;
  std::vector<int64_t> offsets;
  for (int k = 0; k < options.records; ++k) offsets.push_back(rng.between(0, span - 1));
  std::sort(offsets.begin(), offsets.end());
  for (int64_t off : offsets) {
    const SimTime created = options.start - seconds(span) + seconds(off);
    const SimTime updated = std::min(options.start, created + seconds(rng.between(600, 86400)));
    leads_.push_back(make_lead(rng, created, updated, true));
  }
}

void Amocrm::advance(SimTime from, SimTime to) {
  // new_per_hour leads per simulated hour; the n-th appears at start + n / rate, so the result
  // does not depend on how time was advanced.
  now_ = std::max(now_, to);
  if (options_.new_per_hour <= 0) return;
  const double period = 3600.0 / options_.new_per_hour;
  for (;;) {
    const SimTime due =
        options_.start +
        seconds(static_cast<int64_t>(std::ceil(period * double(created_so_far_ + 1))));
    if (due > to) break;
    if (due > from) {
      Rng rng(mix_seed(options_.seed, 0xa30c5, created_so_far_));
      leads_.push_back(make_lead(rng, due - seconds(rng.between(600, 7200)), due, true));
    }
    ++created_so_far_;
  }
}

Result<Json> Amocrm::add_records(const Json& params, SimTime now) {
  now_ = std::max(now_, now);
  // {"lead_ids": [...], "status_id": N}: move existing leads to a status now.
  if (params.contains("lead_ids")) {
    if (!params.contains("status_id") || !params["status_id"].is_number_integer()) {
      return fail(CRMSYNC_E_INVALID_INPUT, "give status_id (integer) with lead_ids");
    }
    Json ids = Json::array();
    for (const auto& id : params["lead_ids"]) {
      if (!id.is_number_integer()) return fail(CRMSYNC_E_INVALID_INPUT, "lead_ids: integers");
      auto it = std::find_if(leads_.begin(), leads_.end(),
                             [&](const Lead& l) { return l.id == id.get<int64_t>(); });
      if (it == leads_.end()) return fail(CRMSYNC_E_NOT_FOUND, "no lead " + id.dump());
      it->status_id = params["status_id"].get<int64_t>();
      it->updated = now;
      it->closed =
          it->status_id == kWon || it->status_id == kLost ? std::optional(now) : std::nullopt;
      ids.push_back(it->id);
    }
    return Json{{"ids", ids}};
  }
  const int count = params.value("count", 1);
  if (count < 1 || count > 10000) return fail(CRMSYNC_E_INVALID_INPUT, "count within 1..10000");
  const bool paid = params.value("paid", true);
  Rng rng(mix_seed(options_.seed, 0xadd, static_cast<uint64_t>(next_lead_id_)));
  Json ids = Json::array();
  for (int k = 0; k < count; ++k) {
    Lead lead = make_lead(rng, now - seconds(3600), now, !paid);
    if (paid) {
      lead.status_id = kWon;
      lead.deleted = false;
      lead.closed = now;
      if (lead.contacts.empty()) lead.contacts.emplace_back(rng.below(contacts_.size()), true);
    }
    ids.push_back(lead.id);
    leads_.push_back(std::move(lead));
  }
  return Json{{"ids", ids}};
}

Result<Json> Amocrm::webhook_payload(const Json& params) {
  const std::string event = params.value("status", "status");
  static const std::set<std::string> kEvents = {"add", "update", "status", "delete"};
  if (!kEvents.count(event)) {
    return fail(CRMSYNC_E_INVALID_INPUT, "status must be add, update, status or delete");
  }
  std::vector<const Lead*> chosen;
  if (params.contains("record_ids")) {
    for (const auto& id : params["record_ids"]) {
      if (!id.is_number_integer()) return fail(CRMSYNC_E_INVALID_INPUT, "record_ids: integers");
      const Lead* lead = find_lead(id.get<int64_t>());
      if (!lead) return fail(CRMSYNC_E_NOT_FOUND, "no lead " + id.dump());
      chosen.push_back(lead);
    }
  } else {
    const size_t count = params.value("count", 1u);
    for (auto it = leads_.rbegin(); it != leads_.rend() && chosen.size() < count; ++it) {
      chosen.insert(chosen.begin(), &*it);
    }
    if (count == 0 || chosen.size() < count) {
      return fail(CRMSYNC_E_INVALID_INPUT, "count must be within 1..number of leads");
    }
  }
  // The field names and order of amoCRM's webhook client (the captured bodies), plus the
  // created_at/updated_at and account[id] that newer bodies carry.
  std::vector<std::pair<std::string, std::string>> fields;
  for (size_t n = 0; n < chosen.size(); ++n) {
    const Lead& l = *chosen[n];
    const std::string key = "leads[" + event + "][" + std::to_string(n) + "]";
    auto add = [&](const std::string& name, const std::string& value) {
      fields.emplace_back(key + name, value);
    };
    add("[id]", std::to_string(l.id));
    if (event != "delete") {
      add("[name]", l.name);
      add("[status_id]", std::to_string(l.status_id));
      if (event == "status") add("[old_status_id]", std::to_string(kMainStatuses[1].id));
      add("[price]", std::to_string(l.price));
      add("[responsible_user_id]", "938348");
      add("[last_modified]", std::to_string(unix(l.updated)));
      add("[modified_user_id]", "102525");
      add("[created_user_id]", "102525");
      add("[date_create]", std::to_string(unix(l.created)));
      add("[pipeline_id]", std::to_string(l.pipeline_id));
      add("[account_id]", std::to_string(kAccountId));
      if (!l.comment.empty()) {
        add("[custom_fields][0][id]", std::to_string(kCommentField));
        add("[custom_fields][0][name]", "Комментарий");
        add("[custom_fields][0][values][0][value]", l.comment);
      }
      add("[created_at]", std::to_string(unix(l.created)));
      add("[updated_at]", std::to_string(unix(l.updated)));
    } else {
      add("[status_id]", std::to_string(l.status_id));
      add("[pipeline_id]", std::to_string(l.pipeline_id));
    }
  }
  fields.emplace_back("account[subdomain]", "stimcentr");
  fields.emplace_back("account[id]", std::to_string(kAccountId));
  fields.emplace_back("account[_links][self]", "https://stimcentr.amocrm.ru");
  std::string body;
  for (const auto& [name, value] : fields) {
    body += (body.empty() ? "" : "&") + form_encode(name) + "=" + form_encode(value);
  }
  return Json{{"content_type", "application/x-www-form-urlencoded"},
              {"headers", {{"User-Agent", "amoCRM-WebHook-client/1.0"}}},
              {"body", body}};
}

Json Amocrm::state() const {
  Json hooks = Json::array();
  for (const auto& w : webhooks_) hooks.push_back(render_webhook(w));
  return {
      {"account", {{"id", kAccountId}, {"name", "Стим Центр"}, {"subdomain", "stimcentr"}}},
      {"leads", leads_.size()},
      {"last_lead_id", leads_.empty() ? Json(nullptr) : Json(leads_.back().id)},
      {"visible_leads",
       std::count_if(leads_.begin(), leads_.end(), [](const Lead& l) { return !l.deleted; })},
      {"won_leads", std::count_if(leads_.begin(), leads_.end(),
                                  [](const Lead& l) { return !l.deleted && l.status_id == kWon; })},
      {"code_used", code_used_},
      {"tokens_issued", tokens_issued_},
      {"refresh_grants", refresh_grants_},
      {"refused_grants", refused_grants_},
      {"valid_refresh_tokens",
       Json(std::vector<std::string>(refresh_tokens_.begin(), refresh_tokens_.end()))},
      {"webhooks", hooks}};
}

const Lead* Amocrm::find_lead(int64_t id) const {
  const auto it = std::lower_bound(leads_.begin(), leads_.end(), id,
                                   [](const Lead& l, int64_t want) { return l.id < want; });
  return it == leads_.end() || it->id != id ? nullptr : &*it;
}

std::optional<Reply> Amocrm::check(const SimRequest& request) const {
  const std::string auth = request.header("authorization");
  if (!auth.starts_with("Bearer ")) return error(401, "Необходима авторизация");
  const auto it = access_tokens_.find(auth.substr(7));
  if (it == access_tokens_.end() || it->second <= now_) {
    return error(401, "Неверный логин или пароль");
  }
  return std::nullopt;
}

Json Amocrm::render_contact(size_t index, const std::string& base) const {
  const Contact& c = contacts_[index];
  Json fields = nullptr;
  if (!c.phones.empty()) {
    Json values = Json::array();
    for (size_t i = 0; i < c.phones.size(); ++i) {
      values.push_back({{"value", c.phones[i]}, {"enum_id", 1 + i}, {"enum", i ? "HOME" : "WORK"}});
    }
    fields = Json::array({{{"field_id", 3},
                           {"field_name", "Телефон"},
                           {"field_code", "PHONE"},
                           {"field_type", "multitext"},
                           {"values", values}}});
  }
  const size_t space = c.name.find(' ');
  return {{"id", c.id},
          {"name", c.name},
          {"first_name", c.name.substr(0, space)},
          {"last_name", c.name.substr(space + 1)},
          {"responsible_user_id", 504141},
          {"group_id", 0},
          {"created_by", 504141},
          {"updated_by", 504141},
          {"created_at", unix(c.created)},
          {"updated_at", unix(c.created)},
          {"closest_task_at", nullptr},
          {"custom_fields_values", fields},
          {"account_id", kAccountId},
          {"_links", {{"self", {{"href", base + "/api/v4/contacts/" + std::to_string(c.id)}}}}},
          {"_embedded", {{"tags", Json::array()}, {"companies", Json::array()}}}};
}

Json Amocrm::render_lead(const Lead& l, bool with_contacts, const std::string& base) const {
  Json fields = Json::array();
  fields.push_back({{"field_id", kAmountField},
                    {"field_name", "Сумма оплаты"},
                    {"field_code", nullptr},
                    {"field_type", "numeric"},
                    {"values", Json::array({{{"value", std::to_string(l.price)}}})}});
  if (!l.comment.empty()) {
    fields.push_back({{"field_id", kCommentField},
                      {"field_name", "Комментарий"},
                      {"field_code", nullptr},
                      {"field_type", "textarea"},
                      {"values", Json::array({{{"value", l.comment}}})}});
  }
  Json embedded = {{"tags", Json::array()}, {"companies", Json::array()}};
  if (with_contacts) {
    Json contacts = Json::array();
    for (const auto& [index, is_main] : l.contacts) {
      const int64_t id = contacts_[index].id;
      contacts.push_back(
          {{"id", id},
           {"is_main", is_main},
           {"_links", {{"self", {{"href", base + "/api/v4/contacts/" + std::to_string(id)}}}}}});
    }
    embedded["contacts"] = contacts;
  }
  return {{"id", l.id},
          {"name", l.name},
          {"price", l.price},
          {"responsible_user_id", 504141},
          {"group_id", 0},
          {"status_id", l.status_id},
          {"pipeline_id", l.pipeline_id},
          {"loss_reason_id", l.status_id == kLost ? Json(4203748) : Json(nullptr)},
          {"source_id", nullptr},
          {"created_by", 504141},
          {"updated_by", 504141},
          {"created_at", unix(l.created)},
          {"updated_at", unix(l.updated)},
          {"closed_at", l.closed ? Json(unix(*l.closed)) : Json(nullptr)},
          {"closest_task_at", nullptr},
          {"is_deleted", false},
          {"custom_fields_values", fields},
          {"score", nullptr},
          {"account_id", kAccountId},
          {"is_price_modified_by_robot", false},
          {"_links", {{"self", {{"href", base + "/api/v4/leads/" + std::to_string(l.id)}}}}},
          {"_embedded", embedded}};
}

Json Amocrm::hal_page(const std::string& base, const std::string& path,
                      const std::multimap<std::string, std::string>& query, int64_t page,
                      bool has_next, const std::string& name, Json items) {
  auto href = [&](int64_t p) {
    std::string out = base + path + "?";
    bool first = true;
    for (const auto& [key, value] : query) {
      if (key == "page") continue;
      out += (first ? "" : "&") + form_encode(key) + "=" + form_encode(value);
      first = false;
    }
    return out + (first ? "" : "&") + "page=" + std::to_string(p);
  };
  Json links = {{"self", {{"href", href(page)}}}};
  if (has_next) links["next"] = {{"href", href(page + 1)}};
  links["first"] = {{"href", href(1)}};
  if (page > 1) links["prev"] = {{"href", href(page - 1)}};
  return {{"_page", page}, {"_links", links}, {"_embedded", {{name, std::move(items)}}}};
}

Reply Amocrm::token(const SimRequest& request) {
  Json body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded()) {  // amoCRM also takes form bodies
    body = Json::object();
    for (const auto& [key, value] : query_of("?" + request.body)) body[key] = value;
  }
  auto text = [&](const char* name) {
    return body.is_object() && body.contains(name) && body[name].is_string()
               ? body[name].get<std::string>()
               : std::string();
  };
  auto refuse = [&](const std::string& hint) {
    ++refused_grants_;
    Reply reply = Reply::json(
        400, {{"hint", hint},
              {"title", "Некорректный запрос"},
              {"type", "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"},
              {"status", 400},
              {"detail", "В запросе отсутствует ряд параметров или параметры невалидны"}});
    reply.content_type = "application/problem+json";
    return reply;
  };
  if (text("client_id") != client_id_ || text("client_secret") != client_secret_) {
    return refuse("Client authentication failed");
  }
  if (text("redirect_uri") != redirect_uri_) return refuse("Redirect URI mismatch");
  const std::string grant = text("grant_type");
  if (grant == "authorization_code") {
    if (text("code") != code_) return refuse("Cannot decrypt the authorization code");
    if (code_used_) return refuse("Authorization code has been revoked");
    code_used_ = true;
  } else if (grant == "refresh_token") {
    if (!refresh_tokens_.erase(text("refresh_token"))) return refuse("Token has been revoked");
    ++refresh_grants_;
  } else {
    return refuse("The authorization grant type is not supported by the authorization server.");
  }
  ++tokens_issued_;
  const std::string access = "amo-access-" + std::to_string(tokens_issued_);
  const std::string refresh = "amo-refresh-" + std::to_string(tokens_issued_);
  access_tokens_[access] = now_ + seconds(token_ttl_);
  refresh_tokens_.insert(refresh);
  return Reply::json(200, {{"token_type", "Bearer"},
                           {"expires_in", token_ttl_},
                           {"access_token", access},
                           {"refresh_token", refresh}});
}

Reply Amocrm::list_leads(const SimRequest& request) {
  if (auto denied = check(request)) return *denied;
  const auto query = query_of(request.target);
  auto page = request.int_param("page", 1);
  const auto limit = request.int_param("limit", kDefaultLimit);
  if (!page || !limit || *limit > kMaxLimit) {
    return error(400, "page must be positive, limit within 1..250");
  }
  std::optional<int64_t> from, to;
  for (auto [name, target] :
       {std::pair{"filter[updated_at][from]", &from}, std::pair{"filter[updated_at][to]", &to}}) {
    const auto it = query.find(name);
    if (it == query.end()) continue;
    if (it->second.empty() || it->second.find_first_not_of("0123456789") != std::string::npos) {
      return error(400, std::string("Неверное значение ") + name);
    }
    *target = std::stoll(it->second);
  }
  const auto ids = id_filter(query, "filter[id]");
  const auto pipelines = id_filter(query, "filter[pipeline_id]");
  if (!ids || !pipelines) return error(400, "Неверное значение фильтра");
  const bool with_contacts =
      request.query.count("with") && request.query.at("with").find("contacts") != std::string::npos;
  std::vector<const Lead*> matched;
  for (const auto& l : leads_) {
    if (l.deleted) continue;
    if (from && unix(l.updated) < *from) continue;
    if (to && unix(l.updated) > *to) continue;
    if (!ids->empty() && !ids->count(l.id)) continue;
    if (!pipelines->empty() && !pipelines->count(l.pipeline_id)) continue;
    matched.push_back(&l);
  }
  if (query.count("order[updated_at]")) {
    std::stable_sort(matched.begin(), matched.end(),
                     [](const Lead* a, const Lead* b) { return a->updated < b->updated; });
  }
  for (const char* key : {"order[id]", "order[updated_at]"}) {
    const auto it = query.find(key);
    if (it != query.end() && it->second == "desc") std::reverse(matched.begin(), matched.end());
  }
  if (request.repeat_page && *page > 1) --*page;
  const size_t first = static_cast<size_t>((*page - 1) * *limit);
  if (request.empty_page || first >= matched.size()) {
    Reply reply;
    reply.status = 204;
    reply.content_type.clear();
    return reply;
  }
  const std::string base = base_of(request);
  Json items = Json::array();
  for (size_t k = first; k < matched.size() && k < first + static_cast<size_t>(*limit); ++k) {
    items.push_back(render_lead(*matched[k], with_contacts, base));
  }
  const bool has_next = first + static_cast<size_t>(*limit) < matched.size();
  return Reply::json(200, hal_page(base, "/api/v4/leads", query, *page, has_next, "leads", items));
}

Reply Amocrm::list_contacts(const SimRequest& request) {
  if (auto denied = check(request)) return *denied;
  const auto query = query_of(request.target);
  const auto page = request.int_param("page", 1);
  const auto limit = request.int_param("limit", kDefaultLimit);
  if (!page || !limit || *limit > kMaxLimit) {
    return error(400, "page must be positive, limit within 1..250");
  }
  const auto ids = id_filter(query, "filter[id]");
  if (!ids) return error(400, "Неверное значение фильтра");
  std::vector<size_t> matched;
  for (size_t i = 0; i < contacts_.size(); ++i) {
    if (ids->empty() || ids->count(contacts_[i].id)) matched.push_back(i);
  }
  const size_t first = static_cast<size_t>((*page - 1) * *limit);
  if (first >= matched.size()) {
    Reply reply;
    reply.status = 204;
    reply.content_type.clear();
    return reply;
  }
  const std::string base = base_of(request);
  Json items = Json::array();
  for (size_t k = first; k < matched.size() && k < first + static_cast<size_t>(*limit); ++k) {
    items.push_back(render_contact(matched[k], base));
  }
  const bool has_next = first + static_cast<size_t>(*limit) < matched.size();
  return Reply::json(200,
                     hal_page(base, "/api/v4/contacts", query, *page, has_next, "contacts", items));
}

Json Amocrm::render_webhook(const Webhook& w) const {
  return {{"id", w.id},
          {"destination", w.destination},
          {"created_at", unix(w.created)},
          {"updated_at", unix(w.created)},
          {"account_id", kAccountId},
          {"created_by", 504141},
          {"sort", w.sort},
          {"disabled", false},
          {"settings", w.settings}};
}

Reply Amocrm::webhooks(const SimRequest& request) {
  if (auto denied = check(request)) return *denied;
  if (request.method == "GET") {
    Json items = Json::array();
    for (const auto& w : webhooks_) items.push_back(render_webhook(w));
    return Reply::json(200, {{"_total_items", items.size()}, {"_embedded", {{"webhooks", items}}}});
  }
  const Json body = Json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("destination") || !body["destination"].is_string() ||
      !body["destination"].get_ref<const std::string&>().starts_with("http")) {
    return error(400, "destination: нужен URL");
  }
  const std::string destination = body["destination"];
  auto it = std::find_if(webhooks_.begin(), webhooks_.end(),
                         [&](const Webhook& w) { return w.destination == destination; });
  if (request.method == "DELETE") {
    if (it != webhooks_.end()) webhooks_.erase(it);
    Reply reply;
    reply.status = 204;
    reply.content_type.clear();
    return reply;
  }
  const Json& settings = body.contains("settings") ? body["settings"] : Json();
  if (!settings.is_array() || settings.empty()) return error(400, "settings: нужен список событий");
  for (const auto& s : settings) {
    if (!s.is_string()) return error(400, "settings: нужен список событий");
  }
  const int64_t sort =
      body.contains("sort") && body["sort"].is_number_integer() ? body["sort"].get<int64_t>() : 1;
  if (it == webhooks_.end()) {  // one subscription per destination: a repeat updates it
    webhooks_.push_back({next_webhook_id_++, destination, settings, sort, now_});
    it = webhooks_.end() - 1;
  } else {
    it->settings = settings;
    it->sort = sort;
  }
  return Reply::json(201, render_webhook(*it));
}

void Amocrm::routes(Routes& routes) {
  routes.add("POST", "/oauth2/access_token", "oauth",
             [this](const SimRequest& request) { return token(request); });

  routes.add("GET", "/api/v4/account", "account", [this](const SimRequest& request) {
    if (auto denied = check(request)) return *denied;
    return Reply::json(200,
                       {{"id", kAccountId},
                        {"name", "Стим Центр"},
                        {"subdomain", "stimcentr"},
                        {"created_at", 1585840134},
                        {"created_by", 321321},
                        {"updated_at", 1589472711},
                        {"updated_by", 321321},
                        {"current_user_id", 581651},
                        {"country", "RU"},
                        {"customers_mode", "segments"},
                        {"is_unsorted_on", true},
                        {"is_loss_reason_enabled", true},
                        {"is_helpbot_enabled", false},
                        {"is_technical_account", false},
                        {"contact_name_display_order", 1},
                        {"amojo_id", "f3c6340d-410e-4ad1-9f7e-c5e663599909"},
                        {"uuid", "824f3a59-6154-4edf-ba90-0b5593715d07"},
                        {"version", 11},
                        {"_links", {{"self", {{"href", base_of(request) + "/api/v4/account"}}}}},
                        {"_embedded",
                         {{"datetime_settings",
                           {{"date_pattern", "d.m.Y H:i"},
                            {"short_date_pattern", "d.m.Y"},
                            {"short_time_pattern", "H:i"},
                            {"date_formant", "d.m.Y"},
                            {"time_format", "H:i:s"},
                            {"timezone", "Europe/Moscow"},
                            {"timezone_offset", "+03:00"}}}}}});
  });

  // Before leads/{id}, which would capture "pipelines".
  routes.add("GET", "/api/v4/leads/pipelines", "pipelines", [this](const SimRequest& request) {
    if (auto denied = check(request)) return *denied;
    const std::string base = base_of(request);
    Json pipelines = Json::array();
    for (const auto& [id, name, statuses] :
         {std::tuple{kMainPipeline, "Воронка", &kMainStatuses},
          std::tuple{kRepeatPipeline, "Повторные продажи", &kRepeatStatuses}}) {
      const std::string self = base + "/api/v4/leads/pipelines/" + std::to_string(id);
      Json items = Json::array();
      for (const Status& s : *statuses) {
        items.push_back(
            {{"id", s.id},
             {"name", s.name},
             {"sort", s.sort},
             {"is_editable", s.type == 0 && s.id != kWon && s.id != kLost},
             {"pipeline_id", id},
             {"color", s.color},
             {"type", s.type},
             {"account_id", kAccountId},
             {"_links", {{"self", {{"href", self + "/statuses/" + std::to_string(s.id)}}}}}});
      }
      pipelines.push_back({{"id", id},
                           {"name", name},
                           {"sort", id == kMainPipeline ? 1 : 2},
                           {"is_main", id == kMainPipeline},
                           {"is_unsorted_on", true},
                           {"is_archive", false},
                           {"account_id", kAccountId},
                           {"_links", {{"self", {{"href", self}}}}},
                           {"_embedded", {{"statuses", items}}}});
    }
    return Reply::json(200, {{"_total_items", pipelines.size()},
                             {"_links", {{"self", {{"href", base + "/api/v4/leads/pipelines"}}}}},
                             {"_embedded", {{"pipelines", pipelines}}}});
  });

  routes.add("GET", "/api/v4/leads", "leads",
             [this](const SimRequest& request) { return list_leads(request); });

  routes.add("GET", "/api/v4/leads/{id}", "lead", [this](const SimRequest& request) {
    if (auto denied = check(request)) return *denied;
    const std::string& id = request.params.at("id");
    const Lead* lead = id.find_first_not_of("0123456789") == std::string::npos && id.size() < 18
                           ? find_lead(std::stoll(id))
                           : nullptr;
    if (!lead || lead->deleted) {  // amoCRM answers 204 for an id it does not have
      Reply reply;
      reply.status = 204;
      reply.content_type.clear();
      return reply;
    }
    const bool with_contacts = request.query.count("with") &&
                               request.query.at("with").find("contacts") != std::string::npos;
    return Reply::json(200, render_lead(*lead, with_contacts, base_of(request)));
  });

  routes.add("GET", "/api/v4/contacts", "contacts",
             [this](const SimRequest& request) { return list_contacts(request); });

  routes.add("GET", "/api/v4/contacts/{id}", "contact", [this](const SimRequest& request) {
    if (auto denied = check(request)) return *denied;
    for (size_t i = 0; i < contacts_.size(); ++i) {
      if (std::to_string(contacts_[i].id) == request.params.at("id")) {
        return Reply::json(200, render_contact(i, base_of(request)));
      }
    }
    Reply reply;
    reply.status = 204;
    reply.content_type.clear();
    return reply;
  });

  for (const char* method : {"GET", "POST", "DELETE"}) {
    routes.add(method, "/api/v4/webhooks", "webhooks",
               [this](const SimRequest& request) { return webhooks(request); });
  }
}

}  // namespace amocrm_provider

std::unique_ptr<Provider> make_amocrm() {
  return std::make_unique<amocrm_provider::Amocrm>();
}

}  // namespace crmsync::sim
