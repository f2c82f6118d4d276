// RPC between the library's rpc::service and rpc::client through the real
// junctiond (docs/protocol.md §9): typed results of every kind, error results,
// large calls and results, limits, the session pool, concurrency, timeouts,
// providers going away and coming back, and the blocking rpc::sync_client.
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>

#include "rpc_support.hpp"

using namespace junction::test;
using namespace rpc_test;
using junction::connection;

namespace {

using steady = std::chrono::steady_clock;

awaitable<std::shared_ptr<connection>> provide(asio::any_io_executor ex, const std::string& socket,
                                               rpc::service svc = calc_service()) {
    auto conn = co_await connection::connect(ex, socket);
    co_await svc.register_on(*conn, 5s);
    co_return conn;
}

}  // namespace

TEST_CASE("rpc: typed results of every kind (int, string, bool, null, object, list, coroutine)",
          "[rpc]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket());
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc", {.timeout = 5s});

        const auto sum = co_await calc.call<int>("add", 2, 40);
        CHECK(sum == 42);
        const auto greeting = co_await calc.call<std::string>("greet", "world");
        CHECK(greeting == "hello, world");
        const auto even = co_await calc.call<bool>("is_even", 10);
        CHECK(even);
        const auto odd = co_await calc.call<bool>("is_even", 7);
        CHECK_FALSE(odd);
        const auto null = co_await calc.call("nothing");
        CHECK(null.is_null());
        co_await calc.call<void>("nothing");
        const auto info = co_await calc.call<json::object>("info");
        CHECK(info.at("name") == "calc");
        CHECK(info.at("version") == 1);
        const auto users = co_await calc.call<json::array>("users");
        REQUIRE(users.size() == 2);
        CHECK(users[1].at("name") == "bob");
        // (Braced lists are built outside co_await expressions: GCC 12 cannot keep
        // an initializer_list's array alive across a co_await, "array used as initializer".)
        const json::value nested = json::object{{"a", json::array{1, nullptr, "x"}}};
        const auto echoed = co_await calc.call("echo", nested);
        CHECK(echoed == nested);
        const std::vector<long> four{1, 2, 3, 4};
        const auto total = co_await calc.call<long>("sum", four);
        CHECK(total == 10);
        const auto doubled = co_await calc.call<std::optional<int>>("maybe", 21);
        CHECK(doubled == 42);
        const auto none = co_await calc.call<std::optional<int>>("maybe", nullptr);
        CHECK(none == std::nullopt);
        const auto slow = co_await calc.call<int>("slow_add", 1, 2, 10);
        CHECK(slow == 3);
        const json::array twenty_two{20, 22}, one_one{1, 1};
        const auto ret = co_await calc.call_json("add", twenty_two);
        CHECK(ret == 42);
        const json::object two = {{"ret", 2}};
        const auto result = co_await calc.call_result("add", one_one);
        CHECK(result == two);
        // Every call above ran on the one session the client opened.
        CHECK(calc.open_sessions() == 1);
        CHECK(calc.idle_sessions() == 1);
    });
}

TEST_CASE("rpc: error results (500 no such function, 511 wrong arguments, 520 threw, own code)",
          "[rpc]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket());
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc", {.timeout = 5s});
        using E = std::pair<int, std::string>;

        const auto no_function = co_await rpc_error_of(calc.call("no_such"));
        CHECK(no_function == E{500, "no such function: no_such"});
        const auto too_few = co_await rpc_error_of(calc.call("add", 1));
        CHECK(too_few == E{511, "add: expected 2 arguments, got 1"});
        const auto wrong_type = co_await rpc_error_of(calc.call("add", 1, "two"));
        CHECK(wrong_type == E{511, "add: argument 2: expected integer, got string"});
        const auto not_string = co_await rpc_error_of(calc.call("greet", 5));
        CHECK(not_string == E{511, "greet: argument 1: expected string, got integer"});
        const auto threw = co_await rpc_error_of(calc.call("fail"));
        CHECK(threw == E{520, "boom"});
        const auto own_code = co_await rpc_error_of(calc.call("deny"));
        CHECK(own_code == E{403, "not allowed"});
        // The error results are whole objects for call_result.
        const json::object boom = {{"err_code", 520}, {"err_msg", "boom"}};
        const auto boom_result = co_await calc.call_result("fail", {});
        CHECK(boom_result == boom);
        // A ret of the wrong type for the caller.
        const auto wrong_ret = co_await rpc_error_of(calc.call<int>("greet", "x"));
        CHECK(wrong_ret == E{511, "result of greet: expected integer, got string"});
        // Errors are results: the session carried on and is still the only one.
        const auto after = co_await calc.call<int>("add", 2, 40);
        CHECK(after == 42);
        CHECK(calc.open_sessions() == 1);
    });
}

