// Header encode/decode: plain byte shuffling, big-endian.
#include "junction/proto/header.hpp"

namespace junction::proto {

std::string_view type_name(std::uint8_t t) noexcept {
    switch (t) {
        case 0: return "OK";
        case 1: return "HANDSHAKE";
        case 2: return "REQUEST";
        case 3: return "RESPONSE";
        case 4: return "UPDATE";
        case 5: return "RELAY";
        case 6: return "ENCPACKET";
        default: return "UNKNOWN";
    }
}

void encode_header(const header& h, std::span<std::uint8_t, header_size> out) noexcept {
    out[0] = h.version;
    out[1] = h.type;
    out[2] = static_cast<std::uint8_t>(h.length >> 8);
    out[3] = static_cast<std::uint8_t>(h.length);
    rewrite_id(out.data(), h.id);
}

header_bytes encode_header(const header& h) noexcept {
    header_bytes b{};
    encode_header(h, std::span<std::uint8_t, header_size>(b));
    return b;
}

}  // namespace junction::proto
