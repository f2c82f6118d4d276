// The bytes queued for one connection: appended at the back, written (consumed)
// from the front. What std::vector<std::uint8_t> would do, minus two costs on
// the forwarding path: growing does not zero-fill, and an append is a capacity
// check and a memcpy (vector::insert's general range path cost ~50
// instructions per forwarded packet, callgrind 8×16).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

namespace junction::daemon {

class byte_queue {
public:
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return end_ == begin_; }
    std::size_t capacity() const noexcept { return cap_; }
    const std::uint8_t* data() const noexcept { return buf_.get() + begin_; }

    // Room for `n` more bytes at the back, counted as queued: the caller fills it.
    std::uint8_t* extend(std::size_t n) {
        if (cap_ - end_ < n) make_room(n);
        std::uint8_t* at = buf_.get() + end_;
        end_ += n;
        return at;
    }
    void append(std::span<const std::uint8_t> bytes) {
        if (!bytes.empty()) std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
    }
    // The first `n` bytes were written.
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    void clear() noexcept { begin_ = end_ = 0; }
    void swap(byte_queue& other) noexcept {
        buf_.swap(other.buf_);
        std::swap(cap_, other.cap_);
        std::swap(begin_, other.begin_);
        std::swap(end_, other.end_);
    }
    std::span<const std::uint8_t> bytes() const noexcept { return {data(), size()}; }
    // Gives the memory back (an idle connection keeps none).
    void release() noexcept {
        buf_.reset();
        cap_ = begin_ = end_ = 0;
    }

private:
    // Moves the queued bytes to the front when that makes room, else grows
    // (at least doubling, so appends stay amortised O(1)).
    void make_room(std::size_t n) {
        const std::size_t live = size();
        if (live + n <= cap_ && begin_ >= cap_ / 2) {
            std::memmove(buf_.get(), buf_.get() + begin_, live);
        } else {
            std::size_t cap = cap_ < 256 ? 256 : cap_ * 2;
            while (cap < live + n) cap *= 2;
            std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[cap]);  // not zero-filled
            if (live) std::memcpy(bigger.get(), buf_.get() + begin_, live);
            buf_ = std::move(bigger);
            cap_ = cap;
        }
        begin_ = 0;
        end_ = live;
    }

    std::unique_ptr<std::uint8_t[]> buf_;
    std::size_t cap_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace junction::daemon
