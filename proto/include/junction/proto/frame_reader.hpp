// Incremental frame reader: bytes in, complete frames out.
//
// Flow: the caller reads from its socket into any buffer it likes and hands the
// bytes to feed(). Complete frames inside those bytes are passed to the callback
// without copying; only the tail of an incomplete frame is kept inside the reader
// (at most header_size + max_payload bytes), so an idle connection holds no
// buffer at all. A header whose version is not 1, or whose length is over the
// configured limit, or whose type is not REQUEST, RESPONSE or UPDATE, poisons the
// reader: the byte stream can no longer be trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "junction/proto/error.hpp"
#include "junction/proto/header.hpp"

namespace junction::proto {

struct frame {
    header hdr;
    // Points into the bytes given to feed() or into the reader's own buffer;
    // valid only during the callback.
    std::span<const std::uint8_t> payload;
    // The 8 encoded header bytes followed by the payload, contiguous.
    std::span<const std::uint8_t> wire;
};

class frame_reader {
public:
    explicit frame_reader(std::size_t max_payload_bytes = max_payload) noexcept {
        set_max_payload(max_payload_bytes);
    }

    // Calls on_frame(const frame&) for every complete frame; on_frame returns false
    // to stop early (the remaining bytes are dropped). Returns the error that
    // poisoned the reader, if any; bad_header() then tells which header did.
    template <class OnFrame>
    std::error_code feed(std::span<const std::uint8_t> bytes, OnFrame&& on_frame);

    // A new bound for the headers read from now on (a reload; a frame already
    // under way keeps the length it was accepted with).
    void set_max_payload(std::size_t max_payload_bytes) noexcept {
        max_payload_ = max_payload_bytes > max_payload ? max_payload : max_payload_bytes;
    }

    bool has_partial() const noexcept { return !partial_.empty(); }
    std::size_t partial_size() const noexcept { return partial_.size(); }
    bool failed() const noexcept { return static_cast<bool>(error_); }
    const header& bad_header() const noexcept { return bad_header_; }
    // Frees the partial buffer's memory when it holds nothing.
    void shrink() noexcept {
        if (partial_.empty()) std::vector<std::uint8_t>().swap(partial_);
    }

private:
    // Checks a decoded header; sets error_ and bad_header_ when it is not acceptable.
    bool accept(const header& h) noexcept {
        if (h.version == protocol_version && is_session_type(h.type) && h.length <= max_payload_)
            [[likely]]
            return true;
        return reject(h);
    }
    bool reject(const header& h) noexcept;  // records why `h` is not acceptable; false

    std::size_t max_payload_ = max_payload;
    std::vector<std::uint8_t> partial_;
    std::error_code error_;
    header bad_header_{};
};

template <class OnFrame>
std::error_code frame_reader::feed(std::span<const std::uint8_t> bytes, OnFrame&& on_frame) {
    if (error_) return error_;

    // 1. Complete the frame started by an earlier feed, if any.
    if (!partial_.empty()) {
        if (partial_.size() < header_size) {
            const std::size_t take = std::min(header_size - partial_.size(), bytes.size());
            partial_.insert(partial_.end(), bytes.begin(), bytes.begin() + take);
            bytes = bytes.subspan(take);
            if (partial_.size() < header_size) return {};
            const header h = decode_header(std::span<const std::uint8_t, header_size>(
                partial_.data(), header_size));
            if (!accept(h)) {
                partial_.clear();
                return error_;
            }
            partial_.reserve(header_size + h.length);
        }
        const header h =
            decode_header(std::span<const std::uint8_t, header_size>(partial_.data(), header_size));
        const std::size_t want = header_size + h.length - partial_.size();
        const std::size_t take = std::min(want, bytes.size());
        partial_.insert(partial_.end(), bytes.begin(), bytes.begin() + take);
        bytes = bytes.subspan(take);
        if (take < want) return {};
        const std::span<const std::uint8_t> wire(partial_);
        const bool go_on = on_frame(frame{h, wire.subspan(header_size), wire});
        partial_.clear();
        if (!go_on) return {};
    }

    // 2. Frames lying whole inside the new bytes: no copy.
    while (bytes.size() >= header_size) {
        const header h =
            decode_header(std::span<const std::uint8_t, header_size>(bytes.data(), header_size));
        if (!accept(h)) return error_;
        const std::size_t total = header_size + h.length;
        if (bytes.size() < total) break;
        const auto wire = bytes.first(total);
        if (!on_frame(frame{h, wire.subspan(header_size), wire})) return {};
        bytes = bytes.subspan(total);
    }

    // 3. Keep the tail of an incomplete frame.
    if (!bytes.empty()) {
        if (bytes.size() >= header_size) {
            const header h = decode_header(
                std::span<const std::uint8_t, header_size>(bytes.data(), header_size));
            partial_.reserve(header_size + h.length);
        }
        partial_.assign(bytes.begin(), bytes.end());
    }
    return {};
}

}  // namespace junction::proto
