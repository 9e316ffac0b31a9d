// The test suite's driver of a fuzz harness: feeds every file under the given folders (the seed
// corpus and the kept regressions) to LLVMFuzzerTestOneInput once, in a plain build (g++, release
// or ASan). A crash or a sanitizer report fails the test like it fails the fuzzer.
//
//   fuzz_replay_<target> [--pending LIST] DIR...
//
// LIST (fuzz/regressions/README.md) names, as "- `<target>/<file>`" lines, regressions whose fix
// lands elsewhere: each runs first, in a child process of its own (set up from scratch, with
// TMPDIR pointing at a folder removed after it), whose failure is reported but does not fail the
// test, so they turn into ordinary regressions once they pass.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "harness.h"

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The "<target>/<file>" names listed as "- `<target>/<file>`..." in list.
std::set<std::string> pending_names(const fs::path& list) {
  std::set<std::string> names;
  std::ifstream in(list);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("- `")) continue;
    const size_t end = line.find('`', 3);
    if (end != std::string::npos) names.insert(line.substr(3, end - 3));
  }
  return names;
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// Sets up and runs input in a child process; true when the child ended normally with status 0.
bool passes_in_child(const std::string& input, int argc, char** argv) {
  std::string scratch = (fs::temp_directory_path() / "crmsync-fuzz-replay-XXXXXX").string();
  if (!mkdtemp(scratch.data())) return false;
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child == 0) {
    std::freopen("/dev/null", "w", stderr);
    setenv("TMPDIR", scratch.c_str(), 1);
    LLVMFuzzerInitialize(&argc, &argv);
    run(input);
    std::exit(0);
  }
  int status = 0;
  if (child > 0) waitpid(child, &status, 0);
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  return child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> files;
  std::set<std::string> pending;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--pending" && i + 1 < argc) {
      pending = pending_names(argv[++i]);
      continue;
    }
    std::error_code error;
    if (!fs::is_directory(arg, error)) {
      std::fprintf(stderr, "%s: not a folder\n", arg.c_str());
      return 2;
    }
    for (const auto& entry : fs::recursive_directory_iterator(arg)) {
      if (entry.is_regular_file() && entry.path().filename() != "README.md") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<fs::path> ordinary;
  for (const fs::path& file : files) {
    const std::string name =
        file.parent_path().filename().string() + "/" + file.filename().string();
    if (!pending.contains(name)) {
      ordinary.push_back(file);
      continue;
    }
    const bool passes = passes_in_child(read_file(file), argc, argv);
    std::printf("%s: listed as expected to pass after a fix; it %s\n", name.c_str(),
                passes ? "PASSES now (remove it from the list)" : "still fails");
  }
  LLVMFuzzerInitialize(&argc, &argv);
  size_t ran = 0;
  for (const fs::path& file : ordinary) {
    run(read_file(file));
    ++ran;
  }
  std::printf("%zu inputs replayed\n", ran);
  return 0;
}
