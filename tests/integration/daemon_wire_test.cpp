// The wire rules of docs/protocol.md, end to end: the real junctiond on a temp
// socket, driven by hand-built frames (mosquitto's test/broker style).
//
// Flow of a test: start a daemon, connect raw clients (and a raw provider that
// registers a service), send frames, and compare what comes back byte for byte
// (as hex, so a failure shows the whole packet). "Nothing else was sent" is
// proven with a round trip through the built-in echo on the same connection:
// the daemon answers a connection's packets in order, so the echo's answer must
// be the very next packet.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "harness.hpp"

using namespace junction::test;
using namespace junction::test::wire;
using junction::proto::packet_type;

namespace {

constexpr auto due = std::chrono::milliseconds(2000);  // how long an answer that is due may take


// A string literal with its embedded NULs.
template <std::size_t N>
std::string bytes(const char (&s)[N]) {
    return std::string(s, N - 1);
}

// A header with any field values, e.g. a version or type the codec would never produce.
std::string raw_header(std::uint8_t version, std::uint8_t type, std::uint16_t length, std::uint32_t id) {
    std::string h(8, '\0');
    h[0] = static_cast<char>(version);
    h[1] = static_cast<char>(type);
    h[2] = static_cast<char>(length >> 8);
    h[3] = static_cast<char>(length & 0xff);
    for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<char>((id >> (24 - 8 * i)) & 0xff);
    return h;
}

// The setup of the tests about one connection: a daemon with its defaults and raw client `c`.
struct daemon_fixture {
    temp_dir dir;
    daemon_process d{dir};
    raw_client c{d.socket()};
};

// The setup of most routing tests: a daemon with its defaults, a raw provider
// serving "hello", and a raw client.
struct hello_fixture {
    temp_dir dir;
    daemon_process d{dir};
    raw_client provider = provider_of(d.socket(), "hello");
    raw_client client{d.socket()};
};

// The same with the client's session 1001 open; `y` is the id the provider sees.
struct hello_session_fixture : hello_fixture {
    std::uint32_t y = open_session(client, 1001, "hello", provider);
};

// The JSON content of the next packet on `c`, which must be RESPONSE `id` "200 OK".
boost::json::object builtin_json(raw_client& c, std::uint32_t id) {
    const packet p = c.recv(due);
    REQUIRE(p.id() == id);
    REQUIRE(p.type() == 3);
    REQUIRE(p.payload.rfind("200 OK\n", 0) == 0);
    INFO("JSON: " << p.content());
    return boost::json::parse(p.content()).as_object();
}

}  // namespace

// --- §4 Routing --------------------------------------------------------------------

TEST_CASE_METHOD(hello_fixture,
                 "routing: ids are rewritten both ways, payloads are forwarded byte for byte",
                 "[daemon][wire][routing]") {
    // The spec's example exchange, byte for byte: the daemon picks 1 on P.
    client.send_raw(bytes("\x01\x02\x00\x09\x00\x00\x03\xe9hello a b"));
    CHECK(next(provider) == "01 02 00 09 00 00 00 01 68 65 6c 6c 6f 20 61 20 62");
    provider.send_raw(bytes("\x01\x03\x00\x0f\x00\x00\x00\x01" "200 OK\nhi there"));
    CHECK(next(client) ==
          "01 03 00 0f 00 00 03 e9 32 30 30 20 4f 4b 0a 68 69 20 74 68 65 72 65");

    // Binary content, NULs and newlines included, is opaque in both directions.
    const std::string binary_down = bytes("200 OK\n\x00\xff\n\x01 trailing NUL\x00");
    provider.send(packet_type::response, 1, binary_down);
    CHECK(next(client) == response(1001, binary_down));
    const std::string binary_up = bytes("301 call\n\x00\x7f\xc3\x28\n\x00");
    client.send(packet_type::update, 1001, binary_up);
    CHECK(next(provider) == update(1, binary_up));

    // The largest payload there is, both ways.
    std::string big = "200 OK\n";
    for (std::size_t i = 0; big.size() < 65535; ++i) big += static_cast<char>(i * 7 % 256);
    provider.send(packet_type::response, 1, big);
    const packet down = client.recv(due);
    CHECK(down.type() == 3);
    CHECK(down.id() == 1001);
    CHECK(down.hdr.length == 65535);
    CHECK(down.payload == big);
    client.send(packet_type::update, 1001, big);
    const packet up = provider.recv(due);
    CHECK(up.type() == 4);
    CHECK(up.id() == 1);
    CHECK(up.payload == big);

    // The master ends the session; the 103 is still delivered.
    client.send(packet_type::update, 1001, "103\n");
    CHECK(next(provider) == update(1, "103\n"));

    // The next session on P gets the next id of P's counter.
    client.send(packet_type::request, 1001, "hello again");
    CHECK(next(provider) == request(2, "hello again"));
}

