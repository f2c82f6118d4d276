// Blocking client for simple programs: no Asio in sight, no coroutines.
//
//   junction::sync_client c(socket_path);               // connects; 5 s per operation
//   junction::packet p = c.call("example.hello world");  // p.code, p.content
//
//   auto s = c.open("example.hello world");
//   auto greeting = s.receive();
//   s.update(200, "", "ping");
//   auto echo = s.receive();
//   s.end();
//
// Flow: the client owns an io_context running on a private thread, and a
// junction::connection on it. Each call hands a coroutine to that thread and
// blocks on its result, so the calling thread never touches Asio objects.
// Methods may be called from any thread, one at a time per sync_client.
//
// Errors are std::system_error with junction::errc codes (error.hpp):
// timeout, connection_lost, session_ended, ... If the connection was lost, the
// next call()/open() connects again (a restarted junctiond is picked up), but a
// session never survives its connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "junction/error.hpp"
#include "junction/packet.hpp"
#include "junction/socket_path.hpp"

namespace junction {

class session;
class sync_session;

class sync_client {
public:
    using duration = std::chrono::steady_clock::duration;

    // Connects now; throws std::system_error ("connect <path>: ...") if junctiond is not there.
    // `timeout` bounds every wait of every operation.
    explicit sync_client(std::string path = default_socket_path(),
                         duration timeout = std::chrono::seconds(5));
    ~sync_client();
    sync_client(sync_client&&) noexcept;
    sync_client& operator=(sync_client&&) noexcept;
    sync_client(const sync_client&) = delete;
    sync_client& operator=(const sync_client&) = delete;

    // REQUEST, first RESPONSE (whatever its code), then UPDATE 103 if still open.
    // A chunked answer (312 ... 200, docs/protocol.md §5) is collected into one
    // packet, as connection::call() does.
    packet call(std::string_view request_line);
    // REQUEST; the session is yours to drive.
    sync_session open(std::string_view request_line);

    bool is_open() const;
    void close();
    duration timeout() const noexcept;
    void set_timeout(duration t) noexcept;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

class sync_session {
public:
    ~sync_session();  // UPDATE 103 if still open
    sync_session(sync_session&&) noexcept;
    sync_session& operator=(sync_session&&) noexcept;
    sync_session(const sync_session&) = delete;
    sync_session& operator=(const sync_session&) = delete;

    std::uint32_t id() const noexcept { return id_; }
    // UPDATE "<code> <message>\n<content>"; 103, 102 or 4xx/5xx end the session.
    void update(std::uint16_t code, std::string_view message = {}, std::string_view content = {});
    // Next RESPONSE within the client's timeout (or the one given); the packet that
    // ends the session is returned, the receive() after it throws errc::session_ended.
    packet receive();
    packet receive(sync_client::duration timeout);
    // UPDATE 103; does nothing if the session already ended.
    void end();
    bool ended() const;

private:
    friend class sync_client;
    sync_session(std::shared_ptr<sync_client::impl> client, std::shared_ptr<session> s);
    void release() noexcept;

    std::shared_ptr<sync_client::impl> client_;
    std::shared_ptr<session> session_;  // lives on the client's thread
    std::uint32_t id_ = 0;
};

}  // namespace junction
