// The RPC convention of docs/protocol.md §9 without any I/O (sans-io): error
// codes, the rpc::error exception, conversions between C++ values and JSON,
// the call and result JSON, and the chunking of messages longer than one
// packet (§5). rpc.hpp (async) and rpc_sync.hpp (blocking) are built on it;
// it is header-only, so it can be used (and tested) without the client library.
//
//   call    ["add",2,40]                       UPDATE   301 CLIENT CALL
//   result  {"ret":42}                         RESPONSE 311 SERVER RET
//           {"err_code":500,"err_msg":"..."}
//
// Flow (sender):   encode_call / encode_result ─▶ chunk_writer::next() per packet
//                  (312 HAS MORE ... then 301/311), waiting for 302 MORE after each 312.
// Flow (receiver): each packet's code and content ─▶ message_reader::feed()
//                  ─▶ need_more (answer 302 MORE) / complete (take()) / too_large / unexpected
//                  ─▶ parse_call / parse_result.
//
// Message size, as the daemon counts it (§5, §8): the payload bytes of all the
// message's packets, code lines included. chunk_writer::payload_size() gives it
// before anything is sent, so a sender can refuse a message over the limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

namespace junction::rpc {

// --- Limits and codes ------------------------------------------------------------

// The default message limit, the same as junctiond's max-message (§8).
inline constexpr std::size_t default_max_message = 16 * 1024 * 1024;
// Payload bytes of one packet (the 16-bit length of the header).
inline constexpr std::size_t max_packet_payload = 65535;

// err_code values (§9, libsearpc's where it has one). Besides these, a call can
// fail with the status that ended its session (515 peer down, 504 policy, ...).
namespace err {
inline constexpr int no_such_function = 500;  // the service has no function of that name
inline constexpr int unknown_service =
    501;                              // no provider registered the service (libsearpc's code)
inline constexpr int bad_call = 511;  // bad JSON, or arguments/result of the wrong count or type
inline constexpr int timed_out =
    514;  // no result in time (the gateway's code; the library throws errc::timeout)
inline constexpr int limit = 517;            // a call or result over the message limit
inline constexpr int function_failed = 520;  // the function threw; err_msg is its what()
}  // namespace err

// Wire codes and texts of §9.
namespace wire {
inline constexpr std::uint16_t call = 301;  // UPDATE: the last (or only) packet of a call
inline constexpr std::uint16_t more = 302;  // either way: send the next chunk
inline constexpr std::uint16_t ret = 311;   // RESPONSE: the last (or only) packet of a result
inline constexpr std::uint16_t has_more = 312;
inline constexpr std::string_view call_text = "CLIENT CALL";
inline constexpr std::string_view more_text = "MORE";
inline constexpr std::string_view ret_text = "SERVER RET";
inline constexpr std::string_view has_more_text = "HAS MORE";
}  // namespace wire

// A call that failed with an err_code: thrown by clients for an error result
// (and for a session that ended before its result, with the ending status as
// the code), and thrown by bound functions to fail with their own code:
//
//   throw junction::rpc::error(403, "not allowed");  // {"err_code":403,"err_msg":"not allowed"}
//
// what() is the err_msg as it is.
class error : public std::runtime_error {
public:
    error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }
    std::string message() const { return what(); }

private:
    int code_;
};

// --- Client settings -----------------------------------------------------------

// For rpc::client (rpc.hpp) and rpc::sync_client (rpc_sync.hpp):
//   junction::rpc::options{.timeout = 5s, .max_sessions = 8, .max_message = 16 << 20}
struct options {
    // Bounds each call as a whole: waiting for a free session, opening one,
    // sending the call, receiving the result (std::system_error errc::timeout).
    std::chrono::steady_clock::duration timeout = std::chrono::seconds(30);
    // Sessions the client keeps open to the service, at most: concurrent calls
    // beyond it wait (within the timeout) for one to become free.
    std::size_t max_sessions = 8;
    // Largest call and result, counted as the daemon counts them (§5).
    std::size_t max_message = default_max_message;
};

// --- C++ values ⇄ JSON -------------------------------------------------------------
//
// Arguments and results convert with these rules (in this order):
//   boost::json::value / object / array / string   as they are (object, array and
//                                                  string must have that kind)
//   std::nullptr_t, void (results only)            null
//   bool                                           true/false only
//   integers                                       JSON integers in the type's range
//   floating point                                 any JSON number
//   std::string, std::string_view (results only)   strings
//   std::optional<T>                               null or T
//   anything else                                  boost::json::value_to / value_from
//                                                  (containers, maps, tag_invoke types)

