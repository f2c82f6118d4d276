// The searpc gateway's client, as libsearpc's named-pipe client talks: a
// native-endian 32-bit length, then {"service": ..., "request": "<call JSON>"};
// the answer is a length and the result JSON. One call in flight per
// connection (the protocol has no ids), so N×K runs open N×K connections.
//
// Plain sockets, like raw_client.cpp: sequential calls block (with send and
// receive timeouts); the pipelined run is one epoll loop over every connection.
#include <algorithm>
#include <cstring>
#include <sys/epoll.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "client.hpp"
#include "wire.hpp"

namespace junction::bench {

namespace {

namespace json = boost::json;

// The call echo("xx…"), framed. Its JSON body is about `payload_size` bytes, like
// the other systems' UPDATEs.
std::string framed_call(const std::string& service, std::size_t payload_size) {
    const std::string call_overhead = json::serialize(json::array{"echo", ""});
    const std::string body_overhead =
        json::serialize(json::object{{"service", service}, {"request", call_overhead}});
    const std::size_t arg = payload_size > body_overhead.size() ? payload_size - body_overhead.size() : 1;
    const std::string call = json::serialize(json::array{"echo", std::string(arg, 'x')});
    const std::string body = json::serialize(json::object{{"service", service}, {"request", call}});
    const auto n = static_cast<std::uint32_t>(body.size());
    std::string framed(sizeof n, '\0');
    std::memcpy(framed.data(), &n, sizeof n);
    return framed + body;
}

// The answer must be {"ret": "<what was sent>"}; its size is then the size of every later one.
std::size_t check_first_answer(const std::string& body, const std::string& framed_call) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    const json::value sent = json::parse(framed_call.substr(4));
    const json::value arg = json::parse(sent.at("request").as_string()).as_array().at(1);
    if (ec || !v.is_object() || !v.as_object().contains("ret") || v.at("ret") != arg)
        throw bench_error("unexpected gateway answer: " + body.substr(0, 200));
    return body.size();
}

// Reads one framed answer into `body` on a blocking socket.
void read_answer(int fd, std::string& body) {
    std::uint32_t n = 0;
    auto read_all = [fd](void* p, std::size_t len) {
        auto* at = static_cast<char*>(p);
        while (len > 0) {
            const long r = ::read(fd, at, len);
            if (r == 0) throw bench_error("the gateway closed the connection");
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) throw bench_error("no answer in time");
                throw_errno("read");
            }
            at += r;
            len -= static_cast<std::size_t>(r);
        }
    };
    read_all(&n, sizeof n);
    body.resize(n);
    read_all(body.data(), n);
}

void write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        const long w = ::write(fd, data.data() + off, data.size() - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw_errno("write");
        }
        off += static_cast<std::size_t>(w);
    }
}

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// One connection of the pipelined run: its call goes out, its answer comes in.
struct gateway_conn {
    fd_guard fd;
    std::size_t sent = 0;      // bytes of the call written
    std::string in;            // bytes of the answer read so far
    bool waiting = false;      // a call is out
};

class searpc_client final : public client_driver {
public:
    std::string_view name() const override { return "searpc"; }

    std::vector<double> sequential(const endpoint& ep, const sequential_spec& spec) override {
        fd_guard fd{connect_unix(ep.socket_path)};
        set_io_timeout(fd.fd, spec.reply_timeout);
        const std::string call = framed_call(ep.service, spec.payload_size);
        std::string body;
        write_all(fd.fd, call);
        read_answer(fd.fd, body);
        const std::size_t answer_size = check_first_answer(body, call);
        sample_loop loop(spec);
        while (loop.more()) {
            const auto t0 = clock::now();
            write_all(fd.fd, call);
            read_answer(fd.fd, body);
            if (body.size() != answer_size) check_first_answer(body, call);
            loop.record(t0);
        }
        return std::move(loop.samples);
    }

    std::vector<double> fresh_sessions(const endpoint&, const sequential_spec&) override {
        throw bench_error("searpc: no fresh-session workload (the gateway keeps its sessions)");
    }

    pipelined_result pipelined(const endpoint& ep, const pipelined_spec& spec,
                               const window_hooks& hooks) override;
};

