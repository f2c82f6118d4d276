// The I/O shell around the router.
//
// Flow of one wake-up:
//   socket readable ─▶ on_readable: read what is there into the shared scratch
//   buffer (until a short read) ─▶ frame_reader.feed ─▶ router.on_packet per
//   frame ─▶ action_sink: bytes appended to target connections' `out` buffers,
//   targets marked dirty ─▶ after_batch(): each dirty connection flushes once
//   (one non-blocking write of everything queued; the rest goes to one
//   async_write), then deferred closes run (router.on_close, 515s to peers).
//
// One thread, one io_context. Per connection: one read loop (a chain of
// completion handlers, see wait_readable) and at most one write in flight. Queued
// bytes per connection are bounded by limits::max_queued_bytes: a connection
// that does not read what it is sent is closed at the bound (docs/protocol.md,
// "Slow readers").
#include "server.hpp"

#include <chrono>
#include <grp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <spdlog/spdlog.h>

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

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
// Sockets bound to the io_context's own executor type rather than the
// type-erased any_io_executor: every handler's work tracking then calls the
// scheduler directly. Callgrind seq64: 3,433 -> 3,355 Ir per call.
using executor = asio::io_context::executor_type;
using socket_type = asio::basic_stream_socket<stream, executor>;
using acceptor_type = asio::basic_socket_acceptor<stream, executor>;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

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
    connection(conn_id i, socket_type s, std::size_t max_payload)
        : id(i), sock(std::move(s)), reader(max_payload) {}

    conn_id id;
    socket_type sock;
    proto::frame_reader reader;
    credentials creds;
    std::vector<std::uint8_t> out;       // queued, not yet handed to the kernel
    std::vector<std::uint8_t> inflight;  // owned by the one async_write in flight
    bool writing = false;
    bool dirty = false;
    // Closing happens in two steps. `forgotten`: the router has been told and
    // nothing more is queued. Then the socket lingers until what was queued
    // (the packet that explains the close, answers owed) is written, or the
    // linger deadline passes; `abandon` skips the linger (slow reader, write error).
    bool closing = false;    // no more reading; finalize() is due
    bool forgotten = false;  // router told; out of routing
    bool abandon = false;
    bool sock_closed = false;
    std::uint64_t close_started_ms = 0;
    std::uint32_t diagnostics = 0;  // problems logged (see diagnose)
    bool got_packet = false;
    std::uint64_t opened_ms = 0;
    std::uint64_t partial_since_ms = 0;  // when the incomplete frame's first byte came
    std::string close_reason;
    // Gateway connections (libsearpc named pipe) speak searpc on the socket; the
    // router's packets for them go to `router_inbox` and through the translator.
    std::unique_ptr<searpc_gateway> gateway;
    std::vector<std::uint8_t> router_inbox;

    std::size_t queued() const noexcept { return out.size() + inflight.size() + router_inbox.size(); }
};

using conn_ptr = std::shared_ptr<connection>;

}  // namespace

