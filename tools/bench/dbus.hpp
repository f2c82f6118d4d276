// The D-Bus brokers as bench systems: dbus-daemon (the reference bus) and
// dbus-broker, each a private bus on a socket in the bench's temp dir, with an
// sd-bus echo provider and an sd-bus client (dbus.cpp).
//
// Flow: start writes an allow-all bus config into the temp dir ─▶ starts the
// bus (dbus-daemon directly; dbus-broker-launch by socket activation in a
// private mount namespace, see dbus.cpp) ─▶ forks the provider, which owns the
// name org.junction.Bench and answers Echo(ay) → ay with the bytes it got ─▶
// the bench's client calls Echo with a byte array of the workload's payload
// size: one sd_bus_call at a time (seq*), or N buses × K sd_bus_call_async in
// flight driven by one poll loop (x1, xk, bandwidth). There is no session to
// open, so the fresh-session workload does not apply.
#pragma once

#include <string>

#include "systems.hpp"

namespace junction::bench {

// D-Bus has no session to open: every workload but `fresh`.
inline const std::vector<std::string> dbus_workloads{"seq64", "seq4k", "seq60k",
                                                     "x1",    "xk",    "bandwidth"};

// Empty when dbus-daemon is on PATH, else why the system is skipped.
std::string dbus_daemon_unavailable();
void start_dbus_daemon(running_system& rs, const system_context& ctx);

// Empty when dbus-broker-launch is on PATH and this process may make a private
// mount namespace (root or CAP_SYS_ADMIN), else why the system is skipped.
std::string dbus_broker_unavailable();
void start_dbus_broker(running_system& rs, const system_context& ctx);

}  // namespace junction::bench