namespace detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

inline std::string_view kind_name(const boost::json::value& v) noexcept {
    switch (v.kind()) {
        case boost::json::kind::null:
            return "null";
        case boost::json::kind::bool_:
            return "boolean";
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
            return "integer";
        case boost::json::kind::double_:
            return "number";
        case boost::json::kind::string:
            return "string";
        case boost::json::kind::array:
            return "array";
        case boost::json::kind::object:
            return "object";
    }
    return "value";
}

}  // namespace detail

// What a parameter of type T accepts, for error messages ("integer", "string", ...).
template <class T>
std::string type_name() {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, boost::json::value>)
        return "any JSON value";
    else if constexpr (std::is_same_v<U, boost::json::object>)
        return "object";
    else if constexpr (std::is_same_v<U, boost::json::array>)
        return "array";
    else if constexpr (std::is_same_v<U, boost::json::string> || std::is_same_v<U, std::string>)
        return "string";
    else if constexpr (std::is_same_v<U, std::nullptr_t>)
        return "null";
    else if constexpr (std::is_same_v<U, bool>)
        return "boolean";
    else if constexpr (std::is_integral_v<U>)
        return "integer";
    else if constexpr (std::is_floating_point_v<U>)
        return "number";
    else if constexpr (detail::is_optional<U>::value)
        return type_name<typename U::value_type>() + " or null";
    else
        return "a value convertible to the parameter's type";
}

// T from JSON, or nullopt with `why` set ("expected integer, got string").
template <class T>
std::optional<T> try_from_json(const boost::json::value& v, std::string& why) {
    using U = std::remove_cvref_t<T>;
    const auto mismatch = [&]() -> std::optional<T> {
        why = "expected " + type_name<U>() + ", got " + std::string(detail::kind_name(v));
        return std::nullopt;
    };
    if constexpr (std::is_same_v<U, boost::json::value>) {
        return v;
    } else if constexpr (std::is_same_v<U, boost::json::object>) {
        if (const auto* o = v.if_object()) return *o;
        return mismatch();
    } else if constexpr (std::is_same_v<U, boost::json::array>) {
        if (const auto* a = v.if_array()) return *a;
        return mismatch();
    } else if constexpr (std::is_same_v<U, boost::json::string>) {
        if (const auto* s = v.if_string()) return *s;
        return mismatch();
    } else if constexpr (std::is_same_v<U, std::string>) {
        if (const auto* s = v.if_string()) return std::string(*s);
        return mismatch();
    } else if constexpr (std::is_same_v<U, std::nullptr_t>) {
        if (v.is_null()) return nullptr;
        return mismatch();
    } else if constexpr (std::is_same_v<U, bool>) {
        if (const auto* b = v.if_bool()) return *b;
        return mismatch();
    } else if constexpr (std::is_integral_v<U>) {
        if (const auto* i = v.if_int64()) {
            if (std::in_range<U>(*i)) return static_cast<U>(*i);
        } else if (const auto* u = v.if_uint64()) {
            if (std::in_range<U>(*u)) return static_cast<U>(*u);
        } else {
            return mismatch();
        }
        why = "integer " + boost::json::serialize(v) + " out of range";
        return std::nullopt;
    } else if constexpr (std::is_floating_point_v<U>) {
        if (const auto* d = v.if_double()) return static_cast<U>(*d);
        if (const auto* i = v.if_int64()) return static_cast<U>(*i);
        if (const auto* u = v.if_uint64()) return static_cast<U>(*u);
        return mismatch();
    } else if constexpr (detail::is_optional<U>::value) {
        if (v.is_null()) return U{};
        if (auto inner = try_from_json<typename U::value_type>(v, why)) return U{std::move(*inner)};
        return std::nullopt;
    } else {
        static_assert(
            boost::json::has_value_to<U>::value,
            "junction::rpc: no conversion from JSON to this type (see boost::json::value_to)");
        auto r = boost::json::try_value_to<U>(v);
        if (r) return std::move(*r);
        why = "cannot convert " + std::string(detail::kind_name(v)) + ": " + r.error().message();
        return std::nullopt;
    }
}

