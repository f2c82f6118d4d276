// The connection: socket, reader, writer, dispatch of incoming frames, and the
// client/provider operations built on sessions (call, register_service).
//
// Flow of one read: read_loop ─▶ frame_reader.feed ─▶ on_frame per frame
//   RESPONSE ─▶ on_session_packet(master) ─▶ session_core::deliver / finish
//   UPDATE   ─▶ on_session_packet(slave)  ─▶ same
//   REQUEST  ─▶ on_request ─▶ handler lookup ─▶ co_spawn(run_handler) or 511
// Frames for ids we do not know are answered 102 unless they end a session
// themselves (docs/protocol.md §6.1, mirrored on the client side).
#include <algorithm>
#include <sys/un.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"

namespace junction {

namespace detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t read_buffer_size = 64 * 1024;
// Write buffers grown past this by a burst are released once drained.
constexpr std::size_t keep_capacity = 256 * 1024;

bool ends_session(std::uint16_t code) noexcept {
    return code == proto::code::proc_done || code == proto::code::proc_dead || proto::is_error(code);
}

awaitable<void> read_loop(std::shared_ptr<connection_core> self) {
    std::vector<std::uint8_t> buf(read_buffer_size);
    while (self->open) {
        auto [ec, n] = co_await self->sock.async_read_some(asio::buffer(buf), use_tuple);
        if (!self->open) break;
        if (ec) {
            self->fail(errc::connection_lost, ec == asio::error::eof
                                                  ? "junctiond closed the connection"
                                                  : "read: " + ec.message());
            break;
        }
        const auto err = self->reader.feed({buf.data(), n},
                                           [&](const proto::frame& f) { return self->on_frame(f); });
        if (err) {
            self->fail(errc::protocol_error, "bad packet header from junctiond: " + err.message());
            break;
        }
    }
}

awaitable<void> write_loop(std::shared_ptr<connection_core> self) {
    while (self->open) {
        if (self->out.empty()) {
            self->write_wake.expires_at(clock::time_point::max());
            co_await self->write_wake.async_wait(use_tuple);
            continue;
        }
        // Everything queued since the last write leaves in one async_write.
        self->inflight.swap(self->out);
        self->writing = true;
        auto [ec, n] = co_await asio::async_write(self->sock, asio::buffer(self->inflight), use_tuple);
        self->writing = false;
        self->inflight.clear();
        if (self->inflight.capacity() > keep_capacity) std::vector<std::uint8_t>().swap(self->inflight);
        if (ec) {
            self->fail(errc::connection_lost, "write: " + ec.message());
            break;
        }
        self->state_changed.notify_all();
    }
}

// The reader and writer never throw by design; should one do so anyway (say,
// bad_alloc), the connection is failed instead of left half-alive.
auto loop_done(std::weak_ptr<connection_core> weak, const char* which) {
    return [weak, which](std::exception_ptr e) {
        if (!e) return;
        const auto self = weak.lock();
        if (!self) return;
        std::string what = "unknown exception";
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            what = ex.what();
        } catch (...) {
        }
        self->fail(errc::protocol_error, std::string(which) + " failed: " + what);
    };
}

// One provider session's handler. It never throws: what the handler does not
// handle becomes the session's last packet.
awaitable<void> run_handler(std::shared_ptr<incoming_session> in,
                            std::shared_ptr<const connection::handler> h) {
    std::string failure;
    try {
        co_await (*h)(in);
    } catch (const std::exception& e) {
        failure = e.what();
        if (failure.empty()) failure = "exception";
    } catch (...) {
        failure = "unknown exception";
    }
    if (in->ended()) co_return;
    try {
        if (failure.empty())
            co_await in->end();
        else
            co_await in->respond(proto::code::create_proc_err, "service handler failed: " + failure);
    } catch (const std::exception&) {
        // The connection is gone; nobody is left to tell.
    }
}

std::system_error invalid(const std::string& what) {
    return std::system_error(std::make_error_code(std::errc::invalid_argument), what);
}

}  // namespace

// --- wakeup ---------------------------------------------------------------------

