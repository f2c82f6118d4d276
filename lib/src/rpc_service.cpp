// The provider side of RPC (docs/protocol.md §9): the function table, one call
// (call JSON ─▶ result JSON), and the session handler that runs calls one after
// the other on each session junctiond routes to the service.
//
// Flow of a session: RESPONSE 200 ─▶ receive_call (UPDATE 312 chunks answered
// 302 MORE, until 301; size counted by message_reader) ─▶ handle_call
// (parse_call ─▶ function ─▶ encode_result / encode_error) ─▶ send_result
// (chunk_writer: RESPONSE 312, wait for UPDATE 302, ..., RESPONSE 311) ─▶ again.
// The session ends when the client ends it (103, any ending code, or its
// connection going away) or on a protocol violation (503), a call over the
// limit (517) or a wait that passes its deadline (514).
#include <chrono>
#include <unordered_map>

#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "junction/rpc.hpp"

namespace junction::rpc {

namespace detail {

struct service_table {
    std::string name;
    service_options opts;
    std::unordered_map<std::string, std::shared_ptr<const service::json_function>> functions;
};

namespace {

using clock = std::chrono::steady_clock;

// A wait for the rest of the session (no deadline) when `d` is zero.
duration or_forever(duration d) {
    return d > duration::zero() ? d : duration::max();
}

bool is_keepalive(std::uint16_t code) {
    return code == proto::code::proc_keepalive || code == proto::code::proc_alive;
}

std::string limit_text(std::size_t bytes, std::size_t limit, std::string_view what) {
    return std::string(what) + " of " + std::to_string(bytes) +
           " bytes is over the message limit of " + std::to_string(limit) + " bytes";
}

awaitable<std::string> handle_call(std::shared_ptr<const service_table> t, std::string text) {
    std::string result;
    try {
        call c = parse_call(text);
        std::string().swap(text);
        const auto it = t->functions.find(c.function);
        if (it == t->functions.end()) {
            result = encode_error(err::no_such_function, "no such function: " + c.function);
        } else {
            // Held across the await: a bind() replacing the function mid-call is safe.
            const std::shared_ptr<const service::json_function> fn = it->second;
            const boost::json::value ret = co_await (*fn)(std::move(c.args));
            result = encode_result(ret);
        }
    } catch (const error& e) {
        result = encode_error(e.code(), e.what());
    } catch (const std::exception& e) {
        result = encode_error(err::function_failed, *e.what() ? e.what() : "exception");
    } catch (...) {
        result = encode_error(err::function_failed, "unknown exception");
    }
    if (const auto size = chunk_writer::payload_size(result.size(), wire::ret_text);
        size > t->opts.max_message) {
        result = encode_error(err::limit, limit_text(size, t->opts.max_message, "result"));
    }
    co_return result;
}

// The next UPDATE that is not a keep-alive, or why there is none: the deadline
// passed, or the session ended (103, any ending code, the connection went away).
struct next_update_result {
    enum class outcome { update, timed_out, session_over } how;
    packet p;
};

awaitable<next_update_result> next_update(incoming_session& in, duration wait) {
    using outcome = next_update_result::outcome;
    const auto now = clock::now();
    const auto deadline =
        wait >= clock::time_point::max() - now ? clock::time_point::max() : now + wait;
    for (;;) {  // bounded by the deadline: every round consumes a packet
        packet p;
        try {
            p = co_await in.receive(deadline - clock::now());
        } catch (const std::system_error& e) {
            // The library throws; here these are expected outcomes.
            co_return next_update_result{
                e.code() == junction::errc::timeout ? outcome::timed_out : outcome::session_over,
                {}};
        }
        if (p.ends_session()) co_return next_update_result{outcome::session_over, std::move(p)};
        if (!is_keepalive(p.code)) co_return next_update_result{outcome::update, std::move(p)};
    }
}

// RESPONSE; false when the session is over (the client ended it, or the connection is gone).
awaitable<bool> send(incoming_session& in, std::uint16_t code, std::string_view message,
                     std::string_view content = {}) {
    try {
        co_await in.respond(code, message, content);
    } catch (const std::system_error&) {
        co_return false;
    }
    co_return true;
}

// The next call's JSON; nullopt when the session is over (with the reason sent, if any).
awaitable<std::optional<std::string>> receive_call(const service_table& t, incoming_session& in) {
    using outcome = next_update_result::outcome;
    message_reader reader(wire::call, t.opts.max_message);
    for (;;) {  // bounded: each round is one chunk within the message limit
        const bool idle = !reader.in_progress();
        const auto next =
            co_await next_update(in, idle ? or_forever(t.opts.idle_timeout) : t.opts.timeout);
        if (next.how == outcome::session_over) co_return std::nullopt;
        if (next.how == outcome::timed_out) {
            co_await send(in, proto::code::keepalive_timeout,
                          idle ? "idle: no call" : "timeout: the rest of the call did not come");
            co_return std::nullopt;
        }
        const packet& p = next.p;
        switch (reader.feed(p.code, p.message, p.content)) {
            case message_reader::step::need_more:
                if (!co_await send(in, wire::more, wire::more_text)) co_return std::nullopt;
                continue;
            case message_reader::step::complete:
                co_return reader.take();
            case message_reader::step::too_large:
                co_await send(in, proto::code::limit_exceeded,
                              "limit: message size: call over " +
                                  std::to_string(t.opts.max_message) + " bytes");
                co_return std::nullopt;
            case message_reader::step::unexpected:
                co_await send(in, proto::code::bad_args,
                              "rpc: expected UPDATE 301 (call) or 312 (call chunk), got " +
                                  std::to_string(p.code));
                co_return std::nullopt;
        }
    }
}

// Sends the result; false when the session is over (with the reason sent, if any).
awaitable<bool> send_result(const service_table& t, incoming_session& in, std::string result) {
    using outcome = next_update_result::outcome;
    chunk_writer w(std::move(result), wire::ret, wire::ret_text);
    while (!w.done()) {  // bounded: one chunk per round
        const auto c = w.next();
        if (!co_await send(in, c.code, c.message, c.content)) co_return false;
        if (c.last) break;
        const auto next = co_await next_update(in, t.opts.timeout);
        if (next.how == outcome::session_over) co_return false;
        if (next.how == outcome::timed_out) {
            co_await send(in, proto::code::keepalive_timeout,
                          "timeout: no 302 MORE for the result");
            co_return false;
        }
        if (next.p.code != wire::more) {
            co_await send(in, proto::code::bad_args,
                          "rpc: expected UPDATE 302 (more) while sending a result, got " +
                              std::to_string(next.p.code));
            co_return false;
        }
    }
    co_return true;
}

awaitable<void> serve_session(std::shared_ptr<const service_table> t,
                              std::shared_ptr<incoming_session> in) {
    if (!co_await send(*in, proto::code::ok, "OK")) co_return;
    for (;;) {  // one call per round, until the session is over
        auto text = co_await receive_call(*t, *in);
        if (!text) co_return;
        if (!co_await send_result(*t, *in, co_await handle_call(t, std::move(*text)))) co_return;
    }
}

}  // namespace
}  // namespace detail

// --- service -----------------------------------------------------------------------

service::service(std::string name, service_options opts)
    : table_(std::make_shared<detail::service_table>()) {
    table_->name = std::move(name);
    table_->opts = opts;
}

const std::string& service::name() const noexcept {
    return table_->name;
}
const service_options& service::options() const noexcept {
    return table_->opts;
}

service& service::bind_json(std::string function, json_function f) {
    if (!f)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "rpc::service::bind " + function + ": empty function");
    table_->functions[std::move(function)] = std::make_shared<const json_function>(std::move(f));
    return *this;
}

bool service::contains(std::string_view function) const {
    return table_->functions.contains(std::string(function));
}

connection::handler service::handler() const {
    return [t = std::shared_ptr<const detail::service_table>(table_)](
               std::shared_ptr<incoming_session> in) {
        return detail::serve_session(t, std::move(in));
    };
}

awaitable<void> service::register_on(connection& conn, duration timeout) const {
    return conn.register_service(table_->name, handler(), timeout);
}

awaitable<void> service::register_on(const std::shared_ptr<connection>& conn,
                                     duration timeout) const {
    return register_on(*conn, timeout);
}

awaitable<std::string> service::handle(std::string call_json) const {
    return detail::handle_call(table_, std::move(call_json));
}

}  // namespace junction::rpc
