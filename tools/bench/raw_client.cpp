// The raw-packet client: frames written by hand on plain sockets.
//
// Sequential workloads use a blocking socket with SO_RCVTIMEO/SO_SNDTIMEO
// (one write() and usually one read() per round trip: no poll in the way).
// The pipelined workload runs one epoll loop over all its connections: per
// wake-up it reads every ready socket, queues the next UPDATE of each session
// answered, and writes each connection's queue once.
#include <algorithm>
#include <sys/epoll.h>

#include "client.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "wire.hpp"

namespace junction::bench {

namespace {

using proto::packet_type;

std::string describe(const proto::frame& f) {
    const auto text = proto::as_text(f.payload.first(std::min<std::size_t>(f.payload.size(), 60)));
    std::string printable;
    for (const char ch : text) printable += (ch >= 32 && ch < 127) ? ch : '.';
    return std::string(proto::type_name(f.hdr.type)) + " id " + std::to_string(f.hdr.id) + " (" +
           std::to_string(f.hdr.length) + " bytes: \"" + printable + "\")";
}

// The answer every workload expects: RESPONSE 200 on a known id, `size` bytes of payload.
void expect_echo(const proto::frame& f, std::size_t size) {
    if (f.hdr.type != static_cast<std::uint8_t>(packet_type::response) ||
        code_of(f.payload) != proto::code::ok || f.payload.size() != size)
        throw bench_error("unexpected answer: " + describe(f) + ", wanted RESPONSE 200 of " +
                          std::to_string(size) + " bytes");
}

packet_conn blocking_conn(const endpoint& ep, std::chrono::milliseconds timeout) {
    packet_conn c(connect_unix(ep.socket_path));
    set_io_timeout(c.fd(), timeout);
    return c;
}

// Blocks until on_frame has returned true once (a frame it was waiting for).
template <class OnFrame>
void await(packet_conn& c, OnFrame&& on_frame) {
    bool done = false;
    while (!done) {
        const auto st = c.read_once([&](const proto::frame& f) {
            if (on_frame(f)) done = true;
        });
        if (st == packet_conn::read_status::eof) throw bench_error("the system closed the connection");
        if (st == packet_conn::read_status::would_block) throw bench_error("no answer in time");
    }
}

// REQUEST `service` on `id`, then the RESPONSE 200 that opens the session.
void open_session(packet_conn& c, const endpoint& ep, std::uint32_t id) {
    proto::append_packet(c.out, packet_type::request, id, proto::as_bytes(ep.service));
    c.flush_blocking();
    await(c, [&](const proto::frame& f) {
        if (f.hdr.id != id) throw bench_error("unexpected packet: " + describe(f));
        if (f.hdr.type != static_cast<std::uint8_t>(packet_type::response) ||
            code_of(f.payload) != proto::code::ok)
            throw bench_error("session refused: " + describe(f));
        return true;
    });
}

void end_session(packet_conn& c, std::uint32_t id) {
    proto::append_code_packet(c.out, packet_type::update, id, proto::code::proc_done, {});
}

class raw_client final : public client_driver {
public:
    std::string_view name() const override { return "raw"; }

    std::vector<double> sequential(const endpoint& ep, const sequential_spec& spec) override {
        packet_conn c = blocking_conn(ep, spec.reply_timeout);
        open_session(c, ep, 1);
        const std::vector<std::uint8_t> update = make_code_packet(packet_type::update, 1, spec.payload_size);
        sample_loop loop(spec);
        while (loop.more()) {
            const auto t0 = clock::now();
            c.out = update;
            c.flush_blocking();
            await(c, [&](const proto::frame& f) {
                if (f.hdr.id != 1) throw bench_error("unexpected packet: " + describe(f));
                expect_echo(f, spec.payload_size);
                return true;
            });
            loop.record(t0);
        }
        end_session(c, 1);
        c.flush_blocking();
        return std::move(loop.samples);
    }

    std::vector<double> fresh_sessions(const endpoint& ep, const sequential_spec& spec) override {
        packet_conn c = blocking_conn(ep, spec.reply_timeout);
        sample_loop loop(spec);
        for (std::uint32_t i = 0; loop.more(); ++i) {
            const auto t0 = clock::now();
            // A new id each time, as a client with many short sessions would do.
            const std::uint32_t id = i % 1000000 + 1;
            open_session(c, ep, id);
            end_session(c, id);
            c.flush_blocking();
            loop.record(t0);
        }
        return std::move(loop.samples);
    }