TEST_CASE("routing: a provider never sees client ids: two clients using id 1001 arrive as "
          "two different ids",
          "[daemon][wire][routing]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");
    raw_client alice(d.socket());
    raw_client bob(d.socket());

    const std::uint32_t a = open_session(alice, 1001, "hello from alice", provider);
    const std::uint32_t b = open_session(bob, 1001, "hello from bob", provider);
    CHECK(a == 1);
    CHECK(b == 2);

    // Answers reach the right client under the client's own id, in both orders.
    provider.send(packet_type::response, b, "200 OK\nfor bob");
    provider.send(packet_type::response, a, "200 OK\nfor alice");
    CHECK(next(bob) == response(1001, "200 OK\nfor bob"));
    CHECK(next(alice) == response(1001, "200 OK\nfor alice"));

    alice.send(packet_type::update, 1001, "200\nalice again");
    CHECK(next(provider) == update(a, "200\nalice again"));
    bob.send(packet_type::update, 1001, "200\nbob again");
    CHECK(next(provider) == update(b, "200\nbob again"));

    // Ending alice's session leaves bob's open.
    alice.send(packet_type::update, 1001, "103\n");
    CHECK(next(provider) == update(a, "103\n"));
    provider.send(packet_type::response, b, "200 OK\nstill here");
    CHECK(next(bob) == response(1001, "200 OK\nstill here"));
    expect_nothing_queued(alice);
}

TEST_CASE_METHOD(hello_fixture,
                 "routing: the ids a connection uses as master and as slave are separate spaces",
                 "[daemon][wire][routing]") {
    const std::uint32_t y = open_session(client, 1001, "hello", provider);
    REQUIRE(y == 1);
    // The provider opens its own session with id 1, as master, while it serves id 1 as slave.
    provider.send(packet_type::request, 1, "echo mine");
    CHECK(next(provider) == response(1, "200 OK\nmine"));

    provider.send(packet_type::update, 1, "200\nto my echo");      // master side: the echo
    CHECK(next(provider) == response(1, "200 OK\nto my echo"));
    provider.send(packet_type::response, 1, "200 OK\nto the client");  // slave side: routed
    CHECK(next(client) == response(1001, "200 OK\nto the client"));
    expect_nothing_queued(client);
}

TEST_CASE("routing: a connection may call a service it provides itself, as master and slave at once",
          "[daemon][wire][routing]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client self = provider_of(d.socket(), "loop");

    self.send(packet_type::request, 1, "loop back");
    CHECK(next(self) == request(1, "loop back"));  // as slave, id 1 from the daemon's counter
    self.send(packet_type::response, 1, "200 OK\nto myself");
    CHECK(next(self) == response(1, "200 OK\nto myself"));  // as master
    self.send(packet_type::update, 1, "200\nfrom myself");
    CHECK(next(self) == update(1, "200\nfrom myself"));  // as slave
    self.send(packet_type::update, 1, "103\n");
    CHECK(next(self) == update(1, "103\n"));
    self.send(packet_type::response, 1, "200 OK\n");
    CHECK(next(self) == update(1, "102 no such session\n"));
}

TEST_CASE_METHOD(hello_session_fixture,
                 "unregister-service: open sessions of the service go on, new REQUESTs get 511",
                 "[daemon][wire][routing]") {
    provider.send(packet_type::request, 5, "unregister-service hello");
    CHECK(next(provider) == response(5, "200 OK\n"));
    provider.send(packet_type::response, y, "200 OK\nstill serving");
    CHECK(next(client) == response(1001, "200 OK\nstill serving"));
    client.send(packet_type::update, 1001, "200\nstill asking");
    CHECK(next(provider) == update(y, "200\nstill asking"));

    client.send(packet_type::request, 1002, "hello");
    CHECK(next(client) == response(1002, "511 unknown service hello\n"));
    // The name is free for someone else, while the old session is still open.
    raw_client successor = provider_of(d.socket(), "hello");
    client.send(packet_type::request, 1003, "hello new");
    CHECK(next(successor) == request(1, "hello new"));
    provider.send(packet_type::response, y, "200 OK\nold one");
    CHECK(next(client) == response(1001, "200 OK\nold one"));
}

// --- §3.3 The end of a session ----------------------------------------------------------

TEST_CASE_METHOD(hello_session_fixture,
                 "session end: 103 or any 4xx/5xx from the client is delivered and ends the session, "
                 "later packets get 102",
                 "[daemon][wire][session]") {
    const std::string ending = GENERATE(as<std::string>{}, "103\n", "103 done\n", "400 bad\n",
                                        "404\n", "500 gone\n", "599\n");
    INFO("client ends with " << ending);

    client.send(packet_type::update, 1001, ending);
    CHECK(next(provider) == update(y, ending));

    client.send(packet_type::update, 1001, "200\nafter the end");
    CHECK(next(client) == response(1001, "102 no such session\n"));
    provider.send(packet_type::response, y, "200 OK\nafter the end");
    CHECK(next(provider) == update(y, "102 no such session\n"));

    // The id is free again (§3.4).
    client.send(packet_type::request, 1001, "hello again");
    CHECK(next(provider) == request(2, "hello again"));
}

