// Socket activation end to end, with systemd's own launcher
// (/usr/bin/systemd-socket-activate, package systemd) in systemd's place: it
// binds the socket, waits for the first connection, then execs junctiond with
// the listening fd (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES). junctiond must
// serve on that fd and leave the socket file alone: it neither creates one at
// its --socket path nor removes the activated one when it exits.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "harness.hpp"

using namespace junction::test;

namespace {

constexpr const char* activate = "/usr/bin/systemd-socket-activate";

bool is_socket(const std::string& path) {
    struct stat st{};
    return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

bool exists(const std::string& path) {
    struct stat st{};
    return ::lstat(path.c_str(), &st) == 0;
}

// Connects once the launcher listens (its socket file appears at bind(), a
// moment before listen()); nullopt if the launcher exits or the deadline passes.
std::optional<raw_client> connect_when_listening(const std::string& path, child_process& launcher) {
    std::optional<raw_client> c;
    wait_until([&] {
        if (!launcher.running()) return true;
        try {
            c.emplace(path);
            return true;
        } catch (const std::runtime_error&) {
            return false;
        }
    });
    return c;
}

bool file_contains(const std::string& path, std::string_view needle) {
    const run_result r = run_command({"cat", path});
    return r.out.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("socket-activated: junctiond serves echo on the passed fd and creates/removes no socket file",
          "[systemd][activation]") {
    if (::access(activate, X_OK) != 0) {
        WARN("skipped: " << activate << " not installed (package systemd)");
        return;
    }
    temp_dir dir;
    const std::string activated = dir.file("activated.sock");
    const std::string own = dir.file("own.sock");  // --socket: must stay unused
    const std::string log = dir.file("log");
    child_process d({activate, "--listen=" + activated, "--fdname=junction", JUNCTIOND_PATH,
                     "--socket", own, "--log-level", "debug"},
                    log);
    // The first connection makes the launcher exec junctiond; it waits in the backlog.
    auto c = connect_when_listening(activated, d);
    REQUIRE(c);
    const auto p = c->request(1001, "echo hi there");
    CHECK(p.code() == 200);
    CHECK(p.content() == "hi there");
    CHECK(wait_until([&] { return file_contains(log, "socket-activated"); }));
    CHECK_FALSE(exists(own));

    d.signal(SIGTERM);
    CHECK(d.wait_exit() == 0);
    CHECK(is_socket(activated));  // still there: it is systemd's, not junctiond's
    CHECK_FALSE(exists(own));
}

TEST_CASE("socket-activated with two fds (searpc, junction): junctiond serves the protocol on the one named junction",
          "[systemd][activation]") {
    if (::access(activate, X_OK) != 0) {
        WARN("skipped: " << activate << " not installed (package systemd)");
        return;
    }
    temp_dir dir;
    const std::string other = dir.file("searpc.sock");
    const std::string main_sock = dir.file("main.sock");
    child_process d({activate, "--listen=" + other, "--listen=" + main_sock,
                     "--fdname=searpc:junction", JUNCTIOND_PATH, "--socket", dir.file("own.sock")},
                    dir.file("log"));
    auto c = connect_when_listening(main_sock, d);
    REQUIRE(c);
    CHECK(c->request(7, "echo picked").content() == "picked");
    d.signal(SIGTERM);
    CHECK(d.wait_exit() == 0);
    CHECK(is_socket(main_sock));
}

TEST_CASE("socket-activated: a connect to systemd's socket during a lingering shutdown does not "
          "make the loop spin",
          "[systemd][activation][shutdown]") {
    // systemd keeps its own copy of the listening socket. This test plays
    // systemd (unlike systemd-socket-activate above, it keeps the socket open):
    // junctiond must take the socket out of its epoll set at shutdown, or a
    // connect waiting in the backlog keeps it readable for the whole shutdown.
    temp_dir dir;
    const std::string path = dir.file("activated.sock");
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);  // inherited: no CLOEXEC
    REQUIRE(listener >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 64) == 0);
    // The shell moves it to fd 3 and execs junctiond under its own pid (LISTEN_PID=$$).
    const std::string log = dir.file("log");
    child_process d({"/bin/sh", "-c",
                     "exec 3<&" + std::to_string(listener) +
                         "; LISTEN_FDS=1 LISTEN_FDNAMES=junction LISTEN_PID=$$ exec '" + JUNCTIOND_PATH +
                         "' --socket '" + dir.file("own.sock") + "' --shutdown-timeout-ms 3000"},
                    log);
    // A client that never reads: its answers (60 × 30 kB) make shutdown linger.
    raw_client hoarder(path);
    const std::string line = "echo " + std::string(30000, 'a');
    for (std::uint32_t id = 1; id <= 60; ++id) hoarder.send(junction::proto::packet_type::request, id, line);
    REQUIRE(wait_until([&] { return file_contains(log, "conn 1 open"); }));

    d.signal(SIGTERM);
    REQUIRE(wait_until([&] { return file_contains(log, "shutting down"); }));
    raw_client late(path);  // waits in the backlog of the socket the test still holds
    const long before = cpu_ticks(d.pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long used = cpu_ticks(d.pid()) - before;
    INFO("junctiond CPU ticks in 500 ms of shutdown: " << used << " (" << ::sysconf(_SC_CLK_TCK) << " per second)");
    CHECK(used < ::sysconf(_SC_CLK_TCK) / 10);  // under 100 ms of CPU in 500 ms
    CHECK(d.wait_exit(std::chrono::milliseconds(10000)) == 0);
    ::close(listener);
}