// JSON from a C++ value.
template <class T>
boost::json::value to_json(T&& t) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, boost::json::value> || std::is_same_v<U, boost::json::object> ||
                  std::is_same_v<U, boost::json::array> || std::is_same_v<U, boost::json::string>) {
        return boost::json::value(std::forward<T>(t));
    } else if constexpr (std::is_same_v<U, std::nullptr_t>) {
        return nullptr;
    } else if constexpr (std::is_same_v<U, std::string_view>) {
        return boost::json::string(t);
    } else if constexpr (std::is_same_v<std::decay_t<T>, const char*> ||
                         std::is_same_v<std::decay_t<T>, char*>) {
        return boost::json::string(t);
    } else if constexpr (detail::is_optional<U>::value) {
        if (!t) return nullptr;
        return to_json(*std::forward<T>(t));
    } else {
        static_assert(
            boost::json::has_value_from<U>::value,
            "junction::rpc: no conversion from this type to JSON (see boost::json::value_from)");
        return boost::json::value_from(std::forward<T>(t));
    }
}

// The arguments of a call as a JSON array.
template <class... Args>
boost::json::array to_json_array(Args&&... args) {
    boost::json::array a;
    a.reserve(sizeof...(Args));
    (a.push_back(to_json(std::forward<Args>(args))), ...);
    return a;
}

// --- Parsing with a position ---------------------------------------------------------

// One complete JSON text (surrounding whitespace allowed, one trailing NUL
// tolerated as in request lines). nullopt with `why` = "invalid JSON at byte N: ...".
inline std::optional<boost::json::value> parse_json(std::string_view text, std::string& why) {
    if (!text.empty() && text.back() == '\0') text.remove_suffix(1);
    // One parser per thread, reset per text: its internal stack is allocated
    // once instead of per call (it was 5% of a small call's instructions). It
    // is dropped after a large text so that it does not keep that text's stack.
    thread_local std::optional<boost::json::stream_parser> parser;
    struct shrink {
        std::size_t size;
        ~shrink() {
            if (size > 65536) parser.reset();
        }
    } const after{text.size()};
    if (!parser) parser.emplace();
    boost::json::stream_parser& p = *parser;
    p.reset();
    boost::system::error_code ec;
    const std::size_t n = p.write_some(text.data(), text.size(), ec);
    if (!ec && p.done() && n < text.size()) {
        why = "invalid JSON at byte " + std::to_string(n) + ": unexpected data after the value";
        return std::nullopt;
    }
    if (!ec) p.finish(ec);
    if (ec) {
        why = "invalid JSON at byte " + std::to_string(n) + ": " + ec.message();
        return std::nullopt;
    }
    return p.release();
}

// --- Calls ---------------------------------------------------------------------------

struct call {
    std::string function;
    boost::json::array args;
};

namespace detail {
// Appends the compact JSON of `v` (a value, or a string_view as a JSON string)
// to `out` without building a copy of it (one serializer per thread).
inline boost::json::serializer& thread_serializer() {
    thread_local boost::json::serializer sr;
    return sr;
}
inline void drain(std::string& out, boost::json::serializer& sr) {
    char buf[4096];
    while (!sr.done()) out.append(sr.read(buf));
}
inline void append_json(std::string& out, const boost::json::value& v) {
    auto& sr = thread_serializer();
    sr.reset(&v);
    drain(out, sr);
}
inline void append_json(std::string& out, std::string_view s) {
    auto& sr = thread_serializer();
    sr.reset(s);
    drain(out, sr);
}
}  // namespace detail

// ["fname",arg1,...], compact.
inline std::string encode_call(std::string_view function, const boost::json::array& args) {
    std::string out;
    out.reserve(64);
    out += '[';
    detail::append_json(out, function);
    for (const auto& v : args) {
        out += ',';
        detail::append_json(out, v);
    }
    out += ']';
    return out;
}

// A call's JSON; throws rpc::error(err::bad_call) saying what is wrong and where.
inline call parse_call(std::string_view text) {
    std::string why;
    auto v = parse_json(text, why);
    if (!v) throw error(err::bad_call, "bad call: " + why);
    auto* a = v->if_array();
    if (!a || a->empty() || !a->front().is_string())
        throw error(
            err::bad_call,
            "bad call: expected a JSON array [\"function\", arguments...], got " +
                std::string(a ? (a->empty() ? "an empty array"
                                            : "an array starting with " +
                                                  std::string(detail::kind_name(a->front())))
                              : detail::kind_name(*v)));
    call c;
    c.function = std::string(a->front().get_string());
    a->erase(a->begin());
    c.args = std::move(*a);
    return c;
}

