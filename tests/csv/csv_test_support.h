// Helpers shared by the CSV tests: an in-memory Source, reading a whole input, temporary files.
#ifndef CRMSYNC_TESTS_CSV_CSV_TEST_SUPPORT_H
#define CRMSYNC_TESTS_CSV_CSV_TEST_SUPPORT_H

#include "csv_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace crmsync::csv::test {

// Bytes held in memory, read like a file.
class StringSource : public Source {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  size_t read_at(uint64_t offset, char* dst, size_t n) override {
    if (offset >= data_.size()) return 0;
    size_t count = std::min<size_t>(n, data_.size() - offset);
    std::memcpy(dst, data_.data() + offset, count);
    return count;
  }

 private:
  std::string data_;
};

// A record copied out of the reader's buffer.
struct Row {
  std::vector<std::string> fields;
  uint64_t row = 0;
  uint64_t offset = 0;
  std::string error;
  std::string text;
};

// Every record of source from offset/row on.
inline std::vector<Row> read_rows(Source& source, ReaderOptions options, uint64_t offset = 0,
                                  uint64_t row = 1) {
  Reader reader(source, options, offset, row);
  std::vector<Row> rows;
  Record record;
  while (reader.next(record)) {
    rows.push_back({std::vector<std::string>(record.fields.begin(), record.fields.end()),
                    record.row, record.offset, std::string(record.error),
                    std::string(record.text)});
  }
  return rows;
}

// Every record of data.
inline std::vector<Row> read_rows(const std::string& data, ReaderOptions options = {}) {
  StringSource source(data);
  return read_rows(source, options);
}

// The whole content of a file.
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("crmsync-csv-test-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter()++))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes data to name inside the directory and returns its path.
  std::string write(const std::string& name, const std::string& data) const {
    std::filesystem::path path = path_ / name;
    std::ofstream out(path, std::ios::binary);
    out << data;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
    return path.string();
  }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path path_;
};

// Runs a shell command and returns its standard output; throws when it fails.
inline std::string run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string out;
  char chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) out.append(chunk, got);
  if (::pclose(pipe) != 0) throw std::runtime_error("command failed: " + command);
  return out;
}

// A CSV made by the workload generator (bench/sales_csv.py).
inline std::string generate_csv(int rows, int seed) {
  return run("python3 " CRMSYNC_SALES_CSV " --rows " + std::to_string(rows) + " --seed " +
             std::to_string(seed));
}

}  // namespace crmsync::csv::test

#endif  // CRMSYNC_TESTS_CSV_CSV_TEST_SUPPORT_H
