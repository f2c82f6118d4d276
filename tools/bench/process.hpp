// The bench's child processes (hub, echo provider), CPU pinning, and what
// /proc says about a process (CPU time, memory).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace junction::bench {

// none:  nobody is pinned;
// one:   client, provider and hub all on the first CPU;
// split: client and provider on the first CPU, the hub on the second.
enum class pin_mode { none, one, split };
enum class role { client, provider, hub };

struct pin_plan {
    pin_mode mode = pin_mode::none;
    int first = -1;   // the first two CPUs this process may run on
    int second = -1;

    // Throws bench_error when `split` is asked for on fewer than two CPUs.
    static pin_plan make(pin_mode mode);
    std::optional<int> cpu_for(role r) const;
    std::string describe() const;
};

// Pins the calling process (and the threads and children it creates later).
void pin_self(std::optional<int> cpu);
std::size_t allowed_cpu_count();

class child {
public:
    child() = default;
    ~child();
    child(child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
    child& operator=(child&& o) noexcept;
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    // fork + exec; stdout and stderr go to `log_path`. The child is pinned
    // before exec and dies with the bench (PR_SET_PDEATHSIG).
    static child exec(const std::vector<std::string>& argv, const std::string& log_path,
                      std::optional<int> cpu);
    // fork; the child runs `body` (which should not return) and then _exits.
    static child fork(const std::function<void()>& body, std::optional<int> cpu);

    pid_t pid() const noexcept { return pid_; }
    bool running();
    // SIGTERM, then SIGKILL if it is still there after `grace`; reaps it. Returns
    // the exit status (128+signal when killed), or -1 if nothing ran.
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

private:
    explicit child(pid_t pid) noexcept : pid_(pid) {}
    pid_t pid_ = -1;
    std::optional<int> status_;
};

struct cpu_time {
    double stat_seconds = 0;   // utime + stime from /proc/<pid>/stat (clock ticks)
    double sched_seconds = -1; // on-CPU time from /proc/<pid>/schedstat (ns); -1 if absent
};
cpu_time read_cpu_time(pid_t pid);

struct memory_use {
    long rss_kib = -1;  // VmRSS
    long hwm_kib = -1;  // VmHWM, the peak
};
memory_use read_memory(pid_t pid);

// The 1, 5 and 15 minute load averages from /proc/loadavg: a busy neighbour shows here.
std::string read_loadavg();

// Waits up to `grace` for a process that is not our child to go, then SIGKILLs it.
void stop_orphan(pid_t pid, std::chrono::milliseconds grace);

// The running executable's path, from /proc/self/exe.
std::string self_exe();

}  // namespace junction::bench
