// Raw packets over Unix stream sockets, for the bench's own peers (clients,
// echo provider, relay). No Asio: plain syscalls, so the bench compiles fast
// and its peers cost as little as possible next to the system being measured.
//
// Flow: a packet_conn owns one socket and one proto::frame_reader. read_once()
// does one read() into a process-wide scratch buffer and hands every complete
// frame to a callback without copying; `out` collects whole encoded packets and
// flush() hands as much of it to the kernel as fits, in one write().
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
#include <unistd.h>

#include "junction/proto/frame_reader.hpp"
#include "junction/proto/header.hpp"

namespace junction::bench {

using clock = std::chrono::steady_clock;

// Anything that makes a measurement meaningless: timeouts, wrong answers, dead peers.
struct bench_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Throws bench_error with `what` and strerror(errno).
[[noreturn]] void throw_errno(const std::string& what);

// A stream socket connected to `path`, close-on-exec, blocking.
int connect_unix(const std::string& path);
// A listening socket bound to `path`, close-on-exec, non-blocking.
int listen_unix(const std::string& path);
// True when something accepts connections on `path` right now.
bool socket_accepts(const std::string& path);
void set_nonblocking(int fd, bool on = true);
// Blocking reads and writes give up after `timeout` (SO_RCVTIMEO / SO_SNDTIMEO).
void set_io_timeout(int fd, std::chrono::milliseconds timeout);

// The payload's code, or 0 if its first three bytes are not digits.
std::uint16_t code_of(std::span<const std::uint8_t> payload) noexcept;

// One encoded UPDATE or RESPONSE, "200\n" + filler, whose payload is exactly
// `payload_size` bytes (at least 4): the template the measurements send.
std::vector<std::uint8_t> make_code_packet(proto::packet_type type, std::uint32_t id,
                                           std::size_t payload_size);

// The read buffer shared by every packet_conn of a process (each process is one thread).
std::span<std::uint8_t> scratch();

class packet_conn {
public:
    explicit packet_conn(int fd) noexcept : fd_(fd) {}
    ~packet_conn();
    packet_conn(packet_conn&& o) noexcept;
    packet_conn& operator=(packet_conn&&) = delete;
    packet_conn(const packet_conn&) = delete;
    packet_conn& operator=(const packet_conn&) = delete;

    int fd() const noexcept { return fd_; }
    // Gives up the socket without closing it (it now belongs to someone else).
    int release() noexcept;

    enum class read_status { got_bytes, would_block, eof };

    // One read(); every complete frame goes to on_frame(const proto::frame&).
    // `short_read` tells the caller the socket is now empty. Throws on a socket
    // error or an unparseable stream.
    template <class OnFrame>
    read_status read_once(OnFrame&& on_frame, bool* short_read = nullptr);

    std::vector<std::uint8_t> out;  // whole encoded packets, not yet written

    // Writes as much of `out` as the socket takes in one write(); true when all is gone.
    bool flush();
    // Writes all of `out`, blocking (the socket must be blocking with a send timeout).
    void flush_blocking();
    bool has_pending_output() const noexcept { return out_sent_ < out.size(); }

private:
    int fd_;
    proto::frame_reader reader_;
    std::size_t out_sent_ = 0;  // bytes of `out` already written
};

template <class OnFrame>
packet_conn::read_status packet_conn::read_once(OnFrame&& on_frame, bool* short_read) {
    const std::span<std::uint8_t> buf = scratch();
    const long n = ::read(fd_, buf.data(), buf.size());
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return read_status::would_block;
        if (errno == EINTR) return read_status::would_block;
        throw_errno("read");
    }
    if (n == 0) return read_status::eof;
    if (short_read) *short_read = static_cast<std::size_t>(n) < buf.size();
    const auto err = reader_.feed({buf.data(), static_cast<std::size_t>(n)},
                                  [&](const proto::frame& f) {
                                      on_frame(f);
                                      return true;
                                  });
    if (err) throw bench_error("unparseable stream from peer: " + err.message());
    return read_status::got_bytes;
}

}  // namespace junction::bench
