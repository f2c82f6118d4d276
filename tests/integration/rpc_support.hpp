// Shared by the rpc_*_test.cpp files: the test service "calc", and three ways
// to run a provider of it next to the real junctiond:
//   - in the test's own io_context (run_async), for library-to-library tests;
//   - provider_thread: on a private io_context thread, while the test thread
//     blocks in run_command (junctionctl, python3, the C client);
//   - forked_provider: in a child process, so that it can be killed with SIGKILL.
// Every wait has a deadline; nothing sleeps to synchronise.
//
// Two GCC 12 coroutine pitfalls the tests avoid:
//   - CHECK(co_await f()) runs f three times: Catch2's macro repeats its
//     expression in a dead `false && (...)` branch, which GCC 12 still evaluates
//     inside a coroutine. Await first, then CHECK the value.
//   - A braced list (json::array{1, 2}, std::vector<long>{...}) in a full
//     expression with co_await fails to compile ("array used as initializer"):
//     build it in a statement of its own.
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <future>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "harness.hpp"
#include "run_async.hpp"
#include "junction/rpc.hpp"

namespace rpc_test {

namespace asio = boost::asio;
namespace json = boost::json;
namespace rpc = junction::rpc;
using junction::awaitable;
using namespace std::chrono_literals;

using junction::test::run_async;  // run_async.hpp

inline awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// A flag one coroutine waits for with a deadline.
class async_event {
public:
    explicit async_event(asio::any_io_executor ex) : timer_(ex) {}
    void set() {
        set_ = true;
        timer_.cancel();
    }
    bool is_set() const { return set_; }
    awaitable<bool> wait(std::chrono::milliseconds timeout) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (!set_ && std::chrono::steady_clock::now() < until) {  // bounded by the deadline
            timer_.expires_at(until);
            co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        co_return set_;
    }

private:
    asio::steady_timer timer_;
    bool set_ = false;
};

// True when list-services content names `service`. (The parsed value is a named
// local: a range-for over a member of a temporary would walk freed memory.)
inline bool lists_service(const std::string& list_json, const std::string& service) {
    const json::value list = json::parse(list_json);
    for (const auto& s : list.at("services").as_array())
        if (s.at("name") == service.c_str()) return true;
    return false;
}

// Waits until junctiond no longer lists `service`, asking on `conn`. Everything
// junctiond sent to `conn` before its last answer (a 515 for a session of the
// service, say) has then been delivered.
inline awaitable<bool> wait_unregistered(
    junction::connection& conn, const std::string& service,
    std::chrono::milliseconds timeout = junction::test::default_timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {  // bounded by the deadline
        const auto p = co_await conn.call("list-services", 2s);
        if (!lists_service(p.content, service)) co_return true;
    }
    co_return false;
}

// The rpc::error a call throws, as (code, message); (0, "") if it succeeds.
template <class T>
awaitable<std::pair<int, std::string>> rpc_error_of(awaitable<T> call) {
    try {
        co_await std::move(call);
    } catch (const rpc::error& e) {
        co_return std::pair<int, std::string>{e.code(), e.what()};
    }
    co_return std::pair<int, std::string>{0, ""};
}

// The std::system_error code a call throws ({} if none).
template <class T>
awaitable<std::error_code> system_error_of(awaitable<T> call) {
    try {
        co_await std::move(call);
    } catch (const std::system_error& e) {
        co_return e.code();
    }
    co_return std::error_code{};
}

// Calls in progress in the provider, and the most seen at once.
struct concurrency_meter {
    int now = 0;
    int most = 0;
    void enter() { most = std::max(most, ++now); }
    void leave() { --now; }
};

// "calc": a function for every kind of argument and result the tests need.
// `meter` (optional, same thread as the provider) counts concurrent slow calls;
// `on_sleep` runs when a sleep call starts (the forked provider reports it).
inline rpc::service calc_service(rpc::service_options opts = {},
                                 std::shared_ptr<concurrency_meter> meter = nullptr,
                                 std::function<void()> on_sleep = {}) {
    rpc::service svc("calc", opts);
    svc.bind("add", [](int a, int b) { return a + b; });
    svc.bind("greet", [](const std::string& who) { return "hello, " + who; });
    svc.bind("is_even", [](long n) { return n % 2 == 0; });
    svc.bind("nothing", [] {});
    svc.bind("info", [] { return json::object{{"name", "calc"}, {"version", 1}}; });
    svc.bind("users", [] {
        return json::array{json::object{{"name", "ann"}, {"id", 1}},
                           json::object{{"name", "bob"}, {"id", 2}}};
    });
    svc.bind("echo", [](const json::value& v) { return v; });
    svc.bind("sum", [](const std::vector<long>& xs) {
        long s = 0;
        for (const long x : xs) s += x;
        return s;
    });
    svc.bind("maybe", [](std::optional<int> x) -> std::optional<int> {
        if (!x) return std::nullopt;
        return *x * 2;
    });
    svc.bind("slow_add", [meter](int a, int b, int ms) -> awaitable<int> {
        if (meter) meter->enter();
        co_await sleep_for(std::chrono::milliseconds(ms));
        if (meter) meter->leave();
        co_return a + b;
    });
    svc.bind("sleep", [on_sleep](int ms) -> awaitable<void> {
        if (on_sleep) on_sleep();
        co_await sleep_for(std::chrono::milliseconds(ms));
    });
    svc.bind("fail", []() -> int { throw std::runtime_error("boom"); });
    svc.bind("deny", []() -> int { throw rpc::error(403, "not allowed"); });
    svc.bind("big", [](std::size_t n) {
        std::string s(n, 'x');
        for (std::size_t i = 0; i < n; i += 4096) s[i] = static_cast<char>('a' + i / 4096 % 26);
        return s;
    });
    svc.bind("length", [](const std::string& s) { return s.size(); });
    return svc;
}

// What calc's big(n) returns.
inline std::string big_string(std::size_t n) {
    std::string s(n, 'x');
    for (std::size_t i = 0; i < n; i += 4096) s[i] = static_cast<char>('a' + i / 4096 % 26);
    return s;
}

// A provider on its own io_context thread; ready when constructed.
class provider_thread {
public:
    provider_thread(const std::string& socket, rpc::service svc)
        : work_(asio::make_work_guard(io_)) {
        std::promise<void> ready;
        auto registered = ready.get_future();
        thread_ = std::thread([this] { io_.run(); });
        asio::co_spawn(
            io_,
            [this, socket, svc = std::move(svc)]() -> awaitable<void> {
                conn_ = co_await junction::connection::connect(co_await asio::this_coro::executor,
                                                               socket);
                co_await svc.register_on(*conn_, 5s);
            },
            [&ready](std::exception_ptr e) {
                if (e)
                    ready.set_exception(e);
                else
                    ready.set_value();
            });
        if (registered.wait_for(10s) != std::future_status::ready) {
            stop();
            FAIL("provider did not register within 10 s");
        }
        try {
            registered.get();
        } catch (...) {
            stop();
            throw;
        }
    }
    ~provider_thread() { stop(); }
    provider_thread(const provider_thread&) = delete;
    provider_thread& operator=(const provider_thread&) = delete;

private:
    void stop() {
        if (!thread_.joinable()) return;
        asio::post(io_, [this] {
            if (conn_) conn_->close();
            conn_.reset();
            io_.stop();
        });
        thread_.join();
    }

