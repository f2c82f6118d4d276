// junction-bench: what one hop through junctiond costs, next to no hop at all
// (client and provider on one socket) and to the cheapest competent hop (the
// minimal relay, relay.cpp); what the library, the RPC layer and the searpc
// gateway add on top; and the D-Bus brokers doing the same echo. See
// docs/performance.md.
//
// Flow: parse options ─▶ pin this process (it is the client) ─▶ for each
// system (systems.hpp): start it (hub process exec'd, echo provider forked and
// registered, its client_driver made) ─▶ run every workload it supports,
// sampling the hub's CPU time at the edges of each pipelined window ─▶ stop it
// ─▶ the scaling sweeps, memory and start-up of junctiond (scaling.hpp)
// ─▶ print the tables (values, ratios, scaling) and write the JSON.
//
// `junction-bench relay --socket PATH` runs the relay itself; the bench starts
// it that way, as a process of its own.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "client.hpp"
#include "process.hpp"
#include "provider.hpp"
#include "relay.hpp"
#include "report.hpp"
#include "scaling.hpp"
#include "systems.hpp"
#include "wire.hpp"

#ifndef JUNCTION_VERSION
#define JUNCTION_VERSION "0.0.0"
#endif

namespace junction::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

struct options {
    std::string pin;  // "" = split when two CPUs are allowed, else one
    std::string json_path;
    std::string check_json_path;
    unsigned duration_ms = 1000;
    std::size_t iterations = 10000;
    std::size_t connections = 8;
    std::size_t in_flight = 16;
    std::vector<std::string> only = system_names();
    std::string junctiond;
    bool markdown = false;
    unsigned reply_timeout_ms = 5000;
    unsigned rounds = 1;
    std::vector<std::string> workloads = all_workloads;
    std::string hub_prefix;  // e.g. "valgrind --tool=callgrind": the hub runs under it
    std::string scaling = "full";  // none, quick, full (scaling.hpp)
    bool only_scaling = false;

    bool wants(const std::string& w) const {
        return std::find(workloads.begin(), workloads.end(), w) != workloads.end();
    }
};

// The junctiond built next to the bench (build tree: <build>/tools/junction-bench
// and <build>/daemon/junctiond; installed: bin/ and sbin/).
std::string default_junctiond() {
    const fs::path dir = fs::path(self_exe()).parent_path();
    for (const char* rel : {"../daemon/junctiond", "../sbin/junctiond"}) {
        const fs::path p = (dir / rel).lexically_normal();
        if (fs::exists(p)) return p.string();
    }
    return (dir / "../daemon/junctiond").lexically_normal().string();
}

struct percentiles {
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

// Nearest rank.
percentiles summarize(std::vector<double> v) {
    if (v.empty()) throw bench_error("no samples");
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
        return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
    };
    return {at(0.50), at(0.99), at(0.999), v.back()};
}

class measurement {
public:
    measurement(running_system& rs, const system_def& def, const options& opt, system_result& out)
        : rs_(rs), def_(def), client_(*rs.client), opt_(opt), out_(out) {}

    void run_all() {
        for (const auto& w : all_workloads)
            if (wants(w)) out_.workloads.push_back(w);
        if (wants("seq64")) sequential(64);
        if (wants("seq4k")) sequential(4096);
        if (wants("seq60k")) sequential(61440);
        if (wants("fresh")) fresh_sessions();
        if (wants("x1")) pipelined("pipelined_x1", opt_.connections, 1, 64);
        if (wants("xk")) pipelined("pipelined_xk", opt_.connections, opt_.in_flight, 64);
        if (wants("bandwidth")) pipelined("bandwidth", opt_.connections, 1, 61440);
        if (rs_.hub_pid > 0) {
            const memory_use m = read_memory(rs_.hub_pid);
            out_.figures["hub_rss_kib"] = static_cast<double>(m.rss_kib);
            out_.details["hub_hwm_kib"] = static_cast<double>(m.hwm_kib);
        }
    }

private:
    // Asked for on the command line, and something this system can do.
    bool wants(const std::string& w) const {
        return opt_.wants(w) &&
               std::find(def_.workloads.begin(), def_.workloads.end(), w) != def_.workloads.end();
    }

