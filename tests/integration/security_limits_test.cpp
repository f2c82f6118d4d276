// The socket file, per-uid limits and slow-peer timeouts, end to end (docs/security.md).
//
// Flow of a test: start junctiond with the option under test, connect as root
// and, where two users matter, as uid 65534 (security_identity.hpp), and wait
// with deadlines for what the daemon must do (answer, refuse, close, reap) or
// must not do (close within a window). The tests that need a second uid are
// skipped with a warning unless run as root.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <fstream>
#include <sys/socket.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.hpp"
#include "security_identity.hpp"
#include "security_support.hpp"

using namespace junction::test;
using namespace junction::test::security;
using junction::proto::packet_type;

namespace {

// True if the connection is served: an echo comes back.
bool served(raw_client& c, std::uint32_t id) {
    const packet p = c.request(id, "echo ping", due);
    if (p.code() != 200) return false;
    c.send(packet_type::update, id, "103\n");
    return true;
}

// A service name the default policy lets this process provide, root or not.
std::string own_name(const std::string& what) {
    return "user." + std::to_string(::geteuid()) + "." + what;
}

unsigned mode_of(const std::string& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    return st.st_mode & 07777;
}

}  // namespace

// --- The socket file ------------------------------------------------------------------------

TEST_CASE("the socket file gets the configured mode and a 0600 socket shuts out other uids", "[security][socket]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    other_user nobody_user(nobody);

    daemon_process open_d(dir, {"--socket-mode", "0666"}, "open.sock");
    CHECK(mode_of(open_d.socket()) == 0666);
    CHECK(nobody_user.try_connect(open_d.socket()) == 0);

    daemon_process closed_d(dir, {"--socket-mode", "0600"}, "closed.sock");
    CHECK(mode_of(closed_d.socket()) == 0600);
    CHECK(nobody_user.try_connect(closed_d.socket()) == EACCES);
    raw_client root(closed_d.socket());
    CHECK(served(root, 1));

    daemon_process default_d(dir, {}, "default.sock");
    CHECK(mode_of(default_d.socket()) == 0660);
}