TEST_CASE("rpc: unknown service is rpc::error 501", "[rpc]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        rpc::client nope(co_await connection::connect(ex, d.socket()), "nosuch", {.timeout = 5s});
        const auto unknown = co_await rpc_error_of(nope.call("f"));
        CHECK(unknown == std::pair<int, std::string>{501, "unknown service nosuch"});
        CHECK(nope.open_sessions() == 0);
    });
}

TEST_CASE("rpc: a 10 MiB result and a 1 MiB argument travel in chunks", "[rpc][large]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket());
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc", {.timeout = 30s});

        const std::size_t ten_mib = 10u << 20;
        const std::string big = co_await calc.call<std::string>("big", ten_mib);
        CHECK(big.size() == ten_mib);
        CHECK(big == big_string(ten_mib));

        const std::string one_mib = big_string(1u << 20);
        const auto length = co_await calc.call<std::size_t>("length", one_mib);
        CHECK(length == one_mib.size());
        const auto echoed = co_await calc.call<std::string>("echo", one_mib);
        CHECK(echoed == one_mib);
        // Both directions at once, then a small call: the session is intact.
        const auto after = co_await calc.call<int>("add", 2, 40);
        CHECK(after == 42);
        CHECK(calc.open_sessions() == 1);
    });
}

TEST_CASE(
    "rpc: a result of exactly max-message passes daemon, client and provider, one byte more is 517",
    "[rpc][limit]") {
    constexpr std::size_t limit = 300000;
    temp_dir dir;
    daemon_process d(dir, {"--max-message", std::to_string(limit)});
    // big(n) returns {"ret":"<n bytes>"}: n + 10 bytes of content.
    std::size_t n = limit - 10 - 15 - 4 * 13;
    for (std::size_t guard = 0;
         guard < 100 && rpc::chunk_writer::payload_size(n + 10 + 1, rpc::wire::ret_text) <= limit;
         ++guard)
        ++n;
    REQUIRE(rpc::chunk_writer::payload_size(n + 10, rpc::wire::ret_text) == limit);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket(), calc_service({.max_message = limit}));
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc",
                         {.timeout = 10s, .max_message = limit});
        const auto at_limit = co_await calc.call<std::string>("big", n);
        CHECK(at_limit.size() == n);
        // One byte more: the provider answers with an error result instead.
        const auto e = co_await rpc_error_of(calc.call("big", n + 1));
        CHECK(e.first == 517);
        CHECK(e.second == "result of " + std::to_string(limit + 1) +
                              " bytes is over the message limit of " + std::to_string(limit) +
                              " bytes");
        const auto after = co_await calc.call<int>("add", 2, 40);
        CHECK(after == 42);
    });
}

TEST_CASE("rpc: calls and results over the message limit fail with 517 wherever it is enforced",
          "[rpc][limit]") {
    temp_dir dir;
    daemon_process d(dir, {"--max-message", "200000"});
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        // The provider allows more than the daemon; the client less.
        auto provider = co_await provide(ex, d.socket(), calc_service({.max_message = 1u << 20}));
        auto conn = co_await connection::connect(ex, d.socket());
        rpc::client small(conn, "calc", {.timeout = 5s, .max_message = 100000});
        rpc::client large(conn, "calc", {.timeout = 5s, .max_message = 1u << 20});

        SECTION("the client refuses a call over its limit before sending it") {
            const std::string arg(150000, 'a');
            const std::size_t size = rpc::chunk_writer::payload_size(
                rpc::encode_call("length", json::array{json::string(arg)}).size(),
                rpc::wire::call_text);
            const auto e = co_await rpc_error_of(small.call("length", arg));
            CHECK(e == std::pair<int, std::string>{
                           517, "rpc calc.length: call of " + std::to_string(size) +
                                    " bytes is over the message limit of 100000 bytes"});
            CHECK(small.open_sessions() == 0);
        }
        SECTION("the client ends the session when a result passes its limit") {
            const auto before = co_await small.call<int>("add", 1, 1);
            CHECK(before == 2);
            const auto e = co_await rpc_error_of(small.call("big", 150000));
            CHECK(e.first == 517);
            CHECK(e.second.find("result over the message limit of 100000 bytes") !=
                  std::string::npos);
            CHECK(small.open_sessions() == 0);
            const auto after = co_await small.call<int>("add", 2, 40);
            CHECK(after == 42);  // on a new session
        }
        SECTION("the daemon ends the session of a result over max-message") {
            const auto e = co_await rpc_error_of(large.call("big", 250000));
            CHECK(e == std::pair<int, std::string>{517, "calc: limit: message size"});
            const auto after = co_await large.call<int>("add", 2, 40);
            CHECK(after == 42);
        }
        SECTION("the daemon ends the session of a call over max-message") {
            const auto e = co_await rpc_error_of(large.call("length", std::string(250000, 'a')));
            CHECK(e == std::pair<int, std::string>{517, "calc: limit: message size"});
            const auto after = co_await large.call<int>("add", 2, 40);
            CHECK(after == 42);
        }
    });
}

