// Sessions: the inbox a reader fills and receive() drains, and the sending side
// (UPDATE for a client session, RESPONSE for a provider session).
//
// Flow: connection_core::on_session_packet ─▶ deliver() (inbox, wake receivers)
//   and, for 103 / 102 / 4xx / 5xx, finish() ─▶ the session leaves the
//   connection's table; receive() returns what is queued, then throws the end
//   reason (session_ended, or connection_lost when the connection dropped).
#include <algorithm>

#include "core.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"

namespace junction {

namespace detail {

namespace {

bool ends_session(std::uint16_t code) noexcept {
    return code == proto::code::proc_done || code == proto::code::proc_dead || proto::is_error(code);
}

const char* send_verb(const session_core& s) noexcept {
    return s.side == role::master ? "update" : "respond";
}

}  // namespace

session_core::session_core(std::shared_ptr<connection_core> c, role r, std::uint32_t i,
                           std::string line)
    : conn(std::move(c)), side(r), id(i), request_line(std::move(line)) {}

void session_core::deliver(packet p) {
    inbox_bytes += p.content.size() + p.message.size();
    inbox.push_back(std::move(p));
    arrived.notify_all();
}

void session_core::finish(errc why) {
    if (ended) return;
    ended = true;
    end_reason = make_error_code(why);
    auto& table = side == role::master ? conn->masters : conn->slaves;
    // Callers hold a reference, so erasing the table's one cannot free *this here.
    if (const auto it = table.find(id); it != table.end() && it->second.get() == this) table.erase(it);
    arrived.notify_all();
}

std::error_code session_core::send(std::uint16_t code, std::string_view message,
                                   std::string_view content) {
    if (code < 100 || code > 599) return std::make_error_code(std::errc::invalid_argument);
    const std::string_view first_line = message.substr(0, std::min(message.find('\n'), message.size()));
    if (proto::code_payload_size(first_line, content.size()) > proto::max_payload)
        return std::make_error_code(std::errc::message_size);
    if (ended || !conn->open)
        return end_reason == errc::connection_lost || !conn->open ? make_error_code(errc::connection_lost)
                                                                  : make_error_code(errc::session_ended);
    conn->queue_code(send_type(), id, code, message, content);
    if (ends_session(code)) finish(errc::session_ended);
    return {};
}

void session_core::abandon() noexcept {
    if (ended) return;
    conn->queue_code(send_type(), id, proto::code::proc_done, {}, {});
    finish(errc::session_ended);
}

std::string session_core::describe() const {
    return "session " + std::to_string(id) + " (" + request_line + ")";
}

awaitable<packet> receive_on(std::shared_ptr<session_core> s, duration timeout) {
    const auto ec = co_await s->arrived.wait([&] { return !s->inbox.empty() || s->ended; },
                                             deadline_after(timeout));
    if (ec) throw std::system_error(ec, "receive on " + s->describe());
    if (!s->inbox.empty()) {
        packet p = std::move(s->inbox.front());
        s->inbox.pop_front();
        s->inbox_bytes -= p.content.size() + p.message.size();
        co_return p;
    }
    if (s->end_reason == errc::connection_lost) throw s->conn->lost_error("receive on " + s->describe());
    throw std::system_error(s->end_reason, "receive on " + s->describe());
}

namespace {

// The part of a send that waits: for room in the connection's write queue.
// Error text is built only when there is an error (it was 4% of a pipelined
// client's instructions when built for every packet).
awaitable<void> wait_sent(std::shared_ptr<session_core> s, std::uint16_t code, std::error_code queued) {
    const auto what = [&] { return std::string(send_verb(*s)) + " " + std::to_string(code) + " on " + s->describe(); };
    if (queued) {
        if (queued == errc::connection_lost) throw s->conn->lost_error(what());
        throw std::system_error(queued, what());
    }
    if (const auto ec = co_await s->conn->wait_room()) {
        if (ec == errc::connection_lost) throw s->conn->lost_error(what());
        throw std::system_error(ec, what() + ": write queue full");
    }
}

}  // namespace

awaitable<void> send_on(std::shared_ptr<session_core> s, std::uint16_t code, std::string_view message,
                        std::string_view content) {
    // Queued now, while the caller's views are valid: no copy of them for the coroutine.
    const std::error_code queued = s->send(code, message, content);
    return wait_sent(std::move(s), code, queued);
}

awaitable<void> end_on(std::shared_ptr<session_core> s) {
    s->abandon();
    co_return;
}

}  // namespace detail

// --- session ---------------------------------------------------------------------

session::session(std::shared_ptr<detail::session_core> core) : core_(std::move(core)) {}
session::~session() { core_->abandon(); }

std::uint32_t session::id() const noexcept { return core_->id; }
const std::string& session::request_line() const noexcept { return core_->request_line; }
bool session::ended() const noexcept { return core_->ended; }

awaitable<void> session::update(std::uint16_t code, std::string_view message, std::string_view content) {
    return detail::send_on(core_, code, message, content);
}

awaitable<packet> session::receive(duration timeout) { return detail::receive_on(core_, timeout); }
awaitable<void> session::end() { return detail::end_on(core_); }

// --- incoming_session ------------------------------------------------------------

incoming_session::incoming_session(std::shared_ptr<detail::session_core> core)
    : core_(std::move(core)) {}
incoming_session::~incoming_session() { core_->abandon(); }

std::uint32_t incoming_session::id() const noexcept { return core_->id; }
const std::string& incoming_session::request_line() const noexcept { return core_->request_line; }
const std::string& incoming_session::service() const noexcept { return core_->service; }
const std::string& incoming_session::args() const noexcept { return core_->args; }
bool incoming_session::ended() const noexcept { return core_->ended; }

std::vector<std::string> incoming_session::arg_list() const {
    std::vector<std::string> out;
    for (const auto word : proto::split_args(core_->args)) out.emplace_back(word);
    return out;
}

awaitable<void> incoming_session::respond(std::uint16_t code, std::string_view message,
                                          std::string_view content) {
    return detail::send_on(core_, code, message, content);
}

awaitable<packet> incoming_session::receive(duration timeout) {
    return detail::receive_on(core_, timeout);
}
awaitable<void> incoming_session::end() { return detail::end_on(core_); }

}  // namespace junction
