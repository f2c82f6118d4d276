// The RPC convention without I/O (docs/protocol.md §9, §5): call and result
// JSON, argument conversion and its error messages, and the chunking of
// messages at every boundary (0 bytes, one full packet, one byte over, many
// packets, exactly the message limit, one byte over it).
//
// rpc_codec.hpp is header-only and needs only Boost.JSON, so this unit layer
// tests it without the client library (unit_tests links proto and the router,
// which brings Boost.JSON); hence the include by path.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "../../lib/include/junction/rpc_codec.hpp"

namespace rpc = junction::rpc;
namespace json = boost::json;
using chunk_writer = rpc::chunk_writer;
using message_reader = rpc::message_reader;
using step = message_reader::step;

namespace {

constexpr std::size_t packet = 65535;
constexpr std::size_t more_line = 13;  // "312 HAS MORE\n"
constexpr std::size_t call_line = 16;  // "301 CLIENT CALL\n"
constexpr std::size_t ret_line = 15;   // "311 SERVER RET\n"

// The rpc::error a callable throws, as (code, message); (0, "") if none.
template <class F>
std::pair<int, std::string> error_of(F f) {
    try {
        f();
    } catch (const rpc::error& e) {
        return {e.code(), e.what()};
    }
    return {0, ""};
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
    return s;
}

struct split {
    std::vector<chunk_writer::chunk> chunks;
    std::string joined;
    std::size_t payload = 0;
};

// All packets of a message, checked against the rules of §5 on the way.
split split_message(const chunk_writer& proto) {
    chunk_writer w = proto;
    split out;
    for (std::size_t guard = 0; !w.done(); ++guard) {
        REQUIRE(guard <= proto.packets());
        const auto c = w.next();
        const std::size_t size = rpc::code_line_size(c.message) + c.content.size();
        CHECK(size <= packet);
        CHECK(c.last == w.done());
        if (!c.last) {
            CHECK(c.code == rpc::wire::has_more);
            CHECK(c.message == "HAS MORE");
        }
        out.payload += size;
        out.joined.append(c.content);
        out.chunks.push_back(c);
    }
    return out;
}

}  // namespace

// --- Calls ------------------------------------------------------------------------------

TEST_CASE("rpc codec: a call is the compact array [\"fname\", args...]", "[rpc][codec]") {
    CHECK(rpc::encode_call("add", json::array{2, 40}) == R"(["add",2,40])");
    CHECK(rpc::encode_call("ping", {}) == R"(["ping"])");
    CHECK(rpc::encode_call("say", rpc::to_json_array("a \"quoted\"\n", true, nullptr)) ==
          R"(["say","a \"quoted\"\n",true,null])");
    CHECK(
        rpc::encode_call("f", rpc::to_json_array(json::object{{"k", 1}}, std::vector<int>{1, 2})) ==
        R"(["f",{"k":1},[1,2]])");
}

TEST_CASE("rpc codec: parse_call accepts any valid JSON array starting with a string",
          "[rpc][codec]") {
    const auto c = rpc::parse_call(" [ \"add\" , 2 ,\n 40 ] ");
    CHECK(c.function == "add");
    CHECK(c.args == json::array{2, 40});
    CHECK(rpc::parse_call(R"(["ping"])").args.empty());
    // One trailing NUL is tolerated, as in request lines.
    CHECK(rpc::parse_call(std::string(R"(["ping"])") + '\0').function == "ping");
}

TEST_CASE("rpc codec: a bad call is err_code 511 saying what and where", "[rpc][codec]") {
    const auto bad = [](std::string_view text) { return error_of([&] { rpc::parse_call(text); }); };
    CHECK(bad(R"(["add",2,x])") ==
          std::pair<int, std::string>{511, "bad call: invalid JSON at byte 9: syntax error"});
    CHECK(bad(R"(["add",2)").second == "bad call: invalid JSON at byte 8: incomplete JSON");
    CHECK(bad(R"(["add"] 3)").second ==
          "bad call: invalid JSON at byte 8: unexpected data after the value");
    CHECK(bad("").first == 511);
    CHECK(bad(R"({"add":1})").second ==
          "bad call: expected a JSON array [\"function\", arguments...], got object");
    CHECK(bad("[]").second ==
          "bad call: expected a JSON array [\"function\", arguments...], got an empty array");
    CHECK(bad("[1,2]").second ==
          "bad call: expected a JSON array [\"function\", arguments...], got an array starting "
          "with integer");
    CHECK(bad("\"add\"").first == 511);
}

// --- Arguments ----------------------------------------------------------------------------

