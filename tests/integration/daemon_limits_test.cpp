// The configured limits of docs/protocol.md §8, each at its bound, on the real
// junctiond started with a small value of the option under test.
//
// Flow of a test: start the daemon with e.g. --max-sessions-per-connection 3,
// reach the bound with raw frames, check the exact 517 (or the close), then
// check that going back under the bound works again and that nobody else was
// affected. The slow-reader tests flood a connection that never reads and watch
// the daemon's resident memory (daemon_process::rss_kib) while they do.
#include <catch2/catch.hpp>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>

#include "harness.hpp"

using namespace junction::test;
using namespace junction::test::wire;
using junction::proto::packet_type;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto due = std::chrono::milliseconds(2000);  // how long an answer that is due may take

std::string header_only(std::uint16_t length, std::uint32_t id) {
    std::string h = encode(packet_type::request, id, "");
    h[2] = static_cast<char>(length >> 8);
    h[3] = static_cast<char>(length & 0xff);
    return h;
}

// For "is there a packet already?": try_recv waits at most this long. (It truncates what is
// left of its timeout to whole milliseconds and does not read at all once that is 0, so 1 ms
// would not even look at the socket.)
constexpr auto poll_now = std::chrono::milliseconds(2);

// A sender that would block forever fails after `t` instead (send throws).
void set_send_timeout(raw_client& c, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(t.count() % 1000 * 1000);
    REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
}

// daemon-info's "connections", asked on `c` (each call uses a fresh id).
long connections_seen_by_daemon(raw_client& c) {
    static std::uint32_t id = 0x6e000000;
    const packet p = c.request(++id, "daemon-info", due);
    c.send(packet_type::update, id, "103\n");
    REQUIRE(p.code() == 200);
    return boost::json::parse(p.content()).at("connections").to_number<long>();
}

// A connection that the daemon accepted (an echo round trip went through).
raw_client accepted(const std::string& socket) {
    raw_client c(socket);
    expect_nothing_queued(c);
    return c;
}

}  // namespace

// --- Sessions and services per connection ------------------------------------------------

TEST_CASE("sessions per connection: the REQUEST over the limit gets 517 and opens nothing, "
          "after one ends a new one opens",
          "[daemon][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-sessions-per-connection", "3"});
    raw_client provider = provider_of(d.socket(), "svc");
    raw_client client(d.socket());

    std::uint32_t provider_id[4] = {};
    for (std::uint32_t id = 1; id <= 3; ++id) {
        client.send(packet_type::request, id, "svc " + std::to_string(id));
        const packet p = provider.recv(due);
        CHECK(p.payload == "svc " + std::to_string(id));
        provider_id[id] = p.id();
    }
    client.send(packet_type::request, 4, "svc 4");
    CHECK(next(client) == response(4, "517 limit: sessions per connection (3)\n"));
    client.send(packet_type::request, 5, "echo built-ins count too");
    CHECK(next(client) == response(5, "517 limit: sessions per connection (3)\n"));
    client.send(packet_type::update, 4, "200\n");
    CHECK(next(client) == response(4, "102 no such session\n"));

    // The limit is per connection, and only counts sessions opened as client: the
    // provider serves 6 sessions and may still open its own.
    raw_client other(d.socket());
    for (std::uint32_t id = 1; id <= 3; ++id) {
        open_session(other, id, "svc other", provider);
    }
    provider.send(packet_type::request, 1, "echo mine");
    CHECK(next(provider) == response(1, "200 OK\nmine"));

    // The client ends one session: a new one opens.
    client.send(packet_type::update, 2, "103\n");
    CHECK(next(provider) == update(provider_id[2], "103\n"));
    open_session(client, 4, "svc 4 again", provider);
    client.send(packet_type::request, 6, "svc 6");
    CHECK(next(client) == response(6, "517 limit: sessions per connection (3)\n"));

    // The provider ends one: a new one opens.
    provider.send(packet_type::response, provider_id[3], "404 gone\n");
    CHECK(next(client) == response(3, "404 gone\n"));
    open_session(client, 6, "svc 6 again", provider);
}

