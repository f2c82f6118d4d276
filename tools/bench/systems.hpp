// The systems the bench measures, each started the same way and driven
// through a client_driver (client.hpp).
//
// A system is a name, the workloads it can run, a check that says why it
// cannot run on this machine (a missing program: then it is reported as
// skipped, not failed), and a start function that brings up its processes:
// the hub that carries the hop (none for direct), the echo provider, and the
// client the workloads talk through. main.cpp owns the orchestration (rounds,
// pinning, CPU sampling, the table); adding a system is one entry in
// system_defs() (systems.cpp) and the code that starts it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client.hpp"
#include "process.hpp"

namespace junction::bench {

// seq64/seq4k/seq60k: sequential round trips; fresh: new sessions; x1 and xk:
// pipelined N×1 and N×K; bandwidth: N×1 with 60 KiB.
inline const std::vector<std::string> all_workloads{"seq64", "seq4k", "seq60k", "fresh",
                                                    "x1",    "xk",    "bandwidth"};

// A directory removed with everything in it when the bench ends.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// What a start function gets: where to put its sockets and logs, how to pin.
struct system_context {
    std::string name;
    unsigned round = 0;
    const pin_plan* plan = nullptr;
    const temp_dir* tmp = nullptr;
    std::string junctiond;   // the junctiond binary
    std::string hub_prefix;  // e.g. "valgrind --tool=callgrind", run in front of the hub
    std::vector<std::string> hub_args;  // appended to junctiond's arguments (scaling.cpp: raised limits)
    std::chrono::milliseconds timeout{5000};

    // A fresh file name per system and round: a relay or a direct provider leaves its socket behind.
    std::string file(const std::string& suffix) const;
};

// One system, running.
struct running_system {
    std::string name;
    endpoint ep;
    std::unique_ptr<client_driver> client;
    child hub;         // the process that carries the hop; none for direct
    pid_t hub_pid = -1;  // whose CPU and memory are the hop's (hub.pid(), or a process the hub launched)
    child provider;
    std::vector<child> others;  // anything else it needs, stopped after the hub
    std::string log_path;       // the hub's output, shown when it fails
    bool hub_exits_zero = false;  // on SIGTERM (junctiond does; a crash under load is worth reporting)
};

struct system_def {
    std::string name;
    std::string description;              // one line, for --help and docs
    std::vector<std::string> workloads;   // the ones it can run; the others are left out
    bool needs_junctiond = false;
    // Empty when the system can run here, else why not (printed; the system is skipped).
    std::function<std::string()> unavailable;
    std::function<void(running_system&, const system_context&)> start;
};

// Every system, in the order the bench runs and prints them.
const std::vector<system_def>& system_defs();
const system_def* find_system(const std::string& name);
std::vector<std::string> system_names();

// Helpers for start functions.
std::string resolve_program(const std::string& name);  // as a shell finds it on PATH
std::string tail_of(const std::string& path);           // the last 2,000 bytes of a log
// Starts `argv` (after ctx.hub_prefix) as rs.hub, output in rs.log_path, pinned as the hub,
// and waits until `socket_path` accepts connections.
void start_hub(running_system& rs, const system_context& ctx, std::vector<std::string> argv,
               const std::string& socket_path);
// Waits until `socket_path` accepts, failing early if `watched` exits.
void wait_for_socket(const std::string& socket_path, child& watched, const std::string& what,
                     const std::string& log_path, std::chrono::milliseconds timeout);

// junctiond on rs.ep.socket_path as the hub, with ctx.hub_args and then `extra`.
void start_junctiond(running_system& rs, const system_context& ctx, const std::vector<std::string>& extra = {});
// junctiond (with ctx.hub_args) and the raw echo provider; the raw client.
void start_junctiond_raw(running_system& rs, const system_context& ctx);

// The library's client and providers (lib_systems.cpp): junctiond with the
// library on both ends, the RPC layer, and the searpc gateway.
void start_junctiond_lib(running_system& rs, const system_context& ctx);
void start_junctiond_rpc(running_system& rs, const system_context& ctx);
void start_junctiond_searpc(running_system& rs, const system_context& ctx);

}  // namespace junction::bench