struct server::impl final : action_sink {
    impl(config c, std::vector<std::string> a)
        : cfg(std::move(c)),
          args(std::move(a)),
          // One thread and nothing else touches the io_context (signals arrive
          // through Asio's self-pipe, the watchdog is a timer): without locks the
          // scheduler and reactor skip ~640 instructions of pthread_mutex per
          // routed call (callgrind, seq64). Only one io_context in the process may
          // then own signal_sets, which holds for junctiond.
          io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE),
          rt(cfg.lim, now_ms(), JUNCTION_VERSION),
          signals(io, SIGINT, SIGTERM),
          hangup(io, SIGHUP),
          shutdown_timer(io),
          tick_timer(io),
          scratch(scratch_size) {
        rt.set_policy(cfg.access);
    }

    config cfg;
    std::vector<std::string> args;
    asio::io_context io;
    router rt;
    bound_socket bound;
    std::optional<acceptor_type> acceptor;
    bound_socket gateway_bound;  // --searpc-socket
    std::optional<acceptor_type> gateway_acceptor;
    asio::signal_set signals;
    asio::signal_set hangup;
    asio::steady_timer shutdown_timer;
    asio::steady_timer tick_timer;
    std::vector<std::uint8_t> scratch;  // shared read buffer (one thread)

    boost::unordered_flat_map<conn_id, conn_ptr> conns;
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

    connection* target(conn_id id) {
        connection* c = slot_of(id);
        return c && c->id == id && !c->forgotten ? c : nullptr;
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

    void forward(conn_id to, std::uint32_t id, std::span<const std::uint8_t> wire) override {
        connection* c = target(to);
        if (!c || c->closing || !has_room(*c, wire.size())) return;
        std::vector<std::uint8_t>& q = c->gateway ? c->router_inbox : c->out;
        const std::size_t at = q.size();
        q.insert(q.end(), wire.begin(), wire.end());
        proto::rewrite_id(q.data() + at, id);
        mark_dirty(*c);
    }

    void send(conn_id to, proto::packet_type type, std::uint32_t id, std::uint16_t code,
              std::string_view message, std::span<const std::uint8_t> content) override {
        connection* c = target(to);
        if (!c) return;
        const std::size_t size = proto::header_size + proto::code_payload_size(message, content.size());
        if (!c->closing && !has_room(*c, size)) return;
        proto::append_code_packet(c->gateway ? c->router_inbox : c->out, type, id, code, message,
                                  content);
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
    }

    // Step one (once): the router forgets the connection and tells its peers.
    // Step two: the socket closes when what is queued is written, at once when
    // abandoned. Called again from the write handler and the linger deadline.
    void finalize(conn_id id) {
        const auto it = conns.find(id);
        if (it == conns.end()) return;
        const conn_ptr c = it->second;
        if (!c->forgotten) {
            c->forgotten = true;
            c->closing = true;
            c->close_started_ms = now_ms();
            if (auto u = conns_per_uid.find(c->creds.uid); u != conns_per_uid.end() && --u->second == 0)
                conns_per_uid.erase(u);
            spdlog::info("conn {} closed (pid {} uid {}): {}{}", id, c->creds.pid, c->creds.uid,
                         c->close_reason.empty() ? "closed" : c->close_reason,
                         c->diagnostics > max_diagnostics
                             ? " (" + std::to_string(c->diagnostics) + " problems in all)"
                             : std::string());
            rt.on_close(id, *this);
            if (!c->abandon) flush(c);
        }
        if (!c->abandon && (c->writing || !c->out.empty())) return;  // lingers
        c->sock_closed = true;
        error_code ig;
        c->sock.shutdown(socket_type::shutdown_both, ig);
        c->sock.close(ig);
        slot_of(id) = nullptr;
        conns.erase(it);
        if (stopping && conns.empty()) io.stop();
    }

    // A write failed: nothing more can be delivered on this connection.
    void fail_write(connection& c, const error_code& ec) {
        c.abandon = true;
        c.out.clear();
        if (!c.closing)
            schedule_close(c, "write failed: " + ec.message());
        else
            to_close.push_back(c.id);
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
        if (!g.to_client.empty() && !c.sock_closed && !c.abandon &&
            (c.queued() <= cfg.lim.max_queued_bytes || has_room(c, g.to_client.size()))) {
            c.out.insert(c.out.end(), g.to_client.begin(), g.to_client.end());
            mark_dirty(c);
        }
        if (!g.close_reason.empty()) {
            diagnose(c.id, g.close_reason + "; closing");
            schedule_close(c, g.close_reason);
        }
    }

    void flush(const conn_ptr& c) {
        if (c->gateway && !c->router_inbox.empty() && !c->sock_closed) {
            std::vector<std::uint8_t> inbox;
            inbox.swap(c->router_inbox);
            gateway_output g;
            proto::frame_reader frames;
            frames.feed(inbox, [&](const proto::frame& f) {
                c->gateway->on_router_frame(f, g);
                return true;
            });
            apply(*c, g);
        }
        if (c->sock_closed || c->abandon || c->writing || c->out.empty()) return;
        error_code ec;
        const std::size_t n = c->sock.write_some(asio::buffer(c->out), ec);
        if (ec && ec != asio::error::would_block) return fail_write(*c, ec);
        if (!ec && n == c->out.size()) {
            c->out.clear();
            return;
        }
        // The kernel buffer is full: hand the rest to one async_write.
        if (!ec) c->out.erase(c->out.begin(), c->out.begin() + static_cast<std::ptrdiff_t>(n));
        c->inflight.swap(c->out);
        c->writing = true;
        asio::async_write(c->sock, asio::buffer(c->inflight), [this, c](error_code wec, std::size_t) {
            c->writing = false;
            c->inflight.clear();
            if (c->sock_closed) return;
            if (wec)
                fail_write(*c, wec);
            else
                flush(c);
            // A lingering connection whose bytes are all written closes now.
            if (c->forgotten && c->out.empty() && !c->writing) to_close.push_back(c->id);
            after_batch();
        });
    }

    // Flushes every connection touched by the last batch of events, then runs
    // deferred closes (whose 515s touch more connections) until nothing is left.
    void after_batch() {
        // Ids, not pointers: a connection may be finalized while still listed.
        // The batch vectors are members so that no wake-up allocates.
        while (!dirty.empty() || !to_close.empty()) {
            dirty_batch.swap(dirty);
            for (const conn_id id : dirty_batch) {
                const auto it = conns.find(id);
                if (it == conns.end()) continue;
                it->second->dirty = false;
                flush(it->second);
            }
            dirty_batch.clear();
            closing_batch.swap(to_close);
            for (const conn_id id : closing_batch) finalize(id);
            closing_batch.clear();
        }
    }

    // --- Reading ------------------------------------------------------------------------

    enum class read_result { drained, more, stop };

    // Handles one wake-up: reads straight into the shared scratch buffer until
    // a short read (or EAGAIN) empties the socket, at most 8 buffers full.
    read_result read_available(connection& c) {
        rt.set_now(now_ms());
        std::size_t have = 0;
        bool full = true;  // the socket may hold bytes: read
        // Bounded rounds per wake-up, so one busy peer cannot starve the others.
        for (int round = 0; round < 8; ++round) {
            std::string gone;
            if (full) {
                error_code ec;
                const std::size_t n =
                    c.sock.read_some(asio::buffer(scratch.data() + have, scratch.size() - have), ec);
                if (ec == asio::error::would_block) {
                    full = false;
                } else if (ec || n == 0) {
                    full = false;
                    gone = ec && ec != asio::error::eof ? ec.message() : "end of stream";
                } else {
                    have += n;
                    full = have == scratch.size();
                }
            }
            if (have > 0 && !take_bytes(c, have)) return read_result::stop;
            if (!gone.empty()) {
                schedule_close(c, gone);
                return read_result::stop;
            }
            // A short read emptied the socket: nothing is left behind the epoll edge.
            if (!full) return read_result::drained;
            have = 0;
        }
        return read_result::more;
    }

    // Hands `n` bytes of scratch to the connection's reader (frames to the
    // router) or gateway. False when the connection must not be read further.
    bool take_bytes(connection& c, std::size_t n) {
        if (c.gateway) {
            answers_only = false;
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
            if (f.hdr.type != static_cast<std::uint8_t>(proto::packet_type::response))
                answers_only = false;
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

    // Writes happen once per event-loop round, after every connection that was
    // ready in it has been read: 16 frames for one provider from 8 clients leave
    // in one write, not 8. Asio queues the posted flush behind its reactor
    // task, so it also costs one epoll_wait (timeout 0) and a trip through
    // the scheduler; a round that queued nothing does not post one.
    bool flush_posted = false;
    void request_flush() {
        if (flush_posted || (dirty.empty() && to_close.empty())) return;
        flush_posted = true;
        asio::post(io, [this] {
            flush_posted = false;
            after_batch();
        });
    }

    // RESPONSEs go to clients, and a client hears only from the providers of
    // its own sessions: nothing else in the round is likely to write to the
    // connections a read of RESPONSEs made dirty, so they are flushed at once
    // (dirty[from..]; connections already dirty before this read wait for the
    // round's flush). Gathering still happens where it pays, clients writing
    // to one provider. Per call one post and one epoll_wait less: seq64
    // callgrind 3,722 -> 3,433 Ir per call, perf stat 10 -> 9 hub syscalls.
    bool answers_only = false;  // the read in progress carried only RESPONSEs
    void flush_now(std::size_t from) {
        for (std::size_t i = from; i < dirty.size(); ++i) {
            const auto it = conns.find(dirty[i]);
            if (it == conns.end()) continue;
            it->second->dirty = false;
            flush(it->second);
        }
        dirty.resize(from);
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

    // The read loop of a connection: a chain of handlers, each reading what
    // is there and waiting for the next wake-up. A new connection is read at
    // once (bytes a client sent with its connect are there before any epoll
    // edge); after that, each round ends with a short read or EAGAIN, so the
    // socket is empty and the next round waits for readiness (async_wait) and
    // then reads into the shared scratch buffer. Not async_read_some: Asio
    // 1.81 tries a speculative recvfrom before waiting after every read that
    // returned bytes, and on an emptied socket that is an EAGAIN, one
    // recvfrom in two (8x16: 0.146 recvfrom per routed call against the
    // relay's 0.073 reads). The socket is registered edge-triggered: an edge
    // that fires while no wait is queued (during a yield) loses no data,
    // because every wait starts after a read that emptied the socket.
    //
    // A chain of plain completion handlers rather than a coroutine: this runs
    // once per wake-up, and resuming an awaitable (a frame for each async
    // operation, awaitable_thread pump, type-erased executor) cost about 790 Ir
    // per routed call more (callgrind, seq64: 4,460 -> 3,674). The handlers
    // come from Asio's per-thread recycling allocator: no malloc per wake-up.
    void wait_readable(conn_ptr c) {
        connection& cr = *c;
        cr.sock.async_wait(socket_type::wait_read, [this, c = std::move(c)](error_code ec) mutable {
            on_readable(std::move(c), ec);
        });
    }

    void on_readable(conn_ptr c, error_code ec = {}) {
        const conn_id id = c->id;
        try {
            if (c->closing) return;
            if (ec) {
                schedule_close(*c, ec == asio::error::eof ? "end of stream" : ec.message());
                request_flush();
                return;
            }
            const std::size_t dirty_before = dirty.size();
            answers_only = true;
            const read_result r = read_available(*c);
            if (answers_only) flush_now(dirty_before);
            request_flush();
            if (r == read_result::stop) return;
            if (r == read_result::drained) return wait_readable(std::move(c));
            // Yield to the other connections, then read on.
            asio::post(io, [this, c = std::move(c)]() mutable { on_readable(std::move(c)); });
        } catch (const std::exception& ex) {
            // A bug or bad_alloc: this connection goes, the daemon stays.
            spdlog::error("conn {}: read loop failed: {}; closing", id, ex.what());
            if (const auto it = conns.find(id); it != conns.end()) {
                it->second->abandon = true;
                schedule_close(*it->second, "internal error");
                to_close.push_back(id);
                after_batch();
            }
        }
    }

    // --- Accepting --------------------------------------------------------------------------

    void refuse(socket_type& sock, const credentials& cr, const std::string& why) {
        spdlog::warn("refused connection (pid {} uid {}): {}", cr.pid, cr.uid, why);
        std::vector<std::uint8_t> pkt;
        proto::append_code_packet(pkt, proto::packet_type::response, 0, proto::code::limit_exceeded,
                                  why);
        error_code ig;
        sock.non_blocking(true, ig);
        sock.write_some(asio::buffer(pkt), ig);
        sock.close(ig);
    }

    void on_accept(socket_type sock, bool searpc) {
        const credentials cr = peer_credentials(sock.native_handle());
        if (conns.size() >= cfg.lim.max_connections)
            return refuse(sock, cr,
                          "limit: connections (" + std::to_string(cfg.lim.max_connections) + ")");
        if (conns_per_uid[cr.uid] >= cfg.lim.max_connections_per_uid)
            return refuse(sock, cr,
                          "limit: connections per uid (" +
                              std::to_string(cfg.lim.max_connections_per_uid) + ")");
        error_code ec;
        sock.non_blocking(true, ec);
        if (2 * (conns.size() + 1) > slots.size()) {
            std::vector<connection*> bigger(2 * slots.size(), nullptr);
            for (const auto& [live, lc] : conns) bigger[live & (bigger.size() - 1)] = lc.get();
            slots.swap(bigger);
        }
        // Ids wrap after 2^32 accepts; never reuse one still live (nor share its slot).
        conn_id id;
        do {
            id = next_id++;
        } while (id == daemon_conn || slot_of(id) != nullptr);
        auto c = std::make_shared<connection>(id, std::move(sock), cfg.lim.max_payload);
        c->creds = cr;
        c->opened_ms = now_ms();
        if (searpc)
            c->gateway = std::make_unique<searpc_gateway>(cfg.lim.max_message, cfg.lim.max_payload,
                                                          cfg.searpc_call_timeout_ms);
        slot_of(id) = c.get();
        conns.emplace(id, c);
        ++conns_per_uid[cr.uid];
        rt.on_open(id, cr);
        spdlog::info("conn {} open{} (pid {} uid {} gid {})", id, searpc ? " (searpc gateway)" : "",
                     cr.pid, cr.uid, cr.gid);
        on_readable(std::move(c));
    }

    asio::awaitable<void> accept_loop(acceptor_type& from, bool searpc) {
        asio::steady_timer backoff(io);
        while (from.is_open()) {
            auto [ec, sock] = co_await from.async_accept(use_tuple);
            if (ec == asio::error::operation_aborted || stopping) co_return;
            if (ec) {
                // EMFILE and friends: log, wait a little, try again.
                spdlog::error("accept failed: {}", ec.message());
                backoff.expires_after(std::chrono::milliseconds(100));
                co_await backoff.async_wait(use_tuple);
                continue;
            }
            on_accept(std::move(sock), searpc);
        }
    }

    // --- Shutdown ------------------------------------------------------------------------------

    void begin_shutdown(int signo) {
        if (stopping) return;
        stopping = true;
        systemd::notify_stopping();
        spdlog::info("signal {}: shutting down ({} connections, {} sessions)", signo, conns.size(),
                     rt.session_count());
        error_code ig;
        if (acceptor) acceptor->close(ig);
        if (gateway_acceptor) gateway_acceptor->close(ig);
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
            io.stop();
            return;
        }
        shutdown_timer.expires_after(std::chrono::milliseconds(cfg.shutdown_timeout_ms));
        shutdown_timer.async_wait([this](error_code) {
            spdlog::warn("shutdown deadline: closing {} connections with unwritten data",
                         conns.size());
            std::vector<conn_id> ids;
            for (auto& [id, c] : conns) {
                c->abandon = true;
                ids.push_back(id);
            }
            for (const conn_id id : ids) finalize(id);
            io.stop();
        });
    }

    void wait_signal() {
        signals.async_wait([this](error_code ec, int signo) {
            if (!ec) begin_shutdown(signo);
        });
    }

    // --- systemd: readiness, status, watchdog (daemon/systemd.hpp) -----------------------------

    std::optional<asio::steady_timer> status_timer;
    std::optional<asio::steady_timer> watchdog_timer;
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

    void status_updates() {
        status_timer->expires_after(std::chrono::seconds(5));
        status_timer->async_wait([this](error_code ec) {
            if (ec || stopping) return;
            send_status();
            status_updates();
        });
    }

    // The pings come from the event loop itself, so a stuck loop stops them and
    // systemd restarts the daemon. They go on during shutdown until io.stop().
    void watchdog_pings(std::chrono::microseconds period) {
        watchdog_timer->expires_after(period);
        watchdog_timer->async_wait([this, period](error_code ec) {
            if (ec) return;
            systemd::notify_watchdog();
            watchdog_pings(period);
        });
    }

    // Called once the acceptor is listening: READY=1, then status and watchdog timers.
    void announce_ready() {
        systemd::notify_ready();
        send_status();
        status_timer.emplace(io);
        status_updates();
        if (const auto interval = systemd::watchdog_interval()) {
            systemd::notify_watchdog();
            watchdog_timer.emplace(io);
            watchdog_pings(*interval / 2);
        }
    }

    // --- Reload (SIGHUP) ----------------------------------------------------------------------

    void wait_hangup() {
        hangup.async_wait([this](error_code ec, int) {
            if (ec) return;
            reload();
            wait_hangup();
        });
    }

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
        if (gateway_acceptor) t = std::min(t, cfg.searpc_call_timeout_ms);
        return std::chrono::milliseconds(std::clamp<std::uint64_t>(t / 4, 5, 1000));
    }

    void start_ticks() {
        tick_timer.expires_after(tick_interval());
        tick_timer.async_wait([this](error_code ec) {
            if (ec || stopping) return;
            tick();
            start_ticks();
        });
    }

    void release_idle_buffers(connection& c) {
        if (c.out.empty() && c.out.capacity() > keep_capacity) std::vector<std::uint8_t>().swap(c.out);
        if (!c.writing && c.inflight.capacity() > keep_capacity)
            std::vector<std::uint8_t>().swap(c.inflight);
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
    const bool searpc_passed = std::any_of(passed.begin(), passed.end(),
                                           [](const auto& f) { return f.name == "searpc"; });
    if (searpc_passed) {
        m.gateway_acceptor.emplace(m.io, stream(), *systemd::pick_listen_fd(passed, "searpc"));
        spdlog::info("searpc gateway on {} (socket-activated)",
                     m.gateway_acceptor->local_endpoint().path());
    } else if (!m.cfg.searpc_socket.empty()) {
        m.gateway_bound = bind_unix_listener(m.cfg.searpc_socket, m.cfg.socket_mode,
                                             socket_gid(m.cfg.socket_group));
        m.gateway_acceptor.emplace(m.io, stream(), m.gateway_bound.fd);
        spdlog::info("searpc gateway on {}", m.cfg.searpc_socket);
    }
    if (const auto fd = systemd::pick_listen_fd(passed, "junction")) {
        m.acceptor.emplace(m.io, stream(), *fd);
        m.listen_path = m.acceptor->local_endpoint().path();
        spdlog::info("junctiond {} listening on {} (socket-activated, {} fds passed)",
                     JUNCTION_VERSION, m.listen_path, passed.size());
    } else {
        m.bound = bind_unix_listener(m.cfg.socket_path, m.cfg.socket_mode,
                                     socket_gid(m.cfg.socket_group));
        m.acceptor.emplace(m.io, stream(), m.bound.fd);
        m.listen_path = m.cfg.socket_path;
        spdlog::info("junctiond {} listening on {}", JUNCTION_VERSION, m.cfg.socket_path);
    }
    m.wait_signal();
    m.wait_hangup();
    m.start_ticks();
    const auto spawn_accept = [&m](acceptor_type& from, bool searpc) {
        asio::co_spawn(m.io, m.accept_loop(from, searpc), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::critical("accept loop failed: {}", ex.what());
            }
        });
    };
    spawn_accept(*m.acceptor, false);
    if (m.gateway_acceptor) spawn_accept(*m.gateway_acceptor, true);
    m.announce_ready();
    m.io.run();
    unlink_if_ours(m.bound);
    unlink_if_ours(m.gateway_bound);
    spdlog::info("junctiond stopped");
    return 0;
}

}  // namespace junction::daemon
