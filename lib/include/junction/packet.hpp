// A RESPONSE or UPDATE as the application sees it: code, message, content.
//
// Flow: the connection's reader parses the code line (proto/text.hpp) of each
// packet for a session and copies it into a `packet` in that session's inbox;
// receive() hands it out. Content is opaque bytes kept in a std::string (it may
// hold NULs); content_bytes() views the same bytes as uint8_t.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace junction {

struct packet {
    std::uint16_t code = 0;  // 100..599 (proto/status.hpp names them)
    std::string message;     // the code line's text after the code ("OK"), may be empty
    std::string content;     // everything after the code line, binary-safe

    // 2xx
    bool is_ok() const noexcept { return code >= 200 && code < 300; }
    // 4xx/5xx: the session ended with an error.
    bool is_error() const noexcept { return code >= 400 && code <= 599; }
    // 102, 103, 4xx or 5xx: the packet that ends its session (docs/protocol.md §3).
    bool ends_session() const noexcept { return code == 102 || code == 103 || is_error(); }

    std::span<const std::uint8_t> content_bytes() const noexcept {
        return {reinterpret_cast<const std::uint8_t*>(content.data()), content.size()};
    }
    std::vector<std::uint8_t> content_vector() const {
        const auto b = content_bytes();
        return {b.begin(), b.end()};
    }
    // "200 OK" / "103": for messages and logs.
    std::string code_line() const;
};

}  // namespace junction
