#include "searpc_gateway.hpp"

#include <cstring>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"

namespace junction::daemon {

namespace code = proto::code;
using proto::packet_type;

namespace {

// libsearpc's error codes as seen by its clients (docs/protocol.md §9).
constexpr int err_unknown_service = 501;
constexpr int err_bad_json = 511;

// The text with every byte that is not part of well-formed UTF-8 replaced by
// U+FFFD. Error messages can quote a provider's code line, which is any bytes;
// JSON text must be UTF-8, and clients (python3-searpc) reject it otherwise.
std::string utf8_or_replacement(std::string_view s) {
    if (proto::valid_utf8(s)) return std::string(s);
    std::string out;
    out.reserve(s.size() + 8);
    for (std::size_t i = 0; i < s.size();) {
        const auto lead = static_cast<unsigned char>(s[i]);
        const std::size_t n = lead < 0x80 ? 1 : lead >= 0xC0 && lead < 0xE0 ? 2
                            : lead >= 0xE0 && lead < 0xF0 ? 3 : lead >= 0xF0 && lead < 0xF8 ? 4 : 0;
        if (n != 0 && proto::valid_utf8(s.substr(i, n))) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out.append("\xEF\xBF\xBD");
            ++i;
        }
    }
    return out;
}

std::string error_json(int err_code, std::string_view msg) {
    return boost::json::serialize(
        boost::json::object{{"err_code", err_code}, {"err_msg", utf8_or_replacement(msg)}});
}

void append_frame(std::vector<std::uint8_t>& out, packet_type t, std::uint32_t id,
                  std::uint16_t c, std::string_view msg, std::string_view content) {
    proto::append_code_packet(out, t, id, c, msg, proto::as_bytes(content));
}

}  // namespace

searpc_gateway::searpc_gateway(std::size_t max_message, std::size_t max_payload,
                               std::uint64_t call_timeout_ms)
{
    set_limits(max_message, max_payload, call_timeout_ms);
}

void searpc_gateway::set_limits(std::size_t max_message, std::size_t max_payload,
                                std::uint64_t call_timeout_ms) noexcept {
    max_message_ = max_message;
    max_chunk_ = max_payload - 16;  // room for the longest code line, "301 CLIENT CALL\n"
    call_timeout_ms_ = call_timeout_ms;
}

void searpc_gateway::on_client_bytes(std::span<const std::uint8_t> bytes, std::uint64_t now_ms,
                                     gateway_output& out) {
    now_ms_ = now_ms;
    inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
    parse_requests(now_ms, out);
    if (out.close_reason.empty()) pump(now_ms, out);
}

void searpc_gateway::parse_requests(std::uint64_t now_ms, gateway_output& out) {
    std::size_t at = 0;
    while (inbox_.size() - at >= 4) {
        std::uint32_t len;
        std::memcpy(&len, inbox_.data() + at, 4);  // native byte order, as libsearpc
        if (len > max_message_) {
            out.close_reason = "searpc request of " + std::to_string(len) + " bytes over the " +
                               std::to_string(max_message_) + "-byte message limit";
            return;
        }
        if (inbox_.size() - at - 4 < len) break;
        const std::string_view body(reinterpret_cast<const char*>(inbox_.data() + at + 4), len);
        at += 4 + len;
        if (calls_.size() > max_queued_calls) {
            out.close_reason = "more than " + std::to_string(max_queued_calls) + " searpc calls queued";
            return;
        }
        // Pipelined requests wait in memory: together they get one message's worth.
        if (queued_bytes_ + len > max_message_) {
            out.close_reason = "searpc requests queued over the " + std::to_string(max_message_) +
                               "-byte message limit";
            return;
        }
        ++requests_received_;
        call c;
        c.started_ms = now_ms;
        boost::system::error_code ec;
        searpc_envelope env;
        const bool parsed = envelope_.read(body, env, ec);
        if (!parsed || !env.is_object || !env.has_service || !env.has_request) {
            // Answered in order, when its turn comes.
            c.bad_request = true;
            c.result = error_json(err_bad_json, !parsed ? "invalid JSON: " + ec.message()
                                                        : "expected {\"service\": string, \"request\": string}");
            out.diagnostics.push_back("searpc: bad request: " + c.result);
        } else {
            c.service = std::move(env.service);
            c.request = std::move(env.request);
            queued_bytes_ += c.request.size();
        }
        calls_.push_back(std::move(c));
    }
    inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(at));
}

void searpc_gateway::pump(std::uint64_t now_ms, gateway_output& out) {
    while (!calls_.empty() && !calls_.front().started) {
        call& c = calls_.front();
        if (c.bad_request) {
            const std::string reply = std::move(c.result);
            finish(reply, out);
            continue;
        }
        if (!proto::valid_service_name(c.service)) {
            fail(err_unknown_service, "unknown service " + c.service, out);
            continue;
        }
        c.started = true;
        c.started_ms = now_ms;
        queued_bytes_ -= c.request.size();
        const auto it = sessions_.find(c.service);
        if (it == sessions_.end()) {
            session s;
            do {
                s.id = next_id_++;
            } while (s.id == 0 || session_by_id(s.id, nullptr));
            s.state = phase::opening;
            sessions_.emplace(c.service, s);
            proto::append_packet(out.to_router, packet_type::request, s.id,
                                 proto::as_bytes(c.service));
            return;
        }
        if (it->second.state == phase::ready) send_next_chunk(it->second, c, out);
        return;
    }
}

