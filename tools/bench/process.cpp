// Child processes, pinning, /proc: see process.hpp.
#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "wire.hpp"

namespace junction::bench {

namespace {

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) throw_errno("sched_getaffinity");
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

// In a freshly forked child: die with the bench, sit on the right CPU.
void prepare_child(pid_t bench, std::optional<int> cpu) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != bench) ::_exit(1);  // the bench died before prctl
    if (cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(*cpu, &set);
        if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(126);
    }
    ::signal(SIGPIPE, SIG_DFL);
}

int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

}  // namespace

pin_plan pin_plan::make(pin_mode mode) {
    pin_plan p;
    p.mode = mode;
    const auto cpus = allowed_cpus();
    if (!cpus.empty()) p.first = cpus[0];
    if (cpus.size() > 1) p.second = cpus[1];
    if (mode != pin_mode::none && p.first < 0) throw bench_error("no CPU to pin to");
    if (mode == pin_mode::split && p.second < 0)
        throw bench_error("--pin split needs two CPUs; this process may use one");
    return p;
}

std::optional<int> pin_plan::cpu_for(role r) const {
    switch (mode) {
        case pin_mode::none: return std::nullopt;
        case pin_mode::one: return first;
        case pin_mode::split: return r == role::hub ? second : first;
    }
    return std::nullopt;
}

std::string pin_plan::describe() const {
    switch (mode) {
        case pin_mode::none: return "none (the scheduler places every process)";
        case pin_mode::one: return "one (client, provider, hub on CPU " + std::to_string(first) + ")";
        case pin_mode::split:
            return "split (client + provider on CPU " + std::to_string(first) + ", hub on CPU " +
                   std::to_string(second) + ")";
    }
    return {};
}

void pin_self(std::optional<int> cpu) {
    if (!cpu) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) throw_errno("sched_setaffinity");
}

std::size_t allowed_cpu_count() { return allowed_cpus().size(); }

child& child::operator=(child&& o) noexcept {
    if (this != &o) {
        stop();
        pid_ = o.pid_;
        status_ = o.status_;
        o.pid_ = -1;
    }
    return *this;
}

child::~child() { stop(); }

child child::exec(const std::vector<std::string>& argv, const std::string& log_path,
                  std::optional<int> cpu) {
    const pid_t bench = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        prepare_child(bench, cpu);
        const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log >= 0) {
            ::dup2(log, 1);
            ::dup2(log, 2);
        }
        if (null >= 0) ::dup2(null, 0);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        std::fprintf(stderr, "junction-bench: exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    return child(pid);
}

child child::fork(const std::function<void()>& body, std::optional<int> cpu) {
    const pid_t bench = ::getpid();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        prepare_child(bench, cpu);
        // Whatever happens in the body, the child never returns into the bench's own code.
        try {
            body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "junction-bench child: %s\n", e.what());
            std::fflush(stderr);
            ::_exit(127);
        } catch (...) {
            ::_exit(127);
        }
        ::_exit(0);
    }
    return child(pid);
}

bool child::running() {
    if (pid_ < 0 || status_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = decode_status(st);
        return false;
    }
    return true;
}

int child::stop(std::chrono::milliseconds grace) {
    if (pid_ < 0) return -1;
    if (running()) {
        ::kill(pid_, SIGTERM);
        const auto deadline = clock::now() + grace;
        while (running() && clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (running()) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
            status_ = decode_status(st);
        }
    }
    pid_ = -1;
    return status_.value_or(-1);
}

cpu_time read_cpu_time(pid_t pid) {
    cpu_time t;
    {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        std::getline(in, line);
        // Fields after the command name, which may hold spaces: state is field 3,
        // utime field 14 and stime field 15.
        const auto close = line.rfind(')');
        if (close == std::string::npos) throw bench_error("cannot read /proc/" + std::to_string(pid) + "/stat");
        std::istringstream fields(line.substr(close + 2));
        std::string f;
        unsigned long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && fields >> f; ++i) {
            if (i == 14) utime = std::stoull(f);
            if (i == 15) stime = std::stoull(f);
        }
        t.stat_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    std::ifstream sched("/proc/" + std::to_string(pid) + "/schedstat");
    unsigned long long ns = 0;
    if (sched >> ns) t.sched_seconds = static_cast<double>(ns) / 1e9;
    return t;
}

memory_use read_memory(pid_t pid) {
    memory_use m;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("VmRSS:")) m.rss_kib = std::strtol(line.c_str() + 6, nullptr, 10);
        if (line.starts_with("VmHWM:")) m.hwm_kib = std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return m;
}

std::string read_loadavg() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

namespace {

// Gone, or a zombie nobody has reaped yet (PID 1 of a container may never).
bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0) return errno == ESRCH;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    return paren == std::string::npos || (paren + 2 < line.size() && line[paren + 2] == 'Z');
}

}  // namespace

void stop_orphan(pid_t pid, std::chrono::milliseconds grace) {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (!process_gone(pid)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::string self_exe() {
    std::string buf(4096, '\0');
    const long n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    if (n <= 0) throw_errno("readlink /proc/self/exe");
    buf.resize(static_cast<std::size_t>(n));
    return buf;
}

}  // namespace junction::bench
