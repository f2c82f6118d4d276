// The private event loop of the blocking facades (sync_client,
// rpc::sync_client): an io_context run by a thread of its own. Callers start
// coroutines on it with run() and wait for their results; the owner's
// destructor calls shutdown() with a last step (closing what it holds) before
// its own members go.
#pragma once

#include <future>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

namespace junction::detail {

class io_thread {
public:
    io_thread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { loop(); }) {}
    io_thread(const io_thread&) = delete;
    io_thread& operator=(const io_thread&) = delete;
    ~io_thread() {
        if (thread_.joinable()) shutdown([] {});
    }

    boost::asio::io_context& context() noexcept { return io_; }

    // Runs the coroutine made by f on the loop and waits for its value or exception.
    template <class T, class F>
    T run(F f) {
        std::future<T> result = boost::asio::co_spawn(io_, std::move(f), boost::asio::use_future);
        return result.get();
    }

    // Runs `last` on the loop, stops it and joins the thread.
    template <class F>
    void shutdown(F last) {
        boost::asio::post(io_, [this, last = std::move(last)]() mutable {
            last();
            io_.stop();
        });
        thread_.join();
    }

private:
    void loop() {
        for (;;) {
            try {
                io_.run();
                return;
            } catch (...) {
                // Every coroutine here reports through its future (or catches its
                // own errors); keep the loop alive regardless.
            }
        }
    }

    boost::asio::io_context io_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;  // last: starts once the rest is built
};

}  // namespace junction::detail
