// The incremental frame reader (docs/protocol.md §1, §1.1): bytes in, frames out.
//
// Flow: each test builds a byte stream from encoded packets, feeds it to a
// frame_reader in some cut (whole, byte by byte, split at every offset) and
// compares what came out, frame by frame, with what went in. The reader never
// sees a socket.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "junction/proto/error.hpp"
#include "junction/proto/frame_reader.hpp"
#include "junction/proto/header.hpp"
#include "junction/proto/text.hpp"

using namespace junction::proto;
using bytes = std::vector<std::uint8_t>;

// --- Counting allocations -------------------------------------------------------
// shrink() and the zero-copy path are about memory, so the tests count heap
// allocations while a frame_reader works. Counting is off unless a test turns it on.
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;

struct count_allocations {
    count_allocations() {
        allocations = 0;
        counting = true;
    }
    ~count_allocations() { counting = false; }
    count_allocations(const count_allocations&) = delete;
    count_allocations& operator=(const count_allocations&) = delete;
};
}  // namespace

// Every scalar form is replaced, so each allocation is paired with the matching
// release (the sanitizers check that); the array and aligned forms are left alone.
void* operator new(std::size_t n) {
    if (counting) ++allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    if (counting) ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}
// GCC's -Wmismatched-new-delete cannot see that these replace the operators
// whose memory they free (a false positive once inlined at -O2).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

