// The broker's brain: service registry and session table. Pure logic.
//
// Flow: the I/O shell tells the router what happened ("connection 7 opened",
// "connection 7 sent this frame", "connection 9 closed"); the router answers
// through an action_sink ("queue these bytes for connection 3 with id 12",
// "send RESPONSE 511 to connection 7", "close connection 7"). No sockets,
// clocks or logging in here: every rule of docs/protocol.md is a unit test with
// fake connection ids (tests/router_test.cpp).
//
// A session joins (client connection, client id) to (provider connection,
// provider id). Two flat maps find it from either side in O(1); the packet
// type says which side a packet comes from (UPDATE: the master/client side,
// RESPONSE: the slave/provider side), so both id spaces live on one
// connection without clashing. Built-in services are sessions whose provider
// is the daemon itself (provider == daemon_conn).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include "junction/proto/frame_reader.hpp"
#include "junction/proto/header.hpp"
#include "junction/proto/text.hpp"
#include "limits.hpp"
#include "policy.hpp"

namespace junction::daemon {

using conn_id = std::uint32_t;
inline constexpr conn_id daemon_conn = 0;  // the daemon itself, provider of the built-ins

struct credentials {
    std::int32_t pid = -1;
    std::uint32_t uid = static_cast<std::uint32_t>(-1);
    std::uint32_t gid = static_cast<std::uint32_t>(-1);
    std::vector<std::uint32_t> groups;  // supplementary groups (SO_PEERGROUPS)
};

// What the router asks the shell to do. Calls happen during on_* and must not
// call back into the router; the shell queues bytes and defers closes.
class action_sink {
public:
    virtual ~action_sink() = default;
    // Queue `wire` (a whole encoded packet) for `to`, with the header's id set to `id`.
    virtual void forward(conn_id to, std::uint32_t id, std::span<const std::uint8_t> wire) = 0;
    // Queue a RESPONSE or UPDATE made by the daemon.
    virtual void send(conn_id to, proto::packet_type type, std::uint32_t id, std::uint16_t code,
                      std::string_view message, std::span<const std::uint8_t> content = {}) = 0;
    // Close `c` once what is already queued for it has been written.
    virtual void close(conn_id c, std::string_view reason) = 0;
    // Something went wrong on `c` that deserves a log line (the router does not log).
    virtual void diagnose(conn_id c, std::string_view what) = 0;
};

struct router_stats {
    std::uint64_t packets_routed = 0;  // forwarded between connections
    std::uint64_t bytes_routed = 0;
    std::uint64_t sessions_opened = 0;
    std::uint64_t late_packets = 0;    // session-ending packets for sessions already gone
};

// Lets the registry be searched with a string_view without building a string.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

class router {
public:
    router(limits lim, std::uint64_t start_ms, std::string version);

    void set_limits(const limits& lim) { limits_ = lim; }
    void set_policy(policy p) { policy_ = std::move(p); }
    // A reload's new policy: registrations it would refuse are removed and open
    // sessions it would refuse end with 504 to both sides (docs/security.md §7).
    struct revoked {
        std::size_t services = 0;
        std::size_t sessions = 0;
    };
    revoked apply_policy(policy p, action_sink& out);
    const limits& current_limits() const noexcept { return limits_; }
    // The shell's clock, in milliseconds, set before each batch of events.
    void set_now(std::uint64_t now_ms) noexcept { now_ms_ = now_ms; }

    void on_open(conn_id c, const credentials& creds);
    // Returns false when the connection must not be read any further.
    bool on_packet(conn_id c, const proto::frame& f, action_sink& out);
    // A connection went away: every session on it ends, its services are dropped.
    void on_close(conn_id c, action_sink& out);
    // The shell is shutting down: every session ends with 500 on both sides.
    void shutdown_all(action_sink& out);
    // Periodic housekeeping: reaps sessions idle for longer than
    // limits::session_idle_timeout_ms with 514 to both sides.
    void on_tick(action_sink& out);

    std::size_t connection_count() const noexcept { return conns_.size(); }
    std::size_t session_count() const noexcept { return live_sessions_; }
    std::size_t service_count() const noexcept { return services_.size(); }
    const router_stats& stats() const noexcept { return stats_; }
    // Sessions in which c takes part, on either side.
    std::size_t sessions_of(conn_id c) const;

private:
    enum class builtin : std::uint8_t { none, echo, command };

    struct session {
        conn_id client = 0;
        std::uint32_t client_id = 0;
        conn_id provider = 0;  // daemon_conn for built-ins
        std::uint32_t provider_id = 0;
        std::uint32_t service = 0;  // index into service_slots_ (routed sessions)
        builtin kind = builtin::none;
        bool live = false;
        bool answering = false;          // a built-in answer is being sent in chunks (answers_)
        std::uint32_t up_chunked = 0;    // bytes of the UPDATE message being chunked (312)
        std::uint32_t down_chunked = 0;  // bytes of the RESPONSE message being chunked
        std::uint64_t last_active_ms = 0;
    };

