// Fuzz target: the router (daemon/router.cpp), driven by a sequence of events.
//
// Input: a sequence of events, each chosen by one byte (FuzzedDataProvider):
//   open      connection 1..8 with one of four identities (root, uid 1000 in group
//             100, nobody, uid 1000 without groups)
//   close     connection 1..8 (the shell's on_close)
//   packet    from an open connection: any type (mostly REQUEST/RESPONSE/UPDATE),
//             an id from a small set (so sessions meet), and a payload that is a
//             request line or code line built from a vocabulary, or raw bytes
//   tick      the clock moves on and on_tick runs (sessions idle 50 ms are reaped)
//   shutdown  shutdown_all
//   reload    apply_policy with one of four policies (what the new policy
//             refuses is revoked with 504; applying it again revokes nothing)
// The router runs with small limits (max-payload 64: list-services answers are
// chunked) and a policy with configured rules.
//
// The sink checks, for every action: forward/send target a connection that is
// open (opened and not yet closed); what is sent fits one packet (a 312 chunk
// of a built-in answer: the configured max-payload of 64) and is a
// well-formed RESPONSE/UPDATE; forwarded bytes are one whole packet of a
// session type with a non-zero id. After every event: session_count() stays
// within the per-connection and per-uid limits, service_count() within the
// per-connection limit, connection_count() is the number of open connections;
// after shutdown_all no session is left. At the end every connection is closed
// and session_count() and service_count() must be 0.
//
// Like the shell, a connection the router asked to close is closed after the
// event, and no further packet is taken from it.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "router.hpp"

namespace proto = junction::proto;
namespace jd = junction::daemon;

namespace {

using junction::fuzz::printable;
using junction::fuzz::trace;

constexpr jd::conn_id max_conn = 8;


jd::limits fuzz_limits() {
    jd::limits lim;
    lim.max_message = 300;
    // Small packets, so that built-in answers (list-services) go out in chunks.
    lim.max_payload = 64;
    lim.max_sessions_per_connection = 4;
    lim.max_sessions_per_uid = 6;
    lim.max_services_per_connection = 3;
    lim.max_services_per_uid = 4;
    lim.session_idle_timeout_ms = 50;
    return lim;
}

const std::vector<std::string> policy_rules = {
    "deny call secret* uid=1000",
    "allow provide shared.* gid=100",
    "deny provide user.0.* *",
};

// What a reload may switch to: the start policy, and three that refuse some of
// what it allowed (calls, built-ins, registrations by uid and by group).
const std::array<std::vector<std::string>, 4> reload_policies = {{
    policy_rules,
    {"deny call svc* uid=1000", "deny call list-services *", "deny provide shared.* *",
     "allow provide svc* *"},
    {"deny call * gid=100", "deny provide * gid=100", "allow provide * *"},
    {},
}};

struct identity {
    std::int32_t pid;
    std::uint32_t uid;
    std::uint32_t gid;
    std::vector<std::uint32_t> groups;
};
const std::array<identity, 4> identities = {{
    {100, 0, 0, {}},
    {200, 1000, 1000, {100}},
    {300, 65534, 65534, {}},
    {400, 1000, 1000, {}},
}};

const std::array<std::string_view, 20> vocabulary = {
    "echo",         "receive-cmd", "register-service", "unregister-service", "list-services",
    "daemon-info",  "session-info", "svc1",            "svc2",               "user.1000.a",
    "user.0.b",     "shared.x",     "secret1",         "user.65534.z",       "1",
    "2",            "inner",        "x\ty",            "",                   "4294967296",
};

const std::array<std::uint16_t, 16> codes = {100, 102, 103, 200, 200, 200, 301, 302,
                                             311, 312, 312, 400, 503, 504, 515, 599};

class checking_sink final : public jd::action_sink {
public:
    explicit checking_sink(const std::set<jd::conn_id>& open) : open_(open) {}

    void forward(jd::conn_id to, std::uint32_t id, std::span<const std::uint8_t> wire) override {
        if (trace) std::fprintf(stderr, "  -> forward to %u id %u: %s\n", to, id,
                                printable(proto::as_text(wire.subspan(std::min<std::size_t>(8, wire.size())))).c_str());
        FUZZ_CHECK(open_.contains(to));
        FUZZ_CHECK(id != 0);
        FUZZ_CHECK(wire.size() >= proto::header_size);
        const proto::header h = proto::decode_header(
            std::span<const std::uint8_t, proto::header_size>(wire.data(), proto::header_size));
        FUZZ_CHECK(h.version == proto::protocol_version);
        FUZZ_CHECK(proto::is_session_type(h.type));
        FUZZ_CHECK(h.length == wire.size() - proto::header_size);
    }

