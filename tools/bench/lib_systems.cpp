// junctiond with the library on both ends (lib), the RPC layer (rpc) and the
// searpc gateway (searpc): the systems that show what the library, the RPC
// convention and the gateway add to the broker's own cost.
//
// Each system forks its provider (the library's echo handler, or an
// rpc::service with one function, echo(string) -> string) on the provider's
// CPU; the bench process is the client. The library clients run one
// io_context per workload: sequential round trips in one coroutine,
// pipelined ones as N connections × K coroutines, each re-sending as soon as
// its answer arrives, with a timer coroutine marking the measured window.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "junction/connection.hpp"
#include "junction/rpc.hpp"
#include "provider.hpp"
#include "systems.hpp"
#include "wire.hpp"

namespace junction::bench {

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// Runs `body` on a fresh io_context to the end; rethrows what it threw.
template <class Body>
void run_coroutine(Body body) {
    asio::io_context io(1);
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
        failure = e;
        io.stop();
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
}

// --- providers (in a forked child) -------------------------------------------------

awaitable<void> echo_handler(std::shared_ptr<incoming_session> in) {
    co_await in->respond(200, "OK");
    for (;;) {
        const packet p = co_await in->receive(std::chrono::hours(1));
        if (p.ends_session()) co_return;
        co_await in->respond(200, {}, p.content);
    }
}

rpc::service echo_rpc_service() {
    rpc::service svc(echo_service);
    svc.bind("echo", [](std::string s) { return s; });
    return svc;
}

// Connects, registers (the library's echo handler, or the RPC service), says
// so on `ready_fd`, and serves until the hub goes away. Runs in the forked
// provider; never returns.
[[noreturn]] void serve(const std::string& socket, milliseconds timeout, bool rpc_service, int ready_fd) {
    int status = 0;
    try {
        run_coroutine([&]() -> awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto conn = co_await connection::connect(ex, socket, timeout);
            if (rpc_service)
                co_await echo_rpc_service().register_on(conn, timeout);
            else
                co_await conn->register_service(echo_service, echo_handler, timeout);
            const char ready = 1;
            if (::write(ready_fd, &ready, 1) != 1) throw bench_error("cannot tell the bench: ready pipe");
            ::close(ready_fd);
            while (!co_await conn->wait_closed(std::chrono::hours(1))) {
            }
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench provider: %s\n", e.what());
        status = 1;
    }
    std::fflush(stderr);
    ::_exit(status);
}

// Forks the provider and waits until the service is registered (the first
// REQUEST then finds it): the child writes one byte to a pipe then.
void start_lib_provider(running_system& rs, const system_context& ctx, bool rpc_service) {
    const std::string socket = rs.ep.socket_path;
    const milliseconds timeout = ctx.timeout;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    const int ready_fd = fds[1];
    rs.provider = child::fork(
        [=] {
            ::close(fds[0]);
            serve(socket, timeout, rpc_service, ready_fd);
        },
        ctx.plan->cpu_for(role::provider));
    ::close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    char byte = 0;
    const bool ready = n == 1 && ::read(fds[0], &byte, 1) == 1;
    ::close(fds[0]);
    if (!ready) throw bench_error(ctx.name + ": the provider did not register within " +
                                  std::to_string(timeout.count()) + " ms (see its stderr)");
}

// --- clients -----------------------------------------------------------------------

std::string filler(std::size_t n) { return std::string(n, 'x'); }

// The measured window of a pipelined run, shared by its coroutines: warm-up,
// window (calls counted), then stop (each worker finishes its call and ends).
struct window {
    std::uint64_t calls = 0, at_start = 0;
    bool stop = false;
    clock::time_point started, ended;

    awaitable<void> run(const pipelined_spec& spec, const window_hooks& hooks) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(spec.warmup);
        co_await timer.async_wait(asio::use_awaitable);
        if (hooks.on_start) hooks.on_start();
        started = clock::now();
        at_start = calls;
        timer.expires_after(spec.duration);
        co_await timer.async_wait(asio::use_awaitable);
        if (hooks.on_end) hooks.on_end();
        ended = clock::now();
        stop = true;
    }

    pipelined_result result() const {
        return {calls - at_start, std::chrono::duration<double>(ended - started).count()};
    }
};

// Runs the window and one coroutine per connection together; each of those
// may spawn more (its other sessions). The first failure ends the run.
struct window_run {
    window w;
    asio::io_context io{1};
    std::exception_ptr failure;
    std::size_t running = 0;

