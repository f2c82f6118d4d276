// Scaling sweeps, memory per connection / session / service, start-up time:
// see scaling.hpp.
#include "scaling.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdio>
#include <optional>
#include <thread>

#include "client.hpp"
#include "junction/proto/status.hpp"
#include "junction/proto/text.hpp"
#include "provider.hpp"
#include "report.hpp"
#include "systems.hpp"
#include "wire.hpp"

namespace junction::bench {

namespace json = boost::json;

namespace {

using proto::packet_type;
using std::chrono::milliseconds;

constexpr std::size_t max_sessions = 10000;
constexpr std::size_t max_connections = 1000;
constexpr std::size_t max_services = 10000;
// Idle sessions held open per extra connection: 10,000 sessions sit on two connections,
// so the per-session memory is hardly touched by the connections' own.
constexpr std::size_t sessions_per_connection = 5000;
// REQUESTs written in one go before their answers are read: small enough that
// neither side's socket buffer can fill while the other is still writing.
constexpr std::size_t batch = 256;
// File descriptors besides the idle connections: the pipelined run's, the seq
// connection, the provider's, logs, the listening socket (the daemon's share is alike).
constexpr std::size_t fd_margin = 128;
constexpr rlim_t fd_wanted = 4096;
// Turns per daemon per point in full mode, each a 1/full_repeats share of --duration-ms
// and --iterations. A point's ratio is the median of the turns' ratios (measure_pair);
// the values shown are each daemon's best turn (summarize). Short turns make the two
// daemons of a turn share the machine's state: with 7 turns, the worst ratio of a sweep
// wandered between 1.0 and 1.25 from run to run on a noisy VM (session 4), with 21 it
// stayed within 1.01-1.08 over three runs, in the same time.
constexpr unsigned full_repeats = 21;

// junctiond's limits, raised above every count a sweep reaches (daemon/config.cpp).
// clang-format off
const std::vector<std::string> raised_limits{
    "--max-connections",             "65536",
    "--max-connections-per-uid",     "65536",
    "--max-sessions-per-connection", "65536",
    "--max-sessions-per-uid",        "1048576",
    "--max-services-per-connection", "65536"};
// clang-format on

double median(std::vector<double> v) {
    if (v.empty()) throw bench_error("no samples");
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string with_commas(std::size_t n) {
    const std::string digits = std::to_string(n);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

// --- The idle state a sweep grows ------------------------------------------------------

// Reads until `want` frames have come, each checked by `on_frame`. One read waits at most
// the socket's receive timeout; the whole wait ends at `deadline`.
template <class OnFrame>
void read_frames(packet_conn& c, std::size_t want, clock::time_point deadline, OnFrame&& on_frame) {
    std::size_t got = 0;
    while (got < want) {
        if (clock::now() >= deadline)
            throw bench_error("junctiond answered too slowly while the sweep grew");
        const auto st = c.read_once([&](const proto::frame& f) {
            on_frame(f);
            ++got;
        });
        if (st == packet_conn::read_status::eof) throw bench_error("junctiond closed a connection");
        if (st == packet_conn::read_status::would_block)
            throw bench_error("junctiond did not answer in time");
    }
}

// RESPONSE 200 on an id in [first, first + n).
void expect_ok(const proto::frame& f, std::uint32_t first, std::size_t n, const char* what) {
    const bool ours = f.hdr.id >= first && f.hdr.id - first < n;
    if (f.hdr.type != static_cast<std::uint8_t>(packet_type::response) || !ours ||
        code_of(f.payload) != proto::code::ok) {
        std::string text(
            proto::as_text(f.payload.first(std::min<std::size_t>(f.payload.size(), 60))));
        throw bench_error(std::string(what) +
                          " refused: " + std::string(proto::type_name(f.hdr.type)) + " id " +
                          std::to_string(f.hdr.id) + " \"" + text + "\"");
    }
}

enum class swept { sessions, connections, services };

class idle_state {
  public:
    idle_state(endpoint ep, milliseconds reply_timeout)
        : ep_(std::move(ep)), timeout_(reply_timeout) {}

    // Brings the swept thing to `n` extra (the measurement adds the one that makes n + 1).
    void grow(swept what, std::size_t n) {
        // Generous, but a bound: opening 10,000 of anything takes well under a second here.
        deadline_ = clock::now() + std::max(timeout_ * 6, milliseconds(30000));
        switch (what) {
            case swept::sessions:
                return grow_sessions(n);
            case swept::connections:
                return grow_connections(n);
            case swept::services:
                return grow_services(n);
        }
    }

    // Closes everything: sessions and services end with their connections.
    void clear() {
        conns_.clear();
        helper_.reset();
        sessions_ = in_last_ = services_ = 0;
    }

  private:
    packet_conn connect() {
        packet_conn c(connect_unix(ep_.socket_path));
        set_io_timeout(c.fd(), timeout_);
        return c;
    }

    // Idle sessions to bench.echo, at most sessions_per_connection on each connection.
    void grow_sessions(std::size_t n) {
        while (sessions_ < n) {
            if (conns_.empty() || in_last_ == sessions_per_connection) {
                conns_.push_back(connect());
                in_last_ = 0;
            }
            packet_conn& c = conns_.back();
            const std::size_t k =
                std::min({batch, sessions_per_connection - in_last_, n - sessions_});
            const auto first = static_cast<std::uint32_t>(in_last_ + 1);
            for (std::uint32_t id = first; id < first + k; ++id)
                proto::append_packet(c.out, packet_type::request, id, proto::as_bytes(ep_.service));
            c.flush_blocking();
            read_frames(c, k, deadline_,
                        [&](const proto::frame& f) { expect_ok(f, first, k, "session"); });
            in_last_ += k;
            sessions_ += k;
        }
    }

    // Connections that made one call (the built-in echo: REQUEST, RESPONSE 200, UPDATE 103)
    // and went quiet: what a client between calls looks like. The call also keeps
    // junctiond's first-packet timeout from closing them.
    void grow_connections(std::size_t n) {
        const std::string echo = "echo idle";
        while (conns_.size() < n) {
            const std::size_t k = std::min(batch, n - conns_.size());
            const std::size_t from = conns_.size();
            for (std::size_t i = 0; i < k; ++i) {
                conns_.push_back(connect());
                proto::append_packet(conns_.back().out, packet_type::request, 1,
                                     proto::as_bytes(echo));
                conns_.back().flush_blocking();
            }
            for (std::size_t i = from; i < conns_.size(); ++i) {
                read_frames(conns_[i], 1, deadline_,
                            [&](const proto::frame& f) { expect_ok(f, 1, 1, "echo"); });
                proto::append_code_packet(conns_[i].out, packet_type::update, 1,
                                          proto::code::proc_done, {});
                conns_[i].flush_blocking();
            }
        }
    }

    // Services registered by one helper connection, each with its own command session.
    void grow_services(std::size_t n) {
        if (!helper_) helper_.emplace(connect());
        packet_conn& c = *helper_;
        while (services_ < n) {
            const std::size_t k = std::min(batch, n - services_);
            const auto first = static_cast<std::uint32_t>(services_ + 1);
            for (std::uint32_t id = first; id < first + k; ++id) {
                const std::string line = "register-service bench.idle." + std::to_string(id);
                proto::append_packet(c.out, packet_type::request, id, proto::as_bytes(line));
            }
            c.flush_blocking();
            read_frames(c, k, deadline_,
                        [&](const proto::frame& f) { expect_ok(f, first, k, "register-service"); });
            for (std::uint32_t id = first; id < first + k; ++id)
                proto::append_code_packet(c.out, packet_type::update, id, proto::code::proc_done,
                                          {});
            c.flush_blocking();
            services_ += k;
        }
    }

    endpoint ep_;
    milliseconds timeout_;
    clock::time_point deadline_{};
    std::vector<packet_conn> conns_;
    std::size_t sessions_ = 0, in_last_ = 0;
    std::optional<packet_conn> helper_;
    std::size_t services_ = 0;
};

// --- Measuring one point ---------------------------------------------------------------

// One measurement: hub CPU per call over an N×K pipelined window (schedstat's ns
// when the kernel has it: clock ticks are too coarse for short windows), calls/s,
// seq 64 B p50. `share` divides the window and the samples among the repeats.
struct sample {
    double cpu = 0, rate = 0, p50 = 0;
};

sample measure_once(running_system& rs, const scaling_options& opt, unsigned share) {
    pipelined_spec ps;
    ps.connections = opt.connections;
    ps.in_flight = opt.in_flight;
    ps.payload_size = 64;
    ps.duration = milliseconds(std::max(opt.duration_ms / share, 20u));
    ps.warmup = std::max(ps.duration / 5, milliseconds(20));
    ps.reply_timeout = milliseconds(opt.reply_timeout_ms);
    cpu_time a{}, b{};
    const pipelined_result res = rs.client->pipelined(
        rs.ep, ps,
        {[&] { a = read_cpu_time(rs.hub_pid); }, [&] { b = read_cpu_time(rs.hub_pid); }});
    if (res.calls == 0 || res.seconds <= 0) throw bench_error("no call completed in the window");
    const bool sched = a.sched_seconds >= 0 && b.sched_seconds >= 0;
    const double seconds =
        sched ? b.sched_seconds - a.sched_seconds : b.stat_seconds - a.stat_seconds;
    sample out;
    out.cpu = seconds * 1e6 / static_cast<double>(res.calls);
    out.rate = static_cast<double>(res.calls) / res.seconds;

    sequential_spec ss;
    ss.payload_size = 64;
    ss.iterations = std::max<std::size_t>(opt.iterations / share, 10);
    ss.warmup = std::clamp<std::size_t>(ss.iterations / 10, 10, 1000);
    ss.time_cap = milliseconds(std::max<unsigned>(opt.duration_ms * 5, 2000) / share);
    ss.reply_timeout = milliseconds(opt.reply_timeout_ms);
    out.p50 = median(rs.client->sequential(rs.ep, ss));
    return out;
}

std::map<std::string, double> summarize(const std::vector<sample>& v, pid_t hub) {
    std::vector<double> cpu, rate, p50;
    for (const auto& x : v) {
        cpu.push_back(x.cpu);
        rate.push_back(x.rate);
        p50.push_back(x.p50);
    }
    // The best turn: a neighbour only ever adds time (preemption, evicted caches),
    // so the least disturbed turn is the closest to what the daemon itself costs.
    return {{"seq_64_p50_us", *std::min_element(p50.begin(), p50.end())},
            {"hub_cpu_us_per_call", *std::min_element(cpu.begin(), cpu.end())},
            {"calls_per_s", *std::max_element(rate.begin(), rate.end())},
            {"hub_rss_kib", static_cast<double>(read_memory(hub).rss_kib)}};
}

// The grown daemon against the baseline daemon (started alike, nothing added), taken
// in turns (A B, B A, A B, ...: drift and a neighbour's bursts land on both alike), so a
// ratio compares measurements made at the same time. Full mode: full_repeats turns each.
void measure_pair(running_system& base, running_system& grown, const scaling_options& opt,
                  scaling_point& p) {
    const unsigned repeats = opt.mode == scaling_mode::full ? full_repeats : 1;
    std::vector<sample> a, b;
    for (unsigned r = 0; r < repeats; ++r) {
        if (r % 2 == 0) {
            a.push_back(measure_once(base, opt, repeats));
            b.push_back(measure_once(grown, opt, repeats));
        } else {
            b.push_back(measure_once(grown, opt, repeats));
            a.push_back(measure_once(base, opt, repeats));
        }
    }
    p.base_values = summarize(a, base.hub_pid);
    p.values = summarize(b, grown.hub_pid);
    // A neighbour's burst that lands on one turn lands on both daemons of that turn;
    // taking the best turn of each daemon separately can compare a lucky turn of one
    // with an unlucky one of the other (session 4, 7 turns: ratios from 0.77 to 1.25 for
    // points where nothing in the routed path changes).
    const auto paired = [&](double sample::*field) {
        std::vector<double> r;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (a[i].*field > 0) r.push_back(b[i].*field / a[i].*field);
        return r.empty() ? 0.0 : median(std::move(r));
    };
    p.ratios = {{"seq_64_p50_us", paired(&sample::p50)}, {"hub_cpu_us_per_call", paired(&sample::cpu)}};
}

struct sweep_plan {
    swept what;
    std::string name;  // in the JSON and the figure keys
    std::string noun;  // in the table
    std::size_t max;
    std::string memory_key;  // the figure: bytes per item
};

const std::vector<sweep_plan> sweep_plans{
    {swept::sessions, "sessions", "open sessions", max_sessions, "bytes_per_session"},
    {swept::connections, "connections", "connections", max_connections,
     "bytes_per_idle_connection"},
    {swept::services, "services", "registered services", max_services, "bytes_per_service"}};

std::vector<std::size_t> counts_for(scaling_mode mode, std::size_t max) {
    if (mode == scaling_mode::quick) return {1, max};
    std::vector<std::size_t> counts;
    for (std::size_t n = 1; n <= max; n *= 10) counts.push_back(n);
    return counts;
}

// Raises the soft RLIMIT_NOFILE to `wanted` (or the hard limit, if lower); the processes
// started afterwards, junctiond among them, inherit it. Returns the soft limit in force.
rlim_t raise_fd_limit(rlim_t wanted, std::string& notes) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
        rlimit up = rl;
        up.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
        if (up.rlim_cur > rl.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &up) == 0) {
            notes += "RLIMIT_NOFILE raised from " + std::to_string(rl.rlim_cur) + " to " +
                     std::to_string(up.rlim_cur) + ". ";
            rl = up;
        }
    }
    return rl.rlim_cur;
}

scaling_sweep run_sweep(const sweep_plan& sp, const scaling_options& opt, const pin_plan& plan,
                        const temp_dir& tmp, rlim_t fd_limit) {
    scaling_sweep sw;
    sw.name = sp.name;
    sw.noun = sp.noun;
    // Two daemons started alike: `grown` gets the idle state, `base` stays at 1.
    auto context = [&](const std::string& name) {
        system_context ctx;
        ctx.name = name;
        ctx.plan = &plan;
        ctx.tmp = &tmp;
        ctx.junctiond = opt.junctiond;
        ctx.hub_prefix = opt.hub_prefix;
        ctx.timeout = milliseconds(opt.reply_timeout_ms);
        ctx.hub_args = raised_limits;
        return ctx;
    };
    const system_context base_ctx = context("scaling-" + sp.name + "-base");
    const system_context grown_ctx = context("scaling-" + sp.name);
    running_system base, grown;
    for (auto [rs, ctx] : {std::pair{&base, &base_ctx}, {&grown, &grown_ctx}}) {
        rs->name = ctx->name;
        rs->ep = {ctx->file(".sock"), echo_service};
        rs->log_path = ctx->file(".log");
    }
    idle_state idle(grown.ep, grown_ctx.timeout);

    auto run_point = [&](std::size_t count) {
        scaling_point p;
        p.count = count;
        const std::size_t fds = (sp.what == swept::connections ? count : 0) + fd_margin;
        if (fd_limit != RLIM_INFINITY && fds > fd_limit) {
            p.skipped = "needs about " + std::to_string(fds) +
                        " file descriptors; RLIMIT_NOFILE is " + std::to_string(fd_limit) +
                        " (its hard limit is lower than that)";
            std::fprintf(stderr, "  %-11s %6zu skipped: %s\n", sp.name.c_str(), count,
                         p.skipped.c_str());
        } else {
            idle.grow(sp.what, count - 1);
            measure_pair(base, grown, opt, p);
            std::fprintf(stderr,
                         "  %-11s %6zu  seq 64 B p50 %6.1f µs (base %6.1f)  hub CPU %.3f µs/call "
                         "(base %.3f)  "
                         "RSS %6.0f KiB\n",
                         sp.name.c_str(), count, p.values["seq_64_p50_us"],
                         p.base_values["seq_64_p50_us"], p.values["hub_cpu_us_per_call"],
                         p.base_values["hub_cpu_us_per_call"], p.values["hub_rss_kib"]);
        }
        sw.points.push_back(std::move(p));
    };

    try {
        start_junctiond_raw(base, base_ctx);
        start_junctiond_raw(grown, grown_ctx);
        // Unrecorded: the first measurement in a fresh daemon runs on cold caches and
        // unfaulted pages.
        scaling_options warm = opt;
        warm.duration_ms = std::min(opt.duration_ms, 200u);
        warm.iterations = std::min<std::size_t>(opt.iterations, 1000);
        measure_once(base, warm, 1);
        measure_once(grown, warm, 1);
        for (const std::size_t count : counts_for(opt.mode, sp.max)) run_point(count);
    } catch (const std::exception& e) {
        sw.error = e.what();
        // A daemon that died under load says why in its log (start_hub already quotes it
        // when the daemon never came up).
        const bool at_start = sw.error.find("exited at start") != std::string::npos;
        for (running_system* rs : {&base, &grown})
            if (!at_start && rs->hub.pid() > 0 && !rs->hub.running())
                sw.error += " (" + rs->name + " died: " + tail_of(rs->log_path) + ")";
        std::fprintf(stderr, "  %-11s FAILED: %s\n", sp.name.c_str(), sw.error.c_str());
    }
    // Our side first, so that junctiond has nobody left to flush to when it stops.
    idle.clear();
    for (running_system* rs : {&base, &grown}) {
        rs->client.reset();
        rs->provider.stop();
        const int status = rs->hub.stop();
        if (sw.error.empty() && status > 0)
            sw.error = "junctiond exited with status " + std::to_string(status) + ": " +
                       tail_of(rs->log_path);
    }
    return sw;
}

// Waits, without polling, until `name` appears in the directory `ifd` watches (inotify,
// IN_CREATE) or `limit` passes; false then. A polling loop on a shared CPU would slow
// the very start it is timing.
bool wait_created(int ifd, const std::string& name, clock::time_point limit) {
    alignas(inotify_event) char buf[4096];
    while (clock::now() < limit) {
        pollfd pfd{ifd, POLLIN, 0};
        const auto left = std::chrono::duration_cast<milliseconds>(limit - clock::now()).count();
        if (::poll(&pfd, 1, static_cast<int>(std::clamp<long>(left, 1, 10))) <= 0) continue;
        const long n = ::read(ifd, buf, sizeof buf);
        for (long at = 0; n > 0 && at < n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
            if (ev->len > 0 && name == ev->name) return true;
            at += static_cast<long>(sizeof(inotify_event) + ev->len);
        }
    }
    return false;
}

// exec → the socket accepts a connection: inotify reports the socket file (bind), then
// connect() is retried every 20 µs until listen() has run, right after. Median of 10 starts.
void time_startups(scaling_result& r, const scaling_options& opt, const pin_plan& plan,
                   const temp_dir& tmp) {
    const unsigned starts = opt.mode == scaling_mode::full ? 10 : 3;
    for (unsigned i = 0; i < starts; ++i) {
        const std::string dir = tmp.file("startup-" + std::to_string(i));
        if (::mkdir(dir.c_str(), 0700) != 0) throw_errno("mkdir " + dir);
        const std::string sock = dir + "/junctiond.sock";
        const std::string log = dir + "/junctiond.log";
        const int ifd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ifd < 0) throw_errno("inotify_init1");
        struct closer {
            int fd;
            ~closer() { ::close(fd); }
        } close_ifd{ifd};
        if (::inotify_add_watch(ifd, dir.c_str(), IN_CREATE) < 0)
            throw_errno("inotify_add_watch " + dir);

        const auto t0 = clock::now();
        const auto deadline = t0 + milliseconds(opt.reply_timeout_ms);
        child c = child::exec({opt.junctiond, "--socket", sock, "--log-level", "warn"}, log,
                              plan.cpu_for(role::hub));
        while (!wait_created(ifd, "junctiond.sock",
                             std::min(deadline, clock::now() + milliseconds(10)))) {
            if (!c.running()) throw bench_error("junctiond exited at start: " + tail_of(log));
            if (clock::now() >= deadline)
                throw bench_error("junctiond did not bind in time: " + tail_of(log));
        }
        while (!socket_accepts(sock)) {
            if (!c.running()) throw bench_error("junctiond exited at start: " + tail_of(log));
            if (clock::now() >= deadline)
                throw bench_error("junctiond did not listen in time: " + tail_of(log));
            std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
        r.startup_ms.push_back(
            std::chrono::duration<double, std::milli>(clock::now() - t0).count());
        if (const int status = c.stop(); status != 0)
            throw bench_error("junctiond exited with status " + std::to_string(status) + ": " +
                              tail_of(log));
    }
}

const scaling_sweep* find_sweep(const scaling_result& r, const std::string& name) {
    for (const auto& s : r.sweeps)
        if (s.name == name) return &s;
    return nullptr;
}

// The grown daemon's point with 1: where its memory growth is counted from.
const scaling_point* base_point(const scaling_sweep& s) {
    for (const auto& p : s.points)
        if (p.count == 1 && p.skipped.empty()) return &p;
    return nullptr;
}

// The grown daemon's value over the baseline daemon's, measured in turns with it: the
// median of the per-turn ratios where measured, else the ratio of the best turns.
std::optional<double> ratio_to_base(const scaling_point& p, const std::string& key) {
    if (!p.skipped.empty()) return std::nullopt;
    if (const auto r = p.ratios.find(key); r != p.ratios.end() && r->second > 0) return r->second;
    const auto a = p.base_values.find(key), b = p.values.find(key);
    if (a == p.base_values.end() || b == p.values.end() || !(a->second > 0)) return std::nullopt;
    return b->second / a->second;
}

// Worst ratios and memory per item, from the points measured.
void derive_figures(scaling_result& r) {
    for (const auto& sp : sweep_plans) {
        const std::string lat = sp.name + "_latency_ratio", cpu = sp.name + "_cpu_ratio";
        const scaling_sweep* s = find_sweep(r, sp.name);
        const scaling_point* base = s ? base_point(*s) : nullptr;
        const scaling_point* top = nullptr;
        std::optional<double> worst_lat, worst_cpu;
        if (base)
            for (const auto& p : s->points) {
                if (!p.skipped.empty() || p.count == 1) continue;
                if (!top || p.count > top->count) top = &p;
                const auto l = ratio_to_base(p, "seq_64_p50_us");
                const auto c = ratio_to_base(p, "hub_cpu_us_per_call");
                if (l) worst_lat = std::max(worst_lat.value_or(0), *l);
                if (c) worst_cpu = std::max(worst_cpu.value_or(0), *c);
            }
        const std::string why = !s                  ? "not run"
                                : !s->error.empty() ? "the sweep failed"
                                                    : "no point beyond 1 was measured";
        if (worst_lat)
            r.figures[lat] = *worst_lat;
        else
            r.skipped[lat] = why;
        if (worst_cpu)
            r.figures[cpu] = *worst_cpu;
        else
            r.skipped[cpu] = why;

        const std::string& mem = sp.memory_key;
        if (base && top) {
            // RSS comes in 4 KiB pages; over thousands of items the rounding is a few bytes each.
            const double grown =
                (top->values.at("hub_rss_kib") - base->values.at("hub_rss_kib")) * 1024;
            r.figures[mem] = std::max(0.0, grown / static_cast<double>(top->count - 1));
            if (top->count != sp.max)
                r.notes += mem + " is from " + with_commas(top->count - 1) + " items, not " +
                           with_commas(sp.max - 1) + ". ";
        } else {
            r.skipped[mem] = why;
        }
    }
    if (!r.startup_ms.empty())
        r.figures["startup_ms"] = median(r.startup_ms);
    else
        r.skipped["startup_ms"] = r.error.empty() ? "not run" : "start-up timing failed";
}

std::string fmt(double v, const char* f) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

}  // namespace

