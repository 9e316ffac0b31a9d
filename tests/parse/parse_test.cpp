// Tests of `crmsync parse` on bad input, through the real binary: every refusal exits 1 (2 for
// usage errors) with one clear message on stderr and prints no records.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "parse/parse_process.h"
#include "support/temp_dir.h"

using crmsync::test::ParseRun;
using crmsync::test::run_parse;
using crmsync::test::TempDir;
using crmsync::test::write_file;

namespace {

const std::string kCompanyConfig = R"({"company_id":4564})";

// Checks a refusal: the exit code, no output, and one stderr line containing `message`.
void check_refused(const ParseRun& run, const std::string& message, int exit_code = 1) {
  CHECK(run.exit_code == exit_code);
  CHECK(run.lines.empty());
  CHECK(run.err.find(message) != std::string::npos);
  if (exit_code == 1) CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("invalid JSON exits 1 with a message and prints no records") {
  TempDir dir;
  write_file(dir / "page.json", R"({"success": true, "data": [{"id": 1, "attendance": 1)");
  for (const std::string kind : {"response", "webhook"}) {
    CAPTURE(kind);
    check_refused(run_parse({"--connector", "yclients", "--kind", kind, "--config-json",
                             kCompanyConfig, (dir / "page.json").string()},
                            dir.path()),
                  "is not JSON");
  }
}

TEST_CASE("a webhook of the wrong content type exits 1") {
  TempDir dir;
  write_file(dir / "hook.xml", "<event/>");
  check_refused(
      run_parse({"--connector", "yclients", "--kind", "webhook", "--content-type", "text/xml",
                 "--config-json", kCompanyConfig, (dir / "hook.xml").string()},
                dir.path()),
      "YCLIENTS webhooks are JSON, not text/xml");
}

TEST_CASE("an unknown connector exits 1") {
  TempDir dir;
  write_file(dir / "body.json", "{}");
  check_refused(
      run_parse({"--connector", "nosuchcrm", "--kind", "response", (dir / "body.json").string()},
                dir.path()),
      "unknown connector nosuchcrm");
}

TEST_CASE("a missing file exits 1") {
  TempDir dir;
  check_refused(run_parse({"--connector", "yclients", "--kind", "response", "--config-json",
                           kCompanyConfig, (dir / "absent.json").string()},
                          dir.path()),
                "absent.json: cannot be read");
}

TEST_CASE("settings the connector's schema refuses exit 1 and name the field") {
  TempDir dir;
  write_file(dir / "body.json", R"({"success":true,"data":[],"meta":{"page":1,"total_count":0}})");
  check_refused(
      run_parse({"--connector", "yclients", "--kind", "response", (dir / "body.json").string()},
                dir.path()),
      "company_id");
  check_refused(run_parse({"--connector", "yclients", "--kind", "response", "--config-json",
                           "not json", (dir / "body.json").string()},
                          dir.path()),
                "JSON");
}

TEST_CASE("an unknown time zone exits 1") {
  TempDir dir;
  write_file(dir / "body.json", "{}");
  check_refused(run_parse({"--connector", "yclients", "--kind", "response", "--timezone",
                           "Mars/Olympus", (dir / "body.json").string()},
                          dir.path()),
                "--timezone");
}

TEST_CASE("a connector without an offline mapping exits 1 and says so") {
  TempDir dir;
  write_file(dir / "body.csv", "date,phone,amount\n");
  check_refused(run_parse({"--connector", "csv", "--kind", "response", "--config-json",
                           R"({"path":"/dev/null"})", (dir / "body.csv").string()},
                          dir.path()),
                "not supported");
}

TEST_CASE("a kind other than response or webhook is a usage error") {
  TempDir dir;
  write_file(dir / "body.json", "{}");
  check_refused(
      run_parse({"--connector", "yclients", "--kind", "page", (dir / "body.json").string()},
                dir.path()),
      "--kind", 2);
}

TEST_CASE("an empty records page prints nothing and succeeds") {
  TempDir dir;
  write_file(dir / "body.json", R"({"success":true,"data":[],"meta":{"page":1,"total_count":0}})");
  const ParseRun run = run_parse({"--connector", "yclients", "--kind", "response", "--config-json",
                                  kCompanyConfig, (dir / "body.json").string()},
                                 dir.path());
  CHECK(run.exit_code == 0);
  CHECK(run.lines.empty());
  CHECK(run.err.empty());
}

TEST_CASE("JSON nested deeper than 256 levels exits 1 with a clear error through every connector") {
  TempDir dir;
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  write_file(dir / "deep.json", R"({"success":true,"data":)" + deep + "}");
  write_file(dir / "deep-array.json", deep);
  const std::string custom =
      R"({"request":{"url":"http://crm.example/orders"},"auth":{"type":"none"},)"
      R"("mapping":{"external_id":"$.id","amount":"$.total","occurred_at":"$.created_at"}})";
  struct Case {
    std::string connector, kind, config, file;
  };
  const std::vector<Case> cases = {
      {"yclients", "response", kCompanyConfig, "deep.json"},
      {"yclients", "webhook", kCompanyConfig, "deep.json"},
      {"amocrm", "response",
       R"({"subdomain":"example","client_id":"c","redirect_uri":"https://crm.example.com/oauth"})",
       "deep.json"},
      {"iiko", "response", "{}", "deep.json"},
      {"iiko", "webhook", "{}", "deep-array.json"},
      {"1c", "response", R"({"mode":"odata","base_url":"http://1c.example/base"})", "deep.json"},
      {"1c", "response", R"({"api_url":"http://1c.example/skinerica"})", "deep-array.json"},
      {"renovatio", "response",
       R"({"clinic_id":1,"patient_salt":"pepper-of-millenium-2025","api_key":"k"})", "deep.json"},
      {"custom", "response", custom, "deep-array.json"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.connector);
    CAPTURE(c.kind);
    CAPTURE(c.file);
    check_refused(run_parse({"--connector", c.connector, "--kind", c.kind, "--config-json",
                             c.config, (dir / c.file).string()},
                            dir.path()),
                  "nests deeper than 256 levels");
  }
}