    void spawn(awaitable<void> task) {
        ++running;
        asio::co_spawn(io, std::move(task), [this](std::exception_ptr e) {
            if (e && !failure) {
                failure = e;
                io.stop();
            }
            if (--running == 0) io.stop();
        });
    }
};

template <class PerConnection>
pipelined_result run_window(const pipelined_spec& spec, const window_hooks& hooks,
                            PerConnection per_connection) {
    window_run run;
    run.spawn(run.w.run(spec, hooks));
    for (std::size_t i = 0; i < spec.connections; ++i) run.spawn(per_connection(run));
    run.io.run();
    if (run.failure) std::rethrow_exception(run.failure);
    return run.w.result();
}

void expect_echo(const packet& p, std::size_t content_size) {
    if (p.code != 200 || p.content.size() != content_size)
        throw bench_error("unexpected answer " + p.code_line() + " with " + std::to_string(p.content.size()) +
                          " bytes, wanted 200 with " + std::to_string(content_size));
}

// The content that makes an UPDATE's payload `payload_size` bytes: "200\n" + content.
std::size_t content_for(std::size_t payload_size) { return payload_size > 4 ? payload_size - 4 : 0; }

class lib_client final : public client_driver {
public:
    std::string_view name() const override { return "lib"; }

    std::vector<double> sequential(const endpoint& ep, const sequential_spec& spec) override {
        sample_loop loop(spec);
        const std::string content = filler(content_for(spec.payload_size));
        run_coroutine([&]() -> awaitable<void> {
            auto conn = co_await connection::connect(co_await asio::this_coro::executor, ep.socket_path,
                                                     spec.reply_timeout);
            auto s = co_await conn->open(ep.service);
            expect_open(co_await s->receive(spec.reply_timeout));
            while (loop.more()) {
                const auto t0 = clock::now();
                co_await s->update(200, {}, content);
                expect_echo(co_await s->receive(spec.reply_timeout), content.size());
                loop.record(t0);
            }
            co_await s->end();
        });
        return std::move(loop.samples);
    }

    std::vector<double> fresh_sessions(const endpoint& ep, const sequential_spec& spec) override {
        sample_loop loop(spec);
        run_coroutine([&]() -> awaitable<void> {
            auto conn = co_await connection::connect(co_await asio::this_coro::executor, ep.socket_path,
                                                     spec.reply_timeout);
            while (loop.more()) {
                const auto t0 = clock::now();
                auto s = co_await conn->open(ep.service);
                expect_open(co_await s->receive(spec.reply_timeout));
                co_await s->end();
                loop.record(t0);
            }
        });
        return std::move(loop.samples);
    }

    pipelined_result pipelined(const endpoint& ep, const pipelined_spec& spec,
                               const window_hooks& hooks) override {
        const std::string content = filler(content_for(spec.payload_size));
        return run_window(spec, hooks, [&](window_run& run) { return connection_loop(ep, spec, content, run); });
    }

private:
    static void expect_open(const packet& p) {
        if (p.code != 200) throw bench_error("session refused: " + p.code_line());
    }

    // One connection: K sessions on it, each its own coroutine.
    static awaitable<void> connection_loop(const endpoint& ep, const pipelined_spec& spec,
                                           const std::string& content, window_run& run) {
        auto conn = co_await connection::connect(co_await asio::this_coro::executor, ep.socket_path,
                                                 spec.reply_timeout);
        for (std::size_t k = 1; k < spec.in_flight; ++k) run.spawn(session_loop(conn, ep, spec, content, run.w));
        co_await session_loop(conn, ep, spec, content, run.w);
    }

