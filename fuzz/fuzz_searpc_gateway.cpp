// Fuzz target: the libsearpc named-pipe gateway (daemon/searpc_gateway.cpp).
//
// Input: a sequence of events, each chosen by one byte (FuzzedDataProvider):
//   client    bytes from the searpc client: raw bytes, or a request whose length
//             prefix is right and whose JSON body is built from a small vocabulary
//             (valid and invalid services, requests that need chunking), cut at a
//             random point so requests span reads
//   router    a frame from the router to this connection: RESPONSE (mostly) or
//             another type, on an id the gateway used or any id, with a code line
//             from a vocabulary or raw bytes, and content (sometimes JSON)
//   tick      the clock moves on (calls time out after 100 ms)
//
// Invariants: no crash; the bytes for the client are a sequence of replies,
// each a 4-byte native length then that many bytes; a reply is valid JSON unless
// it is the provider's own result relayed unchanged (then it must be exactly the
// tail of the 312/311 content the provider sent on that session up to its 311); never
// more replies than requests; the frames for the router are whole, version 1,
// REQUEST (a valid service name) or UPDATE (a valid code line), with non-zero ids;
// the queue of calls stays bounded. After a close reason, the shell closes the
// connection: nothing more is fed.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "junction/proto/frame_reader.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "searpc_gateway.hpp"

namespace proto = junction::proto;
namespace jd = junction::daemon;

namespace {

using junction::fuzz::printable;
using junction::fuzz::trace;

constexpr std::size_t max_message = 4096;
constexpr std::size_t max_payload = 200;  // small, so calls and results need chunks
constexpr std::uint64_t call_timeout_ms = 100;


const std::array<std::string_view, 8> services = {"calc", "echo", "svc.2", "bad name",
                                                  "", "-x", "user.1000.a", "\xc3\xa9"};
const std::array<std::uint16_t, 14> codes = {200, 200, 311, 311, 312, 312, 302,
                                             103, 102, 100, 511, 504, 515, 517};

std::string make_request(FuzzedDataProvider& in) {
    std::string body;
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
        case 0: body = in.ConsumeRandomLengthString(60); break;
        case 1:
            body = boost::json::serialize(boost::json::object{
                {"service", services[in.ConsumeIntegralInRange<std::size_t>(0, services.size() - 1)]},
                {"request", 42}});
            break;
        default: {
            std::string call = "[\"f\"";
            const std::size_t big = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(0, 900) : 0;
            call += ",\"" + std::string(big, 'a') + "\"]";
            body = boost::json::serialize(boost::json::object{
                {"service", services[in.ConsumeIntegralInRange<std::size_t>(0, services.size() - 1)]},
                {"request", call}});
        }
    }
    std::uint32_t len = static_cast<std::uint32_t>(body.size());
    if (in.ConsumeIntegralInRange<int>(0, 31) == 0) len = in.ConsumeIntegral<std::uint32_t>();
    std::string out(4, '\0');
    std::memcpy(out.data(), &len, 4);
    return out + body;
}

std::string make_content(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: return "{\"ret\":" + std::to_string(in.ConsumeIntegral<int>()) + "}";
        case 1: return "{\"err_code\":7,\"err_msg\":\"no\"}";
        default: return in.ConsumeRandomLengthString(in.ConsumeBool() ? 20 : 300);
    }
}

std::string make_code_line(FuzzedDataProvider& in) {
    if (in.ConsumeIntegralInRange<int>(0, 9) == 0) return in.ConsumeRandomLengthString(12);
    const std::uint16_t c = codes[in.ConsumeIntegralInRange<std::size_t>(0, codes.size() - 1)];
    std::string line = std::to_string(c);
    if (in.ConsumeBool()) line += " " + in.ConsumeRandomLengthString(12);
    // The message ends at the first '\n'; whatever follows it is content.
    return line + '\n';
}

class driver {
public:
    driver() : gw_(max_message, max_payload, call_timeout_ms) {}

    bool closed() const { return closed_; }

    void client_bytes(const std::string& bytes) {
        if (trace) std::fprintf(stderr, "client: %s\n", printable(bytes).c_str());
        jd::gateway_output out;
        gw_.on_client_bytes(proto::as_bytes(bytes), now_, out);
        consume(out, nullptr);
    }

    void router_frame(std::uint8_t type, std::uint32_t id, const std::string& payload) {
        if (payload.size() > proto::max_payload) return;
        if (trace)
            std::fprintf(stderr, "router: %s id %u: %s\n", proto::type_name(type).data(), id,
                         printable(payload).c_str());
        // Track what the provider says on each session, to recognise relayed results.
        const std::string* relayed = nullptr;
        proto::code_line cl;
        if (type == static_cast<std::uint8_t>(proto::packet_type::response) &&
            !proto::parse_code_line(proto::as_bytes(payload), cl)) {
            if (cl.code == 103 || cl.code == 102 || proto::is_error(cl.code)) {
                said_.erase(id);
            } else if (cl.code == proto::code::has_more || cl.code == proto::code::rpc_ret) {
                // Only 312 and 311 carry result bytes (§9).
                said_[id].append(proto::as_text(cl.content));
                if (cl.code == proto::code::rpc_ret) {
                    last_result_ = std::move(said_[id]);
                    said_.erase(id);
                    relayed = &last_result_;
                }
            }
        }
        const proto::header h{proto::protocol_version, type,
                              static_cast<std::uint16_t>(payload.size()), id};
        std::vector<std::uint8_t> wire(proto::header_size);
        proto::encode_header(h, std::span<std::uint8_t, proto::header_size>(wire.data(), proto::header_size));
        wire.insert(wire.end(), payload.begin(), payload.end());
        jd::gateway_output out;
        gw_.on_router_frame(proto::frame{h, std::span(wire).subspan(proto::header_size), wire}, out);
        consume(out, relayed);
    }

