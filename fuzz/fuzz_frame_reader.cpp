// Fuzz target: proto::frame_reader, fed random bytes in random splits.
//
// Input layout (FuzzedDataProvider: integers come from the end, bytes from the front):
//   u16          payload limit given to the reader
//   repeated:    u16 chunk length, bool "stop early at frame k", u8 k; then the chunk
// Each chunk goes to feed(). A reference parser, written here without looking at
// the reader's buffering, sees the same chunks as one stream and says which frames
// and which error must come out.
//
// Invariants: no crash or sanitizer report; every frame's payload size equals its
// header's length and its wire bytes are header + payload; frames and errors are
// exactly the reference's; the partial buffer never holds more than one frame
// (header_size + limit); a poisoned reader stays poisoned and yields nothing.
#include <cstdint>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "junction/proto/frame_reader.hpp"

namespace proto = junction::proto;

namespace {

struct seen_frame {
    proto::header hdr;
    std::vector<std::uint8_t> payload;
};

// The stream rules of docs/protocol.md §1 (§1.1: version, then type, then length,
// each judged on the header alone), on the whole buffered stream at once.
class reference_parser {
public:
    explicit reference_parser(std::size_t limit) : limit_(limit) {}

    // Appends a chunk and returns the frames it completes; stops after `stop_at`
    // frames (dropping the rest of the chunk) when stop_at is set.
    std::vector<seen_frame> feed(const std::vector<std::uint8_t>& chunk, int stop_at) {
        std::vector<seen_frame> out;
        if (error_) return out;
        buf_.insert(buf_.end(), chunk.begin(), chunk.end());
        std::size_t at = 0;
        while (buf_.size() - at >= proto::header_size) {
            const proto::header h = proto::decode_header(
                std::span<const std::uint8_t, proto::header_size>(buf_.data() + at, proto::header_size));
            if (h.version != proto::protocol_version) {
                error_ = proto::errc::bad_version;
                bad_ = h;
                return out;
            }
            if (!proto::is_session_type(h.type)) {
                error_ = proto::errc::reserved_type;
                bad_ = h;
                return out;
            }
            if (h.length > limit_) {
                error_ = proto::errc::payload_too_large;
                bad_ = h;
                return out;
            }
            if (buf_.size() - at < proto::header_size + h.length) break;
            const auto* p = buf_.data() + at + proto::header_size;
            out.push_back({h, std::vector<std::uint8_t>(p, p + h.length)});
            at += proto::header_size + h.length;
            if (stop_at >= 0 && out.size() == static_cast<std::size_t>(stop_at) + 1) {
                buf_.clear();  // the callback said stop: the rest of this chunk is dropped
                return out;
            }
        }
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(at));
        return out;
    }

    std::error_code error() const { return error_; }
    const proto::header& bad_header() const { return bad_; }
    std::size_t buffered() const { return buf_.size(); }

private:
    std::size_t limit_;
    std::vector<std::uint8_t> buf_;
    std::error_code error_;
    proto::header bad_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const std::size_t requested = in.ConsumeIntegral<std::uint16_t>();
    const std::size_t limit = requested;  // the reader clamps to 65535 itself
    proto::frame_reader reader(limit);
    reference_parser ref(limit);

    for (int round = 0; round < 4096 && in.remaining_bytes() > 0; ++round) {
        const std::size_t len = in.ConsumeIntegralInRange<std::size_t>(0, 300);
        const bool stop_early = in.ConsumeBool();
        const int stop_at = stop_early ? in.ConsumeIntegralInRange<int>(0, 3) : -1;
        const std::vector<std::uint8_t> chunk = in.ConsumeBytes<std::uint8_t>(len);

        const std::vector<seen_frame> expected = ref.feed(chunk, stop_at);
        std::vector<seen_frame> got;
        const bool was_failed = reader.failed();
        const std::error_code ec = reader.feed(chunk, [&](const proto::frame& f) {
            FUZZ_CHECK(f.payload.size() == f.hdr.length);
            FUZZ_CHECK(f.hdr.length <= limit);
            FUZZ_CHECK(f.hdr.version == proto::protocol_version);
            FUZZ_CHECK(proto::is_session_type(f.hdr.type));
            FUZZ_CHECK(f.wire.size() == proto::header_size + f.payload.size());
            FUZZ_CHECK(f.wire.data() + proto::header_size == f.payload.data());
            const proto::header again = proto::decode_header(
                std::span<const std::uint8_t, proto::header_size>(f.wire.data(), proto::header_size));
            FUZZ_CHECK(again == f.hdr);
            got.push_back({f.hdr, std::vector<std::uint8_t>(f.payload.begin(), f.payload.end())});
            return !(stop_at >= 0 && got.size() == static_cast<std::size_t>(stop_at) + 1);
        });

        if (was_failed) FUZZ_CHECK(got.empty() && ec);
        FUZZ_CHECK(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            FUZZ_CHECK(got[i].hdr == expected[i].hdr);
            FUZZ_CHECK(got[i].payload == expected[i].payload);
        }
        FUZZ_CHECK(ec == ref.error());
        FUZZ_CHECK(reader.failed() == static_cast<bool>(ref.error()));
        if (ec) {
            FUZZ_CHECK(reader.bad_header() == ref.bad_header());
        } else {
            // The reader keeps exactly the incomplete tail, never more than one frame.
            FUZZ_CHECK(reader.partial_size() == ref.buffered());
            FUZZ_CHECK(reader.partial_size() < proto::header_size + limit);
            FUZZ_CHECK(reader.has_partial() == (reader.partial_size() > 0));
        }
        if (in.ConsumeBool()) reader.shrink();
    }
    return 0;
}
