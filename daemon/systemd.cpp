#include "systemd.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>

#include <systemd/sd-daemon.h>

namespace junction::daemon::systemd {

namespace {

// sd_notify() returns <0 on a send error, 0 when NOTIFY_SOCKET is unset. A lost
// notification is not worth stopping the broker for: systemd's own timeouts
// (TimeoutStartSec=, WatchdogSec=) make it visible.
void notify(const std::string& state) { ::sd_notify(0, state.c_str()); }

[[noreturn]] void fail(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

void notify_ready() { notify("READY=1"); }

void notify_status(const std::string& text) {
    std::string line = text;
    std::replace(line.begin(), line.end(), '\n', ' ');
    notify("STATUS=" + line);
}

void notify_reloading() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                      static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() { notify("STOPPING=1"); }

void notify_watchdog() { notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_interval() {
    std::uint64_t usec = 0;
    if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
    return std::chrono::microseconds(usec);
}

std::vector<listen_fd> listen_fds() {
    char** names = nullptr;
    const int n = ::sd_listen_fds_with_names(1, &names);
    std::vector<listen_fd> out;
    for (int i = 0; i < std::max(n, 0); ++i) {
        out.push_back({SD_LISTEN_FDS_START + i,
                       names && names[i] ? std::string(names[i]) : std::string("unknown")});
    }
    if (names) {
        for (int i = 0; i < std::max(n, 0); ++i) std::free(names[i]);
        std::free(names);
    }
    return out;
}

std::optional<int> pick_listen_fd(const std::vector<listen_fd>& fds, std::string_view name) {
    if (fds.empty()) return std::nullopt;
    int fd = -1;
    for (const listen_fd& f : fds) {
        if (f.name != name) continue;
        if (fd >= 0) fail(EINVAL, "socket activation: more than one fd named " + std::string(name));
        fd = f.fd;
    }
    if (fd < 0 && fds.size() == 1) fd = fds.front().fd;
    if (fd < 0)
        fail(EINVAL, "socket activation: " + std::to_string(fds.size()) +
                         " fds passed and none named " + std::string(name) +
                         " (set FileDescriptorName=" + std::string(name) + ")");
    if (::sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0)
        fail(ENOTSOCK, "socket activation: fd " + std::to_string(fd) +
                           " is not a listening AF_UNIX stream socket (use ListenStream=/path)");
    // systemd passes fds without FD_CLOEXEC; the daemon's own socket has it.
    const int fd_flags = ::fcntl(fd, F_GETFD);
    const int fl_flags = ::fcntl(fd, F_GETFL);
    if (fd_flags < 0 || fl_flags < 0 || ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0 ||
        ::fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK) != 0)
        fail(errno, "socket activation: cannot set flags on fd " + std::to_string(fd));
    return fd;
}

bool stderr_is_journal() {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (!env) return false;
    const std::string_view v(env);
    const auto colon = v.find(':');
    if (colon == std::string_view::npos) return false;
    unsigned long long dev = 0, ino = 0;
    const auto [p1, e1] = std::from_chars(v.data(), v.data() + colon, dev);
    const auto [p2, e2] = std::from_chars(v.data() + colon + 1, v.data() + v.size(), ino);
    if (e1 != std::errc{} || p1 != v.data() + colon || e2 != std::errc{} ||
        p2 != v.data() + v.size())
        return false;
    struct stat st{};
    if (::fstat(2, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev &&
           static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace junction::daemon::systemd
