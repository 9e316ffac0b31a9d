// Splitting a fuzz input into the parts a harness needs: a selector byte, then fields separated by
// newlines, then the rest. Every byte sequence splits into something, so no input is wasted.
#ifndef CRMSYNC_FUZZ_INPUT_H
#define CRMSYNC_FUZZ_INPUT_H

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace crmsync::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  // The next byte as a number (0 when the input is exhausted).
  uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto value = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return value;
  }
  // Everything up to the next '\n' (which is consumed), or the rest.
  std::string_view line() {
    const size_t end = rest_.find('\n');
    const std::string_view field = rest_.substr(0, end);
    rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end + 1);
    return field;
  }
  // What is left.
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_FUZZ_INPUT_H
