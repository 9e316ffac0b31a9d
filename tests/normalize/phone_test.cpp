// Tests of normalize::phone(): every row of tests/data/phones/ru-phones.md, the policy rows, and a
// differential test proving the lexical shortcut and the caches agree with libphonenumber's Parse.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "normalize/phone.h"
#include "phone_shapes.h"

namespace normalize = crmsync::normalize;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int kScale = 10;  // the sanitizer run is ~10x slower: fewer random inputs
#else
constexpr int kScale = 1;
#endif

// What a row of ru-phones.md must give: an E.164 with extension and region, or an error whose
// message contains `error`.
struct Expected {
  std::string e164;
  std::string extension;
  std::string region = "RU";
  std::string error;                 // non-empty for refused inputs
  bool other_regions_valid = false;  // with allow_other_regions the number is valid (region set)
};

Expected ok(std::string e164, std::string extension = {}) {
  return {std::move(e164), std::move(extension), "RU", {}, false};
}
Expected refused(std::string error) {
  return {{}, {}, {}, std::move(error), false};
}
Expected foreign(std::string e164, std::string region) {
  return {std::move(e164), {}, region, "is a " + region + " number, not RU", true};
}

// Key: input, then region if not RU.
using Table = std::map<std::pair<std::string, std::string>, Expected>;

