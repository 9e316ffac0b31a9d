// Amount parsing: the separator rules of amount.h, written by hand because std::stod and
// std::from_chars know one decimal point and no grouping, and locales are process-global state.
#include "normalize/amount.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "normalize/text.h"

namespace crmsync::normalize {
namespace {

using internal::is_digit;

constexpr int kMaxIntegerDigits = 15;  // whole units; keeps minor units far inside int64
constexpr int kMaxMinorDigits = 3;     // the most decimals any ISO 4217 currency has

Error not_a_number() {
  return fail(CRMSYNC_E_INVALID_INPUT, "Amount is not a number");
}
Error too_large() {
  return fail(CRMSYNC_E_INVALID_INPUT, "Amount is too large");
}
Error too_many_decimals(int minor_digits) {
  return fail(CRMSYNC_E_INVALID_INPUT,
              "Amount has more than " + std::to_string(minor_digits) + " decimal places");
}

void check_rules(const AmountRules& rules) {
  if (rules.minor_digits < 0 || rules.minor_digits > kMaxMinorDigits) {
    std::fprintf(stderr, "crmsync: broken invariant: AmountRules::minor_digits = %d\n",
                 rules.minor_digits);
    std::abort();
  }
}

// Accumulates decimal digits into an integer, counting significant digits to catch overflow
// before it happens.
class Accumulator {
 public:
  void push(char digit) {
    if (value_ == 0 && digit == '0') return;
    ++significant_;
    if (significant_ <= kMaxIntegerDigits + kMaxMinorDigits) value_ = value_ * 10 + (digit - '0');
  }
  std::int64_t value() const { return value_; }
  int significant() const { return significant_; }