TEST_CASE("rpc: a call over the provider's limit ends the session with 517", "[rpc][limit]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket(), calc_service({.max_message = 100000}));
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc", {.timeout = 5s});
        const auto e = co_await rpc_error_of(calc.call("length", std::string(150000, 'a')));
        CHECK(e.first == 517);
        CHECK(e.second == "calc: limit: message size: call over 100000 bytes");
        const auto length = co_await calc.call<std::size_t>("length", std::string(90000, 'a'));
        CHECK(length == 90000);
    });
}

TEST_CASE("rpc: concurrent calls from one client use separate sessions, up to max_sessions",
          "[rpc][pool]") {
    temp_dir dir;
    daemon_process d(dir);
    auto meter = std::make_shared<concurrency_meter>();
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket(), calc_service({}, meter));
        const auto conn = co_await connection::connect(ex, d.socket());

        const auto run_calls = [&](rpc::client& c, int calls) -> awaitable<int> {
            int done = 0, ok = 0;
            async_event all(ex);
            for (int i = 0; i < calls; ++i) {
                asio::co_spawn(ex, c.call<int>("slow_add", i, 1, 150),
                               [&, i](std::exception_ptr e, int r) {
                                   if (!e && r == i + 1) ++ok;
                                   if (++done == calls) all.set();
                               });
            }
            co_await all.wait(20s);
            co_return ok;
        };

        SECTION("8 calls at once: 8 sessions, all in the provider at the same time") {
            rpc::client calc(conn, "calc", {.timeout = 10s, .max_sessions = 8});
            const auto ok = co_await run_calls(calc, 8);
            CHECK(ok == 8);
            CHECK(meter->most == 8);
            CHECK(calc.open_sessions() == 8);
            CHECK(calc.idle_sessions() == 8);
        }
        SECTION("12 calls with max_sessions 3: never more than 3 at once, all succeed") {
            rpc::client calc(conn, "calc", {.timeout = 10s, .max_sessions = 3});
            const auto start = steady::now();
            const auto ok = co_await run_calls(calc, 12);
            CHECK(ok == 12);
            CHECK(meter->most == 3);
            CHECK(calc.open_sessions() == 3);
            // Four rounds of 150 ms, one after the other.
            CHECK(steady::now() - start >= 600ms);
        }
    });
}

TEST_CASE("rpc: waiting for a free session is bounded by the timeout", "[rpc][pool]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        async_event sleeping(ex);
        auto provider =
            co_await provide(ex, d.socket(), calc_service({}, nullptr, [&] { sleeping.set(); }));
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc",
                         {.timeout = 5s, .max_sessions = 1});
        std::error_code slow_result;
        async_event slow_done(ex);
        asio::co_spawn(ex, system_error_of(calc.call("sleep", 1000)),
                       [&](std::exception_ptr, std::error_code ec) {
                           slow_result = ec;
                           slow_done.set();
                       });
        // The one session is busy once the provider runs the sleep.
        const auto busy = co_await sleeping.wait(5s);
        REQUIRE(busy);
        calc.set_timeout(300ms);
        const auto start = steady::now();
        const auto waited = co_await system_error_of(calc.call("add", 1, 2));
        CHECK(waited == junction::errc::timeout);
        CHECK(steady::now() - start >= 300ms);
        CHECK(steady::now() - start < 2s);
        // The sleep kept its own deadline and its session.
        const auto slept = co_await slow_done.wait(5s);
        REQUIRE(slept);
        CHECK(slow_result == std::error_code{});
        const auto after = co_await calc.call<int>("add", 1, 2);
        CHECK(after == 3);
        CHECK(calc.open_sessions() == 1);
    });
}

