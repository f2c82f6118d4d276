// The provider side of the RPC convention on the wire (docs/protocol.md §9):
// a raw-frame client talks to a library rpc::service through the real
// junctiond and checks the packets byte for byte.
#include "rpc_support.hpp"

using namespace junction::test;
using namespace rpc_test;
using junction::proto::packet_type;

namespace {

constexpr auto update = packet_type::update;

// A raw client with an open session to calc on id 5.
struct calc_session {
    explicit calc_session(const daemon_process& d) : c(d.socket()) {
        const auto ok = c.request(5, "calc");
        REQUIRE(ok.type() == static_cast<std::uint8_t>(packet_type::response));
        REQUIRE(ok.payload == "200 OK\n");
    }
    raw_client c;
};

// The setup of most tests: a daemon, the calc provider on its own thread, and a
// client's session `s` with it.
struct calc_fixture {
    temp_dir dir;
    daemon_process d{dir};
    provider_thread provider{d.socket(), calc_service()};
    calc_session s{d};
};

}  // namespace

TEST_CASE_METHOD(calc_fixture,
                 "rpc wire: the add(2, 40) example of §9, byte for byte", "[rpc][wire]") {
    s.c.send(update, 5, "301 CLIENT CALL\n[\"add\",2,40]");
    const auto r = s.c.recv();
    CHECK(r.id() == 5);
    CHECK(r.payload == "311 SERVER RET\n{\"ret\":42}");
    // More calls on the same session; any valid JSON, a trailing NUL tolerated.
    s.c.send(update, 5, std::string("301 CLIENT CALL\n [ \"greet\" ,\n \"x\" ] ") + '\0');
    CHECK(s.c.recv().payload == "311 SERVER RET\n{\"ret\":\"hello, x\"}");
    // Keep-alives are skipped.
    s.c.send(update, 5, "100\n");
    s.c.send(update, 5, "301 CLIENT CALL\n[\"nothing\"]");
    CHECK(s.c.recv().payload == "311 SERVER RET\n{\"ret\":null}");
    // The client ends the session; nothing answers a 103.
    s.c.send(update, 5, "103\n");
    CHECK_FALSE(s.c.try_recv(200ms));
}

TEST_CASE_METHOD(calc_fixture,
                 "rpc wire: error results keep the session open", "[rpc][wire]") {
    const auto call = [&](std::string_view json) {
        s.c.send(update, 5, "301 CLIENT CALL\n" + std::string(json));
        return s.c.recv().payload;
    };
    CHECK(call(R"(["add",2,)") ==
          R"(311 SERVER RET
{"err_code":511,"err_msg":"bad call: invalid JSON at byte 9: incomplete JSON"})");
    CHECK(call(R"({"f":1})") ==
          R"(311 SERVER RET
{"err_code":511,"err_msg":"bad call: expected a JSON array [\"function\", arguments...], got object"})");
    CHECK(call(R"(["add",true,2])") ==
          R"(311 SERVER RET
{"err_code":511,"err_msg":"add: argument 1: expected integer, got boolean"})");
    CHECK(call(R"(["nope"])") ==
          R"(311 SERVER RET
{"err_code":500,"err_msg":"no such function: nope"})");
    CHECK(call(R"(["fail"])") == "311 SERVER RET\n{\"err_code\":520,\"err_msg\":\"boom\"}");
    CHECK(call(R"(["add",2,40])") == "311 SERVER RET\n{\"ret\":42}");
}

TEST_CASE_METHOD(calc_fixture,
                 "rpc wire: a chunked call is acknowledged chunk by chunk with 302 MORE", "[rpc][wire]") {
    const std::string arg(150000, 'a');
    const std::string call = "[\"length\",\"" + arg + "\"]";
    std::size_t sent = 0;
    for (int chunk = 0; chunk < 2; ++chunk) {
        const std::size_t n = 65535 - 13;
        s.c.send(update, 5, "312 HAS MORE\n" + call.substr(sent, n));
        sent += n;
        const auto more = s.c.recv();
        CHECK(more.payload == "302 MORE\n");
    }
    s.c.send(update, 5, "301 CLIENT CALL\n" + call.substr(sent));
    CHECK(s.c.recv().payload == "311 SERVER RET\n{\"ret\":150000}");
}

TEST_CASE_METHOD(calc_fixture,
                 "rpc wire: a chunked result sends one chunk per 302 MORE", "[rpc][wire]") {
    s.c.send(update, 5, "301 CLIENT CALL\n[\"big\",200000]");
    std::string result;
    int chunks = 0;
    for (; chunks < 10; ++chunks) {  // 200 kB is 4 packets
        const auto p = s.c.recv();
        result += p.content();
        if (p.code() == 311) break;
        REQUIRE(p.code() == 312);
        CHECK(p.message() == "HAS MORE");
        CHECK(p.payload.size() == 65535);  // each chunk fills its packet
        // At most one chunk in flight: nothing more comes before the 302.
        CHECK_FALSE(s.c.try_recv(100ms));
        s.c.send(update, 5, "302 MORE\n");
    }
    CHECK(chunks == 3);
    CHECK(result == "{\"ret\":\"" + big_string(200000) + "\"}");
}

TEST_CASE_METHOD(calc_fixture,
                 "rpc wire: an UPDATE other than 301, 312 or 302 ends the session with 503",
                 "[rpc][wire]") {
    s.c.send(update, 5, "200\nhello");
    const auto r = s.c.recv();
    CHECK(r.code() == 503);
    CHECK(r.message() == "rpc: expected UPDATE 301 (call) or 312 (call chunk), got 200");
    // The session is over: a call on it is answered 102 by junctiond.
    s.c.send(update, 5, "301 CLIENT CALL\n[\"add\",1,2]");
    CHECK(s.c.recv().code() == 102);
}

TEST_CASE(
    "rpc wire: a client that stops acknowledging a result gets 514 after the provider's timeout",
    "[rpc][wire][timeout]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service({.timeout = 300ms}));
    calc_session s(d);
    // The provider's timer starts when it sends the 312, after this point and
    // before the 312 reaches us: measure from before the call.
    const auto start = clock::now();
    s.c.send(update, 5, "301 CLIENT CALL\n[\"big\",100000]");
    CHECK(s.c.recv().code() == 312);
    const auto r = s.c.recv(5000ms);
    CHECK(r.code() == 514);
    CHECK(r.message() == "timeout: no 302 MORE for the result");
    CHECK(clock::now() - start >= 300ms);
}

TEST_CASE("rpc wire: a call over the provider's limit ends the session with 517",
          "[rpc][wire][limit]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service({.max_message = 100000}));
    calc_session s(d);
    s.c.send(update, 5, "312 HAS MORE\n" + std::string(65000, 'a'));
    CHECK(s.c.recv().payload == "302 MORE\n");
    s.c.send(update, 5, "312 HAS MORE\n" + std::string(65000, 'a'));
    const auto r = s.c.recv();
    CHECK(r.code() == 517);
    CHECK(r.message() == "limit: message size: call over 100000 bytes");
}