pipelined_result searpc_client::pipelined(const endpoint& ep, const pipelined_spec& spec,
                                          const window_hooks& hooks) {
    const std::string call = framed_call(ep.service, spec.payload_size);
    const std::size_t n = spec.connections * spec.in_flight;
    std::vector<gateway_conn> conns(n);
    std::size_t answer_size = 0;
    for (auto& c : conns) {
        c.fd.fd = connect_unix(ep.socket_path);
        set_io_timeout(c.fd.fd, spec.reply_timeout);
        // One blocking call first: the gateway has the service's session open
        // before the window, and the answer's size is known.
        write_all(c.fd.fd, call);
        read_answer(c.fd.fd, c.in);
        answer_size = check_first_answer(c.in, call);
        c.in.clear();
        set_nonblocking(c.fd.fd);
    }
    const std::size_t frame_size = sizeof(std::uint32_t) + answer_size;

    fd_guard ep_fd{::epoll_create1(EPOLL_CLOEXEC)};
    if (ep_fd.fd < 0) throw_errno("epoll_create1");
    auto watch = [&](std::size_t i, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = i;
        if (::epoll_ctl(ep_fd.fd, op, conns[i].fd.fd, &ev) != 0) throw_errno("epoll_ctl");
    };
    // Writes what the socket takes; watches for room while some is left.
    auto send = [&](std::size_t i, int op) {
        gateway_conn& c = conns[i];
        while (c.sent < call.size()) {
            const long w = ::write(c.fd.fd, call.data() + c.sent, call.size() - c.sent);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                throw_errno("write");
            }
            c.sent += static_cast<std::size_t>(w);
        }
        watch(i, c.sent < call.size() ? EPOLLIN | EPOLLOUT : EPOLLIN, op);
    };
    auto start_call = [&](std::size_t i, int op) {
        conns[i].sent = 0;
        conns[i].waiting = true;
        send(i, op);
    };
    for (std::size_t i = 0; i < n; ++i) start_call(i, EPOLL_CTL_ADD);

    enum class phase { warmup, window, drain };
    phase ph = phase::warmup;
    std::uint64_t completed = 0, at_start = 0, at_end = 0;
    const auto window_start = clock::now() + spec.warmup;
    const auto window_end = window_start + spec.duration;
    clock::time_point started{}, ended{}, drain_deadline{};
    auto last_progress = clock::now();
    std::size_t outstanding = n;
    std::vector<char> buf(64 * 1024);
    epoll_event events[64];
    for (;;) {
        const auto now = clock::now();
        if (ph == phase::warmup && now >= window_start) {
            if (hooks.on_start) hooks.on_start();
            started = clock::now();
            at_start = completed;
            ph = phase::window;
        }
        if (ph == phase::window && now >= window_end) {
            if (hooks.on_end) hooks.on_end();
            ended = clock::now();
            at_end = completed;
            ph = phase::drain;
            drain_deadline = ended + spec.reply_timeout;
        }
        if (ph == phase::drain && (outstanding == 0 || now >= drain_deadline)) break;
        if (now - last_progress > spec.reply_timeout)
            throw bench_error("no gateway answer for " + std::to_string(spec.reply_timeout.count()) + " ms");
        const auto edge = ph == phase::warmup ? window_start : ph == phase::window ? window_end : drain_deadline;
        const auto wait_ms = std::clamp<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(edge - now).count() + 1, 1, 100);
        const int got = ::epoll_wait(ep_fd.fd, events, 64, static_cast<int>(wait_ms));
        if (got < 0 && errno != EINTR) throw_errno("epoll_wait");
        for (int e = 0; e < got; ++e) {
            const std::size_t i = events[e].data.u64;
            gateway_conn& c = conns[i];
            if (events[e].events & EPOLLOUT) send(i, EPOLL_CTL_MOD);
            if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            for (;;) {
                const long r = ::read(c.fd.fd, buf.data(), std::min(buf.size(), frame_size - c.in.size()));
                if (r == 0) throw bench_error("the gateway closed a connection");
                if (r < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                    throw_errno("read");
                }
                c.in.append(buf.data(), static_cast<std::size_t>(r));
                if (c.in.size() < frame_size) continue;
                std::uint32_t len = 0;
                std::memcpy(&len, c.in.data(), sizeof len);
                if (len != answer_size)
                    throw bench_error("gateway answer of " + std::to_string(len) + " bytes, wanted " +
                                      std::to_string(answer_size) + ": " + c.in.substr(4, 200));
                if (!c.waiting) throw bench_error("an answer nobody asked for");
                c.waiting = false;
                c.in.clear();
                ++completed;
                --outstanding;
                last_progress = clock::now();
                if (ph != phase::drain) {
                    ++outstanding;
                    start_call(i, EPOLL_CTL_MOD);
                }
                break;
            }
        }
    }
    if (outstanding != 0)
        throw bench_error(std::to_string(outstanding) + " gateway calls never answered after the window");
    return {at_end - at_start, std::chrono::duration<double>(ended - started).count()};
}

}  // namespace

std::unique_ptr<client_driver> make_searpc_client() { return std::make_unique<searpc_client>(); }

}  // namespace junction::bench