TEST_CASE_METHOD(hello_session_fixture,
                 "session end: 103 or any 4xx/5xx from the provider is delivered and ends the session, "
                 "later packets get 102",
                 "[daemon][wire][session]") {
    const std::string ending =
        GENERATE(as<std::string>{}, "103\n", "401 no\n", "499\n", "503 bad args\n", "515\n");
    INFO("provider ends with " << ending);

    provider.send(packet_type::response, y, ending);
    CHECK(next(client) == response(1001, ending));

    client.send(packet_type::update, 1001, "200\nafter the end");
    CHECK(next(client) == response(1001, "102 no such session\n"));
    provider.send(packet_type::response, y, "200 OK\nafter the end");
    CHECK(next(provider) == update(y, "102 no such session\n"));
}

TEST_CASE_METHOD(hello_session_fixture,
                 "session end: codes 1xx-3xx other than 103 do not end a session",
                 "[daemon][wire][session]") {
    for (const std::string_view payload : {"100\n", "101\n", "200\n", "301\n", "302\n", "312\n", "399\n"}) {
        INFO("payload " << payload);
        provider.send(packet_type::response, y, payload);
        CHECK(next(client) == response(1001, payload));
        client.send(packet_type::update, 1001, payload);
        CHECK(next(provider) == update(y, payload));
    }
}

// --- §6.1 Unknown sessions ----------------------------------------------------------------

TEST_CASE_METHOD(daemon_fixture,
                 "unknown session: UPDATE gets RESPONSE 102, RESPONSE gets UPDATE 102, "
                 "late ending packets get no answer",
                 "[daemon][wire][session]") {
    c.send(packet_type::update, 4242, "200\nanyone?");
    CHECK(next(c) == response(4242, "102 no such session\n"));
    c.send(packet_type::response, 4242, "200 OK\nanyone?");
    CHECK(next(c) == update(4242, "102 no such session\n"));

    // Packets that would end the session crossed its end on the wire: no answer.
    for (const std::string_view late : {"103\n", "102\n", "404 x\n", "500 shutdown\n", "515\n"}) {
        c.send(packet_type::update, 4242, late);
        c.send(packet_type::response, 4242, late);
    }
    expect_nothing_queued(c);
}

TEST_CASE_METHOD(hello_session_fixture,
                 "unknown session: a late 103 from the client after the provider ended the session "
                 "reaches nobody",
                 "[daemon][wire][session]") {
    // Both sides end the session at the same time.
    provider.send(packet_type::response, y, "404 not found\n");
    client.send(packet_type::update, 1001, "103\n");
    CHECK(next(client) == response(1001, "404 not found\n"));
    expect_nothing_queued(client);
    expect_nothing_queued(provider);
}

// --- §3.1, §6.2 Session ids -------------------------------------------------------------------

TEST_CASE_METHOD(hello_fixture,
                 "REQUEST with id 0 is answered 503 on id 0 and opens no session", "[daemon][wire][ids]") {
    client.send(packet_type::request, 0, "hello");
    CHECK(next(client) == response(0, "503 session id 0 is not allowed\n"));
    client.send(packet_type::request, 0, "echo x");
    CHECK(next(client) == response(0, "503 session id 0 is not allowed\n"));
    client.send(packet_type::update, 0, "200\n");
    CHECK(next(client) == response(0, "102 no such session\n"));
    expect_nothing_queued(provider);
    expect_nothing_queued(client);  // and the connection is still open
}

TEST_CASE_METHOD(hello_fixture,
                 "id 0xFFFFFFFF works as an ordinary session id", "[daemon][wire][ids]") {
    constexpr std::uint32_t max_id = 0xFFFFFFFF;

    const std::uint32_t y = open_session(client, max_id, "hello", provider);
    provider.send(packet_type::response, y, "200 OK\nmax");
    CHECK(next(client) == "01 03 00 0a ff ff ff ff 32 30 30 20 4f 4b 0a 6d 61 78");
    client.send(packet_type::update, max_id, "200\nup");
    CHECK(next(provider) == update(y, "200\nup"));
    client.send(packet_type::update, max_id, "103\n");
    CHECK(next(provider) == update(y, "103\n"));
    client.send(packet_type::update, max_id, "200\n");
    CHECK(next(client) == response(max_id, "102 no such session\n"));

    client.send(packet_type::request, max_id, "echo top");
    CHECK(next(client) == response(max_id, "200 OK\ntop"));
}

TEST_CASE_METHOD(hello_fixture,
                 "reusing an open id: the client gets 503, the open session ends, its provider gets "
                 "UPDATE 503",
                 "[daemon][wire][ids]") {
    const std::uint32_t y = open_session(client, 1001, "hello first", provider);

    client.send(packet_type::request, 1001, "hello second");
    CHECK(next(client) == response(1001, "503 session id already in use\n"));
    CHECK(next(provider) == update(y, "503 client reused the session id\n"));
    // The second REQUEST opened nothing: the old session is gone and nothing else reached P.
    provider.send(packet_type::response, y, "200 OK\n");
    CHECK(next(provider) == update(y, "102 no such session\n"));
    client.send(packet_type::update, 1001, "200\n");
    CHECK(next(client) == response(1001, "102 no such session\n"));

    // Now the id is free.
    client.send(packet_type::request, 1001, "hello third");
    CHECK(next(provider) == request(y + 1, "hello third"));
}

// --- §2.1, §6.2 Bad REQUEST lines ------------------------------------------------------------------

