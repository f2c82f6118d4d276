// The asynchronous client library against the real junctiond: calls, provider
// handlers, concurrency, session ids, session ends, timeouts, lost connections.
//
// Flow of a test: start junctiond on a temp socket, run one test coroutine on a
// private io_context (run_async: bounded by a deadline), drive the library from
// it. Waits are on events (test_event) or library receives, always with deadlines.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <set>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "harness.hpp"
#include "run_async.hpp"
#include "junction/connection.hpp"

using namespace junction::test;
namespace asio = boost::asio;
using junction::awaitable;
using junction::connection;
using junction::errc;
using junction::incoming_session;

namespace {

using steady = std::chrono::steady_clock;

struct outcome {
    std::error_code code;
    std::string what;
};

// The std::system_error an operation throws, as a value ({} if it succeeds).
template <class T>
awaitable<outcome> outcome_of(awaitable<T> op) {
    try {
        co_await std::move(op);
    } catch (const std::system_error& e) {
        co_return outcome{e.code(), e.what()};
    }
    co_return outcome{};
}

// A flag one coroutine waits for with a deadline.
class test_event {
public:
    explicit test_event(asio::any_io_executor ex) : timer_(ex) {}
    void set() {
        set_ = true;
        timer_.cancel();
    }
    bool is_set() const { return set_; }
    awaitable<bool> wait(std::chrono::milliseconds timeout = default_timeout) {
        const auto until = steady::now() + timeout;
        while (!set_ && steady::now() < until) {
            timer_.expires_at(until);
            co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        co_return set_;
    }

private:
    asio::steady_timer timer_;
    bool set_ = false;
};

// Answers "hello, <args>", then echoes every UPDATE's content until the session ends.
awaitable<void> hello_handler(std::shared_ptr<incoming_session> in) {
    co_await in->respond(200, "OK", "hello, " + in->args());
    for (;;) {
        const junction::packet p = co_await in->receive(default_timeout);
        if (p.ends_session()) co_return;
        co_await in->respond(200, "OK", p.content);
    }
}

}  // namespace

TEST_CASE("library: call echo returns 200 with the args as content and ends the session",
          "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto conn = co_await connection::connect(ex, d.socket());
        CHECK(conn->is_open());
        const junction::packet p = co_await conn->call("echo hello  world", 5s);
        CHECK(p.code == 200);
        CHECK(p.message == "OK");
        CHECK(p.content == "hello  world");
        CHECK(conn->open_sessions() == 0);
        // Binary content survives the round trip: NUL bytes and a newline.
        auto s = co_await conn->open("echo");
        const auto opened = co_await s->receive(5s);
        CHECK(opened.code == 200);
        const std::string binary("a\0b\nc\xff", 6);
        co_await s->update(200, "", binary);
        const junction::packet echoed = co_await s->receive(5s);
        CHECK(echoed.content == binary);
        CHECK(echoed.content_vector().size() == 6);
        co_await s->end();
        CHECK(s->ended());
        co_await s->end();  // idempotent
    });
}

TEST_CASE("library: connect to a missing socket throws system_error naming the path", "[lib]") {
    temp_dir dir;
    const std::string path = dir.file("nobody.sock");
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        const auto r = co_await outcome_of(connection::connect(ex, path));
        CHECK(r.code);
        CHECK_THAT(r.what, Catch::Contains(path));
    });
}

TEST_CASE("library: connect gives up at its deadline when nobody accepts", "[lib]") {
    // A listener that never accepts, with its backlog filled by raw connects.
    temp_dir dir;
    const std::string path = dir.file("stuck.sock");
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 0) == 0);
    std::vector<int> fillers;
    for (;;) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        REQUIRE(fd >= 0);
        fillers.push_back(fd);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) break;
        REQUIRE(fillers.size() < 64);
    }
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        const auto t0 = steady::now();
        const auto r = co_await outcome_of(connection::connect(ex, path, 150ms));
        const auto waited = steady::now() - t0;
        CHECK(r.code == errc::timeout);
        CHECK(waited >= 150ms);
        CHECK(waited < 2s);
    });
    for (const int fd : fillers) ::close(fd);
    ::close(listener);
}

