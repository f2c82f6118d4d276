// The libsearpc named-pipe gateway (docs/protocol.md §10) in front of a library
// rpc::service: what the interop tests cannot drive from python3-searpc or C
// (pipelined requests, providers dying and coming back, call timeouts), with a
// minimal client of the named-pipe transport written here.
#include <csignal>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "rpc_support.hpp"

using namespace junction::test;
using namespace rpc_test;

namespace {

using steady = std::chrono::steady_clock;

// libsearpc's named-pipe transport: native-order u32 length + JSON, both ways.
class searpc_pipe {
public:
    explicit searpc_pipe(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
        REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0);
    }
    ~searpc_pipe() { ::close(fd_); }
    searpc_pipe(const searpc_pipe&) = delete;
    searpc_pipe& operator=(const searpc_pipe&) = delete;

    void send(const std::string& service, const json::array& call) {
        const std::string body =
            json::serialize(json::object{{"service", service}, {"request", json::serialize(call)}});
        const auto len = static_cast<std::uint32_t>(body.size());
        std::string frame(4, '\0');
        std::memcpy(frame.data(), &len, 4);
        frame += body;
        for (std::size_t at = 0; at < frame.size();) {  // bounded: every round writes bytes
            const ssize_t n = ::send(fd_, frame.data() + at, frame.size() - at, MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("searpc connection closed (send)");
            at += static_cast<std::size_t>(n);
        }
    }

    // The next reply as a JSON object; throws on timeout or end of stream.
    json::object recv(std::chrono::milliseconds timeout = 10s) {
        const auto until = steady::now() + timeout;
        const auto fill = [&](std::size_t want) {
            while (buf_.size() < want) {  // bounded by the deadline
                const auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
                if (left.count() <= 0) throw std::runtime_error("no searpc reply in time");
                pollfd p{fd_, POLLIN, 0};
                if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
                char chunk[65536];
                const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
                if (n <= 0) throw std::runtime_error("searpc connection closed");
                buf_.append(chunk, static_cast<std::size_t>(n));
            }
        };
        fill(4);
        std::uint32_t len = 0;
        std::memcpy(&len, buf_.data(), 4);
        fill(4 + std::size_t{len});
        const std::string body = buf_.substr(4, len);
        buf_.erase(0, 4 + std::size_t{len});
        return json::parse(body).as_object();
    }

    json::object call(const std::string& service, const json::array& c) {
        send(service, c);
        return recv();
    }

private:
    int fd_ = -1;
    std::string buf_;
};

struct gateway_daemon {
    explicit gateway_daemon(const temp_dir& dir, std::vector<std::string> extra = {})
        : searpc(dir.file("searpc.sock")), daemon(dir, with_gateway(searpc, std::move(extra))) {
        REQUIRE(wait_until([&] { return socket_accepts(searpc); }));
    }
    static std::vector<std::string> with_gateway(const std::string& path,
                                                 std::vector<std::string> extra) {
        extra.insert(extra.begin(), {"--searpc-socket", path});
        return extra;
    }
    std::string searpc;
    daemon_process daemon;
};

json::object ret(json::value v) {
    return json::object{{"ret", std::move(v)}};
}

}  // namespace

TEST_CASE("gateway: pipelined calls on one connection are answered in order", "[rpc][gateway]") {
    temp_dir dir;
    gateway_daemon g(dir);
    provider_thread provider(g.daemon.socket(), calc_service());
    searpc_pipe pipe(g.searpc);
    for (int i = 0; i < 20; ++i) pipe.send("calc", json::array{"slow_add", i, 100, (20 - i) % 4});
    pipe.send("calc", json::array{"fail"});
    pipe.send("nosuch", json::array{"f"});
    pipe.send("calc", json::array{"add", 2, 40});
    for (int i = 0; i < 20; ++i) CHECK(pipe.recv() == ret(i + 100));
    CHECK(pipe.recv() == json::object{{"err_code", 520}, {"err_msg", "boom"}});
    CHECK(pipe.recv() == json::object{{"err_code", 501}, {"err_msg", "unknown service nosuch"}});
    CHECK(pipe.recv() == ret(42));
}

TEST_CASE("gateway: a 1 MiB argument and a 6 MiB result", "[rpc][gateway][large]") {
    temp_dir dir;
    gateway_daemon g(dir);
    provider_thread provider(g.daemon.socket(), calc_service());
    searpc_pipe pipe(g.searpc);
    const std::string one_mib = big_string(1u << 20);
    CHECK(pipe.call("calc", json::array{"length", json::string(one_mib)}) == ret(one_mib.size()));
    const std::size_t six_mib = 6u << 20;
    CHECK(pipe.call("calc", json::array{"big", six_mib}) == ret(json::string(big_string(six_mib))));
}

