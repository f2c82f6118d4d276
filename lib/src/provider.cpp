// The provider: one connection at a time to junctiond, the services registered
// on it, and the loop that replaces a lost connection.
//
// Flow: run() ─▶ run_loop: connect_once ─▶ serve(conn): register what is not
// registered yet, then sleep on `wake` until something changes ─▶ the
// connection is lost: wait the backoff ─▶ connect_once ...
// `wake` is cancelled by everything the loop must react to: stop(),
// add_service(), and the connection closing (a watcher coroutine per
// connection waits for that). The loop re-checks its conditions after every
// wake-up, so a cancel that finds nobody waiting is never lost.
#include "junction/provider.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "junction/proto/text.hpp"
#include "junction/rpc.hpp"

namespace junction {

namespace detail {

namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using seconds_f = std::chrono::duration<double>;

std::string millis(duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

std::system_error invalid(const std::string& what) {
    return std::system_error(std::make_error_code(std::errc::invalid_argument), what);
}

// The waits between attempts: initial, then times the factor up to the cap;
// each one shortened at random by up to `jitter` of itself.
class backoff {
public:
    backoff(const provider_options& o, std::minstd_rand& rng) : o_(o), rng_(rng), nominal_(o.initial_backoff) {}

    duration next() {
        const duration base = nominal_;
        const double grown = seconds_f(nominal_).count() * o_.backoff_factor;
        nominal_ = grown >= seconds_f(o_.max_backoff).count()
                       ? o_.max_backoff
                       : std::chrono::duration_cast<duration>(seconds_f(grown));
        double cut = 0;
        if (o_.jitter > 0) cut = std::uniform_real_distribution<double>(0.0, o_.jitter)(rng_);
        const auto wait = std::chrono::duration_cast<duration>(seconds_f(seconds_f(base).count() * (1.0 - cut)));
        return std::max(wait, duration(std::chrono::milliseconds(1)));
    }
    void reset() noexcept { nominal_ = o_.initial_backoff; }

private:
    const provider_options& o_;
    std::minstd_rand& rng_;
    duration nominal_;
};

}  // namespace

struct provider_core : std::enable_shared_from_this<provider_core> {
    provider_core(asio::any_io_executor e, provider_options o)
        : ex(std::move(e)), opts(std::move(o)), wake(ex), rng(std::random_device{}()) {}

    struct entry {
        connection::handler h;
        bool registered = false;    // on the current connection
        std::uint64_t version = 0;  // bumped when the handler is replaced
    };

    asio::any_io_executor ex;
    const provider_options opts;
    std::map<std::string, entry> services;  // ordered: registrations and log lines in name order
    std::shared_ptr<connection> conn;       // the connection in use, null between connections
    std::atomic<provider_state> state{provider_state::stopped};
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> running{false};
    asio::steady_timer wake;
    std::unique_ptr<asio::cancellation_signal> cancel_connect;  // set while connect() runs
    std::minstd_rand rng;

    void set_state(provider_state s) noexcept {
        state = s;
        if (!opts.on_state) return;
        try {
            opts.on_state(s);
        } catch (...) {
            // A callback's failure is not the provider's.
        }
    }

    void log(const std::string& line) noexcept {
        if (!opts.log) return;
        try {
            opts.log(line);
        } catch (...) {
        }
    }

    // Executor only: what stop() does.
    void halt() noexcept {
        wake.cancel();
        if (cancel_connect) cancel_connect->emit(asio::cancellation_type::terminal);
        if (conn) conn->close();
    }

    bool all_registered() const noexcept {
        return std::all_of(services.begin(), services.end(), [](const auto& kv) { return kv.second.registered; });
    }

