// The 8-byte header: byte-exact encode/decode (docs/protocol.md §1).
#include <catch2/catch.hpp>

#include "junction/proto/header.hpp"

using namespace junction::proto;

TEST_CASE("header encodes big-endian in ccnet's layout", "[proto][header]") {
    const auto b = encode_header(header{1, 2, 5, 1001});
    const header_bytes expected{0x01, 0x02, 0x00, 0x05, 0x00, 0x00, 0x03, 0xe9};
    CHECK(b == expected);
    CHECK(decode_header(std::span<const std::uint8_t, 8>(b)) == header{1, 2, 5, 1001});
}

TEST_CASE("header round-trips the length and id edge values", "[proto][header]") {
    for (std::uint16_t len : {0, 1, 255, 256, 65535}) {
        for (std::uint32_t id : {0u, 1u, 0xFFu, 0x100u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
            const header h{1, 4, len, id};
            const auto b = encode_header(h);
            CHECK(decode_header(std::span<const std::uint8_t, 8>(b)) == h);
        }
    }
}
