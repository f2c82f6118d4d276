// junctiond under Type=notify: what it tells systemd through $NOTIFY_SOCKET.
// The test plays systemd: a datagram socket in a temp dir receives the
// sd_notify(3) messages (one datagram each, "KEY=VALUE" lines).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.hpp"

using namespace junction::test;

namespace {

class notify_socket {
public:
    explicit notify_socket(std::string path) : path_(std::move(path)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("notify socket " + path_ + ": " + std::strerror(errno));
    }
    ~notify_socket() { ::close(fd_); }
    notify_socket(const notify_socket&) = delete;
    notify_socket& operator=(const notify_socket&) = delete;

    std::string env() const { return "NOTIFY_SOCKET=" + path_; }

    // The next message, or nullopt at the deadline.
    std::optional<std::string> next(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) return std::nullopt;
        std::string msg(buf, static_cast<std::size_t>(n));
        seen.push_back(msg);
        return msg;
    }

    // Receives until a message contains `needle` (returned) or the deadline passes.
    std::optional<std::string> wait_for(std::string_view needle,
                                        std::chrono::milliseconds timeout = default_timeout) {
        const auto deadline = clock::now() + timeout;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (left.count() <= 0) return std::nullopt;
            auto msg = next(left);
            if (!msg) return std::nullopt;
            if (msg->find(needle) != std::string::npos) return msg;
        }
    }

    std::vector<std::string> seen;

private:
    std::string path_;
    int fd_ = -1;
};

std::vector<std::string> junctiond_argv(const std::string& socket) {
    return {JUNCTIOND_PATH, "--socket", socket, "--log-level", "debug"};
}

}  // namespace

TEST_CASE("READY=1 is sent once the socket accepts, STATUS= reports counts, STOPPING=1 on SIGTERM",
          "[systemd][notify]") {
    temp_dir dir;
    notify_socket notify(dir.file("notify"));
    const std::string sock = dir.file("junction.sock");
    child_process d(junctiond_argv(sock), dir.file("log"), {notify.env(), "WATCHDOG_USEC"});

    REQUIRE(notify.wait_for("READY=1"));
    // At READY=1 the socket is listening: a connect succeeds straight away.
    CHECK(socket_accepts(sock));
    const auto ready_status = notify.wait_for("STATUS=");
    REQUIRE(ready_status);
    CHECK(*ready_status == "STATUS=Listening on " + sock + ": 0 connections, 0 sessions, 0 services");

    // The periodic STATUS= (every 5 s when something changed) follows the counts.
    raw_client provider = provider_of(sock, "hello");
    const auto status = notify.wait_for("1 service", 10s);
    REQUIRE(status);
    CHECK(status->find("STATUS=Listening on " + sock + ": 1 connection, ") == 0);

    d.signal(SIGTERM);
    CHECK(notify.wait_for("STOPPING=1"));
    CHECK(d.wait_exit() == 0);
    // No watchdog was asked for, so none was sent; READY=1 came exactly once.
    for (const auto& m : notify.seen) CHECK(m.find("WATCHDOG=1") == std::string::npos);
    CHECK(std::count(notify.seen.begin(), notify.seen.end(), "READY=1") == 1);
}

TEST_CASE("WATCHDOG_USEC=200000: WATCHDOG=1 pings keep coming, about every 100 ms",
          "[systemd][notify][watchdog]") {
    temp_dir dir;
    notify_socket notify(dir.file("notify"));
    child_process d(junctiond_argv(dir.file("junction.sock")), dir.file("log"),
                    {notify.env(), "WATCHDOG_USEC=200000"});
    REQUIRE(notify.wait_for("READY=1"));

    std::vector<clock::time_point> pings;
    const auto deadline = clock::now() + 5s;
    while (pings.size() < 6 && clock::now() < deadline) {
        if (notify.wait_for("WATCHDOG=1", 1s)) pings.push_back(clock::now());
    }
    REQUIRE(pings.size() == 6);
    // Periodic, not a burst: 5 intervals of ~100 ms (half the watchdog period).
    CHECK(pings.back() - pings.front() >= 350ms);
    // And the daemon still serves while pinging.
    raw_client c(dir.file("junction.sock"));
    CHECK(c.request(1, "echo alive").code() == 200);
    d.signal(SIGTERM);
    CHECK(d.wait_exit() == 0);
}

TEST_CASE("SIGHUP: RELOADING=1 then READY=1, connections kept, and the same for a rejected config",
          "[systemd][notify][reload]") {
    temp_dir dir;
    notify_socket notify(dir.file("notify"));
    const std::string sock = dir.file("junction.sock");
    const std::string conf = dir.file("junctiond.conf");
    auto write_conf = [&](const std::string& text) {
        FILE* f = std::fopen(conf.c_str(), "w");
        REQUIRE(f);
        std::fputs(text.c_str(), f);
        std::fclose(f);
    };
    write_conf("max-sessions-per-connection = 100\n");
    auto argv = junctiond_argv(sock);
    argv.insert(argv.end(), {"--config", conf});
    child_process d(argv, dir.file("log"), {notify.env(), "WATCHDOG_USEC"});
    REQUIRE(notify.wait_for("READY=1"));
    raw_client c(sock);
    CHECK(c.request(1, "echo before").content() == "before");

    write_conf("max-sessions-per-connection = 1\n");
    d.signal(SIGHUP);
    const auto reloading = notify.wait_for("RELOADING=1");
    REQUIRE(reloading);
    CHECK(reloading->find("MONOTONIC_USEC=") != std::string::npos);
    REQUIRE(notify.wait_for("READY=1"));
    // The connection survived and the new limit applies: session 1 (echo) is
    // still open, so a second one is refused.
    CHECK(c.request(2, "echo after").code() == 517);

    write_conf("max-sessions-per-connection = not-a-number\n");
    d.signal(SIGHUP);
    REQUIRE(notify.wait_for("RELOADING=1"));
    REQUIRE(notify.wait_for("READY=1"));
    CHECK(c.request(3, "echo still").code() == 517);  // the old (reloaded) config stays
    d.signal(SIGTERM);
    CHECK(d.wait_exit() == 0);
}
