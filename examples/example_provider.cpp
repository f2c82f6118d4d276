// example-provider: serves `example.hello` through junctiond, and keeps
// serving it across junctiond's restarts.
//
//   example-provider [--socket PATH] [--service NAME] [--exit-on-disconnect]
//
// Flow: junction::provider connects, registers the service and prints "ready"
// (again after every reconnection) ─▶ for each REQUEST the library spawns
// hello(): RESPONSE "200 OK" + "hello, <args>", then every UPDATE's content
// comes back as RESPONSE 200, until the client ends the session (103) or stays
// idle too long. When junctiond goes away (restart, crash) the provider
// reconnects with backoff and registers again; a name held by someone else is
// retried the same way. Exits 0 on SIGINT/SIGTERM. With --exit-on-disconnect
// it exits 1 instead of retrying (junctiond not there, gone, or the name taken),
// for supervisors that restart it themselves.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "junction/provider.hpp"

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
    bool exit_on_disconnect = false;
};

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--socket" || a == "--service") && i + 1 < argc) {
            (a == "--socket" ? o.socket : o.service) = argv[++i];
        } else if (a == "--exit-on-disconnect") {
            o.exit_on_disconnect = true;
        } else {
            std::cerr << "usage: example-provider [--socket PATH] [--service NAME] [--exit-on-disconnect]\n";
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (!parse(argc, argv, o)) return 2;
    asio::io_context io(1);
    junction::provider provider(io.get_executor(), {
        .socket = o.socket,
        .retry = !o.exit_on_disconnect,
        .log = [](std::string_view line) { std::cerr << "example-provider: " << line << std::endl; },
        .on_state = [&o](junction::provider_state s) {
            if (s == junction::provider_state::registered)
                std::cout << "ready: serving " << o.service << " on " << o.socket << std::endl;
        },
    });
    provider.add_service(o.service, hello);

    int status = 0;
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (!ec) provider.stop();
    });
    asio::co_spawn(io, provider.run(), [&](std::exception_ptr e) {
        signals.cancel();
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            std::cerr << "example-provider: " << ex.what() << "\n";
        }
        status = 1;
    });
    io.run();
    return status;
}