TEST_CASE("rpc codec: arguments convert to the parameter types", "[rpc][codec]") {
    using args = std::tuple<int, std::string, bool, std::nullptr_t, json::object, json::array,
                            json::value, double, std::optional<int>, std::optional<int>,
                            std::vector<std::string>, std::map<std::string, int>>;
    const auto a = rpc::args_from_json<args>(
        "f", json::array{-7, "s", true, nullptr, json::object{{"k", 1}}, json::array{1}, "any", 2,
                         nullptr, 5, json::array{"x", "y"}, json::object{{"a", 1}}});
    CHECK(std::get<0>(a) == -7);
    CHECK(std::get<1>(a) == "s");
    CHECK(std::get<2>(a));
    CHECK(std::get<4>(a).at("k") == 1);
    CHECK(std::get<5>(a).size() == 1);
    CHECK(std::get<6>(a) == "any");
    CHECK(std::get<7>(a) == 2.0);
    CHECK_FALSE(std::get<8>(a).has_value());
    CHECK(std::get<9>(a) == 5);
    CHECK(std::get<10>(a) == std::vector<std::string>{"x", "y"});
    CHECK(std::get<11>(a).at("a") == 1);
    CHECK(
        rpc::args_from_json<std::tuple<std::uint64_t>>("f", json::array{std::uint64_t(1) << 63}) ==
        std::tuple<std::uint64_t>{std::uint64_t(1) << 63});
}

TEST_CASE("rpc codec: a wrong argument count or type names the function and the position",
          "[rpc][codec]") {
    using two_ints = std::tuple<int, int>;
    const auto bad = [](const json::array& a) {
        return error_of([&] { rpc::args_from_json<two_ints>("add", a); });
    };
    CHECK(bad(json::array{1}) ==
          std::pair<int, std::string>{511, "add: expected 2 arguments, got 1"});
    CHECK(bad(json::array{1, 2, 3}).second == "add: expected 2 arguments, got 3");
    CHECK(bad(json::array{1, "2"}) ==
          std::pair<int, std::string>{511, "add: argument 2: expected integer, got string"});
    CHECK(bad(json::array{1.5, 2}).second == "add: argument 1: expected integer, got number");
    CHECK(bad(json::array{std::int64_t(1) << 40, 2}).second ==
          "add: argument 1: integer 1099511627776 out of range");
    CHECK(error_of([] {
              rpc::args_from_json<std::tuple<std::string>>("greet", json::array{});
          }).second == "greet: expected 1 argument, got 0");
    CHECK(error_of([] { rpc::args_from_json<std::tuple<bool>>("f", json::array{1}); }).second ==
          "f: argument 1: expected boolean, got integer");
    CHECK(error_of([] {
              rpc::args_from_json<std::tuple<std::optional<int>>>("f", json::array{"x"});
          }).second == "f: argument 1: expected integer, got string");
    CHECK(error_of([] {
              rpc::args_from_json<std::tuple<json::object>>("f", json::array{json::array{}});
          }).second == "f: argument 1: expected object, got array");
    CHECK(error_of([] {
              rpc::args_from_json<std::tuple<unsigned>>("f", json::array{-1});
          }).second == "f: argument 1: integer -1 out of range");
    CHECK(error_of([] {
              rpc::args_from_json<std::tuple<std::vector<int>>>("f", json::array{json::array{"a"}});
          }).first == 511);
}

TEST_CASE("rpc codec: values convert to JSON", "[rpc][codec]") {
    CHECK(rpc::to_json(42) == 42);
    CHECK(rpc::to_json(std::string("s")) == "s");
    CHECK(rpc::to_json(std::string_view("v")) == "v");
    CHECK(rpc::to_json("lit") == "lit");
    CHECK(rpc::to_json(false) == false);
    CHECK(rpc::to_json(nullptr).is_null());
    CHECK(rpc::to_json(std::optional<int>()).is_null());
    CHECK(rpc::to_json(std::optional<int>(3)) == 3);
    CHECK(rpc::to_json(std::vector<int>{1, 2}) == json::array{1, 2});
    CHECK(rpc::to_json(std::map<std::string, std::string>{{"k", "v"}}) == json::object{{"k", "v"}});
}

// --- Results ------------------------------------------------------------------------------

