// `crmsync business` and `crmsync import-csv` as a business owner uses them: the real binary on
// the embedded default (SQLite in the working directory, no config file) and on PostgreSQL
// through a config file, with bench/sales_csv.py's files.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/postgres_cluster.h"
#include "support/process.h"
#include "support/temp_dir.h"

using crmsync::test::Run;
using crmsync::test::run_process;
using crmsync::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

Run run_crmsync(const fs::path& cwd, std::vector<std::string> args) {
  args.insert(args.begin(), CRMSYNC_BINARY);
  return run_process(args, cwd);
}

// Writes bench/sales_csv.py's file for rows/seed into dir and returns its path and expected counts.
std::pair<fs::path, json> generate(const fs::path& dir, int rows, int seed) {
  const std::string args = " --rows " + std::to_string(rows) + " --seed " + std::to_string(seed);
  const fs::path file = dir / ("sales-" + std::to_string(seed) + ".csv");
  const std::string gen = "python3 " CRMSYNC_SALES_CSV + args;
  REQUIRE(std::system((gen + " > " + file.string()).c_str()) == 0);
  const Run expect = run_process({"sh", "-c", gen + " --expect"}, dir);
  REQUIRE(expect.exit_code == 0);
  return {file, json::parse(expect.out)};
}

// A directory with a registered business "mindal" on the embedded default store.
struct Shop {
  TempDir dir;
  Shop() {
    const Run added = run_crmsync(dir.path(), {"business", "add", "mindal", "--name", "Миндаль"});
    REQUIRE_MESSAGE(added.exit_code == 0, added.err);
  }
};

}  // namespace

TEST_CASE("business add registers a business once, with checked settings") {
  TempDir dir;
  const Run added = run_crmsync(dir.path(), {"business", "add", "mindal", "--name", "Миндаль",
                                             "--timezone", "Asia/Yekaterinburg"});
  REQUIRE(added.exit_code == 0);
  CHECK(added.out.find("Added business mindal") != std::string::npos);
  CHECK(fs::exists(dir / "crmsync.db"));

  const Run again = run_crmsync(dir.path(), {"business", "add", "mindal", "--name", "Миндаль"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("business 'mindal' already exists") != std::string::npos);

  const Run bad_zone =
      run_crmsync(dir.path(), {"business", "add", "x", "--name", "X", "--timezone", "Mars/Base"});
  CHECK(bad_zone.exit_code == 1);
  CHECK(bad_zone.err.find("unknown time zone 'Mars/Base'") != std::string::npos);

  const Run listed = run_crmsync(dir.path(), {"business", "list", "--json"});
  REQUIRE(listed.exit_code == 0);
  const json businesses = json::parse(listed.out);
  REQUIRE(businesses.size() == 1);
  CHECK(businesses[0]["timezone"] == "Asia/Yekaterinburg");

  CHECK(run_crmsync(dir.path(), {"business"}).exit_code == 2);
}

TEST_CASE("import-csv imports the generator's file with its expected counts, then nothing") {
  Shop shop;
  auto [file, expected] = generate(shop.dir.path(), 3000, 2);

  const Run first =
      run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business", "mindal", "--json"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  const json counts = json::parse(first.out);
  CHECK(counts["rows"] == expected["rows"]);
  CHECK(counts["imported"] == expected["valid"]);
  CHECK(counts["errors"] == expected["errors"]);
  CHECK(counts["duplicates"] == expected["duplicates"]);

  // The per-row report names each bad row once.
  const fs::path report = counts["error_report"].get<std::string>();
  CHECK(report == fs::path(file.string() + ".errors.txt"));
  const std::string lines = crmsync::test::slurp(report);
  CHECK(std::count(lines.begin(), lines.end(), '\n') == expected["errors"].get<int>());
  CHECK(lines.rfind("Row ", 0) == 0);

  const Run again =
      run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business", "mindal"});
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("Imported 0 transactions, " + std::to_string(expected["errors"].get<int>()) +
                       " errors") == 0);
  CHECK(again.out.find("Error report: " + report.string()) != std::string::npos);
}

