// The I/O shell around the router.
//
// Flow of one wake-up:
//   epoll_wait ─▶ per ready connection: read what is there into the shared
//   scratch buffer (until a short read, at most 8 buffers) ─▶ frame_reader.feed
//   ─▶ router.on_packet per frame ─▶ action_sink: bytes appended to target
//   connections' `out` buffers, targets marked dirty ─▶ due timers ─▶
//   after_batch(): each dirty connection flushes once (one send() of everything
//   queued; what the kernel does not take waits for EPOLLOUT), then deferred
//   closes run (router.on_close, 515s to peers).
//
// One thread, one epoll set, level-triggered: listeners, connections and a
// signalfd (SIGINT, SIGTERM, SIGHUP). Timers (housekeeping tick, systemd status
// and watchdog, shutdown deadline, accept retry) are deadlines folded into
// epoll_wait's timeout. The loop is the daemon's own rather than Asio's: one
// epoll_wait per wake-up and no per-operation bookkeeping; with Asio's reactor
// a routed call cost ~40% more CPU in the hub than the bench's minimal relay
// (docs/performance.md, "The event loop"). Queued bytes per connection are
// bounded by limits::max_queued_bytes: a connection that does not read what it
// is sent is closed at the bound (docs/protocol.md, "Slow readers").
#include "server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

#include <boost/unordered/unordered_flat_map.hpp>
#include <spdlog/spdlog.h>

#include "byte_queue.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "listener.hpp"
#include "router.hpp"
#include "searpc_gateway.hpp"
#include "systemd.hpp"

#ifndef JUNCTION_VERSION
#define JUNCTION_VERSION "0.0.0"
#endif

namespace junction::daemon {

namespace {

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

constexpr std::size_t scratch_size = 256 * 1024;
// How long a closed connection may take to be sent what explains its close.
constexpr std::uint64_t linger_ms = 1000;

// pid/uid/gid (SO_PEERCRED) and supplementary groups (SO_PEERGROUPS), read once at accept.
credentials peer_credentials(int fd) {
    credentials cr;
    ucred uc{};
    socklen_t len = sizeof uc;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
        cr.pid = uc.pid;
        cr.uid = uc.uid;
        cr.gid = uc.gid;
    }
#ifdef SO_PEERGROUPS
    std::vector<gid_t> groups(64);
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
        // Only ERANGE (more groups) is worth a second try; on any other failure
        // the peer has no known supplementary groups (never 64 zeros: gid 0).
        if (errno == ERANGE) {
            groups.resize(len / sizeof(gid_t));
            if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) len = 0;
        } else {
            len = 0;
        }
    }
    groups.resize(len / sizeof(gid_t));
    cr.groups.assign(groups.begin(), groups.end());
#endif
    return cr;
}

// The gid for --socket-group, or -1 to leave the daemon's own group.
gid_t socket_gid(const std::string& name) {
    if (name.empty()) return static_cast<gid_t>(-1);
    if (const group* g = ::getgrnam(name.c_str())) return g->gr_gid;
    throw std::system_error(ENOENT, std::generic_category(), "--socket-group: no group " + name);
}
// Buffers larger than this are released by the housekeeping tick once drained,
// so idle connections stay small while busy ones do not reallocate per write.
constexpr std::size_t keep_capacity = 64 * 1024;

struct connection {
    connection(conn_id i, int f, std::size_t max_payload) : id(i), fd(f), reader(max_payload) {}
    ~connection() {
        if (fd >= 0) ::close(fd);  // also leaves the epoll set
    }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    conn_id id;
    int fd;
    proto::frame_reader reader;
    credentials creds;
    byte_queue out;  // queued, not yet taken by the kernel
    std::uint32_t interest = EPOLLIN;  // the events registered in the epoll set
    bool dirty = false;
    // Closing happens in two steps. `forgotten`: the router has been told and
    // nothing more is queued. Then the socket lingers until what was queued
    // (the packet that explains the close, answers owed) is written, or the
    // linger deadline passes; `abandon` skips the linger (slow reader, write error).
    bool closing = false;    // no more reading; finalize() is due
    bool forgotten = false;  // router told; out of routing
    bool abandon = false;
    std::uint64_t close_started_ms = 0;
    std::uint32_t diagnostics = 0;  // problems logged (see diagnose)
    bool got_packet = false;
    std::uint64_t opened_ms = 0;
    std::uint64_t partial_since_ms = 0;  // when the incomplete frame's first byte came
    std::string close_reason;
    // Gateway connections (libsearpc named pipe) speak searpc on the socket; the
    // router's packets for them go to `router_inbox` and through the translator.
    std::unique_ptr<searpc_gateway> gateway;
    byte_queue router_inbox;