TEST_CASE_METHOD(hello_fixture,
                 "bad request lines are answered 503 and open no session", "[daemon][wire][request]") {
    using line_and_answer = std::pair<std::string, std::string>;
    const auto [line, answer] = GENERATE(
        line_and_answer{"", "503 empty request\n"},
        line_and_answer{"   ", "503 empty request\n"},
        line_and_answer{" \t ", "503 empty request\n"},
        line_and_answer{bytes("\0"), "503 empty request\n"},
        line_and_answer{"hello\x01", "503 request line is not printable UTF-8\n"},
        line_and_answer{"hello\nworld", "503 request line is not printable UTF-8\n"},
        line_and_answer{"hello\r", "503 request line is not printable UTF-8\n"},
        line_and_answer{"hel\x7flo", "503 request line is not printable UTF-8\n"},
        line_and_answer{"hello\x1b[0m", "503 request line is not printable UTF-8\n"},
        line_and_answer{bytes("hello\0x"), "503 request line is not printable UTF-8\n"},
        line_and_answer{bytes("hello\0\0"), "503 request line is not printable UTF-8\n"},
        line_and_answer{"hello \xff\xfe", "503 request line is not printable UTF-8\n"},
        line_and_answer{"hello caf\xc3", "503 request line is not printable UTF-8\n"},
        line_and_answer{"hello \xc0\xaf", "503 request line is not printable UTF-8\n"},      // overlong
        line_and_answer{"hello \xed\xa0\x80", "503 request line is not printable UTF-8\n"},  // surrogate
        line_and_answer{"hello \xf4\x90\x80\x80", "503 request line is not printable UTF-8\n"},  // > U+10FFFF
        line_and_answer{"-hello", "503 invalid service name\n"},
        line_and_answer{".hello", "503 invalid service name\n"},
        line_and_answer{"hel/lo", "503 invalid service name\n"},
        line_and_answer{"h\xc3\xa9llo", "503 invalid service name\n"},
        line_and_answer{std::string(129, 'a'), "503 invalid service name\n"});
    INFO("request line (hex): " << hex(line));

    client.send(packet_type::request, 1001, line);
    CHECK(next(client) == response(1001, answer));
    client.send(packet_type::update, 1001, "200\n");
    CHECK(next(client) == response(1001, "102 no such session\n"));
    expect_nothing_queued(provider);
    expect_nothing_queued(client);
}

TEST_CASE("request lines: one trailing NUL, tabs, UTF-8 arguments and a 128-byte name are "
          "accepted and forwarded unchanged",
          "[daemon][wire][request]") {
    temp_dir dir;
    daemon_process d(dir);
    const std::string long_name = "A" + std::string(126, 'z') + "9";
    raw_client provider = provider_of(d.socket(), "hello");
    provider.register_service("a.b_c:d-9");
    provider.register_service(long_name);
    raw_client client(d.socket());

    // Sessions stay open, so the provider's ids count 1, 2, ... like the client's.
    std::uint32_t id = 1;
    for (const std::string& line : {bytes("hello\0"), bytes("hello a b\0"),
                                   std::string("\thello\targ"), std::string("  hello  h\xc3\xa9 \xe2\x9c\x93 "),
                                   std::string("a.b_c:d-9 x"), long_name}) {
        INFO("request line (hex): " << hex(line));
        client.send(packet_type::request, id, line);
        CHECK(next(provider) == request(id, line));
        ++id;
    }
    client.send(packet_type::request, 99, "echo h\xc3\xa9llo \xe2\x9c\x93");
    CHECK(next(client) == response(99, "200 OK\nh\xc3\xa9llo \xe2\x9c\x93"));
}

TEST_CASE("REQUEST for an unknown service is answered 511 and opens no session",
          "[daemon][wire][request]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client client(d.socket());
    client.send(packet_type::request, 1001, "nobody-here with args");
    CHECK(next(client) == response(1001, "511 unknown service nobody-here\n"));
    client.send(packet_type::update, 1001, "200\n");
    CHECK(next(client) == response(1001, "102 no such session\n"));

    // A service whose provider unregistered it is unknown too.
    raw_client provider = provider_of(d.socket(), "gone");
    provider.send(packet_type::request, 5, "unregister-service gone");
    CHECK(next(provider) == response(5, "200 OK\n"));
    client.send(packet_type::request, 1002, "gone");
    CHECK(next(client) == response(1002, "511 unknown service gone\n"));
}

// --- §2.2, §6.3 Bad code lines ------------------------------------------------------------------

TEST_CASE_METHOD(hello_session_fixture,
                 "malformed UPDATE code line: 506 to both sides, session over, connections open",
                 "[daemon][wire][codeline]") {
    const std::string bad = GENERATE(as<std::string>{}, "", "200", "20", "abc\n", "99\n", "099\n",
                                     "000\n", "600\n", "2000\n", "200x\n", "20a\n", " 200\n");
    INFO("UPDATE payload (hex): " << hex(bad));

    client.send(packet_type::update, 1001, bad);
    const packet to_client = client.recv(due);
    CHECK(to_client.type() == 3);
    CHECK(to_client.id() == 1001);
    CHECK(to_client.code() == 506);
    CHECK_FALSE(to_client.message().empty());  // "<what was wrong>"
    CHECK(next(provider) == update(y, "506 bad update code from client\n"));

    client.send(packet_type::update, 1001, "200\n");
    CHECK(next(client) == response(1001, "102 no such session\n"));
    expect_nothing_queued(client);
    expect_nothing_queued(provider);
}

