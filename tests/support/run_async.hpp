// Driving the asynchronous client library from a test: run one coroutine on a
// fresh io_context, bounded by a deadline. Header-only, for the integration
// tests that link Boost.Asio (the harness library itself does not).
#pragma once

#include <chrono>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace junction::test {

// Runs the coroutine made by f(executor) on a fresh io_context; the test fails
// if it does not finish within `limit` (60 s by default: the RPC tests move up to
// the 16 MiB message limit). Exceptions (REQUIRE failures too) propagate.
template <class F>
void run_async(F f, std::chrono::seconds limit = std::chrono::seconds(60)) {
    boost::asio::io_context io(1);
    std::exception_ptr failure;
    bool done = false;
    boost::asio::co_spawn(io, f(io.get_executor()), [&](std::exception_ptr e) {
        failure = e;
        done = true;
        io.stop();
    });
    io.run_for(limit);
    REQUIRE(done);
    if (failure) std::rethrow_exception(failure);
}

}  // namespace junction::test
