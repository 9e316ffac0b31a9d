// Tests of the SDK's header-only connector helpers: each reader with the spellings it accepts and
// with bad input (an empty answer, never a crash), the formatters against known texts, and
// deliver() through a sink that records what the host would receive.
#include <crmsync/connector_http.hpp>
#include <crmsync/connector_json.hpp>
#include <crmsync/connector_mapping.hpp>
#include <crmsync/connector_money.hpp>
#include <crmsync/connector_time.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace sdk = crmsync::sdk;
using sdk::Json;

TEST_CASE("civil dates: days_from_civil and civil_from_days are inverses across eras") {
  CHECK(sdk::days_from_civil(1970, 1, 1) == 0);
  CHECK(sdk::days_from_civil(2000, 3, 1) == 11017);
  CHECK(sdk::days_from_civil(1969, 12, 31) == -1);
  for (int64_t days : {-800000, -719468, -1, 0, 59, 60, 11016, 20000, 2932896}) {
    const sdk::CivilDate date = sdk::civil_from_days(days);
    CHECK(sdk::days_from_civil(date.year, date.month, date.day) == days);
  }
  const sdk::CivilDate leap = sdk::civil_from_days(sdk::days_from_civil(2024, 2, 29));
  CHECK(leap.year == 2024);
  CHECK(leap.month == 2);
  CHECK(leap.day == 29);
}

TEST_CASE("civil dates: is_civil_date rejects days that do not exist") {
  CHECK(sdk::is_civil_date(2024, 2, 29));
  CHECK(sdk::is_civil_date(2000, 2, 29));
  CHECK_FALSE(sdk::is_civil_date(2025, 2, 29));
  CHECK_FALSE(sdk::is_civil_date(1900, 2, 29));
  CHECK_FALSE(sdk::is_civil_date(2025, 4, 31));
  CHECK_FALSE(sdk::is_civil_date(2025, 0, 1));
  CHECK_FALSE(sdk::is_civil_date(2025, 13, 1));
  CHECK_FALSE(sdk::is_civil_date(2025, 1, 0));
}

TEST_CASE("UTC offsets: Z and ±HH:MM / ±HHMM read, anything else does not") {
  CHECK(sdk::utc_offset_seconds("Z") == 0);
  CHECK(sdk::utc_offset_seconds("z") == 0);
  CHECK(sdk::utc_offset_seconds("+03:00") == 10800);
  CHECK(sdk::utc_offset_seconds("+0930") == 34200);
  CHECK(sdk::utc_offset_seconds("-05:45") == -20700);
  for (const char* bad : {"", "+3", "+03", "03:00", "+03:0", "+0a:00", "+24:00", "+03:60", "+03-00",
                          "UTC", "+03:000"}) {
    CAPTURE(bad);
    CHECK_FALSE(sdk::utc_offset_seconds(bad));
  }
}

