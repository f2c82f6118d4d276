// Review reproducers for the router (docs/protocol.md §1, §7): answers the
// daemon builds itself must fit one packet.
//
// Flow: a `broker` (router_support.hpp) whose sink encodes every send() as the
// wire packet proto::append_code_packet writes; the test checks that the
// header's 16-bit length still describes the payload (a longer payload wraps
// the length and desynchronises the receiver's byte stream).
#include <string>

#include "router_support.hpp"

using namespace router_support;

TEST_CASE("review: list-services with many long service names never sends a packet whose "
          "header length wrapped",
          "[review][router]") {
    // Default limits: 256 services per connection. Three providers with 200
    // names of 120 characters each: about 110 KB of JSON, all within the limits
    // any user has.
    broker b;
    for (conn_id p : {P, P2, X}) {
        b.open({p});
        for (int i = 0; i < 200; ++i) {
            std::string name = "svc." + std::to_string(p) + "." + std::to_string(i) + ".";
            name.resize(120, 'x');
            b.provide(p, name);
        }
    }
    REQUIRE(b.r.service_count() == 600);

    b.open({C});
    REQUIRE(b.request(C, 7, "list-services"));
    const packets sent = b.take();
    REQUIRE(sent.size() == 1);
    const packet& answer = sent[0];
    INFO("code " << answer.code() << " " << answer.message() << "; payload " << answer.payload.size()
                 << " bytes, header length " << answer.header_length);
    // Either the answer is chunked by §5 (312 ... 200) or refused; a single
    // packet whose length field wrapped is never acceptable.
    CHECK(answer.payload.size() <= proto::max_payload);
    CHECK(answer.header_length == answer.payload.size());
}
