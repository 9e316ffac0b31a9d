// Test helper: runs the real `crmsync parse` on a file and splits its stdout into JSON lines.
#ifndef CRMSYNC_TESTS_PARSE_PARSE_PROCESS_H
#define CRMSYNC_TESTS_PARSE_PARSE_PROCESS_H

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"

namespace crmsync::test {

// What one `crmsync parse` run printed.
struct ParseRun {
  int exit_code = -1;
  std::vector<std::string> lines;  // stdout, one entry per line
  std::string err;
};

// Runs CRMSYNC_BINARY parse with these arguments (connector, kind, file and options) in cwd.
inline ParseRun run_parse(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  std::vector<std::string> argv = {CRMSYNC_BINARY, "parse"};
  argv.insert(argv.end(), args.begin(), args.end());
  const Run run = run_process(argv, cwd);
  ParseRun out{run.exit_code, {}, run.err};
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) out.lines.push_back(line);
  return out;
}

// Writes text to path (for bodies built by a test).
inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_PARSE_PARSE_PROCESS_H