TEST_CASE("library: provider and client exchange updates both ways until the client sends 103",
          "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await connection::connect(ex, d.socket());
        test_event provider_saw_end(ex);
        std::vector<std::string> provider_log;
        co_await provider->register_service(
            "t.chat",
            [&](std::shared_ptr<incoming_session> in) -> awaitable<void> {
                provider_log.push_back(in->service() + "|" + in->args() + "|" + in->request_line());
                CHECK(in->id() != 0);
                CHECK(in->arg_list() == std::vector<std::string>{"a", "b"});
                co_await in->respond(200, "OK", "hello, " + in->args());
                for (;;) {
                    const junction::packet p = co_await in->receive(5s);
                    provider_log.push_back(std::to_string(p.code) + ":" + p.content);
                    if (p.ends_session()) break;
                    // Two RESPONSEs per UPDATE: the client reads them in order.
                    co_await in->respond(200, "OK", p.content);
                    co_await in->respond(200, "again", p.content + "!");
                }
                CHECK(in->ended());
                const auto after = co_await outcome_of(in->receive(1s));
                CHECK(after.code == errc::session_ended);
                provider_saw_end.set();
            },
            5s);

        auto client = co_await connection::connect(ex, d.socket());
        auto s = co_await client->open("t.chat a\tb");
        CHECK(s->id() == 1001);
        const junction::packet greeting = co_await s->receive(5s);
        CHECK(greeting.code == 200);
        CHECK(greeting.content == "hello, a\tb");
        for (const std::string word : {"one", "two"}) {
            co_await s->update(200, "", word);
            const junction::packet first = co_await s->receive(5s);
            const junction::packet second = co_await s->receive(5s);
            CHECK(first.content == word);
            CHECK(second.message == "again");
            CHECK(second.content == word + "!");
        }
        co_await s->end();
        const bool saw_end = co_await provider_saw_end.wait();
        REQUIRE(saw_end);
        CHECK(provider_log == std::vector<std::string>{"t.chat|a\tb|t.chat a\tb", "200:one",
                                                       "200:two", "103:"});
        const auto after = co_await outcome_of(s->receive(1s));
        CHECK(after.code == errc::session_ended);
        CHECK(client->open_sessions() == 0);
    });
}

TEST_CASE("library: 200 concurrent sessions on one connection each get their own answer",
          "[lib][load]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await connection::connect(ex, d.socket());
        int provider_open = 0, provider_max_open = 0;
        co_await provider->register_service(
            "t.many",
            [&](std::shared_ptr<incoming_session> in) -> awaitable<void> {
                provider_max_open = std::max(provider_max_open, ++provider_open);
                try {
                    co_await hello_handler(in);
                } catch (...) {
                    --provider_open;
                    throw;
                }
                --provider_open;
            },
            5s);
        auto client = co_await connection::connect(ex, d.socket());

        constexpr int n = 200;
        // Open all first, so that all 200 are open at once on both connections.
        std::vector<std::shared_ptr<junction::session>> sessions;
        for (int i = 0; i < n; ++i) sessions.push_back(co_await client->open("t.many " + std::to_string(i)));
        CHECK(client->open_sessions() == n);
        std::set<std::uint32_t> ids;
        for (const auto& s : sessions) ids.insert(s->id());
        CHECK(ids.size() == n);

        std::vector<std::string> answers(n);
        auto exchange = [&](int i) -> awaitable<void> {
            auto& s = sessions[static_cast<std::size_t>(i)];
            const junction::packet greeting = co_await s->receive(10s);
            // Appended, not "n" + ...: GCC 12 -O2 reports a false -Wrestrict on that insert.
            std::string ping = "n";
            ping += std::to_string(i);
            co_await s->update(200, "", ping);
            const junction::packet echo = co_await s->receive(10s);
            answers[static_cast<std::size_t>(i)] = greeting.content + "/" + echo.content;
            co_await s->end();
        };
        using op_type = decltype(asio::co_spawn(ex, exchange(0), asio::deferred));
        std::vector<op_type> ops;
        for (int i = 0; i < n; ++i) ops.push_back(asio::co_spawn(ex, exchange(i), asio::deferred));
        auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                   .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        int failed = 0;
        for (const auto& e : errors) failed += e ? 1 : 0;
        CHECK(failed == 0);
        for (int i = 0; i < n; ++i)
            CHECK(answers[static_cast<std::size_t>(i)] ==
                  "hello, " + std::to_string(i) + "/n" + std::to_string(i));
        CHECK(provider_max_open == n);
        CHECK(client->open_sessions() == 0);
    });
}

