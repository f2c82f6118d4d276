// What the router unit tests (router_test.cpp, review_router_test.cpp,
// security_router_test.cpp) share: a `broker` that wraps a
// junction::daemon::router and a recording action_sink, fake connection ids
// (plain integers) with made-up credentials, and the packets each connection
// would receive on the wire. A forward() becomes the received frame with its id
// rewritten, a send() becomes the packet proto::append_code_packet writes (the
// sink REQUIREs that the header's length describes the payload). No sockets, no
// clocks. Tests that start from "client C" or "client C, provider P serving
// svc" use client_fixture or svc_fixture (their `b`).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "junction/proto/frame_reader.hpp"
#include "junction/proto/header.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "router.hpp"

namespace router_support {

using junction::daemon::action_sink;
using junction::daemon::conn_id;
using junction::daemon::credentials;
using junction::daemon::limits;
using junction::daemon::policy;
using junction::daemon::router;
using junction::proto::packet_type;
namespace proto = junction::proto;
namespace json = boost::json;
using namespace std::string_literals;
using bytes = std::vector<std::uint8_t>;

// --- What a connection receives ------------------------------------------------------

struct packet {
    conn_id to = 0;
    std::uint8_t type = 0;
    std::uint32_t id = 0;
    std::string payload;
    bytes wire;  // the whole packet as the connection would read it
    std::uint16_t header_length = 0;  // the header's length field (the sink REQUIREs it is right)

    std::uint16_t code() const {
        proto::code_line cl;
        return proto::parse_code_line(proto::as_bytes(payload), cl) ? 0 : cl.code;
    }
    std::string message() const {
        proto::code_line cl;
        return proto::parse_code_line(proto::as_bytes(payload), cl) ? "" : std::string(cl.message);
    }
    std::string content() const {
        proto::code_line cl;
        return proto::parse_code_line(proto::as_bytes(payload), cl)
                   ? ""
                   : std::string(proto::as_text(cl.content));
    }
    friend bool operator==(const packet& a, const packet& b) {
        return std::tie(a.to, a.type, a.id, a.payload) == std::tie(b.to, b.type, b.id, b.payload);
    }
    friend bool operator<(const packet& a, const packet& b) {
        return std::tie(a.to, a.type, a.id, a.payload) < std::tie(b.to, b.type, b.id, b.payload);
    }
};

inline packet make_packet(conn_id to, packet_type t, std::uint32_t id, std::string payload) {
    return packet{to, static_cast<std::uint8_t>(t), id, std::move(payload), {}, 0};
}
inline packet request_to(conn_id to, std::uint32_t id, std::string payload) {
    return make_packet(to, packet_type::request, id, std::move(payload));
}
inline packet response_to(conn_id to, std::uint32_t id, std::string payload) {
    return make_packet(to, packet_type::response, id, std::move(payload));
}
inline packet update_to(conn_id to, std::uint32_t id, std::string payload) {
    return make_packet(to, packet_type::update, id, std::move(payload));
}

using packets = std::vector<packet>;

inline packets sorted(packets p) {
    std::sort(p.begin(), p.end());
    return p;
}

inline bytes hex(std::initializer_list<int> b) {
    bytes out;
    for (int x : b) out.push_back(static_cast<std::uint8_t>(x));
    return out;
}
inline bytes operator+(bytes a, std::string_view s) {
    a.insert(a.end(), s.begin(), s.end());
    return a;
}

// --- The recording sink -------------------------------------------------------------

class recording_sink final : public action_sink {
public:
    struct forwarded {
        conn_id to;
        std::uint32_t id;
        bytes wire;  // as handed to forward(), before the id is rewritten
    };

    packets received;  // forward() and send() calls, in order, as the receiver sees them
    std::vector<forwarded> forwards;
    std::vector<std::pair<conn_id, std::string>> closes;
    std::vector<std::pair<conn_id, std::string>> diagnoses;

    void forward(conn_id to, std::uint32_t id, std::span<const std::uint8_t> wire) override {
        forwards.push_back({to, id, bytes(wire.begin(), wire.end())});
        bytes w(wire.begin(), wire.end());
        proto::rewrite_id(w.data(), id);
        record(to, std::move(w));
    }
    void send(conn_id to, packet_type type, std::uint32_t id, std::uint16_t code,
              std::string_view message, std::span<const std::uint8_t> content) override {
        bytes w;
        proto::append_code_packet(w, type, id, code, message, content);
        record(to, std::move(w));
    }
    void close(conn_id c, std::string_view reason) override { closes.emplace_back(c, reason); }
    void diagnose(conn_id c, std::string_view what) override { diagnoses.emplace_back(c, what); }

private:
    void record(conn_id to, bytes w) {
        const auto h = proto::decode_header(
            std::span<const std::uint8_t, proto::header_size>(w.data(), proto::header_size));
        REQUIRE(h.length == w.size() - proto::header_size);
        packet p{to, h.type, h.id, std::string(w.begin() + proto::header_size, w.end()), w, h.length};
        received.push_back(std::move(p));
    }
};

// --- The broker under test ------------------------------------------------------------

// Connection ids used throughout: clients C, C2, C3 and providers P, P2.
inline constexpr conn_id C = 10, C2 = 11, C3 = 12, P = 20, P2 = 21, X = 30;

inline credentials creds_of(conn_id c) {
    return credentials{static_cast<std::int32_t>(1000 + c), 500 + c, 600 + c, {700 + c, 27}};
}

inline limits default_limits() { return limits{}; }

struct broker {
    router r;
    recording_sink out;
    std::uint32_t next_command_id = 0x70000000;  // ids for provide()'s command sessions