    pipelined_result pipelined(const endpoint& ep, const pipelined_spec& spec,
                               const window_hooks& hooks) override;
};

// --- Pipelined ----------------------------------------------------------------------

struct pipe_conn {
    explicit pipe_conn(packet_conn c) : pc(std::move(c)) {}
    packet_conn pc;
    bool want_out = false;
    std::size_t outstanding = 0;  // UPDATEs sent, RESPONSE not yet seen
};

pipelined_result raw_client::pipelined(const endpoint& ep, const pipelined_spec& spec,
                                       const window_hooks& hooks) {
    const auto k = static_cast<std::uint32_t>(spec.in_flight);
    std::vector<std::unique_ptr<pipe_conn>> conns;
    for (std::size_t i = 0; i < spec.connections; ++i) {
        packet_conn c = blocking_conn(ep, spec.reply_timeout);
        for (std::uint32_t id = 1; id <= k; ++id) open_session(c, ep, id);
        set_nonblocking(c.fd());
        conns.push_back(std::make_unique<pipe_conn>(std::move(c)));
    }

    const int ep_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0) throw_errno("epoll_create1");
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } close_ep{ep_fd};
    auto watch = [&](std::size_t i, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = i;
        if (::epoll_ctl(ep_fd, op, conns[i]->pc.fd(), &ev) != 0) throw_errno("epoll_ctl");
    };
    auto flush = [&](std::size_t i) {
        pipe_conn& pc = *conns[i];
        const bool all = pc.pc.flush();
        if (all == pc.want_out) {
            pc.want_out = !all;
            watch(i, all ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        }
    };

    const std::vector<std::uint8_t> update = make_code_packet(packet_type::update, 0, spec.payload_size);
    auto queue_update = [&](pipe_conn& pc, std::uint32_t id) {
        const std::size_t at = pc.pc.out.size();
        pc.pc.out.insert(pc.pc.out.end(), update.begin(), update.end());
        proto::rewrite_id(pc.pc.out.data() + at, id);
        ++pc.outstanding;
    };

    for (std::size_t i = 0; i < conns.size(); ++i) {
        watch(i, EPOLLIN, EPOLL_CTL_ADD);
        for (std::uint32_t id = 1; id <= k; ++id) queue_update(*conns[i], id);
        flush(i);
    }

    // Phases: warm-up, the measured window, then a drain in which answers are
    // collected but nothing new is sent. Every phase has a deadline.
    enum class phase { warmup, window, drain };
    phase ph = phase::warmup;
    std::uint64_t completed = 0, at_start = 0;
    const auto t_begin = clock::now();
    const auto window_start = t_begin + spec.warmup;
    const auto window_end = window_start + spec.duration;
    clock::time_point started{}, ended{}, drain_deadline{};
    auto last_progress = t_begin;
    std::size_t outstanding = conns.size() * k;

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
            ph = phase::drain;
            drain_deadline = ended + spec.reply_timeout;
        }
        if (ph == phase::drain && (outstanding == 0 || now >= drain_deadline)) break;
        if (now - last_progress > spec.reply_timeout)
            throw bench_error("no answer for " + std::to_string(spec.reply_timeout.count()) + " ms (" +
                              std::to_string(outstanding) + " calls outstanding)");

        const auto next_edge = ph == phase::warmup ? window_start : ph == phase::window ? window_end : drain_deadline;
        const auto wait_ms = std::clamp<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(next_edge - now).count() + 1, 1, 100);
        const int n = ::epoll_wait(ep_fd, events, 64, static_cast<int>(wait_ms));
        if (n < 0 && errno != EINTR) throw_errno("epoll_wait");
        const bool resend = ph != phase::drain;
        for (int e = 0; e < n; ++e) {
            const std::size_t i = events[e].data.u64;
            pipe_conn& pc = *conns[i];
            if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (int round = 0; round < 8; ++round) {
                    bool short_read = false;
                    const auto st = pc.pc.read_once(
                        [&](const proto::frame& f) {
                            if (f.hdr.id == 0 || f.hdr.id > k)
                                throw bench_error("unexpected packet: " + describe(f));
                            expect_echo(f, spec.payload_size);
                            ++completed;
                            --pc.outstanding;
                            --outstanding;
                            if (resend) {
                                queue_update(pc, f.hdr.id);
                                ++outstanding;
                            }
                        },
                        &short_read);
                    if (st == packet_conn::read_status::eof)
                        throw bench_error("the system closed a connection");
                    if (st != packet_conn::read_status::got_bytes || short_read) break;
                }
                last_progress = clock::now();
            }
            flush(i);
        }
    }
    if (outstanding != 0)
        throw bench_error(std::to_string(outstanding) + " calls never answered after the window");

    // End every session; the sockets go back to blocking (with their send timeout) for that.
    for (auto& pc : conns) {
        for (std::uint32_t id = 1; id <= k; ++id) end_session(pc->pc, id);
        set_nonblocking(pc->pc.fd(), false);
        pc->pc.flush_blocking();
    }
    pipelined_result r;
    r.calls = completed - at_start;
    r.seconds = std::chrono::duration<double>(ended - started).count();
    return r;
}

}  // namespace

std::unique_ptr<client_driver> make_raw_client() { return std::make_unique<raw_client>(); }

}  // namespace junction::bench
