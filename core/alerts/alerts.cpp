// The alerts the sync runner raises: run-failure streaks and permanently failed records.
#include "alerts/alerts.h"

#include <curl/curl.h>

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <new>

namespace crmsync::alerts {

namespace {

void write_log(const http::LogSink& log, int32_t level, const std::string& line) {
  if (log) log(level, line);
}

// Unreserved characters stay, everything else is percent-encoded (RFC 3986, by libcurl), so an
// odd integration id cannot break out of the link's fragment.
std::string url_component(const std::string& text) {
  char* escaped = curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) throw std::bad_alloc();
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

// The admin panel's page of an integration: "logs" or "settings".
std::string panel_link(const AlertContext& context, const std::string& integration_id,
                       const std::string& page) {
  std::string base = context.admin_base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/admin/#/integrations/" + url_component(integration_id) + "/" + page;
}

// "2025-11-16 18:00" in the business's zone; an unknown zone falls back to UTC and says so.
std::string local_time(store::Timestamp t, const std::string& zone) {
  const auto minutes = std::chrono::floor<std::chrono::minutes>(t);
  try {
    return date::format("%Y-%m-%d %H:%M", date::make_zoned(date::locate_zone(zone), minutes));
  } catch (const std::exception&) {
    return date::format("%Y-%m-%d %H:%M UTC", minutes);
  }
}

// The footer every alert ends with: where to look and what to do.
std::string links(const AlertContext& context, const std::string& integration_id) {
  return "Логи интеграции: " + panel_link(context, integration_id, "logs") +
         "\n\nCheck Integration Settings: " + panel_link(context, integration_id, "settings") +
         "\n";
}

// Sends (when a mailer is set) and records one alert unless its streak has one already.
Result<AlertOutcome> deliver(store::Store& store, const Mailer* mailer, store::Alert alert,
                             store::Timestamp now, const http::LogSink& log) {
  auto existing = store.list_alerts(alert.integration_id);
  if (!existing) return existing.error();
  const bool alerted = std::any_of(existing->begin(), existing->end(), [&](const store::Alert& a) {
    return a.kind == alert.kind && a.streak_id == alert.streak_id;
  });
  if (alerted) return AlertOutcome::already_alerted;
  if (mailer != nullptr) {
    if (auto sent = mailer->send(Email{alert.subject, alert.body}, now); !sent) {
      write_log(log, CRMSYNC_LOG_ERROR,
                "alert '" + alert.subject + "' not sent, will retry: " + sent.error().message);
      return sent.error();
    }
  } else {
    write_log(log, CRMSYNC_LOG_WARNING,
              "alert '" + alert.subject + "' recorded but not mailed: alerts.smtp_url is empty");
  }
  alert.sent_at = now;
  auto recorded = store.record_alert(alert);
  if (!recorded) return recorded.error();
  write_log(log, CRMSYNC_LOG_INFO,
            "alert " + alert.kind + " for " + alert.integration_id + " (" + alert.streak_id +
                "): " + alert.subject);
  return mailer != nullptr ? AlertOutcome::sent : AlertOutcome::recorded_unsent;
}

// The failed runs of the integration's current streak, newest first: the newest
// `consecutive_failures` failed runs. Running and abandoned runs neither count nor break it.
Result<std::vector<store::SyncRun>> streak_runs(store::Store& store,
                                                const std::string& integration_id,
                                                int consecutive_failures) {
  for (int limit = consecutive_failures + 16;; limit *= 2) {
    auto runs = store.list_runs(integration_id, limit);
    if (!runs) return runs.error();
    std::vector<store::SyncRun> failed;
    bool success_seen = false;
    for (auto& run : *runs) {
      if (run.status == store::RunStatus::success) {
        success_seen = true;
        break;
      }
      if (run.status != store::RunStatus::failed) continue;
      failed.push_back(std::move(run));
      if (static_cast<int>(failed.size()) == consecutive_failures) return failed;
    }
    if (success_seen || static_cast<int>(runs->size()) < limit) {
      return fail(CRMSYNC_E_CONFLICT, "integration " + integration_id + " counts " +
                                          std::to_string(consecutive_failures) +
                                          " consecutive failures but its runs show " +
                                          std::to_string(failed.size()) +
                                          "; a run finished meanwhile, call again");
    }
  }
}

}  // namespace

std::string crm_display_name(const std::string& crm_type, const std::string& integration_id) {
  static const std::map<std::string, std::string> kNames = {
      {"yclients", "YCLIENTS"},       {"amocrm", "AMO CRM"}, {"iiko", "Iiko"}, {"1c", "1С"},
      {"renovatio", "МИС Renovatio"}, {"csv", "CSV"},
  };
  if (crm_type == "custom") return integration_id;
  if (auto it = kNames.find(crm_type); it != kNames.end()) return it->second;
  std::string upper = crm_type;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

std::string admin_base_url(const config::ServerConfig& server) {
  if (!server.public_url.empty()) return server.public_url;
  return "http://" + server.listen + ":" + std::to_string(server.port);
}

Result<AlertOutcome> notify_run_failure(store::Store& store, const Mailer* mailer,
                                        const AlertContext& context,
                                        const std::string& integration_id, store::Timestamp now,
                                        const http::LogSink& log) {
  auto integration = store.get_integration(integration_id);
  if (!integration) return integration.error();
  if (integration->consecutive_failures < kFailureThreshold) return AlertOutcome::not_due;
  auto failed = streak_runs(store, integration_id, integration->consecutive_failures);
  if (!failed) return failed.error();
  auto business = store.get_business(integration->business_id);
  if (!business) return business.error();

  const store::SyncRun& last = failed->front();
  const std::string crm = crm_display_name(integration->crm_type, integration->id);
  std::string error = last.error_message.empty() ? "причина не указана" : last.error_message;
  if (!last.error_type.empty()) error = last.error_type + ": " + error;
  store::Alert alert;
  alert.integration_id = integration_id;
  alert.kind = kRunFailuresKind;
  alert.streak_id = "run-" + std::to_string(failed->back().id);
  alert.subject = "Ошибка синхронизации с " + crm + " - " + business->name;
  alert.body =
      "Синхронизация с " + crm + " для «" + business->name +
      "» не удалась несколько раз подряд.\n\n" + "Ошибка: " + error + "\n" +
      "Неудачных синхронизаций подряд: " + std::to_string(integration->consecutive_failures) +
      "\n" + "Последняя успешная синхронизация: " +
      (integration->last_sync_at ? local_time(*integration->last_sync_at, business->timezone)
                                 : std::string("никогда")) +
      "\n" + links(context, integration_id);
  return deliver(store, mailer, std::move(alert), now, log);
}

Result<AlertOutcome> notify_permanent_failure(store::Store& store, const Mailer* mailer,
                                              const AlertContext& context,
                                              const store::RetryItem& item,
                                              const std::string& error, store::Timestamp now,
                                              const http::LogSink& log) {
  auto integration = store.get_integration(item.integration_id);
  if (!integration) return integration.error();
  auto business = store.get_business(integration->business_id);
  if (!business) return business.error();

  const std::string crm = crm_display_name(integration->crm_type, integration->id);
  store::Alert alert;
  alert.integration_id = item.integration_id;
  alert.kind = kPermanentlyFailedKind;
  alert.streak_id = "retry-" + std::to_string(item.id);
  alert.subject = "Запись не синхронизирована: " + crm + " - " + business->name;
  alert.body = "Запись " + item.external_id + " из " + crm + " для «" + business->name +
               "» не удалось сохранить после всех повторных попыток; она помечена как "
               "permanently_failed.\n\n" +
               "Ошибка: " + (error.empty() ? std::string("причина не указана") : error) + "\n" +
               links(context, item.integration_id);
  return deliver(store, mailer, std::move(alert), now, log);
}

}  // namespace crmsync::alerts
