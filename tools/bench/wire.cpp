// Socket helpers and packet_conn: see wire.hpp.
#include "wire.hpp"

#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "junction/proto/text.hpp"

namespace junction::bench {

void throw_errno(const std::string& what) {
    throw bench_error(what + ": " + std::strerror(errno));
}

namespace {

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw bench_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

}  // namespace

int connect_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket");
    const sockaddr_un addr = address_of(path);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        throw_errno("connect " + path);
    }
    return fd;
}

int listen_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw_errno("socket");
    const sockaddr_un addr = address_of(path);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 128) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        throw_errno("listen on " + path);
    }
    return fd;
}

bool socket_accepts(const std::string& path) {
    try {
        ::close(connect_unix(path));
        return true;
    } catch (const bench_error&) {
        return false;
    }
}

void set_nonblocking(int fd, bool on) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) != 0)
        throw_errno("fcntl");
}

void set_io_timeout(int fd, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        throw_errno("setsockopt timeout");
}

std::uint16_t code_of(std::span<const std::uint8_t> payload) noexcept {
    if (payload.size() < 3) return 0;
    for (std::size_t i = 0; i < 3; ++i)
        if (payload[i] < '0' || payload[i] > '9') return 0;
    return static_cast<std::uint16_t>((payload[0] - '0') * 100 + (payload[1] - '0') * 10 +
                                      (payload[2] - '0'));
}

std::vector<std::uint8_t> make_code_packet(proto::packet_type type, std::uint32_t id,
                                           std::size_t payload_size) {
    if (payload_size < 4 || payload_size > proto::max_payload)
        throw bench_error("payload size out of range: " + std::to_string(payload_size));
    // Content varies so that nothing along the way can get away with a shortcut.
    std::vector<std::uint8_t> content(payload_size - 4);
    for (std::size_t i = 0; i < content.size(); ++i)
        content[i] = static_cast<std::uint8_t>('a' + i % 26);
    std::vector<std::uint8_t> pkt;
    proto::append_code_packet(pkt, type, id, 200, {}, content);
    return pkt;
}

std::span<std::uint8_t> scratch() {
    static std::vector<std::uint8_t> buf(256 * 1024);
    return buf;
}

packet_conn::~packet_conn() {
    if (fd_ >= 0) ::close(fd_);
}

packet_conn::packet_conn(packet_conn&& o) noexcept
    : out(std::move(o.out)), fd_(o.fd_), reader_(std::move(o.reader_)), out_sent_(o.out_sent_) {
    o.fd_ = -1;
    o.out_sent_ = 0;
}

int packet_conn::release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

bool packet_conn::flush() {
    while (out_sent_ < out.size()) {
        const long n = ::send(fd_, out.data() + out_sent_, out.size() - out_sent_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
            throw_errno("write");
        }
        out_sent_ += static_cast<std::size_t>(n);
        if (out_sent_ < out.size()) {
            // One write per wake-up: what the kernel did not take waits for EPOLLOUT.
            // Drop the written prefix once it is most of the buffer, so a peer that
            // is always a little behind does not make the buffer grow for ever.
            if (out_sent_ >= 64 * 1024 && out_sent_ * 2 >= out.size()) {
                out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out_sent_));
                out_sent_ = 0;
            }
            return false;
        }
    }
    out.clear();
    out_sent_ = 0;
    return true;
}

void packet_conn::flush_blocking() {
    while (out_sent_ < out.size()) {
        const long n = ::send(fd_, out.data() + out_sent_, out.size() - out_sent_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            // A blocking socket says EAGAIN only when SO_SNDTIMEO ran out.
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                throw bench_error("write: the peer stopped reading");
            throw_errno("write");
        }
        out_sent_ += static_cast<std::size_t>(n);
    }
    out.clear();
    out_sent_ = 0;
}

}  // namespace junction::bench
