// RPC over sessions (docs/protocol.md §9): searpc-compatible functions served
// by a provider and called by clients, on the coroutine API of connection.hpp.
//
// Provider:
//   junction::rpc::service svc("calc");
//   svc.bind("add", [](int a, int b) { return a + b; });
//   svc.bind("greet", [](const std::string& who) -> junction::awaitable<std::string> {
//       co_return "hello, " + who;                       // coroutine functions too
//   });
//   svc.bind("check", [](const boost::json::object& o) {
//       if (!o.contains("id")) throw junction::rpc::error(400, "no id");   // own err_code
//       return true;
//   });
//   co_await svc.register_on(*conn, 5s);                  // `register-service calc`
//
// Client:
//   junction::rpc::client calc(conn, "calc", {.timeout = 5s, .max_sessions = 8});
//   int r = co_await calc.call<int>("add", 2, 40);                          // 42
//   boost::json::value v = co_await calc.call_json("add", boost::json::array{2, 40});
//
// For blocking programs without Asio, see rpc_sync.hpp (rpc::sync_client).
// Types of arguments and results, error codes, chunking: rpc_codec.hpp.
//
// Flow (provider): junctiond routes REQUEST "calc" ─▶ the connection spawns the
// service's session handler ─▶ RESPONSE 200 ─▶ for each call: UPDATE 312 chunks
// (each answered 302 MORE) and the final 301 ─▶ parse_call ─▶ the bound function
// (arguments converted and checked) ─▶ result JSON ─▶ RESPONSE 312 chunks (each
// waiting for the client's UPDATE 302) and the final 311 ─▶ the next call on
// the same session, until the client ends it. Sessions run concurrently, calls
// within a session one after the other.
//
// Flow (client): call() ─▶ a free session of the pool, or a new one (REQUEST
// "calc", RESPONSE 200) while fewer than max_sessions are open, or wait for one
// to be released ─▶ the call (chunked if needed) ─▶ the result ─▶ the session
// goes back to the pool. A session that ended (515 peer down, 102, any ending
// code), timed out or misbehaved is never reused: the next call opens a new
// one, so calls succeed again as soon as a provider is back.
//
// Errors a call throws:
//   rpc::error            the service answered {"err_code", "err_msg"} (500 no such
//                         function, 511 bad arguments, 520 the function threw, 517 a
//                         call or result over the message limit, or the function's own
//                         code); or the session ended before the result: code = the
//                         ending status (515 peer down, 504 policy, 517 limit, ...),
//                         501 when no provider has registered the service.
//   std::system_error     junction::errc::timeout (options::timeout passed; the session
//                         is ended with UPDATE 514), errc::connection_lost (the
//                         connection to junctiond is gone), errc::protocol_error (the
//                         provider broke §9), std::errc::invalid_argument (bad names).
// A call whose session died after the call was sent is not retried: the
// provider may have run it.
//
// Threading: like connection.hpp. A service's handler runs on the connection's
// executor; a client and its calls belong to its connection's executor. A
// bound function that is not a coroutine runs to completion on that executor:
// make long work a coroutine (or hand it to a thread pool and co_await the
// result), or it delays every other session of the connection.
//
// Lifetime: bind() before register_on() (bind later only from the connection's
// executor). The registration holds the function table, so the service object
// may go away after register_on(). A client may be destroyed with calls in
// flight; its idle sessions are ended with UPDATE 103.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "junction/connection.hpp"
#include "junction/rpc_codec.hpp"
#include "junction/rpc_sync.hpp"

namespace junction::rpc {

// --- Provider ---------------------------------------------------------------------

struct service_options {
    // Longest wait for the client's next call chunk or its 302 MORE for the next
    // result chunk. At the deadline the session is ended with RESPONSE 514.
    duration timeout = std::chrono::seconds(30);
    // Longest wait for the next call on an open session; zero: as long as the
    // session lives (clients keep idle sessions open for their next call).
    duration idle_timeout = duration::zero();
    // Largest call accepted and result sent (§5 counting). A call over it ends the
    // session with RESPONSE 517; a result over it is replaced by err_code 517.
    std::size_t max_message = default_max_message;
};

namespace detail {

struct service_table;

template <class T>
struct awaitable_value {
    static constexpr bool value = false;
};
template <class T, class Executor>
struct awaitable_value<boost::asio::awaitable<T, Executor>> {
    static constexpr bool value = true;
    using type = T;
};

// The parameter types (decayed) and the result type of a callable.
template <class F>
struct signature : signature<decltype(&F::operator())> {};
template <class R, class... A>
struct signature<R(A...)> {
    using result = R;
    using args = std::tuple<std::remove_cvref_t<A>...>;
};
template <class R, class... A>
struct signature<R (*)(A...)> : signature<R(A...)> {};
template <class R, class... A>
struct signature<R (*)(A...) noexcept> : signature<R(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...)> : signature<R(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) const> : signature<R(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) noexcept> : signature<R(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) const noexcept> : signature<R(A...)> {};

}  // namespace detail

class service {
public:
    // A function on JSON: the call's arguments (without the name) in, the ret value
    // out. Throw rpc::error for an err_code result.
    using json_function = std::function<awaitable<boost::json::value>(boost::json::array args)>;