const Table& table() {
  static const Table rows = {
      // A: accepted.
      {{"8 (423) 202-25-11, доб. 100", "RU"}, ok("+74232022511", "100")},
      {{"8 (423) 202-25-11 доб. 100", "RU"}, ok("+74232022511", "100")},
      {{"8 (423) 202-25-11, доб 100", "RU"}, ok("+74232022511", "100")},
      {{"8 (423) 202-25-11 доб 100", "RU"}, ok("+74232022511", "100")},
      {{"8 (423) 202-25-11доб100", "RU"}, ok("+74232022511", "100")},
      {{"8 (423) 202-25-11, ДОБ. 100", "RU"}, ok("+74232022511", "100")},
      {{"+7 423 202-25-11 ext 100", "RU"}, ok("+74232022511", "100")},
      {{"+7 4232022511 доб. 100", "RU"}, ok("+74232022511", "100")},
      {{"8 (800) 555 35 35", "RU"}, ok("+78005553535")},
      {{"+7 (800) 555 35 35", "RU"}, ok("+78005553535")},
      {{"(800) 555 35 35", "RU"}, ok("+78005553535")},
      {{"88005553535", "RU"}, ok("+78005553535")},
      {{"+78005553535 доб. 1234", "RU"}, ok("+78005553535", "1234")},
      {{"+78005553535 x1234", "RU"}, ok("+78005553535", "1234")},
      {{"tel:+78005553535;ext=123", "RU"}, ok("+78005553535", "123")},
      {{"tel:+7(800)555-35.35;ext=123", "RU"}, ok("+78005553535", "123")},
      {{"+7(8)8005553535", "RU"}, ok("+78005553535")},
      {{"+79992223344", "RU"}, ok("+79992223344")},
      {{"89991234567", "RU"}, ok("+79991234567")},
      {{"+7 912 345-67-89", "RU"}, ok("+79123456789")},
      {{"89123456789", "RU"}, ok("+79123456789")},
      {{"8 912 345 67 89", "RU"}, ok("+79123456789")},
      {{"79123456789", "RU"}, ok("+79123456789")},
      {{"7 912 345 67 89", "RU"}, ok("+79123456789")},
      {{"9123456789", "RU"}, ok("+79123456789")},
      {{"+7-912-345-67-89", "RU"}, ok("+79123456789")},
      {{"+7.912.345.67.89", "RU"}, ok("+79123456789")},
      {{"+7 (912) 345 67 89", "RU"}, ok("+79123456789")},
      {{"8(912)3456789", "RU"}, ok("+79123456789")},
      {{"＋７ ９１２ ３４５ ６７ ８９", "RU"}, ok("+79123456789")},
      {{"8 10 7 912 345 67 89", "RU"}, ok("+79123456789")},
      {{"+7 912 345 67 89 доб. 12", "RU"}, ok("+79123456789", "12")},
      {{"+7 (495) 123-45-67", "RU"}, ok("+74951234567")},
      {{"8 (495) 123-45-67", "RU"}, ok("+74951234567")},
      {{"+7 812 123-45-67", "RU"}, ok("+78121234567")},
      {{"+7 343 123-45-67", "RU"}, ok("+73431234567")},
      {{"+7 383 123-45-67", "RU"}, ok("+73831234567")},
      {{"+7 3011234567", "RU"}, ok("+73011234567")},
      {{"+7 (800) 100-00-00", "RU"}, ok("+78001000000")},
      {{"+7 809 123 45 67", "RU"}, ok("+78091234567")},
      {{"+7 940 123 45 67", "RU"}, ok("+79401234567")},
      // 41-46: libphonenumber accepts them; we refuse text and letters, accept the leading space.
      {{"Phone: 8 (800) 555 35 35.", "RU"}, refused("contains letters")},
      {{"Call: 8 (800) 555 35 35", "RU"}, refused("contains letters")},
      {{" +7 (800) 555 35 35", "RU"}, ok("+78005553535")},
      {{"tel:+7x8005553535;ext=123", "RU"}, refused("contains letters")},
      {{"+7 912 ABC 67 89", "RU"}, refused("contains letters")},
      {{"+7 912 345 ab cd", "RU"}, refused("contains letters")},
      // B: refused.
      {{"8 (800) 555 35 35 0", "RU"}, refused("wrong number of digits")},
      {{"+7 1 (800) 555 35 35", "RU"}, refused("wrong number of digits")},
      {{"+7 (800) 55-35-35", "RU"}, refused("is too short")},
      {{"(800) 55 35 35", "RU"}, refused("is too short")},
      {{"+7 (800) 55-35-35-55", "RU"}, refused("no such number range")},
      {{"+71112223344", "RU"}, refused("no such number range")},
      {{"1112223344", "RU"}, refused("no such number range")},
      {{"1111111111111111111", "RU"}, refused("is too long")},
      {{"+7 702 211 1111", "RU"}, foreign("+77022111111", "KZ")},
      {{"+7 700 123 45 67", "RU"}, foreign("+77001234567", "KZ")},
      {{"810 61 2 3456 7890", "RU"}, foreign("+61234567890", "AU")},
      {{"+380 44 123 4567", "RU"}, foreign("+380441234567", "UA")},
      {{"+375 29 123-45-67", "RU"}, foreign("+375291234567", "BY")},
      {{"+7 612 345 67 89", "RU"}, refused("no such number range")},
      {{"+7 999 123 45 6", "RU"}, refused("is too short")},
      {{"+7 999 123 45 678", "RU"}, refused("wrong number of digits")},
      {{"123-45-67", "RU"}, refused("has no area code")},
      {{"007 912 345 67 89", "RU"}, refused("wrong number of digits")},
      {{"+8 912 345 67 89", "RU"}, refused("unknown country code")},
      {{"abc", "RU"}, refused("contains letters")},
      {{"8-800-СБЕР-ДА", "RU"}, refused("contains letters")},
      {{"", "RU"}, refused("Phone is empty")},
      {{"+7", "RU"}, refused("is not a phone number")},
      {{"+7 (800) 55-35-35", "US"}, refused("is too short")},
  };
  return rows;
}

