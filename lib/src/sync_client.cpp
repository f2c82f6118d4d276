// The blocking facade: a private io_context thread running the async library.
//
// Flow: caller thread ─▶ co_spawn(io, coroutine, use_future) ─▶ io thread runs
// it on the connection ─▶ the future hands back the value or the exception.
// The connection and every session object are touched only on the io thread;
// sync_session releases its session there too (its destructor sends the 103).
#include "junction/sync_client.hpp"

#include <boost/asio/post.hpp>

#include "io_thread.hpp"
#include "junction/connection.hpp"

namespace junction {

namespace asio = boost::asio;

struct sync_client::impl {
    impl(std::string p, duration t) : path(std::move(p)), timeout(t) {}

    ~impl() {
        loop.shutdown([this] {
            if (conn) conn->close();
            conn.reset();
        });
    }

    // Runs the coroutine made by f on the io thread and waits for its result.
    template <class T, class F>
    T run(F f) {
        return loop.run<T>(std::move(f));
    }

    // io thread only.
    awaitable<std::shared_ptr<connection>> connected(duration connect_timeout) {
        if (!conn || !conn->is_open()) {
            conn.reset();
            conn = co_await connection::connect(loop.context().get_executor(), path, connect_timeout);
        }
        co_return conn;
    }

    std::string path;
    duration timeout;  // caller side only
    detail::io_thread loop;
    std::shared_ptr<connection> conn;  // io thread only
};

sync_client::sync_client(std::string path, duration timeout)
    : impl_(std::make_shared<impl>(std::move(path), timeout)) {
    impl_->run<void>([i = impl_.get(), t = timeout]() -> awaitable<void> { co_await i->connected(t); });
}

sync_client::~sync_client() = default;
sync_client::sync_client(sync_client&&) noexcept = default;
sync_client& sync_client::operator=(sync_client&&) noexcept = default;

packet sync_client::call(std::string_view request_line) {
    return impl_->run<packet>([i = impl_.get(), line = std::string(request_line),
                               t = impl_->timeout]() -> awaitable<packet> {
        const auto c = co_await i->connected(t);
        co_return co_await c->call(line, t);
    });
}

sync_session sync_client::open(std::string_view request_line) {
    auto s = impl_->run<std::shared_ptr<session>>(
        [i = impl_.get(), line = std::string(request_line),
         t = impl_->timeout]() -> awaitable<std::shared_ptr<session>> {
            const auto c = co_await i->connected(t);
            co_return co_await c->open(line);
        });
    return sync_session(impl_, std::move(s));
}

bool sync_client::is_open() const {
    return impl_->run<bool>(
        [i = impl_.get()]() -> awaitable<bool> { co_return i->conn && i->conn->is_open(); });
}

void sync_client::close() {
    impl_->run<void>([i = impl_.get()]() -> awaitable<void> {
        if (i->conn) i->conn->close();
        i->conn.reset();
        co_return;
    });
}

sync_client::duration sync_client::timeout() const noexcept { return impl_->timeout; }
void sync_client::set_timeout(duration t) noexcept { impl_->timeout = t; }

// --- sync_session ---------------------------------------------------------------

sync_session::sync_session(std::shared_ptr<sync_client::impl> client, std::shared_ptr<session> s)
    : client_(std::move(client)), session_(std::move(s)), id_(session_->id()) {}

sync_session::~sync_session() { release(); }

sync_session::sync_session(sync_session&& o) noexcept
    : client_(std::move(o.client_)), session_(std::move(o.session_)), id_(o.id_) {}

sync_session& sync_session::operator=(sync_session&& o) noexcept {
    if (this != &o) {
        release();
        client_ = std::move(o.client_);
        session_ = std::move(o.session_);
        id_ = o.id_;
    }
    return *this;
}

void sync_session::release() noexcept {
    if (!session_ || !client_) return;
    // The session's destructor (which may send the 103) must run on the io thread.
    try {
        asio::post(client_->loop.context(), [s = std::move(session_)]() mutable { s.reset(); });
    } catch (...) {
    }
    session_.reset();
}

void sync_session::update(std::uint16_t code, std::string_view message, std::string_view content) {
    client_->run<void>([s = session_, code, m = std::string(message),
                        c = std::string(content)]() -> awaitable<void> { co_await s->update(code, m, c); });
}

packet sync_session::receive() { return receive(client_->timeout); }

packet sync_session::receive(sync_client::duration timeout) {
    return client_->run<packet>(
        [s = session_, timeout]() -> awaitable<packet> { co_return co_await s->receive(timeout); });
}

void sync_session::end() {
    client_->run<void>([s = session_]() -> awaitable<void> { co_await s->end(); });
}

bool sync_session::ended() const {
    return client_->run<bool>([s = session_]() -> awaitable<bool> { co_return s->ended(); });
}

}  // namespace junction
