// The minimal relay: see relay.hpp.
//
// Flow of one wake-up:
//   epoll_wait ─▶ per readable connection: read() until short (≤ 8 × 256 KiB)
//   ─▶ frame_reader ─▶ route(): id rewritten into the target's `out`, target
//   marked dirty ─▶ after the batch: one write() per dirty connection; what the
//   kernel did not take waits for EPOLLOUT.
#include "relay.hpp"

#include <cstdio>
#include <memory>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "wire.hpp"

namespace junction::bench {

namespace {

using proto::packet_type;

struct relay_conn {
    explicit relay_conn(int fd) : pc(fd) {}
    packet_conn pc;
    bool dirty = false;
    bool want_out = false;  // EPOLLOUT registered
};

bool ends_session(std::span<const std::uint8_t> payload) noexcept {
    const std::uint16_t c = code_of(payload);
    return c == proto::code::proc_done || c == proto::code::proc_dead || proto::is_error(c);
}

class relay {
public:
    explicit relay(int listen_fd) : listen_fd_(listen_fd), ep_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (ep_ < 0) throw_errno("epoll_create1");
        watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
    }

    [[noreturn]] void run() {
        const pid_t parent = ::getppid();
        epoll_event events[64];
        for (;;) {
            const int n = ::epoll_wait(ep_, events, 64, 1000);
            if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
            if (n <= 0 && ::getppid() != parent) ::_exit(0);  // the bench is gone
            for (int i = 0; i < n; ++i) on_event(events[i]);
            flush_dirty();
        }
    }

private:
    void watch(int fd, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        if (::epoll_ctl(ep_, op, fd, &ev) != 0) throw_errno("epoll_ctl");
    }

    relay_conn* conn(int fd) {
        return fd >= 0 && static_cast<std::size_t>(fd) < conns_.size() ? conns_[static_cast<std::size_t>(fd)].get()
                                                                        : nullptr;
    }

    void on_event(const epoll_event& ev) {
        const int fd = ev.data.fd;
        if (fd == listen_fd_) return accept_all();
        relay_conn* c = conn(fd);
        if (!c) return;
        if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            bool gone = false;
            try {
                for (int round = 0; round < 8; ++round) {
                    bool short_read = false;
                    const auto st = c->pc.read_once([&](const proto::frame& f) { route(fd, f); },
                                                    &short_read);
                    if (st == packet_conn::read_status::eof) gone = true;
                    if (st != packet_conn::read_status::got_bytes || short_read) break;
                }
            } catch (const bench_error&) {
                gone = true;
            }
            if (gone) return drop(fd);
        }
        if (ev.events & EPOLLOUT) mark_dirty(*c);
    }

    void accept_all() {
        for (int k = 0; k < 64; ++k) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) return;
            if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(static_cast<std::size_t>(fd) + 1);
            conns_[static_cast<std::size_t>(fd)] = std::make_unique<relay_conn>(fd);
            watch(fd, EPOLLIN, EPOLL_CTL_ADD);
        }
    }

    void drop(int fd) {
        relay_conn* c = conn(fd);
        if (!c) return;
        std::erase(dirty_, c);
        if (fd == provider_fd_) provider_fd_ = -1;
        conns_[static_cast<std::size_t>(fd)].reset();  // closes; the socket leaves the epoll set
    }

    void mark_dirty(relay_conn& c) {
        if (!c.dirty) {
            c.dirty = true;
            dirty_.push_back(&c);
        }
    }

    void forward(int to, std::uint32_t id, std::span<const std::uint8_t> wire) {
        relay_conn* t = conn(to);
        if (!t) return;
        const std::size_t at = t->pc.out.size();
        t->pc.out.insert(t->pc.out.end(), wire.begin(), wire.end());
        proto::rewrite_id(t->pc.out.data() + at, id);
        mark_dirty(*t);
    }

    static std::uint64_t client_key(int fd, std::uint32_t id) noexcept {
        return (std::uint64_t{static_cast<std::uint32_t>(fd)} << 32) | id;
    }

    void route(int from, const proto::frame& f) {
        const auto type = static_cast<packet_type>(f.hdr.type);
        if (from == provider_fd_) {
            if (type != packet_type::response) return;  // e.g. the 103 ending its registration
            const auto it = to_client_.find(f.hdr.id);
            if (it == to_client_.end()) return;
            const std::uint64_t k = it->second;
            forward(static_cast<int>(k >> 32), static_cast<std::uint32_t>(k), f.wire);
            if (ends_session(f.payload)) {
                to_provider_.erase(k);
                to_client_.erase(it);
            }
            return;
        }
        if (type == packet_type::update) {
            const auto it = to_provider_.find(client_key(from, f.hdr.id));
            if (it == to_provider_.end()) return;
            forward(provider_fd_, it->second, f.wire);
            if (ends_session(f.payload)) {
                to_client_.erase(it->second);
                to_provider_.erase(it);
            }
            return;
        }
        if (type != packet_type::request) return;
        if (proto::as_text(f.payload).starts_with("register-service ")) {
            provider_fd_ = from;
            reply(from, f.hdr.id, proto::code::ok, "OK");
            return;
        }
        if (provider_fd_ < 0) return reply(from, f.hdr.id, proto::code::unknown_service, "no provider");
        std::uint32_t id = next_provider_id_;
        while (id == 0 || to_client_.contains(id)) ++id;
        next_provider_id_ = id + 1;
        to_provider_[client_key(from, f.hdr.id)] = id;
        to_client_[id] = client_key(from, f.hdr.id);
        forward(provider_fd_, id, f.wire);
    }

    void reply(int to, std::uint32_t id, std::uint16_t code, std::string_view message) {
        relay_conn* t = conn(to);
        if (!t) return;
        proto::append_code_packet(t->pc.out, packet_type::response, id, code, message);
        mark_dirty(*t);
    }

    void flush_dirty() {
        std::vector<int> broken;
        for (relay_conn* c : dirty_) {
            c->dirty = false;
            bool all = false;
            try {
                all = c->pc.flush();
            } catch (const bench_error&) {
                broken.push_back(c->pc.fd());
                continue;
            }
            if (all == c->want_out) {
                c->want_out = !all;
                watch(c->pc.fd(), all ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            }
        }
        dirty_.clear();
        for (const int fd : broken) drop(fd);
    }

    int listen_fd_;
    int ep_;
    int provider_fd_ = -1;
    std::uint32_t next_provider_id_ = 1;
    std::vector<std::unique_ptr<relay_conn>> conns_;  // by fd
    std::vector<relay_conn*> dirty_;
    boost::unordered_flat_map<std::uint64_t, std::uint32_t> to_provider_;  // (client fd, id) -> provider id
    boost::unordered_flat_map<std::uint32_t, std::uint64_t> to_client_;    // provider id -> (client fd, id)
};

}  // namespace

int run_relay(const std::string& socket_path) {
    try {
        relay r(listen_unix(socket_path));
        r.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "junction-bench relay: %s\n", e.what());
        return 1;
    }
}

}  // namespace junction::bench
