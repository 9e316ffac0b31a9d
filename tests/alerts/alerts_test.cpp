// The alerts suite: real SMTP over loopback (support/smtp_server.h) and the real store on SQLite
// and PostgreSQL. Each mail that arrives is parsed back (headers unfolded, RFC 2047 subject and
// base64 body decoded) and checked as a mail client would show it.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "alerts/alerts.h"
#include "alerts/internal.h"
#include "crypto/crypto.h"
#include "support/backends.h"
#include "support/ports.h"
#include "support/smtp_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <sstream>

using namespace crmsync;
using namespace crmsync::store;
using namespace std::chrono_literals;

namespace {

const Timestamp kT0 = Timestamp(1763389800000ms);           // 2025-11-17T14:30:00Z
const Timestamp kLastSuccess = Timestamp(1763305200000ms);  // 2025-11-16T15:00:00Z, 18:00 MSK
const char* kIntegration = "mindal-yclients";
const alerts::AlertContext kContext{"https://crm.example.com/"};

// A mail as its reader sees it.
struct ReadMail {
  std::map<std::string, std::string> headers;  // unfolded, by name
  std::string subject;                         // decoded
  std::string body;                            // decoded, CRLF turned into LF
};

std::string decode_words(const std::string& value) {
  std::string out;
  size_t at = 0;
  while ((at = value.find("=?UTF-8?B?", at)) != std::string::npos) {
    const size_t start = at + 10;
    const size_t end = value.find("?=", start);
    REQUIRE(end != std::string::npos);
    auto decoded = crypto::base64_decode(value.substr(start, end - start));
    REQUIRE(decoded.ok());
    out += *decoded;
    at = end + 2;
  }
  return out;
}

ReadMail read_mail(const std::string& data) {
  const size_t split = data.find("\r\n\r\n");
  REQUIRE(split != std::string::npos);
  ReadMail mail;
  std::string last;
  std::istringstream lines(data.substr(0, split + 2));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == ' ') {
      mail.headers[last] += line;  // a folded continuation
      continue;
    }
    const size_t colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    last = line.substr(0, colon);
    mail.headers[last] = line.substr(colon + 2);
  }
  mail.subject = decode_words(mail.headers["Subject"]);
  std::string encoded;
  for (char c : data.substr(split + 4)) {
    if (c != '\r' && c != '\n') encoded += c;
  }
  auto decoded = crypto::base64_decode(encoded);
  REQUIRE(decoded.ok());
  for (char c : *decoded) {
    if (c != '\r') mail.body += c;
  }
  return mail;
}

bool has_line(const std::string& body, const std::string& line) {
  return ("\n" + body + "\n").find("\n" + line + "\n") != std::string::npos;
}

alerts::MailerOptions mailer_options(const std::string& url) {
  alerts::MailerOptions options;
  options.smtp_url = url;
  options.from = "alerts@crmsync.example";
  options.to = {"owner@mindal.example", "admin@platform.example"};
  options.connect_timeout = 2s;
  options.timeout = 5s;
  return options;
}

std::unique_ptr<alerts::Mailer> mailer_for(const std::string& url) {
  return alerts::Mailer::create(mailer_options(url)).value();
}

// A store with the business Миндаль and its YCLIENTS integration, and a clock for runs.
template <class B>
struct Fixture {
  B db;
  std::unique_ptr<Store> store = open_store(db.config()).value();
  Timestamp now = kT0;

  Fixture() {
    REQUIRE(store->add_business(
        Business{"mindal", "Миндаль", "Europe/Moscow", "RU", "RUB", std::nullopt, kT0}));
    Integration i;
    i.id = kIntegration;
    i.business_id = "mindal";
    i.crm_type = "yclients";
    i.created_at = i.updated_at = kT0 - std::chrono::days(2);
    REQUIRE(store->create_integration(i));
  }

  // Runs one sync that ends as status; returns the run id.
  int64_t run(RunStatus status, Timestamp at) {
    auto run = store->start_run(kIntegration, RunTrigger::schedule, "host-1", 5min, at).value();
    REQUIRE(run.has_value());
    const bool failed = status == RunStatus::failed;
    REQUIRE(store->finish_run(run->id, "host-1", status, failed ? "ConnectionError" : "",
                              failed ? "Failed to connect to api.yclients.com" : "", at + 2s));
    return run->id;
  }
  int64_t fail_run() {
    now += 5min;
    return run(RunStatus::failed, now);
  }