scaling_mode parse_scaling_mode(const std::string& s) {
    if (s == "none") return scaling_mode::none;
    if (s == "quick") return scaling_mode::quick;
    if (s == "full") return scaling_mode::full;
    throw bench_error("scaling mode must be none, quick or full, not " + s);
}

std::string to_string(scaling_mode m) {
    switch (m) {
        case scaling_mode::none:
            return "none";
        case scaling_mode::quick:
            return "quick";
        case scaling_mode::full:
            return "full";
    }
    return "?";
}

bool scaling_result::ok() const {
    return error.empty() &&
           std::all_of(sweeps.begin(), sweeps.end(), [](const auto& s) { return s.error.empty(); });
}

const std::vector<scaling_figure_def>& scaling_figure_defs() {
    static const std::vector<scaling_figure_def> defs{
        {"sessions_latency_ratio", "seq 64 B p50, 1 → 10,000 sessions (worst)", "×", 1.10},
        {"sessions_cpu_ratio", "hub CPU/call, 1 → 10,000 sessions (worst)", "×", 1.10},
        {"connections_latency_ratio", "seq 64 B p50, 1 → 1,000 connections (worst)", "×", 1.10},
        {"connections_cpu_ratio", "hub CPU/call, 1 → 1,000 connections (worst)", "×", 1.10},
        {"services_latency_ratio", "seq 64 B p50, 1 → 10,000 services (worst)", "×", 1.10},
        {"services_cpu_ratio", "hub CPU/call, 1 → 10,000 services (worst)", "×", 1.10},
        {"bytes_per_idle_connection", "memory per idle connection", "B", 4096},
        {"bytes_per_session", "memory per open session", "B", 256},
        {"bytes_per_service", "memory per registered service", "B", 0},
        {"startup_ms", "start-up, exec → accepting (median)", "ms", 20},
    };
    return defs;
}

