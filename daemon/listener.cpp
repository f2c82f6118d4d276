#include "listener.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace junction::daemon {

namespace {

[[noreturn]] void fail(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

sockaddr_un make_addr(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) fail(ENAMETOOLONG, "socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

void make_parent_dirs(const std::string& path) {
    for (std::size_t pos = path.find('/', 1); pos != std::string::npos;
         pos = path.find('/', pos + 1)) {
        const std::string dir = path.substr(0, pos);
        if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
            fail(errno, "cannot create directory " + dir);
    }
}

// True if something accepts connections on the socket file at `path`; false
// only when the kernel says nobody listens (ECONNREFUSED): any other failure
// (EACCES, ...) is not proof that the file is stale, so it stops the start.
bool socket_is_live(const sockaddr_un& addr, const std::string& path) {
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) fail(errno, "socket()");
    const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int err = errno;
    ::close(probe);
    if (rc == 0 || err == EAGAIN) return true;  // EAGAIN: a live daemon with a full backlog
    if (err == ECONNREFUSED) return false;
    fail(err, "cannot tell whether " + path + " belongs to a live daemon");
}

}  // namespace

bound_socket bind_unix_listener(const std::string& path, unsigned mode, gid_t gid, int backlog) {
    const sockaddr_un addr = make_addr(path);
    make_parent_dirs(path);

    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            fail(EEXIST, path + " exists and is not a socket (refusing to replace it)");
        if (socket_is_live(addr, path))
            fail(EADDRINUSE, "another daemon is listening on " + path);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            fail(errno, "cannot remove stale socket " + path);
    } else if (errno != ENOENT) {
        fail(errno, "cannot inspect " + path);
    }

    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) fail(errno, "socket()");
    // The socket file gets `mode` without a window where it is wider.
    const mode_t old_umask = ::umask(static_cast<mode_t>(~mode & 0777));
    const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int bind_errno = errno;
    ::umask(old_umask);
    if (rc != 0) {
        ::close(fd);
        // Two daemons racing: the other one bound first.
        fail(bind_errno, "cannot bind " + path);
    }
    // The umask above already gave the file `mode`; the group change must not
    // follow a symlink swapped in after bind().
    if ((gid != static_cast<gid_t>(-1) && ::lchown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) ||
        ::listen(fd, backlog) != 0 ||
        ::lstat(path.c_str(), &st) != 0) {
        const int err = errno;
        ::close(fd);
        fail(err, "cannot listen on " + path);
    }
    return bound_socket{fd, path, st.st_dev, st.st_ino};
}

void unlink_if_ours(const bound_socket& s) noexcept {
    struct stat st{};
    if (s.path.empty() || ::lstat(s.path.c_str(), &st) != 0) return;
    if (S_ISSOCK(st.st_mode) && st.st_dev == s.dev && st.st_ino == s.ino) ::unlink(s.path.c_str());
}

}  // namespace junction::daemon