// --- Building streams and collecting frames --------------------------------------
namespace {

// A frame as the callback saw it, copied out (the spans die with the callback).
struct seen_frame {
    header hdr;
    bytes payload;
    bytes wire;
    friend bool operator==(const seen_frame&, const seen_frame&) = default;
};

bytes raw(const header& h, const bytes& payload) {
    bytes out(header_size);
    encode_header(h, std::span<std::uint8_t, header_size>(out.data(), header_size));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

bytes text_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

bytes packet(std::uint8_t type, std::uint32_t id, const bytes& payload) {
    return raw(header{protocol_version, type, static_cast<std::uint16_t>(payload.size()), id},
               payload);
}

bytes concat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A payload whose every byte depends on its position, so a shifted or
// truncated copy does not compare equal.
bytes pattern(std::size_t n) {
    bytes out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>((i * 7 + i / 256) & 0xFF);
    return out;
}

struct collector {
    std::vector<seen_frame> frames;
    std::error_code last_error;

    std::error_code feed(frame_reader& r, std::span<const std::uint8_t> b) {
        last_error = r.feed(b, [&](const frame& f) {
            frames.push_back({f.hdr, bytes(f.payload.begin(), f.payload.end()),
                              bytes(f.wire.begin(), f.wire.end())});
            return true;
        });
        return last_error;
    }
};

std::span<const std::uint8_t> sub(const bytes& b, std::size_t from, std::size_t to) {
    return std::span<const std::uint8_t>(b).subspan(from, to - from);
}

// Four frames of the three session types, payloads of 5, 0, 1 and 9 bytes.
const bytes frame_a = packet(2, 1001, text_bytes("echo!"));
const bytes frame_b = packet(3, 7, {});
const bytes frame_c = packet(4, 0xFFFFFFFF, {0x00});
const bytes frame_d = packet(3, 42, text_bytes("200 OK\nhi"));
const bytes stream = concat({frame_a, frame_b, frame_c, frame_d});

const std::vector<seen_frame> expected_stream = {
    {header{1, 2, 5, 1001}, text_bytes("echo!"), frame_a},
    {header{1, 3, 0, 7}, {}, frame_b},
    {header{1, 4, 1, 0xFFFFFFFF}, {0x00}, frame_c},
    {header{1, 3, 9, 42}, text_bytes("200 OK\nhi"), frame_d},
};

}  // namespace

namespace Catch {
template <>
struct StringMaker<seen_frame> {
    static std::string convert(const seen_frame& f) {
        std::string s = "{v" + std::to_string(f.hdr.version) + " t" + std::to_string(f.hdr.type) +
                        " len " + std::to_string(f.hdr.length) + " id " + std::to_string(f.hdr.id) +
                        ", " + std::to_string(f.payload.size()) + " payload bytes}";
        return s;
    }
};
}  // namespace Catch

// --- Whole, byte by byte, split -----------------------------------------------------

TEST_CASE("the §1 REQUEST example decodes to id 1001 with payload echo!", "[proto][frame_reader]") {
    const bytes example{0x01, 0x02, 0x00, 0x05, 0x00, 0x00, 0x03, 0xe9,
                        0x65, 0x63, 0x68, 0x6f, 0x21};
    CHECK(frame_a == example);
    frame_reader r;
    collector c;
    CHECK_FALSE(c.feed(r, example));
    REQUIRE(c.frames.size() == 1);
    CHECK(c.frames[0].hdr == header{1, 2, 5, 1001});
    CHECK(c.frames[0].payload == text_bytes("echo!"));
    CHECK(c.frames[0].wire == example);
}

TEST_CASE("several frames fed whole come out in order, with nothing kept", "[proto][frame_reader]") {
    frame_reader r;
    collector c;
    CHECK_FALSE(c.feed(r, stream));
    CHECK(c.frames == expected_stream);
    CHECK_FALSE(r.has_partial());
    CHECK(r.partial_size() == 0);
    CHECK_FALSE(r.failed());
}

TEST_CASE("frames lying whole in the fed bytes are passed without copying or allocating",
          "[proto][frame_reader]") {
    frame_reader r;
    std::vector<const std::uint8_t*> payload_at, wire_at;
    payload_at.reserve(8);
    wire_at.reserve(8);
    {
        count_allocations counter;
        const auto ec = r.feed(stream, [&](const frame& f) {
            payload_at.push_back(f.payload.data());
            wire_at.push_back(f.wire.data());
            return true;
        });
        CHECK_FALSE(ec);
        CHECK(allocations == 0);
    }
    REQUIRE(wire_at.size() == 4);
    CHECK(wire_at[0] == stream.data());
    CHECK(payload_at[0] == stream.data() + header_size);
    CHECK(wire_at[1] == stream.data() + frame_a.size());
    CHECK(wire_at[3] == stream.data() + frame_a.size() + frame_b.size() + frame_c.size());
    CHECK(payload_at[3] == wire_at[3] + header_size);
}

TEST_CASE("frames fed one byte at a time are identical to the whole-feed result",
          "[proto][frame_reader]") {
    frame_reader r;
    collector c;
    std::size_t frame_start = 0;  // offset of the frame being assembled
    for (std::size_t i = 0; i < stream.size(); ++i) {
        INFO("byte " << i);
        const std::size_t before = c.frames.size();
        REQUIRE_FALSE(c.feed(r, sub(stream, i, i + 1)));
        if (c.frames.size() > before) {
            // A frame just completed on this byte: nothing may be left over.
            CHECK(c.frames.size() == before + 1);
            CHECK(i + 1 - frame_start == expected_stream[before].wire.size());
            CHECK_FALSE(r.has_partial());
            frame_start = i + 1;
        } else {
            CHECK(r.has_partial());
            CHECK(r.partial_size() == i + 1 - frame_start);
        }
    }
    CHECK(c.frames == expected_stream);
}

TEST_CASE("a multi-frame buffer split at every offset yields the whole-feed frames",
          "[proto][frame_reader]") {
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        INFO("cut at " << cut);
        frame_reader r;
        collector c;
        REQUIRE_FALSE(c.feed(r, sub(stream, 0, cut)));
        REQUIRE_FALSE(c.feed(r, sub(stream, cut, stream.size())));
        CHECK(c.frames == expected_stream);
        CHECK_FALSE(r.has_partial());
    }
}

TEST_CASE("a multi-frame buffer cut into three pieces at every pair of offsets yields the same frames",
          "[proto][frame_reader]") {
    for (std::size_t a = 0; a <= stream.size(); ++a) {
        for (std::size_t b = a; b <= stream.size(); ++b) {
            INFO("cuts at " << a << " and " << b);
            frame_reader r;
            collector c;
            REQUIRE_FALSE(c.feed(r, sub(stream, 0, a)));
            REQUIRE_FALSE(c.feed(r, sub(stream, a, b)));
            REQUIRE_FALSE(c.feed(r, sub(stream, b, stream.size())));
            REQUIRE(c.frames == expected_stream);
            REQUIRE_FALSE(r.has_partial());
        }
    }
}

