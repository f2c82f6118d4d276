// The 8-byte packet header (ccnet layout) and the packet types.
//
// Wire layout, network byte order:
//   byte 0     version (always 1)
//   byte 1     type    (packet_type)
//   bytes 2-3  length  (payload bytes that follow, 0..65535)
//   bytes 4-7  id      (session id)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace junction::proto {

inline constexpr std::uint8_t protocol_version = 1;
inline constexpr std::size_t header_size = 8;
inline constexpr std::size_t max_payload = 65535;

enum class packet_type : std::uint8_t {
    ok = 0,         // reserved (ccnet), never valid on the wire
    handshake = 1,  // reserved (ccnet remote peers)
    request = 2,    // master -> slave: opens a session
    response = 3,   // slave -> master
    update = 4,     // master -> slave
    relay = 5,      // reserved (unused by ccnet)
    encpacket = 6,  // reserved (ccnet encrypted peer traffic)
};

// True for REQUEST, RESPONSE and UPDATE: the only types a version 1 peer may send.
constexpr bool is_session_type(std::uint8_t t) noexcept { return t >= 2 && t <= 4; }
std::string_view type_name(std::uint8_t t) noexcept;

struct header {
    std::uint8_t version = protocol_version;
    std::uint8_t type = 0;
    std::uint16_t length = 0;
    std::uint32_t id = 0;

    friend bool operator==(const header&, const header&) = default;
};

using header_bytes = std::array<std::uint8_t, header_size>;

void encode_header(const header& h, std::span<std::uint8_t, header_size> out) noexcept;
header_bytes encode_header(const header& h) noexcept;
// Inline: the frame reader decodes one header per packet on the routing path.
inline header decode_header(std::span<const std::uint8_t, header_size> in) noexcept {
    header h;
    h.version = in[0];
    h.type = in[1];
    h.length = static_cast<std::uint16_t>((in[2] << 8) | in[3]);
    h.id = (std::uint32_t{in[4]} << 24) | (std::uint32_t{in[5]} << 16) | (std::uint32_t{in[6]} << 8) |
           std::uint32_t{in[7]};
    return h;
}

// Rewrites only the id field of an encoded header (the router's one edit on the forwarding path).
inline void rewrite_id(std::uint8_t* header_start, std::uint32_t id) noexcept {
    header_start[4] = static_cast<std::uint8_t>(id >> 24);
    header_start[5] = static_cast<std::uint8_t>(id >> 16);
    header_start[6] = static_cast<std::uint8_t>(id >> 8);
    header_start[7] = static_cast<std::uint8_t>(id);
}

}  // namespace junction::proto