TEST_CASE("library: session ids skip ids still open as master, wrap around and skip 0", "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto conn = co_await connection::connect(ex, d.socket());
        auto a = co_await conn->open("echo a");
        CHECK(a->id() == 1001);
        conn->set_next_session_id(0xFFFFFFFFu);
        auto b = co_await conn->open("echo b");
        auto c = co_await conn->open("echo c");
        CHECK(b->id() == 0xFFFFFFFFu);
        CHECK(c->id() == 1);  // 0 is never a session id
        conn->set_next_session_id(1001);
        auto e = co_await conn->open("echo e");
        CHECK(e->id() == 1002);  // 1001 is still open
        // junctiond answers 503 to a reused open id; every session got its own 200.
        for (auto* s : {&a, &b, &c, &e}) {
            const junction::packet p = co_await (*s)->receive(5s);
            CHECK(p.code == 200);
            CHECK(p.content == (*s)->request_line().substr(5));
        }
        // Once ended, an id is free again (docs/protocol.md §3.4).
        co_await a->end();
        conn->set_next_session_id(1001);
        auto f = co_await conn->open("echo f");
        CHECK(f->id() == 1001);
        const auto f_answer = co_await f->receive(5s);
        CHECK(f_answer.content == "f");
        CHECK(conn->open_sessions() == 4);
    });
}

TEST_CASE("library: provider connection closed mid-session: client gets 515, then session_ended",
          "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await connection::connect(ex, d.socket());
        test_event provider_lost(ex);
        std::error_code provider_error;
        co_await provider->register_service(
            "t.mid",
            [&](std::shared_ptr<incoming_session> in) -> awaitable<void> {
                co_await in->respond(200, "OK", "started");
                const auto r = co_await outcome_of(in->receive(10s));
                provider_error = r.code;
                provider_lost.set();
            },
            5s);
        auto client = co_await connection::connect(ex, d.socket());
        auto s = co_await client->open("t.mid");
        const auto started = co_await s->receive(5s);
        CHECK(started.content == "started");

        provider->close();
        CHECK_FALSE(provider->is_open());
        const bool lost = co_await provider_lost.wait();
        REQUIRE(lost);
        CHECK(provider_error == errc::connection_lost);

        const junction::packet down = co_await s->receive(5s);
        CHECK(down.code == 515);
        CHECK(down.ends_session());
        CHECK(s->ended());
        const auto after = co_await outcome_of(s->receive(1s));
        CHECK(after.code == errc::session_ended);
        const auto update_after = co_await outcome_of(s->update(200));
        CHECK(update_after.code == errc::session_ended);
        CHECK(client->is_open());
    });
}