    // Sleeps until the deadline or the next wake-up, whichever comes first.
    awaitable<void> sleep_until(clock::time_point deadline) {
        wake.expires_at(deadline);
        co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    // Waits out a backoff; only stop() ends it early.
    awaitable<void> pause(duration d) {
        const auto deadline = clock::now() + d;
        while (!stop_requested && clock::now() < deadline) co_await sleep_until(deadline);
    }

    // connect(), cancelled by stop() (it may be retrying a full accept backlog).
    awaitable<std::shared_ptr<connection>> connect_once() {
        cancel_connect = std::make_unique<asio::cancellation_signal>();
        struct drop_signal {
            std::unique_ptr<asio::cancellation_signal>& s;
            ~drop_signal() { s.reset(); }
        } drop{cancel_connect};
        co_return co_await asio::co_spawn(
            ex, connection::connect(ex, opts.socket, opts.connect_timeout),
            asio::bind_cancellation_slot(cancel_connect->slot(), asio::use_awaitable));
    }
};

namespace {

// Wakes the loop when `c` closes, however that happens.
awaitable<void> watch(std::weak_ptr<provider_core> weak, std::shared_ptr<connection> c) {
    co_await c->wait_closed(duration::max());
    if (const auto self = weak.lock()) self->wake.cancel();
}

struct serve_result {
    bool reached_registered = false;
    std::exception_ptr failure;  // with retry = false: what run() throws
};

// Registers the services on `c` and keeps them registered (new ones, refused
// ones after a backoff) until the connection closes or stop().
awaitable<serve_result> serve(std::shared_ptr<provider_core> self, std::shared_ptr<connection> c) {
    serve_result r;
    backoff refusals(self->opts, self->rng);
    std::set<std::string> refused;              // waiting for retry_at
    std::optional<clock::time_point> retry_at;  // set while `refused` is not empty
    for (;;) {  // bounded by the connection: every round registers or sleeps, until it closes or stop()
        if (self->stop_requested || !c->is_open()) co_return r;
        if (retry_at && clock::now() >= *retry_at) {
            refused.clear();
            retry_at.reset();
        }
        std::vector<std::string> pending;
        for (const auto& [name, e] : self->services)
            if (!e.registered && !refused.contains(name)) pending.push_back(name);

        // Registered no longer holds while a new or replaced service is pending.
        if (!pending.empty() && self->state == provider_state::registered) self->set_state(provider_state::connected);
        std::vector<std::string> refusal_lines;
        for (const auto& name : pending) {
            auto it = self->services.find(name);
            if (it == self->services.end() || it->second.registered) continue;
            const std::uint64_t version = it->second.version;
            std::error_code code;
            std::string what;
            std::exception_ptr error;
            try {
                co_await c->register_service(name, it->second.h, self->opts.register_timeout);
            } catch (const std::system_error& e) {
                code = e.code();
                what = e.what();
                error = std::current_exception();
            }
            if (self->stop_requested || !c->is_open()) co_return r;
            it = self->services.find(name);  // add_service() may have run meanwhile
            if (!error) {
                if (it != self->services.end() && it->second.version == version) it->second.registered = true;
                self->log("registered " + name);
                continue;
            }
            if (!self->opts.retry) {
                r.failure = error;
                co_return r;
            }
            if (code == errc::refused) {
                refused.insert(name);
                refusal_lines.push_back(what);
                continue;
            }
            // A timeout or a protocol error: this connection is not usable.
            self->log(what + "; reconnecting");
            c->close();
            co_return r;
        }
        if (!refusal_lines.empty()) {
            if (!retry_at) retry_at = clock::now() + refusals.next();
            const auto wait = std::max(*retry_at - clock::now(), duration::zero());
            for (const auto& line : refusal_lines) self->log(line + "; retrying in " + millis(wait));
        }

        const bool all = self->all_registered();
        if (all) refusals.reset();
        const auto want = all ? provider_state::registered : provider_state::connected;
        if (self->state != want) self->set_state(want);
        if (all) r.reached_registered = true;

        // A service added while registering: register it before sleeping.
        const bool fresh = std::any_of(self->services.begin(), self->services.end(), [&](const auto& kv) {
            return !kv.second.registered && !refused.contains(kv.first);
        });
        if (fresh) continue;
        co_await self->sleep_until(retry_at.value_or(clock::time_point::max()));
    }
}

awaitable<void> connect_and_serve(std::shared_ptr<provider_core> self) {
    backoff reconnects(self->opts, self->rng);
    for (;;) {  // bounded by stop(): every round connects once or waits out a backoff
        if (self->stop_requested) co_return;
        self->set_state(provider_state::connecting);
        std::shared_ptr<connection> c;
        std::exception_ptr failure;
        std::string failure_text;
        try {
            c = co_await self->connect_once();
        } catch (const std::system_error& e) {
            failure = std::current_exception();
            failure_text = e.what();
        }
        if (self->stop_requested) {
            if (c) c->close();
            co_return;
        }
        if (!c) {
            if (!self->opts.retry) std::rethrow_exception(failure);
            const auto wait = reconnects.next();
            self->log(failure_text + "; retrying in " + millis(wait));
            co_await self->pause(wait);
            continue;
        }

        const auto since = clock::now();
        self->conn = c;
        for (auto& [name, e] : self->services) e.registered = false;
        asio::co_spawn(self->ex, watch(self, c), [](std::exception_ptr) { /* nothing to report */ });
        self->set_state(provider_state::connected);
        self->log("connected to " + self->opts.socket);

        const serve_result r = co_await serve(self, c);
        self->conn.reset();
        c->close();
        if (self->stop_requested) co_return;
        if (r.failure) std::rethrow_exception(r.failure);
        self->set_state(provider_state::disconnected);
        if (!self->opts.retry)
            throw std::system_error(make_error_code(errc::connection_lost), "provider on " + self->opts.socket);
        // A connection that worked (or lasted) earns a quick return; one that
        // junctiond drops at once keeps growing the wait.
        if (r.reached_registered || clock::now() - since >= self->opts.max_backoff) reconnects.reset();
        const auto wait = reconnects.next();
        self->log("lost the connection to junctiond on " + self->opts.socket + "; reconnecting in " + millis(wait));
        co_await self->pause(wait);
    }
}

awaitable<void> run_loop(std::shared_ptr<provider_core> self) {
    if (self->running.exchange(true)) throw std::logic_error("provider::run: already running");
    // Also when the frame is destroyed without finishing (io_context torn down).
    struct not_running {
        std::atomic<bool>& flag;
        ~not_running() { flag = false; }
    } guard{self->running};
    std::exception_ptr failure;
    try {
        co_await connect_and_serve(self);
    } catch (...) {
        failure = std::current_exception();
    }
    if (self->conn) self->conn->close();
    self->conn.reset();
    self->set_state(provider_state::stopped);
    if (failure) std::rethrow_exception(failure);
}

}  // namespace

}  // namespace detail

std::string_view to_string(provider_state s) noexcept {
    switch (s) {
        case provider_state::stopped: return "stopped";
        case provider_state::connecting: return "connecting";
        case provider_state::connected: return "connected";
        case provider_state::registered: return "registered";
        case provider_state::disconnected: return "disconnected";
    }
    return "unknown";
}

provider::provider(boost::asio::any_io_executor ex, provider_options opts) {
    if (opts.initial_backoff <= duration::zero()) throw detail::invalid("provider: initial_backoff must be positive");
    if (opts.max_backoff < opts.initial_backoff)
        throw detail::invalid("provider: max_backoff must not be under initial_backoff");
    if (!(opts.backoff_factor >= 1.0)) throw detail::invalid("provider: backoff_factor must be at least 1");
    if (!(opts.jitter >= 0.0 && opts.jitter <= 1.0)) throw detail::invalid("provider: jitter must be within 0..1");
    core_ = std::make_shared<detail::provider_core>(std::move(ex), std::move(opts));
}

provider::~provider() {
    if (!core_) return;
    core_->stop_requested = true;
    // Nothing to wake when run() is not in progress (and its executor may be gone).
    if (core_->running) stop();
}

provider::provider(provider&&) noexcept = default;

provider& provider::operator=(provider&& o) noexcept {
    if (this != &o) {
        if (core_) {
            core_->stop_requested = true;
            if (core_->running) stop();
        }
        core_ = std::move(o.core_);
    }
    return *this;
}

provider& provider::add_service(std::string name, connection::handler h) {
    if (!proto::valid_service_name(name)) throw detail::invalid("provider: invalid service name \"" + name + "\"");
    if (!h) throw detail::invalid("provider: empty handler for " + name);
    auto& e = core_->services[name];
    e.h = std::move(h);
    e.registered = false;
    ++e.version;
    // run() registers it at once (before run(), nothing waits on the timer).
    if (core_->running) core_->wake.cancel();
    return *this;
}

provider& provider::add_service(const rpc::service& svc) { return add_service(svc.name(), svc.handler()); }

awaitable<void> provider::run() { return detail::run_loop(core_); }

void provider::stop() {
    if (!core_) return;
    core_->stop_requested = true;
    boost::asio::post(core_->ex, [c = core_] { c->halt(); });
}

provider_state provider::state() const noexcept { return core_->state; }
std::shared_ptr<connection> provider::current_connection() const noexcept { return core_->conn; }
boost::asio::any_io_executor provider::get_executor() const { return core_->ex; }
const provider_options& provider::options() const noexcept { return core_->opts; }

}  // namespace junction
