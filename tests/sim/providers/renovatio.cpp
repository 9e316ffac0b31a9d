// Simulated МИС Renovatio (the public API of app.rnova.org, as fixtures/renovatio describes it):
// POST application/x-www-form-urlencoded to /api/public/{method} with api_key; answers
// {"error": 0, "data": ...} or {"error": 1, "data": {"code", "desc"}}. Clinics, patients with
// Cyrillic names and phones, doctors, services with diagnoses, paid and unpaid invoices, and
// completed, refused and scheduled appointments.
#include "../sim.h"

#include <curl/curl.h>
#include <date/date.h>

#include <algorithm>
#include <cstdio>

namespace crmsync::sim {
namespace renovatio_provider {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int kOffsetHours = 3;  // clinics keep Moscow time
constexpr int64_t kFirstPatientId = 583920417;
constexpr int64_t kPatientIdStep = 1009;

const std::vector<std::string> kClinics = {"Миллениум", "Клиника Здоровье", "МедЦентр Плюс"};
const std::vector<std::string> kSurnames = {"Иванова",  "Смирнова", "Кузнецова", "Соколова",
                                            "Лебедева", "Новикова", "Морозова",  "Волкова"};
const std::vector<std::string> kGivenNames = {"Анна",  "Мария", "Ольга",   "Елена",
                                              "Ирина", "Дарья", "Наталья", "Светлана"};
const std::vector<std::string> kPatronymics = {"Сергеевна", "Игоревна", "Павловна", "Андреевна",
                                               "Олеговна"};

struct Service {
  int64_t id;
  const char* title;
  int64_t price_kopecks;
  const char* diagnosis;
};
const std::vector<Service> kServices = {
    {101, "Приём врача-терапевта первичный", 250000,
     "J06.9 Острая инфекция верхних дыхательных путей"},
    {102, "УЗИ органов брюшной полости", 320050, "K29.7 Гастрит неуточнённый"},
    {103, "Консультация гинеколога", 280000, "N76.0 Острый вагинит"},
    {104, "Общий анализ крови", 65000, "D50.9 Железодефицитная анемия"},
    {105, "Приём психотерапевта", 450000, "F41.1 Генерализованное тревожное расстройство"},
    {106, "ЭКГ с расшифровкой", 120000, "I10 Эссенциальная гипертензия"}};
const std::vector<std::string> kDoctors = {"Петров Павел Петрович", "Сидорова Вера Николаевна",
                                           "Григорьев Антон Ильич"};

struct Patient {
  int64_t id;
  std::string name;
  std::string phone;  // "+7 9xx xxx-xx-xx"
  std::string birth_date;
};

struct Visit {
  int64_t id;
  size_t clinic;
  size_t patient;
  size_t doctor;
  SimTime at;
  std::vector<size_t> services;
  // invoices: paid or not; appointments: "completed", "refused" or "scheduled".
  bool paid;
  std::string status;
};

double money(int64_t kopecks) {
  return static_cast<double>(kopecks) / 100.0;
}

std::string time_text(SimTime t) {
  return date::format("%d.%m.%Y %H:%M", std::chrono::floor<minutes>(t + hours(kOffsetHours)));
}

// "dd.mm.yyyy" → the local day's first instant; nullopt otherwise.
std::optional<SimTime> parse_day(const std::string& text) {
  if (text.size() != 10 || text[2] != '.' || text[5] != '.') return std::nullopt;
  return parse_time(text.substr(6, 4) + "-" + text.substr(3, 2) + "-" + text.substr(0, 2),
                    kOffsetHours);
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string text) {
    std::replace(text.begin(), text.end(), '+', ' ');
    int length = 0;
    char* decoded =
        curl_easy_unescape(nullptr, text.c_str(), static_cast<int>(text.size()), &length);
    std::string value(decoded, static_cast<size_t>(length));
    curl_free(decoded);
    return value;
  };
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

class Renovatio final : public Provider {
 public:
  std::string name() const override { return "renovatio"; }