clock::time_point deadline_after(duration timeout) noexcept {
    const auto now = clock::now();
    if (timeout <= duration::zero()) return now;
    if (timeout >= clock::time_point::max() - now) return clock::time_point::max();
    return now + timeout;
}

void wakeup::notify_all() noexcept {
    for (asio::steady_timer* t : waiters_) t->cancel();
}

awaitable<std::error_code> wakeup::sleep(clock::time_point deadline) {
    std::unique_ptr<asio::steady_timer> timer = std::move(spare_);
    if (timer)
        timer->expires_at(deadline);
    else
        timer = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor, deadline);
    // Unregisters the timer however the coroutine ends, even if its frame is
    // destroyed while suspended (io_context torn down), and keeps it for the next sleep.
    struct registration {
        wakeup& w;
        std::unique_ptr<asio::steady_timer>& timer;
        bool idle = false;  // its wait completed: nothing is pending on it
        ~registration() {
            std::erase(w.waiters_, timer.get());
            if (idle && !w.spare_) w.spare_ = std::move(timer);
        }
    } reg{*this, timer};
    waiters_.push_back(timer.get());
    auto [ec] = co_await timer->async_wait(use_tuple);
    reg.idle = true;
    const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
        co_return std::make_error_code(std::errc::operation_canceled);
    if (!ec) co_return make_error_code(errc::timeout);
    co_return std::error_code{};  // notified
}

// --- connection_core --------------------------------------------------------------

connection_core::connection_core(asio::any_io_executor ex, std::string socket_path)
    : executor(ex), path(std::move(socket_path)), sock(ex), write_wake(ex) {}

void connection_core::start() {
    auto self = shared_from_this();
    asio::co_spawn(executor, read_loop(self), loop_done(self, "reader"));
    asio::co_spawn(executor, write_loop(self), loop_done(self, "writer"));
}

std::uint32_t connection_core::allocate_id() noexcept {
    for (;;) {
        const std::uint32_t id = next_id++;
        if (next_id == 0) next_id = 1;
        if (id != 0 && !masters.contains(id)) return id;
    }
}

bool connection_core::queue_code(proto::packet_type type, std::uint32_t id, std::uint16_t code,
                                 std::string_view message, std::string_view content) {
    if (!open) return false;
    proto::append_code_packet(out, type, id, code, message, proto::as_bytes(content));
    write_wake.cancel();
    return true;
}

bool connection_core::queue_request(std::uint32_t id, std::string_view line) {
    if (!open) return false;
    proto::append_packet(out, proto::packet_type::request, id, proto::as_bytes(line));
    write_wake.cancel();
    return true;
}

awaitable<std::error_code> connection_core::wait_room() {
    if (queued() <= max_queued_bytes) co_return std::error_code{};
    const auto ec = co_await state_changed.wait(
        [this] { return !open || queued() <= max_queued_bytes; }, deadline_after(send_timeout));
    if (ec) co_return ec;
    co_return open ? std::error_code{} : make_error_code(errc::connection_lost);
}

void connection_core::close() noexcept {
    if (!open) return;
    // One last non-blocking write, so that a 103 queued just before close()
    // reaches the daemon instead of a 515 for the peer.
    if (!writing && !out.empty()) {
        boost::system::error_code ig;
        sock.non_blocking(true, ig);
        sock.write_some(asio::buffer(out), ig);
    }
    fail(errc::connection_lost, "closed by the application");
}

void connection_core::fail(errc why, std::string note) noexcept {
    if (!open) return;
    open = false;
    last_error = make_error_code(why);
    if (last_note.empty()) last_note = std::move(note);
    boost::system::error_code ig;
    sock.shutdown(stream::socket::shutdown_both, ig);
    sock.close(ig);
    write_wake.cancel();
    // Handlers may capture things that hold this connection: drop them now.
    services.clear();
    auto m = std::move(masters);
    auto s = std::move(slaves);
    masters.clear();
    slaves.clear();
    for (auto& [id, sc] : m) sc->finish(errc::connection_lost);
    for (auto& [id, sc] : s) sc->finish(errc::connection_lost);
    state_changed.notify_all();
}

