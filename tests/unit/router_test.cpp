// The router's rules (docs/protocol.md §3, §4, §5, §6, §7, §8), one test case per rule.
//
// Flow: a `broker` (router_support.hpp) wraps a junction::daemon::router and a
// recording action_sink. Tests open fake connections (plain integers), hand the
// router frames built with proto::append_packet, and compare what the sink was
// asked to do with the packets each connection would receive on the wire. No
// sockets, no clocks. Tests that start from "client C" or "client C, provider P
// serving svc" use client_fixture or svc_fixture (their `b`).
#include "router_support.hpp"

using namespace router_support;

namespace {
// A connection both provider and client: X serves "middle" and may call P's "upstream".
struct chain_fixture {
    broker b;
    chain_fixture() {
        b.open({C, P, X});
        b.provide(P, "upstream");
        b.provide(X, "middle");
    }
};
}  // namespace

// ====================================================================================
// §4 Routing
// ====================================================================================

TEST_CASE("§4 example: REQUEST, RESPONSE and UPDATE are routed byte for byte, only the id rewritten",
          "[router][routing]") {
    broker b;
    b.open({C, P});
    b.provide(P, "hello");

    CHECK(b.request(C, 1001, "hello a b"));
    packets got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == request_to(P, 1, "hello a b"));
    CHECK(got[0].wire == hex({0x01, 0x02, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01}) + "hello a b");
    // The shell gets the frame exactly as the client sent it, plus the new id.
    REQUIRE(b.out.forwards.size() == 1);
    CHECK(b.out.forwards[0].id == 1);
    CHECK(b.out.forwards[0].wire ==
          hex({0x01, 0x02, 0x00, 0x09, 0x00, 0x00, 0x03, 0xe9}) + "hello a b");

    CHECK(b.response(P, 1, "200 OK\nhi there"));
    got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == response_to(C, 1001, "200 OK\nhi there"));
    CHECK(got[0].wire ==
          hex({0x01, 0x03, 0x00, 0x0f, 0x00, 0x00, 0x03, 0xe9}) + "200 OK\nhi there");

    CHECK(b.update(C, 1001, "103\n"));
    got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == update_to(P, 1, "103\n"));
    CHECK(got[0].wire == hex({0x01, 0x04, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01}) + "103\n");
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("a session carries any number of non-ending packets both ways, payloads unchanged",
          "[router][routing]") {
    broker b;
    b.open({C, P});
    b.provide(P, "rpc");
    const std::uint32_t pid = b.open_session(C, 5, "rpc", P);

    const std::string binary = "\0\n\xff\0"s;
    CHECK(b.response(P, pid, "200 OK\n"));
    CHECK(b.update(C, 5, "301 CLIENT CALL\n" + binary));
    CHECK(b.response(P, pid, "312 HAS MORE\nfirst"));
    CHECK(b.update(C, 5, "302\n"));
    CHECK(b.response(P, pid, "311\nsecond" + binary));
    CHECK(b.take() == packets{response_to(C, 5, "200 OK\n"),
                              update_to(P, pid, "301 CLIENT CALL\n" + binary),
                              response_to(C, 5, "312 HAS MORE\nfirst"),
                              update_to(P, pid, "302\n"),
                              response_to(C, 5, "311\nsecond" + binary)});
    CHECK(b.r.session_count() == 1);
    CHECK(b.r.stats().packets_routed == 6);
}

TEST_CASE("provider-side ids are non-zero and count up from 1 per provider connection",
          "[router][routing][ids]") {
    broker b;
    b.open({C, P, P2});
    b.provide(P, "one");
    b.provide(P2, "two");
    CHECK(b.open_session(C, 500, "one", P) == 1);
    CHECK(b.open_session(C, 501, "one", P) == 2);
    CHECK(b.open_session(C, 502, "one", P) == 3);
    CHECK(b.open_session(C, 503, "two", P2) == 1);
    CHECK(b.open_session(C, 504, "one", P) == 4);
}

TEST_CASE("two clients using the same id get distinct provider ids, answers go to the right client",
          "[router][routing][ids]") {
    broker b;
    b.open({C, C2, P});
    b.provide(P, "svc");
    const std::uint32_t first = b.open_session(C, 7, "svc", P);
    const std::uint32_t second = b.open_session(C2, 7, "svc", P);
    CHECK(first != 0);
    CHECK(second != 0);
    CHECK(first != second);

    CHECK(b.response(P, second, "200 OK\nfor C2"));
    CHECK(b.response(P, first, "200 OK\nfor C"));
    CHECK(b.take() == packets{response_to(C2, 7, "200 OK\nfor C2"), response_to(C, 7, "200 OK\nfor C")});
    CHECK(b.update(C2, 7, "200\nfrom C2"));
    CHECK(b.take() == packets{update_to(P, second, "200\nfrom C2")});
}

TEST_CASE_METHOD(svc_fixture,
                 "a provider never sees a client's id and cannot address a session by it",
                 "[router][routing][ids]") {
    const std::uint32_t pid = b.open_session(C, 1001, "svc", P);
    CHECK(pid == 1);

    // The client's id means nothing on the provider side...
    CHECK(b.response(P, 1001, "200 OK\n"));
    CHECK(b.take() == packets{update_to(P, 1001, "102 no such session\n")});
    // ...and the provider's id means nothing on the client side.
    CHECK(b.update(C, 1, "200\n"));
    CHECK(b.take() == packets{response_to(C, 1, "102 no such session\n")});
    CHECK(b.r.session_count() == 1);
}

TEST_CASE_METHOD(svc_fixture, "a provider id is not handed out again while its session is open",
                 "[router][routing][ids]") {
    CHECK(b.open_session(C, 1, "svc", P) == 1);
    CHECK(b.open_session(C, 2, "svc", P) == 2);
    CHECK(b.open_session(C, 3, "svc", P) == 3);
    CHECK(b.update(C, 2, "103\n"));
    CHECK(b.take() == packets{update_to(P, 2, "103\n")});

    const std::uint32_t next = b.open_session(C, 4, "svc", P);
    CHECK(next == 4);
    // The sessions still open keep their ids.
    CHECK(b.response(P, 1, "200\n"));
    CHECK(b.response(P, 3, "200\n"));
    CHECK(b.response(P, 4, "200\n"));
    CHECK(b.take() ==
          packets{response_to(C, 1, "200\n"), response_to(C, 3, "200\n"), response_to(C, 4, "200\n")});
}

TEST_CASE_METHOD(chain_fixture,
                 "UPDATE id 1 and RESPONSE id 1 on one connection name two different sessions",
                 "[router][routing][ids]") {
    // X is the client of P with id 1, and the provider of C's session with id 1.
    CHECK(b.open_session(X, 1, "upstream", P) == 1);
    CHECK(b.open_session(C, 99, "middle", X) == 1);

    CHECK(b.update(X, 1, "200\nto upstream"));
    CHECK(b.response(X, 1, "200 OK\nto C"));
    CHECK(b.take() == packets{update_to(P, 1, "200\nto upstream"), response_to(C, 99, "200 OK\nto C")});
}

// ====================================================================================
// §3 Sessions: how they end
// ====================================================================================

TEST_CASE_METHOD(svc_fixture,
                 "UPDATE 103 from the client is delivered to the provider and ends the session",
                 "[router][sessions]") {
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.update(C, 8, "103\n"));
    CHECK(b.take() == packets{update_to(P, pid, "103\n")});
    CHECK(b.r.session_count() == 0);
    CHECK(b.response(P, pid, "200\n"));
    CHECK(b.take() == packets{update_to(P, pid, "102 no such session\n")});
}

TEST_CASE_METHOD(svc_fixture,
                 "RESPONSE 103 from the provider is delivered to the client and ends the session",
                 "[router][sessions]") {
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.response(P, pid, "103 done\nbye"));
    CHECK(b.take() == packets{response_to(C, 8, "103 done\nbye")});
    CHECK(b.r.session_count() == 0);
    CHECK(b.update(C, 8, "200\n"));
    CHECK(b.take() == packets{response_to(C, 8, "102 no such session\n")});
}

TEST_CASE_METHOD(svc_fixture,
                 "any 4xx or 5xx UPDATE from the client is delivered and ends the session",
                 "[router][sessions]") {
    const std::string payload =
        GENERATE("400\n", "404 not found\n", "499\n", "500\n", "503 bad\nx", "515\n", "599\n");
    INFO(payload);
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.update(C, 8, payload));
    CHECK(b.take() == packets{update_to(P, pid, payload)});
    CHECK(b.r.session_count() == 0);
    CHECK(b.r.sessions_of(C) == 0);
    CHECK(b.r.sessions_of(P) == 0);
}

TEST_CASE_METHOD(svc_fixture,
                 "any 4xx or 5xx RESPONSE from the provider is delivered and ends the session",
                 "[router][sessions]") {
    const std::string payload =
        GENERATE("400\n", "404 not found\n", "499\n", "500\n", "504 no\n", "515\n", "599\n");
    INFO(payload);
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.response(P, pid, payload));
    CHECK(b.take() == packets{response_to(C, 8, payload)});
    CHECK(b.r.session_count() == 0);
    CHECK(b.update(C, 8, "200\n"));
    CHECK(b.take() == packets{response_to(C, 8, "102 no such session\n")});
}

TEST_CASE_METHOD(svc_fixture,
                 "102 from either side is delivered and ends the session", "[router][sessions]") {
    const std::uint32_t p1 = b.open_session(C, 1, "svc", P);
    const std::uint32_t p2 = b.open_session(C, 2, "svc", P);
    CHECK(b.update(C, 1, "102\n"));
    CHECK(b.response(P, p2, "102\n"));
    CHECK(b.take() == packets{update_to(P, p1, "102\n"), response_to(C, 2, "102\n")});
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(svc_fixture,
                 "codes 100 to 399 other than 102 and 103 keep the session open", "[router][sessions]") {
    const std::string payload =
        GENERATE("100\n", "101\n", "200 OK\n", "301\n", "302\n", "311\n", "312\n", "399\n");
    INFO(payload);
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.update(C, 8, payload));
    CHECK(b.response(P, pid, payload));
    CHECK(b.take() == packets{update_to(P, pid, payload), response_to(C, 8, payload)});
    CHECK(b.r.session_count() == 1);
    // Still open: it routes.
    CHECK(b.update(C, 8, "200\nagain"));
    CHECK(b.take() == packets{update_to(P, pid, "200\nagain")});
}

