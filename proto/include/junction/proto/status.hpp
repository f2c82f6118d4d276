// Status codes carried in the code line of RESPONSE and UPDATE payloads.
// Values and names follow ccnet's status-code.h; Junction's additions are marked.
#pragma once

#include <cstdint>
#include <string_view>

namespace junction::proto {

namespace code {
inline constexpr std::uint16_t proc_keepalive = 100;
inline constexpr std::uint16_t proc_alive = 101;
inline constexpr std::uint16_t proc_dead = 102;         // no such session on this connection
inline constexpr std::uint16_t proc_done = 103;         // master ends the session (UPDATE)
inline constexpr std::uint16_t ok = 200;
inline constexpr std::uint16_t rpc_call = 301;          // UPDATE: a call (RPC convention)
inline constexpr std::uint16_t rpc_more = 302;          // ask for the next chunk
inline constexpr std::uint16_t rpc_ret = 311;           // RESPONSE: a result (RPC convention)
inline constexpr std::uint16_t has_more = 312;          // a chunk of a longer message
inline constexpr std::uint16_t shutdown = 500;
inline constexpr std::uint16_t create_proc_err = 501;
inline constexpr std::uint16_t bad_peer = 502;
inline constexpr std::uint16_t bad_args = 503;
inline constexpr std::uint16_t perm_err = 504;
inline constexpr std::uint16_t bad_packet = 505;        // Junction: reserved packet type
inline constexpr std::uint16_t bad_update_code = 506;
inline constexpr std::uint16_t bad_response_code = 507;
inline constexpr std::uint16_t version_mismatch = 508;
inline constexpr std::uint16_t unknown_peer = 510;
inline constexpr std::uint16_t unknown_service = 511;
inline constexpr std::uint16_t peer_unreachable = 512;
inline constexpr std::uint16_t con_timeout = 513;
inline constexpr std::uint16_t keepalive_timeout = 514;
inline constexpr std::uint16_t netdown = 515;           // "peer down"
inline constexpr std::uint16_t serv_existed = 516;
inline constexpr std::uint16_t limit_exceeded = 517;    // Junction: a configured limit
}  // namespace code

// The standard reason text for a code ("OK", "peer down", ...); "" if none is defined.
std::string_view status_text(std::uint16_t code) noexcept;

// Codes 400..599 end the session, whichever side sends them.
constexpr bool is_error(std::uint16_t c) noexcept { return c >= 400 && c <= 599; }

}  // namespace junction::proto
