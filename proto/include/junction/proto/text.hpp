// The text inside payloads: the REQUEST line and the code line of RESPONSE/UPDATE.
//
//   REQUEST   "<service>[ <arg> ...]"            UTF-8, no control bytes but TAB,
//                                                 one trailing NUL tolerated
//   RESPONSE  "<ddd>[ <message>]\n<content>"      content is opaque bytes
//   UPDATE    same as RESPONSE
//
// Parsers return views into the payload: no allocation.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "junction/proto/error.hpp"
#include "junction/proto/header.hpp"

namespace junction::proto {

inline constexpr std::size_t max_service_name = 128;

// [A-Za-z0-9][A-Za-z0-9._:-]{0,127}
bool valid_service_name(std::string_view name) noexcept;
bool valid_utf8(std::string_view s) noexcept;

// Strips one trailing NUL byte (ccnet clients often send one).
std::string_view strip_nul(std::string_view s) noexcept;
inline std::string_view as_text(std::span<const std::uint8_t> b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct request_line {
    std::string_view service;  // first word
    std::string_view args;     // the rest, leading separators removed ("" if none)
    std::string_view line;     // the whole line, trailing NUL removed
};

std::error_code parse_request(std::span<const std::uint8_t> payload, request_line& out) noexcept;
// Splits on runs of spaces and tabs.
std::vector<std::string_view> split_args(std::string_view args);

struct code_line {
    std::uint16_t code = 0;
    std::string_view message;               // after the single space, may be empty
    std::span<const std::uint8_t> content;  // after the '\n'
};

std::error_code parse_code_line(std::span<const std::uint8_t> payload, code_line& out) noexcept;

// The routing path's check: the code of a payload whose code line
// parse_code_line accepts, else 0 (parse_code_line then says why). Inline and
// without the line's parts: routing needs only the code (callgrind 8×16: 60 ->
// ~15 instructions per routed packet).
inline std::uint16_t routed_code(std::span<const std::uint8_t> payload) noexcept {
    if (payload.size() < 4) return 0;
    const unsigned d0 = payload[0] - 48u, d1 = payload[1] - 48u, d2 = payload[2] - 48u;
    if (d0 > 9 || d1 > 9 || d2 > 9) return 0;
    const unsigned code = d0 * 100 + d1 * 10 + d2;
    if (code < 100 || code > 599) return 0;
    if (payload[3] == '\n') return static_cast<std::uint16_t>(code);
    if (payload[3] != ' ' || !std::memchr(payload.data() + 4, '\n', payload.size() - 4)) return 0;
    return static_cast<std::uint16_t>(code);
}

// "<ddd>[ <message>]\n". Like append_code_packet, cuts the message at its first
// '\n' and shortens it to fit a payload without content.
std::string format_code_line(std::uint16_t code, std::string_view message);
// Size of the RESPONSE/UPDATE payload append_code_packet writes for this message
// and content (after the message is cut to fit).
std::size_t code_payload_size(std::string_view message, std::size_t content_size) noexcept;

// Appends one encoded packet to out. The payload must fit max_payload.
void append_packet(std::vector<std::uint8_t>& out, packet_type type, std::uint32_t id,
                   std::span<const std::uint8_t> payload);
// Appends a RESPONSE/UPDATE packet: header, code line, content. The message is
// cut so that the payload fits; content beyond what fits is the caller's bug.
void append_code_packet(std::vector<std::uint8_t>& out, packet_type type, std::uint32_t id,
                        std::uint16_t code, std::string_view message,
                        std::span<const std::uint8_t> content = {});

}  // namespace junction::proto