scaling_result run_scaling(const scaling_options& opt, const pin_plan& plan, const temp_dir& tmp) {
    scaling_result r;
    r.mode = opt.mode;
    r.pin_detail = plan.describe();
    if (opt.mode == scaling_mode::none) return r;
    r.loadavg_start = read_loadavg();
    const rlim_t fd_limit = raise_fd_limit(fd_wanted, r.notes);
    std::fprintf(stderr,
                 "scaling (%s): junctiond with raised limits; 8×16 windows of %u ms, %zu seq "
                 "samples per point\n",
                 to_string(opt.mode).c_str(), opt.duration_ms, opt.iterations);
    for (const auto& sp : sweep_plans) r.sweeps.push_back(run_sweep(sp, opt, plan, tmp, fd_limit));
    try {
        time_startups(r, opt, plan, tmp);
        std::fprintf(stderr, "  %-11s median %.2f ms over %zu starts\n", "start-up",
                     median(r.startup_ms), r.startup_ms.size());
    } catch (const std::exception& e) {
        r.error = std::string("start-up: ") + e.what();
        std::fprintf(stderr, "  %-11s FAILED: %s\n", "start-up", e.what());
    }
    derive_figures(r);
    r.loadavg_end = read_loadavg();
    return r;
}

void print_scaling(std::ostream& out, const scaling_result& r, bool markdown) {
    out << "scaling (" << to_string(r.mode) << "): junctiond, pin " << r.pin_detail
        << "; each point: hub CPU/call over a pipelined 64 B window and seq 64 B p50"
        << (r.mode == scaling_mode::full ? " (the best of " + std::to_string(full_repeats) + " turns)" : "")
        << "; ratio: to a junctiond at 1 measured in turns with it"
        << (r.mode == scaling_mode::full ? " (the median of the turns' ratios)" : "")
        << "; load average "
        << r.loadavg_start << " before, " << r.loadavg_end << " after\n\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : r.sweeps)
        for (const auto& p : s.points) {
            std::vector<std::string> row{s.noun, with_commas(p.count)};
            if (!p.skipped.empty()) {
                row.insert(row.end(), {"-", "-", "-", "-", "-", "-"});
            } else {
                row.push_back(format_value(p.values.at("seq_64_p50_us")));
                row.push_back(format_value(ratio_to_base(p, "seq_64_p50_us")));
                row.push_back(fmt(p.values.at("hub_cpu_us_per_call"), "%.3f"));
                row.push_back(format_value(ratio_to_base(p, "hub_cpu_us_per_call")));
                row.push_back(format_value(p.values.at("calls_per_s")));
                row.push_back(format_value(p.values.at("hub_rss_kib")));
            }
            rows.push_back(std::move(row));
        }
    print_grid(out,
               {"sweep", "count", "seq 64 B p50 µs", "ratio", "hub CPU/call µs", "ratio", "calls/s",
                "hub RSS KiB"},
               rows, markdown);
    out << "\n";

    std::vector<std::vector<std::string>> summary;
    for (const auto& d : scaling_figure_defs()) {
        const auto it = r.figures.find(d.key);
        std::optional<double> v;
        if (it != r.figures.end()) v = it->second;
        const std::string target =
            d.target > 0 ? "≤ " + fmt(d.target, d.unit == "×" ? "%.2f" : "%g") : "-";
        const std::string verdict = !v               ? "-"
                                    : d.target <= 0  ? ""
                                    : *v <= d.target ? "met"
                                                     : "NOT MET";
        // Ratios with three decimals: 1.104 is over the target, and "1.10" would hide it.
        const std::string value = v && d.unit == "×" ? fmt(*v, "%.3f") : format_value(v);
        summary.push_back({d.label, d.unit, value, target, verdict});
    }
    print_grid(out, {"scaling figure", "unit", "value", "target", "verdict"}, summary, markdown);
    for (const auto& s : r.sweeps) {
        for (const auto& p : s.points)
            if (!p.skipped.empty())
                out << s.name << " " << p.count << " skipped: " << p.skipped << "\n";
        if (!s.error.empty()) out << "scaling " << s.name << " FAILED: " << s.error << "\n";
    }
    if (!r.error.empty()) out << "scaling FAILED: " << r.error << "\n";
    if (!r.notes.empty()) out << r.notes << "\n";
}

