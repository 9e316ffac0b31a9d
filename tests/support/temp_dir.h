// A temporary directory for one test, removed with everything in it when the object dies.
#ifndef CRMSYNC_TESTS_SUPPORT_TEMP_DIR_H
#define CRMSYNC_TESTS_SUPPORT_TEMP_DIR_H

#include <filesystem>
#include <string>

namespace crmsync::test {

// Creates a fresh, private directory under $TMPDIR (or /tmp); throws std::runtime_error if it
// cannot.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "crmsync-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory.
  const std::filesystem::path& path() const noexcept { return path_; }
  // A path inside the directory.
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace crmsync::test

#endif  // CRMSYNC_TESTS_SUPPORT_TEMP_DIR_H
