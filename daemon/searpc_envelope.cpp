// The searpc request envelope: see searpc_envelope.hpp.
#include "searpc_envelope.hpp"

#include <cstdint>

#include <boost/json/basic_parser_impl.hpp>

namespace junction::daemon {

namespace {

enum class field : std::uint8_t { other, service, request };

struct handler {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    using ec_t = boost::system::error_code;
    using sv = boost::json::string_view;

    searpc_envelope* out = nullptr;
    std::size_t depth = 0;
    std::string key;
    field current = field::other;

    // A value at depth 1 that is not a string: the member it belongs to is not usable.
    void non_string() {
        if (depth == 1) set(false);
    }
    void set(bool ok) {
        if (current == field::service) out->has_service = ok;
        if (current == field::request) out->has_request = ok;
    }
    std::string* target() {
        if (depth != 1) return nullptr;
        return current == field::service ? &out->service : current == field::request ? &out->request : nullptr;
    }

    bool on_document_begin(ec_t&) { return true; }
    bool on_document_end(ec_t&) { return true; }
    bool on_object_begin(ec_t&) {
        if (depth == 0) out->is_object = true;
        non_string();
        ++depth;
        return true;
    }
    bool on_object_end(std::size_t, ec_t&) { --depth; return true; }
    bool on_array_begin(ec_t&) { non_string(); ++depth; return true; }
    bool on_array_end(std::size_t, ec_t&) { --depth; return true; }
    bool on_key_part(sv s, std::size_t, ec_t&) {
        if (depth == 1) key.append(s.data(), s.size());
        return true;
    }
    bool on_key(sv s, std::size_t, ec_t&) {
        if (depth != 1) return true;
        key.append(s.data(), s.size());
        current = key == "service" ? field::service : key == "request" ? field::request : field::other;
        key.clear();
        // A repeated member: the last one counts, as in a parsed document.
        if (std::string* t = target()) t->clear();
        return true;
    }
    bool on_string_part(sv s, std::size_t, ec_t&) {
        if (std::string* t = target()) t->append(s.data(), s.size());
        return true;
    }
    bool on_string(sv s, std::size_t, ec_t&) {
        if (std::string* t = target()) {
            t->append(s.data(), s.size());
            set(true);
        }
        return true;
    }
    bool on_number_part(sv, ec_t&) { return true; }
    bool on_int64(std::int64_t, sv, ec_t&) { non_string(); return true; }
    bool on_uint64(std::uint64_t, sv, ec_t&) { non_string(); return true; }
    bool on_double(double, sv, ec_t&) { non_string(); return true; }
    bool on_bool(bool, ec_t&) { non_string(); return true; }
    bool on_null(ec_t&) { non_string(); return true; }
    bool on_comment_part(sv, ec_t&) { return true; }
    bool on_comment(sv, ec_t&) { return true; }
};


}  // namespace

struct envelope_reader::impl {
    boost::json::basic_parser<handler> parser{boost::json::parse_options{}};
};

envelope_reader::envelope_reader() : impl_(std::make_unique<impl>()) {}
envelope_reader::~envelope_reader() = default;

bool envelope_reader::read(std::string_view body, searpc_envelope& out, boost::system::error_code& ec) {
    auto& p = impl_->parser;
    p.reset();
    p.handler() = handler{};
    p.handler().out = &out;
    out = searpc_envelope{};
    const std::size_t n = p.write_some(false, body.data(), body.size(), ec);
    if (!ec && n != body.size()) ec = boost::json::error::extra_data;
    return !ec;
}

}  // namespace junction::daemon