TEST_CASE_METHOD(svc_fixture,
                 "after a session ends, the client may reuse its id for a new REQUEST",
                 "[router][sessions]") {
    CHECK(b.open_session(C, 42, "svc first", P) == 1);
    CHECK(b.update(C, 42, "103\n"));
    b.take();
    CHECK(b.open_session(C, 42, "svc second", P) == 2);
    CHECK(b.response(P, 2, "200\n"));
    CHECK(b.take() == packets{response_to(C, 42, "200\n")});
}

// ====================================================================================
// §6.1 Unknown sessions
// ====================================================================================

TEST_CASE_METHOD(client_fixture,
                 "UPDATE for a session that was never opened is answered RESPONSE 102",
                 "[router][errors][unknown]") {
    CHECK(b.update(C, 77, "200\nhello"));
    const packets got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == response_to(C, 77, "102 no such session\n"));
    CHECK(got[0].wire == hex({0x01, 0x03, 0x00, 0x14, 0x00, 0x00, 0x00, 0x4d}) + "102 no such session\n");
    CHECK(b.out.closes.empty());
    CHECK(b.r.stats().late_packets == 0);
}

TEST_CASE("RESPONSE for a session the connection does not serve is answered UPDATE 102",
          "[router][errors][unknown]") {
    broker b;
    b.open({P});
    CHECK(b.response(P, 77, "200 OK\nhello"));
    CHECK(b.take() == packets{update_to(P, 77, "102 no such session\n")});
    CHECK(b.out.closes.empty());
}

TEST_CASE_METHOD(client_fixture,
                 "a malformed UPDATE or RESPONSE for an unknown session is answered 102",
                 "[router][errors][unknown]") {
    CHECK(b.update(C, 3, "abc\n"));
    CHECK(b.response(C, 4, "200"));
    CHECK(b.update(C, 5, ""));
    CHECK(b.take() == packets{response_to(C, 3, "102 no such session\n"),
                              update_to(C, 4, "102 no such session\n"),
                              response_to(C, 5, "102 no such session\n")});
    CHECK(b.r.stats().late_packets == 0);
}

TEST_CASE_METHOD(client_fixture,
                 "a session-ending packet for an unknown session gets no answer and counts as late",
                 "[router][errors][unknown]") {
    const std::uint8_t type = GENERATE(std::uint8_t{3}, std::uint8_t{4});
    const std::string payload = GENERATE("102\n", "103\n", "103 done\ncontent", "400\n", "500 x\n",
                                         "515 peer down\n", "599\n");
    INFO(proto::type_name(type) << " " << payload);
    CHECK(b.send(C, type, 12, payload));
    CHECK(b.take().empty());
    CHECK(b.r.stats().late_packets == 1);
}

TEST_CASE_METHOD(svc_fixture,
                 "a 103 crossing the client's 103 on the wire is dropped silently and counted",
                 "[router][errors][unknown]") {
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.update(C, 8, "103\n"));
    CHECK(b.response(P, pid, "103\n"));  // sent before the provider saw the client's 103
    CHECK(b.take() == packets{update_to(P, pid, "103\n")});
    CHECK(b.r.stats().late_packets == 1);
}

// ====================================================================================
// §6.2 Bad REQUEST
// ====================================================================================

TEST_CASE_METHOD(svc_fixture, "REQUEST with session id 0 is answered 503 on id 0 and opens nothing",
                 "[router][errors][request]") {
    CHECK(b.request(C, 0, "svc"));
    CHECK(b.take() == packets{response_to(C, 0, "503 session id 0 is not allowed\n")});
    CHECK(b.r.session_count() == 0);
    CHECK(b.r.stats().packets_routed == 0);
    CHECK(b.out.closes.empty());
}

