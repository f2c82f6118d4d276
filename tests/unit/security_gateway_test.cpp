// Regression tests for what fuzz_searpc_gateway found (docs/security.md, "Fuzzing").
//
// Flow: a searpc_gateway gets one libsearpc request from its client, the test
// plays the router (answers the REQUEST it emits) and checks the reply bytes the
// client would read: a 4-byte native length, then JSON.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "junction/proto/frame_reader.hpp"
#include "junction/proto/text.hpp"
#include "gateway_support.hpp"
#include "searpc_gateway.hpp"

using junction::daemon::gateway_output;
using junction::daemon::searpc_gateway;
namespace proto = junction::proto;
using namespace junction::test::gateway;

namespace {

// The ids of the REQUESTs the gateway sent to the router.
std::vector<std::uint32_t> requests_in(const std::vector<std::uint8_t>& to_router) {
    std::vector<std::uint32_t> ids;
    proto::frame_reader reader;
    reader.feed(to_router, [&](const proto::frame& f) {
        if (f.hdr.type == static_cast<std::uint8_t>(proto::packet_type::request))
            ids.push_back(f.hdr.id);
        return true;
    });
    return ids;
}

}  // namespace

TEST_CASE("gateway: a provider's error message that is not UTF-8 still gives a valid JSON reply",
          "[gateway][security]") {
    searpc_gateway gw(1 << 20, 65535, 30000);
    gateway_output out;
    gw.on_client_bytes(proto::as_bytes(searpc_request("calc", R"([\"add\",1,2])")), 0, out);
    const auto ids = requests_in(out.to_router);
    REQUIRE(ids.size() == 1);

    // A provider ends the session with a message holding a lone 0xff and a cut-off é.
    gateway_output answer;
    respond(gw, ids[0], std::string("515 bad \xff byte \xc3\n"), answer);

    REQUIRE(answer.to_client.size() > 4);
    std::uint32_t len;
    std::memcpy(&len, answer.to_client.data(), 4);
    REQUIRE(len == answer.to_client.size() - 4);
    const std::string reply(answer.to_client.begin() + 4, answer.to_client.end());
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(reply, ec);
    REQUIRE_FALSE(ec);
    CHECK(v.at("err_code").as_int64() == 515);
    // Each byte outside well-formed UTF-8 became U+FFFD.
    CHECK(v.at("err_msg").as_string() == "515 bad \xef\xbf\xbd byte \xef\xbf\xbd");
}

TEST_CASE("gateway: a request for the empty service name is answered 501, not with an empty reply",
          "[gateway][security]") {
    searpc_gateway gw(1 << 20, 65535, 30000);
    gateway_output out;
    gw.on_client_bytes(proto::as_bytes(searpc_request("", R"([\"f\"])")), 0, out);
    CHECK(requests_in(out.to_router).empty());
    REQUIRE(out.to_client.size() > 4);
    std::uint32_t len;
    std::memcpy(&len, out.to_client.data(), 4);
    REQUIRE(len == out.to_client.size() - 4);
    boost::system::error_code ec;
    const boost::json::value v =
        boost::json::parse(std::string(out.to_client.begin() + 4, out.to_client.end()), ec);
    REQUIRE_FALSE(ec);
    CHECK(v.at("err_code").as_int64() == 501);
    CHECK(gw.pending_calls() == 0);
}
