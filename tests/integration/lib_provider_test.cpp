// junction::provider against the real junctiond: it survives a restart of the
// daemon (SIGTERM and SIGKILL) without anyone touching it, backs off while the
// daemon is away, stops promptly in any state, retries a name someone else
// holds; the example-provider binary does the same as a child process.
//
// Flow of a test: junctiond on a temp socket (daemon_process; a second one on
// the same temp dir and socket name plays the restarted daemon), a provider on
// its own io_context thread (provider_on_thread) whose state and log callbacks
// feed counters the test waits on, clients through sync_client /
// rpc::sync_client from the test thread. Every wait is on an event with a
// deadline; the backoff test waits for the attempt that comes after its window.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>

#include "harness.hpp"
#include "junction/connection.hpp"
#include "junction/provider.hpp"
#include "junction/rpc.hpp"
#include "junction/sync_client.hpp"

using namespace junction::test;
namespace asio = boost::asio;
using junction::awaitable;
using junction::errc;
using junction::incoming_session;
using junction::provider_state;

namespace {

using steady = std::chrono::steady_clock;

// What the service handlers saw, read from the test thread.
struct handler_record {
    std::atomic<int> sessions{0};
    std::atomic<int> lost{0};  // sessions that ended with errc::connection_lost
};

awaitable<void> greet(std::shared_ptr<incoming_session> in, std::shared_ptr<handler_record> rec) {
    ++rec->sessions;
    co_await in->respond(200, "OK", "hello, " + in->args());
    for (;;) {  // bounded: every receive has a deadline
        junction::packet p;
        try {
            p = co_await in->receive(default_timeout);
        } catch (const std::system_error& e) {
            if (e.code() == errc::connection_lost) ++rec->lost;
            throw;
        }
        if (p.ends_session()) co_return;
        co_await in->respond(200, "OK", p.content);
    }
}

// Answers "hello, <args>", then echoes every UPDATE's content until the session ends.
junction::connection::handler greeter(std::shared_ptr<handler_record> rec) {
    return [rec](std::shared_ptr<incoming_session> in) { return greet(std::move(in), rec); };
}

// A provider running on a private io_context thread. Add services through
// get() before start(); the callbacks count states and keep log lines.
class provider_on_thread {
public:
    explicit provider_on_thread(junction::provider_options o) : p_(io_.get_executor(), hooked(std::move(o))) {}

    ~provider_on_thread() {
        p_.stop();
        if (thread_.joinable()) {
            if (!wait_done(default_timeout)) io_.stop();
            thread_.join();
        }
    }

    junction::provider& get() { return p_; }

    void start() {
        asio::co_spawn(io_, p_.run(), [this](std::exception_ptr e) {
            const std::lock_guard lock(mutex_);
            failure_ = e;
            done_ = true;
        });
        thread_ = std::thread([this] { io_.run(); });
    }

    void stop() { p_.stop(); }
    bool wait_done(std::chrono::milliseconds timeout) {
        return wait_until([&] { return done(); }, timeout);
    }
    bool done() {
        const std::lock_guard lock(mutex_);
        return done_;
    }
    std::exception_ptr failure() {
        const std::lock_guard lock(mutex_);
        return failure_;
    }

    // Runs f on the provider's thread and waits for it.
    template <class F>
    void on_thread(F f) {
        std::promise<void> finished;
        asio::post(io_, [&] {
            f(p_);
            finished.set_value();
        });
        REQUIRE(finished.get_future().wait_for(default_timeout) == std::future_status::ready);
    }

