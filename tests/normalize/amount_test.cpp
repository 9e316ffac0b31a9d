// Tests of normalize::amount_minor() and amount_minor_json(): the §5 table of
// tests/data/amounts/README.md, the amount forms and bad amounts of bench/sales_csv.py, and the
// error messages.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "normalize/amount.h"

namespace normalize = crmsync::normalize;

namespace {

std::int64_t minor(std::string_view raw, normalize::AmountRules rules = {}) {
  auto result = normalize::amount_minor(raw, rules);
  INFO("input: '" << raw << "'");
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  return *result;
}

std::string error(std::string_view raw, normalize::AmountRules rules = {}) {
  auto result = normalize::amount_minor(raw, rules);
  INFO("input: '" << raw << "'");
  REQUIRE(!result.ok());
  CHECK(result.error().code == CRMSYNC_E_INVALID_INPUT);
  return result.error().message;
}

std::string json_error(std::string_view raw, normalize::AmountRules rules = {}) {
  auto result = normalize::amount_minor_json(raw, rules);
  INFO("input: '" << raw << "'");
  REQUIRE(!result.ok());
  CHECK(result.error().code == CRMSYNC_E_INVALID_INPUT);
  return result.error().message;
}

// Thousands of n grouped by `sep`, as bench/sales_csv.py's group_thousands does.
std::string grouped(std::int64_t n, const std::string& sep) {
  std::string digits = std::to_string(n), out;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % 3 == 0) out += sep;
    out += digits[k];
  }
  return out;
}

}  // namespace

TEST_CASE("the amounts README §5 table") {
  CHECK(minor("1\u00A0000,50") == 100050);
  CHECK(minor("1\u202F000,50") == 100050);
  CHECK(minor("1 000,50") == 100050);
  CHECK(minor("1000,50") == 100050);
  CHECK(minor("1000.50") == 100050);
  CHECK(minor("-1 000,50", {.allow_negative = true}) == -100050);
  CHECK(error("-1 000,50") == "Amount must be positive");
  CHECK(minor("1\u00A0000,50\u00A0\u20BD") == 100050);
  CHECK(minor("1 000,50 руб.") == 100050);
  CHECK(minor("1.000,50") == 100050);
  CHECK(minor("1,000.50") == 100050);
  CHECK(error("1,000") == "Ambiguous amount '1,000': use a decimal separator");
  CHECK(error("1.000") == "Ambiguous amount '1.000': use a decimal separator");
  CHECK(minor("1 000,5") == 100050);
  CHECK(error("1,000,50") == "Amount is not a number");
  CHECK(error("1.000.000,5.0") == "Amount is not a number");
}

TEST_CASE("ICU-style and other grouped forms") {
  CHECK(minor("1\u00A0234\u00A0567,89") == 123456789);
  CHECK(minor("1,000,000") == 100000000);  // two commas cannot be decimal separators
  CHECK(minor("1.000.000") == 100000000);
  CHECK(minor("1 000") == 100000);
  CHECK(minor("1\u2009000,50") == 100050);
  CHECK(minor("1 000 000 р.") == 100000000);
  CHECK(minor("1500 р") == 150000);
  CHECK(minor("  1500  ") == 150000);
  CHECK(minor("0,5") == 50);
  CHECK(minor("0500") == 50000);
  CHECK(error("12,345") == "Ambiguous amount '12,345': use a decimal separator");
  CHECK(error("123.456") == "Ambiguous amount '123.456': use a decimal separator");
  CHECK(error("1000.500") == "Amount has more than 2 decimal places");  // 4 digits: not a group
  CHECK(error("0,500") == "Amount has more than 2 decimal places");
  CHECK(error("1,000.505") == "Amount has more than 2 decimal places");
  CHECK(error("1 000.000") == "Amount has more than 2 decimal places");
  CHECK(error("1,00,000.50") == "Amount is not a number");  // Indian grouping is not a thing here
  CHECK(error("1.000 000") == "Amount is not a number");
  CHECK(error("1 000.000,50") == "Amount is not a number");
  CHECK(error("10 00") == "Amount is not a number");
  CHECK(error("1000.") == "Amount is not a number");
  CHECK(error(".50") == "Amount is not a number");
  CHECK(error("1  000") == "Amount is not a number");
  CHECK(error("1500 €") == "Amount is not a number");
  CHECK(error("+1500") == "Amount is not a number");
  CHECK(error("1e3") == "Amount is not a number");
}

