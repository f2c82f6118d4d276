// The asynchronous client library: one connection to junctiond, client
// sessions (you sent the REQUEST) and provider sessions (junctiond routed a
// REQUEST for one of your services to you). C++20 coroutines on Boost.Asio.
//
//   auto conn = co_await junction::connection::connect(ex, path);
//   junction::packet p = co_await conn->call("echo hi", 5s);       // p.code == 200, p.content == "hi"
//
//   auto s = co_await conn->open("example.hello world");           // REQUEST
//   auto greeting = co_await s->receive(5s);                       // RESPONSE
//   co_await s->update(200, "", "ping");                           // UPDATE
//   co_await s->end();                                              // UPDATE 103
//
//   co_await conn->register_service("example.hello", [](auto in) -> awaitable<void> {
//       co_await in->respond(200, "OK", "hello, " + std::string(in->args()));
//   }, 5s);
//
// Flow: connect() starts one reader and one writer coroutine per connection.
// Senders append encoded packets to the connection's write queue and wake the
// writer, which hands everything queued to one async_write. The reader feeds
// bytes to proto::frame_reader and dispatches each frame: a RESPONSE goes to the
// inbox of the client session with that id, an UPDATE to the provider session
// with that id, a REQUEST creates a provider session and spawns the service's
// handler for it. receive() waits on a session's inbox with a deadline.
//
// Threading: a connection, its sessions and every coroutine using them belong
// to the executor given to connect(). Call them only from that executor (one
// thread; if the io_context runs on several threads, pass a strand). Nothing
// here is locked. For plain blocking use from any thread, see sync_client.hpp.
//
// Lifetime: keep the shared_ptr<connection> while you use it. Destroying the
// last one (or close()) closes the socket; open sessions then fail with
// errc::connection_lost. A session handle dropped while open ends its session
// (UPDATE 103 for a client session, RESPONSE 103 for a provider session).
// Handlers stored by register_service() live in the connection: capture the
// connection in them by weak_ptr, not shared_ptr, or it never closes.
//
// Errors: std::system_error. Library codes are junction::errc (error.hpp):
// timeout, connection_lost, session_ended, refused, protocol_error, queue_full.
// Cancelling the awaiting coroutine (e.g. with awaitable_operators `||`) makes
// a wait throw std::errc::operation_canceled.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "junction/error.hpp"
#include "junction/packet.hpp"
#include "junction/socket_path.hpp"

namespace junction {

template <class T>
using awaitable = boost::asio::awaitable<T>;
// Any std::chrono duration converts to this (100ms, 5s, ...).
using duration = std::chrono::steady_clock::duration;

namespace detail {
struct connection_core;
struct session_core;
}  // namespace detail

class session;
class incoming_session;

class connection {
public:
    // Runs once per incoming REQUEST for the service, concurrently with the others.
    // When it returns and the session is still open, the library ends it with
    // RESPONSE 103; when it throws, with RESPONSE 501 carrying the exception's text.
    using handler = std::function<awaitable<void>(std::shared_ptr<incoming_session>)>;

    // Connects to junctiond's Unix socket. Throws std::system_error ("connect <path>: ...";
    // errc::timeout if junctiond does not accept within `timeout`).
    static awaitable<std::shared_ptr<connection>> connect(boost::asio::any_io_executor ex,
                                                          std::string path = default_socket_path(),
                                                          duration timeout = std::chrono::seconds(5));

    explicit connection(std::shared_ptr<detail::connection_core> core);  // use connect()
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    boost::asio::any_io_executor get_executor() const;
    const std::string& path() const noexcept;

    // Closes the socket (what is queued gets one last non-blocking write).
    // Every open session ends with errc::connection_lost. Idempotent.
    void close() noexcept;
    bool is_open() const noexcept;
    // Why the connection closed (errc::connection_lost, errc::protocol_error), or {}.
    std::error_code last_error() const noexcept;
    // True once the connection is closed; false when the timeout passes first.
    awaitable<bool> wait_closed(duration timeout);

    // --- Client side ------------------------------------------------------------

    // Sends REQUEST <request_line> with a fresh id (ccnet style: counting from 1001,
    // skipping 0 and every id still open as master on this connection). Throws
    // std::errc::invalid_argument for a line junctiond would reject (empty, control
    // bytes, bad service name, over 65535 bytes), errc::connection_lost when closed.
    awaitable<std::shared_ptr<session>> open(std::string_view request_line);