TEST_CASE("rpc codec: results are {\"ret\":...} or {\"err_code\":N,\"err_msg\":\"...\"}",
          "[rpc][codec]") {
    CHECK(rpc::encode_result(42) == R"({"ret":42})");
    CHECK(rpc::encode_result(nullptr) == R"({"ret":null})");
    CHECK(rpc::encode_error(500, "no such function: x") ==
          R"({"err_code":500,"err_msg":"no such function: x"})");

    CHECK(rpc::result_value(rpc::parse_result(R"({"ret":"hi"})")) == "hi");
    CHECK(rpc::result_value(rpc::parse_result(R"({"ret":null})")).is_null());
    CHECK(error_of([] {
              rpc::result_value(rpc::parse_result(R"({"err_code":520,"err_msg":"boom"})"));
          }) == std::pair<int, std::string>{520, "boom"});
    // err_msg may be missing (libsearpc never omits it, others might).
    CHECK(error_of([] { rpc::result_value(rpc::parse_result(R"({"err_code":7})")); }) ==
          std::pair<int, std::string>{7, ""});
    // An error result stays an object for whoever wants it whole.
    CHECK(rpc::parse_result(R"({"err_code":1,"err_msg":"m"})").at("err_msg") == "m");
}

TEST_CASE("rpc codec: a result that is neither is err_code 511", "[rpc][codec]") {
    const auto bad = [](std::string_view t) { return error_of([&] { rpc::parse_result(t); }); };
    CHECK(bad("42") ==
          std::pair<int, std::string>{511, "bad result: expected a JSON object, got integer"});
    CHECK(bad("{}").second == "bad result: neither \"ret\" nor \"err_code\"");
    CHECK(bad(R"({"err_code":"x"})").second == "bad result: err_code is not an integer");
    CHECK(bad(R"({"ret":)").second == "bad result: invalid JSON at byte 7: incomplete JSON");
    CHECK(error_of([] { rpc::result_as<int>("add", "forty-two"); }) ==
          std::pair<int, std::string>{511, "result of add: expected integer, got string"});
    CHECK(rpc::result_as<std::string>("greet", "hi") == "hi");
}

// --- Chunking -----------------------------------------------------------------------------

TEST_CASE("rpc chunking: 0 bytes is one packet with the code line only", "[rpc][chunk]") {
    const chunk_writer w("", rpc::wire::call, rpc::wire::call_text);
    CHECK(w.packets() == 1);
    CHECK(w.payload_size() == call_line);
    const auto s = split_message(w);
    REQUIRE(s.chunks.size() == 1);
    CHECK(s.chunks[0].code == 301);
    CHECK(s.chunks[0].message == "CLIENT CALL");
    CHECK(s.chunks[0].content.empty());
}

TEST_CASE("rpc chunking: a message that fills exactly one packet is not chunked", "[rpc][chunk]") {
    const chunk_writer call(pattern(packet - call_line), rpc::wire::call, rpc::wire::call_text);
    CHECK(call.packets() == 1);
    CHECK(call.payload_size() == packet);
    CHECK(split_message(call).chunks.at(0).code == 301);

    const chunk_writer result(pattern(packet - ret_line), rpc::wire::ret, rpc::wire::ret_text);
    CHECK(result.packets() == 1);
    CHECK(result.payload_size() == packet);
}

TEST_CASE("rpc chunking: one byte over one packet makes a 312 and a final packet", "[rpc][chunk]") {
    const std::string content = pattern(packet - ret_line + 1);
    const chunk_writer w(content, rpc::wire::ret, rpc::wire::ret_text);
    CHECK(w.packets() == 2);
    const auto s = split_message(w);
    REQUIRE(s.chunks.size() == 2);
    CHECK(s.chunks[0].code == 312);
    CHECK(s.chunks[1].code == 311);
    CHECK(s.joined == content);
    CHECK(s.payload == w.payload_size());
    CHECK(w.payload_size() == content.size() + more_line + ret_line);
}

TEST_CASE("rpc chunking: many packets, every chunk full but the last", "[rpc][chunk]") {
    const std::string content = pattern(10 * 1024 * 1024 + 7);
    const chunk_writer w(content, rpc::wire::ret, rpc::wire::ret_text);
    const auto s = split_message(w);
    CHECK(s.joined == content);
    CHECK(s.chunks.size() == w.packets());
    CHECK(s.chunks.size() ==
          (content.size() - (packet - ret_line) + (packet - more_line) - 1) / (packet - more_line) +
              1);
    for (std::size_t i = 0; i + 1 < s.chunks.size(); ++i)
        CHECK(s.chunks[i].content.size() == packet - more_line);
    CHECK(s.payload == w.payload_size());
}

