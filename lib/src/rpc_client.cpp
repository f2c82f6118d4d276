// The client side of RPC (docs/protocol.md §9): a pool of sessions to one
// service, and one call on a session of it.
//
// Flow of a call: encode_call ─▶ size check ─▶ acquire (an idle session that is
// still open; else open one while fewer than max_sessions are open; else wait
// for a release) ─▶ send (UPDATE 312 chunks, each waiting for RESPONSE 302, then
// 301) ─▶ receive (RESPONSE 312 chunks, each answered UPDATE 302, until 311) ─▶
// parse_result ─▶ the session returns to the pool. Every wait is bounded by the
// call's deadline. A session is returned to the pool only after a complete,
// well-formed exchange; any other outcome drops it (and ends it if still open).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "junction/rpc.hpp"

namespace junction::rpc {

namespace detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

struct client_pool {
    std::shared_ptr<connection> conn;
    std::string service;
    options opts;
    std::vector<std::shared_ptr<session>> idle;  // open, 200 received, no call in progress
    std::size_t busy = 0;                        // leased or being opened
    std::vector<asio::steady_timer*> waiters;    // calls waiting for a session

    void notify() noexcept {
        for (auto* t : waiters) t->cancel();
    }
    void drop_idle() noexcept {
        // Each session's destructor ends it with UPDATE 103.
        idle.clear();
    }
};

namespace {

using namespace std::chrono_literals;

std::string millis(duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

bool is_keepalive(std::uint16_t code) {
    return code == proto::code::proc_keepalive || code == proto::code::proc_alive;
}

// The error for a session that ended before the call's result: the ending status.
error ended_error(const std::string& service, const packet& p, bool opening) {
    if (opening && p.code == proto::code::unknown_service)
        return error(err::unknown_service, "unknown service " + service);
    std::string text = p.message;
    if (text.empty()) text = std::string(proto::status_text(p.code));
    if (text.empty()) text = "session ended";
    return error(p.code, service + ": " + text);
}

std::system_error timeout_error(const std::string& what, duration d) {
    return std::system_error(make_error_code(junction::errc::timeout),
                             what + ": no answer within " + millis(d));
}

std::system_error protocol_error(const std::string& what) {
    return std::system_error(make_error_code(junction::errc::protocol_error), what);
}

// A session taken from the pool for one call. Released when destroyed: back to
// the pool if the call completed cleanly, else dropped (its destructor ends it).
struct lease {
    std::shared_ptr<client_pool> pool;
    std::shared_ptr<session> s;
    bool reusable = false;

    lease(std::shared_ptr<client_pool> p, std::shared_ptr<session> sess)
        : pool(std::move(p)), s(std::move(sess)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
        --pool->busy;
        if (reusable && !s->ended() && pool->conn->is_open()) pool->idle.push_back(std::move(s));
        pool->notify();
    }
};

// Waits until notify() or the deadline; false at the deadline.
awaitable<bool> wait_for_release(client_pool& pool, clock::time_point deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    // Unregistered however the coroutine ends, even if its frame is destroyed while suspended.
    struct registration {
        std::vector<asio::steady_timer*>& list;
        asio::steady_timer* timer;
        ~registration() { std::erase(list, timer); }
    } reg{pool.waiters, &timer};
    pool.waiters.push_back(&timer);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
        throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                                "rpc " + pool.service);
    co_return ec == asio::error::operation_aborted;
}

// The next RESPONSE that is not a keep-alive, by the deadline.
awaitable<packet> next_response(session& s, clock::time_point deadline, const std::string& what,
                                duration timeout) {
    for (;;) {  // bounded by the deadline: every round consumes a packet
        packet p;
        try {
            p = co_await s.receive(deadline - clock::now());
        } catch (const std::system_error& e) {
            if (e.code() == junction::errc::timeout) throw timeout_error(what, timeout);
            throw;
        }
        if (!is_keepalive(p.code)) co_return p;
    }
}

// REQUEST <service>, RESPONSE 200.
awaitable<std::shared_ptr<session>> open_one(client_pool& pool, clock::time_point deadline) {
    auto s = co_await pool.conn->open(pool.service);
    const packet p =
        co_await next_response(*s, deadline, "rpc " + pool.service + ": open", pool.opts.timeout);
    if (p.code == proto::code::ok) co_return s;
    if (p.ends_session()) throw ended_error(pool.service, p, true);
    throw protocol_error("rpc " + pool.service + ": expected 200 to the REQUEST, got " +
                         p.code_line());
}

awaitable<std::shared_ptr<session>> acquire(std::shared_ptr<client_pool> pool,
                                            clock::time_point deadline) {
    const std::size_t most = std::max<std::size_t>(pool->opts.max_sessions, 1);
    for (;;) {  // bounded: every round returns, throws, or waits until a release or the deadline
        if (!pool->conn->is_open()) {
            throw std::system_error(
                make_error_code(junction::errc::connection_lost),
                "rpc " + pool->service + ": the connection to junctiond is closed");
        }
        while (!pool->idle.empty()) {
            auto s = std::move(pool->idle.back());
            pool->idle.pop_back();
            // One that ended while idle (515 peer down, 514, ...) is dropped here.
            if (!s->ended()) {
                ++pool->busy;
                co_return s;
            }
        }
        if (pool->busy < most) {
            // The slot is given back however the opening ends (error, cancellation,
            // or the frame destroyed), unless the session is handed to the caller.
            struct opening_slot {
                client_pool& pool;
                bool handed_over = false;
                ~opening_slot() {
                    if (handed_over) return;
                    --pool.busy;
                    pool.notify();
                }
            } slot{*pool};
            ++pool->busy;
            auto s = co_await open_one(*pool, deadline);
            slot.handed_over = true;
            co_return s;
        }
        if (!co_await wait_for_release(*pool, deadline)) {
            throw std::system_error(make_error_code(junction::errc::timeout),
                                    "rpc " + pool->service + ": all " + std::to_string(most) +
                                        " sessions busy for " + millis(pool->opts.timeout));
        }
    }
}

// What to do with a session whose call failed, decided in a catch block and
// done after it (a coroutine cannot co_await inside a handler).
enum class after_failure { nothing, send_timeout_end, send_limit_end, drain_end };

}  // namespace

awaitable<boost::json::object> call_on(std::shared_ptr<client_pool> pool, std::string function,
                                       boost::json::array args) {
    const auto started = clock::now();
    const auto deadline =
        started + std::min(pool->opts.timeout, duration(clock::time_point::max() - started));
    const std::string what = "rpc " + pool->service + "." + function;

    chunk_writer w(encode_call(function, args), wire::call, wire::call_text);
    args.clear();
    if (w.payload_size() > pool->opts.max_message) {
        throw error(err::limit, what + ": call of " + std::to_string(w.payload_size()) +
                                    " bytes is over the message limit of " +
                                    std::to_string(pool->opts.max_message) + " bytes");
    }

    lease l(pool, co_await acquire(pool, deadline));
    session& s = *l.s;
    after_failure then = after_failure::nothing;
    std::exception_ptr failure;
    try {
        while (!w.done()) {  // the call, one chunk per round
            const auto c = w.next();
            co_await s.update(c.code, c.message, c.content);
            if (c.last) break;
            const packet p = co_await next_response(s, deadline, what, pool->opts.timeout);
            if (p.code == wire::more) continue;
            if (p.ends_session()) throw ended_error(pool->service, p, false);
            throw protocol_error(what + ": expected 302 MORE for the next call chunk, got " +
                                 p.code_line());
        }
        message_reader reader(wire::ret, pool->opts.max_message);
        for (;;) {  // the result, one chunk per round
            const packet p = co_await next_response(s, deadline, what, pool->opts.timeout);
            if (p.ends_session()) throw ended_error(pool->service, p, false);
            switch (reader.feed(p.code, p.message, p.content)) {
                case message_reader::step::need_more:
                    co_await s.update(wire::more, wire::more_text);
                    continue;
                case message_reader::step::complete: {
                    boost::json::object result = parse_result(reader.take());
                    l.reusable = true;
                    co_return result;
                }
                case message_reader::step::too_large:
                    then = after_failure::send_limit_end;
                    throw error(err::limit, what + ": result over the message limit of " +
                                                std::to_string(pool->opts.max_message) + " bytes");
                case message_reader::step::unexpected:
                    throw protocol_error(what + ": expected 311 or 312 for the result, got " +
                                         p.code_line());
            }
        }
    } catch (const std::system_error& e) {
        failure = std::current_exception();
        if (e.code() == junction::errc::timeout) then = after_failure::send_timeout_end;
        // update() found the session ended: its ending packet is in the inbox.
        if (e.code() == junction::errc::session_ended) then = after_failure::drain_end;
    } catch (...) {
        failure = std::current_exception();
    }
    switch (then) {
        case after_failure::nothing:
            break;
        case after_failure::send_timeout_end:
            // Tell the provider why (as the searpc gateway does); the session is not reused.
            if (!s.ended()) {
                try {
                    co_await s.update(proto::code::keepalive_timeout, "call timed out");
                } catch (const std::exception&) {
                }
            }
            break;
        case after_failure::send_limit_end:
            if (!s.ended()) {
                try {
                    co_await s.update(proto::code::limit_exceeded, "limit: message size");
                } catch (const std::exception&) {
                }
            }
            break;
        case after_failure::drain_end:
            for (;;) {  // bounded: the inbox of an ended session only shrinks
                std::optional<packet> p;
                try {
                    p = co_await s.receive(0ms);
                } catch (const std::exception&) {
                    break;
                }
                if (p->ends_session()) throw ended_error(pool->service, *p, false);
            }
            break;
    }
    std::rethrow_exception(failure);
}

}  // namespace detail

