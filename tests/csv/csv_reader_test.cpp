// Tests of the CSV reader and row mapping, used directly: csv-spectrum, Excel's habits, buffer
// boundaries, malformed records, resuming, and the parse speed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "csv_rows.h"
#include "csv_test_support.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace crmsync::csv::test {
namespace {

using Fields = std::vector<std::string>;

const std::filesystem::path kSpectrum =
    std::filesystem::path(CRMSYNC_TEST_DATA_DIR) / "csv-spectrum";

// Header → value objects, the shape of csv-spectrum's expected JSON.
nlohmann::json as_objects(const std::vector<Row>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t r = 1; r < rows.size(); ++r) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t i = 0; i < rows[r].fields.size(); ++i) {
      object[rows[0].fields.at(i)] = rows[r].fields[i];
    }
    out.push_back(object);
  }
  return out;
}

// The length of the longest record of data, line break included.
size_t longest_record(const std::string& data) {
  std::vector<Row> rows = read_rows(data);
  size_t longest = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    uint64_t end = i + 1 < rows.size() ? rows[i + 1].offset : data.size();
    longest = std::max<size_t>(longest, end - rows[i].offset);
  }
  return longest;
}

TEST_CASE("csv-spectrum: every strict case parses to its expected JSON at any buffer size") {
  // location_coordinates is an upstream data defect (see the suite's README), tested below.
  const char* cases[] = {"comma_in_quotes",
                         "empty",
                         "empty_crlf",
                         "escaped_quotes",
                         "json",
                         "newlines",
                         "newlines_crlf",
                         "quotes_and_newlines",
                         "simple",
                         "simple_crlf",
                         "utf8"};
  for (const char* name : cases) {
    CAPTURE(name);
    std::string data = slurp(kSpectrum / "csvs" / (std::string(name) + ".csv"));
    nlohmann::json expected =
        nlohmann::json::parse(slurp(kSpectrum / "json" / (std::string(name) + ".json")));
    CHECK(as_objects(read_rows(data)) == expected);
    // Every size from the longest record up moves the buffer boundary through every record.
    size_t longest = longest_record(data);
    for (size_t size = longest + 1; size < longest + 80; ++size) {
      CAPTURE(size);
      std::vector<Row> rows = read_rows(data, {',', size});
      for (const Row& row : rows) CHECK(row.error.empty());
      CHECK(as_objects(rows) == expected);
    }
  }
}

TEST_CASE("csv-spectrum: location_coordinates parses to the CSV's own values") {
  std::vector<Row> rows = read_rows(slurp(kSpectrum / "csvs" / "location_coordinates.csv"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fields ==
        Fields{"Contact Phone Number", "Location Coordinates", "Cities", "Counties"});
  CHECK(rows[1].fields == Fields{"2095257564",
                                 "37\xEF\xBF\xBD"
                                 "36'37.8\"N 121\xEF\xBF\xBD"
                                 "2'17.9\"W",
                                 "Modesto", "Stanislaus"});
}

TEST_CASE("a UTF-8 BOM before the header is skipped") {
  std::vector<Row> rows = read_rows(
      "\xEF\xBB\xBF"
      "date,amount\r\n2025-11-17,100\r\n");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fields == Fields{"date", "amount"});
  CHECK(rows[0].offset == 3);
  CHECK(rows[1].fields == Fields{"2025-11-17", "100"});
}

TEST_CASE("CRLF and LF record ends mix; CRLF inside a quoted field is kept") {
  std::vector<Row> rows = read_rows("a,b\r\n1,\"x\r\ny\"\r\n2,3\n4,5");
  REQUIRE(rows.size() == 4);
  CHECK(rows[1].fields == Fields{"1", "x\r\ny"});
  CHECK(rows[2].fields == Fields{"2", "3"});
  CHECK(rows[3].fields == Fields{"4", "5"});
}