    sequential_spec seq_spec(std::size_t payload) const {
        sequential_spec s;
        s.payload_size = payload;
        s.iterations = opt_.iterations;
        s.warmup = std::clamp<std::size_t>(opt_.iterations / 10, 10, 1000);
        // Bounded in time as well as in count: a slow system gives fewer samples, not a hang.
        s.time_cap = milliseconds(std::max<unsigned>(opt_.duration_ms * 5, 2000));
        s.reply_timeout = milliseconds(opt_.reply_timeout_ms);
        return s;
    }

    void progress(const std::string& what) {
        std::fprintf(stderr, "  %-10s %s\n", rs_.name.c_str(), what.c_str());
    }

    void sequential(std::size_t size) {
        const percentiles p = summarize(client_.sequential(rs_.ep, seq_spec(size)));
        const std::string base = "seq_" + std::to_string(size);
        out_.figures[base + "_p50_us"] = p.p50;
        out_.figures[base + "_p99_us"] = p.p99;
        out_.figures[base + "_p999_us"] = p.p999;
        out_.details[base + "_max_us"] = p.max;
        char buf[160];
        std::snprintf(buf, sizeof buf, "seq %5zu B   p50 %8.1f  p99 %8.1f  p99.9 %8.1f µs", size,
                      p.p50, p.p99, p.p999);
        progress(buf);
    }

    void fresh_sessions() {
        const auto samples = client_.fresh_sessions(rs_.ep, seq_spec(64));
        const percentiles p = summarize(samples);
        out_.figures["fresh_session_p50_us"] = p.p50;
        out_.details["fresh_session_p99_us"] = p.p99;
        out_.details["fresh_session_samples"] = static_cast<double>(samples.size());
        char buf[160];
        std::snprintf(buf, sizeof buf, "fresh session p50 %8.1f  p99 %8.1f µs (%zu sessions)", p.p50,
                      p.p99, samples.size());
        progress(buf);
    }

    void pipelined(const std::string& key, std::size_t n, std::size_t k, std::size_t payload) {
        pipelined_spec spec;
        spec.connections = n;
        spec.in_flight = k;
        spec.payload_size = payload;
        spec.warmup = milliseconds(std::max<unsigned>(opt_.duration_ms / 5, 20));
        spec.duration = milliseconds(opt_.duration_ms);
        spec.reply_timeout = milliseconds(opt_.reply_timeout_ms);

        // CPU time of every process in the call path, over exactly the counted window.
        struct sample {
            cpu_time hub, provider, client;
        } start{}, end{};
        auto take = [&](sample& s) {
            if (rs_.hub_pid > 0) s.hub = read_cpu_time(rs_.hub_pid);
            s.provider = read_cpu_time(rs_.provider.pid());
            s.client = read_cpu_time(::getpid());
        };
        const pipelined_result r =
            client_.pipelined(rs_.ep, spec, {[&] { take(start); }, [&] { take(end); }});
        if (r.calls == 0 || r.seconds <= 0) throw bench_error(key + ": no call completed");
        const double calls = static_cast<double>(r.calls);
        const double rate = calls / r.seconds;
        auto per_call_us = [&](const cpu_time& a, const cpu_time& b, bool sched) {
            return ((sched ? b.sched_seconds - a.sched_seconds : b.stat_seconds - a.stat_seconds) * 1e6) /
                   calls;
        };
        out_.details[key + "_calls"] = calls;
        out_.details[key + "_seconds"] = r.seconds;
        // The peers' CPU from schedstat (ns) when the kernel has it: clock ticks are too coarse there.
        const bool sched = start.client.sched_seconds >= 0;
        out_.details[key + "_provider_cpu_us_per_call"] = per_call_us(start.provider, end.provider, sched);
        out_.details[key + "_client_cpu_us_per_call"] = per_call_us(start.client, end.client, sched);
        std::string extra;
        if (rs_.hub_pid > 0) {
            const double hub = per_call_us(start.hub, end.hub, false);
            out_.details[key + "_hub_cpu_us_per_call"] = hub;
            if (start.hub.sched_seconds >= 0)
                out_.details[key + "_hub_cpu_us_per_call_schedstat"] = per_call_us(start.hub, end.hub, true);
            out_.details[key + "_hub_cpu_share"] = (end.hub.stat_seconds - start.hub.stat_seconds) / r.seconds;
            if (key == "pipelined_x1") out_.figures["hub_cpu_us_per_call_x1"] = hub;
            if (key == "pipelined_xk") out_.figures["hub_cpu_us_per_call_xk"] = hub;
            char buf[80];
            std::snprintf(buf, sizeof buf, "  hub CPU %.2f µs/call", hub);
            extra = buf;
        }
        char buf[200];
        if (key == "bandwidth") {
            const double mbps = rate * static_cast<double>(payload) / 1e6;
            out_.figures["bandwidth_mb_per_s"] = mbps;
            std::snprintf(buf, sizeof buf, "%zu×%zu %zu B  %8.1f MB/s (%.0f calls/s)%s", n, k, payload,
                          mbps, rate, extra.c_str());
        } else {
            out_.figures[key + "_calls_per_s"] = rate;
            std::snprintf(buf, sizeof buf, "%zu×%zu %zu B  %9.0f calls/s%s", n, k, payload, rate,
                          extra.c_str());
        }
        progress(buf);
    }