TEST_CASE_METHOD(client_fixture,
                 "an empty REQUEST line or one of only separators is answered 503 empty request",
                 "[router][errors][request]") {
    const std::string line = GENERATE(as<std::string>{}, ""s, " "s, "  \t "s, "\0"s);
    INFO(Catch::Detail::stringify(line));
    CHECK(b.request(C, 9, line));
    CHECK(b.take() == packets{response_to(C, 9, "503 empty request\n")});
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(client_fixture,
                 "a REQUEST line with control bytes or invalid UTF-8 is answered 503 not printable UTF-8",
                 "[router][errors][request]") {
    const std::string line = GENERATE(as<std::string>{}, "echo a\nb"s, "echo \x01"s, "echo \x7f"s,
                                      "echo\0\0"s, "echo \xc0\xaf"s, "echo \xed\xa0\x80"s,
                                      "echo \xff"s);
    INFO(Catch::Detail::stringify(line));
    CHECK(b.request(C, 9, line));
    CHECK(b.take() == packets{response_to(C, 9, "503 request line is not printable UTF-8\n")});
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(client_fixture,
                 "a REQUEST with an invalid service name is answered 503 invalid service name",
                 "[router][errors][request]") {
    const std::string line = GENERATE(as<std::string>{}, "-svc"s, "svc/x a"s, "caf\xc3\xa9"s,
                                      "s" + std::string(128, 'x'));
    INFO(line);
    CHECK(b.request(C, 9, line));
    CHECK(b.take() == packets{response_to(C, 9, "503 invalid service name\n")});
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(svc_fixture,
                 "a REQUEST for a service nobody registered is answered 511 unknown service <name>",
                 "[router][errors][request]") {
    CHECK(b.request(C, 9, "nosuch a b"));
    CHECK(b.take() == packets{response_to(C, 9, "511 unknown service nosuch\n")});
    CHECK(b.r.session_count() == 0);
    // A 128-character name is valid, so it is looked up.
    const std::string longest = "s" + std::string(127, 'x');
    CHECK(b.request(C, 10, longest));
    CHECK(b.take() == packets{response_to(C, 10, "511 unknown service " + longest + "\n")});
}

TEST_CASE_METHOD(svc_fixture,
                 "a REQUEST line with one trailing NUL is routed, and forwarded with its NUL",
                 "[router][request]") {
    CHECK(b.request(C, 9, "svc a\0"s));
    CHECK(b.take() == packets{request_to(P, 1, "svc a\0"s)});
}

TEST_CASE_METHOD(svc_fixture,
                 "a REQUEST reusing an id open as master: 503 to both sides and the open session ends",
                 "[router][errors][request]") {
    const std::uint32_t pid = b.open_session(C, 5, "svc", P);
    CHECK(b.request(C, 5, "svc again"));
    CHECK(sorted(b.take()) == sorted({response_to(C, 5, "503 session id already in use\n"),
                                      update_to(P, pid, "503 client reused the session id\n")}));
    CHECK(b.r.session_count() == 0);
    // Both ends of the old session are gone, and no new one was created.
    CHECK(b.update(C, 5, "200\n"));
    CHECK(b.response(P, pid, "200\n"));
    CHECK(b.take() == packets{response_to(C, 5, "102 no such session\n"),
                              update_to(P, pid, "102 no such session\n")});
}

TEST_CASE_METHOD(client_fixture,
                 "a REQUEST reusing the id of an open built-in session ends it with 503",
                 "[router][errors][request][builtin]") {
    CHECK(b.builtin(C, 5, "echo hi").code() == 200);
    CHECK(b.request(C, 5, "echo again"));
    CHECK(b.take() == packets{response_to(C, 5, "503 session id already in use\n")});
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(chain_fixture,
                 "a REQUEST may use an id its connection serves as provider: the id spaces are separate",
                 "[router][request][ids]") {
    CHECK(b.open_session(C, 50, "middle", X) == 1);  // X serves id 1
    CHECK(b.open_session(X, 1, "upstream", P) == 1);  // and opens its own id 1
    CHECK(b.r.session_count() == 2);
    CHECK(b.r.sessions_of(X) == 2);
}

TEST_CASE("the sessions-per-connection limit answers 517 and creates nothing, an ended session makes room",
          "[router][limits]") {
    limits lim;
    lim.max_sessions_per_connection = 2;
    broker b(lim);
    b.open({C, C2, C3, P});
    b.provide(P, "svc");
    b.open_session(C, 1, "svc", P);
    CHECK(b.builtin(C, 2, "echo").code() == 200);  // built-in sessions count too

    CHECK(b.request(C, 3, "svc"));
    CHECK(b.take() == packets{response_to(C, 3, "517 limit: sessions per connection (2)\n")});
    CHECK(b.r.session_count() == 2);
    CHECK(b.r.sessions_of(C) == 2);

    // The limit is per connection, and only counts sessions opened as client:
    // P serves three sessions.
    b.open_session(C2, 1, "svc", P);
    b.open_session(C3, 1, "svc", P);
    CHECK(b.r.sessions_of(P) == 3);

    CHECK(b.update(C, 2, "103\n"));
    CHECK(b.take().empty());
    CHECK(b.open_session(C, 3, "svc", P) == 4);
}

TEST_CASE("the sessions-per-uid limit counts all of a uid's connections: 517 limit: sessions per uid (N)",
          "[router][limits]") {
    limits lim;
    lim.max_sessions_per_uid = 3;
    broker b(lim);
    b.open_as_uid(4242, {C, C2});
    b.open({C3, P});
    b.provide(P, "svc");
    b.open_session(C, 1, "svc", P);
    b.open_session(C, 2, "svc", P);
    CHECK(b.builtin(C2, 1, "echo").code() == 200);

    CHECK(b.request(C2, 2, "svc"));
    CHECK(b.take() == packets{response_to(C2, 2, "517 limit: sessions per uid (3)\n")});
    CHECK(b.request(C, 3, "echo"));
    CHECK(b.take() == packets{response_to(C, 3, "517 limit: sessions per uid (3)\n")});
    CHECK(b.r.session_count() == 3);
    // Another uid is not affected, and the sessions P serves do not count for P's uid.
    b.open_session(C3, 1, "svc", P);
    b.open_session(C3, 2, "svc", P);
    b.open_session(C3, 3, "svc", P);
    CHECK(b.r.sessions_of(P) == 5);
    CHECK(b.builtin(P, 1, "echo").code() == 200);
    // Ending one session of the uid makes room on any of its connections.
    CHECK(b.update(C, 1, "103\n"));
    b.take();
    CHECK(b.open_session(C2, 2, "svc", P) == 6);
}

TEST_CASE("when several REQUEST checks fail at once, the first in the order of §6.2 answers",
          "[router][errors][request]") {
    limits lim;
    lim.max_sessions_per_connection = 1;
    lim.max_sessions_per_uid = 1;
    broker b(lim);
    b.open({C, C2, P});
    b.provide(P, "svc");
    const std::uint32_t pid = b.open_session(C, 1, "svc", P);  // C is at both limits now

    SECTION("id 0 before the request line") {
        CHECK(b.request(C, 0, ""));
        CHECK(b.take() == packets{response_to(C, 0, "503 session id 0 is not allowed\n")});
    }
    SECTION("a reused id before the request line") {
        CHECK(b.request(C, 1, "\x01"));
        CHECK(sorted(b.take()) == sorted({response_to(C, 1, "503 session id already in use\n"),
                                          update_to(P, pid, "503 client reused the session id\n")}));
    }
    SECTION("a line that is not printable before the service name") {
        CHECK(b.request(C, 2, "-nosuch\x01"));
        CHECK(b.take() == packets{response_to(C, 2, "503 request line is not printable UTF-8\n")});
    }
    SECTION("the service name before the limits") {
        CHECK(b.request(C, 2, "-nosuch"));
        CHECK(b.take() == packets{response_to(C, 2, "503 invalid service name\n")});
    }
    SECTION("the per-connection limit before the per-uid limit and the service lookup") {
        CHECK(b.request(C, 2, "nosuch"));
        CHECK(b.take() == packets{response_to(C, 2, "517 limit: sessions per connection (1)\n")});
    }
    SECTION("the per-uid limit before the service lookup") {
        b.r.on_close(C2, b.out);
        b.open_as_uid(500 + C, {C2});
        CHECK(b.request(C2, 2, "nosuch"));
        CHECK(b.take() == packets{response_to(C2, 2, "517 limit: sessions per uid (1)\n")});
    }
    SECTION("an unknown service before the policy") {
        b.r.set_policy(policy({"deny call * *"}));
        CHECK(b.request(C2, 2, "nosuch"));
        CHECK(b.take() == packets{response_to(C2, 2, "511 unknown service nosuch\n")});
        CHECK(b.request(C2, 3, "svc"));
        CHECK(b.take() == packets{response_to(C2, 3, "504 policy: deny call * *\n")});
    }
    CHECK(b.r.stats().sessions_opened == 2);  // the provide() session and the first one
}

TEST_CASE_METHOD(svc_fixture,
                 "a lowered limit keeps the open sessions and applies to the next REQUEST",
                 "[router][limits]") {
    b.open_session(C, 1, "svc", P);
    b.open_session(C, 2, "svc", P);
    limits lower;
    lower.max_sessions_per_connection = 1;
    b.r.set_limits(lower);  // SIGHUP reload
    CHECK(b.r.session_count() == 2);
    CHECK(b.request(C, 3, "svc"));
    CHECK(b.take() == packets{response_to(C, 3, "517 limit: sessions per connection (1)\n")});
    CHECK(b.update(C, 2, "200\nstill open"));
    CHECK(b.take() == packets{update_to(P, 2, "200\nstill open")});
}

// ====================================================================================
// §6.3 Bad code lines
// ====================================================================================

TEST_CASE_METHOD(svc_fixture,
                 "a malformed UPDATE ends its session: 506 to the client, 506 bad update code from client to the provider",
                 "[router][errors][codeline]") {
    const std::string payload = GENERATE(as<std::string>{}, "200", "", "abc\n", "099\n", "99\n",
                                         "600\n", "2000\n", "200x\n");
    INFO(Catch::Detail::stringify(payload));
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.update(C, 8, payload));  // the connection stays open
    const packets got = sorted(b.take());
    REQUIRE(got.size() == 2);
    CHECK(got[0].to == C);
    CHECK(got[0].type == 3);
    CHECK(got[0].id == 8);
    CHECK(got[0].code() == 506);
    CHECK_FALSE(got[0].message().empty());
    CHECK(got[1] == update_to(P, pid, "506 bad update code from client\n"));
    CHECK(b.r.session_count() == 0);
    CHECK(b.out.closes.empty());
    CHECK(b.r.stats().packets_routed == 1);  // the REQUEST; the bad UPDATE was not forwarded
}

TEST_CASE_METHOD(svc_fixture,
                 "a malformed RESPONSE ends its session: 507 to the provider, 507 bad response code from provider to the client",
                 "[router][errors][codeline]") {
    const std::string payload = GENERATE(as<std::string>{}, "200", "", "abc\n", "099\n", "99\n",
                                         "600\n", "2000\n", "200x\n");
    INFO(Catch::Detail::stringify(payload));
    const std::uint32_t pid = b.open_session(C, 8, "svc", P);
    CHECK(b.response(P, pid, payload));
    const packets got = sorted(b.take());
    REQUIRE(got.size() == 2);
    CHECK(got[0] == response_to(C, 8, "507 bad response code from provider\n"));
    CHECK(got[1].to == P);
    CHECK(got[1].type == 4);
    CHECK(got[1].id == pid);
    CHECK(got[1].code() == 507);
    CHECK_FALSE(got[1].message().empty());
    CHECK(b.r.session_count() == 0);
    CHECK(b.out.closes.empty());
}

// ====================================================================================
// §6.4 A connection goes away
// ====================================================================================

TEST_CASE("a provider going away: each client of its sessions gets RESPONSE 515 peer down",
          "[router][close]") {
    broker b;
    b.open({C, C2, P, P2});
    b.provide(P, "svc");
    b.provide(P2, "other");
    b.open_session(C, 1, "svc", P);
    b.open_session(C, 2, "svc", P);
    b.open_session(C2, 1, "svc", P);
    const std::uint32_t other = b.open_session(C, 3, "other", P2);

    b.close(P);
    CHECK(sorted(b.take()) == sorted({response_to(C, 1, "515 peer down\n"),
                                      response_to(C, 2, "515 peer down\n"),
                                      response_to(C2, 1, "515 peer down\n")}));
    CHECK(b.out.closes.empty());  // the clients stay connected
    CHECK(b.r.session_count() == 1);
    CHECK(b.r.connection_count() == 3);
    // The session with P2 is untouched.
    CHECK(b.update(C, 3, "200\n"));
    CHECK(b.take() == packets{update_to(P2, other, "200\n")});
    // The ended ones are unknown now.
    CHECK(b.update(C, 1, "200\n"));
    CHECK(b.take() == packets{response_to(C, 1, "102 no such session\n")});
}

TEST_CASE("a provider going away unregisters its services: not listed, a REQUEST gets 511, the name is free",
          "[router][close][registry]") {
    broker b;
    b.open({C, P, P2});
    b.provide(P, "svc");
    b.provide(P, "svc2");
    b.provide(P2, "keep");
    CHECK(b.r.service_count() == 3);

    b.close(P);
    CHECK(b.r.service_count() == 1);
    CHECK(service_names(b.list_services(C, 1)) == std::vector<std::string>{"keep"});
    CHECK(b.request(C, 2, "svc"));
    CHECK(b.take() == packets{response_to(C, 2, "511 unknown service svc\n")});
    b.provide(P2, "svc");
    CHECK(b.open_session(C, 3, "svc", P2) == 1);
}

TEST_CASE("a client going away: the provider of each of its sessions gets UPDATE 515 peer down",
          "[router][close]") {
    broker b;
    b.open({C, C2, P, P2});
    b.provide(P, "svc");
    b.provide(P2, "other");
    const std::uint32_t p1 = b.open_session(C, 1, "svc", P);
    const std::uint32_t p2 = b.open_session(C, 2, "other", P2);
    const std::uint32_t p3 = b.open_session(C2, 1, "svc", P);
    CHECK(b.builtin(C, 3, "echo").code() == 200);

    b.close(C);
    CHECK(sorted(b.take()) ==
          sorted({update_to(P, p1, "515 peer down\n"), update_to(P2, p2, "515 peer down\n")}));
    CHECK(b.out.closes.empty());
    CHECK(b.r.session_count() == 1);
    CHECK(b.r.service_count() == 2);
    CHECK(b.response(P, p3, "200\n"));
    CHECK(b.take() == packets{response_to(C2, 1, "200\n")});
}

TEST_CASE_METHOD(chain_fixture,
                 "a connection that is client and provider going away: each peer gets 515 in its direction",
                 "[router][close]") {
    const std::uint32_t up = b.open_session(X, 1, "upstream", P);
    b.open_session(C, 9, "middle", X);

    b.close(X);
    CHECK(sorted(b.take()) ==
          sorted({update_to(P, up, "515 peer down\n"), response_to(C, 9, "515 peer down\n")}));
    CHECK(b.r.session_count() == 0);
    CHECK(b.r.service_count() == 1);
}

TEST_CASE("a connection in a session with itself going away is sent nothing",
          "[router][close]") {
    broker b;
    b.open({X});
    b.provide(X, "self");
    const std::uint32_t pid = b.open_session(X, 5, "self", X);
    CHECK(b.r.sessions_of(X) == 1);
    CHECK(b.response(X, pid, "200 OK\n"));
    CHECK(b.take() == packets{response_to(X, 5, "200 OK\n")});

    b.close(X);
    CHECK(b.take().empty());  // "the side that went away is told nothing"
    CHECK(b.r.session_count() == 0);
    CHECK(b.r.connection_count() == 0);
}

// ====================================================================================
// §6.5 Shutdown
// ====================================================================================

TEST_CASE("shutdown_all ends every session with 500 shutdown on both sides", "[router][shutdown]") {
    broker b;
    b.open({C, C2, P});
    b.provide(P, "svc");
    const std::uint32_t p1 = b.open_session(C, 1, "svc", P);
    const std::uint32_t p2 = b.open_session(C2, 1, "svc", P);
    CHECK(b.builtin(C, 2, "receive-cmd").code() == 200);

    b.r.shutdown_all(b.out);
    CHECK(sorted(b.take()) == sorted({response_to(C, 1, "500 shutdown\n"),
                                      update_to(P, p1, "500 shutdown\n"),
                                      response_to(C2, 1, "500 shutdown\n"),
                                      update_to(P, p2, "500 shutdown\n"),
                                      response_to(C, 2, "500 shutdown\n")}));
    CHECK(b.r.session_count() == 0);
    CHECK(b.r.sessions_of(C) == 0);
    CHECK(b.r.sessions_of(P) == 0);
    // The shell closes the connections; the router asks for nothing more.
    CHECK(b.out.closes.empty());
}

// ====================================================================================
// §1.1 Packet types
// ====================================================================================

TEST_CASE("a reserved or undefined packet type is answered 505 reserved packet type T and closes the connection",
          "[router][errors][types]") {
    const std::uint8_t type = GENERATE(std::uint8_t{0}, std::uint8_t{1}, std::uint8_t{5},
                                       std::uint8_t{6}, std::uint8_t{7}, std::uint8_t{255});
    INFO("type " << int(type));
    broker b;
    b.open({C, P});
    CHECK_FALSE(b.send(C, type, 4242, "whatever"));
    CHECK(b.take() ==
          packets{response_to(C, 4242, "505 reserved packet type " + std::to_string(type) + "\n")});
    REQUIRE(b.out.closes.size() == 1);
    CHECK(b.out.closes[0].first == C);
    REQUIRE(b.out.diagnoses.size() == 1);
    CHECK(b.out.diagnoses[0].first == C);
}

TEST_CASE_METHOD(client_fixture,
                 "REQUEST, RESPONSE and UPDATE never stop reading, even when they are refused",
                 "[router][types]") {
    CHECK(b.request(C, 0, "echo"));
    CHECK(b.request(C, 1, ""));
    CHECK(b.request(C, 2, "nosuch"));
    CHECK(b.update(C, 3, "garbage"));
    CHECK(b.response(C, 4, "garbage"));
    CHECK(b.take().size() == 5);
    CHECK(b.out.closes.empty());
}

// ====================================================================================
// §7 Built-in services
// ====================================================================================

TEST_CASE("register-service answers 200 OK and the name becomes routable", "[router][builtin][registry]") {
    broker b;
    b.open({C, P});
    CHECK(b.builtin(P, 1, "register-service hello") == response_to(P, 1, "200 OK\n"));
    CHECK(b.r.service_count() == 1);
    CHECK(b.open_session(C, 1001, "hello a b", P) == 1);
}

TEST_CASE("register-service of a name held by another connection answers 516",
          "[router][builtin][registry]") {
    broker b;
    b.open({C, P, P2});
    b.provide(P, "hello");
    const packet p = b.builtin(P2, 1, "register-service hello");
    CHECK(p.code() == 516);
    CHECK(b.r.service_count() == 1);
    CHECK(b.r.sessions_of(P2) == 0);  // an error answer ends the command session
    CHECK(b.open_session(C, 1, "hello", P) == 1);  // still P's
}

TEST_CASE("register-service of a name this connection already holds answers 200 again",
          "[router][builtin][registry]") {
    broker b;
    b.open({P});
    b.provide(P, "hello");
    CHECK(b.builtin(P, 1, "register-service hello") == response_to(P, 1, "200 OK\n"));
    CHECK(b.r.service_count() == 1);
    CHECK(b.r.sessions_of(P) == 1);  // a 200 answer leaves the command session open
}

TEST_CASE("register-service with a bad or missing name answers 503", "[router][builtin][registry]") {
    const std::string line = GENERATE(as<std::string>{}, "register-service", "register-service -x",
                                      "register-service a/b", "register-service a b c",
                                      "register-service caf\xc3\xa9",
                                      "register-service s" + std::string(128, 'x'));
    INFO(line);
    broker b;
    b.open({P});
    CHECK(b.builtin(P, 1, line).code() == 503);
    CHECK(b.r.service_count() == 0);
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("register-service of a built-in name answers 516", "[router][builtin][registry]") {
    const std::string name = GENERATE("echo", "receive-cmd", "register-service",
                                      "unregister-service", "list-services", "daemon-info",
                                      "session-info");
    INFO(name);
    broker b;
    b.open({P});
    CHECK(b.builtin(P, 1, "register-service " + name).code() == 516);
    CHECK(b.r.service_count() == 0);
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("register-service over max_services_per_connection answers 517 limit: services per connection",
          "[router][builtin][registry][limits]") {
    limits lim;
    lim.max_services_per_connection = 2;
    broker b(lim);
    b.open({P, P2});
    b.provide(P, "one");
    b.provide(P, "two");
    const packet p = b.builtin(P, 1, "register-service three");
    CHECK(p.code() == 517);
    CHECK(p.message() == "limit: services per connection (2)");
    CHECK(b.r.service_count() == 2);
    CHECK(b.r.session_count() == 0);
    // A name it already holds is still 200, and the limit is per connection.
    CHECK(b.builtin(P, 2, "register-service two").code() == 200);
    CHECK(b.builtin(P2, 1, "register-service three").code() == 200);
    CHECK(b.r.service_count() == 3);
}

TEST_CASE("register-service over max_services_per_uid answers 517 limit: services per uid, counted over "
          "all of the uid's connections", "[router][builtin][registry][limits]") {
    limits lim;
    lim.max_services_per_uid = 2;
    broker b(lim);
    b.open_as_uid(77, {P, P2});
    b.open({X});
    b.provide(P, "one");
    b.provide(P2, "two");
    const packet p = b.builtin(P2, 1, "register-service three");
    CHECK(p.code() == 517);
    CHECK(p.message() == "limit: services per uid (2)");
    CHECK(b.r.service_count() == 2);
    CHECK(b.r.session_count() == 0);
    // Another uid is unaffected; a name this uid already holds is still 200.
    CHECK(b.builtin(X, 1, "register-service three").code() == 200);
    CHECK(b.builtin(P, 2, "register-service one").code() == 200);
    // Unregistering makes room, and so does a provider going away.
    CHECK(b.builtin(P, 3, "unregister-service one").code() == 200);
    CHECK(b.builtin(P2, 4, "register-service four").code() == 200);
    CHECK(b.builtin(P2, 5, "register-service five").code() == 517);
    b.close(P2);
    b.take();
    CHECK(b.builtin(P, 6, "register-service five").code() == 200);
    CHECK(b.builtin(P, 7, "register-service six").code() == 200);
    CHECK(b.builtin(P, 8, "register-service seven").code() == 517);
    CHECK(b.r.service_count() == 3);
}

TEST_CASE("unregister-service answers 200 OK, the name is gone but open sessions go on",
          "[router][builtin][registry]") {
    broker b;
    b.open({C, P});
    b.provide(P, "hello");
    const std::uint32_t pid = b.open_session(C, 1, "hello", P);
    CHECK(b.builtin(P, 2, "unregister-service hello") == response_to(P, 2, "200 OK\n"));
    CHECK(b.r.service_count() == 0);
    CHECK(b.request(C, 3, "hello"));
    CHECK(b.take() == packets{response_to(C, 3, "511 unknown service hello\n")});
    // The session opened before goes on, both ways.
    CHECK(b.response(P, pid, "200 OK\nstill here"));
    CHECK(b.update(C, 1, "103\n"));
    CHECK(b.take() == packets{response_to(C, 1, "200 OK\nstill here"), update_to(P, pid, "103\n")});
}

TEST_CASE("unregister-service of a name this connection does not hold answers 511",
          "[router][builtin][registry]") {
    broker b;
    b.open({P, P2});
    b.provide(P, "hello");
    CHECK(b.builtin(P2, 1, "unregister-service hello").code() == 511);
    CHECK(b.builtin(P2, 2, "unregister-service never").code() == 511);
    CHECK(b.r.service_count() == 1);
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("list-services lists each service with its provider's credentials and session count, by name",
          "[router][builtin][json]") {
    broker b;
    b.open({C, P, P2});
    b.provide(P2, "zeta");
    b.provide(P, "hello");
    b.provide(P, "alpha");
    b.open_session(C, 1, "hello", P);
    b.open_session(C, 2, "hello", P);
    b.open_session(C, 3, "zeta", P2);

    const json::value v = b.list_services(C, 10);
    CHECK(service_names(v) == std::vector<std::string>{"alpha", "hello", "zeta"});
    const auto& list = v.at("services").as_array();
    REQUIRE(list.size() == 3);
    const auto& hello = list[1].as_object();
    CHECK(hello.size() == 3);
    CHECK(hello.at("sessions").to_number<std::int64_t>() == 2);
    const auto& prov = hello.at("provider").as_object();
    CHECK(prov.at("pid").to_number<std::int64_t>() == 1000 + P);
    CHECK(prov.at("uid").to_number<std::int64_t>() == 500 + P);
    CHECK(prov.at("gid").to_number<std::int64_t>() == 600 + P);
    CHECK(list[0].at("sessions").to_number<std::int64_t>() == 0);
    CHECK(list[2].at("sessions").to_number<std::int64_t>() == 1);
    CHECK(list[2].at("provider").at("pid").to_number<std::int64_t>() == 1000 + P2);
}

TEST_CASE_METHOD(client_fixture,
                 "list-services with nothing registered is an empty list",
                 "[router][builtin][json]") {
    const packet p = b.builtin(C, 1, "list-services");
    CHECK(p == response_to(C, 1, "200 OK\n{\"services\":[]}"));
}

TEST_CASE("daemon-info reports version, uptime, connections, sessions, services and counters",
          "[router][builtin][json]") {
    broker b;
    b.open({C, P});
    b.provide(P, "hello");                            // session 1 (ended)
    const std::uint32_t pid = b.open_session(C, 1, "hello a b", P);  // session 2, 17 bytes routed
    CHECK(b.response(P, pid, "200 OK\nhi"));          // 17 bytes routed
    CHECK(b.update(C, 77, "103\n"));                 // a late packet
    b.take();
    b.r.set_now(1462);

    const packet p = b.builtin(C, 2, "daemon-info");  // session 3
    REQUIRE(p.code() == 200);
    const json::object info = json::parse(p.content()).as_object();
    CHECK(info.size() == 9);
    CHECK(info.at("version").as_string() == "0.1.0");
    CHECK(info.at("uptime_ms").to_number<std::int64_t>() == 462);
    CHECK(info.at("connections").to_number<std::int64_t>() == 2);
    CHECK(info.at("sessions").to_number<std::int64_t>() == 2);
    CHECK(info.at("services").to_number<std::int64_t>() == 1);
    CHECK(info.at("sessions_opened").to_number<std::int64_t>() == 3);
    CHECK(info.at("packets_routed").to_number<std::int64_t>() == 2);
    CHECK(info.at("bytes_routed").to_number<std::int64_t>() == 34);
    CHECK(info.at("late_packets").to_number<std::int64_t>() == 1);
}

TEST_CASE("session-info tells a provider who opened a session it serves",
          "[router][builtin][json][session-info]") {
    broker b;
    b.open({C, P});
    b.provide(P, "hello");
    const std::uint32_t pid = b.open_session(C, 1001, "hello", P);
    const packet p = b.builtin(P, 1, "session-info " + std::to_string(pid));
    REQUIRE(p.code() == 200);
    const json::object info = json::parse(p.content()).as_object();
    CHECK(info.size() == 6);
    CHECK(info.at("id").to_number<std::int64_t>() == pid);
    CHECK(info.at("service").as_string() == "hello");
    CHECK(info.at("pid").to_number<std::int64_t>() == 1000 + C);
    CHECK(info.at("uid").to_number<std::int64_t>() == 500 + C);
    CHECK(info.at("gid").to_number<std::int64_t>() == 600 + C);
    const json::array& groups = info.at("groups").as_array();
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].to_number<std::int64_t>() == 700 + C);
    CHECK(groups[1].to_number<std::int64_t>() == 27);
}

TEST_CASE("session-info for a session the connection does not serve is answered 503",
          "[router][builtin][session-info]") {
    broker b;
    b.open({C, P});
    b.provide(P, "hello");
    const std::uint32_t pid = b.open_session(C, 1001, "hello", P);
    // The client's own id names no session it serves; neither does an unused id,
    // nor a malformed one.
    CHECK(b.builtin(C, 1, "session-info 1001").code() == 503);
    CHECK(b.builtin(C, 2, "session-info " + std::to_string(pid)).code() == 503);
    CHECK(b.builtin(P, 3, "session-info 99").code() == 503);
    CHECK(b.builtin(P, 4, "session-info").code() == 503);
    CHECK(b.builtin(P, 5, "session-info x1").code() == 503);
    CHECK(b.builtin(P, 6, "session-info 4294967296").code() == 503);
    CHECK(b.builtin(P, 7, "session-info 1 2").code() == 503);
    CHECK(b.r.session_count() == 1);  // each error answer ended its command session
}

TEST_CASE("a register-service refused by the access policy is answered 504 policy: <rule>",
          "[router][builtin][policy]") {
    broker b;
    b.r.set_policy(policy({"deny provide secret.* *", "allow provide * *"}));
    b.open({P});
    CHECK(b.builtin(P, 1, "register-service secret.db") ==
          response_to(P, 1, "504 policy: deny provide secret.* *\n"));
    CHECK(b.r.service_count() == 0);
    CHECK(b.r.session_count() == 0);
    CHECK(b.builtin(P, 2, "register-service public.db").code() == 200);
    CHECK(b.r.service_count() == 1);
}

TEST_CASE("a REQUEST for a service the caller may not call is answered 504 policy: <rule>",
          "[router][policy]") {
    broker b;
    b.r.set_policy(policy({"deny call hello uid=" + std::to_string(500 + C), "allow provide * *"}));
    b.open({C, C2, P});
    b.provide(P, "hello");
    CHECK(b.request(C, 1, "hello"));
    CHECK(b.take() ==
          packets{response_to(C, 1, "504 policy: deny call hello uid=" + std::to_string(500 + C) + "\n")});
    CHECK(b.r.session_count() == 0);
    CHECK(b.open_session(C2, 1, "hello", P) == 1);
}

TEST_CASE("call rules cover echo, list-services and daemon-info, as REQUESTs and as commands",
          "[router][builtin][policy]") {
    broker b;
    const std::string rule = "deny call * uid=" + std::to_string(500 + C);
    b.r.set_policy(policy({rule, "allow provide * *"}));
    b.open({C, C2});
    std::uint32_t id = 1;
    for (const std::string line : {"echo hi", "list-services", "daemon-info"}) {
        INFO(line);
        // As a REQUEST: refused before a session exists (§6.2), like a routed service.
        CHECK(b.builtin(C, id, line) == response_to(C, id, "504 policy: " + rule + "\n"));
        CHECK(b.r.session_count() == 0);
        CHECK(b.builtin(C2, id, line).code() == 200);
        CHECK(b.update(C2, id, "103\n"));
        ++id;
        // As a command in a command session: the refusal ends that session.
        CHECK(b.builtin(C, id, "receive-cmd").code() == 200);
        CHECK(b.update(C, id, "200\n" + line));
        CHECK(b.take() == packets{response_to(C, id, "504 policy: " + rule + "\n")});
        CHECK(b.r.session_count() == 0);
        ++id;
        CHECK(std::count_if(b.out.diagnoses.begin(), b.out.diagnoses.end(), [&](const auto& d) {
                  return d.first == C && d.second == "call " + line.substr(0, line.find(' ')) +
                                                         " refused by policy: " + rule;
              }) == 2);
    }
    // Refused REQUESTs opened nothing: only C2's three and C's three receive-cmd count.
    CHECK(b.r.stats().sessions_opened == 6);
    // Providers' plumbing is not a call: C still registers, and is still refused the rest.
    CHECK(b.builtin(C, 10, "register-service mine").code() == 200);
    CHECK(b.builtin(C, 11, "receive-cmd").code() == 200);
    CHECK(b.update(C, 11, "200\nunregister-service mine"));
    CHECK(b.take() == packets{response_to(C, 11, "200 OK\n")});
    CHECK(b.builtin(C, 12, "session-info 1").code() == 503);
}

TEST_CASE("a reloaded policy ends the echo sessions of clients it no longer lets call echo, and command "
          "sessions stay and check each later command", "[router][builtin][policy][reload]") {
    broker b;
    b.open({C, C2});
    CHECK(b.builtin(C, 1, "echo").code() == 200);
    CHECK(b.builtin(C2, 1, "echo").code() == 200);
    CHECK(b.builtin(C, 2, "receive-cmd").code() == 200);
    const std::string rule = "deny call * uid=" + std::to_string(500 + C);
    const auto revoked = b.r.apply_policy(policy({rule, "allow provide * *"}), b.out);
    CHECK(revoked.services == 0);
    CHECK(revoked.sessions == 1);
    CHECK(b.take() == packets{response_to(C, 1, "504 policy: " + rule + "\n")});
    CHECK(b.r.session_count() == 2);
    CHECK(b.update(C2, 1, "200\nstill"));
    CHECK(b.take() == packets{response_to(C2, 1, "200 OK\nstill")});
    CHECK(b.update(C, 2, "200\ndaemon-info"));
    CHECK(b.take() == packets{response_to(C, 2, "504 policy: " + rule + "\n")});
}

TEST_CASE("a reloaded policy removes the registrations it refuses and ends their sessions with 504 "
          "to both sides", "[router][policy][reload]") {
    broker b;
    b.open({C, P, P2});
    b.provide(P, "backup.db");
    b.provide(P, "other");
    const std::uint32_t pid = b.open_session(C, 1, "backup.db", P);
    const std::uint32_t other = b.open_session(C, 2, "other", P);
    const std::string rule = "deny provide backup.* uid=" + std::to_string(500 + P);
    const auto revoked = b.r.apply_policy(policy({rule, "allow provide * *"}), b.out);
    CHECK(revoked.services == 1);
    CHECK(revoked.sessions == 1);
    CHECK(sorted(b.take()) == sorted(packets{response_to(C, 1, "504 policy: " + rule + "\n"),
                                             update_to(P, pid, "504 policy: " + rule + "\n")}));
    CHECK(std::count(b.out.diagnoses.begin(), b.out.diagnoses.end(),
                     std::pair<conn_id, std::string>(
                         P, "service backup.db unregistered by the reloaded policy: " + rule)) == 1);
    CHECK(b.r.service_count() == 1);
    CHECK(service_names(b.list_services(C, 3)) == std::vector<std::string>{"other"});
    CHECK(b.request(C, 4, "backup.db"));
    CHECK(b.take() == packets{response_to(C, 4, "511 unknown service backup.db\n")});
    // The other service and its session go on; the name is free for whoever may provide it.
    CHECK(b.update(C, 2, "200\nstill"));
    CHECK(b.take() == packets{update_to(P, other, "200\nstill")});
    CHECK(b.builtin(P, 5, "register-service backup.db").code() == 504);
    b.provide(P2, "backup.db");
    CHECK(b.open_session(C, 6, "backup.db", P2) != 0);
}

TEST_CASE("a reloaded policy also ends the open sessions of a service already unregistered whose "
          "provider it refuses", "[router][policy][reload]") {
    broker b;
    b.open({C, P});
    b.provide(P, "old.svc");
    const std::uint32_t pid = b.open_session(C, 1, "old.svc", P);
    CHECK(b.builtin(P, 2, "unregister-service old.svc").code() == 200);
    const std::string rule = "deny provide old.* *";
    const auto revoked = b.r.apply_policy(policy({rule, "allow provide * *"}), b.out);
    CHECK(revoked.services == 0);  // nothing registered to remove
    CHECK(revoked.sessions == 1);
    CHECK(sorted(b.take()) == sorted(packets{response_to(C, 1, "504 policy: " + rule + "\n"),
                                             update_to(P, pid, "504 policy: " + rule + "\n")}));
    CHECK(b.r.session_count() == 1);  // P's command session, a built-in: it stays
    // The slot was freed with its last session: a new registration reuses it cleanly.
    b.provide(P, "new.svc");
    CHECK(b.open_session(C, 3, "new.svc", P) != 0);
}

TEST_CASE("a reloaded policy ends the sessions whose client may no longer call, and nothing else",
          "[router][policy][reload]") {
    broker b;
    b.open({C, C2, P});
    b.provide(P, "svc");
    const std::uint32_t mine = b.open_session(C, 1, "svc", P);
    const std::uint32_t theirs = b.open_session(C2, 1, "svc", P);
    CHECK(b.builtin(C, 2, "echo").code() == 200);
    // The same policy again revokes nothing.
    CHECK(b.r.apply_policy(policy({"allow provide * *"}), b.out).sessions == 0);
    CHECK(b.take().empty());

    const std::string rule = "deny call svc uid=" + std::to_string(500 + C);
    const auto revoked = b.r.apply_policy(policy({rule, "allow provide * *"}), b.out);
    CHECK(revoked.services == 0);
    CHECK(revoked.sessions == 1);
    CHECK(sorted(b.take()) == sorted(packets{response_to(C, 1, "504 policy: " + rule + "\n"),
                                             update_to(P, mine, "504 policy: " + rule + "\n")}));
    CHECK(b.r.session_count() == 2);  // C2's session and C's echo
    CHECK(b.update(C2, 1, "200\nhi"));
    CHECK(b.update(C, 2, "200\necho"));
    CHECK(b.take() == packets{update_to(P, theirs, "200\nhi"), response_to(C, 2, "200 OK\necho")});
    CHECK(b.r.service_count() == 1);
}

TEST_CASE_METHOD(client_fixture,
                 "echo answers 200 OK with the args as sent", "[router][builtin][echo]") {
    CHECK(b.builtin(C, 1001, "echo hello world") == response_to(C, 1001, "200 OK\nhello world"));
    CHECK(b.builtin(C, 1002, "echo \t a  b\t c ") == response_to(C, 1002, "200 OK\na  b\t c "));
    CHECK(b.builtin(C, 1003, "echo") == response_to(C, 1003, "200 OK\n"));
    CHECK(b.builtin(C, 1004, "echo x\0"s) == response_to(C, 1004, "200 OK\nx"));
    CHECK(b.r.session_count() == 4);  // built-in sessions stay open
}

TEST_CASE_METHOD(client_fixture,
                 "echo answers each non-ending UPDATE with 200 OK carrying its content, 103 ends it silently",
                 "[router][builtin][echo]") {
    CHECK(b.builtin(C, 7, "echo").code() == 200);
    CHECK(b.update(C, 7, "200\nfirst"));
    CHECK(b.update(C, 7, "301 call\n\0\n\xff"s));
    CHECK(b.update(C, 7, "312\n"));
    CHECK(b.take() == packets{response_to(C, 7, "200 OK\nfirst"),
                              response_to(C, 7, "200 OK\n\0\n\xff"s),
                              response_to(C, 7, "200 OK\n")});
    CHECK(b.update(C, 7, "103\n"));
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 0);
    CHECK(b.update(C, 7, "200\nlate"));
    CHECK(b.take() == packets{response_to(C, 7, "102 no such session\n")});
}

TEST_CASE_METHOD(client_fixture,
                 "a built-in session ends on a 4xx or 5xx UPDATE from the client, without an answer",
                 "[router][builtin]") {
    CHECK(b.builtin(C, 1, "echo").code() == 200);
    CHECK(b.builtin(C, 2, "receive-cmd").code() == 200);
    CHECK(b.update(C, 1, "500\n"));
    CHECK(b.update(C, 2, "404 x\n"));
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(client_fixture,
                 "a malformed UPDATE to a built-in session ends it with RESPONSE 506",
                 "[router][builtin][errors]") {
    CHECK(b.builtin(C, 1, "echo").code() == 200);
    CHECK(b.update(C, 1, "abc\n"));
    CHECK(b.take_response(C, 1).code() == 506);
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("receive-cmd: the exact ccnet exchange, with the trailing NUL and the <group> word",
          "[router][builtin][receive-cmd]") {
    broker b;
    b.open({C, C2});
    CHECK(b.request(C, 1001, "receive-cmd"));
    packets got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == response_to(C, 1001, "200 OK\n"));
    CHECK(got[0].wire == hex({0x01, 0x03, 0x00, 0x07, 0x00, 0x00, 0x03, 0xe9}) + "200 OK\n");

    CHECK(b.update(C, 1001, "200\nregister-service hello inner\0"s));
    got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == response_to(C, 1001, "200 OK\n"));
    CHECK(got[0].wire == hex({0x01, 0x03, 0x00, 0x07, 0x00, 0x00, 0x03, 0xe9}) + "200 OK\n");

    CHECK(b.update(C, 1001, "103\n"));
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 0);

    // The group was ignored: the service is "hello", served by C.
    CHECK(service_names(b.list_services(C2, 1)) == std::vector<std::string>{"hello"});
    CHECK(b.open_session(C2, 2, "hello", C) == 1);

    // The same exchange from another connection: "516 ...".
    CHECK(b.builtin(C2, 3, "receive-cmd").code() == 200);
    CHECK(b.update(C2, 3, "200\nregister-service hello inner\0"s));
    CHECK(b.take_response(C2, 3).code() == 516);
    CHECK(b.r.sessions_of(C2) == 1);  // the 516 ended the command session; the routed one stays
}

TEST_CASE_METHOD(client_fixture,
                 "a command session runs every UPDATE 200 command line and answers it",
                 "[router][builtin][receive-cmd]") {
    // A REQUEST for a command runs it and leaves a command session open.
    CHECK(b.builtin(C, 1, "register-service one") == response_to(C, 1, "200 OK\n"));
    CHECK(b.r.session_count() == 1);

    CHECK(b.update(C, 1, "200\nregister-service two"));
    CHECK(b.update(C, 1, "200\nunregister-service one\0"s));
    CHECK(b.update(C, 1, "200\nlist-services"));
    CHECK(b.update(C, 1, "200\ndaemon-info"));
    const packets got = b.take();
    REQUIRE(got.size() == 4);
    CHECK(got[0] == response_to(C, 1, "200 OK\n"));
    CHECK(got[1] == response_to(C, 1, "200 OK\n"));
    CHECK(got[2].code() == 200);
    CHECK(service_names(json::parse(got[2].content())) == std::vector<std::string>{"two"});
    CHECK(got[3].code() == 200);
    CHECK(json::parse(got[3].content()).at("services").to_number<std::int64_t>() == 1);
    CHECK(b.r.session_count() == 1);
}

TEST_CASE_METHOD(client_fixture,
                 "an error answer to a command ends the command session",
                 "[router][builtin][receive-cmd]") {
    const std::string command = GENERATE("unregister-service never", "register-service -bad",
                                         "register-service echo", "no-such-command");
    INFO(command);
    CHECK(b.builtin(C, 1, "receive-cmd").code() == 200);
    CHECK(b.update(C, 1, "200\n" + command));
    CHECK(proto::is_error(b.take_response(C, 1).code()));
    CHECK(b.r.session_count() == 0);
    CHECK(b.update(C, 1, "200\nlist-services"));
    CHECK(b.take() == packets{response_to(C, 1, "102 no such session\n")});
}

TEST_CASE_METHOD(client_fixture,
                 "a command session ends with 506 on an UPDATE code other than 200",
                 "[router][builtin][receive-cmd]") {
    const std::string payload = GENERATE("301\nlist-services", "312\nlist-services", "100\n");
    INFO(payload);
    CHECK(b.builtin(C, 1, "receive-cmd").code() == 200);
    CHECK(b.update(C, 1, payload));
    CHECK(b.take_response(C, 1).code() == 506);
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(client_fixture,
                 "a command line that is not a printable request line is answered 503 and ends the command session",
                 "[router][builtin][receive-cmd]") {
    // §7: "An error answer (4xx/5xx) to a command ends the command session".
    const std::string line = GENERATE(as<std::string>{}, ""s, "  "s, "register-service a\x01"s,
                                      "list-services \xff"s);
    INFO(Catch::Detail::stringify(line));
    CHECK(b.builtin(C, 1, "receive-cmd").code() == 200);
    CHECK(b.update(C, 1, "200\n" + line));
    CHECK(b.take_response(C, 1).code() == 503);
    CHECK(b.r.service_count() == 0);
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(client_fixture,
                 "a command line with two trailing NULs is not printable: 503, nothing registered",
                 "[router][builtin][receive-cmd]") {
    // §7: "same syntax as a request line; one trailing NUL tolerated".
    CHECK(b.builtin(C, 1, "receive-cmd").code() == 200);
    CHECK(b.request(C, 2, "register-service hello\0\0"s));
    CHECK(b.take() == packets{response_to(C, 2, "503 request line is not printable UTF-8\n")});
    CHECK(b.update(C, 1, "200\nregister-service hello\0\0"s));
    CHECK(b.take() == packets{response_to(C, 1, "503 request line is not printable UTF-8\n")});
    CHECK(b.r.service_count() == 0);
}

// ====================================================================================
// §7 Built-in answers over one packet (chunked by §5)
// ====================================================================================

namespace {
limits chunk_limits(std::size_t max_payload, std::size_t max_message = limits{}.max_message) {
    limits lim;
    lim.max_payload = max_payload;
    lim.max_message = max_message;
    return lim;
}

// Collects a chunked built-in answer on (c, id) whose first packet is `first`:
// checks that nothing comes before each UPDATE 302, that every 312 chunk fills a
// packet of `packet_size`, and returns the last chunk with all the content.
packet collect_answer(broker& b, conn_id c, std::uint32_t id, packet first,
                      std::size_t packet_size, std::size_t* chunks = nullptr) {
    std::string content;
    std::size_t n = 0;
    packet p = std::move(first);
    while (p.code() == 312) {
        ++n;
        CHECK(p.to == c);
        CHECK(p.id == id);
        CHECK(p.type == 3);
        CHECK(p.message() == "HAS MORE");
        CHECK(p.payload.size() == packet_size);
        content += p.content();
        CHECK(b.take().empty());
        REQUIRE(b.update(c, id, "302 MORE\n"));
        const packets got = b.take();
        REQUIRE(got.size() == 1);
        p = got[0];
    }
    CHECK(p.payload.size() <= packet_size);
    if (chunks != nullptr) *chunks = n;
    return response_to(p.to, p.id, p.payload.substr(0, p.payload.find('\n') + 1) + content + p.content());
}
}  // namespace

TEST_CASE_METHOD(client_fixture,
                 "a built-in answer of exactly one packet is one RESPONSE 200, without the message OK when "
                 "only the bare code line leaves room",
                 "[router][builtin][chunks]") {
    const std::string with_ok(proto::max_payload - 7, 'a');
    packet p = b.builtin(C, 1, "echo " + with_ok);
    CHECK(p == response_to(C, 1, "200 OK\n" + with_ok));
    CHECK(p.payload.size() == proto::max_payload);
    const std::string bare(proto::max_payload - 4, 'b');
    CHECK(b.update(C, 1, "200\n" + bare));
    const packets got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == response_to(C, 1, "200\n" + bare));
    CHECK(got[0].payload.size() == proto::max_payload);
    CHECK(b.r.session_count() == 1);
}

TEST_CASE_METHOD(client_fixture,
                 "a built-in answer one byte over a packet: a full 312 HAS MORE chunk, then after UPDATE 302 "
                 "200 OK with the rest",
                 "[router][builtin][chunks]") {
    const std::string args(proto::max_payload - 3, 'a');
    const packet first = b.builtin(C, 1, "echo " + args);
    const std::size_t per = proto::max_payload - 13;  // "312 HAS MORE\n"
    CHECK(first == response_to(C, 1, "312 HAS MORE\n" + args.substr(0, per)));
    CHECK(first.payload.size() == proto::max_payload);
    // Nothing more until the client asks.
    CHECK(b.take().empty());
    CHECK(b.update(C, 1, "302\n"));
    CHECK(b.take() == packets{response_to(C, 1, "200 OK\n" + args.substr(per))});
    // The echo session goes on as before, and 103 ends it silently.
    CHECK(b.update(C, 1, "200\nagain"));
    CHECK(b.take() == packets{response_to(C, 1, "200 OK\nagain")});
    CHECK(b.update(C, 1, "103\n"));
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("list-services over many packets: every 312 chunk fills max-payload, one per UPDATE 302, "
          "and the chunks add up to the whole list",
          "[router][builtin][chunks]") {
    broker b(chunk_limits(256));
    b.open({C, P});
    std::vector<std::string> names;
    for (int k = 0; k < 40; ++k) {
        names.push_back("service-" + std::to_string(100 + k) + "-" + std::string(90, 'n'));
        b.provide(P, names.back());
    }
    REQUIRE(b.request(C, 5, "list-services"));
    const packets got = b.take();
    REQUIRE(got.size() == 1);
    std::size_t chunks = 0;
    const packet whole = collect_answer(b, C, 5, got[0], 256, &chunks);
    CHECK(whole.code() == 200);
    CHECK(chunks >= 20);
    const json::value list = json::parse(whole.content());
    CHECK(service_names(list) == names);
    // The command session goes on: the next command is answered.
    CHECK(b.update(C, 5, "200\ndaemon-info"));
    const packets info = b.take();
    REQUIRE(info.size() >= 1);
    CHECK((info[0].code() == 200 || info[0].code() == 312));
}

TEST_CASE("a command session's list-services (receive-cmd, UPDATE 200) is chunked the same way",
          "[router][builtin][chunks][receive-cmd]") {
    broker b(chunk_limits(128));
    b.open({C, P});
    for (int k = 0; k < 10; ++k) b.provide(P, "svc" + std::to_string(k) + std::string(60, 'x'));
    CHECK(b.builtin(C, 3, "receive-cmd") == response_to(C, 3, "200 OK\n"));
    REQUIRE(b.update(C, 3, "200\nlist-services\0"s));
    const packets got = b.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0].code() == 312);
    const packet whole = collect_answer(b, C, 3, got[0], 128);
    CHECK(whole.code() == 200);
    CHECK(service_names(json::parse(whole.content())).size() == 10);
}

TEST_CASE("a chunked built-in answer of exactly max-message bytes (all packets, code lines included) "
          "passes, one byte more is refused with 517 limit: message size",
          "[router][builtin][chunks][limits]") {
    // max-payload 64: 51 content bytes per 312 chunk. 200 bytes of echo = 3 chunks
    // (3 * 13 code-line bytes) + "200 OK\n" 7 + 200 = 246 bytes in all.
    broker b(chunk_limits(64, 246));
    b.open({C});
    const std::string at(200, 'a');
    REQUIRE(b.request(C, 1, "echo " + at));
    packets got = b.take();
    REQUIRE(got.size() == 1);
    std::size_t chunks = 0;
    CHECK(collect_answer(b, C, 1, got[0], 64, &chunks) == response_to(C, 1, "200 OK\n" + at));
    CHECK(chunks == 3);

    const std::string over(201, 'a');
    REQUIRE(b.request(C, 2, "echo " + over));
    CHECK(b.take() == packets{response_to(C, 2, "517 limit: message size\n")});
    CHECK(b.r.sessions_of(C) == 1);  // session 1 only: the 517 ended session 2
    CHECK(b.out.diagnoses.size() == 1);
}

TEST_CASE("list-services over max-message is refused with 517 limit: message size and ends the session",
          "[router][builtin][chunks][limits]") {
    broker b(chunk_limits(256, 2000));
    b.open({C, P});
    for (int k = 0; k < 40; ++k) b.provide(P, "service-" + std::to_string(k) + std::string(100, 'n'));
    CHECK(b.builtin(C, 9, "list-services") == response_to(C, 9, "517 limit: message size\n"));
    CHECK(b.r.sessions_of(C) == 0);
    CHECK(b.update(C, 9, "302\n"));
    CHECK(b.take() == packets{response_to(C, 9, "102 no such session\n")});
}

TEST_CASE("while a chunked answer is pending, an UPDATE other than 302 ends the session with 506, "
          "and 103 drops the rest silently",
          "[router][builtin][chunks][errors]") {
    broker b(chunk_limits(64));
    b.open({C});
    CHECK(b.builtin(C, 1, "echo " + std::string(100, 'a')).code() == 312);
    CHECK(b.update(C, 1, "200\nlist-services"));
    CHECK(b.take() == packets{response_to(C, 1, "506 a chunked answer takes UPDATE 302 MORE\n")});
    CHECK(b.r.session_count() == 0);

    CHECK(b.builtin(C, 2, "echo " + std::string(100, 'a')).code() == 312);
    CHECK(b.update(C, 2, "103\n"));
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 0);
}

TEST_CASE("the unfinished chunked answers of one uid hold at most max-message bytes: "
          "one more is refused with 517, other uids and later answers go on",
          "[router][builtin][chunks][limits]") {
    broker b(chunk_limits(64, 300));
    b.open({C, C2});
    const packet first = b.builtin(C, 1, "echo " + std::string(200, 'a'));  // holds 200
    CHECK(first.code() == 312);
    CHECK(b.builtin(C, 2, "echo " + std::string(150, 'b')) ==
          response_to(C, 2, "517 limit: unfinished answers of this uid over max-message\n"));
    CHECK(b.builtin(C2, 1, "echo " + std::string(150, 'c')).code() == 312);  // another connection
    // Session 1 finishes; its bytes are released.
    CHECK(collect_answer(b, C, 1, first, 64) == response_to(C, 1, "200 OK\n" + std::string(200, 'a')));
    CHECK(b.builtin(C, 3, "echo " + std::string(150, 'b')).code() == 312);
}

TEST_CASE("an answer ended early (103, 506, idle timeout) gives its bytes back to the connection's budget",
          "[router][builtin][chunks][bookkeeping]") {
    limits lim = chunk_limits(64, 300);
    lim.session_idle_timeout_ms = 1000;
    broker b(lim);
    b.open({C});
    // Each time 200 bytes are held, another 150 would not fit; once the answer
    // is gone, they must.
    CHECK(b.builtin(C, 1, "echo " + std::string(200, 'a')).code() == 312);
    CHECK(b.update(C, 1, "103\n"));
    CHECK(b.builtin(C, 2, "echo " + std::string(150, 'b')).code() == 312);
    CHECK(b.update(C, 2, "103\n"));

    CHECK(b.builtin(C, 3, "echo " + std::string(200, 'a')).code() == 312);
    CHECK(b.update(C, 3, "200\nsomething else"));
    CHECK(b.take().at(0).code() == 506);
    CHECK(b.builtin(C, 4, "echo " + std::string(150, 'b')).code() == 312);
    CHECK(b.update(C, 4, "103\n"));

    CHECK(b.builtin(C, 5, "echo " + std::string(200, 'a')).code() == 312);
    b.r.set_now(5000);
    b.r.on_tick(b.out);  // 514 ends it
    b.take();
    CHECK(b.r.session_count() == 0);
    CHECK(b.builtin(C, 6, "echo " + std::string(150, 'b')).code() == 312);
}

TEST_CASE("the budget for unfinished answers is the uid's: a second connection of the same uid shares it",
          "[router][builtin][chunks][limits]") {
    broker b(chunk_limits(64, 300));
    b.open_as_uid(4242, {C, C2});
    b.open({C3});
    CHECK(b.builtin(C, 1, "echo " + std::string(200, 'a')).code() == 312);
    CHECK(b.builtin(C2, 1, "echo " + std::string(150, 'b')) ==
          response_to(C2, 1, "517 limit: unfinished answers of this uid over max-message\n"));
    CHECK(b.builtin(C3, 1, "echo " + std::string(150, 'c')).code() == 312);  // another uid
    b.close(C);  // its answer goes with it
    b.take();
    CHECK(b.builtin(C2, 2, "echo " + std::string(200, 'b')).code() == 312);  // C2 alone now
}

TEST_CASE("a connection going away in the middle of a chunked answer leaves nothing behind",
          "[router][builtin][chunks][bookkeeping]") {
    broker b(chunk_limits(64, 300));
    b.open({C});
    CHECK(b.builtin(C, 1, "echo " + std::string(200, 'a')).code() == 312);
    b.close(C);
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 0);
    // The same connection id, opened again, has its whole budget.
    b.open({C});
    CHECK(b.builtin(C, 1, "echo " + std::string(200, 'a')).code() == 312);
    CHECK(b.builtin(C, 2, "echo " + std::string(99, 'a')).code() == 312);
}