TEST_CASE("semicolon delimiter as Excel writes it in Russian locales") {
  std::string data =
      "date;amount;description\r\n2025-11-17 14:30:00;1 500,50;\"Кофе; круассан\"\r\n";
  CHECK(detect_delimiter(data) == ';');
  std::vector<Row> rows = read_rows(data, {';'});
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].fields == Fields{"2025-11-17 14:30:00", "1 500,50", "Кофе; круассан"});
}

TEST_CASE("delimiter detection looks at the header line only, outside quotes") {
  CHECK(detect_delimiter("a,b,c\n1;2;3;4;5\n") == ',');
  CHECK(detect_delimiter("a;b;c\n1,2,3,4,5\n") == ';');
  CHECK(detect_delimiter("\"x;y;z\",b\n") == ',');
  CHECK(detect_delimiter("") == ',');
}

TEST_CASE("quoted newlines across the buffer boundary, with a tiny buffer") {
  std::string data = "a,b\n1,\"line one\nline \"\"two\"\"\nthree\"\n2,\"\"\n";
  for (size_t size = 40; size < 64; ++size) {
    CAPTURE(size);
    std::vector<Row> rows = read_rows(data, {',', size});
    REQUIRE(rows.size() == 3);
    CHECK(rows[1].fields == Fields{"1", "line one\nline \"two\"\nthree"});
    CHECK(rows[1].row == 2);
    CHECK(rows[2].fields == Fields{"2", ""});
    CHECK(rows[2].row == 3);
  }
}

TEST_CASE("blank lines are skipped but numbered, as a spreadsheet shows them") {
  std::vector<Row> rows = read_rows("a\n\n1\r\n\r\n\n2\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].fields == Fields{"1"});
  CHECK(rows[1].row == 3);
  CHECK(rows[2].fields == Fields{"2"});
  CHECK(rows[2].row == 6);
}

TEST_CASE("spaces around quoted fields, quotes inside unquoted fields, a trailing delimiter") {
  std::vector<Row> rows = read_rows(" \"a\" ,\t\"b\"\t\n5\" screen,x\n1,2,");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].fields == Fields{"a", "b"});
  CHECK(rows[1].fields == Fields{"5\" screen", "x"});
  CHECK(rows[2].fields == Fields{"1", "2", ""});
}

TEST_CASE("empty input and a lone BOM have no records") {
  CHECK(read_rows("").empty());
  CHECK(read_rows("\xEF\xBB\xBF").empty());
  CHECK(read_rows("\n\r\n").empty());
}

TEST_CASE("a quote never closed is one malformed row; the lines after it are read again") {
  std::vector<Row> rows = read_rows("a,b\n1,\"oops\n2,3\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].error == "quoted field is not closed");
  CHECK(rows[1].text == "1,\"oops");
  CHECK(rows[1].row == 2);
  CHECK(rows[2].error.empty());
  CHECK(rows[2].fields == Fields{"2", "3"});
  CHECK(rows[2].row == 3);
}

TEST_CASE("text after a closing quote is a malformed row; the next row survives") {
  std::vector<Row> rows = read_rows("a,b\n1,\"x\"y\n2,3\n");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].error == "unexpected text after a closing quote");
  CHECK(rows[2].fields == Fields{"2", "3"});
}

TEST_CASE("a record longer than the buffer is a malformed row; the next row survives") {
  std::string data = "a,b\n" + std::string(100, 'x') + ",1\n2,3\n";
  std::vector<Row> rows = read_rows(data, {',', 32});
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].error == "record longer than 32 bytes (a quote left open?)");
  CHECK(rows[1].row == 2);
  CHECK(rows[2].fields == Fields{"2", "3"});
  CHECK(rows[2].row == 3);

  // An open quote swallowing lines until the buffer is full: the reader restarts at the line
  // after the bad one.
  rows = read_rows("a,b\n1,\"open\n2,3\n4,5\n6,7\n8,9\n", {',', 16});
  REQUIRE(rows.size() >= 3);
  CHECK(rows[1].error == "record longer than 16 bytes (a quote left open?)");
  CHECK(rows.back().fields == Fields{"8", "9"});
}

