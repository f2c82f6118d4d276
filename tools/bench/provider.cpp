// The echo provider: see provider.hpp.
#include "provider.hpp"

#include <cstdio>
#include <memory>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unordered_map>
#include <vector>

#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "wire.hpp"

namespace junction::bench {

int register_echo_provider(const std::string& hub_socket, std::chrono::milliseconds timeout) {
    packet_conn c(connect_unix(hub_socket));
    set_io_timeout(c.fd(), timeout);
    const std::string line = std::string("register-service ") + echo_service;
    proto::append_packet(c.out, proto::packet_type::request, 1, proto::as_bytes(line));
    c.flush_blocking();
    std::uint16_t answer = 0;
    while (answer == 0) {
        const auto st = c.read_once([&](const proto::frame& f) {
            if (f.hdr.type == static_cast<std::uint8_t>(proto::packet_type::response) &&
                f.hdr.id == 1)
                answer = code_of(f.payload);
        });
        if (st == packet_conn::read_status::eof) throw bench_error("hub closed during register");
        if (st == packet_conn::read_status::would_block)
            throw bench_error("hub did not answer register-service");
    }
    if (answer != proto::code::ok)
        throw bench_error("register-service answered " + std::to_string(answer));
    // The command session has done its job; the registration lasts as long as the connection.
    proto::append_code_packet(c.out, proto::packet_type::update, 1, proto::code::proc_done, {});
    c.flush_blocking();
    return c.release();
}

namespace {

// Appends the answer to `f`, if it gets one.
void answer(const proto::frame& f, std::vector<std::uint8_t>& out) {
    using proto::packet_type;
    switch (static_cast<packet_type>(f.hdr.type)) {
        case packet_type::request:
            proto::append_code_packet(out, packet_type::response, f.hdr.id, proto::code::ok, "OK");
            return;
        case packet_type::update: {
            const std::uint16_t c = code_of(f.payload);
            if (c == proto::code::proc_done || c == proto::code::proc_dead || proto::is_error(c))
                return;
            const auto p = f.payload;
            if (p.size() >= 4 && p[0] == '2' && p[1] == '0' && p[2] == '0' && p[3] == '\n') {
                // "200\n<data>" answered with "200\n<data>": the same bytes, another type.
                const std::size_t at = out.size();
                out.insert(out.end(), f.wire.begin(), f.wire.end());
                out[at + 1] = static_cast<std::uint8_t>(packet_type::response);
                return;
            }
            proto::code_line cl;
            if (proto::parse_code_line(f.payload, cl)) return;
            proto::append_code_packet(out, packet_type::response, f.hdr.id, proto::code::ok, {},
                                      cl.content);
            return;
        }
        default: return;  // RESPONSEs (a 102 from a hub, say) need no answer
    }
}

struct served_conn {
    explicit served_conn(int fd) : pc(fd) {}
    packet_conn pc;
    bool dirty = false;
    bool want_out = false;  // EPOLLOUT registered
};

void watch(int ep, int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(ep, op, fd, &ev) != 0) throw_errno("epoll_ctl");
}

[[noreturn]] void serve(int listen_fd, int hub_fd) {
    const pid_t parent = ::getppid();
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) throw_errno("epoll_create1");
    std::unordered_map<int, std::unique_ptr<served_conn>> conns;
    auto add = [&](int fd) {
        set_nonblocking(fd);
        conns.emplace(fd, std::make_unique<served_conn>(fd));
        watch(ep, fd, EPOLLIN, EPOLL_CTL_ADD);
    };
    if (listen_fd >= 0) watch(ep, listen_fd, EPOLLIN, EPOLL_CTL_ADD);
    if (hub_fd >= 0) add(hub_fd);

    std::vector<served_conn*> dirty;
    std::vector<int> broken;  // connections whose write failed this round
    epoll_event events[64];
    for (;;) {
        const int n = ::epoll_wait(ep, events, 64, 1000);
        if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
        // Bounded life: the bench went away without telling us.
        if (n <= 0 && ::getppid() != parent) ::_exit(0);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listen_fd) {
                for (int k = 0; k < 64; ++k) {
                    const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
                    if (c < 0) break;
                    add(c);
                }
                continue;
            }
            const auto it = conns.find(fd);
            if (it == conns.end()) continue;
            served_conn& sc = *it->second;
            bool gone = false;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                // Everything the socket has, in a bounded number of reads.
                try {
                    for (int round = 0; round < 8; ++round) {
                        bool short_read = false;
                        const auto st = sc.pc.read_once(
                            [&](const proto::frame& f) { answer(f, sc.pc.out); }, &short_read);
                        if (st == packet_conn::read_status::eof) gone = true;
                        if (st != packet_conn::read_status::got_bytes || short_read) break;
                    }
                } catch (const bench_error& e) {
                    if (fd == hub_fd) throw;
                    gone = true;  // a client that went away badly ends only its own connection
                }
            }
            if (gone) {
                if (fd == hub_fd) ::_exit(0);
                std::erase(dirty, &sc);
                conns.erase(it);  // closes the socket, which leaves the epoll set
                continue;
            }
            if (!sc.dirty && (sc.pc.has_pending_output() || (events[i].events & EPOLLOUT))) {
                sc.dirty = true;
                dirty.push_back(&sc);
            }
        }
        // One write per connection per wake-up, everything answered in it gathered.
        for (served_conn* sc : dirty) {
            sc->dirty = false;
            bool all = false;
            try {
                all = sc->pc.flush();
            } catch (const bench_error&) {
                if (sc->pc.fd() == hub_fd) throw;
                broken.push_back(sc->pc.fd());
                continue;
            }
            if (all == sc->want_out) {
                sc->want_out = !all;
                watch(ep, sc->pc.fd(), all ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            }
        }
        dirty.clear();
        for (const int fd : broken) conns.erase(fd);
        broken.clear();
    }
}

}  // namespace

void run_echo_provider(int listen_fd, int hub_fd) {
    try {
        serve(listen_fd, hub_fd);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "junction-bench: echo provider: %s\n", e.what());
        std::fflush(stderr);
        ::_exit(1);
    }
}

}  // namespace junction::bench
