// Router rules. Each block names the section of docs/protocol.md it implements.
#include "router.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"

namespace junction::daemon {

namespace code = proto::code;
using proto::packet_type;

namespace {

bool is_builtin_name(std::string_view n) noexcept {
    return n == "echo" || n == "receive-cmd" || n == "register-service" ||
           n == "unregister-service" || n == "list-services" || n == "daemon-info" ||
           n == "session-info";
}

// The built-ins that are services to their caller, subject to `call` rules
// (docs/security.md §5.4); the others are providers' plumbing.
bool is_called_builtin(std::string_view n) noexcept {
    return n == "echo" || n == "list-services" || n == "daemon-info";
}

// A packet that ends a session: 103, 102, or any 4xx/5xx.
bool is_terminal(std::uint16_t c) noexcept {
    return c == code::proc_done || c == code::proc_dead || proto::is_error(c);
}

std::string error_text(std::error_code ec) { return ec.message(); }

}  // namespace

router::router(limits lim, std::uint64_t start_ms, std::string version)
    : limits_(lim), start_ms_(start_ms), now_ms_(start_ms), version_(std::move(version)) {}

void router::on_open(conn_id c, const credentials& creds) { conns_[c].creds = creds; }

std::size_t router::sessions_of(conn_id c) const {
    const auto it = conns_.find(c);
    return it == conns_.end() ? 0 : it->second.sessions.size();
}

// --- Packets ----------------------------------------------------------------

bool router::on_packet(conn_id c, const proto::frame& f, action_sink& out) {
    // Only a REQUEST needs the connection's record. UPDATE and RESPONSE need
    // just the session lookup (a connection the router does not know has no
    // sessions, so they get 102): one hash lookup less per routed packet.
    switch (static_cast<packet_type>(f.hdr.type)) {
        case packet_type::request: {
            const auto it = conns_.find(c);
            if (it == conns_.end()) return false;
            on_request(c, it->second, f, out);
            return true;
        }
        case packet_type::update: return on_update(c, f, out);
        case packet_type::response: return on_response(c, f, out);
        default: break;
    }
    // "Packet types": anything but REQUEST/UPDATE/RESPONSE ends the connection.
    std::string why = "reserved packet type " + std::to_string(f.hdr.type);
    out.send(c, packet_type::response, f.hdr.id, code::bad_packet, why);
    out.diagnose(c, why);
    out.close(c, why);
    return false;
}

void router::on_request(conn_id c, connection& conn, const proto::frame& f, action_sink& out) {
    const std::uint32_t id = f.hdr.id;
    if (id == 0) {
        out.send(c, packet_type::response, 0, code::bad_args, "session id 0 is not allowed");
        out.diagnose(c, "REQUEST with session id 0");
        return;
    }
    if (const auto open = by_client_.find(key(c, id)); open != by_client_.end()) {
        // Reusing an open id is a protocol violation that ends the open session.
        out.diagnose(c, "REQUEST reuses open session id " + std::to_string(id));
        end_session(open->second, code::bad_args, "session id already in use", code::bad_args,
                    "client reused the session id", out);
        return;
    }
    proto::request_line req;
    if (const auto ec = proto::parse_request(f.payload, req)) {
        out.send(c, packet_type::response, id, code::bad_args, error_text(ec));
        out.diagnose(c, "bad REQUEST: " + error_text(ec));
        return;
    }
    if (conn.client_sessions >= limits_.max_sessions_per_connection) {
        out.send(c, packet_type::response, id, code::limit_exceeded,
                 "limit: sessions per connection (" +
                     std::to_string(limits_.max_sessions_per_connection) + ")");
        out.diagnose(c, "sessions-per-connection limit reached");
        return;
    }
    const auto uid_it = sessions_per_uid_.find(conn.creds.uid);
    if (uid_it != sessions_per_uid_.end() && uid_it->second >= limits_.max_sessions_per_uid) {
        out.send(c, packet_type::response, id, code::limit_exceeded,
                 "limit: sessions per uid (" + std::to_string(limits_.max_sessions_per_uid) + ")");
        out.diagnose(c, "sessions-per-uid limit reached");
        return;
    }

    std::uint32_t slot = 0;
    conn_id provider = daemon_conn;
    const bool is_builtin = is_builtin_name(req.service);
    if (!is_builtin) {
        const auto svc = services_.find(req.service);
        if (svc == services_.end()) {
            out.send(c, packet_type::response, id, code::unknown_service,
                     "unknown service " + std::string(req.service));
            return;
        }
        slot = svc->second;
        provider = service_slots_[slot].provider;
    }
    // Routed services and the built-ins that are services to their caller are
    // refused before a session exists (§6.2).
    if (!is_builtin || is_called_builtin(req.service)) {
        if (const auto d = check_policy(conn, policy_action::call, req.service); !d.allowed) {
            out.send(c, packet_type::response, id, code::perm_err, "policy: " + d.rule->text);
            out.diagnose(c, "call " + std::string(req.service) + " refused by policy: " + d.rule->text);
            return;
        }
    }

    const std::uint32_t s = new_session();
    session& ss = sessions_[s];
    ss.client = c;
    ss.client_id = id;
    ss.provider = provider;
    ss.last_active_ms = now_ms_;
    by_client_.emplace(key(c, id), s);
    conn.sessions.insert(s);
    ++conn.client_sessions;
    ++sessions_per_uid_[conn.creds.uid];
    ++stats_.sessions_opened;

    if (provider == daemon_conn) {
        start_builtin(s, req, out);
        return;
    }
    connection& pconn = conns_.find(provider)->second;
    ss.service = slot;
    ss.provider_id = allocate_provider_id(provider, pconn);
    by_provider_.emplace(key(provider, ss.provider_id), s);
    pconn.sessions.insert(s);
    ++service_slots_[slot].sessions;
    out.forward(provider, ss.provider_id, f.wire);
    ++stats_.packets_routed;
    stats_.bytes_routed += f.wire.size();
}

bool router::on_update(conn_id c, const proto::frame& f, action_sink& out) {
    const auto it = by_client_.find(key(c, f.hdr.id));
    if (it == by_client_.end()) {
        on_unknown_session(c, f, out);
        return true;
    }
    const std::uint32_t s = it->second;
    const std::uint16_t cd = proto::routed_code(f.payload);
    if (cd == 0) {
        proto::code_line cl;
        const auto ec = proto::parse_code_line(f.payload, cl);
        out.diagnose(c, "bad UPDATE: " + error_text(ec));
        end_session(s, code::bad_update_code, error_text(ec), code::bad_update_code,
                    "bad update code from client", out);
        return true;
    }
    session& ss = sessions_[s];
    ss.last_active_ms = now_ms_;
    if (!account_chunk(ss.up_chunked, cd, f.payload.size())) {
        out.diagnose(c, "message limit exceeded in UPDATE");
        end_session(s, code::limit_exceeded, "limit: message size", code::limit_exceeded,
                    "limit: message size", out);
        return true;
    }
    if (ss.provider == daemon_conn) {
        proto::code_line cl;
        proto::parse_code_line(f.payload, cl);  // valid: routed_code said so
        builtin_update(s, cl.code, cl.content, out);
        return true;
    }
    out.forward(ss.provider, ss.provider_id, f.wire);
    ++stats_.packets_routed;
    stats_.bytes_routed += f.wire.size();
    if (is_terminal(cd)) drop_session(s);
    return true;
}

bool router::on_response(conn_id c, const proto::frame& f, action_sink& out) {
    const auto it = by_provider_.find(key(c, f.hdr.id));
    if (it == by_provider_.end()) {
        on_unknown_session(c, f, out);
        return true;
    }
    const std::uint32_t s = it->second;
    const std::uint16_t cd = proto::routed_code(f.payload);
    if (cd == 0) {
        proto::code_line cl;
        const auto ec = proto::parse_code_line(f.payload, cl);
        out.diagnose(c, "bad RESPONSE: " + error_text(ec));
        end_session(s, code::bad_response_code, "bad response code from provider",
                    code::bad_response_code, error_text(ec), out);
        return true;
    }
    session& ss = sessions_[s];
    ss.last_active_ms = now_ms_;
    if (!account_chunk(ss.down_chunked, cd, f.payload.size())) {
        out.diagnose(c, "message limit exceeded in RESPONSE");
        end_session(s, code::limit_exceeded, "limit: message size", code::limit_exceeded,
                    "limit: message size", out);
        return true;
    }
    out.forward(ss.client, ss.client_id, f.wire);
    ++stats_.packets_routed;
    stats_.bytes_routed += f.wire.size();
    if (is_terminal(cd)) drop_session(s);
    return true;
}

void router::on_unknown_session(conn_id c, const proto::frame& f, action_sink& out) {
    // "Unknown sessions": answer 102 in the opposite direction, except to packets
    // that would end the session anyway (they crossed the end on the wire).
    proto::code_line cl;
    if (!proto::parse_code_line(f.payload, cl) && is_terminal(cl.code)) {
        ++stats_.late_packets;
        return;
    }
    const bool from_master = f.hdr.type == static_cast<std::uint8_t>(packet_type::update);
    out.send(c, from_master ? packet_type::response : packet_type::update, f.hdr.id,
             code::proc_dead, "no such session");
}

bool router::account_chunk(std::uint32_t& chunked, std::uint16_t c, std::size_t bytes) const {
    const std::size_t total = chunked + bytes;
    if (total > limits_.max_message) return false;
    // Keep-alives between chunks count, and do not end the message (§5).
    const bool keepalive = c == code::proc_keepalive || c == code::proc_alive;
    chunked = c == code::has_more || (keepalive && chunked != 0) ? static_cast<std::uint32_t>(total) : 0;
    return true;
}

// --- Connections going away ---------------------------------------------------

void router::on_close(conn_id c, action_sink& out) {
    const auto it = conns_.find(c);
    if (it == conns_.end()) return;
    // Copy: end_session edits the set.
    const std::vector<std::uint32_t> mine(it->second.sessions.begin(), it->second.sessions.end());
    for (const std::uint32_t s : mine) {
        if (!sessions_[s].live) continue;
        // The side that went away is told nothing; the other side gets 515. A
        // connection calling its own service is both sides: nobody is told.
        const bool tell_client = sessions_[s].client != c;
        const bool tell_provider = sessions_[s].provider != c;
        end_session(s, tell_client ? code::netdown : 0, "peer down",
                    tell_provider ? code::netdown : 0, "peer down", out);
    }
    drop_services(c, it->second);
    conns_.erase(c);
}

void router::on_tick(action_sink& out) {
    const std::uint64_t idle = limits_.session_idle_timeout_ms;
    if (idle == 0) return;
    for (std::uint32_t s = 0; s < sessions_.size(); ++s) {
        const session& ss = sessions_[s];
        // Over, not equal: the millisecond clock is truncated, never fire early.
        if (ss.live && now_ms_ - ss.last_active_ms > idle)
            end_session(s, code::keepalive_timeout, "session idle timeout", code::keepalive_timeout,
                        "session idle timeout", out);
    }
}

void router::shutdown_all(action_sink& out) {
    for (std::uint32_t s = 0; s < sessions_.size(); ++s) {
        if (sessions_[s].live)
            end_session(s, code::shutdown, "shutdown", code::shutdown, "shutdown", out);
    }
}

// --- Session table ------------------------------------------------------------

std::uint32_t router::new_session() {
    std::uint32_t s;
    if (!free_sessions_.empty()) {
        s = free_sessions_.back();
        free_sessions_.pop_back();
        sessions_[s] = session{};
    } else {
        s = static_cast<std::uint32_t>(sessions_.size());
        sessions_.emplace_back();
    }
    sessions_[s].live = true;
    ++live_sessions_;
    return s;
}

std::uint32_t router::allocate_provider_id(conn_id p, connection& pconn) {
    // Never 0, never an id still open on p; wraps around after 2^32 - 1.
    for (;;) {
        const std::uint32_t id = pconn.next_provider_id++;
        if (pconn.next_provider_id == 0) pconn.next_provider_id = 1;
        if (id != 0 && !by_provider_.contains(key(p, id))) return id;
    }
}

void router::end_session(std::uint32_t s, std::uint16_t client_code, std::string_view client_msg,
                         std::uint16_t provider_code, std::string_view provider_msg,
                         action_sink& out) {
    const session ss = sessions_[s];
    if (client_code != 0)
        out.send(ss.client, packet_type::response, ss.client_id, client_code, client_msg);
    if (provider_code != 0 && ss.provider != daemon_conn)
        out.send(ss.provider, packet_type::update, ss.provider_id, provider_code, provider_msg);
    drop_session(s);
}

void router::drop_session(std::uint32_t s) {
    session& ss = sessions_[s];
    if (!ss.live) return;
    by_client_.erase(key(ss.client, ss.client_id));
    if (const auto c = conns_.find(ss.client); c != conns_.end()) {
        c->second.sessions.erase(s);
        --c->second.client_sessions;
        if (const auto u = sessions_per_uid_.find(c->second.creds.uid);
            u != sessions_per_uid_.end() && --u->second == 0)
            sessions_per_uid_.erase(u);
    }
    if (ss.provider != daemon_conn) {
        by_provider_.erase(key(ss.provider, ss.provider_id));
        if (const auto p = conns_.find(ss.provider); p != conns_.end()) p->second.sessions.erase(s);
        service_slot& sv = service_slots_[ss.service];
        // A slot whose service is gone is reused once its last session ends.
        if (--sv.sessions == 0 && !sv.live) free_service_slots_.push_back(ss.service);
    }
    if (ss.answering) release_answer(s);
    ss.live = false;
    free_sessions_.push_back(s);
    --live_sessions_;
}

// --- Registry -------------------------------------------------------------------

void router::drop_services(conn_id c, connection& conn) {
    for (const std::uint32_t slot : conn.services)
        if (service_slots_[slot].live && service_slots_[slot].provider == c) forget_service(slot);
    conn.services.clear();
}

void router::forget_service(std::uint32_t slot) {
    service_slot& sv = service_slots_[slot];
    services_.erase(sv.name);
    sv.live = false;
    if (const auto u = services_per_uid_.find(sv.uid); u != services_per_uid_.end() && --u->second == 0)
        services_per_uid_.erase(u);
    // The slot is reused only once no session refers to it.
    if (sv.sessions == 0) free_service_slots_.push_back(slot);
}

router::revoked router::apply_policy(policy p, action_sink& out) {
    policy_ = std::move(p);
    revoked r;
    // One pass over the registry: which slots' providers may no longer provide
    // them (the rule that says so, or null). Slots of unregistered services
    // still in use by sessions are judged too; only live ones are removed.
    std::vector<const policy_rule*> refused(service_slots_.size(), nullptr);
    for (std::uint32_t slot = 0; slot < service_slots_.size(); ++slot) {
        const service_slot& sv = service_slots_[slot];
        if (!sv.live && sv.sessions == 0) continue;
        connection& pconn = conns_.find(sv.provider)->second;
        const auto d = check_policy(pconn, policy_action::provide, sv.name);
        if (d.allowed) continue;
        refused[slot] = d.rule;
        if (!sv.live) continue;
        out.diagnose(sv.provider,
                     "service " + sv.name + " unregistered by the reloaded policy: " + d.rule->text);
        std::erase(pconn.services, slot);
        forget_service(slot);
        ++r.services;
    }
    // One pass over the sessions: those of a refused provider, or whose client
    // may no longer call their service (an echo session included), end with
    // 504 to both sides. Command sessions stay: each later command is checked.
    for (std::uint32_t s = 0; s < sessions_.size(); ++s) {
        const session& ss = sessions_[s];
        if (!ss.live || (ss.provider == daemon_conn && ss.kind != builtin::echo)) continue;
        const std::string_view name =
            ss.provider == daemon_conn ? std::string_view("echo") : service_slots_[ss.service].name;
        const policy_rule* rule = ss.provider == daemon_conn ? nullptr : refused[ss.service];
        if (!rule) {
            const auto d = check_policy(conns_.find(ss.client)->second, policy_action::call, name);
            if (d.allowed) continue;
            rule = d.rule;
        }
        out.diagnose(ss.client, "session " + std::to_string(ss.client_id) + " to " + std::string(name) +
                                    " ended by the reloaded policy: " + rule->text);
        const std::string why = "policy: " + rule->text;
        end_session(s, code::perm_err, why, code::perm_err, why, out);
        ++r.sessions;
    }
    return r;
}

// --- Built-in services ------------------------------------------------------------

void router::start_builtin(std::uint32_t s, const proto::request_line& req, action_sink& out) {
    session& ss = sessions_[s];
    if (req.service == "echo") {
        ss.kind = builtin::echo;
        answer(s, code::ok, "OK", req.args, out);
        return;
    }
    ss.kind = builtin::command;
    if (req.service == "receive-cmd") {
        out.send(ss.client, packet_type::response, ss.client_id, code::ok, "OK");
        return;
    }
    run_command(s, req.line, out);
}

void router::builtin_update(std::uint32_t s, std::uint16_t c, std::span<const std::uint8_t> content,
                            action_sink& out) {
    if (is_terminal(c)) return drop_session(s);
    const session& ss = sessions_[s];
    if (ss.answering) {
        // §7: while an answer goes out in chunks, the client only asks for the next one.
        if (c != code::rpc_more) {
            end_session(s, code::bad_update_code, "a chunked answer takes UPDATE 302 MORE", 0, "",
                        out);
            return;
        }
        return send_answer_chunk(s, out);
    }
    if (ss.kind == builtin::echo) return answer(s, code::ok, "OK", proto::as_text(content), out);
    if (c != code::ok) {
        end_session(s, code::bad_update_code, "command sessions take UPDATE 200 <command>", 0, "",
                    out);
        return;
    }
    // parse_request tolerates the one trailing NUL ccnet clients send.
    proto::request_line req;
    if (const auto ec = proto::parse_request(content, req)) {
        out.diagnose(ss.client, "bad command line: " + error_text(ec));
        end_session(s, code::bad_args, error_text(ec), 0, "", out);
        return;
    }
    run_command(s, req.line, out);
}

void router::run_command(std::uint32_t s, std::string_view line, action_sink& out) {
    const session ss = sessions_[s];
    const auto words = proto::split_args(line);
    const std::string_view cmd = words.empty() ? std::string_view{} : words[0];
    // An error answer ends the command session, as any 4xx/5xx does.
    auto reply = [&](std::uint16_t c, std::string_view msg, std::string_view content = {}) {
        answer(s, c, msg, content, out);
    };
    connection& conn = conns_.find(ss.client)->second;

    if (cmd == "register-service") {
        // "register-service <name> [<group>]": ccnet's group is accepted and ignored.
        if (words.size() < 2 || words.size() > 3 || !proto::valid_service_name(words[1]))
            return reply(code::bad_args, "usage: register-service <name>; name is "
                                         "[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
        const std::string name(words[1]);
        if (is_builtin_name(name)) return reply(code::serv_existed, "reserved by the daemon");
        if (const auto d = check_policy(conn, policy_action::provide, name); !d.allowed) {
            out.diagnose(ss.client, "provide " + name + " refused by policy: " + d.rule->text);
            return reply(code::perm_err, "policy: " + d.rule->text);
        }
        if (const auto it = services_.find(name); it != services_.end()) {
            if (service_slots_[it->second].provider == ss.client) return reply(code::ok, "OK");
            return reply(code::serv_existed, "the service already exists");
        }
        if (conn.services.size() >= limits_.max_services_per_connection) {
            out.diagnose(ss.client, "services-per-connection limit reached");
            return reply(code::limit_exceeded,
                         "limit: services per connection (" +
                             std::to_string(limits_.max_services_per_connection) + ")");
        }
        if (const auto u = services_per_uid_.find(conn.creds.uid);
            u != services_per_uid_.end() && u->second >= limits_.max_services_per_uid) {
            out.diagnose(ss.client, "services-per-uid limit reached");
            return reply(code::limit_exceeded, "limit: services per uid (" +
                                                   std::to_string(limits_.max_services_per_uid) + ")");
        }
        std::uint32_t slot;
        if (!free_service_slots_.empty()) {
            slot = free_service_slots_.back();
            free_service_slots_.pop_back();
        } else {
            slot = static_cast<std::uint32_t>(service_slots_.size());
            service_slots_.emplace_back();
        }
        service_slots_[slot] = service_slot{name, ss.client, conn.creds.uid, 0, true};
        services_.emplace(name, slot);
        conn.services.push_back(slot);
        ++services_per_uid_[conn.creds.uid];
        return reply(code::ok, "OK");
    }
    if (cmd == "unregister-service") {
        if (words.size() != 2) return reply(code::bad_args, "usage: unregister-service <name>");
        const auto it = services_.find(words[1]);
        if (it == services_.end() || service_slots_[it->second].provider != ss.client)
            return reply(code::unknown_service, "not registered by this connection");
        const std::uint32_t slot = it->second;
        std::erase(conn.services, slot);
        forget_service(slot);
        return reply(code::ok, "OK");
    }
    if (cmd == "list-services") {
        if (builtin_refused(s, cmd, out)) return;
        return reply(code::ok, "OK", list_services_json());
    }
    if (cmd == "session-info") {
        // "session-info <id>": who opened the session this connection serves as id <id>.
        std::uint32_t sid = 0;
        const bool ok = words.size() == 2 && !words[1].empty() && words[1].size() <= 10 &&
                        std::all_of(words[1].begin(), words[1].end(),
                                    [](char ch) { return ch >= '0' && ch <= '9'; }) &&
                        std::stoull(std::string(words[1])) <= 0xFFFFFFFFull;
        if (ok) sid = static_cast<std::uint32_t>(std::stoull(std::string(words[1])));
        if (!ok) return reply(code::bad_args, "usage: session-info <id>");
        std::string info = session_info_json(ss.client, sid);
        if (info.empty()) return reply(code::bad_args, "no session " + std::string(words[1]) +
                                                           " served by this connection");
        return reply(code::ok, "OK", info);
    }
    if (cmd == "daemon-info") {
        if (builtin_refused(s, cmd, out)) return;
        return reply(code::ok, "OK", daemon_info_json());
    }
    if (cmd == "echo") {
        if (builtin_refused(s, cmd, out)) return;
        proto::request_line req;
        (void)proto::parse_request(proto::as_bytes(line), req);
        return reply(code::ok, "OK", req.args);
    }
    reply(code::bad_args, "unknown command " + std::string(cmd));
}

// --- Built-in answers over one packet (§5, §7) ---------------------------------------

namespace {

// "<ddd>[ <message>]\n" without append_code_packet's cutting of the message.
std::size_t code_line_size(std::string_view message) noexcept {
    return 3 + (message.empty() ? 0 : 1 + message.size()) + 1;
}

constexpr std::string_view has_more_message = "HAS MORE";

}  // namespace

void router::answer(std::uint32_t s, std::uint16_t c, std::string_view message,
                    std::string_view content, action_sink& out) {
    const session& ss = sessions_[s];
    // Chunks are no longer than the packets the daemon accepts (max-payload, §8).
    const std::size_t packet = std::min(limits_.max_payload, proto::max_payload);
    if (code_line_size({}) + content.size() <= packet) {
        // One packet, as before chunking existed: the message is left out if only
        // the bare code line leaves room for the content. (Error texts are short:
        // a command word is a service name, at most 128 bytes.)
        if (code_line_size(message) + content.size() > packet) message = {};
        out.send(ss.client, packet_type::response, ss.client_id, c, message,
                 proto::as_bytes(content));
        if (proto::is_error(c)) drop_session(s);
        return;
    }
    // Full chunks under 312 until the rest fits a packet with the answer's own code
    // line. §5 counts every chunk's payload, code lines included.
    const std::size_t per = packet - code_line_size(has_more_message);
    const std::size_t chunks = (code_line_size({}) + content.size() - packet + per - 1) / per;
    const std::size_t rest = content.size() - chunks * per;
    const std::size_t last_head =
        code_line_size(message) + rest <= packet ? code_line_size(message) : code_line_size({});
    const std::size_t total =
        chunks * code_line_size(has_more_message) + last_head + content.size();
    connection& conn = conns_.find(ss.client)->second;
    if (total > limits_.max_message) {
        out.diagnose(ss.client, "built-in answer of " + std::to_string(total) +
                                    " bytes over the message limit of " +
                                    std::to_string(limits_.max_message));
        out.send(ss.client, packet_type::response, ss.client_id, code::limit_exceeded,
                 "limit: message size");
        drop_session(s);
        return;
    }
    // What the daemon holds for one uid's unfinished answers is bounded too: a
    // client that never asks for the next chunk, on however many connections,
    // cannot make it hold more than max-message.
    const std::uint32_t uid = conn.creds.uid;
    const auto held = answer_bytes_per_uid_.find(uid);
    if ((held == answer_bytes_per_uid_.end() ? 0 : held->second) + content.size() > limits_.max_message) {
        out.diagnose(ss.client, "unfinished built-in answers of uid " + std::to_string(uid) +
                                    " over the message limit");
        out.send(ss.client, packet_type::response, ss.client_id, code::limit_exceeded,
                 "limit: unfinished answers of this uid over max-message");
        drop_session(s);
        return;
    }
    answer_bytes_per_uid_[uid] += content.size();
    sessions_[s].answering = true;
    answers_.insert_or_assign(s, pending_answer{std::string(content), 0, c, std::string(message), uid});
    send_answer_chunk(s, out);
}

void router::send_answer_chunk(std::uint32_t s, action_sink& out) {
    const session& ss = sessions_[s];
    pending_answer& a = answers_.find(s)->second;
    const std::size_t packet = std::min(limits_.max_payload, proto::max_payload);
    const std::size_t rest = a.content.size() - a.sent;
    const std::string_view content(a.content);
    if (code_line_size({}) + rest <= packet) {
        const std::string_view message = code_line_size(a.message) + rest <= packet
                                             ? std::string_view(a.message)
                                             : std::string_view{};
        out.send(ss.client, packet_type::response, ss.client_id, a.code, message,
                 proto::as_bytes(content.substr(a.sent)));
        const bool error = proto::is_error(a.code);
        release_answer(s);
        if (error) drop_session(s);
        return;
    }
    const std::size_t n = std::min(rest, packet - code_line_size(has_more_message));
    out.send(ss.client, packet_type::response, ss.client_id, code::has_more, has_more_message,
             proto::as_bytes(content.substr(a.sent, n)));
    a.sent += n;
}

void router::release_answer(std::uint32_t s) {
    session& ss = sessions_[s];
    ss.answering = false;
    const auto it = answers_.find(s);
    if (it == answers_.end()) return;
    if (const auto u = answer_bytes_per_uid_.find(it->second.uid); u != answer_bytes_per_uid_.end()) {
        u->second -= it->second.content.size();
        if (u->second == 0) answer_bytes_per_uid_.erase(u);
    }
    answers_.erase(it);
}

std::string router::list_services_json() const {
    boost::json::array list;
    list.reserve(services_.size());
    for (const auto& [name, slot] : services_) {
        const service_slot& sv = service_slots_[slot];
        const credentials& cr = conns_.find(sv.provider)->second.creds;
        list.push_back(boost::json::object{
            {"name", name},
            {"provider", boost::json::object{{"pid", cr.pid}, {"uid", cr.uid}, {"gid", cr.gid}}},
            {"sessions", sv.sessions}});
    }
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
        return a.as_object().at("name").as_string() < b.as_object().at("name").as_string();
    });
    return boost::json::serialize(boost::json::object{{"services", std::move(list)}});
}

