// Phone normalization: extension split, letter check, the lexical shortcut with its verdict cache,
// and the libphonenumber path with its memo.
#include "normalize/phone.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <variant>

#include "normalize/text.h"

namespace crmsync::normalize {
namespace internal {
namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

// What libphonenumber says about a number, before our region rule.
enum class Status : std::uint8_t {
  valid,
  not_a_number,
  bad_country_code,
  too_short,
  too_long,
  invalid_length,
  local_only,
  no_such_range,
  leftover_extension,
};

// A verdict with its E.164 and region when valid.
struct Verdict {
  Status status = Status::not_a_number;
  std::string e164;
  std::string region;
};

const PhoneNumberUtil& util() {
  return *PhoneNumberUtil::GetInstance();
}

// Judges a parsed number. IsValidNumber is GetRegionCodeForNumber + IsValidNumberForRegion;
// calling the two directly saves a second region lookup.
Verdict judge(const PhoneNumber& number) {
  Verdict verdict;
  util().GetRegionCodeForNumber(number, &verdict.region);
  if (util().IsValidNumberForRegion(number, verdict.region)) {
    verdict.status = Status::valid;
    util().Format(number, PhoneNumberUtil::E164, &verdict.e164);
    return verdict;
  }
  verdict.region.clear();
  switch (util().IsPossibleNumberWithReason(number)) {
    case PhoneNumberUtil::IS_POSSIBLE:
      verdict.status = Status::no_such_range;
      break;
    case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
      verdict.status = Status::local_only;
      break;
    case PhoneNumberUtil::INVALID_COUNTRY_CODE:
      verdict.status = Status::bad_country_code;
      break;
    case PhoneNumberUtil::TOO_SHORT:
      verdict.status = Status::too_short;
      break;
    case PhoneNumberUtil::TOO_LONG:
      verdict.status = Status::too_long;
      break;
    case PhoneNumberUtil::INVALID_LENGTH:
      verdict.status = Status::invalid_length;
      break;
  }
  return verdict;
}

// libphonenumber's Parse, then judge().
Verdict parse_and_judge(std::string_view text, std::string_view region) {
  PhoneNumber number;
  switch (util().Parse(std::string(text), std::string(region), &number)) {
    case PhoneNumberUtil::NO_PARSING_ERROR:
      break;
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
      return {Status::bad_country_code, {}, {}};
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
    case PhoneNumberUtil::TOO_SHORT_NSN:
      return {Status::too_short, {}, {}};
    case PhoneNumberUtil::TOO_LONG_NSN:
      return {Status::too_long, {}, {}};
    default:
      return {Status::not_a_number, {}, {}};
  }
  // Extension markers were cut off before, so one found here is a form we did not recognise.
  if (number.has_extension()) return {Status::leftover_extension, {}, {}};
  return judge(number);
}

// The text and extension of an input, after tel: URI handling and the trailing-marker split.
struct Split {
  std::string_view number;
  std::string_view extension;
};

constexpr std::size_t kMaxExtensionDigits = 20;  // libphonenumber's limit after an explicit label

bool all_ascii_digits(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Splits "…, доб. 100", "… ext 100", "…x100" into number and extension. The labels are exact
// byte strings (lower, title and upper case): a case-folding matcher for Cyrillic is not worth it
// for three letters.
Split split_trailing_extension(std::string_view s) {
  std::size_t end = s.size();
  std::size_t digits = 0;
  while (digits < end && is_digit(s[end - 1 - digits])) ++digits;
  if (digits == 0 || digits > kMaxExtensionDigits || digits == end) return {s, {}};
  std::string_view extension = s.substr(end - digits);
  std::string_view head = trim(s.substr(0, end - digits));
  static constexpr std::array<std::string_view, 14> kLabels = {
      "доб.", "доб",  "Доб.", "Доб",  "ДОБ.", "ДОБ", "ext.",
      "ext",  "Ext.", "Ext",  "EXT.", "EXT",  "x",   "X"};
  for (std::string_view label : kLabels) {
    if (head.size() > label.size() && head.ends_with(label)) {
      head = trim(head.substr(0, head.size() - label.size()));
      if (!head.empty() && (head.back() == ',' || head.back() == ';')) {
        head = trim(head.substr(0, head.size() - 1));
      }
      return {head, extension};
    }
  }
  return {s, {}};
}

// Error for a tel: URI with parameters other than ext.
struct SplitError {
  const char* why;
};

// Splits a tel: URI (RFC 3966) "tel:+7…;ext=123" or a plain input with a trailing extension.
std::variant<Split, SplitError> split_extension(std::string_view s) {
  if (s.size() >= 4 && ascii_lower(s[0]) == 't' && ascii_lower(s[1]) == 'e' &&
      ascii_lower(s[2]) == 'l' && s[3] == ':') {
    std::string_view rest = s.substr(4);
    std::size_t semicolon = rest.find(';');
    Split split{rest.substr(0, semicolon), {}};
    while (semicolon != std::string_view::npos) {
      rest = rest.substr(semicolon + 1);
      semicolon = rest.find(';');
      std::string_view parameter = rest.substr(0, semicolon);
      if (!parameter.starts_with("ext=")) return SplitError{"has a tel: parameter other than ext"};
      split.extension = parameter.substr(4);
      if (split.extension.empty() || split.extension.size() > kMaxExtensionDigits ||
          !all_ascii_digits(split.extension)) {
        return SplitError{"has a malformed extension"};
      }
    }
    return split;
  }
  return split_trailing_extension(s);
}

// What a character of the number part may be: the digits and punctuation libphonenumber reads
// (its VALID_DIGITS and VALID_PUNCTUATION, without the letters and extension marks among them).
enum class CharClass { allowed, letter, other };

CharClass classify(char32_t c) {
  if (c < 0x80) {
    if (is_digit(static_cast<char>(c))) return CharClass::allowed;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::letter;
    switch (c) {
      case ' ':
      case '\t':
      case '+':
      case '-':
      case '(':
      case ')':
      case '.':
      case '/':
      case '[':
      case ']':
        return CharClass::allowed;
      default:
        return CharClass::other;
    }
  }
  if ((c >= 0xFF10 && c <= 0xFF19) || (c >= 0x0660 && c <= 0x0669) ||
      (c >= 0x06F0 && c <= 0x06F9)) {
    return CharClass::allowed;  // full-width, Arabic-Indic, Eastern Arabic-Indic digits
  }
  switch (c) {
    case 0x00A0:
    case 0x00AD:
    case 0x2009:
    case 0x200B:
    case 0x202F:
    case 0x2060:
    case 0x3000:
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2015:
    case 0x2212:
    case 0x30FC:
    case 0xFF0B:
    case 0xFF0D:
    case 0xFF0F:
    case 0xFF08:
    case 0xFF09:
    case 0xFF3B:
    case 0xFF3D:
    case 0x2053:
    case 0x223C:
      return CharClass::allowed;
    default:
      break;
  }
  // Latin, Greek, Cyrillic and full-width Latin letters: the scripts a phone field is written in.
  if ((c >= 0x00C0 && c <= 0x024F) || (c >= 0x0370 && c <= 0x052F) ||
      (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A)) {
    return CharClass::letter;
  }
  return CharClass::other;
}

// The first refused character class in `s`, or allowed.
CharClass check_characters(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::optional<char32_t> c = next_code_point(s, i);
    if (!c) return CharClass::other;  // broken UTF-8
    CharClass cls = classify(*c);
    if (cls != CharClass::allowed) return cls;
  }
  return CharClass::allowed;
}

// Verdicts by 10-digit national number under +7: a lossy 4-way set-associative table of atomic
// words, so lookups take no lock and memory is fixed (4 MiB, 512k entries: a 1M-row import has
// ~300k distinct customers). A word packs: bit 63 occupied, bits 38-39 region, 34-37 status,
// 0-33 the number (< 10^10 < 2^34).
class NationalCache {
 public:
  std::optional<Verdict> find(std::uint64_t national) const {
    const Bucket& bucket = buckets_[bucket_of(national)];
    for (const auto& slot : bucket.slots) {
      const std::uint64_t word = slot.load(std::memory_order_relaxed);
      if ((word >> 63) == 0 || (word & kNumberMask) != national) continue;
      Verdict verdict{
          static_cast<Status>((word >> 34) & 0xF), {}, std::string(kRegions[(word >> 38) & 0x3])};
      if (verdict.status == Status::valid) verdict.e164 = e164_of(national);
      return verdict;
    }
    return std::nullopt;
  }

