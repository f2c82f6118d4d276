// A provider that outlives junctiond's restarts: it owns the connection, keeps
// the services and their handlers, and when the connection is lost (junctiond
// restarted, crashed, or was never there yet) connects again with exponential
// backoff and registers every service again (docs/operations.md §6).
//
//   junction::provider p(io.get_executor(), {.socket = path, .log = [](std::string_view line) {
//       std::cerr << line << '\n';
//   }});
//   p.add_service("example.hello", [](auto in) -> junction::awaitable<void> {
//       co_await in->respond(200, "OK", "hello, " + in->args());
//   });
//   p.add_service(calc);                  // a junction::rpc::service (rpc.hpp)
//   co_spawn(io, p.run(), on_done);       // runs until p.stop()
//
// Flow of run():
//   connecting ─▶ connect() ─▶ failed: wait backoff, connect again
//        │ ok
//   connected ─▶ register-service for each service ─▶ refused (516: someone else
//        │        holds the name; 504, 517): wait backoff, try those again on
//        │        the same connection
//        │ all 200
//   registered ─▶ wait until the connection closes or stop()
//        │ lost
//   disconnected ─▶ wait backoff ─▶ connecting ...
// The wait before attempt n is initial_backoff * backoff_factor^(n-1), capped at
// max_backoff and shortened at random by up to `jitter` of itself, so providers
// that lost junctiond together do not all come back in the same millisecond.
// The reconnection backoff starts over once every service is registered (or a
// connection has lasted max_backoff); the registration backoff starts over on
// each connection.
//
// A registration that junctiond removes while the connection lasts (a reload
// whose policy refuses it, docs/security.md §7) is not signalled by the
// protocol: the state stays `registered` and the name is registered again
// only on the next connection.
//
// Sessions: REQUESTs are served by the handlers exactly as with
// connection::register_service. When the connection is lost, the sessions in
// flight end (their receive()/respond() throw errc::connection_lost) and are
// not replayed; new REQUESTs arrive through the next connection.
//
// Threading: the provider belongs to the executor given to the constructor.
// run(), add_service() while running, and current_connection() are for that
// executor only; state() and stop() may be called from any thread. The log and
// state callbacks run on the executor (they must not block it, and what they
// throw is ignored).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "junction/connection.hpp"
#include "junction/socket_path.hpp"

namespace junction {

namespace rpc {
class service;
}

namespace detail {
struct provider_core;
}

enum class provider_state {
    stopped,       // run() has not started, or has returned
    connecting,    // reported before each attempt to connect (again while junctiond is away)
    connected,     // connected; some service is not registered yet (or was refused, and is retried)
    registered,    // every service is registered on the current connection
    disconnected,  // the connection was lost; the next attempt follows after the backoff
};

// "stopped", "connecting", ...
std::string_view to_string(provider_state s) noexcept;

struct provider_options {
    std::string socket = default_socket_path();
    // Waits between attempts (connecting, or registering a refused name).
    duration initial_backoff = std::chrono::milliseconds(50);
    duration max_backoff = std::chrono::seconds(5);
    double backoff_factor = 2.0;  // at least 1
    double jitter = 0.25;         // 0..1: each wait is shortened at random by up to this fraction
    // Bounds of one connect() and one register-service exchange. A registration
    // that times out closes the connection (junctiond is stuck) and reconnects.
    duration connect_timeout = std::chrono::seconds(5);
    duration register_timeout = std::chrono::seconds(5);
    // false: run() throws the first failure (std::system_error: connect failed,
    // errc::connection_lost, errc::refused) instead of retrying, for programs that
    // rather exit and let their supervisor restart them.
    bool retry = true;
    // One line per event worth a log line: failed attempts (with the next wait),
    // refusals, connections made and lost, registrations.
    std::function<void(std::string_view)> log = nullptr;
    // Every state change, and each new connection attempt (connecting).
    std::function<void(provider_state)> on_state = nullptr;
};

class provider {
public:
    // Throws std::errc::invalid_argument for options out of range (a zero or
    // negative backoff, max_backoff under initial_backoff, factor under 1,
    // jitter outside 0..1).
    explicit provider(boost::asio::any_io_executor ex, provider_options opts = {});
    ~provider();  // stop()
    provider(provider&&) noexcept;
    provider& operator=(provider&&) noexcept;
    provider(const provider&) = delete;
    provider& operator=(const provider&) = delete;

    // Adds a service, or replaces the handler of one added before. While run()
    // is connected, the new service is registered at once. Throws
    // std::errc::invalid_argument for an invalid name (docs/protocol.md §2.1)
    // or an empty handler.
    provider& add_service(std::string name, connection::handler h);
    // An RPC service (rpc.hpp) under its own name, with its session handler.
    // The registration keeps the service's function table.
    provider& add_service(const rpc::service& svc);

    // Connects, registers, serves and reconnects until stop(). Returns once
    // stopped (the connection is closed then: sessions in flight end with
    // errc::connection_lost, their clients get 515). Throws only with
    // options.retry = false, or std::logic_error if already running.
    awaitable<void> run();
    // Makes run() return promptly, whatever it is doing (waiting out a backoff,
    // connecting, registering, serving). Idempotent; a stopped provider stays
    // stopped (run() then returns at once). Any thread.
    void stop();

    provider_state state() const noexcept;  // any thread
    // The connection in use, or null between connections. Executor only.
    std::shared_ptr<connection> current_connection() const noexcept;
    boost::asio::any_io_executor get_executor() const;
    const provider_options& options() const noexcept;

private:
    std::shared_ptr<detail::provider_core> core_;
};

}  // namespace junction