// The inputs of ru-phones.md: every backticked text of the input column, with the row's region.
std::vector<std::pair<std::string, std::string>> inputs_of_ru_phones_md() {
  std::ifstream file(std::string(CRMSYNC_TEST_DATA_DIR) + "/phones/ru-phones.md");
  REQUIRE(file.good());
  std::vector<std::pair<std::string, std::string>> inputs;
  std::string line;
  while (std::getline(file, line)) {
    // Data rows look like "| 12 | `input` … | …" or "| R3 | …".
    if (line.size() < 4 || line[0] != '|' || line.find("| --") != std::string::npos) continue;
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    if (cells.size() < 3) continue;
    std::string id = cells[0];
    id.erase(0, id.find_first_not_of(' '));
    if (id.empty() || !(std::isdigit(static_cast<unsigned char>(id[0])) || id[0] == 'R')) continue;
    if (id[0] == 'R' && (id.size() < 2 || !std::isdigit(static_cast<unsigned char>(id[1]))))
      continue;
    const std::string& cell = cells[1];
    const std::string region = cell.find("region **US**") != std::string::npos ? "US" : "RU";
    for (std::size_t open = cell.find('`'); open != std::string::npos;) {
      std::size_t close = cell.find('`', open + 1);
      REQUIRE(close != std::string::npos);
      inputs.emplace_back(cell.substr(open + 1, close - open - 1), region);
      open = cell.find('`', close + 1);
    }
  }
  return inputs;
}

void check(const std::string& input, const std::string& region, const Expected& expected,
           bool allow_other_regions) {
  CAPTURE(input);
  CAPTURE(region);
  CAPTURE(allow_other_regions);
  normalize::PhoneRules rules{region, allow_other_regions};
  for (const auto& result :
       {normalize::phone(input, rules), normalize::internal::phone_via_parse(input, rules)}) {
    const bool valid =
        expected.error.empty() || (allow_other_regions && expected.other_regions_valid);
    REQUIRE(result.ok() == valid);
    if (valid) {
      CHECK(result->e164 == expected.e164);
      CHECK(result->extension == expected.extension);
      CHECK(result->region == expected.region);
    } else {
      CHECK(result.error().code == CRMSYNC_E_INVALID_INPUT);
      CHECK(result.error().message.find(expected.error) != std::string::npos);
      CHECK(result.error().message.find(input) != std::string::npos);
    }
  }
}

bool same(const crmsync::Result<normalize::Phone>& a, const crmsync::Result<normalize::Phone>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.error().code == b.error().code && a.error().message == b.error().message;
  return a->e164 == b->e164 && a->extension == b->extension && a->region == b->region;
}

// A random national number: any first digit, or a prefix where the rules change.
std::string random_national(std::mt19937_64& rng) {
  static const std::vector<std::string> kPrefixes = {"810", "800", "804", "808", "809", "700",
                                                     "702", "747", "771", "336", "301", "495",
                                                     "812", "100", "107", "999", "940"};
  std::string n = std::to_string(1'000'000'000 + rng() % 9'000'000'000ull).substr(0, 10);
  n[0] = static_cast<char>('0' + rng() % 10);
  if (rng() % 4 == 0) n.replace(0, 3, kPrefixes[rng() % kPrefixes.size()]);
  return n;
}

}  // namespace

TEST_CASE("every input of ru-phones.md has an expectation here") {
  const auto inputs = inputs_of_ru_phones_md();
  CHECK(inputs.size() >= 68);
  for (const auto& [input, region] : inputs) {
    CAPTURE(input);
    CHECK(table().count({input, region}) == 1);
  }
}

TEST_CASE("ru-phones.md rows give the expected E.164, extension, region or refusal") {
  for (const auto& [key, expected] : table()) {
    check(key.first, key.second, expected, false);
    check(key.first, key.second, expected, true);
  }
}

TEST_CASE("+7 7xx numbers are reported as Kazakhstan") {
  auto kz = normalize::phone("+7 702 211 1111", {.allow_other_regions = true});
  REQUIRE(kz.ok());
  CHECK(kz->region == "KZ");
  auto refused_kz = normalize::phone("87022111111");
  REQUIRE(!refused_kz.ok());
  CHECK(refused_kz.error().message == "Phone '87022111111' is a KZ number, not RU");
  auto home = normalize::phone("87022111111", {.default_region = "KZ"});
  REQUIRE(home.ok());
  CHECK(home->e164 == "+77022111111");
}