    // open(), the first RESPONSE (whatever its code: 511 for an unknown service is
    // returned, not thrown), then UPDATE 103 if the session is still open. An answer
    // sent in chunks (docs/protocol.md §5: RESPONSE 312 HAS MORE, each acknowledged
    // here with UPDATE 302 MORE, then the answer's own code) is returned as one
    // packet: the last chunk's code and message, all the chunks' content. Over 16 MiB
    // (counted as §5 does) the session is ended with UPDATE 517 and a packet
    // `517 limit: message size ...` is returned. `timeout` bounds the whole call.
    awaitable<packet> call(std::string_view request_line, duration timeout);

    // Client sessions open on this connection.
    std::size_t open_sessions() const noexcept;
    // The next id open() tries (default 1001); for tests of id wrap-around.
    void set_next_session_id(std::uint32_t id) noexcept;

    // --- Provider side ----------------------------------------------------------

    // Runs `register-service <name>` through junctiond; from then on REQUESTs for
    // <name> spawn h. Registering a name again on this connection replaces the
    // handler. Throws errc::refused with junctiond's answer in the message
    // ("register-service x: 516 ...") when it is not 200, std::errc::invalid_argument
    // for an invalid name. A REQUEST for a name with no handler is answered 511.
    awaitable<void> register_service(std::string name, handler h, duration timeout);
    // Runs `unregister-service <name>`; open sessions of the service go on.
    // Throws errc::refused (511) if this connection does not hold <name>.
    awaitable<void> unregister_service(std::string name, duration timeout);

private:
    std::shared_ptr<detail::connection_core> core_;
};

// A session this program opened (it is the master): it sends UPDATEs and
// receives RESPONSEs.
class session {
public:
    explicit session(std::shared_ptr<detail::session_core> core);  // use connection::open()
    ~session();  // UPDATE 103 if still open
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    std::uint32_t id() const noexcept;
    const std::string& request_line() const noexcept;

    // Sends UPDATE "<code> <message>\n<content>". code is 100..599; message and
    // content together must fit one packet (65535 bytes with the code line), else
    // std::errc::message_size. Sending 103, 102 or 4xx/5xx ends the session.
    // The packet is queued when update() is called (message and content need not
    // outlive the call); co_await waits for room in the write queue and throws.
    // Throws errc::session_ended / errc::connection_lost when there is no session.
    [[nodiscard]] awaitable<void> update(std::uint16_t code, std::string_view message = {},
                                         std::string_view content = {});
    // The next RESPONSE. The packet that ends the session (103, 102, 4xx, 5xx) is
    // delivered; after it, receive() throws errc::session_ended. Throws
    // errc::timeout at the deadline, errc::connection_lost if the connection
    // drops while the session is open.
    awaitable<packet> receive(duration timeout);
    // UPDATE 103. Does nothing on a session that already ended or lost its connection.
    awaitable<void> end();
    bool ended() const noexcept;

private:
    std::shared_ptr<detail::session_core> core_;
};

// A session junctiond routed to this program for one of its services (it is
// the slave): it sends RESPONSEs and receives UPDATEs.
class incoming_session {
public:
    explicit incoming_session(std::shared_ptr<detail::session_core> core);  // made by the library
    ~incoming_session();  // RESPONSE 103 if still open
    incoming_session(const incoming_session&) = delete;
    incoming_session& operator=(const incoming_session&) = delete;

    // The id junctiond chose on this connection (not the client's id).
    std::uint32_t id() const noexcept;
    const std::string& request_line() const noexcept;  // "<service> <args>", trailing NUL removed
    const std::string& service() const noexcept;
    const std::string& args() const noexcept;          // after the service name, "" if none
    std::vector<std::string> arg_list() const;         // args split on spaces and tabs

    // Sends RESPONSE "<code> <message>\n<content>"; same rules as session::update().
    [[nodiscard]] awaitable<void> respond(std::uint16_t code, std::string_view message = {},
                                          std::string_view content = {});
    // The next UPDATE; same rules as session::receive().
    awaitable<packet> receive(duration timeout);
    // RESPONSE 103; does nothing if the session already ended.
    awaitable<void> end();
    bool ended() const noexcept;

private:
    std::shared_ptr<detail::session_core> core_;
};

}  // namespace junction