    int attempts() const { return attempts_; }          // connecting reported
    int registrations() const { return registrations_; }  // registered reported
    int disconnects() const { return disconnects_; }
    std::vector<steady::time_point> attempt_times() {
        const std::lock_guard lock(mutex_);
        return attempt_times_;
    }
    int log_lines_containing(std::string_view what) {
        const std::lock_guard lock(mutex_);
        int n = 0;
        for (const auto& l : log_)
            if (l.find(what) != std::string::npos) ++n;
        return n;
    }
    std::string log_text() {
        const std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& l : log_) out += l + "\n";
        return out;
    }

private:
    junction::provider_options hooked(junction::provider_options o) {
        o.log = [this](std::string_view line) {
            const std::lock_guard lock(mutex_);
            log_.emplace_back(line);
        };
        o.on_state = [this](provider_state s) {
            if (s == provider_state::connecting) {
                const std::lock_guard lock(mutex_);
                attempt_times_.push_back(steady::now());
                ++attempts_;
            }
            if (s == provider_state::registered) ++registrations_;
            if (s == provider_state::disconnected) ++disconnects_;
        };
        return o;
    }

    std::mutex mutex_;
    std::vector<std::string> log_;
    std::vector<steady::time_point> attempt_times_;
    std::atomic<int> attempts_{0}, registrations_{0}, disconnects_{0};
    bool done_ = false;
    std::exception_ptr failure_;
    asio::io_context io_{1};
    junction::provider p_;  // after io_: destroyed before it
    std::thread thread_;
};

bool listed(junction::sync_client& c, const std::string& name) {
    const auto p = c.call("list-services");
    if (p.code != 200) return false;
    const boost::json::value all = boost::json::parse(p.content);
    for (const auto& s : all.at("services").as_array())
        if (s.at("name").as_string() == name) return true;
    return false;
}

junction::rpc::service calc_service() {
    junction::rpc::service calc("calc");
    calc.bind("add", [](int a, int b) { return a + b; });
    return calc;
}

int count_of(const std::string& text, std::string_view what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

// Runs the coroutine made by f(executor) on a fresh io_context, bounded by `limit`.
template <class F>
void run_on_fresh_context(F f, std::chrono::seconds limit = std::chrono::seconds(30)) {
    asio::io_context io(1);
    std::exception_ptr failure;
    bool finished = false;
    asio::co_spawn(io, f(io.get_executor()), [&](std::exception_ptr e) {
        failure = e;
        finished = true;
    });
    io.run_for(limit);
    REQUIRE(finished);
    if (failure) std::rethrow_exception(failure);
}

const std::string example_provider = JUNCTION_BUILD_DIR "/examples/example-provider";
const std::string example_client = JUNCTION_BUILD_DIR "/examples/example-client";

}  // namespace

TEST_CASE("provider: junctiond restarted (SIGTERM): the services are listed again and calls succeed, "
          "without touching the provider",
          "[lib][provider][restart]") {
    temp_dir dir;
    std::optional<daemon_process> d;
    d.emplace(dir);
    auto rec = std::make_shared<handler_record>();
    provider_on_thread pt({.socket = d->socket()});
    pt.get().add_service("restart.hello", greeter(rec)).add_service(calc_service());
    pt.start();
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));
    CHECK(pt.get().state() == provider_state::registered);

    junction::sync_client client(d->socket());
    junction::rpc::sync_client calc(d->socket(), "calc", {.timeout = default_timeout});
    CHECK(client.call("restart.hello before").content == "hello, before");
    CHECK(calc.call<int>("add", 2, 40) == 42);
    // A session in flight across the restart ends (500 shutdown to both sides).
    auto open = client.open("restart.hello open");
    CHECK(open.receive().content == "hello, open");

    d.reset();  // SIGTERM, waits for the exit
    CHECK(open.receive().code == 500);
    REQUIRE(wait_until([&] { return pt.disconnects() == 1; }));

    d.emplace(dir);  // the same socket path
    REQUIRE(wait_until([&] { return pt.registrations() == 2; }, 10s));
    CHECK(listed(client, "restart.hello"));
    CHECK(listed(client, "calc"));
    CHECK(client.call("restart.hello after").content == "hello, after");
    CHECK(calc.call<int>("add", 1, 2) == 3);  // the rpc::sync_client connected again too
    CHECK(pt.get().state() == provider_state::registered);
    CHECK(pt.log_lines_containing("lost the connection") == 1);
    CHECK_FALSE(pt.done());
}

