// The CSV connector's reader and row mapping on arbitrary bytes: the first byte picks the buffer
// size (small ones force records across refills and over-long records) and the delimiter, the rest
// is the file. The header record maps columns; every later record goes through the row mapper,
// which must classify it without crashing. A second reader then restarts at the offset of the
// second record, as a resumed import does.
#include <algorithm>
#include <cstring>
#include <optional>

#include "csv_reader.h"
#include "csv_rows.h"
#include "harness.h"
#include "input.h"

namespace {

// The input's bytes, read like a file without copying them.
class ViewSource : public crmsync::csv::Source {
 public:
  explicit ViewSource(std::string_view data) : data_(data) {}
  size_t read_at(uint64_t offset, char* dst, size_t n) override {
    if (offset >= data_.size()) return 0;
    const size_t count = std::min<size_t>(n, data_.size() - offset);
    std::memcpy(dst, data_.data() + offset, count);
    return count;
  }

 private:
  std::string_view data_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crmsync::csv;
  crmsync::fuzz::Input input(data, size);
  const uint8_t selector = input.byte();
  static constexpr char kDelimiters[] = {',', ';', '\t', '|'};
  ReaderOptions options;
  options.buffer_bytes = 4 + (selector >> 2) * 4;
  options.delimiter =
      (selector & 3) == 3 ? detect_delimiter(input.rest()) : kDelimiters[selector & 3];
  ViewSource source(input.rest());

  Reader reader(source, options);
  Record record;
  if (!reader.next(record)) return 0;
  const uint64_t second = reader.offset();
  const uint64_t second_row = reader.row();
  std::optional<RowMapper> mapper;
  try {
    if (record.error.empty()) mapper.emplace(map_columns(record.fields));
  } catch (const crmsync::sdk::Error&) {
    // A header without the required columns is the importer's clear error.
  }
  while (reader.next(record)) {
    if (mapper) (void)mapper->map(record);
  }
  Reader resumed(source, options, second, second_row);
  while (resumed.next(record)) {
  }
  return 0;
}
