// Fuzz target: the RESPONSE/UPDATE code line (docs/protocol.md §2.2),
// proto::parse_code_line, format_code_line and append_code_packet.
//
// The input is one RESPONSE/UPDATE payload. A reference written from the spec
// ("<ddd>[ <message>]\n<content>", ddd from 100 to 599, the fourth byte '\n' or
// a space) gives the verdict.
//
// Invariants: the same verdict as the reference; on success the message holds
// no '\n', the content is exactly the bytes after the first '\n'; formatting the
// parsed code and message and appending the content parses back to the same
// code, message and content; append_code_packet writes one well-formed packet
// of code_payload_size() payload bytes that parses back the same way.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "junction/proto/frame_reader.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"

namespace proto = junction::proto;

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

std::error_code reference_parse(std::string_view text) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) {
        if (text.size() >= 3 && digit(text[0]) && digit(text[1]) && digit(text[2]))
            return proto::errc::no_code_line;
        return proto::errc::bad_code;
    }
    const std::string_view line = text.substr(0, nl);
    if (line.size() < 3 || !digit(line[0]) || !digit(line[1]) || !digit(line[2]))
        return proto::errc::bad_code;
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 100 || code > 599) return proto::errc::bad_code;
    if (line.size() > 3 && line[3] != ' ') return proto::errc::bad_code;
    return {};
}

bool same(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> payload(data, size);
    const std::string_view text = proto::as_text(payload);

    proto::code_line cl;
    const std::error_code ec = proto::parse_code_line(payload, cl);
    FUZZ_CHECK(ec == reference_parse(text));
    // The router's inline check agrees with the parser.
    FUZZ_CHECK(proto::routed_code(payload) == (ec ? 0 : cl.code));
    if (ec) return 0;

    const auto nl = text.find('\n');
    FUZZ_CHECK(cl.code >= 100 && cl.code <= 599);
    FUZZ_CHECK(cl.message.find('\n') == std::string_view::npos);
    FUZZ_CHECK(cl.message == (nl > 4 ? text.substr(4, nl - 4) : std::string_view{}));
    FUZZ_CHECK(same(cl.content, payload.subspan(nl + 1)));
    (void)proto::status_text(cl.code);
    FUZZ_CHECK(proto::is_error(cl.code) == (cl.code >= 400));

    // format + content reparses to the same values.
    std::string again_text = proto::format_code_line(cl.code, cl.message);
    again_text.append(proto::as_text(cl.content));
    proto::code_line again;
    FUZZ_CHECK(!proto::parse_code_line(proto::as_bytes(again_text), again));
    FUZZ_CHECK(again.code == cl.code);
    FUZZ_CHECK(again.message == cl.message);
    FUZZ_CHECK(same(again.content, cl.content));

    // append_code_packet: one packet, the size code_payload_size() promises.
    if (cl.content.size() + 5 > proto::max_payload) return 0;  // content too long: caller's bug
    for (const auto type : {proto::packet_type::response, proto::packet_type::update}) {
        std::vector<std::uint8_t> wire;
        const std::uint32_t id = static_cast<std::uint32_t>(size) * 2654435761u;
        proto::append_code_packet(wire, type, id, cl.code, cl.message, cl.content);
        FUZZ_CHECK(wire.size() ==
                   proto::header_size + proto::code_payload_size(cl.message, cl.content.size()));
        proto::frame_reader reader;
        int frames = 0;
        const auto err = reader.feed(wire, [&](const proto::frame& f) {
            ++frames;
            FUZZ_CHECK(f.hdr.type == static_cast<std::uint8_t>(type) && f.hdr.id == id);
            proto::code_line back;
            FUZZ_CHECK(!proto::parse_code_line(f.payload, back));
            FUZZ_CHECK(back.code == cl.code);
            // The message is shortened only when message and content do not fit one packet.
            const bool fits = 3 + 1 + cl.message.size() + 1 + cl.content.size() <= proto::max_payload;
            FUZZ_CHECK(back.message == (fits ? cl.message : cl.message.substr(0, back.message.size())));
            FUZZ_CHECK(same(back.content, cl.content));
            return true;
        });
        FUZZ_CHECK(!err && frames == 1 && !reader.has_partial());
    }
    return 0;
}