TEST_CASE("rpc: a call that times out ends its session with UPDATE 514 and is not reused",
          "[rpc][timeout]") {
    temp_dir dir;
    daemon_process d(dir);
    // A provider that answers the REQUEST and then never answers a call.
    raw_client mute = provider_of(d.socket(), "mute");
    std::optional<packet> request, call, end;
    std::thread provider([&] {
        request = mute.try_recv(10s);
        if (!request) return;
        mute.send(junction::proto::packet_type::response, request->id(), "200 OK\n");
        call = mute.try_recv(10s);
        end = mute.try_recv(10s);
    });
    std::error_code ec;
    std::size_t open_after = 99;
    steady::duration took{};
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        rpc::client c(co_await connection::connect(ex, d.socket()), "mute", {.timeout = 300ms});
        const auto start = steady::now();
        ec = co_await system_error_of(c.call("f"));
        took = steady::now() - start;
        open_after = c.open_sessions();
    });
    provider.join();
    CHECK(ec == junction::errc::timeout);
    CHECK(took >= 300ms);
    CHECK(took < 3s);
    CHECK(open_after == 0);
    REQUIRE(call);
    CHECK(call->code() == 301);
    CHECK(call->content() == R"(["f"])");
    REQUIRE(end);
    CHECK(end->code() == 514);
    CHECK(end->message() == "call timed out");
}

TEST_CASE("rpc: 20 connections x 10 calls at once all get their own results",
          "[rpc][concurrency]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        auto provider = co_await provide(ex, d.socket());
        constexpr int clients = 20, calls = 10;
        int finished = 0, right = 0, wrong = 0;
        async_event all(ex);
        std::vector<std::unique_ptr<rpc::client>> pool;
        for (int c = 0; c < clients; ++c) {
            pool.push_back(
                std::make_unique<rpc::client>(co_await connection::connect(ex, d.socket()), "calc",
                                              rpc::options{.timeout = 20s, .max_sessions = 4}));
        }
        // All 200 calls in flight together: each client shares 4 sessions among its 10.
        for (int c = 0; c < clients; ++c) {
            for (int i = 0; i < calls; ++i) {
                asio::co_spawn(
                    ex,
                    [&, c, i]() -> awaitable<void> {
                        const std::string who = std::to_string(c) + "/" + std::to_string(i);
                        const int sum = co_await pool[c]->call<int>("slow_add", c * 1000, i, i % 5);
                        const std::string greeting =
                            co_await pool[c]->call<std::string>("greet", who);
                        (sum == c * 1000 + i && greeting == "hello, " + who) ? ++right : ++wrong;
                    },
                    [&](std::exception_ptr e) {
                        if (e) ++wrong;
                        if (++finished == clients * calls) all.set();
                    });
            }
        }
        const auto finished_all = co_await all.wait(30s);
        REQUIRE(finished_all);
        CHECK(right == clients * calls);
        CHECK(wrong == 0);
        for (const auto& c : pool) CHECK(c->open_sessions() == 4);
    });
}

TEST_CASE("rpc: after the provider goes away, the next call opens a new session and succeeds",
          "[rpc][restart]") {
    temp_dir dir;
    daemon_process d(dir);
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        const auto conn = co_await connection::connect(ex, d.socket());
        rpc::client calc(conn, "calc", {.timeout = 5s, .max_sessions = 4});
        {
            auto first = co_await provide(ex, d.socket());
            const auto before = co_await calc.call<int>("add", 1, 1);
            CHECK(before == 2);
            CHECK(calc.idle_sessions() == 1);
            first->close();
        }
        // Once junctiond has dropped the service, the idle session has got its 515 peer down.
        const auto gone = co_await wait_unregistered(*conn, "calc");
        REQUIRE(gone);
        const auto no_provider = co_await rpc_error_of(calc.call("add", 1, 2));
        CHECK(no_provider.first == 501);
        auto second = co_await provide(ex, d.socket());
        const auto after = co_await calc.call<int>("add", 2, 40);
        CHECK(after == 42);
        CHECK(calc.open_sessions() == 1);
    });
}

