// Connections to junctiond made by another uid, for the security tests.
//
// The tests run as root (CI does). To act as a second local user, an
// `other_user` forks a helper process that drops to that identity
// (setgroups + setresgid + setresuid) and stays alive. Asked for a connection,
// the helper connects to the daemon's socket itself, so the kernel records the
// helper's pid/uid/gid/groups for the connection (SO_PEERCRED and SO_PEERGROUPS
// are taken at connect time), and hands the connected socket back to the test
// over a socketpair (SCM_RIGHTS). The test then speaks raw frames on it as
// usual, through a raw_client.
//
//   other_user nobody(identity{65534, 65534, {}});
//   raw_client c = nobody.client(d.socket());   // the daemon sees uid 65534
//   int err = nobody.try_connect(path);         // 0 or the errno of connect()
#pragma once

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.hpp"

namespace junction::test {

struct identity {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;  // supplementary groups
};

inline bool running_as_root() { return ::geteuid() == 0; }

// Every security test starts with this: they need root to become another uid.
#define SECURITY_TEST_NEEDS_ROOT()                                                           \
    do {                                                                                     \
        if (!::junction::test::running_as_root()) {                                          \
            WARN("skipped: this test needs root, to run a second client as uid 65534 "      \
                 "(setresuid); run the suite as root, as CI does");                         \
            return;                                                                          \
        }                                                                                    \
    } while (0)

class other_user {
public:
    explicit other_user(const identity& who) {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            throw std::runtime_error("socketpair failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::close(sv[0]);
            serve(sv[1], who);  // never returns
        }
        ::close(sv[1]);
        control_ = sv[0];
        // A dummy listener: raw_client connects to it, then its socket is swapped for ours.
        dummy_path_ = dir_.file("dummy.sock");
        dummy_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, dummy_path_.c_str(), sizeof addr.sun_path - 1);
        if (::bind(dummy_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(dummy_, 256) != 0)
            throw std::runtime_error("dummy listener failed");
    }

    ~other_user() {
        ::close(control_);  // the helper exits at end of stream
        int st;
        if (!wait_until([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, 2000ms)) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &st, 0);
        }
        ::close(dummy_);
    }

    other_user(const other_user&) = delete;
    other_user& operator=(const other_user&) = delete;

    // The helper's pid: what the daemon reports as the peer's pid.
    pid_t pid() const { return pid_; }

    // Connects to `path` as this user: the connected fd, or -errno.
    int connect_fd(const std::string& path) {
        if (::send(control_, path.data(), path.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(path.size()))
            throw std::runtime_error("helper gone");
        int err = 0;
        iovec iov{&err, sizeof err};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        pollfd p{control_, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1 || ::recvmsg(control_, &msg, MSG_CMSG_CLOEXEC) <= 0)
            throw std::runtime_error("no answer from the helper");
        if (err != 0) return -err;
        const cmsghdr* c = CMSG_FIRSTHDR(&msg);
        if (!c || c->cmsg_type != SCM_RIGHTS) throw std::runtime_error("helper sent no fd");
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        return fd;
    }

    // 0 if connect() succeeds as this user, else its errno.
    int try_connect(const std::string& path) {
        const int fd = connect_fd(path);
        if (fd < 0) return -fd;
        ::close(fd);
        return 0;
    }

    // A raw_client whose socket was connected by this user.
    raw_client client(const std::string& path) {
        const int fd = connect_fd(path);
        if (fd < 0) throw std::runtime_error("connect as other user: " + std::string(std::strerror(-fd)));
        raw_client c(dummy_path_);
        // Keep raw_client's fd number; close-on-exec, so daemons started later do
        // not inherit the connection (and keep it open after the test closes it).
        if (::dup3(fd, c.fd(), O_CLOEXEC) < 0) throw std::runtime_error("dup3 failed");
        ::close(fd);
        return c;
    }

private:
    [[noreturn]] static void serve(int control, const identity& who) {
        // Only system calls from here on: this is a fork of a test process. Drop
        // every inherited descriptor but the control socket, so that connections
        // the test closes are really closed.
        ::close_range(3, static_cast<unsigned>(control) - 1, 0);
        ::close_range(static_cast<unsigned>(control) + 1, ~0u, 0);
        if (::setgroups(who.groups.size(), who.groups.data()) != 0) ::_exit(10);
        if (::setresgid(who.gid, who.gid, who.gid) != 0) ::_exit(11);
        if (::setresuid(who.uid, who.uid, who.uid) != 0) ::_exit(12);
        char path[sizeof(sockaddr_un::sun_path)];
        for (;;) {
            const ssize_t n = ::recv(control, path, sizeof path - 1, 0);
            if (n <= 0) ::_exit(0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::memcpy(addr.sun_path, path, static_cast<std::size_t>(n));
            const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            int err = 0;
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
                err = errno;
            iovec iov{&err, sizeof err};
            alignas(cmsghdr) char control_buf[CMSG_SPACE(sizeof(int))] = {};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            if (err == 0) {
                msg.msg_control = control_buf;
                msg.msg_controllen = sizeof control_buf;
                cmsghdr* c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
            }
            if (::sendmsg(control, &msg, MSG_NOSIGNAL) < 0) ::_exit(13);
            if (fd >= 0) ::close(fd);
        }
    }

    temp_dir dir_;
    std::string dummy_path_;
    int dummy_ = -1;
    int control_ = -1;
    pid_t pid_ = -1;
};

inline const identity nobody{65534, 65534, {}};
// nobody, also in the group `users` (gid 100) as a supplementary group.
inline const identity nobody_in_users{65534, 65534, {100}};

}  // namespace junction::test