json::value scaling_json(const scaling_result& r) {
    json::object figures, skipped, targets, sweeps;
    for (const auto& d : scaling_figure_defs()) {
        const auto it = r.figures.find(d.key);
        figures[d.key] = it != r.figures.end() ? json::value(it->second) : json::value(nullptr);
        if (d.target > 0) targets[d.key] = d.target;
    }
    for (const auto& [k, why] : r.skipped) skipped[k] = why;
    for (const auto& s : r.sweeps) {
        json::array points;
        for (const auto& p : s.points) {
            json::object values, base_values;
            for (const auto& [k, v] : p.values) values[k] = v;
            for (const auto& [k, v] : p.base_values) base_values[k] = v;
            auto ratio = [&](const char* key) {
                const auto x = ratio_to_base(p, key);
                return x ? json::value(*x) : json::value(nullptr);
            };
            points.push_back(json::object{
                {"count", p.count},
                {"skipped", p.skipped.empty() ? json::value(nullptr) : json::value(p.skipped)},
                {"values", std::move(values)},
                {"base_values", std::move(base_values)},
                {"latency_ratio", ratio("seq_64_p50_us")},
                {"cpu_ratio", ratio("hub_cpu_us_per_call")}});
        }
        sweeps[s.name] =
            json::object{{"noun", s.noun},
                         {"error", s.error.empty() ? json::value(nullptr) : json::value(s.error)},
                         {"points", std::move(points)}};
    }
    json::array startup;
    for (const double ms : r.startup_ms) startup.emplace_back(ms);
    return json::object{{"mode", to_string(r.mode)},
                        {"pin_detail", r.pin_detail},
                        {"loadavg_start", r.loadavg_start},
                        {"loadavg_end", r.loadavg_end},
                        {"figures", std::move(figures)},
                        {"skipped", std::move(skipped)},
                        {"targets", std::move(targets)},
                        {"startup_ms", std::move(startup)},
                        {"sweeps", std::move(sweeps)},
                        {"error", r.error.empty() ? json::value(nullptr) : json::value(r.error)},
                        {"notes", r.notes}};
}