// ====================================================================================
// §5, §8 Message size
// ====================================================================================

namespace {
// A payload of exactly n bytes with the given code line.
std::string sized(const std::string& code_line, std::size_t n) {
    REQUIRE(n >= code_line.size());
    return code_line + std::string(n - code_line.size(), 'x');
}

limits message_limit(std::size_t n) {
    limits lim;
    lim.max_message = n;
    return lim;
}

// max_message 100, and C's session 1 with P open (P's id `pid`).
struct message_fixture : svc_fixture {
    std::uint32_t pid;
    message_fixture() : svc_fixture(message_limit(100)), pid(b.open_session(C, 1, "svc", P)) {}

    // What both sides get when the session ends over the limit, in sorted() order.
    packets both_get_517() const {
        return sorted({response_to(C, 1, "517 limit: message size\n"),
                       update_to(P, pid, "517 limit: message size\n")});
    }
};
}  // namespace

TEST_CASE_METHOD(message_fixture,
                 "312 chunks are counted: a message of exactly max_message bytes passes",
                 "[router][limits][message]") {
    CHECK(b.update(C, 1, sized("312\n", 40)));
    CHECK(b.update(C, 1, sized("312\n", 30)));
    CHECK(b.update(C, 1, sized("200\n", 30)));
    CHECK(b.take() == packets{update_to(P, pid, sized("312\n", 40)),
                              update_to(P, pid, sized("312\n", 30)),
                              update_to(P, pid, sized("200\n", 30))});
    CHECK(b.r.session_count() == 1);
}