    asio::io_context io_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::shared_ptr<junction::connection> conn_;  // io thread only
    std::thread thread_;
};

// calc in a child process. The child writes 'R' to a pipe once registered and
// 'S' whenever a sleep call starts; the parent reads them with deadlines.
class forked_provider {
public:
    explicit forked_provider(const std::string& socket) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(fds[0]);
            run_child(socket, fds[1]);  // never returns
        }
        ::close(fds[1]);
        fd_ = fds[0];
        if (!wait_for('R', 10s)) FAIL("forked provider did not register within 10 s");
    }
    ~forked_provider() {
        kill9();
        if (fd_ >= 0) ::close(fd_);
    }
    forked_provider(const forked_provider&) = delete;
    forked_provider& operator=(const forked_provider&) = delete;

    pid_t pid() const { return pid_; }
    int notify_fd() const { return fd_; }

    // True when the child wrote `what` before the deadline (other bytes are skipped).
    bool wait_for(char what, std::chrono::milliseconds timeout) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {  // bounded by the deadline
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char c = 0;
            if (::read(fd_, &c, 1) != 1) return false;  // the child is gone
            if (c == what) return true;
        }
    }

    void kill9() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
    }

private:
    [[noreturn]] static void run_child(const std::string& socket, int pipe_fd) {
        // Nothing of the parent's (its junctiond connections above all) stays open
        // here: the daemon must see the parent's sockets close when the parent closes them.
        const int fd = 3;
        if (pipe_fd != fd && ::dup2(pipe_fd, fd) != fd) ::_exit(4);
        ::close_range(fd + 1, ~0U, 0);
        try {
            asio::io_context io(1);
            std::shared_ptr<junction::connection> conn;
            const auto tell = [fd](char c) { (void)!::write(fd, &c, 1); };
            asio::co_spawn(
                io,
                [&]() -> awaitable<void> {
                    conn = co_await junction::connection::connect(io.get_executor(), socket);
                    co_await calc_service({}, nullptr, [tell] {
                        tell('S');
                    }).register_on(*conn, 5s);
                    tell('R');
                },
                [](std::exception_ptr e) {
                    if (e) ::_exit(2);
                });
            io.run();
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(0);
    }

    pid_t pid_ = -1;
    int fd_ = -1;
};

}  // namespace rpc_test