TEST_CASE("services per connection: the registration over the limit gets 517, after "
          "unregistering one a new one registers",
          "[daemon][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-services-per-connection", "2"});
    raw_client p(d.socket());

    p.send(packet_type::request, 1, "register-service alpha");
    CHECK(next(p) == response(1, "200 OK\n"));
    p.send(packet_type::request, 2, "register-service beta");
    CHECK(next(p) == response(2, "200 OK\n"));
    p.send(packet_type::request, 3, "register-service gamma");
    const packet refused = p.recv(due);
    CHECK(refused.id() == 3);
    CHECK(refused.type() == 3);
    CHECK(refused.payload.rfind("517 limit: services per connection", 0) == 0);
    // Holding a name again is not a new registration.
    p.send(packet_type::request, 4, "register-service alpha");
    CHECK(next(p) == response(4, "200 OK\n"));

    // gamma was not registered.
    raw_client client(d.socket());
    client.send(packet_type::request, 1, "gamma");
    CHECK(next(client) == response(1, "511 unknown service gamma\n"));

    p.send(packet_type::request, 5, "unregister-service beta");
    CHECK(next(p) == response(5, "200 OK\n"));
    p.send(packet_type::request, 6, "register-service gamma");
    CHECK(next(p) == response(6, "200 OK\n"));
    client.send(packet_type::request, 2, "gamma");
    CHECK(next(p) == request(1, "gamma"));

    // Another connection has its own allowance.
    raw_client q(d.socket());
    q.send(packet_type::request, 1, "register-service delta");
    CHECK(next(q) == response(1, "200 OK\n"));
    q.send(packet_type::request, 2, "register-service epsilon");
    CHECK(next(q) == response(2, "200 OK\n"));
}

// --- Connections -----------------------------------------------------------------------------

TEST_CASE("connections in total: a new connection over the limit gets RESPONSE id 0 517 and "
          "is closed, after one closes a new one is served",
          "[daemon][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-connections", "3"});
    raw_client a = accepted(d.socket());
    raw_client b = accepted(d.socket());
    raw_client c = accepted(d.socket());

    raw_client refused(d.socket());
    CHECK(next(refused) == response(0, "517 limit: connections (3)\n"));
    CHECK(refused.wait_closed(due));

    expect_nothing_queued(a);  // the others are fine
    c.close();
    CHECK(wait_until([&] { return connections_seen_by_daemon(a) == 2; }, due));
    raw_client fresh = accepted(d.socket());
    fresh.send(packet_type::request, 1, "echo welcome");
    CHECK(next(fresh) == response(1, "200 OK\nwelcome"));
    expect_nothing_queued(b);
}

TEST_CASE("connections per uid: a new connection over the limit gets RESPONSE id 0 517 and "
          "is closed, after one closes a new one is served",
          "[daemon][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-connections-per-uid", "2", "--max-connections", "100"});
    raw_client a = accepted(d.socket());
    raw_client b = accepted(d.socket());

    raw_client refused(d.socket());
    CHECK(next(refused) == response(0, "517 limit: connections per uid (2)\n"));
    CHECK(refused.wait_closed(due));

    b.close();
    CHECK(wait_until([&] { return connections_seen_by_daemon(a) == 1; }, due));
    raw_client fresh = accepted(d.socket());
    fresh.send(packet_type::request, 1, "echo welcome");
    CHECK(next(fresh) == response(1, "200 OK\nwelcome"));
}

// --- Sizes --------------------------------------------------------------------------------