    void send(jd::conn_id to, proto::packet_type type, std::uint32_t id, std::uint16_t code,
              std::string_view message, std::span<const std::uint8_t> content) override {
        if (trace) std::fprintf(stderr, "  -> send to %u %s id %u: %u %s\n", to,
                                proto::type_name(static_cast<std::uint8_t>(type)).data(), id, code,
                                printable(message).c_str());
        FUZZ_CHECK(open_.contains(to));
        FUZZ_CHECK(type == proto::packet_type::response || type == proto::packet_type::update);
        FUZZ_CHECK(code >= 100 && code <= 599);
        // Everything the daemon says must fit one packet (the header's length is 16 bits).
        FUZZ_CHECK(proto::code_payload_size(message, content.size()) <= proto::max_payload);
        // Chunks of built-in answers fill packets of at most the configured max-payload.
        if (code == 312)
            FUZZ_CHECK(proto::code_payload_size(message, content.size()) <=
                       fuzz_limits().max_payload);
        std::vector<std::uint8_t> wire;
        proto::append_code_packet(wire, type, 1, code, message, content);
        proto::code_line cl;
        FUZZ_CHECK(!proto::parse_code_line(std::span(wire).subspan(proto::header_size), cl));
        FUZZ_CHECK(cl.code == code);
    }

    void close(jd::conn_id c, std::string_view why) override {
        if (trace) std::fprintf(stderr, "  -> close %u: %s\n", c, std::string(why).c_str());
        FUZZ_CHECK(open_.contains(c));
        to_close.insert(c);
    }

    void diagnose(jd::conn_id, std::string_view) override {}

    std::set<jd::conn_id> to_close;

private:
    const std::set<jd::conn_id>& open_;
};

std::string make_payload(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
        case 0: return in.ConsumeRandomLengthString(80);
        case 1: {  // a request (or command) line from the vocabulary
            std::string line;
            const int words = in.ConsumeIntegralInRange<int>(1, 4);
            for (int i = 0; i < words; ++i) {
                if (i > 0) line += in.ConsumeBool() ? " " : " \t ";
                line += vocabulary[in.ConsumeIntegralInRange<std::size_t>(0, vocabulary.size() - 1)];
            }
            if (in.ConsumeBool()) line += '\0';
            return line;
        }
        default: {  // a code line, sometimes carrying a command line as content
            const std::uint16_t c = in.ConsumeBool()
                                        ? codes[in.ConsumeIntegralInRange<std::size_t>(0, codes.size() - 1)]
                                        : in.ConsumeIntegralInRange<std::uint16_t>(0, 999);
            std::string line = std::to_string(c);
            while (line.size() < 3) line.insert(line.begin(), '0');
            if (in.ConsumeBool()) line += " msg";
            line += '\n';
            if (in.ConsumeBool()) {
                line += vocabulary[in.ConsumeIntegralInRange<std::size_t>(0, 6)];
                line += ' ';
                line += vocabulary[in.ConsumeIntegralInRange<std::size_t>(7, vocabulary.size() - 1)];
            } else {
                line += in.ConsumeRandomLengthString(in.ConsumeBool() ? 16 : 400);
            }
            return line;
        }
    }
}

std::uint32_t make_id(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
        case 0: return 0;
        case 1: return in.ConsumeIntegral<std::uint32_t>();
        default: return in.ConsumeIntegralInRange<std::uint32_t>(1, 5);
    }
}

std::uint8_t make_type(FuzzedDataProvider& in) {
    if (in.ConsumeIntegralInRange<int>(0, 15) == 0) return in.ConsumeIntegral<std::uint8_t>();
    return static_cast<std::uint8_t>(in.ConsumeIntegralInRange<int>(2, 4));
}

class driver {
public:
    driver() : rt_(fuzz_limits(), 1000, "fuzz") { rt_.set_policy(jd::policy(policy_rules)); }

    void open(jd::conn_id c, const identity& who) {
        if (open_.contains(c)) return;
        if (trace) std::fprintf(stderr, "open %u uid %u\n", c, who.uid);
        jd::credentials cr;
        cr.pid = who.pid;
        cr.uid = who.uid;
        cr.gid = who.gid;
        cr.groups = who.groups;
        rt_.on_open(c, cr);
        open_.insert(c);
        uid_of_[c] = who.uid;
    }

    void close(jd::conn_id c) {
        if (!open_.contains(c)) return;
        if (trace) std::fprintf(stderr, "close %u\n", c);
        // Like the shell: the socket is gone before the router hears of it.
        open_.erase(c);
        uid_of_.erase(c);
        checking_sink sink(open_);
        rt_.on_close(c, sink);
        FUZZ_CHECK(rt_.sessions_of(c) == 0);
        close_requested(sink);
    }