    running_system& rs_;
    const system_def& def_;
    client_driver& client_;
    const options& opt_;
    system_result& out_;
};

system_result run_system(const system_def& def, unsigned round, const options& opt, const pin_plan& plan,
                         const temp_dir& tmp) {
    system_result res;
    res.name = def.name;
    res.supported = def.workloads;
    if (const std::string why = def.unavailable(); !why.empty()) {
        res.skipped = why;
        std::fprintf(stderr, "  %-10s skipped: %s\n", def.name.c_str(), why.c_str());
        return res;
    }
    system_context ctx;
    ctx.name = def.name;
    ctx.round = round;
    ctx.plan = &plan;
    ctx.tmp = &tmp;
    ctx.junctiond = opt.junctiond;
    ctx.hub_prefix = opt.hub_prefix;
    ctx.timeout = milliseconds(opt.reply_timeout_ms);
    running_system rs;
    rs.name = def.name;
    rs.ep = {ctx.file(".sock"), echo_service};
    rs.log_path = ctx.file(".log");
    try {
        def.start(rs, ctx);
        measurement(rs, def, opt, res).run_all();
    } catch (const std::exception& e) {
        res.ok = false;
        res.error = e.what();
        if (rs.hub.pid() > 0 && !rs.hub.running())
            res.error += " (" + def.name + " died: " + tail_of(rs.log_path) + ")";
        std::fprintf(stderr, "  %-10s FAILED: %s\n", def.name.c_str(), res.error.c_str());
    }
    rs.client.reset();  // the library's client ends its sessions and disconnects here
    rs.provider.stop();
    const pid_t launched = rs.hub_pid, launcher = rs.hub.pid();
    const int status = rs.hub.stop();
    // A hub process the hub launched (dbus-broker under its launcher) is not our
    // child: make sure it is gone before the next system's figures are taken.
    if (launched > 0 && launched != launcher) stop_orphan(launched, milliseconds(3000));
    for (auto& c : rs.others) c.stop();
    if (rs.hub_exits_zero && res.ok && status != 0) {
        res.ok = false;
        res.error = def.name + " exited with status " + std::to_string(status) + ": " + tail_of(rs.log_path);
    }
    return res;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One result from several rounds: each value is the median of the rounds that succeeded.
system_result merge_rounds(const std::vector<system_result>& rounds) {
    if (rounds.size() == 1) return rounds.front();
    system_result m;
    m.name = rounds.front().name;
    m.skipped = rounds.front().skipped;
    m.workloads = rounds.front().workloads;
    m.supported = rounds.front().supported;
    std::map<std::string, std::vector<double>> figures, details;
    for (const auto& r : rounds) {
        if (!r.ok) {
            m.ok = false;
            if (m.error.empty()) m.error = r.error;
            continue;
        }
        for (const auto& [k, v] : r.figures) figures[k].push_back(v);
        for (const auto& [k, v] : r.details) details[k].push_back(v);
        m.round_figures.push_back(r.figures);
    }
    for (const auto& [k, v] : figures) m.figures[k] = median(v);
    for (const auto& [k, v] : details) m.details[k] = median(v);
    return m;
}

int run_bench(options opt) {
    const std::size_t cpus = allowed_cpu_count();
    if (opt.pin.empty()) opt.pin = cpus >= 2 ? "split" : "one";
    const pin_mode mode = opt.pin == "none" ? pin_mode::none : opt.pin == "one" ? pin_mode::one : pin_mode::split;
    const pin_plan plan = pin_plan::make(mode);
    const scaling_mode scaling = parse_scaling_mode(opt.scaling);
    if (opt.only_scaling && scaling == scaling_mode::none)
        throw bench_error("--only-scaling with --scaling none measures nothing");
    // Run in the canonical order whatever order --only lists them in.
    std::vector<const system_def*> systems;
    for (const auto& d : system_defs())
        if (!opt.only_scaling && std::find(opt.only.begin(), opt.only.end(), d.name) != opt.only.end())
            systems.push_back(&d);
    if (scaling != scaling_mode::none ||
        std::any_of(systems.begin(), systems.end(), [](auto* d) { return d->needs_junctiond; })) {
        if (opt.junctiond.empty()) opt.junctiond = default_junctiond();
        if (::access(opt.junctiond.c_str(), X_OK) != 0)
            throw bench_error("no junctiond at " + opt.junctiond + " (use --junctiond PATH)");
    }

    run_info info;
    info.version = JUNCTION_VERSION;
    info.pin = opt.pin;
    info.pin_detail = plan.describe();
    info.cpus = cpus;
    info.duration_ms = opt.duration_ms;
    info.iterations = opt.iterations;
    info.connections = opt.connections;
    info.in_flight = opt.in_flight;
    info.rounds = opt.rounds;
    info.junctiond = opt.junctiond;
    for (const auto* d : systems) {
        info.systems.push_back(d->name);
        info.descriptions.push_back(d->description);
    }
    info.workloads = opt.workloads;
    info.scaling = opt.scaling;

    pin_self(plan.cpu_for(role::client));
    std::fprintf(stderr, "junction-bench %s: pin %s; %zu CPUs; %u ms per throughput run; %zu iterations\n",
                 JUNCTION_VERSION, plan.describe().c_str(), cpus, opt.duration_ms, opt.iterations);

    info.loadavg_start = read_loadavg();
    temp_dir tmp;
    // Rounds interleave the systems (direct, relay, junctiond, direct, ...) so that
    // a noisy neighbour's burst lands on all of them alike; each figure is then
    // the median over the rounds.
    std::vector<std::vector<system_result>> per_round(systems.size());
    for (unsigned r = 0; r < opt.rounds; ++r) {
        if (opt.rounds > 1) std::fprintf(stderr, "round %u of %u\n", r + 1, opt.rounds);
        for (std::size_t i = 0; i < systems.size(); ++i)
            per_round[i].push_back(run_system(*systems[i], r, opt, plan, tmp));
    }
    std::vector<system_result> results;
    for (auto& rounds : per_round) results.push_back(merge_rounds(rounds));
    scaling_options so;
    so.mode = scaling;
    so.duration_ms = opt.duration_ms;
    so.iterations = opt.iterations;
    so.connections = opt.connections;
    so.in_flight = opt.in_flight;
    so.reply_timeout_ms = opt.reply_timeout_ms;
    so.junctiond = opt.junctiond;
    so.hub_prefix = opt.hub_prefix;
    const scaling_result sr = run_scaling(so, plan, tmp);
    info.loadavg_end = read_loadavg();

    if (!systems.empty()) {
        std::cout << "\n";
        print_table(std::cout, info, results, opt.markdown);
        std::cout << "\nratios are value / baseline: under 1 is faster for µs, slower for calls/s and MB/s\n";
    }
    if (scaling != scaling_mode::none) {
        std::cout << "\n";
        print_scaling(std::cout, sr, opt.markdown);
    }
    if (!opt.json_path.empty())
        write_json(opt.json_path, info, results, scaling != scaling_mode::none ? &sr : nullptr);
    return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.ok; }) && sr.ok() ? 0 : 1;
}

}  // namespace
}  // namespace junction::bench