TEST_CASE("payload limit: a header with a longer length gets 517 on its id and the connection "
          "is closed, a payload at the limit passes",
          "[daemon][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-payload", "1000"});
    raw_client provider = provider_of(d.socket(), "svc");
    raw_client client(d.socket());

    // Exactly at the limit: fine, both ways.
    const std::string at_limit = "svc " + std::string(996, 'x');
    client.send(packet_type::request, 1, at_limit);
    const packet req = provider.recv(due);
    CHECK(req.payload == at_limit);
    const std::string answer = "200 OK\n" + std::string(993, 'y');
    provider.send(packet_type::response, req.id(), answer);
    CHECK(next(client) == response(1, answer));

    // One byte over, from a client: judged on the header alone.
    raw_client over(d.socket());
    over.send_raw(header_only(1001, 77));
    CHECK(next(over) == response(77, "517 limit: payload size 1001 over 1000\n"));
    CHECK(over.wait_closed(due));

    // One byte over, from the provider of an open session: its client gets 515.
    provider.send(packet_type::response, req.id(), "200 OK\n" + std::string(994, 'z'));
    CHECK(next(provider) == response(req.id(), "517 limit: payload size 1001 over 1000\n"));
    CHECK(provider.wait_closed(due));
    CHECK(next(client) == response(1, "515 peer down\n"));
    expect_nothing_queued(client);
}

TEST_CASE("message limit: chunked (312) messages count per session and direction, up to the "
          "limit they pass, over it both sides get 517",
          "[daemon][limits]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-message", "65535"});
    raw_client provider = provider_of(d.socket(), "svc");
    raw_client client(d.socket());
    // Two chunks of 40000 + 25535 payload bytes are exactly the limit; 40000 + 25536 is over.
    const std::string first = "312 HAS MORE\n" + std::string(40000 - 13, 'a');
    const std::string last_fits = "200 OK\n" + std::string(25535 - 7, 'b');
    const std::string last_over = "200 OK\n" + std::string(25536 - 7, 'c');
    REQUIRE(first.size() == 40000);

    // One packet through the session, checked on arrival: RESPONSE down to the
    // client, UPDATE up to the provider.
    std::uint32_t y = 0;
    auto down = [&](const std::string& payload) {
        provider.send(packet_type::response, y, payload);
        CHECK(next(client) == response(1, payload));
    };
    auto up = [&](const std::string& payload) {
        client.send(packet_type::update, 1, payload);
        CHECK(next(provider) == update(y, payload));
    };

    SECTION("a RESPONSE message") {
        y = open_session(client, 1, "svc down", provider);
        for (int message = 0; message < 2; ++message) {  // the count starts again for each message
            INFO("message " << message);
            down(first);
            up("302 MORE\n");
            down(last_fits);
        }
        down(first);
        up("302 MORE\n");
        provider.send(packet_type::response, y, last_over);
        CHECK(next(client) == response(1, "517 limit: message size\n"));
        CHECK(next(provider) == update(y, "517 limit: message size\n"));
        client.send(packet_type::update, 1, "200\n");
        CHECK(next(client) == response(1, "102 no such session\n"));
    }
    SECTION("an UPDATE message") {
        y = open_session(client, 1, "svc up", provider);
        for (int message = 0; message < 2; ++message) {
            INFO("message " << message);
            up(first);
            down("302 MORE\n");
            up(last_fits);
        }
        up(first);
        down("302 MORE\n");
        client.send(packet_type::update, 1, last_over);
        CHECK(next(client) == response(1, "517 limit: message size\n"));
        CHECK(next(provider) == update(y, "517 limit: message size\n"));
        provider.send(packet_type::response, y, "200 OK\n");
        CHECK(next(provider) == update(y, "102 no such session\n"));
    }
    SECTION("both directions of one session count separately") {
        y = open_session(client, 1, "svc both", provider);
        down(first);
        up(first);
        down(last_fits);
        up(last_fits);
    }
    expect_nothing_queued(client);
    expect_nothing_queued(provider);
}

// --- Slow readers ------------------------------------------------------------------------------

