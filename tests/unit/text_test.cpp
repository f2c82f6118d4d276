// The text inside payloads (docs/protocol.md §2): request lines, code lines,
// the packets the daemon writes, and the status texts.
//
// Flow: every test hands a byte string to one proto function and checks the
// exact values (or bytes) that come back. Payloads are written as std::string
// literals with an explicit length where they hold NUL bytes.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "junction/proto/error.hpp"
#include "junction/proto/header.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"

using namespace junction::proto;
using namespace std::string_literals;
using namespace std::string_view_literals;
using bytes = std::vector<std::uint8_t>;

namespace {

// The parsers return views into the payload, so the parsed value keeps its
// payload alive on the heap (a moved std::string could move its bytes).
struct parsed_request {
    std::unique_ptr<const std::string> payload;
    std::error_code ec;
    request_line req;
};

parsed_request request(std::string payload) {
    parsed_request p{std::make_unique<const std::string>(std::move(payload)), {}, {}};
    p.ec = parse_request(as_bytes(*p.payload), p.req);
    return p;
}

struct parsed_code {
    std::unique_ptr<const std::string> payload;
    std::error_code ec;
    code_line cl;
    std::string content() const { return std::string(as_text(cl.content)); }
};

parsed_code code_of(std::string payload) {
    parsed_code p{std::make_unique<const std::string>(std::move(payload)), {}, {}};
    p.ec = parse_code_line(as_bytes(*p.payload), p.cl);
    return p;
}

std::string payload_of(const bytes& packet) {
    return std::string(packet.begin() + header_size, packet.end());
}

header header_of(const bytes& packet) {
    return decode_header(std::span<const std::uint8_t, header_size>(packet.data(), header_size));
}

}  // namespace

// --- §2.1 The request line --------------------------------------------------------

TEST_CASE("a request line splits into the service name and the args after the first separators",
          "[proto][text][request]") {
    auto p = request("hello a b");
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "hello");
    CHECK(p.req.args == "a b");
    CHECK(p.req.line == "hello a b");

    p = request("hello \t a\t\tb  ");
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "hello");
    CHECK(p.req.args == "a\t\tb  ");  // only the first run of separators is removed
    CHECK(p.req.line == "hello \t a\t\tb  ");

    p = request("hello\tworld");
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "hello");
    CHECK(p.req.args == "world");

    p = request("list-services");
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "list-services");
    CHECK(p.req.args.empty());

    p = request("hello   ");
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "hello");
    CHECK(p.req.args.empty());
}

TEST_CASE("one trailing NUL of a request line is tolerated and ignored", "[proto][text][request]") {
    auto p = request("hello a b\0"s);
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "hello");
    CHECK(p.req.args == "a b");
    CHECK(p.req.line == "hello a b");
    CHECK(p.req.line.size() == 9);

    p = request("hello\0"s);
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "hello");
    CHECK(p.req.args.empty());
}

TEST_CASE("a request line with two trailing NULs or a NUL inside is not printable",
          "[proto][text][request]") {
    CHECK(request("hello\0\0"s).ec == errc::bad_request_line);
    CHECK(request("hel\0lo"s).ec == errc::bad_request_line);
    CHECK(request("\0hello"s).ec == errc::bad_request_line);
}

TEST_CASE("an empty request line, only separators or only a NUL is empty_request",
          "[proto][text][request]") {
    const std::string line =
        GENERATE(as<std::string>{}, ""s, " "s, "     "s, "\t"s, " \t \t"s, "\0"s, "   \0"s);
    INFO("payload of " << line.size() << " bytes");
    CHECK(request(line).ec == errc::empty_request);
}

TEST_CASE("control bytes other than TAB and DEL make the request line not printable",
          "[proto][text][request]") {
    for (int c = 0x01; c < 0x20; ++c) {
        if (c == '\t') continue;
        INFO("byte " << c);
        CHECK(request("hello a"s + static_cast<char>(c) + "b").ec == errc::bad_request_line);
        CHECK(request(std::string(1, static_cast<char>(c)) + "hello").ec ==
              errc::bad_request_line);
    }
    CHECK(request("hello a\x7f"s).ec == errc::bad_request_line);
    CHECK(request("hello\n").ec == errc::bad_request_line);
    CHECK(request("hello\r\n").ec == errc::bad_request_line);
    CHECK_FALSE(request("hello a\tb").ec);
    CHECK(make_error_code(errc::bad_request_line).message() ==
          "request line is not printable UTF-8");
}

