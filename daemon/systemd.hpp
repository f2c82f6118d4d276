// What junctiond tells systemd and what systemd hands junctiond (libsystemd,
// plain POSIX, no Asio). Every function is a no-op or returns "nothing" when
// the daemon does not run under systemd, so callers need no checks.
//
// Flow:
//   start:    listen_fds() ─▶ pick_listen_fd(fds, "junction") ─▶ the acceptor's fd
//             (socket activation; otherwise the server binds its own socket)
//             notify_ready() + notify_status() once the acceptor is listening
//   running:  notify_watchdog() every watchdog_interval() / 2 (from the event loop)
//             notify_status() every few seconds
//   reload:   notify_reloading() ... apply ... notify_ready()
//   stop:     notify_stopping() as shutdown begins
//   logging:  stderr_is_journal() ─▶ main.cpp prints "<N>" priorities, no timestamps
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace junction::daemon::systemd {

// --- sd_notify(3): a no-op when NOTIFY_SOCKET is unset ---------------------------

void notify_ready();                         // READY=1
void notify_status(const std::string& text);  // STATUS=<text> (one line; newlines become spaces)
// RELOADING=1 with MONOTONIC_USEC (as Type=notify-reload wants). Call notify_ready()
// when the new configuration is in force.
void notify_reloading();
void notify_stopping();  // STOPPING=1
void notify_watchdog();  // WATCHDOG=1

// The watchdog interval systemd expects pings within (WatchdogSec=), or nullopt
// when the watchdog is off. Ping at half of it.
std::optional<std::chrono::microseconds> watchdog_interval();

// --- Socket activation (sd_listen_fds_with_names(3)) ------------------------------

struct listen_fd {
    int fd = -1;
    std::string name;  // FileDescriptorName= ("unknown" when systemd gave none)
};

// The sockets systemd passed (LISTEN_FDS), in order; empty when not socket-activated.
// Unsets LISTEN_* so nothing the daemon might start inherits them. Call once.
std::vector<listen_fd> listen_fds();

// The fd to accept on: the one named `name`, or the only fd whatever its name.
// Returns nullopt when `fds` is empty. Throws std::system_error with a clear
// message when the choice is ambiguous or the fd is not a listening AF_UNIX
// stream socket. The chosen fd is made close-on-exec and non-blocking.
std::optional<int> pick_listen_fd(const std::vector<listen_fd>& fds, std::string_view name);

// --- Logging ----------------------------------------------------------------------

// True when fd 2 is the stream systemd connected to journald (JOURNAL_STREAM=dev:ino
// matches fd 2's st_dev:st_ino). Then log lines should carry "<N>" syslog priority
// prefixes and no timestamps of their own.
bool stderr_is_journal();

}  // namespace junction::daemon::systemd
