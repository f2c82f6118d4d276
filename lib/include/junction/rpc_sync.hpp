// Blocking RPC calls (docs/protocol.md §9) for programs that do not use Asio:
// no Asio or coroutine type appears here.
//
//   junction::rpc::sync_client calc(socket_path, "calc", {.timeout = std::chrono::seconds(5)});
//   int r = calc.call<int>("add", 2, 40);                              // 42
//   std::string s = calc.call<std::string>("greet", "world");
//   boost::json::value v = calc.call_json("info", boost::json::array{});
//   try { calc.call("no_such"); } catch (const junction::rpc::error& e) { e.code(); }  // 500
//
// Flow: the client owns an io_context running on a private thread, a
// junction::connection and an rpc::client (rpc.hpp) on it. Each call hands a
// coroutine to that thread and blocks until its result (or exception) comes
// back. Calls may be made from several threads at once: they run concurrently,
// each on its own session of the rpc::client's pool (options::max_sessions).
//
// Errors are those of rpc::client (rpc.hpp): rpc::error for an err_code result
// or a session that ended before its result (code = its status; 501 when no
// provider has the service), std::system_error with junction::errc::timeout /
// connection_lost. When the connection to junctiond was lost, the next call
// connects again (a restarted junctiond is picked up).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "junction/rpc_codec.hpp"

namespace junction::rpc {

class sync_client {
public:
    // Connects now; throws std::system_error ("connect <path>: ...") if junctiond
    // is not there, std::errc::invalid_argument for an invalid service name.
    sync_client(std::string socket_path, std::string service, options opts = {});
    ~sync_client();  // ends the sessions, closes the connection, joins the thread
    sync_client(sync_client&&) noexcept;
    sync_client& operator=(sync_client&&) noexcept;
    sync_client(const sync_client&) = delete;
    sync_client& operator=(const sync_client&) = delete;

    // Calls `function` with the arguments converted to JSON; returns "ret" as R
    // (R = void ignores it).
    template <class R = boost::json::value, class... Args>
    R call(std::string_view function, Args&&... args) {
        return result_as<R>(function,
                            call_json(function, to_json_array(std::forward<Args>(args)...)));
    }

    // Calls `function` with a JSON argument array; returns "ret".
    boost::json::value call_json(std::string_view function, boost::json::array args);
    // The whole result object; an err_code result is returned, not thrown.
    boost::json::object call_result(std::string_view function, boost::json::array args);

    const std::string& service() const noexcept;
    const options& settings() const noexcept;
    // Ends the sessions and closes the connection; the next call connects again.
    void close();

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace junction::rpc