TEST_CASE("invalid UTF-8 in a request line is bad_request_line", "[proto][text][request][utf8]") {
    const std::string bad = GENERATE(
        "\x80"s,                  // continuation byte alone
        "\xbf"s,                  // continuation byte alone
        "\xc3"s,                  // lead byte cut short at the end
        "\xc3("s,                 // lead byte followed by ASCII
        "\xe2\x82"s,              // three-byte sequence cut short
        "\xf0\x9f\x98"s,          // four-byte sequence cut short
        "\xc0\xaf"s,              // overlong '/' (2 bytes)
        "\xc1\xbf"s,              // overlong U+007F
        "\xe0\x80\xaf"s,          // overlong '/' (3 bytes)
        "\xe0\x9f\xbf"s,          // overlong U+07FF
        "\xf0\x80\x80\xaf"s,      // overlong '/' (4 bytes)
        "\xf0\x8f\xbf\xbf"s,      // overlong U+FFFF
        "\xed\xa0\x80"s,          // surrogate U+D800
        "\xed\xbf\xbf"s,          // surrogate U+DFFF
        "\xf4\x90\x80\x80"s,      // U+110000, past the last code point
        "\xf5\x80\x80\x80"s,      // lead byte past U+10FFFF
        "\xf8\x88\x80\x80\x80"s,  // five-byte form
        "\xfe"s, "\xff"s);
    INFO("bytes: " << Catch::Detail::stringify(bad));
    CHECK_FALSE(valid_utf8(bad));
    CHECK(request("hello " + bad).ec == errc::bad_request_line);
    CHECK(request("hello a" + bad + "b").ec == errc::bad_request_line);
}

TEST_CASE("valid multi-byte UTF-8 args are accepted and kept byte for byte",
          "[proto][text][request][utf8]") {
    // U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF: the
    // edges of each length and around the surrogates.
    const std::string edges =
        "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf "
        "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf";
    CHECK(valid_utf8(edges));
    auto p = request("echo " + edges);
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.service == "echo");
    CHECK(p.req.args == edges);

    p = request("echo h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\0"s);
    REQUIRE_FALSE(p.ec);
    CHECK(p.req.args == "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(split_args(p.req.args) ==
          std::vector<std::string_view>{"h\xc3\xa9llo", "\xe2\x82\xac", "\xf0\x9f\x98\x80"});
}

TEST_CASE("service names are [A-Za-z0-9][A-Za-z0-9._:-]{0,127}", "[proto][text][request]") {
    for (const std::string name : {"a", "Z", "0", "hello", "a.b_c:d-e", "9-lives", "A1.2:3_4-5"}) {
        INFO(name);
        CHECK(valid_service_name(name));
        const auto p = request(name + " arg");
        CHECK_FALSE(p.ec);
        CHECK(p.req.service == name);
    }
    for (const std::string name : {"-a", ".a", "_a", ":a", "a/b", "a@b", "a,b", "a+b", "a=b",
                                   "caf\xc3\xa9", "\xc3\xa9t\xc3\xa9"}) {
        INFO(name);
        CHECK_FALSE(valid_service_name(name));
        CHECK(request(name + " arg").ec == errc::bad_service_name);
    }
    CHECK_FALSE(valid_service_name(""));
}

TEST_CASE("a service name of 128 characters is valid, 129 is not", "[proto][text][request]") {
    const std::string n128 = "s" + std::string(127, 'x');
    const std::string n129 = "s" + std::string(128, 'x');
    REQUIRE(n128.size() == 128);
    REQUIRE(n129.size() == 129);
    CHECK(valid_service_name(n128));
    CHECK_FALSE(valid_service_name(n129));
    const auto p = request(n128 + " a");
    CHECK_FALSE(p.ec);
    CHECK(p.req.service == n128);
    CHECK(request(n129 + " a").ec == errc::bad_service_name);
    CHECK(request(n129).ec == errc::bad_service_name);
}

TEST_CASE("split_args splits on runs of spaces and tabs and drops empty words",
          "[proto][text][request]") {
    using words = std::vector<std::string_view>;
    CHECK(split_args("") == words{});
    CHECK(split_args(" \t ") == words{});
    CHECK(split_args("a") == words{"a"});
    CHECK(split_args("a b") == words{"a", "b"});
    CHECK(split_args("  a \t\t b  c\t") == words{"a", "b", "c"});
    CHECK(split_args("register-service hello inner") ==
          words{"register-service", "hello", "inner"});
}

