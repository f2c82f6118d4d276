// The libsearpc named-pipe gateway: one translator per gateway connection. Pure logic.
//
// libsearpc's named-pipe transport (what Seafile and python3-searpc speak):
//   request   u32 length (native byte order) + {"service": "<name>", "request": "<call JSON>"}
//   reply     u32 length (native byte order) + result JSON ({"ret": ...} or {"err_code", "err_msg"})
//
// Flow: the shell gives each gateway client a router connection id, so the
// gateway's calls are ordinary sessions (same limits, policy, accounting).
// Client bytes come in through on_client_bytes(); the translator answers with
// frames for the router (as if the client had sent them) and bytes for the
// client. Packets the router sends to this connection come back through
// on_router_frame(). Calls of one client run one at a time, in order (the
// transport is sequential); concurrency comes from many gateway connections.
// One session per service is opened on first use and reused while it lives
// (docs/protocol.md §9 gives the exchange).
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "junction/proto/frame_reader.hpp"
#include "searpc_envelope.hpp"

namespace junction::daemon {

struct gateway_output {
    std::vector<std::uint8_t> to_router;  // encoded frames, from this connection
    std::vector<std::uint8_t> to_client;  // bytes for the searpc client
    std::string close_reason;             // non-empty: close the client
    std::vector<std::string> diagnostics; // one log line each
};

class searpc_gateway {
public:
    searpc_gateway(std::size_t max_message, std::size_t max_payload, std::uint64_t call_timeout_ms);

    void on_client_bytes(std::span<const std::uint8_t> bytes, std::uint64_t now_ms,
                         gateway_output& out);
    void on_router_frame(const proto::frame& f, gateway_output& out);
    // Fails the call in progress once it is older than the call timeout.
    void on_tick(std::uint64_t now_ms, gateway_output& out);
    // A reload's limits, for the requests and results read from now on and the
    // call timeout checked at the next tick.
    void set_limits(std::size_t max_message, std::size_t max_payload, std::uint64_t call_timeout_ms) noexcept;

    std::size_t pending_calls() const noexcept { return calls_.size(); }
    // Part of a request has arrived, not all of it (for the partial-packet timeout).
    bool has_partial() const noexcept { return !inbox_.empty(); }
    // Requests received so far (progress, for the same timeout).
    std::uint64_t requests_received() const noexcept { return requests_received_; }

    // Most calls a client may queue behind the one in progress.
    static constexpr std::size_t max_queued_calls = 64;

private:
    enum class phase : std::uint8_t { opening, ready, sending_args, awaiting_result };

    struct call {
        std::string service;
        std::string request;  // the call JSON, passed through untouched
        std::uint64_t started_ms = 0;
        std::size_t sent = 0;  // request bytes already sent (argument chunks)
        std::string result;   // result chunks so far
        bool started = false;
        bool bad_request = false;  // `result` already holds the error reply
    };

    struct session {
        std::uint32_t id = 0;
        phase state = phase::opening;
    };

    void parse_requests(std::uint64_t now_ms, gateway_output& out);
    // Starts the call at the front of the queue, if none is running.
    void pump(std::uint64_t now_ms, gateway_output& out);
    void send_next_chunk(session& s, call& c, gateway_output& out);
    void finish(std::string_view reply_json, gateway_output& out);
    void fail(int err_code, std::string_view msg, gateway_output& out);
    void end_session(const std::string& service, std::uint16_t code, gateway_output& out);
    session* session_by_id(std::uint32_t id, std::string* service);

    std::size_t max_message_ = 0;
    std::size_t max_chunk_ = 0;  // content bytes per packet
    std::uint64_t call_timeout_ms_ = 0;
    std::vector<std::uint8_t> inbox_;  // partial request bytes
    std::deque<call> calls_;           // front: in progress
    boost::unordered_flat_map<std::string, session> sessions_;
    std::uint32_t next_id_ = 1;
    std::uint64_t now_ms_ = 0;            // the latest time the shell gave
    std::size_t queued_bytes_ = 0;        // request bytes of calls not started yet
    std::uint64_t requests_received_ = 0;
    envelope_reader envelope_;
};

}  // namespace junction::daemon