// Regression (fixed in 25c401f): the reply was queued for the searpc client in
// one piece, and a piece over max-queued-bytes (8 MiB) tripped the slow-reader
// rule even on an empty queue, so results between 8 MiB and max-message closed
// the connection.
TEST_CASE("gateway: a 10 MiB result (under max-message, over max-queued-bytes) is delivered",
          "[rpc][gateway][large]") {
    temp_dir dir;
    gateway_daemon g(dir);
    provider_thread provider(g.daemon.socket(), calc_service());
    searpc_pipe pipe(g.searpc);
    const std::size_t ten_mib = 10u << 20;
    CHECK(pipe.call("calc", json::array{"big", ten_mib}) == ret(json::string(big_string(ten_mib))));
    CHECK(pipe.call("calc", json::array{"add", 2, 40}) == ret(42));
}

TEST_CASE(
    "gateway: provider killed mid-call is err_code 515, a restarted provider serves the same pipe",
    "[rpc][gateway][restart]") {
    temp_dir dir;
    gateway_daemon g(dir);
    searpc_pipe pipe(g.searpc);
    {
        forked_provider first(g.daemon.socket());
        CHECK(pipe.call("calc", json::array{"add", 1, 1}) == ret(2));
        pipe.send("calc", json::array{"sleep", 15000});
        REQUIRE(first.wait_for('S', 5s));
        const auto killed_at = steady::now();
        first.kill9();
        CHECK(pipe.recv(5s) == json::object{{"err_code", 515}, {"err_msg", "515 peer down"}});
        CHECK(steady::now() - killed_at < 2s);
    }
    CHECK(pipe.call("calc", json::array{"add", 1, 2}) ==
          json::object{{"err_code", 501}, {"err_msg", "unknown service calc"}});
    forked_provider second(g.daemon.socket());
    CHECK(pipe.call("calc", json::array{"add", 2, 40}) == ret(42));
}

TEST_CASE("gateway: a call over searpc-call-timeout-ms is err_code 514, the next call works",
          "[rpc][gateway][timeout]") {
    temp_dir dir;
    gateway_daemon g(dir, {"--searpc-call-timeout-ms", "300"});
    provider_thread provider(g.daemon.socket(), calc_service());
    searpc_pipe pipe(g.searpc);
    const auto start = steady::now();
    const auto r = pipe.call("calc", json::array{"sleep", 5000});
    CHECK(r.at("err_code") == 514);
    CHECK(steady::now() - start >= 300ms);
    // The daemon checks the timeout on its housekeeping tick (up to 1 s).
    CHECK(steady::now() - start < 3s);
    CHECK(pipe.call("calc", json::array{"add", 2, 40}) == ret(42));
}

TEST_CASE("gateway: a reload's searpc-call-timeout-ms applies to gateway connections already open",
          "[rpc][gateway][timeout][reload]") {
    temp_dir dir;
    const std::string conf = dir.file("junctiond.conf");
    write_file(conf, "searpc-call-timeout-ms = 60000\n");
    gateway_daemon g(dir, {"--config", conf});
    provider_thread provider(g.daemon.socket(), calc_service());
    searpc_pipe pipe(g.searpc);
    CHECK(pipe.call("calc", json::array{"add", 2, 40}) == ret(42));  // the connection is open

    write_file(conf, "searpc-call-timeout-ms = 300\n");
    ::kill(g.daemon.pid(), SIGHUP);
    REQUIRE(wait_until([&] { return g.daemon.log().find("config reloaded") != std::string::npos; }));
    const auto start = steady::now();
    const auto r = pipe.call("calc", json::array{"sleep", 5000});
    CHECK(r.at("err_code") == 514);
    CHECK(steady::now() - start < 3s);  // not the 60 s it was opened with
    CHECK(pipe.call("calc", json::array{"add", 1, 1}) == ret(2));
}

// Regression (fixed in 25c401f): searpc_gateway::finish() started the next
// queued call with that call's arrival time as "now", so a queued call's timeout
// counted its time in the queue.
TEST_CASE("gateway: a queued call's timeout counts from when it starts, not from when it arrived",
          "[rpc][gateway][timeout]") {
    temp_dir dir;
    gateway_daemon g(dir, {"--searpc-call-timeout-ms", "1500"});
    provider_thread provider(g.daemon.socket(), calc_service());
    searpc_pipe pipe(g.searpc);
    // Three calls of 700 ms each, sent at once: each one runs well within 1500 ms.
    for (int i = 0; i < 3; ++i) pipe.send("calc", json::array{"slow_add", i, 0, 700});
    for (int i = 0; i < 3; ++i) CHECK(pipe.recv() == ret(i));
}
