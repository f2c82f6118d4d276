// `junctionctl call <service> [args...] [--update CODE:TEXT]...`: one session
// with any service, driven from the command line.
//
// Flow: REQUEST "<service> args..." -> print the first RESPONSE -> for each
// --update in order: UPDATE CODE with content TEXT -> print the next RESPONSE
// -> UPDATE 103 if the session is still open.
//
// What "a RESPONSE" is here: 100 (keep-alive) is skipped, not printed; a
// message chunked by docs/protocol.md §5 (312 HAS MORE ... final code) is
// reassembled, each 312 acknowledged with UPDATE 302, and counts as one
// response. An --update TEXT too long for one packet is sent in 312 chunks the
// same way, waiting for the service's 302 after each.
//
// Output: each response's content goes to stdout as it is (binary-safe); only
// when stdout is a terminal and the content does not end in a newline is one
// added. With --json, one JSON object per line per response:
//   {"code":200,"message":"OK","content":"..."}
// with "content_base64" instead of "content" when the content is not UTF-8.
// A 4xx/5xx response also prints "junctionctl: <code> <message>" on stderr and
// makes the exit status 1; it ends the session, so later --updates are not sent.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "command.hpp"

namespace junctionctl {

namespace {

// --- --update CODE:TEXT ----------------------------------------------------------

struct update_spec {
    std::uint16_t code = 0;
    std::string text;
};

// "CODE:TEXT" with CODE three digits, 100..599; nullopt if malformed.
std::optional<update_spec> parse_update(std::string_view arg) {
    const auto colon = arg.find(':');
    if (colon != 3) return std::nullopt;
    int code = 0;
    for (const char c : arg.substr(0, 3)) {
        if (c < '0' || c > '9') return std::nullopt;
        code = code * 10 + (c - '0');
    }
    if (code < 100 || code > 599) return std::nullopt;
    return update_spec{static_cast<std::uint16_t>(code), std::string(arg.substr(4))};
}

// 103, 102 or 4xx/5xx: no answer follows, the session is over (docs/protocol.md §3).
bool ends_session(std::uint16_t code) { return code == 102 || code == 103 || code >= 400; }

// --- UTF-8 and base64, for --json --------------------------------------------------

// Length of the well-formed UTF-8 sequence at s[i] (no overlongs, surrogates or
// code points over U+10FFFF), 0 if there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    }
    return n;
}

bool is_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// `s` with every byte that is not part of a UTF-8 sequence replaced by U+FFFD.
std::string as_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        if (const std::size_t n = utf8_sequence(s, i); n != 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

std::string base64(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const auto at = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]));
    };
    for (; i + 3 <= in.size(); i += 3) {
        const std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    if (const std::size_t rest = in.size() - i; rest > 0) {
        const std::uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += rest == 2 ? alphabet[v >> 6 & 63] : '=';
        out += '=';
    }
    return out;
}

// --- the session ----------------------------------------------------------------

// Most words a REQUEST line can take after the service on the command line.
constexpr std::size_t max_args = 64;

struct call_options {
    std::string service;
    std::unique_ptr<word_positionals> args;  // kept as typed: [a,b] is one word (command.hpp)
    std::vector<std::string> updates;  // "CODE:TEXT", validated by parse_update
};

// Payload limit of one packet, and the code lines' share of it.
constexpr std::size_t max_payload = 65535;
constexpr std::string_view more_message = "HAS MORE";
// "312 HAS MORE\n" before every chunk but the last, "CODE\n" before the last.
constexpr std::size_t max_chunk = max_payload - (3 + 1 + more_message.size() + 1);
constexpr std::size_t max_last_chunk = max_payload - (3 + 1);

// The next response: keep-alives skipped, a chunked message reassembled.
junction::packet receive_response(junction::sync_session& s) {
    std::string chunks;
    for (;;) {
        junction::packet p = s.receive();
        if (p.code == 100) continue;
        if (p.code == 312) {
            chunks += p.content;
            s.update(302, "MORE");
            continue;
        }
        if (!chunks.empty()) p.content.insert(0, chunks);
        return p;
    }
}

// Sends UPDATE `u`, in chunks if it does not fit one packet. Returns the
// service's answer if it answered a chunk with anything but 302 MORE.
std::optional<junction::packet> send_update(junction::sync_session& s, const update_spec& u) {
    std::string_view rest = u.text;
    while (rest.size() > max_last_chunk) {
        s.update(312, more_message, rest.substr(0, max_chunk));
        rest.remove_prefix(max_chunk);
        junction::packet p = s.receive();
        while (p.code == 100) p = s.receive();
        if (p.code != 302) return p;
    }
    s.update(u.code, {}, rest);
    return std::nullopt;
}

class printer {
public:
    explicit printer(bool json) : json_(json), tty_(::isatty(STDOUT_FILENO) == 1) {}