TEST_CASE("reading again from offset() and row() gives exactly the rest") {
  std::string data = generate_csv(300, 7);
  std::vector<Row> all = read_rows(data);
  StringSource source(data);
  for (size_t stop : {size_t{1}, size_t{2}, size_t{57}, size_t{200}, all.size()}) {
    CAPTURE(stop);
    Reader reader(source, {',', 4096});
    Record record;
    for (size_t i = 0; i < stop; ++i) REQUIRE(reader.next(record));
    std::vector<Row> rest = read_rows(source, {',', 4096}, reader.offset(), reader.row());
    REQUIRE(rest.size() == all.size() - stop);
    for (size_t i = 0; i < rest.size(); ++i) {
      CHECK(rest[i].fields == all[stop + i].fields);
      CHECK(rest[i].row == all[stop + i].row);
    }
  }
}

TEST_CASE("a 10 MB+ file is read through the fixed buffer") {
  TempDir dir;
  std::string data = generate_csv(180000, 3);
  REQUIRE(data.size() > 10 * 1024 * 1024);
  FileSource source(dir.write("big.csv", data));
  Reader reader(source, {});
  Record record;
  size_t records = 0;
  while (reader.next(record)) ++records;
  CHECK(records == 180001);
  CHECK(reader.offset() == data.size());
  // The buffer is the reader's only storage that depends on the input's length.
  CHECK(reader.buffer_capacity() == 256 * 1024);
}