// The arguments of `function` as the typed tuple Tuple; throws rpc::error(err::bad_call)
// naming the function and the (1-based) argument position on a count or type mismatch.
// GCC 12 at -O2 reports std::optional<std::optional<T>> members as maybe
// uninitialized here (a known false positive); the values are always set.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class Tuple>
Tuple args_from_json(std::string_view function, const boost::json::array& args) {
    constexpr std::size_t n = std::tuple_size_v<Tuple>;
    if (args.size() != n)
        throw error(err::bad_call, std::string(function) + ": expected " + std::to_string(n) +
                                       (n == 1 ? " argument, got " : " arguments, got ") +
                                       std::to_string(args.size()));
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        const auto arg = [&]<std::size_t K>(std::integral_constant<std::size_t, K>) {
            using T = std::tuple_element_t<K, Tuple>;
            std::string why;
            auto v = try_from_json<T>(args[K], why);
            if (!v)
                throw error(err::bad_call, std::string(function) + ": argument " +
                                               std::to_string(K + 1) + ": " + why);
            return std::move(*v);
        };
        (void)arg;  // unused for functions without parameters
        // Braced initialisation: the arguments convert left to right.
        return Tuple{arg(std::integral_constant<std::size_t, I>{})...};
    }
    (std::make_index_sequence<n>{});
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// --- Results ---------------------------------------------------------------------------

// {"ret":<value>}
inline std::string encode_result(const boost::json::value& ret) {
    std::string out = R"({"ret":)";
    detail::append_json(out, ret);
    out += '}';
    return out;
}

// {"err_code":N,"err_msg":"..."}
inline std::string encode_error(int code, std::string_view message) {
    return boost::json::serialize(boost::json::object{{"err_code", code}, {"err_msg", message}});
}

// A result object: {"ret": ...} or {"err_code": N, "err_msg": "..."} (err_msg may
// be missing). Throws rpc::error(err::bad_call) when it is neither.
inline boost::json::object parse_result(std::string_view text) {
    std::string why;
    auto v = parse_json(text, why);
    if (!v) throw error(err::bad_call, "bad result: " + why);
    auto* o = v->if_object();
    if (!o)
        throw error(err::bad_call, "bad result: expected a JSON object, got " +
                                       std::string(detail::kind_name(*v)));
    if (const auto* c = o->if_contains("err_code")) {
        if (!c->is_int64() && !c->is_uint64())
            throw error(err::bad_call, "bad result: err_code is not an integer");
        if (const auto* m = o->if_contains("err_msg"); m && !m->is_string() && !m->is_null())
            throw error(err::bad_call, "bad result: err_msg is not a string");
        return std::move(*o);
    }
    if (!o->contains("ret"))
        throw error(err::bad_call, "bad result: neither \"ret\" nor \"err_code\"");
    return std::move(*o);
}

// The ret value of a result object; throws rpc::error(err_code, err_msg) for an error result.
inline boost::json::value result_value(boost::json::object result) {
    if (const auto* c = result.if_contains("err_code")) {
        const int code = c->is_int64() && std::in_range<int>(c->get_int64())
                             ? static_cast<int>(c->get_int64())
                             : err::bad_call;
        std::string msg;
        if (const auto* m = result.if_contains("err_msg"); m && m->is_string())
            msg = std::string(m->get_string());
        throw error(code, msg);
    }
    return std::move(result["ret"]);
}

// A ret value as R (R = void ignores it); throws rpc::error(err::bad_call) on a mismatch.
template <class R>
R result_as(std::string_view function, boost::json::value ret) {
    if constexpr (std::is_void_v<R>) {
        (void)function;
        (void)ret;
    } else {
        std::string why;
        auto r = try_from_json<R>(ret, why);
        if (!r) throw error(err::bad_call, "result of " + std::string(function) + ": " + why);
        return std::move(*r);
    }
}

// --- Chunking (§5) ----------------------------------------------------------------------