TEST_CASE("rpc::client: once junctiond is gone its calls fail at once with connection_lost, "
          "a client on a new connection calls the re-registered service",
          "[lib][provider][restart]") {
    temp_dir dir;
    std::optional<daemon_process> d;
    d.emplace(dir);
    provider_on_thread pt({.socket = d->socket()});
    pt.get().add_service(calc_service());
    pt.start();
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));
    run_on_fresh_context([&](asio::any_io_executor ex) -> awaitable<void> {
        auto conn = co_await junction::connection::connect(ex, d->socket());
        junction::rpc::client calc(conn, "calc", {.timeout = default_timeout});
        const int before = co_await calc.call<int>("add", 2, 40);
        CHECK(before == 42);

        d.reset();  // blocks this thread until junctiond has exited: its EOF waits for us
        d.emplace(dir);
        const bool closed = co_await conn->wait_closed(default_timeout);
        CHECK(closed);
        std::error_code code;
        try {
            co_await calc.call<int>("add", 1, 1);
        } catch (const std::system_error& e) {
            code = e.code();
        }
        CHECK(code == errc::connection_lost);

        REQUIRE(wait_until([&] { return pt.registrations() == 2; }, 10s));
        auto again = co_await junction::connection::connect(ex, d->socket());
        junction::rpc::client calc2(again, "calc", {.timeout = default_timeout});
        const int after = co_await calc2.call<int>("add", 1, 2);
        CHECK(after == 3);
    });
}

TEST_CASE("provider: junctiond killed (SIGKILL) mid-session: the handler sees connection_lost, "
          "the next junctiond gets the service back",
          "[lib][provider][restart]") {
    temp_dir dir;
    std::optional<daemon_process> d;
    d.emplace(dir);
    auto rec = std::make_shared<handler_record>();
    provider_on_thread pt({.socket = d->socket()});
    pt.get().add_service("killed.hello", greeter(rec));
    pt.start();
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));

    junction::sync_client client(d->socket());
    auto open = client.open("killed.hello x");
    CHECK(open.receive().content == "hello, x");

    d->process().signal(SIGKILL);
    REQUIRE(d->process().wait_exit());
    REQUIRE(wait_until([&] { return rec->lost == 1; }));
    try {
        open.receive();
        FAIL("receive after junctiond died returned");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::connection_lost);
    }
    d.reset();

    d.emplace(dir);  // replaces the stale socket file
    REQUIRE(wait_until([&] { return pt.registrations() == 2; }, 10s));
    CHECK(client.call("killed.hello again").content == "hello, again");
    CHECK(rec->sessions == 2);
    CHECK(rec->lost == 1);
}

TEST_CASE("provider: with no junctiond, reconnect attempts back off: fewer than 15 in the first second",
          "[lib][provider][backoff]") {
    temp_dir dir;
    provider_on_thread pt({.socket = dir.file("nobody.sock")});
    pt.get().add_service("nobody.hello", greeter(std::make_shared<handler_record>()));
    pt.start();
    REQUIRE(wait_until([&] { return pt.attempts() >= 1; }));
    const auto first = pt.attempt_times().front();
    // The window is over once an attempt comes after it.
    REQUIRE(wait_until([&] { return pt.attempt_times().back() > first + 1s; }, 10s));
    const auto times = pt.attempt_times();
    const auto in_window = std::count_if(times.begin(), times.end(), [&](auto t) { return t <= first + 1s; });
    CHECK(in_window >= 2);
    CHECK(in_window < 15);
    // Each wait is at least 3/4 of 50 ms doubled (jitter only shortens it).
    for (std::size_t i = 1; i < times.size() && i <= 4; ++i)
        CHECK(times[i] - times[i - 1] >= std::chrono::microseconds(37500) * (1 << (i - 1)));
    CHECK(pt.log_lines_containing("retrying in") >= 2);
    CHECK(pt.get().state() == provider_state::connecting);
    CHECK(pt.registrations() == 0);
}

