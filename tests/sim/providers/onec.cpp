// Simulated 1С:Предприятие infobases, shaped like fixtures/onec (a 1С:Бухгалтерия 3.0 OData
// answer): the standard OData interface (service document, a sales document list with $filter,
// $orderby, $top and $skip, Catalog_Контрагенты entities with their contact information) and the
// spec's HTTP service GET /api/transactions?since=, both over the same documents.
#include "../sim.h"

#include <curl/curl.h>
#include <date/date.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace crmsync::sim {
namespace onec_provider {

using std::chrono::hours;
using std::chrono::seconds;

constexpr const char* kDocument = "Document_РеализацияТоваровУслуг";
constexpr const char* kCounterparties = "Catalog_Контрагенты";
constexpr const char* kEmptyRef = "00000000-0000-0000-0000-000000000000";
constexpr const char* kEmptyDate = "0001-01-01T00:00:00";
constexpr int kOffsetHours = 3;  // both infobases keep Moscow time

struct Infobase {
  const char* name;   // the URL segment: /onec/<name>/...
  const char* title;  // what the HTTP service calls it
};
const std::vector<Infobase> kInfobases = {
    {"skinerica", "Skinerica"}, {"lisichkino", "Лисичкино"}, {"infobase3", "Третья база"}};

struct Product {
  const char* name;
  int64_t price_kopecks;
};
const std::vector<Product> kGoods = {{"Крем для лица 50 мл", 245000},
                                     {"Сыворотка гиалуроновая", 389050},
                                     {"Маска альгинатная", 99900},
                                     {"Шампунь 250 мл", 54500}};
const std::vector<Product> kServices = {{"Чистка лица", 450000},
                                        {"Пилинг химический", 620050},
                                        {"Массаж лица", 310000},
                                        {"Консультация косметолога", 150000}};
const std::vector<std::string> kNames = {"Иванова Анна",  "Смирнов Игорь",  "Кузнецова Ольга",
                                         "Попов Дмитрий", "Соколова Елена", "ООО \"Ромашка\"",
                                         "ИП Лебедев",    "Новикова Мария"};

struct Counterparty {
  std::string key;
  std::string code;
  std::string name;
  std::string phone;  // 10 digits after +7, or "" (none)
  int phone_style;    // 0 "+7 (916) 123-45-67", 1 "8 916 123 45 67", 2 "+79161234567"
  std::string email;
};

struct Line {
  size_t product;
  bool service;
  int quantity;
};

struct Document {
  std::string ref;
  int64_t number;
  SimTime at;
  bool posted;
  bool deleted;
  std::optional<size_t> buyer;
  std::vector<Line> lines;
};

struct Base {
  std::vector<Counterparty> counterparties;
  std::vector<Document> documents;  // in creation order
  uint64_t created_so_far = 0;
  int64_t counterparty_reads = 0;
};

double money(int64_t kopecks) {
  return static_cast<double>(kopecks) / 100.0;
}

std::string guid(Rng& rng) {
  char buffer[40];
  const uint64_t a = rng.next(), b = rng.next();
  std::snprintf(
      buffer, sizeof buffer, "%08llx-%04llx-%04llx-%04llx-%012llx",
      static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xffff),
      static_cast<unsigned long long>(a & 0xffff), static_cast<unsigned long long>(b >> 48),
      static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buffer;
}

std::string local_iso(SimTime t) {
  return date::format("%Y-%m-%dT%H:%M:%S", t + hours(kOffsetHours));
}

std::string percent_decode(const std::string& text) {
  int length = 0;
  char* decoded = curl_easy_unescape(nullptr, text.c_str(), static_cast<int>(text.size()), &length);
  std::string out(decoded, static_cast<size_t>(length));
  curl_free(decoded);
  return out;
}

int64_t line_price(const Line& line) {
  return (line.service ? kServices : kGoods)[line.product].price_kopecks;
}

int64_t document_total(const Document& d) {
  int64_t total = 0;
  for (const auto& line : d.lines) total += line_price(line) * line.quantity;
  return total;
}

class Onec final : public Provider {
 public:
  std::string name() const override { return "onec"; }

