// What a measurement asks of a client: the seam between the workloads and the
// code that talks to the system under test.
//
// raw_client (raw_client.cpp) speaks raw frames on sockets it owns: it is the
// cheapest possible client, so the figures show the hop, not the client. A
// library client (lib/, when it exists) becomes a second implementation of
// client_driver, selected with `--client lib`: the orchestration in main.cpp
// (systems, pinning, hub CPU sampling, the table and the JSON) stays as it is.
//
// Every workload talks to a service that answers REQUEST with RESPONSE
// "200 OK\n" and UPDATE "200\n<data>" with RESPONSE "200\n<data>" (the echo
// provider), through whatever is listening on `endpoint::socket_path`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace junction::bench {

using clock = std::chrono::steady_clock;

struct endpoint {
    std::string socket_path;  // junctiond, the relay, or the provider itself (direct)
    std::string service;      // the REQUEST line that opens a session
};

// Bounds of a sequential workload: samples taken, and a time cap on the whole loop.
struct sequential_spec {
    std::size_t payload_size = 64;  // UPDATE payload bytes, code line included
    std::size_t warmup = 0;         // round trips made before sampling starts
    std::size_t iterations = 0;     // samples wanted
    std::chrono::milliseconds time_cap{0};
    std::chrono::milliseconds reply_timeout{0};  // no answer within this: bench_error
};

struct pipelined_spec {
    std::size_t connections = 1;
    std::size_t in_flight = 1;  // sessions per connection, one UPDATE in flight each
    std::size_t payload_size = 64;
    std::chrono::milliseconds warmup{0};
    std::chrono::milliseconds duration{0};
    std::chrono::milliseconds reply_timeout{0};
};

struct pipelined_result {
    std::uint64_t calls = 0;  // UPDATE → RESPONSE round trips completed inside the window
    double seconds = 0;       // the window's real length
};

// Called exactly at the edges of the measured window, so the caller can sample
// the hub's CPU time over the same interval as the calls are counted.
struct window_hooks {
    std::function<void()> on_start;
    std::function<void()> on_end;
};

class client_driver {
public:
    virtual ~client_driver() = default;
    virtual std::string_view name() const = 0;

    // One connection, one session: UPDATE → RESPONSE, one at a time. Microseconds per round trip.
    virtual std::vector<double> sequential(const endpoint& ep, const sequential_spec& spec) = 0;

    // One connection: REQUEST → RESPONSE 200 → UPDATE 103, one session after another.
    // Microseconds from sending the REQUEST to having sent the 103.
    virtual std::vector<double> fresh_sessions(const endpoint& ep, const sequential_spec& spec) = 0;

    // `connections` × `in_flight` sessions, each re-sending its UPDATE as soon as
    // its RESPONSE arrives, for spec.warmup + spec.duration.
    virtual pipelined_result pipelined(const endpoint& ep, const pipelined_spec& spec,
                                       const window_hooks& hooks) = 0;
};

// Warm-up, then samples, bounded by count and by spec.time_cap. Warm-up ends at
// spec.warmup round trips or a fifth of the time cap, whichever comes first, so a
// slow system (under valgrind, say) still gets sampled.
class sample_loop {
public:
    explicit sample_loop(const sequential_spec& spec)
        : spec_(spec), start_(clock::now()), warm_until_(start_ + spec.time_cap / 5),
          cap_(start_ + spec.time_cap) {
        samples.reserve(spec.iterations);
    }
    bool more() {
        const auto now = clock::now();
        if (samples.size() >= spec_.iterations || now >= cap_) return false;
        if (!sampling_ && (warm_ >= spec_.warmup || now >= warm_until_)) sampling_ = true;
        return true;
    }
    void record(clock::time_point t0) {
        if (sampling_)
            samples.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
        else
            ++warm_;
    }
    std::vector<double> samples;

private:
    const sequential_spec& spec_;
    clock::time_point start_, warm_until_, cap_;
    std::size_t warm_ = 0;
    bool sampling_ = false;
};

std::unique_ptr<client_driver> make_raw_client();
// A driver for the searpc gateway (searpc_client.cpp): libsearpc's named-pipe
// framing, one call in flight per connection, `ep.service`'s "echo" function.
std::unique_ptr<client_driver> make_searpc_client();

}  // namespace junction::bench