    void packet(jd::conn_id c, std::uint8_t type, std::uint32_t id, const std::string& payload) {
        if (!open_.contains(c) || payload.size() > proto::max_payload) return;
        if (trace)
            std::fprintf(stderr, "packet from %u %s id %u: %s\n", c, proto::type_name(type).data(), id,
                         printable(payload).c_str());
        const proto::header h{proto::protocol_version, type,
                              static_cast<std::uint16_t>(payload.size()), id};
        std::vector<std::uint8_t> wire(proto::header_size);
        proto::encode_header(h, std::span<std::uint8_t, proto::header_size>(wire.data(), proto::header_size));
        wire.insert(wire.end(), payload.begin(), payload.end());
        const proto::frame f{h, std::span(wire).subspan(proto::header_size), wire};
        checking_sink sink(open_);
        const bool go_on = rt_.on_packet(c, f, sink);
        if (!go_on) FUZZ_CHECK(sink.to_close.contains(c));
        close_requested(sink);
    }

    void tick(std::uint64_t advance_ms) {
        now_ += advance_ms;
        if (trace) std::fprintf(stderr, "tick: now %llu\n", static_cast<unsigned long long>(now_));
        rt_.set_now(now_);
        checking_sink sink(open_);
        rt_.on_tick(sink);
        close_requested(sink);
    }

    void shutdown() {
        if (trace) std::fprintf(stderr, "shutdown_all\n");
        checking_sink sink(open_);
        rt_.shutdown_all(sink);
        FUZZ_CHECK(rt_.session_count() == 0);
        close_requested(sink);
    }

    void reload(std::size_t which) {
        if (trace) std::fprintf(stderr, "reload: policy %zu\n", which);
        checking_sink sink(open_);
        rt_.apply_policy(jd::policy(reload_policies[which]), sink);
        FUZZ_CHECK(sink.to_close.empty());
        // Whatever the new policy refuses is gone: applying it again revokes nothing.
        checking_sink again(open_);
        const auto r = rt_.apply_policy(jd::policy(reload_policies[which]), again);
        FUZZ_CHECK(r.services == 0 && r.sessions == 0);
    }

    void check_counts() const {
        FUZZ_CHECK(rt_.connection_count() == open_.size());
        // Each session has one client; a uid's sessions are bounded by both limits.
        const jd::limits lim = fuzz_limits();
        std::map<std::uint32_t, std::size_t> conns_per_uid;
        for (const auto& [c, uid] : uid_of_) ++conns_per_uid[uid];
        std::size_t bound = 0;
        for (const auto& [uid, n] : conns_per_uid)
            bound += std::min<std::size_t>(lim.max_sessions_per_uid, n * lim.max_sessions_per_connection);
        FUZZ_CHECK(rt_.session_count() <= bound);
        FUZZ_CHECK(rt_.service_count() <= open_.size() * lim.max_services_per_connection);
        FUZZ_CHECK(rt_.service_count() <= conns_per_uid.size() * lim.max_services_per_uid);
        std::size_t sides = 0;
        for (const jd::conn_id c : open_) {
            FUZZ_CHECK(rt_.sessions_of(c) <= rt_.session_count());
            sides += rt_.sessions_of(c);
        }
        FUZZ_CHECK(sides <= 2 * rt_.session_count());
    }

    void close_all() {
        while (!open_.empty()) close(*open_.begin());
        FUZZ_CHECK(rt_.session_count() == 0);
        FUZZ_CHECK(rt_.service_count() == 0);
        FUZZ_CHECK(rt_.connection_count() == 0);
    }

    bool is_open(jd::conn_id c) const { return open_.contains(c); }

private:
    // Closes the connections the router asked to close, as the shell does after a batch.
    void close_requested(const checking_sink& sink) {
        for (const jd::conn_id c : sink.to_close) close(c);
    }

    jd::router rt_;
    std::set<jd::conn_id> open_;
    std::map<jd::conn_id, std::uint32_t> uid_of_;
    std::uint64_t now_ = 1000;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    driver d;
    // Connection 1 (root) and 2 (nobody) are there from the start, so short inputs route.
    d.open(1, identities[0]);
    d.open(2, identities[2]);
    for (int step = 0; step < 2000 && in.remaining_bytes() > 0; ++step) {
        const int what = in.ConsumeIntegralInRange<int>(0, 15);
        const auto c = in.ConsumeIntegralInRange<jd::conn_id>(1, max_conn);
        if (what == 0) {
            d.open(c, identities[in.ConsumeIntegralInRange<std::size_t>(0, identities.size() - 1)]);
        } else if (what == 1) {
            d.close(c);
        } else if (what == 2) {
            d.tick(in.ConsumeIntegralInRange<std::uint64_t>(0, 80));
        } else if (what == 3 && in.ConsumeIntegralInRange<int>(0, 7) == 0) {
            d.shutdown();
        } else if (what == 4 && in.ConsumeIntegralInRange<int>(0, 3) == 0) {
            d.reload(in.ConsumeIntegralInRange<std::size_t>(0, reload_policies.size() - 1));
        } else {
            const std::uint8_t type = make_type(in);
            const std::uint32_t id = make_id(in);
            d.packet(c, type, id, make_payload(in));
        }
        d.check_counts();
    }
    d.close_all();
    return 0;
}
