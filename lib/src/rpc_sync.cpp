// The blocking RPC client: a private io_context thread running rpc::client.
//
// Flow: caller thread ─▶ co_spawn(io, coroutine, use_future) ─▶ on the io
// thread: connected() (connect again if the connection was lost) ─▶
// rpc::client::call_result ─▶ the future hands back the result or the
// exception. The connection and the rpc::client are touched only on the io
// thread, so calls from several caller threads need no lock.
#include "junction/rpc_sync.hpp"

#include "io_thread.hpp"
#include "junction/proto/text.hpp"
#include "junction/rpc.hpp"

namespace junction::rpc {

struct sync_client::impl {
    impl(std::string p, std::string s, options o)
        : path(std::move(p)), service(std::move(s)), opts(o) {}

    ~impl() {
        loop.shutdown([this] {
            rpc.reset();  // ends the idle sessions
            if (conn) conn->close();
            conn.reset();
        });
    }

    template <class T, class F>
    T run(F f) {
        return loop.run<T>(std::move(f));
    }

    // io thread only. Calls racing to reconnect may both connect; the first to
    // finish wins and the other connection is closed.
    awaitable<std::shared_ptr<client>> connected() {
        if (rpc && conn->is_open()) co_return rpc;
        auto c = co_await connection::connect(loop.context().get_executor(), path);
        if (rpc && conn->is_open()) {
            c->close();
            co_return rpc;
        }
        rpc.reset();
        conn = std::move(c);
        rpc = std::make_shared<client>(conn, service, opts);
        co_return rpc;
    }

    const std::string path;
    const std::string service;
    const options opts;
    junction::detail::io_thread loop;
    std::shared_ptr<connection> conn;  // io thread only
    std::shared_ptr<client> rpc;       // io thread only
};

sync_client::sync_client(std::string socket_path, std::string service, options opts) {
    if (!proto::valid_service_name(service))
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "rpc::sync_client: invalid service name \"" + service + "\"");
    impl_ = std::make_shared<impl>(std::move(socket_path), std::move(service), opts);
    impl_->run<void>([i = impl_.get()]() -> awaitable<void> { co_await i->connected(); });
}

sync_client::~sync_client() = default;
sync_client::sync_client(sync_client&&) noexcept = default;
sync_client& sync_client::operator=(sync_client&&) noexcept = default;

boost::json::object sync_client::call_result(std::string_view function, boost::json::array args) {
    return impl_->run<boost::json::object>(
        [i = impl_.get(), f = std::string(function),
         a = std::move(args)]() mutable -> awaitable<boost::json::object> {
            const auto c = co_await i->connected();
            co_return co_await c->call_result(std::move(f), std::move(a));
        });
}

boost::json::value sync_client::call_json(std::string_view function, boost::json::array args) {
    return result_value(call_result(function, std::move(args)));
}

const std::string& sync_client::service() const noexcept {
    return impl_->service;
}
const options& sync_client::settings() const noexcept {
    return impl_->opts;
}

void sync_client::close() {
    impl_->run<void>([i = impl_.get()]() -> awaitable<void> {
        i->rpc.reset();
        if (i->conn) i->conn->close();
        i->conn.reset();
        co_return;
    });
}

}  // namespace junction::rpc