  Result<alerts::AlertOutcome> notify(const alerts::Mailer* mailer, const http::LogSink& log = {}) {
    return alerts::notify_run_failure(*store, mailer, kContext, kIntegration, now + 3s, log);
  }
};

}  // namespace

TEST_CASE_TEMPLATE("the third consecutive failure mails one alert; the 1st, 2nd and 4th do not", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  f.run(RunStatus::success, kLastSuccess);

  const int64_t first = f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::not_due);
  f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::not_due);
  CHECK(smtp.messages().empty());
  f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::sent);
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::already_alerted);  // a retry
  f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::already_alerted);

  const auto messages = smtp.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].mail_from == "alerts@crmsync.example");
  CHECK(messages[0].rcpt_to ==
        std::vector<std::string>{"owner@mindal.example", "admin@platform.example"});
  const ReadMail mail = read_mail(messages[0].data);
  CHECK(mail.subject == "Ошибка синхронизации с YCLIENTS - Миндаль");
  CHECK(mail.headers.at("From") == "alerts@crmsync.example");
  CHECK(mail.headers.at("To") == "owner@mindal.example, admin@platform.example");
  CHECK(mail.headers.at("Date") == "Mon, 17 Nov 2025 14:45:03 +0000");
  CHECK(mail.headers.at("MIME-Version") == "1.0");
  CHECK(mail.headers.at("Content-Type") == "text/plain; charset=utf-8");
  CHECK(mail.headers.at("Content-Transfer-Encoding") == "base64");
  CHECK(mail.headers.at("Message-ID").starts_with("<"));
  CHECK(mail.headers.at("Message-ID").ends_with("@crmsync.example>"));
  CHECK(has_line(mail.body, "Ошибка: ConnectionError: Failed to connect to api.yclients.com"));
  CHECK(has_line(mail.body, "Последняя успешная синхронизация: 2025-11-16 18:00"));
  CHECK(has_line(mail.body, "Неудачных синхронизаций подряд: 3"));
  CHECK(has_line(mail.body,
                 "Логи интеграции: "
                 "https://crm.example.com/admin/#/integrations/mindal-yclients/logs"));
  CHECK(has_line(mail.body,
                 "Check Integration Settings: "
                 "https://crm.example.com/admin/#/integrations/mindal-yclients/settings"));

  const auto recorded = f.store->list_alerts(kIntegration).value();
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].kind == "sync_failures");
  CHECK(recorded[0].streak_id == "run-" + std::to_string(first));
  CHECK(recorded[0].subject == mail.subject);
  CHECK(recorded[0].body == mail.body);
}

TEST_CASE_TEMPLATE("a new failure streak after a success alerts again", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  for (int streak = 0; streak < 2; ++streak) {
    for (int i = 0; i < 3; ++i) {
      f.fail_run();
      CHECK(f.notify(mailer.get()).value() ==
            (i == 2 ? alerts::AlertOutcome::sent : alerts::AlertOutcome::not_due));
    }
    f.now += 5min;
    f.run(RunStatus::success, f.now);
    CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::not_due);
  }
  CHECK(smtp.messages().size() == 2);
  const auto recorded = f.store->list_alerts(kIntegration).value();
  REQUIRE(recorded.size() == 2);
  CHECK(recorded[0].streak_id != recorded[1].streak_id);
}

TEST_CASE_TEMPLATE("an abandoned run neither counts nor breaks a failure streak", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  const int64_t first = f.fail_run();
  f.fail_run();
  // A host dies mid-run; the next start marks its run abandoned.
  f.now += 5min;
  REQUIRE(f.store->start_run(kIntegration, RunTrigger::schedule, "host-2", 1min, f.now).value());
  f.now += 5min;
  f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::sent);
  const auto recorded = f.store->list_alerts(kIntegration).value();
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].streak_id == "run-" + std::to_string(first));
}

TEST_CASE_TEMPLATE("an unreachable SMTP server is a clear error; the next failure retries", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  const std::string down = "smtp://127.0.0.1:" + std::to_string(test::closed_port());
  auto unreachable = mailer_for(down);
  for (int i = 0; i < 3; ++i) f.fail_run();
  auto outcome = f.notify(unreachable.get());
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(outcome.error().message.find(down) != std::string::npos);
  CHECK(f.store->list_alerts(kIntegration).value().empty());  // not marked sent

  // The server is back by the 4th failure: the streak's alert goes out then, once.
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::sent);
  f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::already_alerted);
  REQUIRE(smtp.messages().size() == 1);
  CHECK(has_line(read_mail(smtp.messages()[0].data).body, "Неудачных синхронизаций подряд: 4"));
}