  void add_flags(CLI::App& app) override {
    app.add_option("--renovatio-api-key", api_key_, "МИС Renovatio API key")->capture_default_str();
  }

  void generate(const DataOptions& options) override;
  void routes(Routes& routes) override;
  void advance(SimTime from, SimTime to) override;
  Result<Json> add_records(const Json& params, SimTime now) override;
  Result<Json> webhook_payload(const Json& params) override;
  Json state() const override;

  // Renovatio's error envelope; the HTTP status stays 200 except for transport-level faults.
  Reply error(int status, const std::string& message) const override {
    Reply reply = Reply::json(status >= 500 || status == 429 ? status : 200,
                              {{"error", 1}, {"data", {{"code", status}, {"desc", message}}}});
    return reply;
  }

 private:
  Visit make_visit(size_t clinic, Rng& rng, SimTime at, bool invoice);
  Json render_invoice(const Visit& v) const;
  Json render_appointment(const Visit& v) const;
  Json patient_fields(const Visit& v) const;
  Reply call(const SimRequest& request);
  Reply ok(const Json& data) const { return Reply::json(200, {{"error", 0}, {"data", data}}); }

  std::string api_key_ = "renovatio-key";
  DataOptions options_;
  size_t clinic_count_ = 1;
  std::vector<Patient> patients_;
  std::vector<Visit> invoices_;
  std::vector<Visit> appointments_;
  int64_t next_invoice_ = 10001;
  int64_t next_appointment_ = 70001;
  uint64_t created_so_far_ = 0;
};

Visit Renovatio::make_visit(size_t clinic, Rng& rng, SimTime at, bool invoice) {
  Visit v;
  v.id = invoice ? next_invoice_++ : next_appointment_++;
  v.clinic = clinic;
  v.patient = rng.below(patients_.size());
  v.doctor = rng.below(kDoctors.size());
  v.at = std::chrono::floor<minutes>(at);
  const int lines = static_cast<int>(rng.between(1, 3));
  for (int i = 0; i < lines; ++i) v.services.push_back(rng.below(kServices.size()));
  v.paid = !rng.chance(options_.unpaid_share);
  v.status = rng.chance(options_.no_show_share)  ? "refused"
             : rng.chance(options_.unpaid_share) ? "scheduled"
                                                 : "completed";
  return v;
}

void Renovatio::generate(const DataOptions& options) {
  options_ = options;
  clinic_count_ = std::clamp<size_t>(static_cast<size_t>(options.companies), 1, kClinics.size());
  patients_.clear();
  invoices_.clear();
  appointments_.clear();
  next_invoice_ = 10001;
  next_appointment_ = 70001;
  created_so_far_ = 0;
  Rng rng(mix_seed(options.seed, 0x7e40));
  const int people = std::max(5, options.records / 3);
  for (int k = 0; k < people; ++k) {
    Patient p;
    p.id = kFirstPatientId + k * kPatientIdStep;
    p.name = rng.pick(kSurnames) + " " + rng.pick(kGivenNames) + " " + rng.pick(kPatronymics);
    char phone[32];
    const auto n = static_cast<unsigned long long>(rng.below(100'000'000));
    std::snprintf(phone, sizeof phone, "+7 916 %03llu-%02llu-%02llu", n / 10000 % 1000,
                  n / 100 % 100, n % 100);
    p.phone = phone;
    char birth[16];
    std::snprintf(birth, sizeof birth, "%02d.%02d.%04d", static_cast<int>(rng.between(1, 28)),
                  static_cast<int>(rng.between(1, 12)), static_cast<int>(rng.between(1950, 2005)));
    p.birth_date = birth;
    patients_.push_back(std::move(p));
  }
  const int64_t span = static_cast<int64_t>(options.history_days) * 86400;
  for (size_t c = 0; c < clinic_count_; ++c) {
    std::vector<int64_t> offsets;
    for (int k = 0; k < options.records; ++k) offsets.push_back(rng.between(0, span - 1));
    std::sort(offsets.begin(), offsets.end());
    for (int64_t off : offsets) {
      const SimTime at = options.start - seconds(span) + seconds(off);
      invoices_.push_back(make_visit(c, rng, at, true));
      appointments_.push_back(make_visit(c, rng, at, false));
    }
  }
}

void Renovatio::advance(SimTime from, SimTime to) {
  if (options_.new_per_hour <= 0) return;
  const double period = 3600.0 / options_.new_per_hour;
  for (;;) {
    const SimTime due =
        options_.start +
        seconds(static_cast<int64_t>(period * static_cast<double>(created_so_far_ + 1)));
    if (due > to) break;
    if (due > from) {
      Rng rng(mix_seed(options_.seed, 0x7e41, created_so_far_));
      for (size_t c = 0; c < clinic_count_; ++c) {
        invoices_.push_back(make_visit(c, rng, due, true));
        appointments_.push_back(make_visit(c, rng, due, false));
      }
    }
    ++created_so_far_;
  }
}

Result<Json> Renovatio::add_records(const Json& params, SimTime now) {
  const std::string kind = params.value("kind", "invoice");
  if (kind != "invoice" && kind != "appointment") {
    return fail(CRMSYNC_E_INVALID_INPUT, "kind: invoice or appointment");
  }
  const int count = params.value("count", 1);
  if (count < 1 || count > 10000) return fail(CRMSYNC_E_INVALID_INPUT, "count: 1..10000");
  Rng rng(
      mix_seed(options_.seed, 0xadd7e4, static_cast<uint64_t>(next_invoice_ + next_appointment_)));
  Json ids = Json::array();
  for (int k = 0; k < count; ++k) {
    Visit v = make_visit(0, rng, now, kind == "invoice");
    v.paid = params.value("paid", true);
    v.status = params.value("status", "completed");
    if (params.contains("patient_id")) {
      const int64_t wanted = params["patient_id"].get<int64_t>();
      const auto it = std::find_if(patients_.begin(), patients_.end(),
                                   [&](const Patient& p) { return p.id == wanted; });
      if (it == patients_.end()) return fail(CRMSYNC_E_NOT_FOUND, "no patient");
      v.patient = static_cast<size_t>(it - patients_.begin());
    }
    ids.push_back(v.id);
    (kind == "invoice" ? invoices_ : appointments_).push_back(std::move(v));
  }
  return Json{{"ids", ids}};
}

Result<Json> Renovatio::webhook_payload(const Json& /*params*/) {
  return fail(CRMSYNC_E_UNSUPPORTED, "МИС Renovatio sends no webhooks");
}

Json Renovatio::state() const {
  Json patients = Json::array();
  for (const auto& p : patients_) {
    patients.push_back(
        {{"id", p.id}, {"name", p.name}, {"phone", p.phone}, {"birth_date", p.birth_date}});
  }
  Json services = Json::array();
  for (const auto& s : kServices) {
    services.push_back({{"id", s.id}, {"title", s.title}, {"diagnosis", s.diagnosis}});
  }
  auto visits = [&](const std::vector<Visit>& list, bool invoice) {
    Json out = Json::array();
    for (const auto& v : list) {
      int64_t total = 0;
      for (size_t s : v.services) total += kServices[s].price_kopecks;
      out.push_back({{"id", v.id},
                     {"clinic_id", v.clinic + 1},
                     {"patient_id", patients_[v.patient].id},
                     {"sale", invoice ? v.paid : v.status == "completed"},
                     {"amount_minor", total},
                     {"time", time_text(v.at)}});
    }
    return out;
  };
  return {{"clinics", kClinics},
          {"patients", patients},
          {"services", services},
          {"doctors", kDoctors},
          {"invoices", visits(invoices_, true)},
          {"appointments", visits(appointments_, false)}};
}

Json Renovatio::patient_fields(const Visit& v) const {
  const Patient& p = patients_[v.patient];
  return {{"patient_id", p.id},          {"patient_name", p.name},
          {"patient_phone", p.phone},    {"patient_birth_date", p.birth_date},
          {"doctor_id", 300 + v.doctor}, {"doctor_name", kDoctors[v.doctor]}};
}

Json Renovatio::render_invoice(const Visit& v) const {
  Json services = Json::array();
  int64_t total = 0;
  for (size_t s : v.services) {
    total += kServices[s].price_kopecks;
    services.push_back({{"service_id", kServices[s].id},
                        {"title", kServices[s].title},
                        {"price", money_text(kServices[s].price_kopecks)},
                        {"count", 1},
                        {"diagnosis", kServices[s].diagnosis}});
  }
  Json out = {{"id", v.id},
              {"number", "А-" + std::to_string(v.id)},
              {"date", time_text(v.at)},
              {"clinic_id", v.clinic + 1}};
  out.update(patient_fields(v));
  out["is_paid"] = v.paid ? 1 : 0;
  out["sum"] = money_text(total);
  out["paid_sum"] = money_text(v.paid ? total : 0);
  out["services"] = services;
  return out;
}

Json Renovatio::render_appointment(const Visit& v) const {
  Json services = Json::array();
  for (size_t s : v.services) {
    services.push_back({{"service_id", kServices[s].id},
                        {"title", kServices[s].title},
                        {"price", money(kServices[s].price_kopecks)},
                        {"count", 1}});
  }
  Json out = {{"id", v.id},
              {"clinic_id", v.clinic + 1},
              {"time_start", time_text(v.at)},
              {"time_end", time_text(v.at + minutes(30 * static_cast<int>(v.services.size())))}};
  out.update(patient_fields(v));
  out["status"] = v.status;
  out["services"] = services;
  out["diagnosis"] = kServices[v.services.front()].diagnosis;
  out["comment"] = "Пациент " + patients_[v.patient].name;
  return out;
}

Reply Renovatio::call(const SimRequest& request) {
  if (request.header("content-type").find("application/x-www-form-urlencoded") ==
      std::string::npos) {
    return error(400, "Ожидается application/x-www-form-urlencoded");
  }
  const auto form = parse_form(request.body);
  const auto key = form.find("api_key");
  if (key == form.end() || key->second != api_key_) return error(401, "Неверный api_key");
  const std::string& method = request.params.at("method");
  if (method == "getClinics") {
    Json clinics = Json::array();
    for (size_t c = 0; c < clinic_count_; ++c) {
      clinics.push_back({{"id", c + 1},
                         {"title", kClinics[c]},
                         {"address", "г. Москва, ул. Врачебная, " + std::to_string(c + 1)},
                         {"timezone", "+03:00"}});
    }
    return ok(clinics);
  }
  if (method != "getInvoices" && method != "getAppointments") {
    return error(404, "Метод " + method + " не найден");
  }
  auto field = [&](const char* name) {
    const auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  const std::string clinic = field("clinic_id");
  const auto from = parse_day(field("date_from"));
  const auto to = parse_day(field("date_to"));
  if (clinic.empty() || !from || !to) {
    return error(400, "Обязательные параметры: clinic_id, date_from и date_to (dd.mm.yyyy)");
  }
  const bool invoices = method == "getInvoices";
  Json data = Json::array();
  for (const auto& v : invoices ? invoices_ : appointments_) {
    if (std::to_string(v.clinic + 1) != clinic) continue;
    if (v.at < *from || v.at >= *to + hours(24)) continue;
    data.push_back(invoices ? render_invoice(v) : render_appointment(v));
  }
  return ok(data);
}

void Renovatio::routes(Routes& routes) {
  routes.add("POST", "/api/public/{method}", "public",
             [this](const SimRequest& request) { return call(request); });
}

}  // namespace renovatio_provider

std::unique_ptr<Provider> make_renovatio() {
  return std::make_unique<renovatio_provider::Renovatio>();
}

}  // namespace crmsync::sim