TEST_CASE("payload lengths 0, 1 and 65535 are framed exactly, whole and split",
          "[proto][frame_reader]") {
    const std::size_t len = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{65535});
    INFO("payload length " << len);
    const bytes payload = pattern(len);
    const bytes one = packet(3, 0x01020304, payload);
    REQUIRE(one.size() == header_size + len);
    // Followed by a small frame, so a reader that over- or under-reads the
    // long one misframes the next.
    const bytes both = concat({one, frame_a});
    const std::vector<seen_frame> expected = {
        {header{1, 3, static_cast<std::uint16_t>(len), 0x01020304}, payload, one},
        expected_stream[0]};

    SECTION("whole") {
        frame_reader r;
        collector c;
        CHECK_FALSE(c.feed(r, both));
        CHECK(c.frames == expected);
    }
    SECTION("split inside the header, at the header's end, inside and at the end of the payload") {
        for (std::size_t cut : {std::size_t{1}, std::size_t{7}, header_size, header_size + len / 2,
                                one.size() - (len > 0 ? 1 : 0), one.size(), one.size() + 3}) {
            INFO("cut at " << cut);
            frame_reader r;
            collector c;
            CHECK_FALSE(c.feed(r, sub(both, 0, cut)));
            CHECK_FALSE(c.feed(r, sub(both, cut, both.size())));
            CHECK(c.frames == expected);
        }
    }
    SECTION("one byte at a time") {
        frame_reader r;
        collector c;
        for (std::size_t i = 0; i < both.size(); ++i) REQUIRE_FALSE(c.feed(r, sub(both, i, i + 1)));
        CHECK(c.frames == expected);
        CHECK_FALSE(r.has_partial());
    }
}

// --- Truncated input ------------------------------------------------------------

TEST_CASE("a truncated frame yields nothing until the rest arrives", "[proto][frame_reader]") {
    // Cut points: inside the header, right after the header, inside the payload.
    const std::size_t kept = GENERATE(std::size_t{1}, std::size_t{7}, header_size, std::size_t{12});
    INFO("first " << kept << " bytes of a 13-byte frame");
    frame_reader r;
    collector c;
    CHECK_FALSE(c.feed(r, sub(frame_a, 0, kept)));
    CHECK(c.frames.empty());
    CHECK(r.has_partial());
    CHECK(r.partial_size() == kept);

    // An empty feed changes nothing.
    CHECK_FALSE(c.feed(r, {}));
    CHECK(c.frames.empty());
    CHECK(r.partial_size() == kept);

    CHECK_FALSE(c.feed(r, sub(frame_a, kept, frame_a.size())));
    REQUIRE(c.frames.size() == 1);
    CHECK(c.frames[0] == expected_stream[0]);
    CHECK_FALSE(r.has_partial());
}

TEST_CASE("a frame cut short after a complete one: the complete one comes out, the rest waits",
          "[proto][frame_reader]") {
    frame_reader r;
    collector c;
    const bytes two = concat({frame_d, frame_a});
    CHECK_FALSE(c.feed(r, sub(two, 0, two.size() - 1)));
    REQUIRE(c.frames.size() == 1);
    CHECK(c.frames[0] == expected_stream[3]);
    CHECK(r.partial_size() == frame_a.size() - 1);
    CHECK_FALSE(c.feed(r, sub(two, two.size() - 1, two.size())));
    REQUIRE(c.frames.size() == 2);
    CHECK(c.frames[1] == expected_stream[0]);
    CHECK_FALSE(r.has_partial());
}

// --- Header errors (§1.1) -----------------------------------------------------------

TEST_CASE("a header with version other than 1 poisons the reader with bad_version",
          "[proto][frame_reader]") {
    const std::uint8_t version = GENERATE(std::uint8_t{0}, std::uint8_t{2}, std::uint8_t{0xFF});
    INFO("version " << int(version));
    const header bad{version, 2, 5, 0x01020304};
    // Two good frames, the bad header with its would-be payload, then a good frame
    // that must never come out.
    const bytes input = concat({frame_a, frame_b, raw(bad, text_bytes("hello")), frame_c});
    const std::size_t bad_at = frame_a.size() + frame_b.size();
    const std::vector<seen_frame> before = {expected_stream[0], expected_stream[1]};

    auto check_poisoned = [&](frame_reader& r, collector& c) {
        CHECK(c.last_error == errc::bad_version);
        CHECK(c.last_error.category() == category());
        CHECK(r.failed());
        CHECK(r.bad_header() == bad);
        CHECK(c.frames == before);
        CHECK_FALSE(r.has_partial());
        // Later bytes, even a perfectly good frame, change nothing.
        CHECK(c.feed(r, frame_a) == errc::bad_version);
        CHECK(c.frames == before);
        CHECK(r.bad_header() == bad);
    };

    SECTION("fed whole") {
        frame_reader r;
        collector c;
        c.feed(r, input);
        check_poisoned(r, c);
    }
    SECTION("split at every offset") {
        for (std::size_t cut = 0; cut <= input.size(); ++cut) {
            INFO("cut at " << cut);
            frame_reader r;
            collector c;
            const auto first = c.feed(r, sub(input, 0, cut));
            // The error shows up exactly when the bad header's 8th byte arrives.
            if (cut >= bad_at + header_size) {
                CHECK(first == errc::bad_version);
            } else {
                CHECK_FALSE(first);
                c.feed(r, sub(input, cut, input.size()));
            }
            check_poisoned(r, c);
        }
    }
}