TEST_CASE("parse speed: 1,000,000 rows well under a second") {
  // Rows shaped like bench/sales_csv.py's workload, some quoted, repeated to a million.
  std::string data = "date,customer_phone,amount,description\n";
  const char* rows[] = {
      "2025-03-14 09:26:53,+79161234567,1500.50,Стрижка\n",
      "2025-07-01 18:02:11,8 (916) 123-45-67,\"1,234.00\",\"Набор \"\"Уход\"\", 2 шт.\"\n",
      "2025-11-28 12:00:00,89161234567,990,\"Пилинг\nкомплекс\"\n",
      "2025-01-09 21:59:59,+7 916 123 45 67,12 345,50,\n"};
  for (int i = 0; i < 1000000; ++i) data += rows[i % 4];
  StringSource source(data);
  auto start = std::chrono::steady_clock::now();
  Reader reader(source, {});
  Record record;
  size_t records = 0;
  size_t bytes = 0;
  while (reader.next(record)) {
    ++records;
    for (std::string_view field : record.fields) bytes += field.size();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(records == 1000001);
  CHECK(bytes > 0);
  MESSAGE("parsed " << records << " rows, " << data.size() / 1e6 << " MB in " << seconds
                    << " s: " << records / seconds / 1e6 << " M rows/s, "
                    << data.size() / seconds / 1e6 << " MB/s");
#if !defined(__SANITIZE_ADDRESS__)
  CHECK(seconds < 1.0);
#endif
}

TEST_CASE("header columns are matched case-insensitively and trimmed") {
  Columns columns = map_columns({" Date ", "CUSTOMER_PHONE", "\tAmount", "Description", "ID"});
  CHECK(columns.date == 0);
  CHECK(columns.customer_phone == 1);
  CHECK(columns.amount == 2);
  CHECK(columns.description == 3);
  CHECK(columns.external_id == 4);
  CHECK(columns.names == Fields{"Date", "CUSTOMER_PHONE", "Amount", "Description", "ID"});

  columns = map_columns({"id", "amount", "external_id", "customer_phone", "date", "", ""});
  CHECK(columns.external_id == 2);  // external_id wins over id
  CHECK(columns.description == Columns::kAbsent);
  CHECK(columns.names.size() == 5);  // trailing unnamed columns are dropped
}

TEST_CASE("missing required columns are one error naming each") {
  CHECK_THROWS_WITH(map_columns({"date", "customer_phone", "description"}),
                    "Missing required column(s): amount");
  CHECK_THROWS_WITH(map_columns({"phone", "customer_phone"}),
                    "Missing required column(s): date, amount");
  CHECK_THROWS_WITH(map_columns({"date", "Amount", "customer_phone", "amount"}),
                    "Column amount appears more than once in the header");
  CHECK_THROWS_WITH(map_columns({"date", "customer_phone", "amount", "\xC0"}),
                    "The header is not UTF-8 text (save the file as \"CSV UTF-8\")");
}

TEST_CASE("JSON strings are escaped so that a JSON parser reads back the same text") {
  std::string tricky = "a\"b\\c\nd\re\tf\x01g\x1Fh Кофе ʤ /";
  std::string out;
  append_json_string(out, tricky);
  CHECK(nlohmann::json::parse(out) == tricky);
}

TEST_CASE("row mapping: sale, missing values, field count, blank rows, other encodings") {
  RowMapper mapper(map_columns({"date", "customer_phone", "amount", "description"}));
  Record row;
  row.row = 3;
  row.fields = {" 2025-11-17 14:30:00 ", "+7 912 345-67-89", "1 500,50", "Набор \"Уход\""};
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kRecord);
  CHECK(mapper.record().occurred_at == "2025-11-17 14:30:00");
  CHECK(mapper.record().customer_phone == "+7 912 345-67-89");
  CHECK(mapper.record().amount == "1 500,50");
  CHECK_FALSE(mapper.record().amount_minor.has_value());
  CHECK(mapper.record().description == "Набор \"Уход\"");
  CHECK(mapper.record().external_id.empty());
  CHECK(mapper.record().locator == "Row 3");
  CHECK(nlohmann::json::parse(mapper.record().raw_json) ==
        nlohmann::json{{"date", " 2025-11-17 14:30:00 "},
                       {"customer_phone", "+7 912 345-67-89"},
                       {"amount", "1 500,50"},
                       {"description", "Набор \"Уход\""}});

  row.fields = {"2025-11-17 14:30:00", " ", "100", ""};
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kFailure);
  CHECK(mapper.reason() == "Row 3: Missing customer_phone");
  CHECK(nlohmann::json::parse(mapper.raw_json())["amount"] == "100");

  row.fields = {"", "", "100", "x"};
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kFailure);
  CHECK(mapper.reason() == "Row 3: Missing date, customer_phone");

  row.fields = {"2025-11-17", "+79123456789", "100"};
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kFailure);
  CHECK(mapper.reason() == "Row 3: expected 4 fields, found 3");

  row.fields = {"2025-11-17", "+79123456789", "100", "x", "extra"};
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kFailure);
  CHECK(mapper.reason() == "Row 3: expected 4 fields, found 5");

  row.fields = {"2025-11-17", "+79123456789", "100", "x", "", " "};  // Excel's trailing ";;"
  CHECK(mapper.map(row) == RowMapper::Outcome::kRecord);

  row.fields = {"", " ", "", ""};
  CHECK(mapper.map(row) == RowMapper::Outcome::kBlank);

  row.fields = {"2025-11-17", "+79123456789", "100", "\xCA\xEE\xF4\xE5"};  // "Кофе" in CP1251
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kFailure);
  CHECK(mapper.reason() == "Row 3: text is not UTF-8 (save the file as \"CSV UTF-8\")");
  CHECK(nlohmann::json::parse(mapper.raw_json())["amount"] == "100");

  row.fields.clear();
  row.error = "quoted field is not closed";
  row.text = "2025-11-17,\"+7912";
  REQUIRE(mapper.map(row) == RowMapper::Outcome::kFailure);
  CHECK(mapper.reason() == "Row 3: quoted field is not closed");
  CHECK(nlohmann::json::parse(mapper.raw_json()) == nlohmann::json{{"text", row.text}});
}

}  // namespace
}  // namespace crmsync::csv::test