TEST_CASE_METHOD(hello_session_fixture,
                 "malformed RESPONSE code line: 507 to both sides, session over, connections open",
                 "[daemon][wire][codeline]") {
    const std::string bad = GENERATE(as<std::string>{}, "", "200", "200 OK", "abc\n", "99\n",
                                     "099\n", "600 x\n", "2000\n", "200-OK\n", "OK 200\n");
    INFO("RESPONSE payload (hex): " << hex(bad));

    provider.send(packet_type::response, y, bad);
    const packet to_provider = provider.recv(due);
    CHECK(to_provider.type() == 4);
    CHECK(to_provider.id() == y);
    CHECK(to_provider.code() == 507);
    CHECK_FALSE(to_provider.message().empty());  // "<what was wrong>"
    CHECK(next(client) == response(1001, "507 bad response code from provider\n"));

    provider.send(packet_type::response, y, "200 OK\n");
    CHECK(next(provider) == update(y, "102 no such session\n"));
    expect_nothing_queued(client);
    expect_nothing_queued(provider);
}

// --- §1.1 Header errors ---------------------------------------------------------------------------

TEST_CASE("reserved or undefined packet type: RESPONSE 505 on the header's id, then the "
          "connection is closed: earlier frames are handled, later bytes discarded",
          "[daemon][wire][header]") {
    const int type = GENERATE(0, 1, 5, 6, 7, 9, 255);
    INFO("packet type " << type);
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");
    raw_client bystander(d.socket());
    const std::uint32_t y = open_session(bystander, 7, "hello", provider);
    raw_client c(d.socket());

    // One write: a good frame, the bad one (with a 4-byte payload), a good frame.
    c.send_raw(encode(packet_type::request, 1, "echo before") +
               raw_header(1, static_cast<std::uint8_t>(type), 4, 0x0a0b0c0d) + "abcd" +
               encode(packet_type::request, 2, "echo after"));
    CHECK(next(c) == response(1, "200 OK\nbefore"));
    CHECK(next(c) == response(0x0a0b0c0d, "505 reserved packet type " + std::to_string(type) + "\n"));
    std::vector<packet> more;
    CHECK(c.wait_closed(due, &more));
    CHECK(more.empty());

    // Nobody else noticed.
    provider.send(packet_type::response, y, "200 OK\nstill open");
    CHECK(next(bystander) == response(7, "200 OK\nstill open"));
}

TEST_CASE("version other than 1: RESPONSE 508 on the header's id, then the connection is closed",
          "[daemon][wire][header]") {
    const int version = GENERATE(0, 2, 255);
    INFO("version " << version);
    temp_dir dir;
    daemon_process d(dir);
    raw_client bystander(d.socket());
    bystander.send(packet_type::request, 5, "echo");
    CHECK(next(bystander) == response(5, "200 OK\n"));
    raw_client c(d.socket());

    c.send_raw(encode(packet_type::request, 1, "echo before") +
               raw_header(static_cast<std::uint8_t>(version), 2, 4, 0x01020304) + "echo" +
               encode(packet_type::request, 2, "echo after"));
    CHECK(next(c) == response(1, "200 OK\nbefore"));
    CHECK(next(c) == response(0x01020304, "508 version mismatch: got " + std::to_string(version) +
                                              ", speak 1\n"));
    std::vector<packet> more;
    CHECK(c.wait_closed(due, &more));
    CHECK(more.empty());

    bystander.send(packet_type::update, 5, "200\nstill here");
    CHECK(next(bystander) == response(5, "200 OK\nstill here"));

    // "logs a line with the peer's pid/uid"
    const std::string who = "pid " + std::to_string(::getpid()) + " uid " + std::to_string(::getuid());
    CHECK(wait_until([&] {
        const std::string log = d.log();
        const auto at = log.find("version mismatch: got " + std::to_string(version));
        if (at == std::string::npos) return false;
        const auto line_start = log.rfind('\n', at) + 1;
        return log.substr(line_start, at - line_start).find(who) != std::string::npos;
    }, due));
}

TEST_CASE_METHOD(daemon_fixture,
                 "a reserved packet type is judged on the header alone: RESPONSE 505 before the "
                 "payload arrives",
                 "[daemon][wire][header]") {
    // §1.1: "a header the daemon cannot accept ends the connection". The type is part of
    // the header, so the daemon need not (and should not) wait for a payload it will discard.
    c.send_raw(raw_header(1, 5, 1000, 42) + "only part of the payload");
    CHECK(next(c) == response(42, "505 reserved packet type 5\n"));
    CHECK(c.wait_closed(due));
}

TEST_CASE_METHOD(daemon_fixture,
                 "a header is judged as soon as it is complete: version 2 with a payload that never "
                 "comes is answered 508",
                 "[daemon][wire][header]") {
    c.send_raw(raw_header(2, 2, 1000, 77));
    CHECK(next(c) == response(77, "508 version mismatch: got 2, speak 1\n"));
    CHECK(c.wait_closed(due));
}