    std::size_t unsent() const noexcept { return out.size(); }
    std::size_t queued() const noexcept { return unsent() + router_inbox.size(); }
};

constexpr std::uint32_t ev_in = EPOLLIN, ev_out = EPOLLOUT;

// epoll_event.data of what is not a connection (connection ids are 32-bit).
constexpr std::uint64_t tag_listener = std::uint64_t{1} << 32;
constexpr std::uint64_t tag_gateway_listener = tag_listener + 1;
constexpr std::uint64_t tag_signals = tag_listener + 2;

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// The path a listening Unix socket is bound to (for socket-activated fds).
std::string bound_path(int fd) {
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        len <= offsetof(sockaddr_un, sun_path))
        return "?";
    return std::string(addr.sun_path, ::strnlen(addr.sun_path, len - offsetof(sockaddr_un, sun_path)));
}

}  // namespace

struct server::impl final : action_sink {
    impl(config c, std::vector<std::string> a)
        : cfg(std::move(c)),
          args(std::move(a)),
          rt(cfg.lim, now_ms(), JUNCTION_VERSION),
          scratch(scratch_size) {
        rt.set_policy(cfg.access);
        ep = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) fail_errno("epoll_create1");
        // SIGINT, SIGTERM and SIGHUP arrive as reads on a signalfd. Blocked here,
        // before anything could start a thread (junctiond has none).
        sigset_t set;
        ::sigemptyset(&set);
        for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaddset(&set, sig);
        if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) fail_errno("sigprocmask");
        signal_fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (signal_fd < 0) fail_errno("signalfd");
        watch(signal_fd, EPOLLIN, tag_signals);
        // Sockets are written with MSG_NOSIGNAL; this covers the rest (a log pipe whose reader went).
        ::signal(SIGPIPE, SIG_IGN);
    }
    ~impl() {
        conns.clear();  // closes their sockets
        for (const int fd : {listen_fd, gateway_listen_fd, signal_fd, ep})
            if (fd >= 0) ::close(fd);
    }

    config cfg;
    std::vector<std::string> args;
    router rt;
    int ep = -1;         // the epoll set
    int signal_fd = -1;
    bound_socket bound;  // the socket file we bound (none when socket-activated)
    int listen_fd = -1;
    bound_socket gateway_bound;  // --searpc-socket
    int gateway_listen_fd = -1;
    bool running = true;
    std::vector<std::uint8_t> scratch;  // shared read buffer (one thread)
    std::vector<std::uint8_t> packet;   // where send() builds a packet (one thread)

    // Timers: each a deadline in now_ms() time, 0 when not armed.
    std::uint64_t tick_at = 0;
    std::uint64_t status_at = 0;
    std::uint64_t watchdog_at = 0;
    std::uint64_t watchdog_period_ms = 0;
    std::uint64_t shutdown_at = 0;
    std::uint64_t accept_retry_at = 0;  // listeners paused after an accept error
    std::uint64_t accept_failures = 0;  // in a row, since the last accept that worked

    boost::unordered_flat_map<conn_id, std::unique_ptr<connection>> conns;
    // The hot path's view of `conns` (target() runs for every forwarded packet):
    // slots[id & (size - 1)] is the live connection with that id, if any. Ids
    // are chosen at accept so that live ones never share a slot, and the table
    // doubles at half full (ids apart mod n stay apart mod 2n). An index and a
    // compare instead of a hash lookup: callgrind (xk), forward() 173 -> 134 Ir
    // per forwarded packet.
    std::vector<connection*> slots = std::vector<connection*>(64, nullptr);
    boost::unordered_flat_map<std::uint32_t, std::uint32_t> conns_per_uid;
    std::vector<conn_id> dirty, dirty_batch;
    std::vector<conn_id> to_close, closing_batch;
    conn_id next_id = 1;
    bool stopping = false;

    // --- action_sink ----------------------------------------------------------

    connection*& slot_of(conn_id id) noexcept { return slots[id & (slots.size() - 1)]; }

    // The connection with this id, lingering ones included.
    connection* live(conn_id id) noexcept {
        connection* c = slot_of(id);
        return c && c->id == id ? c : nullptr;
    }

    // The connection with this id if the router may still route to it.
    connection* target(conn_id id) {
        connection* c = live(id);
        return c && !c->forgotten ? c : nullptr;
    }

    // False (and the connection is being closed) when `bytes` more would pass the bound.
    bool has_room(connection& c, std::size_t bytes) {
        if (c.queued() + bytes <= cfg.lim.max_queued_bytes) return true;
        if (!c.closing) {
            spdlog::warn("conn {} (pid {} uid {}): slow reader: {} bytes queued, limit {}; closing",
                         c.id, c.creds.pid, c.creds.uid, c.queued(), cfg.lim.max_queued_bytes);
            c.abandon = true;  // it does not read: waiting for it to drain is pointless
            schedule_close(c, "slow reader (queue limit)");
        }
        return false;
    }

    void mark_dirty(connection& c) {
        if (!c.dirty) {
            c.dirty = true;
            dirty.push_back(c.id);
        }
    }

    // Where the router's packets for `c` go: its socket, or the gateway's translator.
    static byte_queue& queue_of(connection& c) noexcept { return c.gateway ? c.router_inbox : c.out; }

    void forward(conn_id to, std::uint32_t id, std::span<const std::uint8_t> wire) override {
        connection* c = target(to);
        if (!c || c->closing || !has_room(*c, wire.size())) return;
        std::uint8_t* at = queue_of(*c).extend(wire.size());
        std::memcpy(at, wire.data(), wire.size());
        proto::rewrite_id(at, id);
        mark_dirty(*c);
    }

    void send(conn_id to, proto::packet_type type, std::uint32_t id, std::uint16_t code,
              std::string_view message, std::span<const std::uint8_t> content) override {
        connection* c = target(to);
        if (!c) return;
        const std::size_t size = proto::header_size + proto::code_payload_size(message, content.size());
        if (!c->closing && !has_room(*c, size)) return;
        packet.clear();
        proto::append_code_packet(packet, type, id, code, message, content);
        queue_of(*c).append(packet);
        mark_dirty(*c);
    }

    void close(conn_id id, std::string_view reason) override {
        if (connection* c = target(id)) schedule_close(*c, reason);
    }

    // One line per problem, but a peer cannot flood the log: after
    // max_diagnostics lines a connection's further problems are only counted.
    static constexpr std::uint32_t max_diagnostics = 20;
    void diagnose(conn_id id, std::string_view what) override {
        connection* c = target(id);
        if (!c) return;
        ++c->diagnostics;
        if (c->diagnostics <= max_diagnostics)
            spdlog::warn("conn {} (pid {} uid {}): {}", id, c->creds.pid, c->creds.uid, what);
        else if (c->diagnostics == max_diagnostics + 1)
            spdlog::warn("conn {} (pid {} uid {}): more problems; not logged until it closes", id,
                         c->creds.pid, c->creds.uid);
    }

    // --- Closing ------------------------------------------------------------------

    void schedule_close(connection& c, std::string_view reason) {
        if (c.closing) return;
        c.closing = true;
        c.close_reason = reason;
        to_close.push_back(c.id);
        update_interest(c);  // no more reading
    }

    // Step one (once): the router forgets the connection and tells its peers.
    // Step two: the socket closes when what is queued is written, at once when
    // abandoned. Called again once the queue drains and at the linger deadline.
    void finalize(conn_id id) {
        const auto it = conns.find(id);
        if (it == conns.end()) return;
        connection& c = *it->second;
        if (!c.forgotten) {
            c.forgotten = true;
            c.closing = true;
            c.close_started_ms = now_ms();
            if (auto u = conns_per_uid.find(c.creds.uid); u != conns_per_uid.end() && --u->second == 0)
                conns_per_uid.erase(u);
            spdlog::info("conn {} closed (pid {} uid {}): {}{}", id, c.creds.pid, c.creds.uid,
                         c.close_reason.empty() ? "closed" : c.close_reason,
                         c.diagnostics > max_diagnostics
                             ? " (" + std::to_string(c.diagnostics) + " problems in all)"
                             : std::string());
            rt.on_close(id, *this);
            if (!c.abandon) flush(c);
        }
        if (!c.abandon && c.unsent() > 0) return;  // lingers until written (EPOLLOUT) or the deadline
        ::shutdown(c.fd, SHUT_RDWR);
        slot_of(id) = nullptr;
        conns.erase(it);  // closes the socket
        if (stopping && conns.empty()) running = false;
    }

    // A write failed: nothing more can be delivered on this connection.
    void fail_write(connection& c, int err) {
        c.abandon = true;
        c.out.clear();
        if (!c.closing)
            schedule_close(c, std::string("write failed: ") + std::strerror(err));
        else
            to_close.push_back(c.id);
    }

    // --- The epoll set --------------------------------------------------------------

    bool try_watch(int fd, std::uint32_t events, std::uint64_t data, int op = EPOLL_CTL_ADD) noexcept {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = data;
        return ::epoll_ctl(ep, op, fd, &ev) == 0;
    }
    void watch(int fd, std::uint32_t events, std::uint64_t data, int op = EPOLL_CTL_ADD) {
        if (!try_watch(fd, events, data, op)) fail_errno("epoll_ctl");
    }

    // Level-triggered: EPOLLIN until the connection closes, EPOLLOUT while the
    // kernel has not taken everything queued.
    void update_interest(connection& c) {
        const std::uint32_t want = (c.closing ? 0 : ev_in) | (c.unsent() > 0 && !c.abandon ? ev_out : 0);
        if (want == c.interest) return;
        c.interest = want;
        watch(c.fd, want, c.id, EPOLL_CTL_MOD);
    }

    // --- Writing --------------------------------------------------------------------

    // Carries out what a gateway translator asked for.
    void apply(connection& c, gateway_output& g) {
        for (const auto& line : g.diagnostics) diagnose(c.id, line);
        if (!g.to_router.empty() && !stopping && !c.forgotten) {
            rt.set_now(now_ms());
            proto::frame_reader frames;
            frames.feed(g.to_router, [&](const proto::frame& f) {
                return rt.on_packet(c.id, f, *this) && !c.closing;
            });
        }
        // A reply may be as large as the message limit: the bound applies to
        // what is already queued, so a reading client always gets its answer.
        if (!g.to_client.empty() && !c.abandon &&
            (c.queued() <= cfg.lim.max_queued_bytes || has_room(c, g.to_client.size()))) {
            c.out.append(g.to_client);
            mark_dirty(c);
        }
        if (!g.close_reason.empty()) {
            diagnose(c.id, g.close_reason + "; closing");
            schedule_close(c, g.close_reason);
        }
    }

    // One send() of everything queued. What the kernel does not take stays
    // queued, with EPOLLOUT registered; until that event (`writable`) comes,
    // a flush does not try again.
    void flush(connection& c, bool writable = false) {
        if (c.gateway && !c.router_inbox.empty()) {
            byte_queue inbox;
            inbox.swap(c.router_inbox);
            gateway_output g;
            proto::frame_reader frames;
            frames.feed(inbox.bytes(), [&](const proto::frame& f) {
                c.gateway->on_router_frame(f, g);
                return true;
            });
            apply(c, g);
        }
        if (c.abandon || c.unsent() == 0 || ((c.interest & EPOLLOUT) && !writable)) return;
        const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail_write(c, errno);
        if (n > 0) c.out.consume(static_cast<std::size_t>(n));
        update_interest(c);
        // A lingering connection whose bytes are all written closes now.
        if (c.forgotten && c.unsent() == 0) to_close.push_back(c.id);
    }

    // Flushes every connection touched by the last batch of events, then runs
    // deferred closes (whose 515s touch more connections) until nothing is left.
    void after_batch() {
        // Ids, not pointers: a connection may be finalized while still listed.
        // The batch vectors are members so that no wake-up allocates.
        while (!dirty.empty() || !to_close.empty()) {
            dirty_batch.swap(dirty);
            for (const conn_id id : dirty_batch) {
                if (connection* c = live(id)) {
                    c->dirty = false;
                    flush(*c);
                }
            }
            dirty_batch.clear();
            closing_batch.swap(to_close);
            for (const conn_id id : closing_batch) finalize(id);
            closing_batch.clear();
        }
    }

    // --- Reading ------------------------------------------------------------------------

    // Handles one readiness event: reads straight into the shared scratch
    // buffer until a short read (or EAGAIN) empties the socket, at most 8
    // buffers full so that one busy peer cannot starve the others (what is
    // left is reported again by the level-triggered epoll set).
    void read_available(connection& c) {
        for (int round = 0; round < 8; ++round) {
            const ssize_t n = ::read(c.fd, scratch.data(), scratch.size());
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
            if (n <= 0) {
                schedule_close(c, n == 0 ? "end of stream" : std::strerror(errno));
                return;
            }
            const auto got = static_cast<std::size_t>(n);
            if (!take_bytes(c, got)) return;
            if (got < scratch.size()) return;  // a short read emptied the socket
        }
    }

    // Hands `n` bytes of scratch to the connection's reader (frames to the
    // router) or gateway. False when the connection must not be read further.
    bool take_bytes(connection& c, std::size_t n) {
        if (c.gateway) {
            gateway_output g;
            const std::uint64_t before = c.gateway->requests_received();
            c.gateway->on_client_bytes({scratch.data(), n}, now_ms(), g);
            if (!c.gateway->has_partial())
                c.partial_since_ms = 0;
            else if (c.gateway->requests_received() != before || c.partial_since_ms == 0)
                c.partial_since_ms = now_ms();
            c.got_packet = c.got_packet || c.gateway->pending_calls() > 0 || !g.to_client.empty();
            apply(c, g);
            return !c.closing;
        }
        bool go_on = true;
        std::size_t frames = 0;
        const auto err = c.reader.feed({scratch.data(), n}, [&](const proto::frame& f) {
            ++frames;
            go_on = rt.on_packet(c.id, f, *this) && !c.closing;
            return go_on;
        });
        if (frames > 0) c.got_packet = true;
        // The slowloris clock runs from the first byte of the frame still incomplete.
        if (!c.reader.has_partial())
            c.partial_since_ms = 0;
        else if (frames > 0 || c.partial_since_ms == 0)
            c.partial_since_ms = now_ms();
        if (err) {
            protocol_error(c, err);
            return false;
        }
        return go_on;
    }

    void protocol_error(connection& c, std::error_code err) {
        const proto::header& h = c.reader.bad_header();
        std::string why;
        std::uint16_t status;
        if (err == proto::errc::bad_version) {
            status = proto::code::version_mismatch;
            why = "version mismatch: got " + std::to_string(h.version) + ", speak 1";
        } else if (err == proto::errc::reserved_type) {
            status = proto::code::bad_packet;
            why = "reserved packet type " + std::to_string(h.type);
        } else {
            status = proto::code::limit_exceeded;
            why = "limit: payload size " + std::to_string(h.length) + " over " +
                  std::to_string(cfg.lim.max_payload);
        }
        send(c.id, proto::packet_type::response, h.id, status, why, {});
        diagnose(c.id, why + "; closing");
        schedule_close(c, why);
    }

    // A readiness event for a connection. Reading stops once it is closing (its
    // interest drops EPOLLIN); a lingering one only waits to be writable.
    void on_connection_event(conn_id id, std::uint32_t events) {
        connection* c = live(id);
        if (!c) return;  // closed earlier in this batch
        try {
            if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (c->interest & EPOLLOUT)) flush(*c, true);
            if (!c->closing && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) read_available(*c);
        } catch (const std::exception& ex) {
            // A bug or bad_alloc: this connection goes, the daemon stays.
            spdlog::error("conn {}: read failed: {}; closing", id, ex.what());
            if ((c = live(id))) {
                c->abandon = true;
                schedule_close(*c, "internal error");
                to_close.push_back(id);
            }
        }
    }

    // --- Accepting --------------------------------------------------------------------------

    void refuse(int fd, const credentials& cr, const std::string& why) {
        spdlog::warn("refused connection (pid {} uid {}): {}", cr.pid, cr.uid, why);
        std::vector<std::uint8_t> pkt;
        proto::append_code_packet(pkt, proto::packet_type::response, 0, proto::code::limit_exceeded,
                                  why);
        [[maybe_unused]] const ssize_t n = ::send(fd, pkt.data(), pkt.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
    }

    void on_accept(int fd, bool searpc) {
        const credentials cr = peer_credentials(fd);
        if (conns.size() >= cfg.lim.max_connections)
            return refuse(fd, cr,
                          "limit: connections (" + std::to_string(cfg.lim.max_connections) + ")");
        if (conns_per_uid[cr.uid] >= cfg.lim.max_connections_per_uid)
            return refuse(fd, cr,
                          "limit: connections per uid (" +
                              std::to_string(cfg.lim.max_connections_per_uid) + ")");
        if (2 * (conns.size() + 1) > slots.size()) {
            std::vector<connection*> bigger(2 * slots.size(), nullptr);
            for (const auto& [other, lc] : conns) bigger[other & (bigger.size() - 1)] = lc.get();
            slots.swap(bigger);
        }
        // Ids wrap after 2^32 accepts; never reuse one still live (nor share its slot).
        conn_id id;
        do {
            id = next_id++;
        } while (id == daemon_conn || slot_of(id) != nullptr);
        auto owned = std::make_unique<connection>(id, fd, cfg.lim.max_payload);
        connection& c = *owned;
        c.creds = cr;
        c.opened_ms = now_ms();
        if (searpc)
            c.gateway = std::make_unique<searpc_gateway>(cfg.lim.max_message, cfg.lim.max_payload,
                                                         cfg.searpc_call_timeout_ms);
        if (!try_watch(fd, c.interest, id)) {
            // ENOSPC (fs.epoll.max_user_watches) or ENOMEM: this connection goes, the daemon stays.
            owned->fd = -1;
            return refuse(fd, cr, std::string("limit: cannot watch the connection: ") + std::strerror(errno));
        }
        slot_of(id) = &c;
        conns.emplace(id, std::move(owned));
        ++conns_per_uid[cr.uid];
        rt.on_open(id, cr);
        spdlog::info("conn {} open{} (pid {} uid {} gid {})", id, searpc ? " (searpc gateway)" : "",
                     cr.pid, cr.uid, cr.gid);
        // Bytes a client sent with its connect are there already: read them now.
        on_connection_event(id, EPOLLIN);
    }

    // Accepts what is waiting (at most 64 per wake-up; the rest is reported again).
    void on_listener_ready(int listener, bool searpc) {
        for (int k = 0; k < 64 && !stopping; ++k) {
            const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                if (accept_failures) {
                    spdlog::info("accepting again after {} failed attempts", accept_failures);
                    accept_failures = 0;
                }
                on_accept(fd, searpc);
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            // EMFILE and friends: log (once until it works again), stop watching
            // the listeners for a little while (a level-triggered listener would
            // spin the loop), try again.
            if (accept_failures++ == 0)
                spdlog::error("accept failed: {}; retrying every 100 ms", std::strerror(errno));
            pause_listeners(true);
            accept_retry_at = now_ms() + 100;
            return;
        }
    }

    void pause_listeners(bool pause) {
        if (listen_fd >= 0) watch(listen_fd, pause ? 0 : ev_in, tag_listener, EPOLL_CTL_MOD);
        if (gateway_listen_fd >= 0)
            watch(gateway_listen_fd, pause ? 0 : ev_in, tag_gateway_listener, EPOLL_CTL_MOD);
    }

    void add_listener(int fd, std::uint64_t tag) {
        // Socket-activated fds may come blocking; accept4 must never block the loop.
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) fail_errno("fcntl");
        watch(fd, EPOLLIN, tag);
    }

    // --- Shutdown ------------------------------------------------------------------------------

    void begin_shutdown(int signo) {
        if (stopping) return;
        stopping = true;
        systemd::notify_stopping();
        spdlog::info("signal {}: shutting down ({} connections, {} sessions)", signo, conns.size(),
                     rt.session_count());
        for (int* fd : {&listen_fd, &gateway_listen_fd}) {
            if (*fd < 0) continue;
            // Out of the epoll set first: a socket-activated listener stays open in
            // systemd after our close, and a registration lives as long as the
            // socket, so it would keep reporting connects nobody accepts.
            ::epoll_ctl(ep, EPOLL_CTL_DEL, *fd, nullptr);
            ::close(*fd);  // our own socket: new connects are refused from here on
            *fd = -1;
        }
        unlink_if_ours(bound);
        unlink_if_ours(gateway_bound);
        rt.set_now(now_ms());
        rt.shutdown_all(*this);
        // Delivered before anything closes, so gateway clients get their 500 reply too.
        after_batch();
        for (auto& [id, c] : conns) schedule_close(*c, "shutdown");
        // Closing waits for queued bytes to be written, up to the deadline.
        for (auto& [id, c] : conns) mark_dirty(*c);
        after_batch();
        if (conns.empty()) {
            running = false;
            return;
        }
        shutdown_at = now_ms() + cfg.shutdown_timeout_ms;
    }

    void on_shutdown_deadline() {
        spdlog::warn("shutdown deadline: closing {} connections with unwritten data", conns.size());
        std::vector<conn_id> ids;
        for (auto& [id, c] : conns) {
            c->abandon = true;
            ids.push_back(id);
        }
        for (const conn_id id : ids) finalize(id);
        running = false;
    }

    void on_signals() {
        signalfd_siginfo si{};
        while (::read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (si.ssi_signo == SIGHUP)
                reload();
            else
                begin_shutdown(static_cast<int>(si.ssi_signo));
        }
    }

    // --- systemd: readiness, status, watchdog (daemon/systemd.hpp) -----------------------------

    std::string listen_path;
    std::string last_status;

    void send_status() {
        const auto plural = [](std::size_t n, const char* what) {
            return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
        };
        std::string line = "Listening on " + listen_path + ": " +
                           plural(conns.size(), "connection") + ", " +
                           plural(rt.session_count(), "session") + ", " +
                           plural(rt.service_count(), "service");
        if (line == last_status) return;
        systemd::notify_status(line);
        last_status = std::move(line);
    }

    // Called once the listener accepts: READY=1, then status updates every 5 s
    // and, under a watchdog, pings at half its interval. The pings come from
    // the event loop itself, so a stuck loop stops them and systemd restarts
    // the daemon; they go on during shutdown until the loop ends.
    void announce_ready() {
        systemd::notify_ready();
        send_status();
        status_at = now_ms() + 5000;
        if (const auto interval = systemd::watchdog_interval()) {
            systemd::notify_watchdog();
            watchdog_period_ms = std::max<std::uint64_t>(
                1, static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(*interval / 2).count()));
            watchdog_at = now_ms() + watchdog_period_ms;
        }
    }

    // --- Timers --------------------------------------------------------------------------------

    // Milliseconds until the earliest armed deadline (-1: none).
    int next_timeout(std::uint64_t now) const {
        std::uint64_t first = 0;
        for (const std::uint64_t at : {tick_at, status_at, watchdog_at, shutdown_at, accept_retry_at})
            if (at && (!first || at < first)) first = at;
        if (!first) return -1;
        return first <= now ? 0 : static_cast<int>(std::min<std::uint64_t>(first - now, 60'000));
    }

    void run_due_timers(std::uint64_t now) {
        const auto due = [now](std::uint64_t& at) {
            if (!at || at > now) return false;
            at = 0;
            return true;
        };
        if (due(watchdog_at)) {
            systemd::notify_watchdog();
            watchdog_at = now + watchdog_period_ms;
        }
        if (due(accept_retry_at) && !stopping) pause_listeners(false);
        if (due(status_at) && !stopping) {
            send_status();
            status_at = now + 5000;
        }
        if (due(tick_at) && !stopping) {
            tick();
            tick_at = now_ms() + static_cast<std::uint64_t>(tick_interval().count());
        }
        if (due(shutdown_at)) on_shutdown_deadline();
    }

    // --- The loop ------------------------------------------------------------------------------

    void run_loop() {
        std::array<epoll_event, 64> events;
        while (running) {
            const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                                       next_timeout(now_ms()));
            if (n < 0 && errno != EINTR) fail_errno("epoll_wait");
            const std::uint64_t now = now_ms();  // the router's time for this wake-up
            rt.set_now(now);
            for (int i = 0; i < n; ++i) {
                const std::uint64_t tag = events[i].data.u64;
                if (tag == tag_listener)
                    on_listener_ready(listen_fd, false);
                else if (tag == tag_gateway_listener)
                    on_listener_ready(gateway_listen_fd, true);
                else if (tag == tag_signals)
                    on_signals();
                else
                    on_connection_event(static_cast<conn_id>(tag), events[i].events);
            }
            run_due_timers(now);
            after_batch();
        }
    }

    // --- Reload (SIGHUP) ----------------------------------------------------------------------

    // Parses the command line and config file again. Limits, policy and log
    // level change in place; connections and sessions are untouched. An
    // invalid config is rejected and the running one stays.
    void reload() {
        // systemd (Type=notify) sees RELOADING=1 ... READY=1 around every reload,
        // including a rejected one.
        systemd::notify_reloading();
        auto parsed = parse_config(args);
        if (!parsed.cfg) {
            spdlog::error("reload rejected, keeping the running config: {}", parsed.message);
            systemd::notify_ready();
            return;
        }
        config& next = *parsed.cfg;
        if (next.socket_path != cfg.socket_path)
            spdlog::warn("reload: socket path change to {} takes effect at restart",
                         next.socket_path);
        next.socket_path = cfg.socket_path;
        cfg = std::move(next);
        spdlog::set_level(spdlog::level::from_str(cfg.log_level));
        rt.set_limits(cfg.lim);
        // Open connections read their next headers and gateway requests under
        // the new limits, too (a packet under way keeps its accepted length).
        for (auto& [id, c] : conns) {
            c->reader.set_max_payload(cfg.lim.max_payload);
            if (c->gateway)
                c->gateway->set_limits(cfg.lim.max_message, cfg.lim.max_payload, cfg.searpc_call_timeout_ms);
        }
        rt.set_now(now_ms());
        const auto revoked = rt.apply_policy(cfg.access, *this);
        spdlog::info("config reloaded ({} policy rules)", cfg.policy_rules.size());
        if (revoked.services || revoked.sessions)
            spdlog::warn("reload: the new policy removed {} registrations and ended {} sessions",
                         revoked.services, revoked.sessions);
        after_batch();
        systemd::notify_ready();
    }

    // --- Housekeeping ----------------------------------------------------------------------------

    std::chrono::milliseconds tick_interval() const {
        std::uint64_t t = std::min(cfg.lim.first_packet_timeout_ms, cfg.lim.partial_packet_timeout_ms);
        if (cfg.lim.session_idle_timeout_ms) t = std::min(t, cfg.lim.session_idle_timeout_ms);
        if (gateway_listen_fd >= 0) t = std::min(t, cfg.searpc_call_timeout_ms);
        return std::chrono::milliseconds(std::clamp<std::uint64_t>(t / 4, 5, 1000));
    }

    void release_idle_buffers(connection& c) {
        if (c.out.empty() && c.out.capacity() > keep_capacity) c.out.release();
        if (!c.reader.has_partial()) c.reader.shrink();
    }

    // Closes connections that never complete a packet (slowloris) and lets the
    // router reap idle sessions.
    void tick() {
        const std::uint64_t now = now_ms();
        rt.set_now(now);
        for (auto& [id, c] : conns) {
            if (c->forgotten && now - c->close_started_ms >= linger_ms) {
                c->abandon = true;  // its peer does not read what explains the close
                to_close.push_back(id);
            }
            if (c->closing) continue;
            release_idle_buffers(*c);
            // libsearpc clients keep idle pooled connections open before their
            // first call: gateway connections are exempt from this one.
            if (!c->gateway && !c->got_packet &&
                now - c->opened_ms > cfg.lim.first_packet_timeout_ms) {  // over: ms are truncated
                diagnose(id, "no complete packet within " +
                                 std::to_string(cfg.lim.first_packet_timeout_ms) + " ms; closing");
                schedule_close(*c, "first-packet timeout");
            } else if (c->partial_since_ms &&
                       now - c->partial_since_ms > cfg.lim.partial_packet_timeout_ms) {
                diagnose(id, "packet incomplete for " +
                                 std::to_string(cfg.lim.partial_packet_timeout_ms) + " ms; closing");
                schedule_close(*c, "partial-packet timeout");
            }
        }
        for (auto& [id, c] : conns) {
            if (!c->gateway || c->closing) continue;
            gateway_output g;
            c->gateway->on_tick(now, g);
            apply(*c, g);
        }
        rt.on_tick(*this);
        after_batch();
    }
};