TEST_CASE(
    "rpc: provider killed with SIGKILL mid-call: 515 at once, then a new provider serves the same "
    "client",
    "[rpc][restart]") {
    temp_dir dir;
    daemon_process d(dir);
    forked_provider first(d.socket());
    run_async([&](asio::any_io_executor ex) -> awaitable<void> {
        rpc::client calc(co_await connection::connect(ex, d.socket()), "calc", {.timeout = 20s});
        const auto before = co_await calc.call<int>("add", 1, 1);
        CHECK(before == 2);

        // A long call; kill the provider once it is running it.
        std::pair<int, std::string> failed{0, ""};
        steady::time_point failed_at{};
        async_event call_done(ex);
        asio::co_spawn(ex, rpc_error_of(calc.call("sleep", 15000)),
                       [&](std::exception_ptr e, auto r) {
                           if (!e) failed = r;
                           failed_at = steady::now();
                           call_done.set();
                       });
        asio::posix::stream_descriptor notify(ex, ::dup(first.notify_fd()));
        char c = 0;
        for (int guard = 0; guard < 16 && c != 'S'; ++guard) {  // 'S': the sleep call started
            auto [ec, n] = co_await asio::async_read(notify, asio::buffer(&c, 1),
                                                     asio::as_tuple(asio::use_awaitable));
            if (ec) break;
        }
        REQUIRE(c == 'S');
        const auto killed_at = steady::now();
        first.kill9();
        const auto call_ended = co_await call_done.wait(5s);
        REQUIRE(call_ended);
        CHECK(failed == std::pair<int, std::string>{515, "calc: peer down"});
        CHECK(failed_at - killed_at < 2s);

        const auto no_provider = co_await rpc_error_of(calc.call("add", 1, 2));
        CHECK(no_provider.first == 501);
        forked_provider second(d.socket());
        const auto sum = co_await calc.call<int>("add", 2, 40);
        CHECK(sum == 42);
        const auto greeting = co_await calc.call<std::string>("greet", "again");
        CHECK(greeting == "hello, again");
    });
}

TEST_CASE("rpc: sync_client calls from several threads at once, without Asio", "[rpc][sync]") {
    temp_dir dir;
    daemon_process d(dir);
    provider_thread provider(d.socket(), calc_service());
    rpc::sync_client calc(d.socket(), "calc", {.timeout = 10s, .max_sessions = 4});
    CHECK(calc.call<int>("add", 2, 40) == 42);
    CHECK(calc.call<std::string>("greet", "sync") == "hello, sync");
    CHECK(calc.call_json("info", {}).as_object().at("name") == "calc");
    CHECK(calc.call_result("fail", {}) == json::object{{"err_code", 520}, {"err_msg", "boom"}});
    try {
        calc.call("deny");
        FAIL("deny did not throw");
    } catch (const rpc::error& e) {
        CHECK(e.code() == 403);
        CHECK(std::string(e.what()) == "not allowed");
    }

    std::atomic<int> right{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                try {
                    if (calc.call<int>("slow_add", t, i, 2) == t + i) ++right;
                } catch (const std::exception&) {
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(right == 6 * 20);

    CHECK_THROWS_AS(rpc::sync_client(dir.file("no.sock"), "calc"), std::system_error);
    rpc::sync_client nope(d.socket(), "nosuch", {.timeout = 2s});
    try {
        nope.call("f");
        FAIL("an unknown service did not throw");
    } catch (const rpc::error& e) {
        CHECK(e.code() == 501);
    }
}

TEST_CASE("rpc: sync_client connects again after junctiond restarts", "[rpc][sync][restart]") {
    temp_dir dir;
    std::optional<daemon_process> d(std::in_place, dir);
    std::optional<provider_thread> provider(std::in_place, d->socket(), calc_service());
    rpc::sync_client calc(d->socket(), "calc", {.timeout = 5s});
    CHECK(calc.call<int>("add", 1, 1) == 2);

    provider.reset();
    d.reset();  // SIGTERM: the connection is lost
    bool failed = false;
    try {
        calc.call("add", 1, 2);
    } catch (const std::exception&) {
        failed = true;
    }
    CHECK(failed);

    d.emplace(dir);
    provider.emplace(d->socket(), calc_service());
    CHECK(calc.call<int>("add", 2, 40) == 42);
}