TEST_CASE_METHOD(hello_session_fixture,
                 "a frame cut short by EOF (length larger than what follows) is dropped, the daemon "
                 "stays up and serves the others",
                 "[daemon][wire][header]") {
    for (const std::string& cut : {raw_header(1, 2, 100, 9) + "hello", raw_header(1, 4, 65535, 9),
                                   std::string("\x01\x02\x00", 3), raw_header(1, 3, 10, 1)}) {
        raw_client c(d.socket());
        c.send_raw(cut);
        ::shutdown(c.fd(), SHUT_WR);
        CHECK(c.wait_closed(due));
    }
    {
        // The same, by the provider of an open session: a frame half sent, then gone.
        raw_client p2 = provider_of(d.socket(), "half");
        raw_client c2(d.socket());
        const std::uint32_t y2 = open_session(c2, 3, "half", p2);
        p2.send_raw(encode(packet_type::response, y2, "200 OK\nwhole").substr(0, 12));
        p2.close();
        CHECK(next(c2) == response(3, "515 peer down\n"));
    }

    CHECK(d.process().running());
    provider.send(packet_type::response, y, "200 OK\nstill serving");
    CHECK(next(client) == response(1001, "200 OK\nstill serving"));
    raw_client late(d.socket());
    late.send(packet_type::request, 1, "echo new");
    CHECK(next(late) == response(1, "200 OK\nnew"));
}

TEST_CASE_METHOD(daemon_fixture,
                 "a bad header arriving one byte at a time is still answered 508 and closed",
                 "[daemon][wire][header]") {
    const std::string bytes_in = encode(packet_type::request, 1, "echo ok") + raw_header(3, 2, 0, 9);
    for (const char b : bytes_in) c.send_raw(std::string_view(&b, 1));
    CHECK(next(c) == response(1, "200 OK\nok"));
    CHECK(next(c) == response(9, "508 version mismatch: got 3, speak 1\n"));
    CHECK(c.wait_closed(due));
}

TEST_CASE_METHOD(daemon_fixture,
                 "frames may arrive one byte at a time", "[daemon][wire][header]") {
    const std::string bytes = encode(packet_type::request, 1, "echo slowly") +
                              encode(packet_type::update, 1, "200\nbit by bit");
    for (const char b : bytes) c.send_raw(std::string_view(&b, 1));
    CHECK(next(c) == response(1, "200 OK\nslowly"));
    CHECK(next(c) == response(1, "200 OK\nbit by bit"));
}

// --- §7 Built-in services ---------------------------------------------------------------------

TEST_CASE_METHOD(daemon_fixture,
                 "echo answers 200 OK with the args as sent after the first run of separators, and "
                 "each later non-ending UPDATE with its content",
                 "[daemon][wire][builtin]") {
    c.send(packet_type::request, 1001, "echo hello world");
    CHECK(next(c) == response(1001, "200 OK\nhello world"));
    CHECK(response(1001, "200 OK\nhello world") ==
          "01 03 00 12 00 00 03 e9 32 30 30 20 4f 4b 0a 68 65 6c 6c 6f 20 77 6f 72 6c 64");
    c.send(packet_type::request, 1002, "echo \t  a \tb  ");
    CHECK(next(c) == response(1002, "200 OK\na \tb  "));
    c.send(packet_type::request, 1003, "echo");
    CHECK(next(c) == response(1003, "200 OK\n"));
    c.send(packet_type::request, 1004, bytes("echo ccnet\0"));
    CHECK(next(c) == response(1004, "200 OK\nccnet"));

    // Echo UPDATEs: the content comes back whatever the (non-ending) code.
    c.send(packet_type::update, 1001, "200\nagain");
    CHECK(next(c) == response(1001, "200 OK\nagain"));
    c.send(packet_type::update, 1001, bytes("301 call\n\x00\xff\n"));
    CHECK(next(c) == response(1001, bytes("200 OK\n\x00\xff\n")));
    c.send(packet_type::update, 1001, "312 more\n");
    CHECK(next(c) == response(1001, "200 OK\n"));
    c.send(packet_type::update, 1001, bytes("200\nnul at the end is content\0"));
    CHECK(next(c) == response(1001, bytes("200 OK\nnul at the end is content\0")));

    // 103 ends it without an answer; then the session is unknown.
    c.send(packet_type::update, 1001, "103\n");
    c.send(packet_type::update, 1001, "200\nanyone?");
    CHECK(next(c) == response(1001, "102 no such session\n"));
    // A 4xx ends an echo session too.
    c.send(packet_type::update, 1002, "400 stop\n");
    c.send(packet_type::update, 1002, "200\n");
    CHECK(next(c) == response(1002, "102 no such session\n"));
    // The others are still open.
    c.send(packet_type::update, 1003, "200\nthree");
    CHECK(next(c) == response(1003, "200 OK\nthree"));
    // A malformed UPDATE ends a built-in session like any other: 506.
    c.send(packet_type::update, 1003, "abc\n");
    expect_code(c, packet_type::response, 1003, 506);
    c.send(packet_type::update, 1003, "200\n");
    CHECK(next(c) == response(1003, "102 no such session\n"));
}