TEST_CASE("a header length over the configured maximum is payload_too_large, before any payload",
          "[proto][frame_reader]") {
    frame_reader r(100);
    collector c;
    const bytes ok = packet(4, 9, pattern(100));
    CHECK_FALSE(c.feed(r, ok));
    REQUIRE(c.frames.size() == 1);
    CHECK(c.frames[0].payload == pattern(100));

    // Only the header of a 101-byte payload: the reader does not wait for it.
    const header too_long{1, 4, 101, 77};
    const bytes hdr = raw(too_long, {});
    CHECK_FALSE(c.feed(r, sub(hdr, 0, 4)));
    CHECK(c.feed(r, sub(hdr, 4, 8)) == errc::payload_too_large);
    CHECK(r.failed());
    CHECK(r.bad_header() == too_long);
    CHECK_FALSE(r.has_partial());
    CHECK(c.feed(r, ok) == errc::payload_too_large);
    CHECK(c.frames.size() == 1);
}

TEST_CASE("the payload limit is clamped to 65535 and 65535 is accepted by default",
          "[proto][frame_reader]") {
    const bytes biggest = packet(3, 1, pattern(65535));
    for (std::size_t limit : {max_payload, std::size_t{1} << 20}) {
        INFO("limit " << limit);
        frame_reader r(limit);
        collector c;
        CHECK_FALSE(c.feed(r, biggest));
        REQUIRE(c.frames.size() == 1);
        CHECK(c.frames[0].hdr.length == 65535);
    }
    frame_reader by_default;
    collector c;
    CHECK_FALSE(c.feed(by_default, biggest));
    CHECK(c.frames.size() == 1);

    frame_reader tight(65534);
    collector t;
    CHECK(t.feed(tight, biggest) == errc::payload_too_large);
    CHECK(tight.bad_header().length == 65535);
    CHECK(t.frames.empty());
}

TEST_CASE("a payload limit of 0 accepts only empty payloads", "[proto][frame_reader]") {
    frame_reader r(0);
    collector c;
    CHECK_FALSE(c.feed(r, frame_b));
    CHECK(c.frames.size() == 1);
    CHECK(c.feed(r, frame_c) == errc::payload_too_large);
    CHECK(r.bad_header() == header{1, 4, 1, 0xFFFFFFFF});
}

// --- Early stop -------------------------------------------------------------------

TEST_CASE("the callback returning false stops the feed and drops the remaining bytes",
          "[proto][frame_reader]") {
    SECTION("among frames lying whole in the fed bytes") {
        frame_reader r;
        std::vector<std::uint32_t> ids;
        const auto ec = r.feed(stream, [&](const frame& f) {
            ids.push_back(f.hdr.id);
            return ids.size() < 2;
        });
        CHECK_FALSE(ec);
        CHECK(ids == std::vector<std::uint32_t>{1001, 7});
        CHECK_FALSE(r.failed());
        CHECK_FALSE(r.has_partial());
    }
    SECTION("on the frame completed from an earlier feed") {
        frame_reader r;
        std::vector<std::uint32_t> ids;
        auto stop_at_first = [&](const frame& f) {
            ids.push_back(f.hdr.id);
            return false;
        };
        CHECK_FALSE(r.feed(sub(stream, 0, 3), stop_at_first));
        CHECK(r.has_partial());
        CHECK_FALSE(r.feed(sub(stream, 3, stream.size()), stop_at_first));
        CHECK(ids == std::vector<std::uint32_t>{1001});
        CHECK_FALSE(r.has_partial());
        CHECK_FALSE(r.failed());
    }
    SECTION("a stopped reader is not poisoned: it frames the next bytes it is given") {
        frame_reader r;
        CHECK_FALSE(r.feed(stream, [](const frame&) { return false; }));
        collector c;
        CHECK_FALSE(c.feed(r, frame_d));
        REQUIRE(c.frames.size() == 1);
        CHECK(c.frames[0] == expected_stream[3]);
    }
}