TEST_CASE("import-csv reports the spec's row errors") {
  Shop shop;
  const fs::path file = shop.dir / "sales.csv";
  std::ofstream(file) << "date,customer_phone,amount,description\n"
                         "2025-11-17 14:30:00,+79991234567,5000,Стрижка\n"
                         "2025-11-17 15:00:00,12345,100,\n"
                         "2025-11-17 16:00:00,+79991234568,abc,\n";
  const Run run =
      run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business", "mindal"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.out.find("Imported 1 transactions, 2 errors") == 0);
  const std::string report = crmsync::test::slurp(file.string() + ".errors.txt");
  CHECK(report.find("Row 3: Invalid phone format (expected +7XXXXXXXXXX)") == 0);
  CHECK(report.find("Row 4: Amount is not a number") != std::string::npos);
}

TEST_CASE("import-csv's error report neutralizes formula cells and keeps one error per line") {
  Shop shop;
  const fs::path file = shop.dir / "sales.csv";
  std::ofstream(file) << "date,customer_phone,amount,description\n"
                         "2025-11-17 14:30:00,+79991234567,5000,Стрижка\n"
                         "\"x,=HYPERLINK(\"\"http://evil\"\";\"\"y\"\")\",+79991234568,1,\n"
                         "\"x;+1\t-2\r\n@SUM(A1)\",+79991234569,1,\n";
  const Run run =
      run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business", "mindal"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK(run.out.find("Imported 1 transactions, 2 errors") == 0);
  const std::string report = crmsync::test::slurp(file.string() + ".errors.txt");
  INFO(report);
  CHECK(report.find("Row 3: Invalid time 'x,'=HYPERLINK(\"http://evil\";\"y\")'") == 0);
  CHECK(report.find("Row 4: Invalid time 'x;'+1 -2  @SUM(A1)'") != std::string::npos);
  CHECK(std::count(report.begin(), report.end(), '\n') == 2);
  CHECK(report.find('\t') == std::string::npos);
  CHECK(report.find('\r') == std::string::npos);
}

TEST_CASE("import-csv refuses what it cannot import with a clear message and imports nothing") {
  Shop shop;
  SUBCASE("an unknown business is an error, not created") {
    const fs::path file = shop.dir / "ok.csv";
    std::ofstream(file) << "date,customer_phone,amount\n2025-11-17 14:30:00,+79991234567,5000\n";
    const Run run =
        run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business", "nobody"});
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("unknown business 'nobody'") != std::string::npos);
    const Run listed = run_crmsync(shop.dir.path(), {"business", "list", "--json"});
    CHECK(json::parse(listed.out).size() == 1);
  }
  SUBCASE("missing required columns stop the import before any row") {
    const fs::path file = shop.dir / "no-amount.csv";
    std::ofstream(file) << "date,customer_phone\n2025-11-17 14:30:00,+79991234567\n";
    const Run run =
        run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business", "mindal"});
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("Missing required column(s): amount") != std::string::npos);
  }
  SUBCASE("a file above the size limit is refused unless the limit is raised") {
    auto [file, expected] = generate(shop.dir.path(), 2000, 3);
    const Run refused = run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business",
                                                      "mindal", "--max-mb", "0.05", "--json"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("above the") != std::string::npos);
    CHECK(refused.out.empty());
    const Run raised = run_crmsync(shop.dir.path(), {"import-csv", file.string(), "--business",
                                                     "mindal", "--max-mb", "50", "--json"});
    REQUIRE(raised.exit_code == 0);
    CHECK(json::parse(raised.out)["imported"] == expected["valid"]);
  }
  SUBCASE("a file that does not exist") {
    const Run run =
        run_crmsync(shop.dir.path(), {"import-csv", "missing.csv", "--business", "mindal"});
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("cannot read missing.csv") != std::string::npos);
  }
}

TEST_CASE("import-csv into PostgreSQL gives the same counts as SQLite") {
  TempDir dir;
  const std::string url = crmsync::test::PostgresCluster::instance().create_database();
  const fs::path config = dir / "crmsync.yaml";
  std::ofstream(config) << "storage:\n  backend: postgres\n  url: \"" << url << "\"\n"
                        << "plugins:\n  dir: " CRMSYNC_PLUGIN_DIR "\n"
                        << "businesses:\n  - id: mindal\n    name: Миндаль\n";
  auto [file, expected] = generate(dir.path(), 3000, 1);
  const Run first = run_crmsync(dir.path(), {"--config", config.string(), "import-csv",
                                             file.string(), "--business", "mindal", "--json"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  const json counts = json::parse(first.out);
  CHECK(counts["imported"] == expected["valid"]);
  CHECK(counts["errors"] == expected["errors"]);
  CHECK(counts["duplicates"] == expected["duplicates"]);
  CHECK_FALSE(fs::exists(dir / "crmsync.db"));
}