TEST_CASE("a symlink planted at the socket path is refused and not followed", "[security][socket]") {
    temp_dir dir;
    const std::string victim = dir.file("victim");
    {
        std::ofstream(victim) << "precious\n";
    }
    ::chmod(victim.c_str(), 0600);
    const std::string missing = dir.file("missing");

    for (const std::string& target : {victim, missing}) {
        INFO("symlink to " << target);
        const std::string link = dir.file("junction.sock");
        ::unlink(link.c_str());
        REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
        const std::string log = target + ".daemon.log";
        child_process daemon({JUNCTIOND_PATH, "--socket", link, "--socket-mode", "0666"}, log);
        const auto status = daemon.wait_exit(due);
        REQUIRE(status);
        CHECK(*status != 0);
        std::ifstream in(log);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(text.find("exists and is not a socket") != std::string::npos);

        // The link is still there, untouched; nothing was created or changed at its target.
        struct stat st{};
        REQUIRE(::lstat(link.c_str(), &st) == 0);
        CHECK(S_ISLNK(st.st_mode));
        CHECK(::lstat(missing.c_str(), &st) != 0);
        REQUIRE(::stat(victim.c_str(), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK((st.st_mode & 07777) == 0600);
        std::ifstream v(victim);
        std::string content;
        std::getline(v, content);
        CHECK(content == "precious");
    }
}

// --- Per-uid limits ---------------------------------------------------------------------------

TEST_CASE("max-connections-per-uid refuses the uid at its limit and not another uid", "[security][limits]") {
    SECURITY_TEST_NEEDS_ROOT();
    temp_dir dir;
    daemon_process d(dir, open_socket({"--max-connections-per-uid", "2"}));
    other_user nobody_user(nobody);

    raw_client n1 = nobody_user.client(d.socket());
    raw_client n2 = nobody_user.client(d.socket());
    CHECK(served(n1, 1));
    CHECK(served(n2, 1));

    raw_client n3 = nobody_user.client(d.socket());
    const packet refused = n3.recv(due);
    CHECK(refused.type() == response_type);
    CHECK(refused.id() == 0);
    CHECK(refused.payload == "517 limit: connections per uid (2)\n");
    CHECK(n3.wait_closed(due));

    // root has its own count.
    raw_client r1(d.socket());
    raw_client r2(d.socket());
    CHECK(served(r1, 1));
    CHECK(served(r2, 1));

    // The refusal is logged with the peer's credentials.
    CHECK(wait_until([&] {
        return d.log().find("refused connection (pid " + std::to_string(nobody_user.pid()) +
                            " uid 65534): limit: connections per uid (2)") != std::string::npos;
    }, due));

    // A slot freed by uid 65534 is usable by uid 65534 again.
    n1.close();
    bool admitted = false;
    const auto deadline = clock::now() + due;
    for (std::uint32_t id = 10; !admitted && clock::now() < deadline; ++id) {
        raw_client again = nobody_user.client(d.socket());
        try {
            admitted = served(again, id);
        } catch (const std::runtime_error&) {
            // refused (the daemon had not yet seen n1 go): try again
        }
    }
    CHECK(admitted);
}

// A per-uid limit set to 2, with two connections of uid 65534 and one of root.
// fill() makes each uid reach it on its own count: `line(1..2)` are accepted,
// `line(3)` is refused with `517 <refusal>`.
struct per_uid_limit {
    explicit per_uid_limit(const std::string& option)
        : d(dir, open_socket({option, "2"})),
          a(nobody_user.client(d.socket())),
          b(nobody_user.client(d.socket())),
          root(d.socket()) {}

    using line_of = std::function<std::string(int)>;
    void fill(const line_of& nobody_line, const line_of& root_line, const std::string& refusal) {
        CHECK(a.request(1, nobody_line(1), due).code() == 200);
        CHECK(b.request(1, nobody_line(2), due).code() == 200);
        const packet refused = a.request(2, nobody_line(3), due);
        CHECK(refused.code() == 517);
        CHECK(refused.message() == refusal);
        // root has a count of its own: two, then its own refusal.
        CHECK(root.request(1, root_line(1), due).code() == 200);
        CHECK(root.request(2, root_line(2), due).code() == 200);
        CHECK(root.request(3, root_line(3), due).code() == 517);
    }

    temp_dir dir;
    daemon_process d;
    other_user nobody_user{nobody};
    raw_client a, b, root;
};

TEST_CASE("max-sessions-per-uid counts all connections of that uid and not other uids", "[security][limits]") {
    SECURITY_TEST_NEEDS_ROOT();
    per_uid_limit t("--max-sessions-per-uid");
    const auto echo = [](int) { return std::string("echo"); };
    t.fill(echo, echo, "limit: sessions per uid (2)");

    // Ending a session gives the uid room again. The 102 for an unknown id proves
    // the daemon has handled the 103 before it (one connection is handled in order).
    t.a.send(packet_type::update, 1, "103\n");
    t.a.send(packet_type::update, 99, "200\n");
    const packet barrier = t.a.recv(due);
    CHECK(barrier.id() == 99);
    CHECK(barrier.code() == 102);
    CHECK(t.b.request(2, "echo", due).code() == 200);
}

TEST_CASE("max-services-per-uid counts all connections of that uid and not other uids", "[security][limits]") {
    SECURITY_TEST_NEEDS_ROOT();
    per_uid_limit t("--max-services-per-uid");
    t.fill([](int i) { return "register-service user.65534.n" + std::to_string(i); },
           [](int i) { return "register-service root.n" + std::to_string(i); },
           "limit: services per uid (2)");
    // A provider going away gives its uid room again.
    t.b.close();
    CHECK(wait_until([&] { return t.a.request(3, "register-service user.65534.n3", due).code() == 200; },
                     due));
}

// --- Slow peers (slowloris) -------------------------------------------------------------------

TEST_CASE("first-packet-timeout-ms closes a connection that never sends a whole packet", "[security][timeouts]") {
    temp_dir dir;
    daemon_process d(dir, open_socket({"--first-packet-timeout-ms", "200"}));
    raw_client silent(d.socket());
    raw_client partial(d.socket());
    partial.send_raw(std::string("\x01\x02\x00", 3));
    raw_client talker(d.socket());
    CHECK(talker.request(1, "echo hi", due).code() == 200);

    CHECK(silent.wait_closed(due));
    CHECK(partial.wait_closed(due));
    // The one that sent a whole packet stays, well past the timeout.
    CHECK_FALSE(talker.try_recv(std::chrono::milliseconds(600)));
    CHECK(talker.request(2, "echo again", due).code() == 200);
    CHECK(wait_until([&] { return d.log().find("first-packet timeout") != std::string::npos; }, due));
}

TEST_CASE("partial-packet-timeout-ms closes a half-sent header but not complete packets sent slowly", "[security][timeouts]") {
    temp_dir dir;
    daemon_process d(dir, open_socket({"--partial-packet-timeout-ms", "200"}));
    raw_client half(d.socket());
    raw_client slow(d.socket());
    REQUIRE(half.request(1, "echo first", due).code() == 200);
    half.send_raw(std::string("\x01\x02\x00\x05", 4));  // half a header, then nothing

    // `slow` sends one whole packet at a time with pauses of 150 ms: about 1 s in
    // all, five times the timeout, and never a packet left incomplete.
    for (std::uint32_t id = 1; id <= 6; ++id) {
        CHECK(slow.request(id, "echo tick", due).code() == 200);
        CHECK_FALSE(slow.try_recv(std::chrono::milliseconds(150)));  // throws if closed
    }
    CHECK(half.wait_closed(due));
    CHECK(slow.request(7, "echo still here", due).code() == 200);
    CHECK(wait_until([&] { return d.log().find("partial-packet timeout") != std::string::npos; }, due));
}

TEST_CASE("partial-packet-timeout-ms closes a connection that trickles one packet a byte at a time", "[security][timeouts]") {
    temp_dir dir;
    daemon_process d(dir, open_socket({"--partial-packet-timeout-ms", "200"}));
    raw_client trickle(d.socket());
    REQUIRE(trickle.request(1, "echo first", due).code() == 200);

    // A 1000-byte REQUEST, one byte every ~50 ms: bytes keep coming, the packet
    // never completes. The clock runs from the packet's first byte, so the
    // connection is closed about 200 ms in, not 50 s later.
    const std::string slow = encode(packet_type::request, 2, "echo " + std::string(995, 'x'));
    const auto start = clock::now();
    bool closed = false;
    for (std::size_t i = 0; i < slow.size() && !closed && clock::now() - start < std::chrono::seconds(5); ++i) {
        try {
            trickle.send_raw(slow.substr(i, 1));
            if (trickle.try_recv(std::chrono::milliseconds(50))) FAIL("unexpected packet");
        } catch (const std::runtime_error&) {
            closed = true;  // send failed or end of stream: the daemon closed it
        }
    }
    CHECK(closed);
    CHECK(clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("partial-packet-timeout-ms also closes a searpc gateway client that leaves a request incomplete",
          "[security][timeouts][searpc]") {
    // Regression: the gateway branch of the read loop never started the partial
    // clock, so after one complete request a gateway client could hold a request
    // of up to max-message bytes (16 MiB) open forever, on each of its
    // max-connections-per-uid connections.
    temp_dir dir;
    const std::string gateway = dir.file("searpc.sock");
    daemon_process d(dir, open_socket({"--searpc-socket", gateway, "--partial-packet-timeout-ms", "200"}));
    raw_client c(gateway);
    const std::string body = R"({"service":"nosuch","request":"[\"f\"]"})";
    std::string request(4, '\0');
    const auto len = static_cast<std::uint32_t>(body.size());
    std::memcpy(request.data(), &len, 4);
    c.send_raw(request + body);
    // The answer (err_code 501) proves the first request was complete and handled.
    REQUIRE(wait_until([&] {
        char buf[256];
        return ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT) > 0;
    }, due));

    // Then 10 bytes of a request announced as 1000 bytes long, and nothing more.
    std::string partial(4, '\0');
    const std::uint32_t big = 1000;
    std::memcpy(partial.data(), &big, 4);
    c.send_raw(partial + "{\"service\"");
    CHECK(wait_until([&] {
        char buf[256];
        return ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT) == 0;  // end of stream: closed
    }, due));
}

TEST_CASE("session-idle-timeout-ms reaps an idle session with 514 to both sides", "[security][timeouts]") {
    temp_dir dir;
    daemon_process d(dir, open_socket({"--session-idle-timeout-ms", "300"}));
    raw_client client(d.socket());
    raw_client provider(d.socket());
    const std::string svc = own_name("idle");
    provider.register_service(svc);

    const std::uint32_t y = accepted_call(client, 7, svc, provider);

    // Nobody says anything: both sides are told 514.
    const packet to_client = client.recv(due);
    CHECK(to_client.type() == response_type);
    CHECK(to_client.id() == 7);
    CHECK(to_client.payload == "514 session idle timeout\n");
    const packet to_provider = provider.recv(due);
    CHECK(to_provider.type() == update_type);
    CHECK(to_provider.id() == y);
    CHECK(to_provider.payload == "514 session idle timeout\n");

    // The session is gone; the connections and the registration are not.
    client.send(packet_type::update, 7, "200\nlate");
    CHECK(client.recv(due).payload == "102 no such session\n");
    client.send(packet_type::request, 8, svc);
    CHECK(next_request(provider).payload == svc);
}

TEST_CASE("session-idle-timeout-ms leaves a session with steady traffic alone", "[security][timeouts]") {
    temp_dir dir;
    daemon_process d(dir, open_socket({"--session-idle-timeout-ms", "300"}));
    raw_client client(d.socket());
    raw_client provider(d.socket());
    const std::string svc = own_name("busy");
    provider.register_service(svc);
    const std::uint32_t y = accepted_call(client, 1, svc, provider);

    // An UPDATE every ~100 ms for about 1.2 s, each answered: never idle for 300 ms.
    for (int i = 0; i < 12; ++i) {
        client.send(packet_type::update, 1, "200\nping");
        const packet up = provider.recv(due);
        REQUIRE(up.type() == update_type);
        REQUIRE(up.payload == "200\nping");
        provider.send(packet_type::response, y, "200\npong");
        REQUIRE(client.recv(due).payload == "200\npong");
        CHECK_FALSE(client.try_recv(std::chrono::milliseconds(100)));
    }
}