std::system_error connection_core::lost_error(const std::string& what) const {
    const std::error_code ec = last_error ? last_error : make_error_code(errc::connection_lost);
    return std::system_error(ec, last_note.empty() ? what : what + " (" + last_note + ")");
}

bool connection_core::on_frame(const proto::frame& f) {
    switch (static_cast<proto::packet_type>(f.hdr.type)) {
        case proto::packet_type::request: on_request(f); break;
        case proto::packet_type::response: on_session_packet(f, role::master); break;
        case proto::packet_type::update: on_session_packet(f, role::slave); break;
        default:
            fail(errc::protocol_error,
                 "junctiond sent packet type " + std::to_string(f.hdr.type));
            return false;
    }
    return open;
}

void connection_core::on_request(const proto::frame& f) {
    const std::uint32_t id = f.hdr.id;
    using proto::packet_type;
    if (id == 0) return;  // the daemon never routes id 0; nothing could answer it
    if (const auto it = slaves.find(id); it != slaves.end()) {
        // The daemon must not reuse an open id; believe the newer REQUEST.
        const auto old = it->second;
        old->finish(errc::protocol_error);
    }
    proto::request_line req;
    if (const auto ec = proto::parse_request(f.payload, req)) {
        queue_code(packet_type::response, id, proto::code::bad_args, ec.message(), {});
        return;
    }
    const auto svc = services.find(std::string(req.service));
    if (svc == services.end()) {
        queue_code(packet_type::response, id, proto::code::unknown_service,
                   "unknown service " + std::string(req.service), {});
        return;
    }
    auto sc = std::make_shared<session_core>(shared_from_this(), role::slave, id, std::string(req.line));
    sc->service = req.service;
    sc->args = req.args;
    slaves.emplace(id, sc);
    asio::co_spawn(executor, run_handler(std::make_shared<incoming_session>(std::move(sc)), svc->second),
                   [](std::exception_ptr) { /* run_handler catches everything */ });
}

void connection_core::on_session_packet(const proto::frame& f, role side) {
    auto& table = side == role::master ? masters : slaves;
    // Our answers go the other way: UPDATE for a RESPONSE, RESPONSE for an UPDATE.
    const auto reply = side == role::master ? proto::packet_type::update : proto::packet_type::response;
    const std::uint32_t id = f.hdr.id;
    proto::code_line cl;
    const auto bad = proto::parse_code_line(f.payload, cl);
    const auto it = table.find(id);
    if (it == table.end()) {
        // A packet that ends a session crossed our own end on the wire: no answer.
        if (!bad && !ends_session(cl.code)) queue_code(reply, id, proto::code::proc_dead, "no such session", {});
        return;
    }
    const std::shared_ptr<session_core> s = it->second;
    if (bad) {
        queue_code(reply, id,
                   side == role::master ? proto::code::bad_response_code : proto::code::bad_update_code,
                   "malformed code line: " + bad.message(), {});
        s->finish(errc::protocol_error);
        return;
    }
    packet p{cl.code, std::string(cl.message), std::string(proto::as_text(cl.content))};
    if (ends_session(p.code)) {
        s->deliver(std::move(p));
        s->finish(errc::session_ended);
        return;
    }
    if (s->inbox.size() >= max_inbox_packets ||
        s->inbox_bytes + p.content.size() + p.message.size() > max_inbox_bytes) {
        queue_code(reply, id, proto::code::limit_exceeded, "limit: receive queue of the session", {});
        s->finish(errc::queue_full);
        return;
    }
    s->deliver(std::move(p));
}

// --- Client and provider operations ------------------------------------------------