// --- Memory -------------------------------------------------------------------------

TEST_CASE("shrink() keeps a partial frame and frees the buffer only when it is empty",
          "[proto][frame_reader]") {
    frame_reader r;
    collector c;
    const bytes big = packet(3, 5, pattern(1000));

    // A partial frame allocates a buffer for the whole frame.
    {
        count_allocations counter;
        CHECK_FALSE(r.feed(sub(big, 0, 500), [](const frame&) { return true; }));
        CHECK(allocations >= 1);
    }
    CHECK(r.partial_size() == 500);

    r.shrink();  // must not drop the 500 bytes held
    CHECK(r.partial_size() == 500);
    CHECK_FALSE(c.feed(r, sub(big, 500, big.size())));
    REQUIRE(c.frames.size() == 1);
    CHECK(c.frames[0].payload == pattern(1000));
    CHECK_FALSE(r.has_partial());

    SECTION("without shrink(), the next partial frame reuses the buffer") {
        count_allocations counter;
        CHECK_FALSE(r.feed(sub(big, 0, 500), [](const frame&) { return true; }));
        CHECK(allocations == 0);
        CHECK(r.partial_size() == 500);
    }
    SECTION("after shrink(), the buffer is gone: the next partial frame allocates again") {
        r.shrink();
        CHECK_FALSE(r.has_partial());
        count_allocations counter;
        CHECK_FALSE(r.feed(sub(big, 0, 500), [](const frame&) { return true; }));
        CHECK(allocations >= 1);
        CHECK(r.partial_size() == 500);
    }
}

// --- Error codes ------------------------------------------------------------------

TEST_CASE("protocol errors are std::error_codes of the junction.proto category with fixed messages",
          "[proto][error]") {
    CHECK(std::string_view(category().name()) == "junction.proto");
    const std::error_code ec = errc::bad_version;  // implicit: is_error_code_enum
    CHECK(ec.category() == category());
    CHECK(ec.value() == 1);
    CHECK(ec == make_error_code(errc::bad_version));
    CHECK(ec != make_error_code(errc::payload_too_large));
    CHECK(static_cast<bool>(ec));

    CHECK(make_error_code(errc::bad_version).message() == "unsupported protocol version");
    CHECK(make_error_code(errc::payload_too_large).message() == "payload over the size limit");
    CHECK(make_error_code(errc::reserved_type).message() == "reserved or unknown packet type");
    CHECK(make_error_code(errc::empty_request).message() == "empty request");
    CHECK(make_error_code(errc::bad_request_line).message() ==
          "request line is not printable UTF-8");
    CHECK(make_error_code(errc::bad_service_name).message() == "invalid service name");
    CHECK(make_error_code(errc::no_code_line).message() == "payload has no code line");
    CHECK(make_error_code(errc::bad_code).message() ==
          "code line does not start with a 3-digit code");
    CHECK(make_error_code(errc::message_too_large).message() == "message over the size limit");
    CHECK(std::error_code(0, category()).message() == "unknown protocol error");
    CHECK(std::error_code(99, category()).message() == "unknown protocol error");
}

TEST_CASE("a reserved or undefined type poisons the reader on the header alone", "[proto][frame_reader]") {
    for (const std::uint8_t type : {0, 1, 5, 6, 7, 255}) {
        INFO("type " << int(type));
        frame_reader r;
        collector c;
        // A good frame, then a bad header whose payload never comes.
        const bytes good = packet(2, 1, text_bytes("echo"));
        bytes in = concat({good, packet(type, 99, bytes(10, 'x'))});
        in.resize(good.size() + header_size);
        CHECK(c.feed(r, in) == errc::reserved_type);
        REQUIRE(c.frames.size() == 1);
        CHECK(r.failed());
        CHECK(r.bad_header() == header{1, type, 10, 99});
        CHECK(c.feed(r, text_bytes("more")) == errc::reserved_type);
    }
}