bool router::builtin_refused(std::uint32_t s, std::string_view name, action_sink& out) {
    const session& ss = sessions_[s];
    const auto d = check_policy(conns_.find(ss.client)->second, policy_action::call, name);
    if (d.allowed) return false;
    out.diagnose(ss.client, "call " + std::string(name) + " refused by policy: " + d.rule->text);
    answer(s, code::perm_err, "policy: " + d.rule->text, {}, out);
    return true;
}

policy_decision router::check_policy(const connection& conn, policy_action a,
                                     std::string_view name) const {
    const peer_identity who{conn.creds.uid, conn.creds.gid, &conn.creds.groups};
    return policy_.check(a, name, who);
}

std::string router::session_info_json(conn_id provider, std::uint32_t provider_id) const {
    const auto it = by_provider_.find(key(provider, provider_id));
    if (it == by_provider_.end()) return {};
    const session& ss = sessions_[it->second];
    const credentials& cr = conns_.find(ss.client)->second.creds;
    boost::json::array groups(cr.groups.begin(), cr.groups.end());
    return boost::json::serialize(boost::json::object{
        {"id", provider_id},
        {"service", service_slots_[ss.service].name},
        {"pid", cr.pid},
        {"uid", cr.uid},
        {"gid", cr.gid},
        {"groups", std::move(groups)}});
}

std::string router::daemon_info_json() const {
    return boost::json::serialize(boost::json::object{
        {"version", version_},
        {"uptime_ms", now_ms_ - start_ms_},
        {"connections", conns_.size()},
        {"sessions", live_sessions_},
        {"services", services_.size()},
        {"sessions_opened", stats_.sessions_opened},
        {"packets_routed", stats_.packets_routed},
        {"bytes_routed", stats_.bytes_routed},
        {"late_packets", stats_.late_packets},
    });
}

}  // namespace junction::daemon