TEST_CASE("bad phone input gets a clear error, not a crash") {
  for (const std::string& input : std::vector<std::string>{
           "12345", "+7999123", "not a phone", "+7 999 123 45 67 89", "   ", "\xFF\xFE",
           "8 912 345 67 89 доб.", "tel:+79123456789;foo=1",
           "tel:+79123456789;ext=", "+7 912 345 67 89 #100", "доб. 100", std::string(1000, '9'),
           std::string("89\0"
                       "12",
                       5)}) {
    CAPTURE(input);
    auto result = normalize::phone(input);
    REQUIRE(!result.ok());
    CHECK(result.error().code == CRMSYNC_E_INVALID_INPUT);
    CHECK(!result.error().message.empty());
  }
  CHECK(normalize::phone("").error().message == "Phone is empty");
  CHECK(normalize::phone("not a phone").error().message == "Phone 'not a phone' contains letters");
  CHECK(normalize::phone("12345").error().message.find("'12345'") != std::string::npos);
}

TEST_CASE("an unknown default region is a configuration error") {
  auto result = normalize::phone("+79123456789", {.default_region = "XX"});
  REQUIRE(!result.ok());
  CHECK(result.error().code == CRMSYNC_E_INVALID_CONFIG);
  CHECK(result.error().message == "Unknown phone region 'XX'");
}

TEST_CASE("the shortcut reads the CSV shapes and leaves the others to Parse") {
  using normalize::internal::shortcut_national_number;
  CHECK(shortcut_national_number("+79123456789") == 9123456789u);
  CHECK(shortcut_national_number("8 (912) 345-67-89") == 9123456789u);
  CHECK(shortcut_national_number("7 912 345 67 89") == 9123456789u);
  CHECK(shortcut_national_number("912.345.67.89") == 9123456789u);
  CHECK(shortcut_national_number("+7 702 211 1111") == 7022111111u);
  CHECK(!shortcut_national_number("8101234567"));    // 810 is the international prefix
  CHECK(!shortcut_national_number("81071234567"));   // 8 10 …: the same
  CHECK(!shortcut_national_number("+71112223344"));  // outside RU's general pattern
  CHECK(!shortcut_national_number("+7 (8) 8005553535"));
  CHECK(!shortcut_national_number("+89123456789"));
  CHECK(!shortcut_national_number("9123456789x"));
  CHECK(!shortcut_national_number("+7 912 345 67 8"));
}

TEST_CASE("the shortcut and the caches give exactly what Parse gives (differential)") {
  std::mt19937_64 rng(20251117);
  const int count = 200'000 / kScale;
  int shortcut = 0;
  for (int i = 0; i < count; ++i) {
    const std::string input =
        crmsync::test::phone_shape(rng, random_national(rng), crmsync::test::kAllPhoneShapes);
    if (normalize::internal::shortcut_national_number(input)) ++shortcut;
    for (bool other : {false, true}) {
      const normalize::PhoneRules rules{"RU", other};
      const auto reference = normalize::internal::phone_via_parse(input, rules);
      // Twice: the first call may fill a cache, the second reads it.
      const auto first = normalize::phone(input, rules);
      const auto second = normalize::phone(input, rules);
      if (!same(reference, first) || !same(reference, second)) {
        CAPTURE(input);
        CAPTURE(other);
        FAIL("phone() and Parse disagree");
      }
    }
  }
  MESSAGE(shortcut << " of " << count << " inputs took the shortcut");
  CHECK(shortcut > count / 4);  // half the first digits and 6 of 16 shapes are for Parse
  for (const auto& [key, expected] : table()) {
    for (bool other : {false, true}) {
      const normalize::PhoneRules rules{key.second, other};
      CAPTURE(key.first);
      CHECK(same(normalize::internal::phone_via_parse(key.first, rules),
                 normalize::phone(key.first, rules)));
    }
  }
}

TEST_CASE("results stay right past the memo's capacity and across threads") {
  // Distinct inputs that Parse must read (810 international prefix), more than the memo holds.
  const int count = 70'000 / kScale;
  std::vector<std::string> inputs;
  for (int i = 0; i < count; ++i) inputs.push_back("8 10 7 912 " + std::to_string(1'000'000 + i));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < count; i += 2) {
        auto result = normalize::phone(inputs[i]);
        if (!result.ok() || result->e164 != "+7912" + std::to_string(1'000'000 + i))
          ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int m : mismatches) CHECK(m == 0);
}
