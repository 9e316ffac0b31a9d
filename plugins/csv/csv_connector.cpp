// The CSV connector (DESIGN §9, spec 8.1.6): imports sales from an uploaded CSV file in bounded
// batches, streaming, with per-row errors that name the spreadsheet row.
//
// Rows are numbered as a spreadsheet shows them: the header is row 1, so the first data row is
// row 2, and blank lines count (they are rows in the sheet too). "Row 3: ..." in a report is the
// third row the business owner sees when opening the file.
//
// The fetch cursor is "<offset>:<row>": the file offset where the next batch starts and that
// row's number. Empty means the start of the file.
#include "csv_reader.h"
#include "csv_rows.h"

#include <crmsync/connector.hpp>
#include <crmsync/connector_json.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace crmsync::csv {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// The settings of one integration.
struct Config {
  std::string path;
  std::optional<char> delimiter;  // absent: detected from the header line
  uint64_t batch_rows = 5000;
  uint64_t max_bytes = 10 * kMiB;  // the spec's limit; an integration may raise it
};

constexpr const char* kConfigSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "The CSV file to import"},
    "delimiter": {"type": "string", "enum": [",", ";", "\t", "|"],
                  "description": "Field delimiter; detected from the header line (, or ;) when absent"},
    "batch_rows": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 5000,
                   "description": "Rows per fetch"},
    "max_bytes": {"type": "integer", "minimum": 1, "default": 10485760,
                  "description": "Largest file accepted, in bytes (10 MB by default)"}
  },
  "required": ["path"],
  "additionalProperties": false
})json";

// The buffer of the reader that reads the header: a header longer than this is not a header.
constexpr size_t kHeaderBufferBytes = 64 * 1024;

// Reads the settings; the host validated them against kConfigSchema, this guards the rest.
Config parse_config(const std::string& json_text) {
  auto bad = [](const std::string& why) { return sdk::Error(CRMSYNC_E_INVALID_CONFIG, why); };
  nlohmann::json json = sdk::try_parse_json(json_text);
  if (!json.is_object()) throw bad("CSV settings must be a JSON object");
  Config config;
  auto path = json.find("path");
  if (path == json.end() || !path->is_string() || path->get<std::string>().empty()) {
    throw bad("CSV setting path (the file to import) is required");
  }
  config.path = path->get<std::string>();
  if (auto d = json.find("delimiter"); d != json.end()) {
    std::string text = d->is_string() ? d->get<std::string>() : std::string();
    if (text != "," && text != ";" && text != "\t" && text != "|") {
      throw bad("CSV setting delimiter must be one of , ; | or a tab");
    }
    config.delimiter = text[0];
  }
  auto positive = [&](const char* name, uint64_t& out) {
    auto it = json.find(name);
    if (it == json.end()) return;
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0) {
      throw bad(std::string("CSV setting ") + name + " must be a positive integer");
    }
    out = it->get<uint64_t>();
  };
  positive("batch_rows", config.batch_rows);
  positive("max_bytes", config.max_bytes);
  return config;
}

// A size for people: "12.3 MB", "512 KB", "300 bytes".
std::string human_size(uint64_t bytes) {
  char text[48];
  if (bytes >= kMiB) {
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / kMiB);
  } else if (bytes >= 1024) {
    std::snprintf(text, sizeof text, "%.1f KB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  std::string s = text;
  if (auto dot = s.find(".0 "); dot != std::string::npos) s.erase(dot, 2);
  return s;
}

// The file, checked against the limit, with its delimiter and columns: what every call needs.
struct CheckedFile {
  explicit CheckedFile(const Config& config) : source(config.path) {
    uint64_t size = source.size();
    if (size > config.max_bytes) {
      std::string file = human_size(size);
      std::string limit = human_size(config.max_bytes);
      if (file == limit) file += " (" + std::to_string(size) + " bytes)";
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "File is " + file + ", above the " + limit +
                                                    " limit (raise csv max_bytes to import it)");
    }
    std::string head(std::min<uint64_t>(size, kHeaderBufferBytes), '\0');
    head.resize(source.read_at(0, head.data(), head.size()));
    delimiter = config.delimiter.value_or(detect_delimiter(head));
    Reader reader(source, {delimiter, kHeaderBufferBytes});
    Record header;
    if (!reader.next(header)) {
      throw sdk::Error(
          CRMSYNC_E_INVALID_INPUT,
          "CSV file is empty: expected a header line with date, customer_phone, amount");
    }
    if (!header.error.empty()) {
      throw sdk::Error(CRMSYNC_E_INVALID_INPUT, "Row " + std::to_string(header.row) +
                                                    " (the header): " + std::string(header.error));
    }
    columns = map_columns(header.fields);
    data_offset = reader.offset();
    data_row = reader.row();
  }

  FileSource source;
  char delimiter = ',';
  Columns columns;
  uint64_t data_offset = 0;  // where the first data row starts
  uint64_t data_row = 0;     // its row number
};

