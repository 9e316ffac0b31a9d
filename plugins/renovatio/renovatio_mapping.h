// МИС Renovatio invoice / appointment → medical sale mapping (DESIGN §4, §9), shared by fetch and
// map_response, and the Renovatio value readers it needs.
//
// Medical secrecy (врачебная тайна) is the point of this file: a sale carries the flag
// CRMSYNC_RECORD_MEDICAL, the patient only as hex SHA-256(patient_id + salt), the phone only so
// the host can match the user, a generic description, no item lines and no raw object. Reasons
// for skips and failures name the invoice or appointment by its id and never quote a field.
#ifndef CRMSYNC_PLUGINS_RENOVATIO_RENOVATIO_MAPPING_H
#define CRMSYNC_PLUGINS_RENOVATIO_RENOVATIO_MAPPING_H

#include <crmsync/connector.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_time.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "sha256.h"

namespace crmsync::renovatio {

// The JSON document type of the connector.
using Json = sdk::Json;
// What one object maps to: a sale, not a sale (unpaid invoice, appointment not completed) or
// unreadable (with a reason free of patient data).
using sdk::Mapped;
using sdk::NotSale;
using sdk::Sale;
using sdk::Unreadable;

// The description of every medical sale: what was done is medical secrecy.
inline constexpr std::string_view kDescription = "Медицинские услуги";

namespace internal {

// The SDK's readers, under the names this file uses.
using sdk::flag;
using sdk::member;

// An id (JSON integer or a string of up to 32 digits) as text; nullopt for anything else.
inline std::optional<std::string> id_text(const Json& value) {
  return sdk::id_text(value, 32);
}

// The largest amount read plus one, in minor units (10^13 roubles): a service's price × count
// (at most 1000) stays far from overflow.
inline constexpr int64_t kAmountLimit = 1'000'000'000'000'000;

// A money value (JSON number or decimal string) in minor units; nullopt when unreadable,
// negative or not below kAmountLimit.
inline std::optional<int64_t> money_minor(const Json& value) {
  const auto minor = sdk::money_minor(value);
  if (!minor || *minor < 0 || *minor >= kAmountLimit) return std::nullopt;
  return minor;
}

// Renovatio's date "dd.mm.yyyy" → days since 1970-01-01; nullopt otherwise.
inline std::optional<int64_t> day_number(std::string_view text) {
  if (text.size() != 10 || text[2] != '.' || text[5] != '.') return std::nullopt;
  auto number = [&](size_t at, size_t n) -> std::optional<int64_t> {
    int64_t out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      out = out * 10 + (text[i] - '0');
    }
    return out;
  };
  const auto d = number(0, 2), m = number(3, 2), y = number(6, 4);
  if (!d || !m || !y || !sdk::is_civil_date(*y, *m, *d)) return std::nullopt;
  return sdk::days_from_civil(*y, *m, *d);
}

// Days since 1970-01-01 → "dd.mm.yyyy".
inline std::string day_text(int64_t days) {
  const sdk::CivilDate date = sdk::civil_from_days(days);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%02lld.%02lld.%04lld", static_cast<long long>(date.day),
                static_cast<long long>(date.month), static_cast<long long>(date.year));
  return buffer;
}

// True for Renovatio's local time "dd.mm.yyyy HH:MM", which the host reads in the clinic's zone.
inline bool is_local_time(std::string_view text) {
  if (text.size() != 16 || text[10] != ' ' || text[13] != ':') return false;
  if (!day_number(text.substr(0, 10))) return false;
  for (size_t i : {11, 12, 14, 15}) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return (text[11] - '0') * 10 + (text[12] - '0') < 24 && text[14] < '6';
}

// The sale every medical object starts from: flagged, the patient hashed with the salt, the
// phone kept only for the host's user match, nothing else of the patient.
inline std::optional<std::string> start_sale(const Json& object, const std::string& salt,
                                             sdk::Record& r) {
  r.medical = true;
  r.description = std::string(kDescription);
  const auto patient = id_text(member(object, "patient_id"));
  if (!patient) return "patient_id is missing or not an id";
  r.customer_ref = sha256_hex(*patient + salt);
  const Json& phone = member(object, "patient_phone");
  if (phone.is_string()) {
    r.customer_phone = phone.get<std::string>();
  } else if (phone.is_number_unsigned() || phone.is_number_integer()) {
    r.customer_phone = "+" + sdk::dump_json(phone);
  } else if (!phone.is_null()) {
    return "patient_phone is neither text nor a number";
  }
  return std::nullopt;
}

}  // namespace internal