TEST_CASE("provider: the backoff stops growing at max_backoff", "[lib][provider][backoff]") {
    temp_dir dir;
    provider_on_thread pt({.socket = dir.file("nobody.sock"),
                           .initial_backoff = 10ms,
                           .max_backoff = 40ms,
                           .jitter = 0.25});
    pt.start();
    // Uncapped, the 12th attempt would come after 10 ms * (2^11 - 1), about 20 s.
    REQUIRE(wait_until([&] { return pt.attempts() >= 12; }, 5s));
    const auto times = pt.attempt_times();
    for (std::size_t i = 3; i < times.size(); ++i) CHECK(times[i] - times[i - 1] >= 30ms);
}

TEST_CASE("provider: stop() while waiting out a backoff returns promptly", "[lib][provider][stop]") {
    temp_dir dir;
    provider_on_thread pt({.socket = dir.file("nobody.sock"), .initial_backoff = 3s, .max_backoff = 3s});
    pt.start();
    REQUIRE(wait_until([&] { return pt.log_lines_containing("retrying in") == 1; }));
    const auto t0 = steady::now();
    pt.stop();
    REQUIRE(pt.wait_done(1000ms));
    CHECK(steady::now() - t0 < 500ms);
    CHECK_FALSE(pt.failure());
    CHECK(pt.attempts() == 1);
    CHECK(pt.get().state() == provider_state::stopped);
}

TEST_CASE("provider: stop() while serving closes the connection: sessions in flight get 515, the service is gone",
          "[lib][provider][stop]") {
    temp_dir dir;
    daemon_process d(dir);
    auto rec = std::make_shared<handler_record>();
    provider_on_thread pt({.socket = d.socket()});
    pt.get().add_service("stop.hello", greeter(rec));
    pt.start();
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));
    junction::sync_client client(d.socket());
    auto open = client.open("stop.hello x");
    CHECK(open.receive().content == "hello, x");

    const auto t0 = steady::now();
    pt.stop();
    REQUIRE(pt.wait_done(1000ms));
    CHECK(steady::now() - t0 < 500ms);
    CHECK_FALSE(pt.failure());
    CHECK(open.receive().code == 515);
    CHECK(wait_until([&] { return client.call("stop.hello y").code == 511; }));
    CHECK(wait_until([&] { return rec->lost == 1; }));
}

TEST_CASE("provider: a name held by another connection is retried, and registered once the holder goes away",
          "[lib][provider][refused]") {
    temp_dir dir;
    daemon_process d(dir);
    std::optional<raw_client> holder;
    holder.emplace(d.socket());
    holder->register_service("held.hello");

    auto rec = std::make_shared<handler_record>();
    provider_on_thread pt({.socket = d.socket(), .initial_backoff = 20ms, .max_backoff = 200ms});
    pt.get().add_service("held.hello", greeter(rec)).add_service("free.hello", greeter(rec));
    pt.start();
    // Refused (516), and tried again on the same connection.
    REQUIRE(wait_until([&] { return pt.log_lines_containing("516") >= 2; }));
    CHECK(pt.get().state() == provider_state::connected);
    CHECK(pt.registrations() == 0);
    junction::sync_client client(d.socket());
    CHECK(client.call("free.hello meanwhile").content == "hello, meanwhile");

    holder.reset();  // the holder's connection closes: its registration goes
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));
    CHECK(client.call("held.hello now").content == "hello, now");
    CHECK(pt.attempts() == 1);  // one connection all along
}

TEST_CASE("provider: a service added while registered is registered at once", "[lib][provider]") {
    temp_dir dir;
    daemon_process d(dir);
    auto rec = std::make_shared<handler_record>();
    provider_on_thread pt({.socket = d.socket()});
    pt.get().add_service("early.hello", greeter(rec));
    pt.start();
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));
    pt.on_thread([&](junction::provider& p) { p.add_service("late.hello", greeter(rec)); });
    REQUIRE(wait_until([&] { return pt.registrations() == 2; }));
    junction::sync_client client(d.socket());
    CHECK(client.call("late.hello x").content == "hello, x");
    CHECK(client.call("early.hello y").content == "hello, y");
}