    // Prints a response; returns the exit status it implies.
    int print(const junction::packet& p) const {
        if (json_) {
            boost::json::object o{{"code", p.code}, {"message", as_utf8(p.message)}};
            if (is_utf8(p.content)) {
                o["content"] = p.content;
            } else {
                o["content_base64"] = base64(p.content);
            }
            write_stdout(boost::json::serialize(o) + "\n");
        } else {
            write_stdout(p.content);
            if (tty_ && !p.content.empty() && p.content.back() != '\n') write_stdout("\n");
        }
        std::fflush(stdout);  // before the stderr line, so a terminal shows them in order
        if (p.is_error()) {
            std::fprintf(stderr, "junctionctl: %s\n", p.code_line().c_str());
            return exit_error;
        }
        return exit_ok;
    }

private:
    bool json_;
    bool tty_;
};

int call_service(const common_options& opts, const call_options& c) {
    std::vector<update_spec> updates;
    for (std::size_t i = 0; i < c.updates.size(); ++i) {
        updates.push_back(*parse_update(c.updates[i]));
        if (ends_session(updates.back().code) && i + 1 < c.updates.size()) {
            throw CLI::ValidationError(
                "--update", c.updates[i] + " ends the session, so it must be the last --update");
        }
    }
    std::string line = c.service;
    for (const auto& a : c.args->given()) line += " " + a;

    const printer out(opts.json);
    auto client = connect(opts);
    auto s = client.open(line);

    junction::packet p = receive_response(s);
    if (const int status = out.print(p); status != exit_ok) return status;

    const auto ended_before = [&](std::size_t i) {
        std::fprintf(stderr, "junctionctl: the session ended (%s) before --update %s was sent\n",
                     p.code_line().c_str(), c.updates[i].c_str());
        return exit_error;
    };
    for (std::size_t i = 0; i < updates.size(); ++i) {
        if (p.ends_session()) return ended_before(i);
        std::optional<junction::packet> early;
        try {
            early = send_update(s, updates[i]);
        } catch (const std::system_error& e) {
            if (e.code() != junction::errc::session_ended) throw;
            // The service ended the session right after its last answer: show how.
            p = s.receive();
            if (const int status = out.print(p); status != exit_ok) return status;
            return ended_before(i);
        }
        if (early) {
            if (const int status = out.print(*early); status != exit_ok) return status;
            std::fprintf(
                stderr,
                "junctionctl: expected 302 MORE while sending --update %s in chunks, got %s\n",
                c.updates[i].c_str(), early->code_line().c_str());
            return exit_error;
        }
        if (ends_session(updates[i].code)) return exit_ok;  // nothing answers an ending UPDATE
        p = receive_response(s);
        if (const int status = out.print(p); status != exit_ok) return status;
    }
    if (!s.ended()) s.end();
    return exit_ok;
}

}  // namespace

void add_call_command(CLI::App& app, const common_options& opts) {
    auto c = std::make_shared<call_options>();
    auto* sub = app.add_subcommand("call", "Open a session with a service and print its responses");
    sub->add_option("service", c->service, "Service name (first word of the REQUEST line)")
        ->required();
    c->args = std::make_unique<word_positionals>(*sub, max_args, "service [args...]");
    sub->add_option("--update", c->updates,
                    "After the previous response, send UPDATE CODE with content TEXT and print\n"
                    "the next response; repeat for more, in order. 103, 102 or 4xx/5xx end the\n"
                    "session and must come last")
        ->type_name("CODE:TEXT")
        ->allow_extra_args(false)
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                return parse_update(v) ? std::string()
                                       : "expected CODE:TEXT with CODE 100..599, got '" + v + "'";
            },
            ""));
    sub->footer(
        std::string(
            "Arguments (up to 64) are joined with single spaces into the REQUEST line, each\n"
            "as typed ('[a,b]' stays one word); put -- before arguments that start with '-'.\n\n"
            "Sends REQUEST '<service> args...', prints the first response's content, then\n"
            "one response per --update. 100 keep-alives are skipped; chunked messages (312\n"
            "HAS MORE) are reassembled. Content is printed as it is; a newline is added only\n"
            "on a terminal when the content lacks one. With --json, one line per response:\n"
            "  {\"code\":200,\"message\":\"OK\",\"content\":\"...\"}\n"
            "(\"content_base64\" instead of \"content\" when the content is not UTF-8)\n"
            "The session is ended with UPDATE 103 at the end.\n\n"
            "Exit status: 0 every response was 1xx-3xx; 1 a 4xx/5xx response (printed as\n"
            "'junctionctl: <code> <message>' on stderr); 2 usage error; 3 cannot connect or\n"
            "connection lost; 4 no answer within --timeout.\n\n"
            "Examples:\n"
            "  junctionctl call echo hello\n"
            "  junctionctl call echo hi --update 200:again --json\n"
            "  junctionctl call calc --update '301:[\"add\",2,40]'\n"
            "  junctionctl call mysvc -- --literal-arg\n\n") +
        std::string(global_options_help));
    set_action(*sub, opts, [&opts, c] { return call_service(opts, *c); });
}

}  // namespace junctionctl