TEST_CASE("strip_nul removes exactly one trailing NUL", "[proto][text]") {
    CHECK(strip_nul("abc\0"sv) == "abc"sv);
    CHECK(strip_nul("abc\0\0"sv) == "abc\0"sv);
    CHECK(strip_nul("a\0c"sv) == "a\0c"sv);
    CHECK(strip_nul("abc"sv) == "abc"sv);
    CHECK(strip_nul("\0"sv).empty());
    CHECK(strip_nul(""sv).empty());
}

// --- §2.2 The code line -------------------------------------------------------------

TEST_CASE("a code line with only a code has an empty message and empty content",
          "[proto][text][code]") {
    const auto p = code_of("200\n");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 200);
    CHECK(p.cl.message.empty());
    CHECK(p.cl.content.empty());
}

TEST_CASE("a code line with a message and content splits at the first newline",
          "[proto][text][code]") {
    auto p = code_of("200 OK\ncontent");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 200);
    CHECK(p.cl.message == "OK");
    CHECK(p.content() == "content");

    p = code_of("517 limit: message size\n");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 517);
    CHECK(p.cl.message == "limit: message size");
    CHECK(p.cl.content.empty());

    // A lone space: the message is empty.
    p = code_of("103 \n");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 103);
    CHECK(p.cl.message.empty());

    // Only the first space is the separator; the rest belongs to the message.
    p = code_of("200  two\nx");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.message == " two");
    CHECK(p.content() == "x");
}

TEST_CASE("code line content is opaque bytes: NUL, newlines and a trailing NUL are content",
          "[proto][text][code]") {
    const auto p = code_of("311 SERVER RET\n\0\n\xff\x01\n200 OK\n\0"s);
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 311);
    CHECK(p.cl.message == "SERVER RET");
    CHECK(p.content() == "\0\n\xff\x01\n200 OK\n\0"s);
    CHECK(p.cl.content.size() == 13);
    // The content is a view into the payload, not a copy.
    CHECK(p.cl.content.data() == as_bytes(*p.payload).data() + 15);
}

TEST_CASE("codes 100 and 599 are the ends of the valid range", "[proto][text][code]") {
    auto p = code_of("100\n");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 100);
    p = code_of("599 x\n");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 599);
    CHECK(p.cl.message == "x");
}

TEST_CASE("a payload with a code but no newline is no_code_line", "[proto][text][code]") {
    CHECK(code_of("200").ec == errc::no_code_line);
    CHECK(code_of("200 OK").ec == errc::no_code_line);
    CHECK(code_of("103").ec == errc::no_code_line);
    CHECK(make_error_code(errc::no_code_line).message() == "payload has no code line");
}

TEST_CASE("a code line whose code is not three digits from 100 to 599 is bad_code",
          "[proto][text][code]") {
    const std::string bad = GENERATE(as<std::string>{},
        "abc\n",    // not digits
        "099\n",    // under 100
        "000\n",
        "99\n",     // two digits
        "9\n",
        "\n",       // nothing before the newline
        "600\n",    // over 599
        "999\n",
        "2000\n",   // fourth byte neither '\n' nor ' '
        "200x\n",
        "200\tOK\n",
        "200-OK\n",
        " 200\n",   // leading space
        "2 0\n",
        "-20\n",
        "20",       // too short even for a code, no newline
        "");
    INFO(Catch::Detail::stringify(bad));
    code_line cl;
    CHECK(parse_code_line(as_bytes(bad), cl) == errc::bad_code);
}

TEST_CASE("routed_code gives parse_code_line's code exactly when parse_code_line accepts the payload",
          "[proto][text][code]") {
    const auto agree = [](const std::string& payload) {
        INFO(Catch::Detail::stringify(payload));
        code_line cl;
        const bool ok = !parse_code_line(as_bytes(payload), cl);
        CHECK(routed_code(as_bytes(payload)) == (ok ? cl.code : 0));
    };
    for (const char* p : {"200\n", "200 OK\n", "312 \n", "100\n", "599 x\nrest", "600\n", "099\n",
                          "200", "200 OK", "200x\n", "20\n", "", "\n", "200 \n\n", "2a0\n",
                          "200\tOK\n", " 200\n", "301\n[\"f\", 1]"})
        agree(p);
    // Every payload of up to 5 bytes over an alphabet that covers each rule.
    const std::string alphabet = "0159 \nx";
    for (std::size_t len = 0; len <= 5; ++len) {
        std::vector<std::size_t> digit(len, 0);
        for (;;) {  // bounded: alphabet.size()^len payloads
            std::string payload;
            for (const std::size_t d : digit) payload += alphabet[d];
            agree(payload);
            std::size_t i = 0;
            while (i < len && ++digit[i] == alphabet.size()) digit[i++] = 0;
            if (i == len) break;
        }
    }
}