  void store(std::uint64_t national, const Verdict& verdict) {
    std::uint64_t region = 0;
    while (region < kRegions.size() && kRegions[region] != verdict.region) ++region;
    if (region == kRegions.size()) return;  // a region +7 does not have today: do not cache
    const std::uint64_t word = (std::uint64_t{1} << 63) | (region << 38) |
                               (static_cast<std::uint64_t>(verdict.status) << 34) | national;
    Bucket& bucket = buckets_[bucket_of(national)];
    for (auto& slot : bucket.slots) {
      if (slot.load(std::memory_order_relaxed) == 0) {
        slot.store(word, std::memory_order_relaxed);
        return;
      }
    }
    // A full bucket: evict a slot chosen by the number, which spreads evictions evenly.
    bucket.slots[(national >> 3) % kWays].store(word, std::memory_order_relaxed);
  }

  // "+7" and the number: libphonenumber's E.164 for country code 7 and a national number
  // without leading zeros (the shortcut only admits numbers starting with 3-9).
  static std::string e164_of(std::uint64_t national) {
    std::string e164 = "+7";
    e164.resize(12);
    for (std::size_t k = 11; k >= 2; --k, national /= 10)
      e164[k] = static_cast<char>('0' + national % 10);
    return e164;
  }

 private:
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kBuckets = std::size_t{1} << 17;
  static constexpr std::uint64_t kNumberMask = (std::uint64_t{1} << 34) - 1;
  static constexpr std::array<std::string_view, 3> kRegions = {"", "RU", "KZ"};
  struct alignas(32) Bucket {
    std::array<std::atomic<std::uint64_t>, kWays> slots{};
  };
  static std::size_t bucket_of(std::uint64_t national) {
    return static_cast<std::size_t>((national * 0x9E3779B97F4A7C15ull) >> 47);
  }
  std::array<Bucket, kBuckets> buckets_{};
};

NationalCache& national_cache() {
  static auto* cache = new NationalCache();  // never destroyed: worker threads may outlive main
  return *cache;
}

// Verdicts of Parse by (region, text), for the inputs the shortcut does not cover. Sharded maps
// under mutexes; a full shard is emptied, which bounds memory and keeps the code simple.
class ParseMemo {
 public:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kShardCapacity = 4096;