TEST_CASE("slow reader: a client that never reads while its provider floods it is closed, the "
          "provider gets 515, the daemon's memory stays bounded, others are served",
          "[daemon][limits][slow-reader]") {
    constexpr long max_queued = 1 << 20;
    temp_dir dir;
    daemon_process d(dir, {"--max-queued-bytes", std::to_string(max_queued)});
    raw_client provider = provider_of(d.socket(), "svc");
    set_send_timeout(provider, due);  // if the daemon stopped reading the provider, fail, don't hang
    raw_client other(d.socket());
    const std::uint32_t other_y = open_session(other, 1, "svc other", provider);
    raw_client sleeper(d.socket());
    const std::uint32_t sleeper_y = open_session(sleeper, 1, "svc sleeper", provider);

    const long baseline = d.rss_kib();
    REQUIRE(baseline > 0);
    long peak = baseline;
    const std::string chunk = "200 OK\n" + std::string(60000, 'f');
    bool peer_down = false;
    int sent = 0;
    const auto deadline = steady::now() + std::chrono::seconds(5);
    // 400 chunks are 24 MB: far beyond what the daemon may hold for one connection.
    while (!peer_down && sent < 400 && steady::now() < deadline) {
        provider.send(packet_type::response, sleeper_y, chunk);
        ++sent;
        peak = std::max(peak, d.rss_kib());
        while (auto p = provider.try_recv(poll_now)) {
            INFO("provider got " << as_hex(*p).substr(0, 80));
            if (p->type() == 4 && p->id() == sleeper_y && p->code() == 515) {
                CHECK(p->payload == "515 peer down\n");
                peer_down = true;
            } else {
                // After the close, further chunks for the session are answered 102.
                CHECK(p->type() == 4);
                CHECK(p->code() == 102);
            }
        }
    }
    INFO("chunks sent: " << sent << ", RSS baseline " << baseline << " KiB, peak " << peak << " KiB");
    CHECK(peer_down);
    CHECK(sent * 60000L > max_queued);
    CHECK(peak - baseline < 4 * max_queued / 1024);
    CHECK(sleeper.wait_closed(due));
    CHECK(wait_until([&] { return d.log().find("slow reader") != std::string::npos; }, due));
    // Chunks sent after the close but before the 515 was seen are answered 102, and those
    // answers may still be on their way: read them up to an echo barrier, which the daemon
    // answers after them (it answers a connection's packets in order).
    constexpr std::uint32_t barrier = 0x7d000000;
    provider.send(packet_type::request, barrier, "echo barrier");
    for (int i = 0;; ++i) {
        REQUIRE(i <= sent);
        const packet p = provider.recv(due);
        if (p.id() == barrier) {
            CHECK(as_hex(p) == response(barrier, "200 OK\nbarrier"));
            break;
        }
        CHECK(as_hex(p) == update(sleeper_y, "102 no such session\n"));
    }
    provider.send(packet_type::update, barrier, "103\n");

    // The provider and its other client carry on.
    provider.send(packet_type::response, other_y, "200 OK\nserved");
    CHECK(next(other) == response(1, "200 OK\nserved"));
    raw_client late(d.socket());
    late.send(packet_type::request, 1, "svc late");
    const packet req = provider.recv(due);
    CHECK(req.payload == "svc late");
    provider.send(packet_type::response, req.id(), "200 OK\nwelcome");
    CHECK(next(late) == response(1, "200 OK\nwelcome"));
    CHECK(d.process().running());
}

TEST_CASE("slow reader: a provider that never reads while a client floods it with UPDATEs is "
          "closed, the client gets 515",
          "[daemon][limits][slow-reader]") {
    constexpr long max_queued = 1 << 20;
    temp_dir dir;
    daemon_process d(dir, {"--max-queued-bytes", std::to_string(max_queued)});
    raw_client provider = provider_of(d.socket(), "svc");
    raw_client client(d.socket());
    set_send_timeout(client, due);
    client.send(packet_type::request, 1, "svc flood");
    REQUIRE(provider.recv(due).type() == 2);  // from now on the provider reads nothing

    const long baseline = d.rss_kib();
    long peak = baseline;
    const std::string chunk = "200\n" + std::string(60000, 'u');
    std::optional<packet> answer;
    int sent = 0;
    const auto deadline = steady::now() + std::chrono::seconds(5);
    while (!answer && sent < 400 && steady::now() < deadline) {
        client.send(packet_type::update, 1, chunk);
        ++sent;
        peak = std::max(peak, d.rss_kib());
        answer = client.try_recv(poll_now);
    }
    INFO("chunks sent: " << sent << ", RSS baseline " << baseline << " KiB, peak " << peak << " KiB");
    REQUIRE(answer);
    CHECK(as_hex(*answer) == response(1, "515 peer down\n"));
    CHECK(peak - baseline < 4 * max_queued / 1024);
    CHECK(provider.wait_closed(due));

    // UPDATEs still on the wire when the session ended are answered 102, nothing else comes.
    client.send(packet_type::request, 2, "echo barrier");
    for (int i = 0; i < 400; ++i) {
        const std::string p = next(client);
        if (p == response(2, "200 OK\nbarrier")) break;
        CHECK(p == response(1, "102 no such session\n"));
    }
}

