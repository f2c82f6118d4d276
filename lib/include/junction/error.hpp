// The client library's error codes, wired into std::error_code (category
// "junction.client"). Every message lives in one place: src/error.cpp.
//
// The library throws std::system_error carrying one of these codes at its API
// boundary; inside, expected failures travel as values.
#pragma once

#include <system_error>

namespace junction {

enum class errc {
    timeout = 1,      // a wait reached its deadline
    connection_lost,  // the connection to junctiond closed (or was closed) under the session
    session_ended,    // receive() on a session that already ended (103, 102, 4xx/5xx, end())
    refused,          // the daemon answered 4xx/5xx to register/unregister (message has code and text)
    protocol_error,   // the daemon sent something the protocol does not allow
    queue_full,       // a session's unread packets passed the library's bound; the session was ended
};

const std::error_category& client_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace junction

template <>
struct std::is_error_code_enum<junction::errc> : std::true_type {};