    static awaitable<void> session_loop(std::shared_ptr<connection> conn, const endpoint& ep,
                                        const pipelined_spec& spec, const std::string& content, window& w) {
        auto s = co_await conn->open(ep.service);
        expect_open(co_await s->receive(spec.reply_timeout));
        while (!w.stop) {
            co_await s->update(200, {}, content);
            expect_echo(co_await s->receive(spec.reply_timeout), content.size());
            if (!w.stop) ++w.calls;  // answers that arrive after the window are not counted
        }
        co_await s->end();
    }
};

class rpc_client_driver final : public client_driver {
public:
    std::string_view name() const override { return "rpc"; }

    std::vector<double> sequential(const endpoint& ep, const sequential_spec& spec) override {
        sample_loop loop(spec);
        const std::string arg = filler(argument_for(spec.payload_size));
        run_coroutine([&]() -> awaitable<void> {
            auto conn = co_await connection::connect(co_await asio::this_coro::executor, ep.socket_path,
                                                     spec.reply_timeout);
            rpc::client client(conn, ep.service, settings(spec.reply_timeout, 1));
            while (loop.more()) {
                const auto t0 = clock::now();
                check(co_await client.call<std::string>("echo", arg), arg);
                loop.record(t0);
            }
        });
        return std::move(loop.samples);
    }

    std::vector<double> fresh_sessions(const endpoint&, const sequential_spec&) override {
        throw bench_error("rpc: no fresh-session workload (a client keeps its sessions)");
    }

    pipelined_result pipelined(const endpoint& ep, const pipelined_spec& spec,
                               const window_hooks& hooks) override {
        const std::string arg = filler(argument_for(spec.payload_size));
        return run_window(spec, hooks, [&](window_run& run) { return connection_loop(ep, spec, arg, run); });
    }

private:
    // The call ["echo","xx…"] as the client sends it is about `payload_size`
    // bytes with its "301 CLIENT CALL" line, like the other systems' UPDATEs.
    static std::size_t argument_for(std::size_t payload_size) {
        constexpr std::size_t overhead = sizeof("301 CLIENT CALL\n[\"echo\",\"\"]") - 1;
        return payload_size > overhead ? payload_size - overhead : 1;
    }

    static rpc::options settings(milliseconds timeout, std::size_t sessions) {
        rpc::options o;
        o.timeout = timeout;
        o.max_sessions = sessions;
        return o;
    }

    static void check(const std::string& got, const std::string& sent) {
        if (got != sent) throw bench_error("echo returned " + std::to_string(got.size()) + " bytes, sent " +
                                           std::to_string(sent.size()));
    }

    // One connection, one client with a pool of K sessions, K coroutines calling through it.
    static awaitable<void> connection_loop(const endpoint& ep, const pipelined_spec& spec, const std::string& arg,
                                           window_run& run) {
        auto conn = co_await connection::connect(co_await asio::this_coro::executor, ep.socket_path,
                                                 spec.reply_timeout);
        auto client = std::make_shared<rpc::client>(conn, ep.service, settings(spec.reply_timeout, spec.in_flight));
        for (std::size_t k = 1; k < spec.in_flight; ++k) run.spawn(call_loop(client, arg, run.w));
        co_await call_loop(client, arg, run.w);
    }

    static awaitable<void> call_loop(std::shared_ptr<rpc::client> client, const std::string& arg, window& w) {
        while (!w.stop) {
            check(co_await client->call<std::string>("echo", arg), arg);
            if (!w.stop) ++w.calls;  // answers that arrive after the window are not counted
        }
    }
};

}  // namespace

void start_junctiond_lib(running_system& rs, const system_context& ctx) {
    start_junctiond(rs, ctx);
    start_lib_provider(rs, ctx, false);
    rs.client = std::make_unique<lib_client>();
}

void start_junctiond_rpc(running_system& rs, const system_context& ctx) {
    start_junctiond(rs, ctx);
    start_lib_provider(rs, ctx, true);
    rs.client = std::make_unique<rpc_client_driver>();
}

void start_junctiond_searpc(running_system& rs, const system_context& ctx) {
    const std::string gateway = ctx.file("-searpc.sock");
    start_junctiond(rs, ctx, {"--searpc-socket", gateway});
    start_lib_provider(rs, ctx, true);
    // The workloads talk to the gateway; the service name is what they call.
    rs.ep.socket_path = gateway;
    rs.client = make_searpc_client();
}

}  // namespace junction::bench