// Bytes of a code line "<ddd>[ <message>]\n".
constexpr std::size_t code_line_size(std::string_view message) noexcept {
    return 3 + (message.empty() ? 0 : 1 + message.size()) + 1;
}

// Splits one message into packets: 312 HAS MORE chunks, then the final code
// (301 for a call, 311 for a result) with the rest, possibly empty. Each chunk
// fills its packet. Holds the content; chunks are views into it.
class chunk_writer {
public:
    struct chunk {
        std::uint16_t code = 0;
        std::string_view message;
        std::string_view content;
        bool last = false;
    };

    chunk_writer(std::string content, std::uint16_t final_code, std::string_view final_message,
                 std::size_t max_payload = max_packet_payload)
        : content_(std::move(content)),
          final_code_(final_code),
          final_message_(final_message),
          max_payload_(max_payload) {}

    // Payload bytes of all packets of a message with this much content, code
    // lines included: what the daemon's message limit counts.
    static constexpr std::size_t payload_size(
        std::size_t content_size, std::string_view final_message,
        std::size_t max_payload = max_packet_payload) noexcept {
        return content_size +
               chunks_before_last(content_size, final_message, max_payload) *
                   code_line_size(wire::has_more_text) +
               code_line_size(final_message);
    }
    // Number of 312 packets before the final one.
    static constexpr std::size_t chunks_before_last(
        std::size_t content_size, std::string_view final_message,
        std::size_t max_payload = max_packet_payload) noexcept {
        const std::size_t last_room = max_payload - code_line_size(final_message);
        const std::size_t more_room = max_payload - code_line_size(wire::has_more_text);
        if (content_size <= last_room) return 0;
        return (content_size - last_room + more_room - 1) / more_room;
    }

    std::size_t payload_size() const noexcept {
        return payload_size(content_.size(), final_message_, max_payload_);
    }
    std::size_t packets() const noexcept {
        return chunks_before_last(content_.size(), final_message_, max_payload_) + 1;
    }
    bool done() const noexcept { return done_; }
    const std::string& content() const noexcept { return content_; }

    // The next packet to send. Precondition: !done().
    chunk next() noexcept {
        const std::string_view rest = std::string_view(content_).substr(sent_);
        const std::size_t last_room = max_payload_ - code_line_size(final_message_);
        if (rest.size() <= last_room) {
            sent_ = content_.size();
            done_ = true;
            return {final_code_, final_message_, rest, true};
        }
        const std::size_t n =
            std::min(rest.size(), max_payload_ - code_line_size(wire::has_more_text));
        sent_ += n;
        return {wire::has_more, wire::has_more_text, rest.substr(0, n), false};
    }

private:
    std::string content_;
    std::uint16_t final_code_;
    std::string_view final_message_;  // one of the static texts above, or the caller's
    std::size_t max_payload_;
    std::size_t sent_ = 0;
    bool done_ = false;
};

// Reassembles one message from its packets, counting payload bytes against the limit.
class message_reader {
public:
    enum class step {
        need_more,   // a 312 chunk: answer 302 MORE, then feed the next packet
        complete,    // the final packet: take() the content
        too_large,   // over the limit: the message is dropped (end the session with 517)
        unexpected,  // neither 312 nor the final code: a protocol violation
    };

    message_reader(std::uint16_t final_code, std::size_t max_message = default_max_message) noexcept
        : final_code_(final_code), max_message_(max_message) {}

    // One packet of the message; `message` is the code line's text ("HAS MORE").
    step feed(std::uint16_t code, std::string_view message, std::string_view content) {
        if (code != wire::has_more && code != final_code_) return step::unexpected;
        payload_ += code_line_size(message) + content.size();
        if (payload_ > max_message_) {
            std::string().swap(content_);
            return step::too_large;
        }
        content_.append(content);
        return code == wire::has_more ? step::need_more : step::complete;
    }

    // The reassembled content; the reader is ready for the next message.
    std::string take() {
        payload_ = 0;
        return std::exchange(content_, {});
    }
    std::size_t payload_bytes() const noexcept { return payload_; }
    std::size_t max_message() const noexcept { return max_message_; }
    bool in_progress() const noexcept { return payload_ != 0; }

private:
    std::uint16_t final_code_;
    std::size_t max_message_;
    std::size_t payload_ = 0;
    std::string content_;
};

}  // namespace junction::rpc