    // Anyone may provide any name: these tests are about routing, not about the
    // access policy (which has its own tests in router_test.cpp).
    explicit broker(limits lim = default_limits()) : r(lim, 1000, "0.1.0") {
        r.set_policy(policy({"allow provide * *"}));
    }

    void open(std::initializer_list<conn_id> cs) {
        for (conn_id c : cs) r.on_open(c, creds_of(c));
    }
    // Opens connections that all belong to one uid.
    void open_as_uid(std::uint32_t uid, std::initializer_list<conn_id> cs) {
        for (conn_id c : cs) {
            credentials cr = creds_of(c);
            cr.uid = uid;
            r.on_open(c, cr);
        }
    }

    // Hands the router one frame from connection `from`; returns on_packet's answer.
    bool send(conn_id from, std::uint8_t type, std::uint32_t id, std::string_view payload) {
        bytes wire;
        proto::append_packet(wire, static_cast<packet_type>(type), id, proto::as_bytes(payload));
        const std::span<const std::uint8_t> w(wire);
        const proto::frame f{proto::decode_header(w.first<proto::header_size>()),
                             w.subspan(proto::header_size), w};
        return r.on_packet(from, f, out);
    }
    bool request(conn_id from, std::uint32_t id, std::string_view line) {
        return send(from, 2, id, line);
    }
    bool response(conn_id from, std::uint32_t id, std::string_view payload) {
        return send(from, 3, id, payload);
    }
    bool update(conn_id from, std::uint32_t id, std::string_view payload) {
        return send(from, 4, id, payload);
    }
    void close(conn_id c) { r.on_close(c, out); }

    // What the connections received since the last take().
    packets take() {
        packets p = std::move(out.received);
        out.received.clear();
        return p;
    }

    // Registers `name` for `c` through a register-service session, then ends that session.
    void provide(conn_id c, const std::string& name) {
        const std::uint32_t id = next_command_id++;
        REQUIRE(request(c, id, "register-service " + name));
        REQUIRE(take() == packets{response_to(c, id, "200 OK\n")});
        REQUIRE(update(c, id, "103\n"));
        REQUIRE(take().empty());
    }

    // Opens a routed session and returns the id the provider got.
    std::uint32_t open_session(conn_id client, std::uint32_t id, const std::string& line,
                               conn_id provider) {
        REQUIRE(request(client, id, line));
        const packets got = take();
        REQUIRE(got.size() == 1);
        REQUIRE(got[0].to == provider);
        REQUIRE(got[0].type == 2);
        REQUIRE(got[0].payload == line);
        return got[0].id;
    }

    // The one packet the connections received since the last take(), which must be
    // a RESPONSE to `c` on `id`.
    packet take_response(conn_id c, std::uint32_t id) {
        const packets got = take();
        REQUIRE(got.size() == 1);
        REQUIRE(got[0].to == c);
        REQUIRE(got[0].type == 3);
        REQUIRE(got[0].id == id);
        return got[0];
    }

    // Runs a built-in request and returns the daemon's one RESPONSE.
    packet builtin(conn_id client, std::uint32_t id, const std::string& line) {
        REQUIRE(request(client, id, line));
        return take_response(client, id);
    }

    json::value list_services(conn_id c, std::uint32_t id) {
        const packet p = builtin(c, id, "list-services");
        REQUIRE(p.code() == 200);
        REQUIRE(update(c, id, "103\n"));
        return json::parse(p.content());
    }
};

// The setup of most built-in and error tests: client C, nothing registered.
struct client_fixture {
    broker b;
    client_fixture() { b.open({C}); }
};

// The setup of most routing tests: client C, provider P, and P has registered "svc".
struct svc_fixture {
    broker b;
    explicit svc_fixture(limits lim = default_limits()) : b(lim) {
        b.open({C, P});
        b.provide(P, "svc");
    }
};

inline std::vector<std::string> service_names(const json::value& list) {
    std::vector<std::string> names;
    for (const auto& s : list.at("services").as_array())
        names.emplace_back(s.at("name").as_string().c_str());
    return names;
}

}  // namespace router_support

namespace Catch {
template <>
struct StringMaker<router_support::packet> {
    static std::string convert(const router_support::packet& p) {
        return "{to " + std::to_string(p.to) + " " +
               std::string(junction::proto::type_name(p.type)) + " id " + std::to_string(p.id) + " " +
               Detail::stringify(p.payload) + "}";
    }
};
}  // namespace Catch