TEST_CASE("slow reader: a client flooding echo UPDATEs without reading is closed, others are "
          "unaffected and the daemon's memory stays bounded",
          "[daemon][limits][slow-reader]") {
    constexpr long max_queued = 1 << 20;
    temp_dir dir;
    daemon_process d(dir, {"--max-queued-bytes", std::to_string(max_queued)});
    raw_client other(d.socket());
    other.send(packet_type::request, 1, "echo other");
    CHECK(next(other) == response(1, "200 OK\nother"));
    raw_client flooder(d.socket());
    set_send_timeout(flooder, due);
    flooder.send(packet_type::request, 1, "echo");

    const long baseline = d.rss_kib();
    long peak = baseline;
    const std::string chunk = "200\n" + std::string(60000, 'e');
    int sent = 0;
    std::string send_error;
    const auto deadline = steady::now() + std::chrono::seconds(5);
    while (send_error.empty() && sent < 400 && steady::now() < deadline) {
        try {
            flooder.send(packet_type::update, 1, chunk);
            ++sent;
        } catch (const std::runtime_error& e) {
            send_error = e.what();
        }
        peak = std::max(peak, d.rss_kib());
    }
    INFO("chunks sent: " << sent << ", send error: " << send_error << ", RSS baseline " << baseline
                         << " KiB, peak " << peak << " KiB");
    CHECK(sent * 60000L > max_queued);
    CHECK(flooder.wait_closed(due));
    CHECK(peak - baseline < 4 * max_queued / 1024);

    other.send(packet_type::update, 1, "200\nstill echoing");
    CHECK(next(other) == response(1, "200 OK\nstill echoing"));
    raw_client late(d.socket());
    late.send(packet_type::request, 1, "echo late");
    CHECK(next(late) == response(1, "200 OK\nlate"));
}

TEST_CASE("back-pressure under the bound: a provider that stops reading for a while gets every "
          "queued UPDATE, in order, once it reads again",
          "[daemon][limits][slow-reader]") {
    // 3 MiB queued for the provider: far over what its socket buffer takes, so
    // the daemon writes part, waits to be writable and writes the rest
    // (daemon/server.cpp, flush), under the default 8 MiB bound.
    temp_dir dir;
    daemon_process d(dir);
    raw_client provider = provider_of(d.socket(), "svc");
    raw_client client(d.socket());
    set_send_timeout(client, due);
    const std::uint32_t provider_id = open_session(client, 1, "svc burst", provider);

    constexpr int updates = 96;
    const auto body = [](int i) { return "300\n" + std::to_string(i) + ":" + std::string(32 * 1024, 'b'); };
    for (int i = 0; i < updates; ++i) client.send(packet_type::update, 1, body(i));
    // Everything is in the daemon or in its queue for the provider: a client
    // REQUEST to echo comes back, so the daemon has read past the burst.
    CHECK(client.request(2, "echo barrier").content() == "barrier");

    for (int i = 0; i < updates; ++i) {
        const packet p = provider.recv(due);
        REQUIRE(p.type() == static_cast<int>(packet_type::update));
        REQUIRE(p.id() == provider_id);
        REQUIRE(p.payload == body(i));
    }
    CHECK_FALSE(provider.try_recv(poll_now));
    // Both ends are still served.
    provider.send(packet_type::response, provider_id, "103 done\n");
    CHECK(client.recv(due).payload == "103 done\n");
}