  void add_flags(CLI::App& app) override {
    app.add_option("--onec-username", username_, "1С user (HTTP Basic)")->capture_default_str();
    app.add_option("--onec-password", password_, "1С password")->capture_default_str();
    app.add_option("--onec-token", token_, "bearer token 1С also accepts")->capture_default_str();
  }

  void generate(const DataOptions& options) override;
  void routes(Routes& routes) override;
  void advance(SimTime from, SimTime to) override;
  Result<Json> add_records(const Json& params, SimTime now) override;
  Result<Json> webhook_payload(const Json& params) override;
  Json state() const override;

  // 1С's OData error envelope.
  Reply error(int status, const std::string& message) const override {
    return Reply::json(
        status,
        {{"odata.error",
          {{"code", std::to_string(status)}, {"message", {{"lang", "ru"}, {"value", message}}}}}});
  }

 private:
  Document make_document(Base& base, Rng& rng, SimTime at, bool may_be_unposted);
  Json render_document(size_t base, const Document& d) const;
  Json render_counterparty(const Counterparty& c) const;
  Json render_transaction(const Base& base, const Document& d) const;
  std::optional<Reply> check(const SimRequest& request) const;
  std::optional<size_t> base_index(const std::string& name) const;
  Reply list_documents(size_t base, const SimRequest& request);
  Reply transactions(size_t base, const SimRequest& request);