    // `name` must be a valid service name (§2.1); checked by register_on().
    explicit service(std::string name, service_options opts = {});

    const std::string& name() const noexcept;
    const service_options& options() const noexcept;

    // Binds `function` to f, a callable with typed parameters (function pointer,
    // lambda, function object; not overloaded or generic). Its arguments are
    // converted by rpc_codec.hpp's rules; a count or type mismatch is answered
    // err_code 511 naming the argument. f may return a value (→ "ret"), void
    // (→ null), or junction::awaitable<T> (a coroutine; awaited on the connection's
    // executor). Binding a name again replaces the function for later calls.
    template <class F>
    service& bind(std::string function, F f);

    // Binds a function that takes the argument array as it came.
    service& bind_json(std::string function, json_function f);

    bool contains(std::string_view function) const;

    // Registers the service on `conn` (`register-service <name>`, §7) with
    // handler() as its session handler. Throws like connection::register_service
    // (errc::refused with junctiond's answer, e.g. 516 when the name is taken).
    awaitable<void> register_on(connection& conn, duration timeout) const;
    awaitable<void> register_on(const std::shared_ptr<connection>& conn, duration timeout) const;

    // The session handler register_on() installs (§9 provider side), for use with
    // connection::register_service directly.
    connection::handler handler() const;

    // One call, without a session: call JSON in, result JSON out ({"ret": ...} or
    // {"err_code": ..., "err_msg": ...}; never throws for a bad call). What each
    // session does per call; useful for tests and other transports.
    awaitable<std::string> handle(std::string call_json) const;

private:
    std::shared_ptr<detail::service_table> table_;
};

template <class F>
service& service::bind(std::string function, F f) {
    using sig = detail::signature<std::decay_t<F>>;
    using args_t = typename sig::args;
    using R = typename sig::result;
    auto fn = std::make_shared<std::decay_t<F>>(std::move(f));
    json_function wrapper = [fn,
                             function](boost::json::array args) -> awaitable<boost::json::value> {
        // Locals of this coroutine frame (not the lambda object) carry what the
        // function needs, so replacing the binding mid-call is safe.
        const auto callee = fn;
        auto typed = args_from_json<args_t>(function, args);
        if constexpr (detail::awaitable_value<R>::value) {
            using T = typename detail::awaitable_value<R>::type;
            if constexpr (std::is_void_v<T>) {
                co_await std::apply(*callee, std::move(typed));
                co_return nullptr;
            } else {
                co_return to_json(co_await std::apply(*callee, std::move(typed)));
            }
        } else if constexpr (std::is_void_v<R>) {
            std::apply(*callee, std::move(typed));
            co_return nullptr;
        } else {
            co_return to_json(std::apply(*callee, std::move(typed)));
        }
    };
    return bind_json(std::move(function), std::move(wrapper));
}

// --- Client -------------------------------------------------------------------------

class client;

namespace detail {
struct client_pool;
awaitable<boost::json::object> call_on(std::shared_ptr<client_pool> pool, std::string function,
                                       boost::json::array args);
}  // namespace detail

class client {
public:
    // Calls `service` through `conn`. Opens no session until the first call.
    // Throws std::errc::invalid_argument for an invalid service name.
    client(std::shared_ptr<connection> conn, std::string service, options opts = {});
    ~client();  // ends the idle sessions (UPDATE 103)
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Calls `function` with the arguments converted to JSON; returns "ret" as R
    // (R = void ignores it; a ret that does not convert throws rpc::error 511).
    template <class R = boost::json::value, class... Args>
    awaitable<R> call(std::string function, Args&&... args) {
        // Not a coroutine itself: the arguments are converted before the caller's
        // references can dangle.
        return [](std::shared_ptr<detail::client_pool> pool, std::string f,
                  boost::json::array a) -> awaitable<R> {
            boost::json::object result = co_await detail::call_on(std::move(pool), f, std::move(a));
            if constexpr (std::is_void_v<R>) {
                result_value(std::move(result));
            } else {
                co_return result_as<R>(f, result_value(std::move(result)));
            }
        }(pool_, std::move(function), to_json_array(std::forward<Args>(args)...));
    }

    // Calls `function` with a JSON argument array; returns the "ret" value.
    awaitable<boost::json::value> call_json(std::string function, boost::json::array args);

    // The whole result object, {"ret": ...} or {"err_code": N, "err_msg": "..."}:
    // an error result is returned, not thrown. Failures of the session still throw.
    awaitable<boost::json::object> call_result(std::string function, boost::json::array args);

    const std::string& service() const noexcept;
    const options& settings() const noexcept;
    // For calls started from now on; calls in flight keep their deadline.
    void set_timeout(duration timeout) noexcept;
    // Sessions open now (idle and in use), and of those the idle ones.
    std::size_t open_sessions() const noexcept;
    std::size_t idle_sessions() const noexcept;
    // Ends the idle sessions now; calls in flight finish and end theirs.
    void close() noexcept;

private:
    std::shared_ptr<detail::client_pool> pool_;
};

}  // namespace junction::rpc