TEST_CASE_METHOD(daemon_fixture,
                 "receive-cmd: ccnet's exchange byte for byte (trailing NUL, ignored group), then the "
                 "service is routed to that connection",
                 "[daemon][wire][builtin]") {
    c.send_raw(bytes("\x01\x02\x00\x0b\x00\x00\x03\xe9receive-cmd"));
    CHECK(next(c) == "01 03 00 07 00 00 03 e9 32 30 30 20 4f 4b 0a");  // "200 OK\n"
    const std::string cmd = bytes("200\nregister-service hello inner\0");
    c.send_raw(bytes("\x01\x04\x00\x21\x00\x00\x03\xe9") + cmd);
    CHECK(next(c) == "01 03 00 07 00 00 03 e9 32 30 30 20 4f 4b 0a");
    c.send_raw(bytes("\x01\x04\x00\x04\x00\x00\x03\xe9") + "103\n");
    expect_nothing_queued(c);

    // The registration belongs to c: a REQUEST for hello reaches it.
    raw_client client(d.socket());
    client.send(packet_type::request, 7, "hello there");
    CHECK(next(c) == request(1, "hello there"));

    // Someone else trying the same name gets 516, and an error answer ends a command session.
    raw_client other(d.socket());
    other.send(packet_type::request, 1001, "receive-cmd");
    CHECK(next(other) == response(1001, "200 OK\n"));
    other.send(packet_type::update, 1001, cmd);
    expect_code(other, packet_type::response, 1001, 516);
    other.send(packet_type::update, 1001, "200\nlist-services");
    CHECK(next(other) == response(1001, "102 no such session\n"));

    // Successful commands keep the session open for more.
    other.send(packet_type::request, 1002, "receive-cmd");
    CHECK(next(other) == response(1002, "200 OK\n"));
    other.send(packet_type::update, 1002, "200\nregister-service world");
    CHECK(next(other) == response(1002, "200 OK\n"));
    other.send(packet_type::update, 1002, "200\nunregister-service world");
    CHECK(next(other) == response(1002, "200 OK\n"));
    other.send(packet_type::update, 1002, "200\nunregister-service world");
    expect_code(other, packet_type::response, 1002, 511);
    other.send(packet_type::update, 1002, "200\nlist-services");
    CHECK(next(other) == response(1002, "102 no such session\n"));

    // Built-in names are reserved.
    other.send(packet_type::request, 1003, "register-service echo");
    expect_code(other, packet_type::response, 1003, 516);

    // Any other non-ending UPDATE code ends a command session with 506.
    other.send(packet_type::request, 1004, "receive-cmd");
    CHECK(next(other) == response(1004, "200 OK\n"));
    other.send(packet_type::update, 1004, "301\nlist-services");
    expect_code(other, packet_type::response, 1004, 506);
    other.send(packet_type::update, 1004, "200\nlist-services");
    CHECK(next(other) == response(1004, "102 no such session\n"));
}

TEST_CASE_METHOD(daemon_fixture,
                 "command sessions: an error answer to a bad command line ends the command session",
                 "[daemon][wire][builtin]") {
    // §7: "An error answer (4xx/5xx) to a command ends the command session, as any
    // 4xx/5xx does." A command line that does not parse is answered 503.
    const std::string bad = GENERATE(as<std::string>{}, "200\n", "200\n   ", "200\nlist\x01services",
                                     "200\n-bad-command");
    INFO("UPDATE payload (hex): " << hex(bad));
    c.send(packet_type::request, 1001, "receive-cmd");
    CHECK(next(c) == response(1001, "200 OK\n"));
    c.send(packet_type::update, 1001, bad);
    expect_code(c, packet_type::response, 1001, 503);
    c.send(packet_type::update, 1001, "200\nregister-service hello");
    CHECK(next(c) == response(1001, "102 no such session\n"));
}

TEST_CASE_METHOD(daemon_fixture,
                 "command sessions: an unknown command is answered 503 and ends the command session",
                 "[daemon][wire][builtin]") {
    c.send(packet_type::request, 1001, "receive-cmd");
    CHECK(next(c) == response(1001, "200 OK\n"));
    c.send(packet_type::update, 1001, "200\nno-such-command x");
    expect_code(c, packet_type::response, 1001, 503);
    c.send(packet_type::update, 1001, "200\nlist-services");
    CHECK(next(c) == response(1001, "102 no such session\n"));
}