int main(int argc, char** argv) {
    using namespace junction::bench;
    options opt;
    std::string relay_socket;

    CLI::App app{"junction-bench: junctiond against no hop (direct) and a minimal relay"};
    app.set_version_flag("--version", std::string("junction-bench ") + JUNCTION_VERSION);
    app.add_option("--pin", opt.pin,
                   "none: no pinning; one: every process on one CPU; split: client and provider "
                   "on one CPU, the hub on another (default: split, or one on a single CPU)")
        ->check(CLI::IsMember({"none", "one", "split"}));
    app.add_option("--json", opt.json_path, "Write every figure to this JSON file");
    app.add_option("--check-json", opt.check_json_path,
                   "Only check that a JSON file written by --json has every figure of every system");
    app.add_option("--duration-ms", opt.duration_ms, "Length of each throughput measurement")
        ->capture_default_str()
        ->check(CLI::Range(10u, 600000u));
    app.add_option("--iterations", opt.iterations, "Samples per latency measurement")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{10}, std::size_t{10000000}));
    app.add_option("--connections", opt.connections, "Client connections in the pipelined runs")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
    app.add_option("--in-flight", opt.in_flight,
                   "Calls in flight per connection (each its own session) in the N×K run")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{4096}));
    app.add_option("--only", opt.only, "Systems to measure, comma-separated")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::IsMember(system_names()));
    app.add_option("--junctiond", opt.junctiond,
                   "junctiond binary (default: ../daemon/junctiond next to this program)");
    app.add_option("--reply-timeout-ms", opt.reply_timeout_ms,
                   "A call not answered within this fails the system's run")
        ->capture_default_str()
        ->check(CLI::Range(100u, 600000u));
    app.add_option("--rounds", opt.rounds,
                   "Run the systems this many times, interleaved; report each figure's median")
        ->capture_default_str()
        ->check(CLI::Range(1u, 100u));
    app.add_option("--workloads", opt.workloads, "Workloads to run, comma-separated")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::IsMember(all_workloads));
    app.add_option("--hub-prefix", opt.hub_prefix,
                   "Run the hub (relay or junctiond) under this command, e.g. "
                   "\"valgrind --tool=callgrind\" (profiling; its CPU figures are then meaningless)");
    app.add_option("--scaling", opt.scaling,
                   "After the systems: junctiond's scaling sweeps (sessions, connections, services), "
                   "memory per connection/session and start-up time. quick: first and last point only")
        ->capture_default_str()
        ->check(CLI::IsMember({"none", "quick", "full"}));
    app.add_flag("--only-scaling", opt.only_scaling, "Run the scaling part only, no systems");
    app.add_flag("--markdown", opt.markdown, "Print the table as Markdown");
    CLI::App* relay = app.add_subcommand("relay", "Run the minimal relay (the bench starts it itself)");
    relay->add_option("--socket", relay_socket, "Unix socket to listen on")->required();
    CLI11_PARSE(app, argc, argv);

    if (*relay) return run_relay(relay_socket);
    if (!opt.check_json_path.empty()) return check_json(opt.check_json_path, std::cout, std::cerr);

    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run_bench(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "junction-bench: %s\n", e.what());
        return 2;
    }
}