void check_scaling_json(const json::value& v, std::vector<std::string>& problems,
                        std::size_t& checked) {
    const json::object* o = v.if_object();
    const json::value* fv = o ? o->if_contains("figures") : nullptr;
    const json::object* figures = fv ? fv->if_object() : nullptr;
    if (!o || !figures || !o->contains("sweeps") || !o->at("sweeps").is_object()) {
        problems.push_back("scaling: not an object with figures and sweeps");
        return;
    }
    const json::object* skipped = o->contains("skipped") ? o->at("skipped").if_object() : nullptr;
    if (const json::value* e = o->if_contains("error"); e && !e->is_null())
        problems.push_back("scaling: failed: " + json::serialize(*e));
    // A figure is a non-negative number, or is skipped with a reason (a point the fd limit ruled
    // out).
    for (const auto& d : scaling_figure_defs()) {
        const json::value* f = figures->if_contains(d.key);
        if (f && f->is_number() && f->to_number<double>() >= 0) {
            ++checked;
            continue;
        }
        const json::value* why = skipped ? skipped->if_contains(d.key) : nullptr;
        if (!why || !why->is_string())
            problems.push_back("scaling: " + d.key + " missing or not a number");
    }
    for (const auto& [name, sv] : o->at("sweeps").as_object()) {
        const json::object* s = sv.if_object();
        if (!s) continue;
        if (const json::value* e = s->if_contains("error"); e && !e->is_null())
            problems.push_back("scaling " + std::string(name) + ": failed: " + json::serialize(*e));
        const json::value* pts = s->if_contains("points");
        if (!pts || !pts->is_array() || pts->as_array().empty()) {
            problems.push_back("scaling " + std::string(name) + ": no points");
            continue;
        }
        for (const auto& pv : pts->as_array()) {
            const json::object* p = pv.if_object();
            if (!p) continue;
            if (const json::value* why = p->if_contains("skipped"); why && why->is_string())
                continue;
            const json::object* values =
                p->contains("values") ? p->at("values").if_object() : nullptr;
            for (const char* key :
                 {"seq_64_p50_us", "hub_cpu_us_per_call", "calls_per_s", "hub_rss_kib"}) {
                const json::value* x = values ? values->if_contains(key) : nullptr;
                if (!x || !x->is_number() || !(x->to_number<double>() >= 0))
                    problems.push_back("scaling " + std::string(name) + ": a point lacks " + key);
            }
        }
    }
}

}  // namespace junction::bench
