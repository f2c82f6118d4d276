// Private to lib/: the state behind connection, session and incoming_session.
//
// Flow:
//   socket ─▶ read_loop ─▶ proto::frame_reader ─▶ connection_core::on_frame
//          ─▶ RESPONSE: masters[id]->deliver   UPDATE: slaves[id]->deliver
//             REQUEST: new slave session_core + handler coroutine
//   session send ─▶ connection_core::queue (append to `out`) ─▶ write_wake
//          ─▶ write_loop: swap `out` into `inflight`, one async_write
//
// Everything runs on the connection's executor; nothing is locked. A
// session_core holds its connection_core; the connection's tables hold open
// sessions only, so the reference cycle ends when a session ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "junction/connection.hpp"
#include "junction/proto/frame_reader.hpp"
#include "junction/proto/header.hpp"

namespace junction::detail {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;
using clock = std::chrono::steady_clock;

// --- Bounds (each one a decision, see the comments) -------------------------

// Write queue high-water mark. A sender that finds more queued than this waits
// (up to send_timeout) until the writer has drained it: backpressure on the
// application instead of unbounded memory. junctiond reads every connection
// eagerly, so the wait only lasts while the kernel buffer drains.
inline constexpr std::size_t max_queued_bytes = 4 * 1024 * 1024;
inline constexpr auto send_timeout = std::chrono::seconds(30);
// Unread packets per session. At the bound the session is ended (517 to the
// peer, errc::queue_full locally): a program that stops reading one session
// must not make the library buffer without end.
inline constexpr std::size_t max_inbox_bytes = 16 * 1024 * 1024;
inline constexpr std::size_t max_inbox_packets = 65536;
// connection::call() collects a chunked answer (312 ... 200) up to this many
// payload bytes, code lines included (docs/protocol.md §5's default message limit).
inline constexpr std::size_t max_call_answer = 16 * 1024 * 1024;
inline constexpr std::uint32_t first_session_id = 1001;  // ccnet's starting point

clock::time_point deadline_after(duration timeout) noexcept;

// Wakes every coroutine waiting on it. Each waiter sleeps on its own timer set
// to its own deadline, so waiters with different deadlines never disturb each
// other; notify_all() cancels their timers and they re-check their condition.
class wakeup {
public:
    void notify_all() noexcept;
    // {} once ready() holds, errc::timeout at the deadline,
    // std::errc::operation_canceled when the awaiting coroutine is cancelled.
    template <class Ready>
    awaitable<std::error_code> wait(Ready ready, clock::time_point deadline);

private:
    awaitable<std::error_code> sleep(clock::time_point deadline);
    std::vector<asio::steady_timer*> waiters_;
    // A timer kept between sleeps for the usual case of one waiter at a time (a
    // session's receiver): making one per sleep was ~4% of a pipelined client's
    // instructions. Extra waiters at the same time make their own.
    std::unique_ptr<asio::steady_timer> spare_;
};

template <class Ready>
awaitable<std::error_code> wakeup::wait(Ready ready, clock::time_point deadline) {
    for (;;) {
        if (ready()) co_return std::error_code{};
        if (clock::now() >= deadline) co_return make_error_code(errc::timeout);
        if (const auto ec = co_await sleep(deadline)) {
            if (ec != errc::timeout) co_return ec;
            co_return ready() ? std::error_code{} : ec;
        }
    }
}

enum class role { master, slave };

struct connection_core;

struct session_core {
    session_core(std::shared_ptr<connection_core> c, role r, std::uint32_t i, std::string line);

    std::shared_ptr<connection_core> conn;
    role side;
    std::uint32_t id;
    std::string request_line;
    std::string service;  // slave sessions: parsed from the REQUEST
    std::string args;

    std::deque<packet> inbox;
    std::size_t inbox_bytes = 0;
    bool ended = false;         // no packet will arrive any more
    std::error_code end_reason; // what receive() throws once the inbox is empty
    wakeup arrived;

    // The packet type this side sends: UPDATE as master, RESPONSE as slave.
    proto::packet_type send_type() const noexcept {
        return side == role::master ? proto::packet_type::update : proto::packet_type::response;
    }
    void deliver(packet p);
    // Marks the session ended (idempotent), drops it from the connection's table
    // and wakes receivers.
    void finish(errc why);
    // Sends `code` unless the session is gone; ends the session if the code does.
    // Returns the error a caller would see (session_ended, connection_lost, ...).
    std::error_code send(std::uint16_t code, std::string_view message, std::string_view content);
    // The session end done by a dropped handle: a 103 if still open, errors ignored.
    void abandon() noexcept;
    std::string describe() const;  // "session 1001 (echo hi)" for error messages
};

struct connection_core : std::enable_shared_from_this<connection_core> {
    connection_core(asio::any_io_executor ex, std::string socket_path);

    asio::any_io_executor executor;
    std::string path;
    stream::socket sock;
    proto::frame_reader reader;
    std::vector<std::uint8_t> out;       // queued, not yet handed to async_write
    std::vector<std::uint8_t> inflight;  // owned by the one async_write in flight
    bool writing = false;
    bool open = true;
    std::error_code last_error;
    std::string last_note;  // text of the last error junctiond sent on id 0, or why we closed
    asio::steady_timer write_wake;  // the writer sleeps on it while `out` is empty
    wakeup state_changed;           // write queue drained or connection closed

    std::unordered_map<std::uint32_t, std::shared_ptr<session_core>> masters;
    std::unordered_map<std::uint32_t, std::shared_ptr<session_core>> slaves;
    std::unordered_map<std::string, std::shared_ptr<const connection::handler>> services;
    std::uint32_t next_id = first_session_id;

    void start();  // spawns the reader and the writer
    std::uint32_t allocate_id() noexcept;
    std::size_t queued() const noexcept { return out.size() + inflight.size(); }

    // Appends one packet and wakes the writer; false when the connection is closed.
    bool queue_code(proto::packet_type type, std::uint32_t id, std::uint16_t code,
                    std::string_view message, std::string_view content);
    bool queue_request(std::uint32_t id, std::string_view line);
    // Waits while the write queue is over max_queued_bytes.
    awaitable<std::error_code> wait_room();

    void close() noexcept;
    void fail(errc why, std::string note) noexcept;
    // The exception thrown for a dead connection, with the reason when known.
    std::system_error lost_error(const std::string& what) const;

    // Reader side: returns false to stop reading.
    bool on_frame(const proto::frame& f);
    void on_request(const proto::frame& f);
    void on_session_packet(const proto::frame& f, role side);
};

// Coroutines shared by connection.cpp and session.cpp.
awaitable<std::shared_ptr<session_core>> open_session(std::shared_ptr<connection_core> c,
                                                       std::string line);
awaitable<packet> receive_on(std::shared_ptr<session_core> s, duration timeout);
// Queues the packet at once (the views need not outlive the call); the
// returned coroutine waits for room in the write queue and throws what failed.
awaitable<void> send_on(std::shared_ptr<session_core> s, std::uint16_t code, std::string_view message,
                        std::string_view content);
awaitable<void> end_on(std::shared_ptr<session_core> s);

}  // namespace junction::detail
