// Reason texts for the status codes (ccnet's wording where ccnet had one).
#include "junction/proto/status.hpp"

namespace junction::proto {

std::string_view status_text(std::uint16_t c) noexcept {
    switch (c) {
        case code::proc_keepalive: return "processor keep alive";
        case code::proc_alive: return "processor is alive";
        case code::proc_dead: return "processor is dead";
        case code::proc_done: return "service is done";
        case code::ok: return "OK";
        case code::rpc_call: return "CLIENT CALL";
        case code::rpc_more: return "MORE";
        case code::rpc_ret: return "SERVER RET";
        case code::has_more: return "HAS MORE";
        case code::shutdown: return "shutdown";
        case code::create_proc_err: return "create processor error";
        case code::bad_peer: return "bad peer";
        case code::bad_args: return "bad arguments";
        case code::perm_err: return "permission error";
        case code::bad_packet: return "bad packet";
        case code::bad_update_code: return "bad update code";
        case code::bad_response_code: return "bad response code";
        case code::version_mismatch: return "version mismatch";
        case code::unknown_peer: return "unknown peer";
        case code::unknown_service: return "unknown service";
        case code::peer_unreachable: return "peer unreachable";
        case code::con_timeout: return "connection timeout";
        case code::keepalive_timeout: return "keepalive timeout";
        case code::netdown: return "peer down";
        case code::serv_existed: return "the service already exists";
        case code::limit_exceeded: return "limit exceeded";
        default: return "";
    }
}

}  // namespace junction::proto