TEST_CASE_TEMPLATE("a refused message is not recorded and the retried call sends it", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  for (int i = 0; i < 3; ++i) f.fail_run();
  smtp.refuse_next(1, "451 4.3.0 Try again later");
  auto refused = f.notify(mailer.get());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(refused.error().message.find("451") != std::string::npos);
  CHECK(f.store->list_alerts(kIntegration).value().empty());
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::sent);
  CHECK(smtp.messages().size() == 1);
}

TEST_CASE_TEMPLATE("without an SMTP URL the alert is recorded and logged, not mailed", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  auto mailer = alerts::make_mailer(config::AlertsConfig{}).value();
  CHECK(mailer == nullptr);
  std::vector<std::string> lines;
  const http::LogSink log = [&](int32_t, const std::string& line) { lines.push_back(line); };
  for (int i = 0; i < 3; ++i) f.fail_run();
  CHECK(f.notify(mailer.get(), log).value() == alerts::AlertOutcome::recorded_unsent);
  CHECK(f.notify(mailer.get(), log).value() == alerts::AlertOutcome::already_alerted);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].find("smtp_url is empty") != std::string::npos);
  CHECK(f.store->list_alerts(kIntegration).value().size() == 1);
}

TEST_CASE_TEMPLATE("an integration that never synced says so", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  for (int i = 0; i < 3; ++i) f.fail_run();
  CHECK(f.notify(mailer.get()).value() == alerts::AlertOutcome::sent);
  REQUIRE(smtp.messages().size() == 1);
  CHECK(has_line(read_mail(smtp.messages()[0].data).body,
                 "Последняя успешная синхронизация: никогда"));
}

TEST_CASE_TEMPLATE("a permanently failed record is alerted once, naming the record and error", B,
                   CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  test::SmtpServer smtp;
  auto mailer = mailer_for(smtp.url());
  RetryItem item{0,   kIntegration, "YCLIENTS-67890", R"({"id":67890})", 2, ItemStatus::pending,
                 kT0, "timeout"};
  item.id = f.store->enqueue_retry(item).value();
  auto notify = [&] {
    return alerts::notify_permanent_failure(*f.store, mailer.get(), kContext, item,
                                            "Missing field 'client.phone' in response", kT0);
  };
  CHECK(notify().value() == alerts::AlertOutcome::sent);
  CHECK(notify().value() == alerts::AlertOutcome::already_alerted);
  REQUIRE(smtp.messages().size() == 1);
  const ReadMail mail = read_mail(smtp.messages()[0].data);
  CHECK(mail.subject == "Запись не синхронизирована: YCLIENTS - Миндаль");
  CHECK(mail.body.find("Запись YCLIENTS-67890 из YCLIENTS") != std::string::npos);
  CHECK(mail.body.find("permanently_failed") != std::string::npos);
  CHECK(has_line(mail.body, "Ошибка: Missing field 'client.phone' in response"));
  CHECK(has_line(mail.body,
                 "Check Integration Settings: "
                 "https://crm.example.com/admin/#/integrations/mindal-yclients/settings"));
  const auto recorded = f.store->list_alerts(kIntegration).value();
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].kind == "permanently_failed");
  CHECK(recorded[0].streak_id == "retry-" + std::to_string(item.id));
}

TEST_CASE_TEMPLATE("alerts for an unknown integration are NOT_FOUND", B, CRMSYNC_TEST_BACKENDS) {
  Fixture<B> f;
  auto outcome = alerts::notify_run_failure(*f.store, nullptr, kContext, "nope", kT0);
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().code == CRMSYNC_E_NOT_FOUND);
}

TEST_CASE("AUTH PLAIN credentials from the URL reach the server; a wrong password is refused") {
  test::SmtpServer smtp({"alerts", "s3cret"});
  const std::string host = "127.0.0.1:" + std::to_string(smtp.port());
  REQUIRE(mailer_for("smtp://alerts:s3cret@" + host)->send({"Тест", "текст"}, kT0));
  REQUIRE(smtp.messages().size() == 1);
  CHECK(smtp.messages()[0].auth_user == "alerts");

  auto options = mailer_options("smtp://" + host);
  options.username = "alerts";
  options.password = "wrong-password";
  auto refused = alerts::Mailer::create(options).value()->send({"Тест", "текст"}, kT0);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(refused.error().message.find("wrong-password") == std::string::npos);
  CHECK(smtp.messages().size() == 1);
}