  std::string username_ = "admin";
  std::string password_ = "password";
  std::string token_ = "onec-token";
  DataOptions options_;
  std::vector<Base> bases_;
  int64_t next_number_ = 1;
};

Document Onec::make_document(Base& base, Rng& rng, SimTime at, bool may_be_unposted) {
  Document d;
  d.ref = guid(rng);
  d.number = next_number_++;
  d.at = at;
  d.posted = !(may_be_unposted && rng.chance(options_.unpaid_share));
  d.deleted = rng.chance(options_.deleted_share);
  if (!rng.chance(options_.no_show_share)) d.buyer = rng.below(base.counterparties.size());
  const int lines = static_cast<int>(rng.between(1, 3));
  for (int i = 0; i < lines; ++i) {
    const bool service = rng.chance(0.6);
    d.lines.push_back({rng.below((service ? kServices : kGoods).size()), service,
                       service ? 1 : static_cast<int>(rng.between(1, 3))});
  }
  return d;
}

void Onec::generate(const DataOptions& options) {
  options_ = options;
  bases_.clear();
  next_number_ = 1;
  const size_t count =
      std::min<size_t>(static_cast<size_t>(std::max(options.companies, 1)), kInfobases.size());
  for (size_t i = 0; i < count; ++i) {
    Rng rng(mix_seed(options.seed, 0x1c, i));
    Base base;
    const int people = std::max(5, options.records / 4);
    for (int k = 0; k < people; ++k) {
      Counterparty c;
      c.key = guid(rng);
      char code[16];
      std::snprintf(code, sizeof code, "%09d", k + 1);
      c.code = code;
      c.name = rng.pick(kNames);
      // Every fifth has no phone (an email only, or no contact information at all).
      if (k % 5 != 4) {
        char phone[16];
        std::snprintf(phone, sizeof phone, "9%09llu",
                      static_cast<unsigned long long>(rng.below(1'000'000'000)));
        c.phone = phone;
      }
      c.phone_style = static_cast<int>(rng.below(3));
      if (k % 2 == 0) c.email = "client" + std::to_string(k) + "@example.com";
      base.counterparties.push_back(std::move(c));
    }
    const int64_t span = static_cast<int64_t>(options.history_days) * 86400;
    std::vector<int64_t> offsets;
    for (int k = 0; k < options.records; ++k) offsets.push_back(rng.between(0, span - 1));
    std::sort(offsets.begin(), offsets.end());
    for (int64_t off : offsets) {
      base.documents.push_back(
          make_document(base, rng, options.start - seconds(span) + seconds(off), true));
    }
    bases_.push_back(std::move(base));
  }
}

void Onec::advance(SimTime from, SimTime to) {
  if (options_.new_per_hour <= 0) return;
  const double period = 3600.0 / options_.new_per_hour;
  for (size_t i = 0; i < bases_.size(); ++i) {
    Base& base = bases_[i];
    for (;;) {
      const SimTime due =
          options_.start + seconds(static_cast<int64_t>(
                               std::ceil(period * static_cast<double>(base.created_so_far + 1))));
      if (due > to) break;
      if (due > from) {
        Rng rng(mix_seed(options_.seed, 0x1c0 + i, base.created_so_far));
        base.documents.push_back(make_document(base, rng, due, true));
      }
      ++base.created_so_far;
    }
  }
}

Result<Json> Onec::add_records(const Json& params, SimTime now) {
  const std::string name = params.value("infobase", kInfobases[0].name);
  const auto index = base_index(name);
  if (!index) return fail(CRMSYNC_E_NOT_FOUND, "no infobase " + name);
  const int count = params.value("count", 1);
  if (count < 1 || count > 10000) return fail(CRMSYNC_E_INVALID_INPUT, "count: 1..10000");
  const bool posted = params.value("posted", true);
  const bool deleted = params.value("deleted", false);
  // "buyer": "phone" (a counterparty with a phone), "no_phone", or "none" (the empty reference).
  const std::string buyer = params.value("buyer", "phone");
  if (buyer != "phone" && buyer != "no_phone" && buyer != "none") {
    return fail(CRMSYNC_E_INVALID_INPUT, "buyer: phone, no_phone or none");
  }
  Base& base = bases_[*index];
  Rng rng(mix_seed(options_.seed, 0xadd1c, static_cast<uint64_t>(next_number_)));
  Json refs = Json::array(), numbers = Json::array();
  for (int k = 0; k < count; ++k) {
    Document d = make_document(base, rng, now, false);
    d.posted = posted;
    d.deleted = deleted;
    d.buyer.reset();
    if (buyer != "none") {
      for (size_t c = 0; c < base.counterparties.size(); ++c) {
        const size_t pick = (c + static_cast<size_t>(k)) % base.counterparties.size();
        if (base.counterparties[pick].phone.empty() == (buyer == "no_phone")) {
          d.buyer = pick;
          break;
        }
      }
    }
    refs.push_back(d.ref);
    numbers.push_back(d.number);
    base.documents.push_back(std::move(d));
  }
  return Json{{"refs", refs}, {"ids", numbers}};
}

Result<Json> Onec::webhook_payload(const Json& /*params*/) {
  return fail(CRMSYNC_E_UNSUPPORTED, "1С sends no webhooks");
}

Json Onec::state() const {
  Json bases = Json::array();
  for (size_t i = 0; i < bases_.size(); ++i) {
    const Base& base = bases_[i];
    Json counterparties = Json::array();
    for (const auto& c : base.counterparties) {
      counterparties.push_back({{"key", c.key},
                                {"name", c.name},
                                {"phone", c.phone.empty() ? Json(nullptr) : Json("+7" + c.phone)}});
    }
    Json documents = Json::array();
    for (const auto& d : base.documents) {
      documents.push_back(
          {{"ref", d.ref},
           {"number", d.number},
           {"date", local_iso(d.at)},
           {"posted", d.posted},
           {"deleted", d.deleted},
           {"amount_minor", document_total(d)},
           {"buyer", d.buyer ? Json(base.counterparties[*d.buyer].key) : Json(nullptr)}});
    }
    bases.push_back({{"name", kInfobases[i].name},
                     {"title", kInfobases[i].title},
                     {"counterparty_reads", base.counterparty_reads},
                     {"counterparties", counterparties},
                     {"documents", documents}});
  }
  return {{"infobases", bases}};
}

std::optional<size_t> Onec::base_index(const std::string& name) const {
  for (size_t i = 0; i < bases_.size(); ++i) {
    if (name == kInfobases[i].name) return i;
  }
  return std::nullopt;
}

std::optional<Reply> Onec::check(const SimRequest& request) const {
  // 1С's web server wants the Cyrillic entity names percent-encoded.
  for (unsigned char c : request.target) {
    if (c >= 0x80 || c == ' ') {
      return error(400,
                   "Недопустимый символ в URL: имена должны быть закодированы (percent-encoding)");
    }
  }
  const std::string auth = request.header("authorization");
  const std::string basic = "Basic ";
  bool ok = false;
  if (auth.starts_with("Bearer ")) {
    ok = auth.substr(7) == token_;
  } else if (auth.starts_with(basic)) {
    // Compare encoded: the simulator encodes its own credentials the same way.
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::string plain = username_ + ":" + password_;
    std::string encoded;
    int bits = 0;
    uint32_t buffer = 0;
    for (unsigned char c : plain) {
      buffer = buffer << 8 | c;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        encoded += kAlphabet[(buffer >> bits) & 63];
      }
    }
    if (bits > 0) encoded += kAlphabet[(buffer << (6 - bits)) & 63];
    while (encoded.size() % 4 != 0) encoded += '=';
    ok = auth.substr(basic.size()) == encoded;
  }
  if (!ok) {
    Reply reply = error(401, "Ошибка аутентификации");
    reply.headers.emplace_back("WWW-Authenticate", "Basic realm=\"1C\"");
    return reply;
  }
  return std::nullopt;
}

Json Onec::render_counterparty(const Counterparty& c) const {
  Json contacts = Json::array();
  int line = 1;
  if (!c.phone.empty()) {
    const std::string& p = c.phone;
    const std::string shown = c.phone_style == 0 ? "+7 (" + p.substr(0, 3) + ") " + p.substr(3, 3) +
                                                       "-" + p.substr(6, 2) + "-" + p.substr(8, 2)
                              : c.phone_style == 1 ? "8 " + p.substr(0, 3) + " " + p.substr(3, 3) +
                                                         " " + p.substr(6, 2) + " " + p.substr(8, 2)
                                                   : "+7" + p;
    contacts.push_back({{"LineNumber", std::to_string(line++)},
                        {"Тип", "Телефон"},
                        {"Вид_Key", "f40235c1-d84c-11ea-8133-0050569f62a1"},
                        {"Представление", shown},
                        {"ЗначенияПолей", ""},
                        {"Страна", "Россия"},
                        {"КодСтраны", "7"},
                        {"КодГорода", p.substr(0, 3)},
                        {"НомерТелефона", p.substr(3)},
                        {"НомерТелефонаБезКодов", p.substr(3)}});
  }
  if (!c.email.empty()) {
    contacts.push_back({{"LineNumber", std::to_string(line++)},
                        {"Тип", "АдресЭлектроннойПочты"},
                        {"Вид_Key", "f40235c2-d84c-11ea-8133-0050569f62a1"},
                        {"Представление", c.email},
                        {"АдресЭП", c.email}});
  }
  return {{"odata.metadata", std::string("$metadata#") + kCounterparties + "/@Element"},
          {"Ref_Key", c.key},
          {"DataVersion", "AAAAAgAAAAA="},
          {"DeletionMark", false},
          {"Parent_Key", kEmptyRef},
          {"IsFolder", false},
          {"Code", c.code},
          {"Description", c.name},
          {"НаименованиеПолное", c.name},
          {"ИНН", ""},
          {"КПП", ""},
          {"ЮридическоеФизическоеЛицо",
           c.name.starts_with("ООО") ? "ЮридическоеЛицо" : "ФизическоеЛицо"},
          {"ДатаРегистрации", kEmptyDate},
          {"ОсновнойДоговорКонтрагента_Key", kEmptyRef},
          {"КонтактнаяИнформация", contacts}};
}

Json Onec::render_document(size_t base, const Document& d) const {
  const Base& b = bases_[base];
  Json goods = Json::array(), services = Json::array();
  for (const auto& line : d.lines) {
    const Product& product = (line.service ? kServices : kGoods)[line.product];
    const int64_t sum = product.price_kopecks * line.quantity;
    Json& part = line.service ? services : goods;
    Json row = {{"Ref_Key", d.ref},
                {"LineNumber", std::to_string(part.size() + 1)},
                {"Номенклатура_Key", "2d4fe75" + std::to_string(line.product) +
                                         (line.service ? "-48a4-11ec-ad72-000c29b45b0a"
                                                       : "-48a4-11ec-ad72-000c29b45b09")}};
    if (line.service) row["Содержание"] = product.name;
    row["Количество"] = line.quantity;
    row["Цена"] = money(product.price_kopecks);
    row["Сумма"] = money(sum);
    row["СтавкаНДС"] = "БезНДС";
    row["СуммаНДС"] = 0;
    part.push_back(std::move(row));
  }
  const std::string link = std::string(kDocument) + "(guid'" + d.ref + "')";
  char number[16];
  std::snprintf(number, sizeof number, "0000-%06lld", static_cast<long long>(d.number));
  return {{"Ref_Key", d.ref},
          {"DataVersion", "AAAACgAAAAA="},
          {"DeletionMark", d.deleted},
          {"Number", number},
          {"Date", local_iso(d.at)},
          {"Posted", d.posted},
          {"ВидОперации", services.empty() ? "Товары" : "Услуги"},
          {"Организация_Key", "87fa6cc2-e901-11ea-8591-000c29b45b09"},
          {"Склад_Key", "f40235d3-d84c-11ea-8133-0050569f62a1"},
          {"Контрагент_Key", d.buyer ? b.counterparties[*d.buyer].key : std::string(kEmptyRef)},
          {"ДоговорКонтрагента_Key", kEmptyRef},
          {"ВалютаДокумента_Key", "a192de9a-d84c-11ea-8133-0050569f62a1"},
          {"КурсВзаиморасчетов", 1},
          {"КратностьВзаиморасчетов", "1"},
          {"СуммаВключаетНДС", true},
          {"СуммаДокумента", money(document_total(d))},
          {"Комментарий", ""},
          {"ДоверенностьДата", kEmptyDate},
          {"НомерЧекаККМ", "0"},
          {"Товары", goods},
          {"Услуги", services},
          {"ВозвратнаяТара", Json::array()},
          {"Контрагент@navigationLinkUrl", link + "/Контрагент"},
          {"Организация@navigationLinkUrl", link + "/Организация"}};
}

Json Onec::render_transaction(const Base& base, const Document& d) const {
  Json items = Json::array();
  for (const auto& line : d.lines) {
    const Product& product = (line.service ? kServices : kGoods)[line.product];
    items.push_back({{"name", product.name},
                     {"price", money(product.price_kopecks * line.quantity)},
                     {"quantity", line.quantity}});
  }
  Json phone = nullptr;
  if (d.buyer && !base.counterparties[*d.buyer].phone.empty()) {
    phone = "+7" + base.counterparties[*d.buyer].phone;
  }
  return {{"id", d.number},
          {"date", local_iso(d.at)},
          {"customer_phone", phone},
          {"amount", money(document_total(d))},
          {"items", items}};
}

Reply Onec::transactions(size_t base, const SimRequest& request) {
  if (auto denied = check(request)) return *denied;
  const auto database = request.query.find("database_id");
  if (database != request.query.end() && database->second != kInfobases[base].name) {
    return Reply::json(404, {{"error", "Неизвестная информационная база " + database->second}});
  }
  std::optional<SimTime> since;
  if (const auto it = request.query.find("since"); it != request.query.end()) {
    since = parse_time(it->second, kOffsetHours);
    if (!since) return Reply::json(400, {{"error", "Неверный формат параметра since"}});
  }
  const Base& b = bases_[base];
  std::vector<const Document*> sales;
  for (const auto& d : b.documents) {
    if (d.posted && !d.deleted && (!since || d.at >= *since)) sales.push_back(&d);
  }
  std::stable_sort(sales.begin(), sales.end(),
                   [](const Document* x, const Document* y) { return x->at < y->at; });
  Json list = Json::array();
  for (const Document* d : sales) list.push_back(render_transaction(b, *d));
  return Reply::json(200, {{"infobase", kInfobases[base].title}, {"transactions", list}});
}

Reply Onec::list_documents(size_t base, const SimRequest& request) {
  auto query = [&](const char* name) -> std::optional<std::string> {
    const auto it = request.query.find(name);
    if (it == request.query.end()) return std::nullopt;
    return it->second;
  };
  if (query("$format") != "json")
    return error(400, "Симулятор отвечает только в JSON: $format=json");
  auto number = [&](const char* name, int64_t fallback) -> std::optional<int64_t> {
    const auto text = query(name);
    if (!text) return fallback;
    if (text->empty() || text->find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoll(*text);
  };
  const auto top = number("$top", 1000000), skip = number("$skip", 0);
  if (!top || !skip) return error(400, "$top и $skip должны быть неотрицательными целыми");
  std::optional<SimTime> from;
  if (const auto filter = query("$filter")) {
    // Only the form connectors send: Date ge datetime'YYYY-MM-DDTHH:MM:SS'.
    const std::string prefix = "Date ge datetime'";
    if (!filter->starts_with(prefix) || filter->size() != prefix.size() + 20 ||
        filter->back() != '\'') {
      return error(400, "Неверное выражение $filter: " + *filter);
    }
    from = parse_time(filter->substr(prefix.size(), 19), kOffsetHours);
    if (!from) return error(400, "Неверная дата в $filter: " + *filter);
  }
  const auto order = query("$orderby");
  if (order && *order != "Date" && *order != "Date asc" && *order != "Date,Ref_Key" &&
      *order != "Date asc,Ref_Key asc") {
    return error(400, "Неподдерживаемое упорядочивание $orderby: " + *order);
  }
  const Base& b = bases_[base];
  std::vector<const Document*> matched;
  for (const auto& d : b.documents) {
    if (!from || d.at >= *from) matched.push_back(&d);
  }
  if (order) {
    const bool by_ref = order->find("Ref_Key") != std::string::npos;
    std::stable_sort(matched.begin(), matched.end(), [&](const Document* x, const Document* y) {
      if (x->at != y->at) return x->at < y->at;
      return by_ref && x->ref < y->ref;
    });
  }
  Json value = Json::array();
  for (size_t k = static_cast<size_t>(*skip);
       !request.empty_page && k < matched.size() && k < static_cast<size_t>(*skip + *top); ++k) {
    value.push_back(render_document(base, *matched[k]));
  }
  return Reply::json(200,
                     {{"odata.metadata", std::string("$metadata#") + kDocument}, {"value", value}});
}

void Onec::routes(Routes& routes) {
  routes.add("GET", "/{infobase}/api/transactions", "transactions",
             [this](const SimRequest& request) {
               const auto base = base_index(request.params.at("infobase"));
               if (!base) return Reply::json(404, {{"error", "Нет такой базы"}});
               return transactions(*base, request);
             });

  routes.add("GET", "/{infobase}/odata/standard.odata", "service",
             [this](const SimRequest& request) {
               const auto base = base_index(request.params.at("infobase"));
               if (!base) return error(404, "Нет такой публикации");
               if (auto denied = check(request)) return *denied;
               Json value = Json::array();
               for (const char* set : {kCounterparties, "Catalog_Номенклатура", kDocument}) {
                 value.push_back({{"name", set}, {"url", set}});
               }
               return Reply::json(200, {{"odata.metadata", "$metadata"}, {"value", value}});
             });

  routes.add("GET", "/{infobase}/odata/standard.odata/{entity}", "odata",
             [this](const SimRequest& request) {
               const auto base = base_index(request.params.at("infobase"));
               if (!base) return error(404, "Нет такой публикации");
               if (auto denied = check(request)) return *denied;
               const std::string entity = percent_decode(request.params.at("entity"));
               if (entity == kDocument) return list_documents(*base, request);
               const std::string one = std::string(kCounterparties) + "(guid'";
               if (entity.starts_with(one) && entity.ends_with("')")) {
                 const std::string key = entity.substr(one.size(), entity.size() - one.size() - 2);
                 Base& b = bases_[*base];
                 ++b.counterparty_reads;
                 for (const auto& c : b.counterparties) {
                   if (c.key == key) return Reply::json(200, render_counterparty(c));
                 }
                 return error(404, "Объект не найден: " + key);
               }
               return error(404, "Не найден ресурс " + entity);
             });
}

}  // namespace onec_provider

std::unique_ptr<Provider> make_onec() {
  return std::make_unique<onec_provider::Onec>();
}

}  // namespace crmsync::sim