awaitable<std::shared_ptr<session_core>> open_session(std::shared_ptr<connection_core> c,
                                                       std::string line) {
    if (line.size() > proto::max_payload)
        throw invalid("open: request line over " + std::to_string(proto::max_payload) + " bytes");
    proto::request_line req;
    if (const auto ec = proto::parse_request(proto::as_bytes(line), req))
        throw invalid("open \"" + line + "\": " + ec.message());
    if (!c->open) throw c->lost_error("open \"" + line + "\"");
    const std::uint32_t id = c->allocate_id();
    auto s = std::make_shared<session_core>(c, role::master, id, line);
    // In the table before the REQUEST leaves, so the answer always finds it.
    c->masters.emplace(id, s);
    c->queue_request(id, line);
    if (const auto ec = co_await c->wait_room()) {
        if (ec == errc::connection_lost) throw c->lost_error("open \"" + line + "\"");
        throw std::system_error(ec, "open \"" + line + "\": write queue full");
    }
    co_return s;
}

namespace {

std::size_t payload_size(const packet& p) noexcept {
    return 3 + (p.message.empty() ? 0 : 1 + p.message.size()) + 1 + p.content.size();
}

awaitable<packet> call_on(std::shared_ptr<connection_core> c, std::string line, duration timeout) {
    const auto deadline = deadline_after(timeout);
    auto s = std::make_shared<session>(co_await open_session(c, std::move(line)));
    packet p = co_await s->receive(deadline - clock::now());
    if (p.code == proto::code::has_more) {
        // An answer over one packet comes in chunks (docs/protocol.md §5): each 312
        // is acknowledged with UPDATE 302, the last chunk carries the answer's code.
        std::string content = std::move(p.content);
        std::size_t total = payload_size(p);
        while (p.code == proto::code::has_more || p.code == proto::code::proc_keepalive ||
               p.code == proto::code::proc_alive) {
            if (p.code == proto::code::has_more) co_await s->update(proto::code::rpc_more, "MORE");
            p = co_await s->receive(deadline - clock::now());
            if (p.ends_session()) break;  // e.g. the daemon's own 517: returned as it is
            total += payload_size(p);
            if (total > max_call_answer) {
                co_await s->update(proto::code::limit_exceeded, "limit: message size");
                co_return packet{proto::code::limit_exceeded,
                                 "limit: message size (answer over " +
                                     std::to_string(max_call_answer) + " bytes)",
                                 {}};
            }
            if (p.code != proto::code::proc_keepalive && p.code != proto::code::proc_alive)
                content += p.content;
        }
        if (!p.ends_session() || p.code == proto::code::proc_done) p.content = std::move(content);
    }
    if (!s->ended()) co_await s->end();
    co_return p;
}

// Puts `previous` back as the handler of `name`, unless someone replaced ours meanwhile.
void restore_handler(connection_core& c, const std::string& name,
                     const std::shared_ptr<const connection::handler>& ours,
                     std::shared_ptr<const connection::handler> previous) {
    if (!c.open) return;
    const auto it = c.services.find(name);
    if (it == c.services.end() || it->second != ours) return;
    if (previous)
        it->second = std::move(previous);
    else
        c.services.erase(it);
}

awaitable<void> register_on(std::shared_ptr<connection_core> c, std::string name,
                            connection::handler h, duration timeout) {
    if (!proto::valid_service_name(name)) throw invalid("register_service: invalid service name \"" + name + "\"");
    if (!h) throw invalid("register_service " + name + ": empty handler");
    if (!c->open) throw c->lost_error("register-service " + name);
    // Installed before the REQUEST leaves: junctiond may route a REQUEST for the
    // name right behind its 200, in the same read as the 200.
    auto ours = std::make_shared<const connection::handler>(std::move(h));
    std::shared_ptr<const connection::handler> previous;
    if (auto it = c->services.find(name); it != c->services.end()) previous = it->second;
    c->services[name] = ours;
    packet answer;
    try {
        answer = co_await call_on(c, "register-service " + name, timeout);
    } catch (...) {
        restore_handler(*c, name, ours, previous);
        throw;
    }
    if (answer.code != proto::code::ok) {
        restore_handler(*c, name, ours, previous);
        throw std::system_error(make_error_code(errc::refused),
                                "register-service " + name + ": " + answer.code_line());
    }
}

awaitable<void> unregister_on(std::shared_ptr<connection_core> c, std::string name, duration timeout) {
    if (!proto::valid_service_name(name)) throw invalid("unregister_service: invalid service name \"" + name + "\"");
    const packet answer = co_await call_on(c, "unregister-service " + name, timeout);
    if (answer.code != proto::code::ok)
        throw std::system_error(make_error_code(errc::refused),
                                "unregister-service " + name + ": " + answer.code_line());
    c->services.erase(name);
}

awaitable<bool> wait_closed_on(std::shared_ptr<connection_core> c, duration timeout) {
    const auto ec = co_await c->state_changed.wait([&] { return !c->open; }, deadline_after(timeout));
    if (ec && ec != errc::timeout) throw std::system_error(ec, "wait_closed");
    co_return !c->open;
}

}  // namespace

}  // namespace detail