  Verdict get(std::string_view text, std::string_view region) {
    std::string key;
    key.reserve(region.size() + 1 + text.size());
    key.append(region).push_back('\n');
    key.append(text);
    Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
    {
      std::lock_guard lock(shard.mutex);
      auto it = shard.map.find(key);
      if (it != shard.map.end()) return it->second;
    }
    Verdict verdict = parse_and_judge(text, region);
    std::lock_guard lock(shard.mutex);
    if (shard.map.size() >= kShardCapacity) shard.map.clear();
    shard.map.emplace(std::move(key), verdict);
    return verdict;
  }

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Verdict> map;
  };
  std::array<Shard, kShards> shards_;
};

ParseMemo& parse_memo() {
  static auto* memo = new ParseMemo();  // never destroyed, like national_cache()
  return *memo;
}

// Verdict of the shortcut: cached, or judged by libphonenumber on the number it stands for.
Verdict shortcut_verdict(std::uint64_t national) {
  if (auto cached = national_cache().find(national)) return *std::move(cached);
  PhoneNumber number;
  number.set_country_code(7);
  number.set_national_number(national);
  Verdict verdict = judge(number);
  national_cache().store(national, verdict);
  return verdict;
}

const char* status_reason(Status status) {
  switch (status) {
    case Status::valid:
      break;
    case Status::not_a_number:
      return "is not a phone number";
    case Status::bad_country_code:
      return "has an unknown country code";
    case Status::too_short:
      return "is too short";
    case Status::too_long:
      return "is too long";
    case Status::invalid_length:
      return "has a wrong number of digits";
    case Status::local_only:
      return "has no area code";
    case Status::no_such_range:
      return "is not a valid number: no such number range";
    case Status::leftover_extension:
      return "has an unrecognised extension";
  }
  return "is not valid";
}

Error refuse(std::string_view shown, std::string_view why) {
  std::string message = "Phone '";
  message.append(shown).append("' ").append(why);
  return fail(CRMSYNC_E_INVALID_INPUT, std::move(message));
}

// The whole pipeline; `fast` turns the shortcut and the caches on.
Result<Phone> normalize(std::string_view raw, const PhoneRules& rules, bool fast) {
  const std::string_view shown = trim(raw);
  if (shown.empty()) return fail(CRMSYNC_E_INVALID_INPUT, "Phone is empty");
  const bool shortcut_region = rules.default_region == "RU";
  if (!shortcut_region && util().GetCountryCodeForRegion(std::string(rules.default_region)) == 0) {
    return fail(CRMSYNC_E_INVALID_CONFIG,
                "Unknown phone region '" + std::string(rules.default_region) + "'");
  }
  std::string_view text = shown;
  std::string_view extension;
  std::optional<std::uint64_t> national;
  if (fast && shortcut_region) national = shortcut_national_number(text);
  if (!national) {
    auto split = split_extension(text);
    if (auto* error = std::get_if<SplitError>(&split)) return refuse(shown, error->why);
    text = trim(std::get<Split>(split).number);
    extension = std::get<Split>(split).extension;
    if (text.empty()) return refuse(shown, "has no number");
    if (fast && shortcut_region) national = shortcut_national_number(text);
  }
  Verdict verdict;
  if (national) {
    verdict = shortcut_verdict(*national);
  } else {
    switch (check_characters(text)) {
      case CharClass::allowed:
        break;
      case CharClass::letter:
        return refuse(shown, "contains letters");
      case CharClass::other:
        return refuse(shown, "contains characters that are not part of a number");
    }
    verdict = fast ? parse_memo().get(text, rules.default_region)
                   : parse_and_judge(text, rules.default_region);
  }
  if (verdict.status != Status::valid) return refuse(shown, status_reason(verdict.status));
  if (!rules.allow_other_regions && verdict.region != rules.default_region) {
    return refuse(shown,
                  "is a " + verdict.region + " number, not " + std::string(rules.default_region));
  }
  return Phone{std::move(verdict.e164), std::string(extension), std::move(verdict.region)};
}

}  // namespace