    struct service_slot {
        std::string name;
        conn_id provider = 0;
        std::uint32_t uid = 0;  // the provider's, for services_per_uid_
        std::uint32_t sessions = 0;
        bool live = false;
    };

    struct connection {
        credentials creds;
        std::uint32_t next_provider_id = 1;
        std::uint32_t client_sessions = 0;
        boost::unordered_flat_set<std::uint32_t> sessions;  // indices, either side
        std::vector<std::uint32_t> services;                // indices into service_slots_
    };

    static std::uint64_t key(conn_id c, std::uint32_t id) noexcept {
        return (std::uint64_t{c} << 32) | id;
    }

    void on_request(conn_id c, connection& conn, const proto::frame& f, action_sink& out);
    // These two return on_packet's answer (always true: reading goes on), so
    // that on_packet ends in a tail call on the routing path.
    bool on_update(conn_id c, const proto::frame& f, action_sink& out);
    bool on_response(conn_id c, const proto::frame& f, action_sink& out);
    void on_unknown_session(conn_id c, const proto::frame& f, action_sink& out);
    // Counts a chunk of a message; false when the message went over the limit.
    bool account_chunk(std::uint32_t& chunked, std::uint16_t code, std::size_t bytes) const;

    // Built-in services.
    void start_builtin(std::uint32_t s, const proto::request_line& req, action_sink& out);
    void builtin_update(std::uint32_t s, std::uint16_t code, std::span<const std::uint8_t> content,
                        action_sink& out);
    // Runs one command line for session s and answers it with a RESPONSE.
    void run_command(std::uint32_t s, std::string_view line, action_sink& out);
    // Sends a built-in's answer on session s: one RESPONSE if `<code> <message>\n<content>`
    // fits a packet, else chunked by §5 (312 HAS MORE ... the answer's own code last),
    // one chunk per UPDATE 302 MORE. An error answer ends the session.
    void answer(std::uint32_t s, std::uint16_t code, std::string_view message,
                std::string_view content, action_sink& out);
    // Sends the next chunk of session s's pending answer (answers_).
    void send_answer_chunk(std::uint32_t s, action_sink& out);
    void release_answer(std::uint32_t s);
    std::string list_services_json() const;
    std::string daemon_info_json() const;

    std::uint32_t new_session();
    std::uint32_t allocate_provider_id(conn_id p, connection& pconn);
    // Ends session s: the client side gets `client_code` (RESPONSE) and the provider side
    // `provider_code` (UPDATE); 0 means "tell that side nothing".
    void end_session(std::uint32_t s, std::uint16_t client_code, std::string_view client_msg,
                     std::uint16_t provider_code, std::string_view provider_msg, action_sink& out);
    void drop_session(std::uint32_t s);
    void drop_services(conn_id c, connection& conn);
    // Removes a live registration from the registry (the slot is reused once its
    // last session ends); the caller keeps the provider's list of slots.
    void forget_service(std::uint32_t slot);
    // §7 / security §5.4: `call` rules cover the built-ins that are services for
    // their caller (echo, list-services, daemon-info), also as commands of a
    // command session. Answers 504 (ending the session) and returns true when
    // the session's client may not call `name`.
    bool builtin_refused(std::uint32_t s, std::string_view name, action_sink& out);
    policy_decision check_policy(const connection& conn, policy_action a,
                                 std::string_view name) const;
    std::string session_info_json(conn_id provider, std::uint32_t provider_id) const;

    limits limits_;
    policy policy_;
    std::uint64_t start_ms_;
    std::uint64_t now_ms_;
    std::string version_;
    router_stats stats_;

    boost::unordered_flat_map<conn_id, connection> conns_;
    boost::unordered_flat_map<std::uint32_t, std::uint32_t> sessions_per_uid_;  // as client
    boost::unordered_flat_map<std::uint32_t, std::uint32_t> services_per_uid_;  // registered
    std::vector<session> sessions_;
    // The rest of a built-in answer sent in chunks, by session index (§5, §7).
    struct pending_answer {
        std::string content;
        std::size_t sent = 0;  // content bytes already sent
        std::uint16_t code = 0;
        std::string message;
        std::uint32_t uid = 0;  // whose budget holds it
    };
    boost::unordered_flat_map<std::uint32_t, pending_answer> answers_;
    // Content bytes of unfinished chunked answers, per client uid: at most max_message.
    boost::unordered_flat_map<std::uint32_t, std::size_t> answer_bytes_per_uid_;
    std::vector<std::uint32_t> free_sessions_;
    std::size_t live_sessions_ = 0;
    boost::unordered_flat_map<std::uint64_t, std::uint32_t> by_client_;
    boost::unordered_flat_map<std::uint64_t, std::uint32_t> by_provider_;

    boost::unordered_flat_map<std::string, std::uint32_t, string_hash, std::equal_to<>> services_;  // name -> slot
    std::vector<service_slot> service_slots_;
    std::vector<std::uint32_t> free_service_slots_;
};

}  // namespace junction::daemon