// --- Writing code lines and packets ----------------------------------------------------

TEST_CASE("format_code_line writes the three digits, a space and the message, then a newline", "[proto][text][code]") {
    CHECK(format_code_line(200, "OK") == "200 OK\n");
    CHECK(format_code_line(200, "") == "200\n");
    CHECK(format_code_line(103, "") == "103\n");
    CHECK(format_code_line(102, "no such session") == "102 no such session\n");
    CHECK(format_code_line(517, "limit: message size") == "517 limit: message size\n");
    // Round trip.
    const std::string line = format_code_line(516, "the service already exists");
    const auto p = code_of(line + "tail");
    REQUIRE_FALSE(p.ec);
    CHECK(p.cl.code == 516);
    CHECK(p.cl.message == "the service already exists");
    CHECK(p.content() == "tail");
}

TEST_CASE("format_code_line cuts a message at its first newline", "[proto][text][code]") {
    // A '\n' inside the message would end the code line early and turn the rest
    // of the message into content.
    CHECK(format_code_line(503, "bad\nthing") == "503 bad\n");
    CHECK(format_code_line(200, "\nx") == "200\n");
}

TEST_CASE("append_packet writes the §1 REQUEST example byte for byte", "[proto][text][packet]") {
    bytes out;
    append_packet(out, packet_type::request, 1001, as_bytes("echo!"));
    const bytes expected{0x01, 0x02, 0x00, 0x05, 0x00, 0x00, 0x03, 0xe9,
                         0x65, 0x63, 0x68, 0x6f, 0x21};
    CHECK(out == expected);

    // Appends: what was in the vector stays in front.
    bytes two{0xAA};
    append_packet(two, packet_type::update, 0xFFFFFFFF, {});
    CHECK(two == bytes{0xAA, 0x01, 0x04, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF});
}

TEST_CASE("append_code_packet writes the §2.2 RESPONSE example byte for byte",
          "[proto][text][packet]") {
    bytes out;
    append_code_packet(out, packet_type::response, 1001, 200, "OK", as_bytes("hi"));
    const bytes expected{0x01, 0x03, 0x00, 0x09, 0x00, 0x00, 0x03, 0xe9, 0x32,
                         0x30, 0x30, 0x20, 0x4f, 0x4b, 0x0a, 0x68, 0x69};
    CHECK(out == expected);
    CHECK(code_payload_size("OK", 2) == 9);
}

TEST_CASE("append_code_packet without a message or content writes just the code and newline",
          "[proto][text][packet]") {
    bytes out{0x55};
    append_code_packet(out, packet_type::update, 1, 103, "");
    CHECK(out == bytes{0x55, 0x01, 0x04, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, '1', '0', '3', '\n'});
    CHECK(code_payload_size("", 0) == 4);
}

TEST_CASE("append_code_packet carries binary content unchanged", "[proto][text][packet]") {
    const std::string content = "\0\n\xff\0"s;
    bytes out;
    append_code_packet(out, packet_type::response, 7, 311, "SERVER RET", as_bytes(content));
    CHECK(header_of(out) == header{1, 3, 19, 7});
    CHECK(payload_of(out) == "311 SERVER RET\n\0\n\xff\0"s);
}

TEST_CASE("append_code_packet cuts a message at its first newline", "[proto][text][packet]") {
    bytes out;
    append_code_packet(out, packet_type::response, 3, 503, "bad\nthing", as_bytes("c"));
    CHECK(header_of(out) == header{1, 3, 9, 3});
    CHECK(payload_of(out) == "503 bad\nc");
    CHECK(code_payload_size("bad\nthing", 1) == 9);
}

