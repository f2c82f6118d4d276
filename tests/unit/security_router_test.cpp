// Regression tests for router bugs found while fuzzing (docs/security.md, "Fuzzing").
//
// Flow: a `broker` (router_support.hpp) with fake connection ids, whose sink
// records what the router sends. Each test drives the router into the state
// that broke an invariant of fuzz/fuzz_router.cpp and checks the invariant.
#include <string>

#include "router_support.hpp"

using namespace router_support;

TEST_CASE("router: a list-services answer over one packet goes out in 312 chunks, one per UPDATE 302, "
          "never a wrapped length",
          "[router][security]") {
    broker b;
    b.open({P, P2, C});
    // Two providers with 256 names of 128 characters each: about 95 KiB of JSON.
    for (conn_id p : {P, P2}) {
        for (int k = 0; k < 256; ++k) {
            std::string name = "c" + std::to_string(p) + "-" + std::to_string(k) + "-";
            name.resize(proto::max_service_name, 'x');
            b.provide(p, name);  // REQUIREs the 200
        }
    }
    REQUIRE(b.r.service_count() == 512);

    REQUIRE(b.request(C, 7, "list-services"));
    std::string json;
    int chunks = 0;
    for (;;) {
        const packet answer = b.take_response(C, 7);
        // Every packet fits: the code line and the content within 65535 bytes.
        const std::string message = answer.message(), content = answer.content();
        CHECK(proto::code_payload_size(message, content.size()) <= proto::max_payload);
        CHECK(3 + 1 + message.size() + 1 + content.size() <= proto::max_payload);
        json += content;
        if (answer.code() != 312) {
            CHECK(answer.code() == 200);
            break;
        }
        ++chunks;
        REQUIRE(b.update(C, 7, "302 MORE\n"));
    }
    CHECK(chunks >= 1);  // about 95 KiB: one full chunk, then the rest
    CHECK(json.size() > proto::max_payload);
    CHECK(json.front() == '{');
    CHECK(json.back() == '}');
    CHECK(b.r.sessions_of(C) == 1);  // the command session goes on
}

TEST_CASE_METHOD(client_fixture, "router: list-services answers 200 while its JSON fits one packet",
                 "[router][security]") {
    for (std::uint32_t k = 0; k < 100; ++k) b.provide(C, "svc" + std::to_string(k));
    const packet answer = b.builtin(C, 500, "list-services");
    CHECK(answer.code() == 200);
    CHECK(answer.content().size() > 100 * 20);
    CHECK(answer.content().size() + 7 <= proto::max_payload);
}