TEST_CASE("library: junctiond killed: a pending receive fails with connection_lost within 1 s",
          "[lib]") {
    using namespace asio::experimental::awaitable_operators;
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto conn = co_await connection::connect(ex, d.socket());
        auto s = co_await conn->open("echo");
        const auto opened = co_await s->receive(5s);
        CHECK(opened.code == 200);

        steady::time_point killed;
        auto killer = [&]() -> awaitable<void> {
            // Let the receive below start waiting first.
            asio::steady_timer t(ex, 20ms);
            co_await t.async_wait(asio::use_awaitable);
            killed = steady::now();
            d.process().signal(SIGKILL);
        };
        const outcome r = co_await (outcome_of(s->receive(30s)) && killer());
        const auto waited = steady::now() - killed;
        CHECK(r.code == errc::connection_lost);
        CHECK(waited < 1s);
        CHECK(s->ended());
        CHECK_FALSE(conn->is_open());
        CHECK(conn->last_error() == errc::connection_lost);
        // Every later operation fails at once, none waits.
        const auto again = co_await outcome_of(s->receive(30s));
        CHECK(again.code == errc::connection_lost);
        const auto open_after = co_await outcome_of(conn->open("echo"));
        CHECK(open_after.code == errc::connection_lost);
        const auto call_after = co_await outcome_of(conn->call("echo", 30s));
        CHECK(call_after.code == errc::connection_lost);
        const bool closed = co_await conn->wait_closed(1s);
        CHECK(closed);
    });
}

TEST_CASE("library: receive and call time out at their deadline, and cancellation stops a receive",
          "[lib]") {
    using namespace asio::experimental::awaitable_operators;
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        // A provider that never answers, but tells what it receives.
        auto provider = co_await connection::connect(ex, d.socket());
        std::vector<int> seen;
        test_event ended(ex);
        co_await provider->register_service(
            "t.silent",
            [&](std::shared_ptr<incoming_session> in) -> awaitable<void> {
                for (;;) {
                    const junction::packet p = co_await in->receive(10s);
                    seen.push_back(p.code);
                    if (p.ends_session()) break;
                }
                ended.set();
            },
            5s);
        auto client = co_await connection::connect(ex, d.socket());

        auto s = co_await client->open("t.silent");
        auto t0 = steady::now();
        const auto r = co_await outcome_of(s->receive(150ms));
        auto waited = steady::now() - t0;
        CHECK(r.code == errc::timeout);
        CHECK(waited >= 150ms);
        CHECK(waited < 2s);
        CHECK_FALSE(s->ended());  // a timeout does not end the session

        // Cancellation: the receive loses a race against a timer and gives up at once.
        std::error_code cancelled;
        auto receiver = [&]() -> awaitable<void> { cancelled = (co_await outcome_of(s->receive(10s))).code; };
        asio::steady_timer timer(ex, 50ms);
        t0 = steady::now();
        const auto raced = co_await (receiver() || timer.async_wait(asio::use_awaitable));
        CHECK(raced.index() == 1);
        CHECK(steady::now() - t0 < 2s);
        CHECK(cancelled == std::errc::operation_canceled);
        CHECK_FALSE(s->ended());
        co_await s->end();
        const bool ended_first = co_await ended.wait();
        REQUIRE(ended_first);
        CHECK(seen == std::vector<int>{103});

        // call(): the timeout propagates, and the session is ended behind it.
        ended = test_event(ex);
        seen.clear();
        t0 = steady::now();
        const auto c = co_await outcome_of(client->call("t.silent", 100ms));
        waited = steady::now() - t0;
        CHECK(c.code == errc::timeout);
        CHECK(waited >= 100ms);
        CHECK(waited < 2s);
        CHECK(client->open_sessions() == 0);
        const bool ended_second = co_await ended.wait();
        REQUIRE(ended_second);
        CHECK(seen == std::vector<int>{103});
    });
}

TEST_CASE("library: registering a name held by another connection is refused with 516", "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto first = co_await connection::connect(ex, d.socket());
        auto second = co_await connection::connect(ex, d.socket());
        co_await first->register_service("t.taken", hello_handler, 5s);
        // Again on the same connection: 200, the handler is replaced.
        co_await first->register_service("t.taken", hello_handler, 5s);

        const auto r = co_await outcome_of(second->register_service("t.taken", hello_handler, 5s));
        CHECK(r.code == errc::refused);
        CHECK_THAT(r.what, Catch::Contains("516") && Catch::Contains("t.taken"));

        const auto builtin = co_await outcome_of(second->register_service("echo", hello_handler, 5s));
        CHECK(builtin.code == errc::refused);
        const auto invalid = co_await outcome_of(second->register_service("bad name", hello_handler, 5s));
        CHECK(invalid.code == std::errc::invalid_argument);
        const auto not_mine = co_await outcome_of(second->unregister_service("t.taken", 5s));
        CHECK(not_mine.code == errc::refused);
        CHECK_THAT(not_mine.what, Catch::Contains("511"));

        // The first registration still serves.
        const junction::packet p = co_await second->call("t.taken x", 5s);
        CHECK(p.content == "hello, x");
    });
}