TEST_CASE("append_code_packet truncates a long message so the payload fits 65535 bytes",
          "[proto][text][packet]") {
    const std::string message(70000, 'm');

    SECTION("no content: the message keeps 65530 bytes") {
        bytes out;
        append_code_packet(out, packet_type::response, 1, 500, message);
        REQUIRE(out.size() == header_size + 65535);
        CHECK(header_of(out) == header{1, 3, 65535, 1});
        const auto p = code_of(payload_of(out));
        REQUIRE_FALSE(p.ec);
        CHECK(p.cl.code == 500);
        CHECK(p.cl.message == std::string(65530, 'm'));
        CHECK(p.cl.content.empty());
        CHECK(code_payload_size(message, 0) == 65535);
    }
    SECTION("with content: the content is whole, the message gives way") {
        const std::string content(1000, 'c');
        bytes out;
        append_code_packet(out, packet_type::update, 2, 200, message, as_bytes(content));
        REQUIRE(out.size() == header_size + 65535);
        CHECK(header_of(out).length == 65535);
        const auto p = code_of(payload_of(out));
        REQUIRE_FALSE(p.ec);
        CHECK(p.cl.message == std::string(64530, 'm'));
        CHECK(p.content() == content);
        CHECK(code_payload_size(message, content.size()) == 65535);
    }
    SECTION("content leaving no room: the message is dropped") {
        const std::string content(65531, 'c');
        bytes out;
        append_code_packet(out, packet_type::response, 4, 200, "OK", as_bytes(content));
        REQUIRE(out.size() == header_size + 65535);
        const auto p = code_of(payload_of(out));
        REQUIRE_FALSE(p.ec);
        CHECK(p.cl.code == 200);
        CHECK(p.cl.message.empty());
        CHECK(p.content() == content);
        CHECK(code_payload_size("OK", content.size()) == 65535);
    }
    SECTION("a message that just fits is not cut") {
        const std::string fits(65530, 'f');
        bytes out;
        append_code_packet(out, packet_type::response, 5, 200, fits);
        CHECK(header_of(out).length == 65535);
        CHECK(payload_of(out) == "200 " + fits + "\n");
    }
}

// --- §2.3 Status codes ---------------------------------------------------------------

TEST_CASE("every status code of §2.3 has its reason text, other codes have none",
          "[proto][status]") {
    CHECK(status_text(code::ok) == "OK");
    CHECK(status_text(code::proc_dead) == "processor is dead");
    CHECK(status_text(code::proc_done) == "service is done");
    CHECK(status_text(code::has_more) == "HAS MORE");
    CHECK(status_text(code::rpc_more) == "MORE");
    CHECK(status_text(code::shutdown) == "shutdown");
    CHECK(status_text(code::bad_args) == "bad arguments");
    CHECK(status_text(code::bad_packet) == "bad packet");
    CHECK(status_text(code::unknown_service) == "unknown service");
    CHECK(status_text(code::netdown) == "peer down");
    CHECK(status_text(code::serv_existed) == "the service already exists");
    CHECK(status_text(code::limit_exceeded) == "limit exceeded");

    const std::uint16_t table[] = {100, 101, 102, 103, 200, 301, 302, 311, 312, 500, 501, 502, 503,
                                   504, 505, 506, 507, 508, 510, 511, 512, 513, 514, 515, 516, 517};
    for (const std::uint16_t c : table) {
        INFO("code " << c);
        CHECK_FALSE(status_text(c).empty());
    }
    for (const std::uint16_t c : {0, 99, 104, 199, 201, 300, 400, 404, 509, 518, 599, 600, 65535}) {
        INFO("code " << c);
        CHECK(status_text(static_cast<std::uint16_t>(c)).empty());
    }
}

TEST_CASE("the status code constants carry ccnet's values and Junction's 505 and 517",
          "[proto][status]") {
    CHECK(code::proc_keepalive == 100);
    CHECK(code::proc_dead == 102);
    CHECK(code::proc_done == 103);
    CHECK(code::has_more == 312);
    CHECK(code::rpc_more == 302);
    CHECK(code::bad_packet == 505);
    CHECK(code::bad_update_code == 506);
    CHECK(code::bad_response_code == 507);
    CHECK(code::version_mismatch == 508);
    CHECK(code::unknown_service == 511);
    CHECK(code::netdown == 515);
    CHECK(code::serv_existed == 516);
    CHECK(code::limit_exceeded == 517);
}

TEST_CASE("codes 400 to 599 are errors, everything else is not", "[proto][status]") {
    CHECK_FALSE(is_error(103));
    CHECK_FALSE(is_error(312));
    CHECK_FALSE(is_error(399));
    CHECK(is_error(400));
    CHECK(is_error(503));
    CHECK(is_error(599));
    CHECK_FALSE(is_error(600));
}
