// The "junction.client" error category: the one place that names every client error.
#include "junction/error.hpp"

#include <string>

namespace junction {

namespace {

class client_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "junction.client"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::timeout: return "timed out";
            case errc::connection_lost: return "connection to junctiond lost";
            case errc::session_ended: return "session ended";
            case errc::refused: return "refused by junctiond";
            case errc::protocol_error: return "protocol error";
            case errc::queue_full: return "session receive queue full";
        }
        return "unknown junction.client error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& client_category() noexcept {
    static const client_category_impl instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

}  // namespace junction