// Shapes read without Parse: [+]digits with spaces, dashes, dots and brackets, where the digits
// are +7 N, 7 N, 8 N or a bare N of 10 digits starting with 3, 4, 7, 8 or 9 (RU's general
// pattern [347-9]\d{9}, which makes Parse take 7 N as country code + N and strip the 8 of 8 N).
// A bare N starting with 810 is excluded: Parse reads 810 as RU's international prefix.
std::optional<std::uint64_t> shortcut_national_number(std::string_view text) {
  std::array<char, 11> digits{};
  std::size_t count = 0;
  std::size_t i = 0;
  const bool plus = !text.empty() && text[0] == '+';
  if (plus) i = 1;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (is_digit(c)) {
      if (count == digits.size()) return std::nullopt;
      digits[count++] = c;
    } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
      return std::nullopt;
    }
  }
  std::size_t start = 0;
  if (count == 11 && (digits[0] == '7' || (!plus && digits[0] == '8'))) {
    start = 1;
  } else if (count != 10 || plus || (digits[0] == '8' && digits[1] == '1' && digits[2] == '0')) {
    return std::nullopt;
  }
  char first = digits[start];
  if (first != '3' && first != '4' && first != '7' && first != '8' && first != '9') {
    return std::nullopt;
  }
  std::uint64_t national = 0;
  for (std::size_t k = start; k < count; ++k) national = national * 10 + (digits[k] - '0');
  return national;
}

Result<Phone> phone_via_parse(std::string_view raw, const PhoneRules& rules) {
  return normalize(raw, rules, false);
}

}  // namespace internal

Result<Phone> phone(std::string_view raw, const PhoneRules& rules) {
  return internal::normalize(raw, rules, true);
}

}  // namespace crmsync::normalize