server::server(config cfg, std::vector<std::string> args)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(args))) {}
server::~server() {
    if (impl_) {
        unlink_if_ours(impl_->bound);
        unlink_if_ours(impl_->gateway_bound);
    }
}

int server::run() {
    impl& m = *impl_;
    // Socket activation: systemd owns the socket file (it is neither created nor
    // removed here). Further fds (e.g. one named "searpc") stay open for their users.
    const auto passed = systemd::listen_fds();
    // The optional libsearpc gateway socket: passed as "searpc", or bound here.
    // It is ready before the main socket accepts, so whoever waits for the main
    // socket finds the gateway too.
    // (pick_listen_fd would hand a single unnamed fd to any name: ask by name only.)
    const bool searpc_passed = std::any_of(passed.begin(), passed.end(),
                                           [](const auto& f) { return f.name == "searpc"; });
    if (searpc_passed) {
        m.gateway_listen_fd = *systemd::pick_listen_fd(passed, "searpc");
        spdlog::info("searpc gateway on {} (socket-activated)", bound_path(m.gateway_listen_fd));
    } else if (!m.cfg.searpc_socket.empty()) {
        m.gateway_bound = bind_unix_listener(m.cfg.searpc_socket, m.cfg.socket_mode,
                                             socket_gid(m.cfg.socket_group));
        m.gateway_listen_fd = m.gateway_bound.fd;
        spdlog::info("searpc gateway on {}", m.cfg.searpc_socket);
    }
    if (m.gateway_listen_fd >= 0) m.add_listener(m.gateway_listen_fd, tag_gateway_listener);
    if (const auto fd = systemd::pick_listen_fd(passed, "junction")) {
        m.listen_fd = *fd;
        m.listen_path = bound_path(*fd);
        spdlog::info("junctiond {} listening on {} (socket-activated, {} fds passed)",
                     JUNCTION_VERSION, m.listen_path, passed.size());
    } else {
        m.bound = bind_unix_listener(m.cfg.socket_path, m.cfg.socket_mode,
                                     socket_gid(m.cfg.socket_group));
        m.listen_fd = m.bound.fd;
        m.listen_path = m.cfg.socket_path;
        spdlog::info("junctiond {} listening on {}", JUNCTION_VERSION, m.cfg.socket_path);
    }
    m.add_listener(m.listen_fd, tag_listener);
    m.tick_at = now_ms() + static_cast<std::uint64_t>(m.tick_interval().count());
    m.announce_ready();
    m.run_loop();
    unlink_if_ours(m.bound);
    unlink_if_ours(m.gateway_bound);
    spdlog::info("junctiond stopped");
    return 0;
}

}  // namespace junction::daemon