// Reads a cursor "<offset>:<row>" that must point into the data part of file.
void parse_cursor(std::string_view cursor, const CheckedFile& file, uint64_t& offset,
                  uint64_t& row) {
  const char* end = cursor.data() + cursor.size();
  auto [colon, e1] = std::from_chars(cursor.data(), end, offset);
  bool ok = e1 == std::errc() && colon != end && *colon == ':';
  if (ok) {
    auto [tail, e2] = std::from_chars(colon + 1, end, row);
    ok = e2 == std::errc() && tail == end;
  }
  if (!ok || offset < file.data_offset || offset > file.source.size() || row < file.data_row) {
    throw sdk::Error(CRMSYNC_E_INVALID_INPUT,
                     "Invalid CSV cursor \"" + std::string(cursor) +
                         "\" for this file (was the file replaced during the import?)");
  }
}

// One CSV integration: a file path and how to read it.
class CsvConnector : public sdk::Connector {
 public:
  CsvConnector(sdk::Host host, const sdk::OpenArgs& args)
      : Connector(host), config_(parse_config(args.config_json)) {}

  std::string health_check() override {
    try {
      CheckedFile file(config_);
      return "✅ CSV file ready: " + std::to_string(file.source.size()) + " bytes";
    } catch (const sdk::Error& e) {
      throw sdk::Error(e.code(), std::string("❌ ") + e.what());
    }
  }

  void fetch(std::string_view cursor, sdk::Sink& sink) override {
    CheckedFile file(config_);
    uint64_t offset = file.data_offset;
    uint64_t row = file.data_row;
    if (!cursor.empty()) parse_cursor(cursor, file, offset, row);
    Reader reader(file.source, {file.delimiter, kBufferBytes}, offset, row);
    RowMapper mapper(file.columns);
    Record record;
    uint64_t rows = 0;
    while (rows < config_.batch_rows && reader.next(record)) {
      switch (mapper.map(record)) {
        case RowMapper::Outcome::kRecord:
          sink.record(mapper.record());
          ++rows;
          break;
        case RowMapper::Outcome::kFailure:
          sink.fail({}, mapper.reason(), mapper.raw_json());
          ++rows;
          break;
        case RowMapper::Outcome::kBlank:
          break;
      }
    }
    // A full batch may have stopped right at the end; the next fetch then finds nothing.
    bool more = rows == config_.batch_rows && reader.offset() < file.source.size();
    sink.checkpoint(std::to_string(reader.offset()) + ":" + std::to_string(reader.row()), more);
  }

 private:
  static constexpr size_t kBufferBytes = 256 * 1024;
  Config config_;
};

}  // namespace
}  // namespace crmsync::csv

CRMSYNC_CONNECTOR(crmsync::csv::CsvConnector,
                  {.id = "csv",
                   .display_name = "CSV upload",
                   .vendor = "crmsync",
                   .version = "1.0.0",
                   .config_schema = crmsync::csv::kConfigSchema,
                   .capabilities = CRMSYNC_CAP_FETCH | CRMSYNC_CAP_INCREMENTAL})
