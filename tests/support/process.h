// Runs a program the way a user would (through the shell, in a working directory) and captures
// its exit code, stdout and stderr, or starts one in the background (crmsync serve), for tests of
// the crmsync executables.
#ifndef CRMSYNC_TESTS_SUPPORT_PROCESS_H
#define CRMSYNC_TESTS_SUPPORT_PROCESS_H

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace crmsync::test {

// What a finished process left.
struct Run {
  int exit_code = -1;  // -1 when it did not exit normally (signal)
  std::string out;
  std::string err;
};

// The whole content of a file ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A single-quoted shell word.
inline std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs argv in cwd; stdout and stderr go through files in cwd (named .run-out / .run-err).
inline Run run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd) {
  std::string command = "cd " + shell_quote(cwd.string()) + " &&";
  for (const std::string& arg : argv) command += " " + shell_quote(arg);
  const auto out = cwd / ".run-out";
  const auto err = cwd / ".run-err";
  command += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  Run run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = slurp(out);
  run.err = slurp(err);
  return run;
}

// Starts argv (argv[0] is the program's path) in cwd in the background, its stderr written to
// stderr_file; returns its pid, or -1 when it could not be started.
inline pid_t spawn_process(std::vector<std::string> argv, const std::filesystem::path& cwd,
                           const std::filesystem::path& stderr_file) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  pid_t pid = 0;
  const int started = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return started == 0 ? pid : -1;
}

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_PROCESS_H