TEST_CASE_METHOD(hello_session_fixture,
                 "session-info: a provider learns who opened a session it serves, 503 for any other id",
                 "[daemon][wire][builtin]") {
    provider.send(packet_type::request, 1, "session-info " + std::to_string(y));
    const auto info = builtin_json(provider, 1);
    CHECK(info.at("id").to_number<long>() == y);
    CHECK(info.at("service").as_string() == "hello");
    CHECK(info.at("pid").to_number<long>() == static_cast<long>(::getpid()));
    CHECK(info.at("uid").to_number<long>() == static_cast<long>(::getuid()));
    CHECK(info.at("gid").to_number<long>() == static_cast<long>(::getgid()));
    std::vector<gid_t> mine(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
    REQUIRE(::getgroups(static_cast<int>(mine.size()), mine.data()) == static_cast<int>(mine.size()));
    std::set<long> want_groups(mine.begin(), mine.end()), got_groups;
    for (const auto& g : info.at("groups").as_array()) got_groups.insert(g.to_number<long>());
    CHECK(got_groups == want_groups);

    // Not a session this connection serves as slave: 503. The client's own id is not one.
    provider.send(packet_type::request, 2, "session-info " + std::to_string(y + 1));
    expect_code(provider, packet_type::response, 2, 503);
    client.send(packet_type::request, 2, "session-info 1001");
    expect_code(client, packet_type::response, 2, 503);
    provider.send(packet_type::request, 3, "session-info abc");
    expect_code(provider, packet_type::response, 3, 503);
    // Once the session is over, it is unknown.
    client.send(packet_type::update, 1001, "103\n");
    CHECK(next(provider) == update(y, "103\n"));
    provider.send(packet_type::request, 4, "session-info " + std::to_string(y));
    expect_code(provider, packet_type::response, 4, 503);
}

TEST_CASE_METHOD(daemon_fixture,
                 "register-service: a bad name is 503, a second registration of one's own name is 200",
                 "[daemon][wire][builtin]") {
    c.send(packet_type::request, 1, "register-service -bad");
    expect_code(c, packet_type::response, 1, 503);
    c.send(packet_type::request, 2, "register-service hello");
    CHECK(next(c) == response(2, "200 OK\n"));
    c.send(packet_type::request, 3, "register-service hello");
    CHECK(next(c) == response(3, "200 OK\n"));
    raw_client other(d.socket());
    other.send(packet_type::request, 1, "register-service hello");
    expect_code(other, packet_type::response, 1, 516);
}

TEST_CASE("list-services: JSON with name, provider credentials and open session count",
          "[daemon][wire][builtin]") {
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "hello");
    provider.register_service("world");
    raw_client client(d.socket());
    open_session(client, 1001, "hello", provider);
    open_session(client, 1002, "hello", provider);

    client.send(packet_type::request, 1, "list-services");
    const auto json = builtin_json(client, 1);
    const auto& list = json.at("services").as_array();
    REQUIRE(list.size() == 2);
    for (const auto& v : list) {
        const auto& svc = v.as_object();
        const std::string name(svc.at("name").as_string());
        INFO("service " << name);
        CHECK((name == "hello" || name == "world"));
        const auto& who = svc.at("provider").as_object();
        CHECK(who.at("pid").to_number<long>() == static_cast<long>(::getpid()));
        CHECK(who.at("uid").to_number<long>() == static_cast<long>(::getuid()));
        CHECK(who.at("gid").to_number<long>() == static_cast<long>(::getgid()));
        CHECK(svc.at("sessions").to_number<int>() == (name == "hello" ? 2 : 0));
    }

    // The services go away with their provider's connection.
    provider.close();
    const std::set<std::string> peer_down{next(client), next(client)};
    CHECK(peer_down == std::set<std::string>{response(1001, "515 peer down\n"),
                                             response(1002, "515 peer down\n")});
    client.send(packet_type::request, 2, "list-services");
    CHECK(builtin_json(client, 2).at("services").as_array().empty());
}

TEST_CASE("daemon-info: JSON counters follow connections, sessions and routed bytes",
          "[daemon][wire][builtin]") {
    temp_dir dir;
    daemon_process d(dir);
    const auto version = run_command({JUNCTIOND_PATH, "--version"}, due);
    REQUIRE(version.status == 0);
    raw_client provider = provider_of(d.socket(), "hello");
    raw_client client(d.socket());
    expect_nothing_queued(provider);  // its registration session is over

    // One command session asks twice; the difference is what happened in between.
    client.send(packet_type::request, 1, "daemon-info");
    const auto before = builtin_json(client, 1);
    CHECK(version.out.find(std::string(before.at("version").as_string())) != std::string::npos);
    CHECK(before.at("uptime_ms").to_number<long>() >= 0);
    CHECK(before.at("connections").to_number<int>() == 2);
    CHECK(before.at("services").to_number<int>() == 1);

    const std::string req_a = "hello a", req_b = "hello bb", resp = "200 OK\nanswer";
    const std::uint32_t ya = open_session(client, 1001, req_a, provider);
    open_session(client, 1002, req_b, provider);
    provider.send(packet_type::response, ya, resp);
    CHECK(next(client) == response(1001, resp));

    client.send(packet_type::update, 1, "200\ndaemon-info");
    const auto after = builtin_json(client, 1);
    auto delta = [&](const char* key) {
        return after.at(key).to_number<long>() - before.at(key).to_number<long>();
    };
    CHECK(delta("connections") == 0);
    CHECK(delta("services") == 0);
    CHECK(delta("sessions") == 2);
    CHECK(delta("sessions_opened") == 2);
    CHECK(delta("packets_routed") == 3);
    CHECK(delta("bytes_routed") == static_cast<long>(3 * 8 + req_a.size() + req_b.size() + resp.size()));
    CHECK(delta("uptime_ms") >= 0);
}