// --- connection ------------------------------------------------------------------------

awaitable<std::shared_ptr<connection>> connection::connect(boost::asio::any_io_executor ex,
                                                           std::string path, duration timeout) {
    auto core = std::make_shared<detail::connection_core>(ex, path);
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
        throw std::system_error(std::make_error_code(std::errc::filename_too_long),
                                "connect \"" + path + "\": not a usable socket path");
    // With junctiond's accept backlog full, a non-blocking Unix connect fails
    // with EAGAIN, which Asio reports as success on a socket that is not
    // connected. getpeername() tells; then try again, backing off, until the deadline.
    const auto deadline = detail::deadline_after(timeout);
    auto backoff = std::chrono::milliseconds(5);
    for (;;) {
        auto [ec] = co_await core->sock.async_connect(detail::stream::endpoint(path), detail::use_tuple);
        if (ec) throw std::system_error(ec, "connect " + path);
        boost::system::error_code peer_ec;
        core->sock.remote_endpoint(peer_ec);
        if (!peer_ec) break;
        boost::system::error_code ig;
        core->sock.close(ig);
        if (detail::clock::now() >= deadline)
            throw std::system_error(make_error_code(errc::timeout),
                                    "connect " + path + ": junctiond does not accept");
        boost::asio::steady_timer pause(ex, std::min(deadline, detail::clock::now() + backoff));
        auto [wait_ec] = co_await pause.async_wait(detail::use_tuple);
        if (wait_ec) throw std::system_error(std::make_error_code(std::errc::operation_canceled), "connect " + path);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
    }
    core->start();
    co_return std::make_shared<connection>(std::move(core));
}

connection::connection(std::shared_ptr<detail::connection_core> core) : core_(std::move(core)) {}
connection::~connection() { core_->close(); }

boost::asio::any_io_executor connection::get_executor() const { return core_->executor; }
const std::string& connection::path() const noexcept { return core_->path; }
void connection::close() noexcept { core_->close(); }
bool connection::is_open() const noexcept { return core_->open; }
std::error_code connection::last_error() const noexcept { return core_->last_error; }
std::size_t connection::open_sessions() const noexcept { return core_->masters.size(); }

void connection::set_next_session_id(std::uint32_t id) noexcept {
    core_->next_id = id == 0 ? 1 : id;
}

awaitable<bool> connection::wait_closed(duration timeout) {
    return detail::wait_closed_on(core_, timeout);
}

awaitable<std::shared_ptr<session>> connection::open(std::string_view request_line) {
    // Not a coroutine itself: the line is copied before the caller's view can dangle.
    return [](std::shared_ptr<detail::connection_core> c,
              std::string line) -> awaitable<std::shared_ptr<session>> {
        co_return std::make_shared<session>(co_await detail::open_session(std::move(c), std::move(line)));
    }(core_, std::string(request_line));
}

awaitable<packet> connection::call(std::string_view request_line, duration timeout) {
    return detail::call_on(core_, std::string(request_line), timeout);
}

awaitable<void> connection::register_service(std::string name, handler h, duration timeout) {
    return detail::register_on(core_, std::move(name), std::move(h), timeout);
}

awaitable<void> connection::unregister_service(std::string name, duration timeout) {
    return detail::unregister_on(core_, std::move(name), timeout);
}

}  // namespace junction