// --- client ---------------------------------------------------------------------------

client::client(std::shared_ptr<connection> conn, std::string service, options opts)
    : pool_(std::make_shared<detail::client_pool>()) {
    if (!conn)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "rpc::client: no connection");
    if (!proto::valid_service_name(service))
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "rpc::client: invalid service name \"" + service + "\"");
    pool_->conn = std::move(conn);
    pool_->service = std::move(service);
    pool_->opts = opts;
}

client::~client() {
    if (pool_) pool_->drop_idle();
}

client::client(client&&) noexcept = default;

client& client::operator=(client&& o) noexcept {
    if (this != &o) {
        if (pool_) pool_->drop_idle();
        pool_ = std::move(o.pool_);
    }
    return *this;
}

awaitable<boost::json::value> client::call_json(std::string function, boost::json::array args) {
    return [](std::shared_ptr<detail::client_pool> pool, std::string f,
              boost::json::array a) -> awaitable<boost::json::value> {
        co_return result_value(
            co_await detail::call_on(std::move(pool), std::move(f), std::move(a)));
    }(pool_, std::move(function), std::move(args));
}

awaitable<boost::json::object> client::call_result(std::string function, boost::json::array args) {
    return detail::call_on(pool_, std::move(function), std::move(args));
}

const std::string& client::service() const noexcept {
    return pool_->service;
}
const options& client::settings() const noexcept {
    return pool_->opts;
}
void client::set_timeout(duration timeout) noexcept {
    pool_->opts.timeout = timeout;
}
std::size_t client::open_sessions() const noexcept {
    return pool_->busy + pool_->idle.size();
}
std::size_t client::idle_sessions() const noexcept {
    return pool_->idle.size();
}
void client::close() noexcept {
    pool_->drop_idle();
}

}  // namespace junction::rpc