TEST_CASE("provider: without retry, run() throws when junctiond is not there or goes away",
          "[lib][provider]") {
    temp_dir dir;
    {
        provider_on_thread pt({.socket = dir.file("junction.sock"), .retry = false});
        pt.start();
        REQUIRE(pt.wait_done(default_timeout));
        REQUIRE(pt.failure());
        try {
            std::rethrow_exception(pt.failure());
        } catch (const std::system_error& e) {
            CHECK_THAT(e.what(), Catch::Contains(dir.file("junction.sock")));
        }
    }
    std::optional<daemon_process> d;
    d.emplace(dir);
    provider_on_thread pt({.socket = d->socket(), .retry = false});
    pt.get().add_service("once.hello", greeter(std::make_shared<handler_record>()));
    pt.start();
    REQUIRE(wait_until([&] { return pt.registrations() == 1; }));
    d.reset();
    REQUIRE(pt.wait_done(default_timeout));
    REQUIRE(pt.failure());
    try {
        std::rethrow_exception(pt.failure());
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::connection_lost);
    }
    CHECK(pt.get().state() == provider_state::stopped);
}

TEST_CASE("provider: options out of range and bad services are refused", "[lib][provider]") {
    asio::io_context io;
    using junction::provider;
    const auto invalid = [&](junction::provider_options o) {
        try {
            provider p(io.get_executor(), std::move(o));
        } catch (const std::system_error& e) {
            return e.code() == std::errc::invalid_argument;
        }
        return false;
    };
    CHECK(invalid({.initial_backoff = 0ms}));
    CHECK(invalid({.initial_backoff = 100ms, .max_backoff = 50ms}));
    CHECK(invalid({.backoff_factor = 0.5}));
    CHECK(invalid({.jitter = 1.5}));
    provider p(io.get_executor());
    CHECK_THROWS_AS(p.add_service("bad name", greeter(std::make_shared<handler_record>())), std::system_error);
    CHECK_THROWS_AS(p.add_service("empty.handler", {}), std::system_error);
    CHECK(p.state() == provider_state::stopped);
}

TEST_CASE("examples: example-provider survives a junctiond restart, and a second one for the taken name "
          "waits and takes over",
          "[lib][examples][restart]") {
    temp_dir dir;
    std::optional<daemon_process> d;
    d.emplace(dir);
    const std::string socket = d->socket();
    const std::string log_a = dir.file("provider-a.log");
    child_process a({example_provider, "--socket", socket}, log_a);
    REQUIRE(wait_until([&] { return count_of(read_file(log_a), "ready: serving") == 1; }));
    CHECK(run_command({example_client, "--socket", socket, "before"}).out == "hello, before\n");

    d.reset();
    d.emplace(dir);
    REQUIRE(wait_until([&] { return count_of(read_file(log_a), "ready: serving") == 2; }, 10s));
    const auto after = run_command({example_client, "--socket", socket, "after"});
    CHECK(after.status == 0);
    CHECK(after.out == "hello, after\n");
    CHECK(a.running());

    // A second provider of example.hello is refused and keeps trying.
    const std::string log_b = dir.file("provider-b.log");
    child_process b({example_provider, "--socket", socket}, log_b);
    REQUIRE(wait_until([&] { return count_of(read_file(log_b), "516") >= 2; }));
    CHECK(count_of(read_file(log_b), "ready: serving") == 0);
    a.signal(SIGTERM);
    CHECK(a.wait_exit() == 0);
    REQUIRE(wait_until([&] { return count_of(read_file(log_b), "ready: serving") == 1; }, 10s));
    CHECK(run_command({example_client, "--socket", socket, "b"}).out == "hello, b\n");
    b.signal(SIGTERM);
    CHECK(b.wait_exit() == 0);
}