    void tick(std::uint64_t advance_ms) {
        now_ += advance_ms;
        if (trace) std::fprintf(stderr, "tick: now %llu\n", static_cast<unsigned long long>(now_));
        jd::gateway_output out;
        gw_.on_tick(now_, out);
        consume(out, nullptr);
    }

    std::uint32_t some_id(FuzzedDataProvider& in) const {
        if (!ids_.empty() && in.ConsumeIntegralInRange<int>(0, 7) != 0)
            return ids_[in.ConsumeIntegralInRange<std::size_t>(0, ids_.size() - 1)];
        return in.ConsumeIntegralInRange<std::uint32_t>(0, 4);
    }

    void request_sent(const std::string& bytes) {
        // Counts whole requests the client has sent so far (length-prefixed).
        sent_.append(bytes);
        while (sent_.size() >= 4) {
            std::uint32_t len;
            std::memcpy(&len, sent_.data(), 4);
            if (len > max_message || sent_.size() - 4 < len) break;
            sent_.erase(0, 4 + len);
            ++requests_;
        }
    }

private:
    void consume(const jd::gateway_output& out, const std::string* relayed) {
        FUZZ_CHECK(gw_.pending_calls() <= jd::searpc_gateway::max_queued_calls + 1);
        check_router_frames(out.to_router);
        to_client_.insert(to_client_.end(), out.to_client.begin(), out.to_client.end());
        bool first = true;
        while (to_client_.size() >= 4) {
            std::uint32_t len;
            std::memcpy(&len, to_client_.data(), 4);
            FUZZ_CHECK(len <= max_message + 4096);
            // Replies are appended whole: a partial one would be a framing bug.
            FUZZ_CHECK(to_client_.size() - 4 >= len);
            const std::string_view reply(reinterpret_cast<const char*>(to_client_.data() + 4), len);
            if (trace) std::fprintf(stderr, "  -> reply: %s\n", printable(reply).c_str());
            boost::system::error_code ec;
            (void)boost::json::parse(reply, ec);
            // Only the first reply of a batch can be the result of the 311 that caused it.
            const bool is_relayed = first && relayed && relayed->ends_with(reply);
            FUZZ_CHECK(!ec || is_relayed);
            first = false;
            ++replies_;
            FUZZ_CHECK(replies_ <= requests_);
            to_client_.erase(to_client_.begin(), to_client_.begin() + 4 + len);
        }
        FUZZ_CHECK(to_client_.empty());
        if (!out.close_reason.empty()) {
            if (trace) std::fprintf(stderr, "  -> close: %s\n", out.close_reason.c_str());
            closed_ = true;
        }
    }

    void check_router_frames(const std::vector<std::uint8_t>& bytes) {
        proto::frame_reader reader(max_payload);
        const auto err = reader.feed(bytes, [&](const proto::frame& f) {
            if (trace)
                std::fprintf(stderr, "  -> to router: %s id %u: %s\n", proto::type_name(f.hdr.type).data(),
                             f.hdr.id, printable(proto::as_text(f.payload)).c_str());
            FUZZ_CHECK(f.hdr.id != 0);
            if (f.hdr.type == static_cast<std::uint8_t>(proto::packet_type::request)) {
                proto::request_line req;
                FUZZ_CHECK(!proto::parse_request(f.payload, req));
                FUZZ_CHECK(req.args.empty());
                ids_.push_back(f.hdr.id);
            } else {
                FUZZ_CHECK(f.hdr.type == static_cast<std::uint8_t>(proto::packet_type::update));
                proto::code_line cl;
                FUZZ_CHECK(!proto::parse_code_line(f.payload, cl));
            }
            return true;
        });
        FUZZ_CHECK(!err && !reader.has_partial());
    }

    jd::searpc_gateway gw_;
    std::uint64_t now_ = 1000;
    bool closed_ = false;
    std::vector<std::uint8_t> to_client_;
    std::vector<std::uint32_t> ids_;          // session ids the gateway opened
    std::map<std::uint32_t, std::string> said_;  // provider content per session since its last 311
    std::string last_result_;
    std::string sent_;
    std::size_t requests_ = 0;
    std::size_t replies_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    driver d;
    std::string pending;  // client bytes built but not yet delivered
    for (int step = 0; step < 1000 && in.remaining_bytes() > 0 && !d.closed(); ++step) {
        const int what = in.ConsumeIntegralInRange<int>(0, 9);
        if (what <= 2) {
            pending += what == 0 ? in.ConsumeRandomLengthString(16) : make_request(in);
            // Deliver a prefix: requests arrive in pieces.
            const std::size_t n = in.ConsumeBool() ? pending.size()
                                                   : in.ConsumeIntegralInRange<std::size_t>(0, pending.size());
            const std::string part = pending.substr(0, n);
            pending.erase(0, n);
            d.request_sent(part);
            d.client_bytes(part);
        } else if (what == 9) {
            d.tick(in.ConsumeIntegralInRange<std::uint64_t>(0, 150));
        } else {
            std::uint8_t type = static_cast<std::uint8_t>(proto::packet_type::response);
            if (in.ConsumeIntegralInRange<int>(0, 15) == 0) type = in.ConsumeIntegral<std::uint8_t>();
            const std::uint32_t id = d.some_id(in);
            std::string payload = make_code_line(in);
            payload += make_content(in);
            d.router_frame(type, id, payload);
        }
    }
    return 0;
}