 private:
  std::int64_t value_ = 0;
  int significant_ = 0;
};

// Applies the sign and the zero/negative rules to a magnitude in minor units.
Result<std::int64_t> finish(const Accumulator& minor, bool negative, const AmountRules& rules) {
  if (minor.significant() > kMaxIntegerDigits + rules.minor_digits) return too_large();
  if (minor.value() == 0 && !rules.allow_zero) {
    return fail(CRMSYNC_E_INVALID_INPUT, "Amount must be positive");
  }
  if (negative && minor.value() != 0 && !rules.allow_negative) {
    return fail(CRMSYNC_E_INVALID_INPUT, "Amount must be positive");
  }
  return negative ? -minor.value() : minor.value();
}

// Currency marks tolerated after the number (RUB only: other currencies are not converted, so a
// "€" must not pass as roubles).
constexpr std::array<std::string_view, 11> kCurrencySuffixes = {
    "\u20BD", "руб.", "руб", "Руб.", "Руб", "РУБ.", "РУБ", "р.", "р", "Р.", "Р"};

std::string_view strip_currency(std::string_view s) {
  for (std::string_view suffix : kCurrencySuffixes) {
    if (s.size() > suffix.size() && s.ends_with(suffix)) {
      return internal::trim(s.substr(0, s.size() - suffix.size()));
    }
  }
  return s;
}

// A number split at its separators: digit runs and the separator before each run but the first.
enum class Sep : char { none, dot, comma, space };

struct Runs {
  static constexpr std::size_t kMax = 8;  // 15 integer digits in groups of 3, plus the fraction
  std::array<std::string_view, kMax> digits;
  std::array<Sep, kMax> before{};  // before[0] is none
  std::size_t count = 0;
};

// Splits "1 000,50" into runs {"1", "000", "50"} with separators {space, comma}; false if the
// text has anything else, or two separators in a row, or starts or ends with one.
bool split_runs(std::string_view s, Runs& runs) {
  std::size_t i = 0;
  Sep pending = Sep::none;
  while (i < s.size()) {
    if (is_digit(s[i])) {
      std::size_t start = i;
      while (i < s.size() && is_digit(s[i])) ++i;
      if (runs.count == Runs::kMax) return false;
      runs.digits[runs.count] = s.substr(start, i - start);
      runs.before[runs.count++] = pending;
      pending = Sep::none;
      continue;
    }
    if (runs.count == 0 || pending != Sep::none) return false;
    if (s[i] == '.') {
      pending = Sep::dot;
      ++i;
    } else if (s[i] == ',') {
      pending = Sep::comma;
      ++i;
    } else if (std::size_t n = internal::space_at(s, i)) {
      pending = Sep::space;
      i += n;
    } else {
      return false;
    }
  }
  return runs.count > 0 && pending == Sep::none;
}

// True if runs [0, end) are thousands groups: a first group of 1-3 digits, then groups of 3.
bool grouped(const Runs& runs, std::size_t end) {
  if (runs.digits[0].size() > 3) return false;
  for (std::size_t k = 1; k < end; ++k) {
    if (runs.digits[k].size() != 3) return false;
  }
  return true;
}

}  // namespace

Result<std::int64_t> amount_minor(std::string_view raw, const AmountRules& rules) {
  check_rules(rules);
  std::string_view s = internal::trim(raw);
  if (s.empty()) return fail(CRMSYNC_E_INVALID_INPUT, "Amount is empty");
  s = strip_currency(s);
  bool negative = false;
  if (s.starts_with('-') || s.starts_with("\u2212")) {
    negative = true;
    s.remove_prefix(s[0] == '-' ? 1 : 3);
  }
  Runs runs;
  if (!split_runs(s, runs)) return not_a_number();

  // Decide which runs are the integer part and whether the last one is a fraction.
  std::size_t integer_runs = runs.count;
  const Sep last = runs.before[runs.count - 1];
  if (runs.count > 1) {
    std::size_t last_count = 0;
    Sep other = Sep::none;
    for (std::size_t k = 1; k < runs.count; ++k) {
      if (runs.before[k] == last) {
        ++last_count;
      } else if (other == Sep::none || other == runs.before[k]) {
        other = runs.before[k];
      } else {
        return not_a_number();  // three kinds of separators
      }
    }
    const bool last_is_group = last == Sep::space || last_count > 1;
    if (last_is_group) {
      if (other != Sep::none) return not_a_number();  // "1.000 000", "1,000,50.5"
      if (!grouped(runs, runs.count)) return not_a_number();
    } else {
      integer_runs = runs.count - 1;
      // "1,000" and "1.000": a thousand in one convention, one in the other.
      if (other == Sep::none && runs.count == 2 && runs.digits[1].size() == 3 &&
          runs.digits[0].size() <= 3 && runs.digits[0][0] != '0') {
        return fail(
            CRMSYNC_E_INVALID_INPUT,
            "Ambiguous amount '" + std::string(internal::trim(raw)) + "': use a decimal separator");
      }
      if (other != Sep::none && !grouped(runs, integer_runs)) return not_a_number();
      if (runs.digits[runs.count - 1].size() > static_cast<std::size_t>(rules.minor_digits)) {
        return too_many_decimals(rules.minor_digits);
      }
    }
  }

  Accumulator minor;
  for (std::size_t k = 0; k < integer_runs; ++k) {
    for (char c : runs.digits[k]) minor.push(c);
  }
  std::string_view fraction = integer_runs < runs.count ? runs.digits[runs.count - 1] : "";
  for (int k = 0; k < rules.minor_digits; ++k) {
    minor.push(static_cast<std::size_t>(k) < fraction.size() ? fraction[k] : '0');
  }
  return finish(minor, negative, rules);
}

Result<std::int64_t> amount_minor_json(std::string_view json_number, const AmountRules& rules) {
  check_rules(rules);
  // JSON number grammar (RFC 8259 §6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::string_view s = json_number;
  std::size_t i = 0;
  const bool negative = i < s.size() && s[i] == '-';
  if (negative) ++i;
  auto digit_run = [&] {
    std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    return s.substr(start, i - start);
  };
  std::string_view integer = digit_run();
  if (integer.empty() || (integer.size() > 1 && integer[0] == '0')) return not_a_number();
  std::string_view fraction;
  if (i < s.size() && s[i] == '.') {
    ++i;
    fraction = digit_run();
    if (fraction.empty()) return not_a_number();
  }
  long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exponent_negative = s[i++] == '-';
    std::string_view exponent_digits = digit_run();
    if (exponent_digits.empty()) return not_a_number();
    for (char c : exponent_digits) {
      exponent = std::min(exponent * 10 + (c - '0'), 100000L);  // saturate: huge means too large
    }
    if (exponent_negative) exponent = -exponent;
  }
  if (i != s.size()) return not_a_number();

  // value = digits × 10^shift in minor units, digits = integer and fraction concatenated.
  const std::size_t total = integer.size() + fraction.size();
  auto digit = [&](std::size_t k) {
    return k < integer.size() ? integer[k] : fraction[k - integer.size()];
  };
  long shift = exponent - static_cast<long>(fraction.size()) + rules.minor_digits;
  std::size_t keep = total;
  if (shift < 0) {
    const std::size_t dropped = std::min(total, static_cast<std::size_t>(-shift));
    keep = total - dropped;
    for (std::size_t k = keep; k < total; ++k) {
      if (digit(k) != '0') return too_many_decimals(rules.minor_digits);
    }
    shift = 0;
  }
  Accumulator minor;
  for (std::size_t k = 0; k < keep; ++k) minor.push(digit(k));
  if (minor.value() != 0) {
    for (long k = 0; k < shift && minor.significant() <= kMaxIntegerDigits + kMaxMinorDigits; ++k) {
      minor.push('0');
    }
  }
  return finish(minor, negative, rules);
}

}  // namespace crmsync::normalize
