// example-provider: serves `example.hello` through junctiond.
//
//   example-provider [--socket PATH] [--service NAME]
//
// Flow: connect ─▶ register the service ─▶ print "ready" ─▶ for each REQUEST
// the library spawns hello(): RESPONSE "200 OK" + "hello, <args>", then every
// UPDATE's content comes back as RESPONSE 200, until the client ends the
// session (103) or stays idle too long. Exits 0 on SIGINT/SIGTERM, 1 when
// junctiond goes away or refuses the name.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>

#include "junction/connection.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using junction::awaitable;

namespace {

constexpr auto idle_limit = 10min;

awaitable<void> hello(std::shared_ptr<junction::incoming_session> in) {
    co_await in->respond(200, "OK", "hello, " + in->args());
    for (;;) {
        bool idle = false;
        try {
            const junction::packet p = co_await in->receive(idle_limit);
            if (p.ends_session()) co_return;  // 103 from the client, or an error
            co_await in->respond(200, "OK", p.content);
            continue;
        } catch (const std::system_error& e) {
            if (e.code() != junction::errc::timeout) throw;
            idle = true;
        }
        if (idle) {
            co_await in->respond(514, "idle for too long");
            co_return;
        }
    }
}

struct options {
    std::string socket = junction::default_socket_path();
    std::string service = "example.hello";
};

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--socket" || a == "--service") && i + 1 < argc) {
            (a == "--socket" ? o.socket : o.service) = argv[++i];
        } else {
            std::cerr << "usage: example-provider [--socket PATH] [--service NAME]\n";
            return false;
        }
    }
    return true;
}

awaitable<void> serve(options o, std::shared_ptr<junction::connection>& out) {
    const auto ex = co_await asio::this_coro::executor;
    out = co_await junction::connection::connect(ex, o.socket);
    co_await out->register_service(o.service, hello, 5s);
    std::cout << "ready: serving " << o.service << " on " << o.socket << std::endl;
    while (!co_await out->wait_closed(1h)) {
    }
    throw std::system_error(out->last_error(), "serving " + o.service);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (!parse(argc, argv, o)) return 2;
    asio::io_context io(1);
    std::shared_ptr<junction::connection> conn;
    int status = 0;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (ec) return;
        if (conn) conn->close();
        io.stop();
    });
    asio::co_spawn(io, serve(o, conn), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            std::cerr << "example-provider: " << ex.what() << "\n";
        }
        status = 1;
        io.stop();
    });
    io.run();
    return status;
}