TEST_CASE_METHOD(message_fixture,
                 "an UPDATE message over max_message ends the session with 517 limit: message size to both sides",
                 "[router][limits][message]") {
    CHECK(b.update(C, 1, sized("312\n", 60)));
    CHECK(b.response(P, pid, "302\n"));
    b.take();
    CHECK(b.update(C, 1, sized("200\n", 41)));  // 101 bytes in all
    CHECK(sorted(b.take()) == both_get_517());
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(message_fixture,
                 "a RESPONSE message over max_message ends the session with 517 limit: message size to both sides",
                 "[router][limits][message]") {
    CHECK(b.response(P, pid, sized("312\n", 50)));
    CHECK(b.response(P, pid, sized("312\n", 50)));
    b.take();
    CHECK(b.response(P, pid, sized("311\n", 4)));  // 104 bytes in all
    CHECK(sorted(b.take()) == both_get_517());
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(message_fixture,
                 "a single packet over max_message ends the session with 517",
                 "[router][limits][message]") {
    CHECK(b.update(C, 1, sized("200\n", 101)));
    CHECK(sorted(b.take()) == both_get_517());
}

TEST_CASE_METHOD(message_fixture,
                 "keep-alives between chunks do not end the message: the limit still holds across them",
                 "[router][limits][message]") {
    CHECK(b.response(P, pid, sized("312\n", 50)));
    CHECK(b.response(P, pid, "100\n"));  // 54 so far
    CHECK(b.response(P, pid, "101\n"));  // 58
    CHECK(b.r.session_count() == 1);
    b.take();
    CHECK(b.response(P, pid, sized("311\n", 43)));  // 101 bytes in all
    CHECK(sorted(b.take()) == both_get_517());
    CHECK(b.r.session_count() == 0);
}

TEST_CASE_METHOD(message_fixture,
                 "a keep-alive outside a chunked message starts nothing: the next message is counted from zero",
                 "[router][limits][message]") {
    CHECK(b.response(P, pid, "100\n"));
    CHECK(b.response(P, pid, sized("311\n", 100)));  // exactly the limit: the 100 was not counted
    CHECK(b.r.session_count() == 1);
}

TEST_CASE_METHOD(message_fixture,
                 "a code other than 312 ends the message: the next message is counted from zero",
                 "[router][limits][message]") {
    CHECK(b.update(C, 1, sized("312\n", 60)));
    CHECK(b.update(C, 1, sized("200\n", 40)));   // message of 100: ok
    CHECK(b.update(C, 1, sized("312\n", 60)));   // 160 without the reset
    CHECK(b.update(C, 1, sized("301\n", 40)));
    CHECK(b.update(C, 1, sized("312\n", 100)));
    CHECK(b.update(C, 1, "200\n"));              // 104: over
    const packets got = b.take();
    REQUIRE(got.size() == 7);
    for (std::size_t i = 0; i < 5; ++i) {
        CHECK(got[i].to == P);
        CHECK(got[i].id == pid);
    }
    CHECK(sorted({got[5], got[6]}) == both_get_517());
}

TEST_CASE("message sizes are counted per direction and per session", "[router][limits][message]") {
    broker b(message_limit(100));
    b.open({C, P});
    b.provide(P, "svc");
    const std::uint32_t p1 = b.open_session(C, 1, "svc", P);
    const std::uint32_t p2 = b.open_session(C, 2, "svc", P);
    CHECK(b.update(C, 1, sized("312\n", 60)));
    CHECK(b.response(P, p1, sized("312\n", 60)));
    CHECK(b.update(C, 2, sized("312\n", 60)));
    CHECK(b.response(P, p2, sized("312\n", 60)));
    CHECK(b.update(C, 1, sized("200\n", 40)));
    CHECK(b.response(P, p1, sized("200\n", 40)));
    const packets got = b.take();
    CHECK(got.size() == 6);
    for (const packet& p : got) CHECK(p.code() != 517);
    CHECK(b.r.session_count() == 2);
}

// ====================================================================================
// §8 Idle sessions
// ====================================================================================

namespace {
limits idle_limit(std::uint64_t ms) {
    limits lim;
    lim.session_idle_timeout_ms = ms;
    return lim;
}

// session-idle-timeout-ms 1000 (the router's clock starts at 1000), C and P serving svc.
struct idle_fixture : svc_fixture {
    idle_fixture() : svc_fixture(idle_limit(1000)) {}
};
}  // namespace

TEST_CASE_METHOD(idle_fixture,
                 "a session idle for session-idle-timeout-ms ends with 514 session idle timeout to both sides",
                 "[router][limits][idle]") {
    const std::uint32_t pid = b.open_session(C, 1, "svc", P);
    CHECK(b.builtin(C, 2, "echo").code() == 200);

    // Exactly the limit on a millisecond clock may be 999.x ms really: not yet.
    b.r.set_now(2000);
    b.r.on_tick(b.out);
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 2);

    b.r.set_now(2001);
    b.r.on_tick(b.out);
    CHECK(sorted(b.take()) == sorted({response_to(C, 1, "514 session idle timeout\n"),
                                      update_to(P, pid, "514 session idle timeout\n"),
                                      response_to(C, 2, "514 session idle timeout\n")}));
    CHECK(b.r.session_count() == 0);
    CHECK(b.out.closes.empty());
}

TEST_CASE_METHOD(idle_fixture,
                 "traffic in either direction keeps a session from being reaped as idle",
                 "[router][limits][idle]") {
    const std::uint32_t p1 = b.open_session(C, 1, "svc", P);
    const std::uint32_t p2 = b.open_session(C, 2, "svc", P);

    b.r.set_now(1600);
    CHECK(b.response(P, p1, "200 OK\n"));
    CHECK(b.update(C, 2, "200\n"));
    b.take();
    b.r.set_now(2500);
    b.r.on_tick(b.out);
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 2);

    b.r.set_now(2601);
    b.r.on_tick(b.out);
    CHECK(sorted(b.take()) == sorted({response_to(C, 1, "514 session idle timeout\n"),
                                      update_to(P, p1, "514 session idle timeout\n"),
                                      response_to(C, 2, "514 session idle timeout\n"),
                                      update_to(P, p2, "514 session idle timeout\n")}));
}