TEST_CASE("RFC 3339: times with an offset become Unix seconds; malformed ones are refused") {
  CHECK(sdk::parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(sdk::parse_rfc3339("2025-11-17T12:00:00+03:00") == 1763370000);
  CHECK(sdk::parse_rfc3339("2025-11-17 09:00:00Z") == 1763370000);
  CHECK(sdk::parse_rfc3339("2025-11-17T09:00:00.123456Z") == 1763370000);
  CHECK(sdk::parse_rfc3339("2025-11-17T04:00:00-0500") == 1763370000);
  CHECK(sdk::parse_rfc3339("1969-12-31T23:59:59Z") == -1);
  for (const char* bad :
       {"", "2025-11-17", "2025-11-17T09:00:00", "2025-11-17T09:00:00+3", "2025-11-17T09:00Z",
        "2025-02-29T09:00:00Z", "2025-11-17T24:00:00Z", "2025-11-17T09:60:00Z",
        "2025-11-17T09:00:60Z", "2025-11-17T09:00:00.Z", "2025-11-17X09:00:00Z",
        "2025/11/17T09:00:00Z", "2025-11-17T09:00:00Z trailing", "２０２５-11-17T09:00:00Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(sdk::parse_rfc3339(bad));
  }
}

TEST_CASE("local times: zoneless wall times become civil seconds; zones and junk are refused") {
  CHECK(sdk::parse_local_time("1970-01-02T00:00:00") == 86400);
  CHECK(sdk::parse_local_time("2025-11-17 10:15:30") ==
        sdk::parse_local_time("2025-11-17T10:15:30"));
  CHECK(sdk::parse_local_time("2025-11-17 10:15:30.000") ==
        sdk::days_from_civil(2025, 11, 17) * 86400 + 10 * 3600 + 15 * 60 + 30);
  for (const char* bad : {"", "2025-11-17", "2025-11-17T10:15:30Z", "2025-11-17T10:15:30+03:00",
                          "2025-11-31 10:15:30", "2025-11-17 10:15", "0001-01-0100:00:00"}) {
    CAPTURE(bad);
    CHECK_FALSE(sdk::parse_local_time(bad));
  }
}

TEST_CASE("time formatting: format_utc and format_local_time write what the parsers read") {
  CHECK(sdk::format_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(sdk::format_utc(1763370000) == "2025-11-17T09:00:00Z");
  CHECK(sdk::format_utc(-1) == "1969-12-31T23:59:59Z");
  CHECK(sdk::format_local_time(86399) == "1970-01-01T23:59:59");
  CHECK(sdk::format_local_time(86399, ' ') == "1970-01-01 23:59:59");
  for (int64_t t : {int64_t{-86401}, int64_t{0}, int64_t{951782400}, int64_t{4102444799}}) {
    CHECK(sdk::parse_rfc3339(sdk::format_utc(t)) == t);
    CHECK(sdk::parse_local_time(sdk::format_local_time(t)) == t);
  }
}

TEST_CASE("money: decimal_minor reads exact decimal text, refuses anything else") {
  CHECK(sdk::decimal_minor("1500") == 150000);
  CHECK(sdk::decimal_minor("-20.5") == -2050);
  CHECK(sdk::decimal_minor("1000.00") == 100000);
  CHECK(sdk::decimal_minor("7.500") == 750);
  CHECK(sdk::decimal_minor("0.01") == 1);
  CHECK(sdk::decimal_minor("999999999999999.99") == 99999999999999999);
  for (const char* bad : {"", "-", ".5", "5.", "1.001", "1,50", "1 500", "+5", "1e3", "0x10", "--1",
                          "1.2.3", "1000000000000000", " 1"}) {
    CAPTURE(bad);
    CHECK_FALSE(sdk::decimal_minor(bad));
  }
}

TEST_CASE("money: minor_text writes two decimals, signs and the most negative value") {
  CHECK(sdk::minor_text(150050) == "1500.50");
  CHECK(sdk::minor_text(-305) == "-3.05");
  CHECK(sdk::minor_text(0) == "0.00");
  CHECK(sdk::minor_text(7) == "0.07");
  CHECK(sdk::minor_text(INT64_MIN) == "-92233720368547758.08");
  CHECK(sdk::decimal_minor(sdk::minor_text(-123456)) == -123456);
}

TEST_CASE("URLs and forms: percent_encode, form_decode and query_param") {
  CHECK(sdk::percent_encode("filter[id][]") == "filter%5Bid%5D%5B%5D");
  CHECK(sdk::percent_encode("Date ge datetime'2025-01-01T00:00:00'") ==
        "Date%20ge%20datetime%272025-01-01T00%3A00%3A00%27");
  CHECK(sdk::percent_encode("Контрагенты") ==
        "%D0%9A%D0%BE%D0%BD%D1%82%D1%80%D0%B0%D0%B3%D0%B5%D0%BD%D1%82%D1%8B");
  CHECK(sdk::percent_encode("aZ09-_.~") == "aZ09-_.~");
  CHECK(sdk::form_decode(sdk::percent_encode("a+b=&Стим\r\n")) == "a+b=&Стим\r\n");
  CHECK(sdk::form_decode("a+b%2B") == "a b+");
  CHECK_FALSE(sdk::form_decode("%"));
  CHECK_FALSE(sdk::form_decode("%4"));
  CHECK_FALSE(sdk::form_decode("%G0"));
  const std::string url = "https://h/webhooks/iiko/7?x=1&token=a%2Fb+c&token=second#frag";
  CHECK(sdk::query_param(url, "token") == "a/b c");
  CHECK(sdk::query_param(url, "x") == "1");
  CHECK(sdk::query_param("https://h/?flag&v=", "flag") == "");
  CHECK(sdk::query_param("https://h/?flag&v=", "v") == "");
  CHECK_FALSE(sdk::query_param(url, "missing"));
  CHECK_FALSE(sdk::query_param("https://h/no-query", "token"));
  CHECK_FALSE(sdk::query_param("https://h/?token=%ZZ", "token"));
  CHECK_FALSE(sdk::query_param("https://h/#?token=1", "token"));
}

TEST_CASE("base64: RFC 4648 test vectors and bytes above 0x7f") {
  CHECK(sdk::base64("") == "");
  CHECK(sdk::base64("f") == "Zg==");
  CHECK(sdk::base64("fo") == "Zm8=");
  CHECK(sdk::base64("foo") == "Zm9v");
  CHECK(sdk::base64("foob") == "Zm9vYg==");
  CHECK(sdk::base64("fooba") == "Zm9vYmE=");
  CHECK(sdk::base64("foobar") == "Zm9vYmFy");
  CHECK(sdk::base64(std::string("\xff\xfe\x00", 3)) == "//4A");
  CHECK(sdk::base64("Администратор:") == "0JDQtNC80LjQvdC40YHRgtGA0LDRgtC+0YA6");
}

TEST_CASE("content types: media_type and is_json_media_type") {
  CHECK(sdk::media_type("Application/JSON; charset=utf-8") == "application/json");
  CHECK(sdk::media_type(" application/x-www-form-urlencoded;charset=UTF-8") ==
        "application/x-www-form-urlencoded");
  CHECK(sdk::media_type("") == "");
  CHECK(sdk::is_json_media_type("application/json"));
  CHECK(sdk::is_json_media_type("TEXT/JSON"));
  CHECK(sdk::is_json_media_type("application/vnd.yclients.v2+json; charset=utf-8"));
  CHECK_FALSE(sdk::is_json_media_type(""));
  CHECK_FALSE(sdk::is_json_media_type("text/plain"));
  CHECK_FALSE(sdk::is_json_media_type("application/jsonp"));
}

TEST_CASE("HTTP failures: ABI codes, messages and body excerpts") {
  CHECK(sdk::http_status_code(401) == CRMSYNC_E_UNAUTHENTICATED);
  CHECK(sdk::http_status_code(402) == CRMSYNC_E_PERMISSION_DENIED);
  CHECK(sdk::http_status_code(403) == CRMSYNC_E_PERMISSION_DENIED);
  CHECK(sdk::http_status_code(404) == CRMSYNC_E_NOT_FOUND);
  CHECK(sdk::http_status_code(408) == CRMSYNC_E_TIMEOUT);
  CHECK(sdk::http_status_code(429) == CRMSYNC_E_RATE_LIMITED);
  CHECK(sdk::http_status_code(503) == CRMSYNC_E_UNAVAILABLE);
  CHECK(sdk::http_status_code(400) == CRMSYNC_E_INVALID_INPUT);
  CHECK(sdk::http_status_code(302) == CRMSYNC_E_INVALID_INPUT);
  CHECK(sdk::body_excerpt("short") == "short");
  CHECK(sdk::body_excerpt(std::string(201, 'x')) == std::string(200, 'x') + "…");
  CHECK(sdk::body_excerpt("abcdef", 3) == "abc…");
  CHECK(sdk::http_error_message("CRM leads", 500, "down") == "CRM leads: HTTP 500: down");
  try {
    sdk::throw_http_error("CRM record 7", 429, "slow down");
    FAIL("throw_http_error returned");
  } catch (const sdk::Error& e) {
    CHECK(e.code() == CRMSYNC_E_RATE_LIMITED);
    CHECK(std::string(e.what()) == "CRM record 7: HTTP 429: slow down");
  }
}

TEST_CASE("JSON readers: member, text_member, integer, integer_or_text, id_text, flag") {
  const Json j = Json::parse(R"({"a": {"b": 1}, "s": "x", "e": "", "big": 18446744073709551615,
                                "neg": -3, "f": 1.5, "digits": "0042", "t": true})");
  CHECK(sdk::member(sdk::member(j, "a"), "b") == 1);
  CHECK(sdk::member(j, "missing").is_null());
  CHECK(sdk::member(sdk::member(j, "s"), "b").is_null());  // not an object
  CHECK(sdk::member(Json::array({1}), "a").is_null());
  CHECK(sdk::text_member(j, "s") == "x");
  CHECK_FALSE(sdk::text_member(j, "e"));
  CHECK_FALSE(sdk::text_member(j, "a"));
  CHECK(sdk::integer(sdk::member(j, "neg")) == -3);
  CHECK_FALSE(sdk::integer(sdk::member(j, "big")));  // beyond int64_t
  CHECK_FALSE(sdk::integer(sdk::member(j, "f")));
  CHECK_FALSE(sdk::integer(sdk::member(j, "digits")));
  CHECK(sdk::integer_or_text(sdk::member(j, "digits")) == 42);
  CHECK(sdk::integer_or_text(Json("-1")) == -1);
  CHECK_FALSE(sdk::integer_or_text(Json("1x")));
  CHECK_FALSE(sdk::integer_or_text(Json("")));
  CHECK(sdk::id_text(Json(12)) == "12");
  CHECK(sdk::id_text(Json("0042")) == "0042");
  CHECK_FALSE(sdk::id_text(Json("0042"), 3));
  CHECK_FALSE(sdk::id_text(Json("4a")));
  CHECK_FALSE(sdk::id_text(Json("")));
  CHECK_FALSE(sdk::id_text(Json(1.5)));
  CHECK(sdk::flag(Json(true)) == true);
  CHECK(sdk::flag(Json(0)) == false);
  CHECK(sdk::flag(Json("1")) == true);
  for (const Json& bad : {Json(2), Json("true"), Json(nullptr), Json(1.0), Json("")}) {
    CAPTURE(bad.dump());
    CHECK_FALSE(sdk::flag(bad));
  }
}

TEST_CASE("JSON money: numbers and decimal strings to exact minor units, never via floats") {
  CHECK(sdk::number_text(Json(2)) == "2");
  CHECK(sdk::number_text(Json::parse("1500.5")) == "1500.5");
  CHECK(sdk::number_text(Json::parse("0.1")) == "0.1");
  CHECK(sdk::number_text(Json::parse("1e2")) == "100");
  CHECK_FALSE(sdk::number_text(Json("1")));
  CHECK(sdk::money_minor(Json::parse("1500.5")) == 150050);
  CHECK(sdk::money_minor(Json::parse("0.07")) == 7);
  CHECK(sdk::money_minor(Json::parse("2560.10")) == 256010);
  CHECK(sdk::money_minor(Json(-20)) == -2000);
  CHECK(sdk::money_minor(Json("1000.00")) == 100000);
  for (const Json& bad : {Json::parse("0.001"), Json::parse("1e300"), Json("1,5"), Json(true),
                          Json(nullptr), Json::array()}) {
    CAPTURE(bad.dump());
    CHECK_FALSE(sdk::money_minor(bad));
  }
}

TEST_CASE("JSON bodies: parse_object, parse_settings and integer_setting report bad input") {
  CHECK(sdk::parse_object(R"({"a":1})", CRMSYNC_E_UNAVAILABLE, "CRM answer")["a"] == 1);
  auto message = [](auto&& call) {
    try {
      call();
    } catch (const sdk::Error& e) {
      return std::to_string(e.code()) + " " + e.what();
    }
    return std::string("no error");
  };
  CHECK(message([] { sdk::parse_object("<html>", CRMSYNC_E_UNAVAILABLE, "CRM answer"); }) ==
        std::to_string(CRMSYNC_E_UNAVAILABLE) + " CRM answer is not JSON");
  CHECK(message([] { sdk::parse_object("[1]", CRMSYNC_E_INVALID_INPUT, "CRM answer"); }) ==
        std::to_string(CRMSYNC_E_INVALID_INPUT) + " CRM answer is not a JSON object");
  CHECK(message([] { sdk::parse_settings("[]", "CRM"); }) ==
        std::to_string(CRMSYNC_E_INVALID_CONFIG) + " CRM settings must be an object");
  const Json settings = sdk::parse_settings(R"({"page_size": 50, "bad": "50", "far": 500})", "CRM");
  int64_t page_size = 100;
  sdk::integer_setting(settings, "page_size", 1, 200, page_size, "CRM");
  CHECK(page_size == 50);
  int64_t absent = 7;
  sdk::integer_setting(settings, "absent", 1, 200, absent, "CRM");
  CHECK(absent == 7);
  for (const char* name : {"bad", "far"}) {
    int64_t out = 0;
    CHECK(message([&] { sdk::integer_setting(settings, name, 1, 200, out, "CRM"); }) ==
          std::to_string(CRMSYNC_E_INVALID_CONFIG) + " CRM setting " + name + " must be 1..200");
  }
}

TEST_CASE("cursors: CursorReader reads what a connector wrote and refuses anything else") {
  const sdk::CursorReader empty("", "Not a CRM cursor");
  CHECK_FALSE(empty.integer_field("page"));
  CHECK_FALSE(empty.text_field("since"));
  CHECK(empty.field("page").is_null());

  const sdk::CursorReader reader(
      R"({"page": 3, "since": "2025-11-17T09:00:00Z", "local": "2025-11-17 12:00:00"})",
      "Not a CRM cursor");
  CHECK(reader.integer_field("page", 1) == 3);
  CHECK_FALSE(reader.integer_field("absent", 1));
  CHECK(reader.text_field("since") == "2025-11-17T09:00:00Z");
  CHECK(reader.time_field("since", sdk::parse_rfc3339) == 1763370000);
  CHECK(reader.time_field("local", sdk::parse_local_time) ==
        sdk::days_from_civil(2025, 11, 17) * 86400 + 12 * 3600);
  CHECK_FALSE(reader.time_field("absent", sdk::parse_rfc3339));

  auto refused = [](auto&& call) {
    try {
      call();
    } catch (const sdk::Error& e) {
      return e.code() == CRMSYNC_E_INVALID_INPUT && std::string(e.what()) == "Not a CRM cursor";
    }
    return false;
  };
  for (const char* text : {"[]", "3", "not json", "\"text\""}) {
    CAPTURE(text);
    CHECK(refused([&] { sdk::CursorReader(text, "Not a CRM cursor"); }));
  }
  CHECK(refused([&] { (void)reader.integer_field("page", 4); }));
  CHECK(refused([&] { (void)reader.integer_field("since"); }));
  CHECK(refused([&] { (void)reader.text_field("page"); }));
  CHECK(refused([&] { (void)reader.time_field("local", sdk::parse_rfc3339); }));
  CHECK(refused([&] { reader.invalid(); }));
}

namespace {

// What deliver() handed to the sink.
struct Delivered {
  std::vector<std::string> calls;
};

int32_t on_record(const crmsync_sink_v1* sink, const crmsync_record_v1* record) {
  static_cast<Delivered*>(sink->host_data)
      ->calls.push_back("record " + std::string(sdk::view(record->external_id)) + " " +
                        std::to_string(record->amount_minor));
  return CRMSYNC_OK;
}
int32_t on_skip(const crmsync_sink_v1* sink, crmsync_str id, crmsync_str reason) {
  static_cast<Delivered*>(sink->host_data)
      ->calls.push_back("skip " + std::string(sdk::view(id)) + " " +
                        std::string(sdk::view(reason)));
  return CRMSYNC_OK;
}
int32_t on_fail(const crmsync_sink_v1* sink, crmsync_str id, crmsync_str reason, crmsync_str raw) {
  static_cast<Delivered*>(sink->host_data)
      ->calls.push_back("fail " + std::string(sdk::view(id)) + " " +
                        std::string(sdk::view(reason)) + " " + std::string(sdk::view(raw)));
  return CRMSYNC_OK;
}

}  // namespace

TEST_CASE("mapping: deliver hands a sale, a non-sale and an unreadable object to the sink") {
  Delivered delivered;
  crmsync_sink_v1 c_sink{};
  c_sink.struct_size = sizeof c_sink;
  c_sink.host_data = &delivered;
  c_sink.record = &on_record;
  c_sink.skip = &on_skip;
  c_sink.fail = &on_fail;
  const sdk::Sink sink(&c_sink);
  sdk::Sale sale;
  sale.record.external_id = "7";
  sale.record.amount_minor = 150000;
  sdk::deliver(sale, sink, "{}");
  sdk::deliver(sdk::NotSale{"8", "Not a sale: cancelled"}, sink, "{}");
  sdk::deliver(sdk::Unreadable{"", "no id"}, sink, R"({"x":1})");
  sdk::deliver(sdk::Unreadable{"9", "medical"}, sink, "");
  CHECK(delivered.calls == std::vector<std::string>{"record 7 150000",
                                                    "skip 8 Not a sale: cancelled",
                                                    "fail  no id {\"x\":1}", "fail 9 medical "});
}