TEST_CASE("rpc chunking: packet counts and sizes agree with the packets at every boundary",
          "[rpc][chunk]") {
    const std::size_t more_room = packet - more_line;
    for (const auto& [code, text, line] :
         {std::tuple{rpc::wire::call, rpc::wire::call_text, call_line},
          std::tuple{rpc::wire::ret, rpc::wire::ret_text, ret_line}}) {
        const std::size_t last_room = packet - line;
        for (std::size_t k = 0; k < 4; ++k) {
            for (const long delta : {-1L, 0L, 1L, 2L, static_cast<long>(more_room - last_room)}) {
                const long n = static_cast<long>(k * more_room + last_room) + delta;
                if (n < 0) continue;
                const chunk_writer w(pattern(static_cast<std::size_t>(n)), code, text);
                const auto s = split_message(w);
                INFO("content " << n << " bytes, final " << code);
                CHECK(s.chunks.size() == w.packets());
                CHECK(s.payload == w.payload_size());
                CHECK(s.joined.size() == static_cast<std::size_t>(n));
            }
        }
    }
}

TEST_CASE("rpc chunking: the reader reassembles what the writer split", "[rpc][chunk]") {
    for (const std::size_t n : {std::size_t(0), std::size_t(1), packet - call_line,
                                packet - call_line + 1, std::size_t(3 * packet + 5)}) {
        const std::string content = pattern(n);
        chunk_writer w(content, rpc::wire::call, rpc::wire::call_text);
        message_reader r(rpc::wire::call);
        std::size_t acks = 0;
        for (std::size_t guard = 0; guard < 100; ++guard) {
            const auto c = w.next();
            const step st = r.feed(c.code, c.message, c.content);
            if (c.last) {
                CHECK(st == step::complete);
                break;
            }
            CHECK(st == step::need_more);
            ++acks;
        }
        CHECK(acks + 1 == w.packets());
        CHECK(r.payload_bytes() == w.payload_size());
        CHECK(r.take() == content);
        CHECK_FALSE(r.in_progress());
    }
}

TEST_CASE("rpc chunking: a message of exactly the limit passes, one byte more does not",
          "[rpc][chunk]") {
    const std::string content = pattern(200000);
    const chunk_writer w(content, rpc::wire::ret, rpc::wire::ret_text);
    const std::size_t limit = w.payload_size();

    const auto read_with = [&](std::size_t max) {
        chunk_writer copy = w;
        message_reader r(rpc::wire::ret, max);
        for (std::size_t guard = 0; guard < 100; ++guard) {
            const auto c = copy.next();
            const step st = r.feed(c.code, c.message, c.content);
            if (st != step::need_more) return st;
        }
        return step::unexpected;
    };
    CHECK(read_with(limit) == step::complete);
    CHECK(read_with(limit - 1) == step::too_large);
    // Senders check the same number before sending anything.
    CHECK(chunk_writer::payload_size(content.size(), rpc::wire::ret_text) == limit);
    CHECK(chunk_writer::payload_size(content.size() + 1, rpc::wire::ret_text) > limit);
}

TEST_CASE("rpc chunking: the default limit is 16 MiB, counted with code lines", "[rpc][chunk]") {
    const std::size_t limit = rpc::default_max_message;
    CHECK(limit == 16u * 1024 * 1024);
    // The largest result content that fits: the limit minus every packet's code line.
    std::size_t n = limit - 300 * more_line;  // 300 code lines are more than 16 MiB needs
    for (std::size_t guard = 0;
         guard < 300 * more_line && chunk_writer::payload_size(n + 1, rpc::wire::ret_text) <= limit;
         ++guard)
        ++n;
    CHECK(chunk_writer::payload_size(limit, rpc::wire::ret_text) > limit);
    CHECK(chunk_writer::payload_size(n, rpc::wire::ret_text) <= limit);
    CHECK(chunk_writer::payload_size(n + 1, rpc::wire::ret_text) > limit);
    CHECK(n < limit);
}

TEST_CASE("rpc chunking: a packet that is neither 312 nor the final code is unexpected",
          "[rpc][chunk]") {
    message_reader r(rpc::wire::ret);
    CHECK(r.feed(200, "OK", "x") == step::unexpected);
    CHECK(r.feed(301, "CLIENT CALL", "[]") == step::unexpected);
    CHECK(r.feed(312, "HAS MORE", "{\"ret\":") == step::need_more);
    CHECK(r.feed(311, "SERVER RET", "1}") == step::complete);
    CHECK(r.take() == "{\"ret\":1}");
    // Ready for the next message on the same session.
    CHECK(r.feed(311, "SERVER RET", "{}") == step::complete);
}
