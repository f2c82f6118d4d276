// Fuzz target: the REQUEST line (docs/protocol.md §2.1), proto::parse_request.
//
// The input is one REQUEST payload. A reference written from the spec's text
// (one trailing NUL tolerated; no control bytes but TAB; UTF-8 checked against
// the table of well-formed byte sequences of the Unicode standard; the first
// word matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}) decides which error, if any,
// the parser must return.
//
// Invariants: the same verdict as the reference; on success the views lie inside
// the payload, the service is the first word, the arguments hold no leading
// separator, split_args agrees with the line; and the line rebuilt from its parts
// ("<service> <arg> <arg>", with and without a trailing NUL) parses to the same
// service and arguments.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "junction/proto/text.hpp"

namespace proto = junction::proto;

namespace {

bool is_sep(char c) { return c == ' ' || c == '\t'; }

// Well-formed UTF-8 byte sequences (Unicode 15, table 3-7).
bool reference_utf8(std::string_view s) {
    std::size_t i = 0;
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const auto in = [](unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
    while (i < s.size()) {
        const unsigned char b = at(i);
        std::size_t n;
        unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
        if (b <= 0x7F) {
            ++i;
            continue;
        } else if (in(b, 0xC2, 0xDF)) {
            n = 2;
        } else if (b == 0xE0) {
            n = 3, lo = 0xA0;
        } else if (in(b, 0xE1, 0xEC) || in(b, 0xEE, 0xEF)) {
            n = 3;
        } else if (b == 0xED) {
            n = 3, hi = 0x9F;
        } else if (b == 0xF0) {
            n = 4, lo = 0x90;
        } else if (in(b, 0xF1, 0xF3)) {
            n = 4;
        } else if (b == 0xF4) {
            n = 4, hi = 0x8F;
        } else {
            return false;
        }
        if (s.size() - i < n) return false;
        if (!in(at(i + 1), lo, hi)) return false;
        for (std::size_t k = 2; k < n; ++k)
            if (!in(at(i + k), 0x80, 0xBF)) return false;
        i += n;
    }
    return true;
}

bool reference_service_name(std::string_view n) {
    const auto alnum = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    };
    if (n.empty() || n.size() > 128 || !alnum(n[0])) return false;
    for (const char c : n)
        if (!alnum(c) && c != '.' && c != '_' && c != ':' && c != '-') return false;
    return true;
}

std::vector<std::string_view> words_of(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (is_sep(s[i])) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < s.size() && !is_sep(s[j])) ++j;
        out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

std::error_code reference_parse(std::string_view payload) {
    std::string_view line = payload;
    if (!line.empty() && line.back() == '\0') line.remove_suffix(1);
    if (line.empty()) return proto::errc::empty_request;
    for (const char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7F) return proto::errc::bad_request_line;
    }
    if (!reference_utf8(line)) return proto::errc::bad_request_line;
    const auto words = words_of(line);
    if (words.empty()) return proto::errc::empty_request;
    if (!reference_service_name(words[0])) return proto::errc::bad_service_name;
    return {};
}

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> payload(data, size);
    const std::string_view text = proto::as_text(payload);

    FUZZ_CHECK(proto::valid_utf8(text) == reference_utf8(text));
    FUZZ_CHECK(proto::valid_service_name(text) == reference_service_name(text));

    proto::request_line req;
    const std::error_code ec = proto::parse_request(payload, req);
    FUZZ_CHECK(ec == reference_parse(text));
    if (ec) return 0;

    FUZZ_CHECK(inside(req.line, text) && req.line.data() == text.data());
    FUZZ_CHECK(req.line.size() == size || (req.line.size() + 1 == size && text.back() == '\0'));
    FUZZ_CHECK(inside(req.service, req.line) && inside(req.args, req.line));
    FUZZ_CHECK(proto::valid_service_name(req.service));
    FUZZ_CHECK(req.args.empty() || !is_sep(req.args.front()));
    const auto line_words = proto::split_args(req.line);
    const auto arg_words = proto::split_args(req.args);
    FUZZ_CHECK(line_words == words_of(req.line));
    FUZZ_CHECK(!line_words.empty() && line_words[0] == req.service);
    FUZZ_CHECK(arg_words.size() + 1 == line_words.size());
    for (std::size_t i = 0; i < arg_words.size(); ++i) FUZZ_CHECK(arg_words[i] == line_words[i + 1]);

    // Format the parts into a canonical line and parse it again.
    std::string rebuilt(req.service);
    for (const auto w : arg_words) rebuilt += " " + std::string(w);
    for (const bool nul : {false, true}) {
        const std::string again_text = nul ? rebuilt + '\0' : rebuilt;
        proto::request_line again;
        FUZZ_CHECK(!proto::parse_request(proto::as_bytes(again_text), again));
        FUZZ_CHECK(again.service == req.service);
        FUZZ_CHECK(proto::split_args(again.args) == arg_words);
        FUZZ_CHECK(again.line == rebuilt);
    }
    return 0;
}