// The patient reference stored on a sale: hex SHA-256 of the patient id followed by the salt.
inline std::string patient_ref(std::string_view patient_id, std::string_view salt) {
  return internal::sha256_hex(std::string(patient_id) + std::string(salt));
}

// Maps one invoice of getInvoices. A sale is a paid invoice (is_paid 1); its amount is `sum`,
// its time `date` ("dd.mm.yyyy HH:MM", the clinic's local time).
inline Mapped map_invoice(const Json& invoice, const std::string& salt,
                          const std::string& currency) {
  using namespace internal;
  if (!invoice.is_object()) return Unreadable{"", "An invoice is not a JSON object"};
  const auto id = id_text(member(invoice, "id"));
  if (!id) return Unreadable{"", "An invoice has no readable id"};
  const std::string external_id = "invoice-" + *id;
  const auto paid = flag(member(invoice, "is_paid"));
  if (!paid) return Unreadable{external_id, "is_paid is missing or not 0/1"};
  if (!*paid) return NotSale{external_id, "Not a sale: the invoice is not paid"};
  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = external_id;
  const Json& date = member(invoice, "date");
  if (!date.is_string() || !is_local_time(date.get_ref<const std::string&>())) {
    return Unreadable{external_id, "date is missing or not dd.mm.yyyy HH:MM"};
  }
  r.occurred_at = date.get<std::string>();
  const auto amount = money_minor(member(invoice, "sum"));
  if (!amount) return Unreadable{external_id, "sum is missing or not an amount"};
  r.amount_minor = *amount;
  if (auto why = start_sale(invoice, salt, r)) return Unreadable{external_id, *why};
  r.currency = currency;
  return sale;
}

// Maps one appointment of getAppointments. A sale is a completed appointment (status
// "completed"); its amount is the sum of its services' price × count, its time `time_start`.
inline Mapped map_appointment(const Json& appointment, const std::string& salt,
                              const std::string& currency) {
  using namespace internal;
  if (!appointment.is_object()) return Unreadable{"", "An appointment is not a JSON object"};
  const auto id = id_text(member(appointment, "id"));
  if (!id) return Unreadable{"", "An appointment has no readable id"};
  const std::string external_id = "appointment-" + *id;
  const Json& status = member(appointment, "status");
  if (!status.is_string()) return Unreadable{external_id, "status is missing or not text"};
  if (status != "completed") {
    const bool known = status == "refused" || status == "scheduled" || status == "canceled";
    return NotSale{external_id, "Not a sale: the appointment is " +
                                    (known ? status.get<std::string>() : "not completed")};
  }
  Sale sale;
  sdk::Record& r = sale.record;
  r.external_id = external_id;
  const Json& start = member(appointment, "time_start");
  if (!start.is_string() || !is_local_time(start.get_ref<const std::string&>())) {
    return Unreadable{external_id, "time_start is missing or not dd.mm.yyyy HH:MM"};
  }
  r.occurred_at = start.get<std::string>();
  const Json& services = member(appointment, "services");
  if (!services.is_array()) return Unreadable{external_id, "services is not a list"};
  int64_t total = 0;
  for (size_t i = 0; i < services.size(); ++i) {
    const auto price = money_minor(member(services[i], "price"));
    const Json& count_field = member(services[i], "count");
    const int64_t count = count_field.is_null()              ? 1
                          : count_field.is_number_unsigned() ? count_field.get<int64_t>()
                                                             : -1;
    if (!price || count < 0 || count > 1000) {
      return Unreadable{external_id,
                        "services[" + std::to_string(i) + "] has no readable price or count"};
    }
    total += *price * count;
  }
  if (total <= 0) return NotSale{external_id, "Not a sale: the appointment has no priced service"};
  r.amount_minor = total;
  if (auto why = start_sale(appointment, salt, r)) return Unreadable{external_id, *why};
  r.currency = currency;
  return sale;
}

}  // namespace crmsync::renovatio

#endif  // CRMSYNC_PLUGINS_RENOVATIO_RENOVATIO_MAPPING_H