TEST_CASE("requiring STARTTLS fails clearly when the server does not offer it") {
  test::SmtpServer smtp;
  auto options = mailer_options(smtp.url());
  options.require_starttls = true;
  auto sent = alerts::Mailer::create(options).value()->send({"Тест", "текст"}, kT0);
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code == CRMSYNC_E_UNAVAILABLE);
  CHECK(smtp.messages().empty());
}

TEST_CASE("a server that never greets times out") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(fd, 4) == 0);  // the kernel accepts; nobody ever answers
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  auto options = mailer_options("smtp://127.0.0.1:" + std::to_string(ntohs(address.sin_port)));
  options.timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  auto sent = alerts::Mailer::create(options).value()->send({"Тест", "текст"}, kT0);
  close(fd);
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code == CRMSYNC_E_TIMEOUT);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
}

TEST_CASE("bad mailer options are INVALID_CONFIG, header injection included") {
  auto refused = [](alerts::MailerOptions options) {
    auto mailer = alerts::Mailer::create(std::move(options));
    return !mailer.ok() && mailer.error().code == CRMSYNC_E_INVALID_CONFIG;
  };
  auto options = mailer_options("smtp://127.0.0.1:25");
  CHECK_FALSE(refused(options));
  CHECK(refused(mailer_options("http://127.0.0.1:25")));
  CHECK(refused(mailer_options("not a url")));
  auto no_recipients = options;
  no_recipients.to.clear();
  CHECK(refused(no_recipients));
  auto injected = options;
  injected.from = "alerts@crmsync.example\r\nBcc: victim@example.com";
  CHECK(refused(injected));
  auto named = options;
  named.to = {"Owner <owner@mindal.example>"};
  CHECK(refused(named));
  auto no_domain = options;
  no_domain.to = {"owner@"};
  CHECK(refused(no_domain));
  auto zero_timeout = options;
  zero_timeout.timeout = 0ms;
  CHECK(refused(zero_timeout));
  auto from_config = alerts::make_mailer(config::AlertsConfig{"ftp://mail", "a@b.c", {"d@e.f"}});
  REQUIRE_FALSE(from_config.ok());
  CHECK(from_config.error().message.find("alerts.smtp_url") != std::string::npos);
}

TEST_CASE("long subjects fold into encoded words of at most 75 characters, whole characters") {
  std::string subject = "Ошибка синхронизации с МИС Renovatio - Клиника «Здоровье и долголетие»";
  const std::string encoded = alerts::internal::encode_header_words(subject);
  std::istringstream lines(encoded);
  int words = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == ' ') line.erase(0, 1);
    CHECK(line.size() <= 75);
    // Each word decodes to valid UTF-8 on its own: it never ends inside a character.
    const std::string part = decode_words(line);
    REQUIRE_FALSE(part.empty());
    CHECK((static_cast<unsigned char>(part.back()) & 0xC0) != 0xC0);
    ++words;
  }
  CHECK(words > 1);
  CHECK(decode_words(encoded) == subject);
  CHECK(alerts::internal::encode_header_words("").empty());

  test::SmtpServer smtp;
  REQUIRE(mailer_for(smtp.url())->send({subject, ".точка в начале\nи вторая строка"}, kT0));
  REQUIRE(smtp.messages().size() == 1);
  const ReadMail mail = read_mail(smtp.messages()[0].data);
  CHECK(mail.subject == subject);
  CHECK(mail.body == ".точка в начале\nи вторая строка");
}

TEST_CASE("CRM display names follow the spec; unknown types are upper-cased") {
  CHECK(alerts::crm_display_name("yclients", "x") == "YCLIENTS");
  CHECK(alerts::crm_display_name("amocrm", "x") == "AMO CRM");
  CHECK(alerts::crm_display_name("iiko", "x") == "Iiko");
  CHECK(alerts::crm_display_name("1c", "x") == "1С");
  CHECK(alerts::crm_display_name("renovatio", "x") == "МИС Renovatio");
  CHECK(alerts::crm_display_name("csv", "x") == "CSV");
  CHECK(alerts::crm_display_name("custom", "lisichkino-erp") == "lisichkino-erp");
  CHECK(alerts::crm_display_name("bitrix24", "x") == "BITRIX24");
}

TEST_CASE("the admin base URL is server.public_url, else the listen address") {
  config::ServerConfig server;
  CHECK(alerts::admin_base_url(server) == "http://127.0.0.1:8080");
  server.public_url = "https://crm.example.com";
  CHECK(alerts::admin_base_url(server) == "https://crm.example.com");
}