TEST_CASE("library: unregister_service stops routing, and a REQUEST without a handler gets 511",
          "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await connection::connect(ex, d.socket());
        auto client = co_await connection::connect(ex, d.socket());
        co_await provider->register_service("t.gone", hello_handler, 5s);
        const auto served = co_await client->call("t.gone 1", 5s);
        CHECK(served.content == "hello, 1");
        co_await provider->unregister_service("t.gone", 5s);
        const junction::packet after = co_await client->call("t.gone 2", 5s);
        CHECK(after.code == 511);  // from junctiond: nobody holds the name

        // Registered behind the library's back: junctiond routes it here, the
        // library has no handler and answers 511 itself.
        const auto registered = co_await provider->call("register-service t.raw", 5s);
        CHECK(registered.code == 200);
        const junction::packet raw = co_await client->call("t.raw", 5s);
        CHECK(raw.code == 511);
        CHECK(raw.message == "unknown service t.raw");
    });
}

TEST_CASE("library: a handler that returns ends its session with 103, one that throws with 501",
          "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await connection::connect(ex, d.socket());
        co_await provider->register_service(
            "t.once",
            [](std::shared_ptr<incoming_session> in) -> awaitable<void> {
                co_await in->respond(200, "OK", "only answer");
            },
            5s);
        co_await provider->register_service(
            "t.throws",
            [](std::shared_ptr<incoming_session>) -> awaitable<void> {
                throw std::runtime_error("boom");
                co_return;
            },
            5s);
        auto client = co_await connection::connect(ex, d.socket());
        auto s = co_await client->open("t.once");
        const auto only = co_await s->receive(5s);
        CHECK(only.content == "only answer");
        const junction::packet done = co_await s->receive(5s);
        CHECK(done.code == 103);
        CHECK(s->ended());

        const junction::packet failed = co_await client->call("t.throws", 5s);
        CHECK(failed.code == 501);
        CHECK_THAT(failed.message, Catch::Contains("boom"));
        CHECK(provider->is_open());
    });
}

TEST_CASE("library: bad arguments are refused before anything is sent", "[lib]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto conn = co_await connection::connect(ex, d.socket());
        for (const std::string& bad : {std::string(), std::string("   "), std::string("a\nb"),
                                      std::string("-bad name"), std::string(70000, 'x')}) {
            const auto r = co_await outcome_of(conn->open(bad));
            CHECK(r.code == std::errc::invalid_argument);
        }
        auto s = co_await conn->open("echo");
        const auto opened = co_await s->receive(5s);
        CHECK(opened.code == 200);
        const auto big = co_await outcome_of(s->update(200, "", std::string(65535, 'x')));
        CHECK(big.code == std::errc::message_size);
        const auto code = co_await outcome_of(s->update(99));
        CHECK(code.code == std::errc::invalid_argument);
        // The largest content that fits one packet goes through.
        const std::string max_content(65535 - 4, 'y');
        co_await s->update(200, "", max_content);
        const auto largest = co_await s->receive(5s);
        CHECK(largest.content == max_content);
        // Sending an error code ends the session locally too.
        co_await s->update(400, "client gives up");
        CHECK(s->ended());
        const auto after = co_await outcome_of(s->update(200));
        CHECK(after.code == errc::session_ended);
        CHECK(conn->open_sessions() == 0);
        CHECK(conn->is_open());
    });
}