TEST_CASE("with session-idle-timeout-ms 0 sessions are never reaped", "[router][limits][idle]") {
    broker b(idle_limit(0));
    b.open({C, P});
    b.provide(P, "svc");
    b.open_session(C, 1, "svc", P);
    b.r.set_now(1000 + (std::uint64_t{1} << 40));
    b.r.on_tick(b.out);
    CHECK(b.take().empty());
    CHECK(b.r.session_count() == 1);
}

// ====================================================================================
// Bookkeeping: the tables empty out
// ====================================================================================

TEST_CASE_METHOD(chain_fixture,
                 "sessions_of counts a connection's sessions on both sides",
                 "[router][bookkeeping]") {
    b.open_session(X, 1, "upstream", P);
    b.open_session(C, 1, "middle", X);
    CHECK(b.builtin(X, 2, "echo").code() == 200);
    CHECK(b.r.sessions_of(X) == 3);
    CHECK(b.r.sessions_of(P) == 1);
    CHECK(b.r.sessions_of(C) == 1);
    CHECK(b.r.session_count() == 3);
    CHECK(b.r.sessions_of(999) == 0);
}

TEST_CASE("after every way a session can end, session_count and sessions_of return to zero",
          "[router][bookkeeping]") {
    limits lim;
    lim.max_message = 100;
    broker b(lim);
    b.open({C, C2, P, P2, X});
    b.provide(P, "svc");
    b.provide(P2, "other");
    b.provide(X, "self");
    CHECK(b.r.connection_count() == 5);
    CHECK(b.r.service_count() == 3);

    // Routed sessions ended by each rule; each ending is answered as tested above,
    // here only the tables matter.
    auto ended = [&](bool read_on) {
        CHECK(read_on);
        CHECK_FALSE(b.take().empty());
    };
    b.open_session(C, 1, "svc", P);
    ended(b.update(C, 1, "103\n"));                            // client 103
    const std::uint32_t p2 = b.open_session(C, 2, "svc", P);
    ended(b.response(P, p2, "103\n"));                         // provider 103
    b.open_session(C, 3, "svc", P);
    ended(b.update(C, 3, "500\n"));                            // client 5xx
    const std::uint32_t p4 = b.open_session(C, 4, "svc", P);
    ended(b.response(P, p4, "404\n"));                         // provider 4xx
    b.open_session(C, 5, "svc", P);
    ended(b.update(C, 5, "bad"));                              // malformed UPDATE
    const std::uint32_t p6 = b.open_session(C, 6, "svc", P);
    ended(b.response(P, p6, "bad"));                           // malformed RESPONSE
    b.open_session(C, 7, "svc", P);
    ended(b.request(C, 7, "svc"));                             // reused id
    b.open_session(C, 8, "svc", P);
    ended(b.update(C, 8, sized("200\n", 101)));                // message limit
    // Built-ins ended by the client, by a bad code, by an error answer.
    b.builtin(C, 9, "echo");
    CHECK(b.update(C, 9, "103\n"));
    b.builtin(C, 10, "receive-cmd");
    ended(b.update(C, 10, "301\n"));                           // 506
    b.builtin(C, 14, "receive-cmd");
    ended(b.update(C, 14, "200\nunregister-service never"));   // 511
    CHECK(b.r.session_count() == 0);
    CHECK(b.r.sessions_of(C) == 0);
    CHECK(b.r.sessions_of(P) == 0);

    // Sessions ended by connections going away, and by shutdown.
    b.open_session(C, 11, "svc", P);
    b.open_session(C2, 11, "svc", P);
    b.open_session(C, 12, "other", P2);
    b.open_session(C2, 12, "other", P2);
    b.open_session(X, 1, "self", X);
    b.open_session(X, 2, "svc", P);
    b.open_session(C, 13, "self", X);
    b.builtin(C2, 13, "echo");
    CHECK(b.r.session_count() == 8);
    CHECK(b.r.sessions_of(P) == 3);
    CHECK(b.r.sessions_of(X) == 3);

    b.close(P);
    CHECK(b.r.session_count() == 5);
    CHECK(b.r.service_count() == 2);
    b.close(C);
    CHECK(b.r.session_count() == 3);
    b.close(X);
    CHECK(b.r.session_count() == 2);
    CHECK(b.r.service_count() == 1);
    b.r.shutdown_all(b.out);
    CHECK(b.r.session_count() == 0);
    for (conn_id c : {C, C2, P, P2, X}) {
        INFO("connection " << c);
        CHECK(b.r.sessions_of(c) == 0);
    }
    CHECK(b.r.connection_count() == 2);
    b.close(C2);
    b.close(P2);
    CHECK(b.r.connection_count() == 0);
    CHECK(b.r.service_count() == 0);
    CHECK(b.r.stats().sessions_opened == 3 + 8 + 3 + 8);

    // The emptied router works as new.
    b.take();
    b.open({C, P});
    b.provide(P, "svc");
    CHECK(b.open_session(C, 1, "svc", P) == 1);
    CHECK(b.r.session_count() == 1);
}