void searpc_gateway::send_next_chunk(session& s, call& c, gateway_output& out) {
    const std::size_t left = c.request.size() - c.sent;
    if (left <= max_chunk_) {
        append_frame(out.to_router, packet_type::update, s.id, code::rpc_call, "CLIENT CALL",
                     std::string_view(c.request).substr(c.sent));
        c.sent = c.request.size();
        s.state = phase::awaiting_result;
    } else {
        append_frame(out.to_router, packet_type::update, s.id, code::has_more, "HAS MORE",
                     std::string_view(c.request).substr(c.sent, max_chunk_));
        c.sent += max_chunk_;
        s.state = phase::sending_args;
    }
}

searpc_gateway::session* searpc_gateway::session_by_id(std::uint32_t id, std::string* service) {
    for (auto& [name, s] : sessions_) {
        if (s.id == id) {
            if (service) *service = name;
            return &s;
        }
    }
    return nullptr;
}

void searpc_gateway::on_router_frame(const proto::frame& f, gateway_output& out) {
    if (f.hdr.type != static_cast<std::uint8_t>(packet_type::response)) return;
    std::string service;
    session* s = session_by_id(f.hdr.id, &service);
    proto::code_line cl;
    if (!s || proto::parse_code_line(f.payload, cl)) return;  // 102s for ended sessions
    const bool mine = !calls_.empty() && calls_.front().started && calls_.front().service == service;
    const bool terminal = cl.code == code::proc_done || cl.code == code::proc_dead || proto::is_error(cl.code);

    if (terminal) {
        sessions_.erase(service);
        if (!mine) return;
        const std::string msg(cl.message);
        if (cl.code == code::unknown_service)
            fail(err_unknown_service, "unknown service " + service, out);
        else
            fail(cl.code, std::to_string(cl.code) + " " + (msg.empty() ? std::string(proto::status_text(cl.code)) : msg), out);
        return;
    }
    if (s->state == phase::opening && cl.code == code::ok) {
        s->state = phase::ready;
        if (mine) send_next_chunk(*s, calls_.front(), out);
        return;
    }
    if (!mine) return;  // e.g. a keep-alive between calls
    call& c = calls_.front();
    switch (s->state) {
        case phase::opening: return;
        case phase::sending_args:
            if (cl.code == code::rpc_more) send_next_chunk(*s, c, out);
            return;
        case phase::awaiting_result:
            if (c.result.size() + cl.content.size() > max_message_) {
                end_session(service, code::limit_exceeded, out);
                fail(code::limit_exceeded, "result over the message limit", out);
                return;
            }
            if (cl.code != code::has_more && cl.code != code::rpc_ret) {
                if (cl.code < 200 || cl.code == code::rpc_more) return;  // keep-alives
                // Not the RPC convention (e.g. a built-in's 200): say so, do not hang.
                const std::uint16_t got = cl.code;
                end_session(service, code::bad_response_code, out);
                fail(code::bad_response_code,
                     service + " answered " + std::to_string(got) + ", not an RPC result (311/312)",
                     out);
                return;
            }
            c.result.append(proto::as_text(cl.content));
            if (cl.code == code::has_more) {
                append_frame(out.to_router, packet_type::update, s->id, code::rpc_more, "MORE", {});
            } else if (cl.code == code::rpc_ret) {
                s->state = phase::ready;
                const std::string result = std::move(c.result);
                finish(result, out);
            }
            return;
        case phase::ready: return;
    }
}

void searpc_gateway::on_tick(std::uint64_t now_ms, gateway_output& out) {
    now_ms_ = now_ms;
    if (calls_.empty() || !calls_.front().started) return;
    const call& c = calls_.front();
    // Millisecond clocks are truncated: only a difference over the limit is sure
    // to be at least the limit (a test saw 299.94 ms count as 300).
    if (now_ms - c.started_ms <= call_timeout_ms_) return;
    const std::string service = c.service;
    out.diagnostics.push_back("searpc: call to " + service + " timed out");
    end_session(service, code::keepalive_timeout, out);
    fail(code::keepalive_timeout, "call timed out after " + std::to_string(call_timeout_ms_) + " ms", out);
}

void searpc_gateway::end_session(const std::string& service, std::uint16_t c, gateway_output& out) {
    const auto it = sessions_.find(service);
    if (it == sessions_.end()) return;
    append_frame(out.to_router, packet_type::update, it->second.id, c, proto::status_text(c), {});
    sessions_.erase(it);
}

void searpc_gateway::finish(std::string_view reply, gateway_output& out) {
    const auto len = static_cast<std::uint32_t>(reply.size());
    const std::size_t at = out.to_client.size();
    out.to_client.resize(at + 4);
    std::memcpy(out.to_client.data() + at, &len, 4);
    out.to_client.insert(out.to_client.end(), reply.begin(), reply.end());
    calls_.pop_front();
    if (!calls_.empty()) pump(now_ms_, out);
}

void searpc_gateway::fail(int err_code, std::string_view msg, gateway_output& out) {
    finish(error_json(err_code, msg), out);
}

}  // namespace junction::daemon