TEST_CASE("sales_csv.py amount forms, over random kopecks") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t kopecks =
        100 + static_cast<std::int64_t>(rng() % 5'000'000) * (i % 2 == 0 ? 100 : 1);
    const std::int64_t rub = kopecks / 100;
    const std::string kop = (kopecks % 100 < 10 ? "0" : "") + std::to_string(kopecks % 100);
    const std::string forms[] = {
        std::to_string(rub) + "." + kop,   std::to_string(rub) + "," + kop,
        grouped(rub, ",") + "." + kop,     grouped(rub, " ") + "," + kop,
        grouped(rub, ".") + "," + kop,     grouped(rub, "\u00A0") + "," + kop,
        grouped(rub, "\u202F") + "," + kop};
    for (const std::string& form : forms) CHECK(minor(form) == kopecks);
    if (kopecks % 100 == 0) CHECK(minor(std::to_string(rub)) == kopecks);
  }
}

TEST_CASE("sales_csv.py bad amounts are errors with short messages") {
  CHECK(error("abc") == "Amount is not a number");
  CHECK(error("-500") == "Amount must be positive");
  CHECK(error("0") == "Amount must be positive");
  CHECK(error("12.34.56") == "Amount is not a number");
  CHECK(error("") == "Amount is empty");
  CHECK(error("   ") == "Amount is empty");
}

TEST_CASE("zero, negative and decimals are rules") {
  CHECK(minor("0", {.allow_zero = true}) == 0);
  CHECK(minor("0,00", {.allow_zero = true}) == 0);
  CHECK(error("-0") == "Amount must be positive");
  CHECK(minor("-500", {.allow_negative = true}) == -50000);
  CHECK(minor("−500", {.allow_negative = true}) == -50000);  // U+2212 MINUS SIGN
  CHECK(minor("1500", {.minor_digits = 0}) == 1500);
  CHECK(error("1500,5", {.minor_digits = 0}) == "Amount has more than 0 decimal places");
  CHECK(minor("1,5", {.minor_digits = 3}) == 1500);
  CHECK(minor("12,5", {.minor_digits = 3}) == 12500);
  CHECK(error("1,505", {.minor_digits = 3}) == "Ambiguous amount '1,505': use a decimal separator");
}

TEST_CASE("too large amounts are refused, not wrapped") {
  CHECK(minor("999999999999999,99") == 99999999999999999);
  CHECK(error("1000000000000000") == "Amount is too large");
  CHECK(error("99999999999999999999999999") == "Amount is too large");
}

TEST_CASE("JSON numbers as text") {
  auto json = [](std::string_view raw, normalize::AmountRules rules = {}) {
    auto result = normalize::amount_minor_json(raw, rules);
    INFO("input: '" << raw << "'");
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    return *result;
  };
  CHECK(json("1000") == 100000);
  CHECK(json("1000.5") == 100050);
  CHECK(json("1500.0") == 150000);
  CHECK(json("199.99") == 19999);
  CHECK(json("0.01") == 1);
  CHECK(json("12.300") == 1230);
  CHECK(json("1e3") == 100000);
  CHECK(json("1.5E+2") == 15000);
  CHECK(json("1e-2") == 1);
  CHECK(json("-5", {.allow_negative = true}) == -500);
  CHECK(json("0", {.allow_zero = true}) == 0);
  CHECK(json("0e-999999", {.allow_zero = true}) == 0);
  CHECK(json_error("0.30000000000000004") == "Amount has more than 2 decimal places");
  CHECK(json_error("1e-3") == "Amount has more than 2 decimal places");
  CHECK(json_error("1e+20") == "Amount is too large");
  CHECK(json_error("1e999999999") == "Amount is too large");
  CHECK(json_error("-5") == "Amount must be positive");
  CHECK(json_error("0") == "Amount must be positive");
  for (std::string_view bad :
       {"", "01", "1.", ".5", "+1", "1e", "1e+", "1,5", " 1", "NaN", "\"1\""}) {
    CHECK(json_error(bad) == "Amount is not a number");
  }
}
