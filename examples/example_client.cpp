// example-client: calls `example.hello` with the blocking facade.
//
//   example-client [--socket PATH] [--service NAME] [--update TEXT]... [ARGS...]
//
// Without --update: one call(), prints the answer's content. With --update:
// opens a session, prints the greeting, then sends each TEXT as UPDATE 200 and
// prints the content echoed back, and ends the session (103).
// Exit status: 0 on 200, 1 on errors (no daemon, timeout), 2 on usage, 3 when
// the answer is not 200 (e.g. 511: no provider registered the service).
#include <iostream>
#include <string>
#include <vector>

#include "junction/sync_client.hpp"

int main(int argc, char** argv) {
    std::string socket = junction::default_socket_path();
    std::string service = "example.hello";
    std::vector<std::string> updates;
    std::string args;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--socket" || a == "--service" || a == "--update") && i + 1 < argc) {
            const std::string v = argv[++i];
            if (a == "--socket") socket = v;
            else if (a == "--service") service = v;
            else updates.push_back(v);
        } else if (a.starts_with("--")) {
            std::cerr << "usage: example-client [--socket PATH] [--service NAME] [--update TEXT]... [ARGS...]\n";
            return 2;
        } else {
            args += (args.empty() ? "" : " ") + a;
        }
    }
    const std::string line = args.empty() ? service : service + " " + args;

    try {
        junction::sync_client client(socket);
        if (updates.empty()) {
            const junction::packet p = client.call(line);
            if (p.code != 200) {
                std::cerr << "example-client: " << line << ": " << p.code_line() << "\n";
                return 3;
            }
            std::cout << p.content << "\n";
            return 0;
        }
        auto s = client.open(line);
        const junction::packet greeting = s.receive();
        if (greeting.code != 200) {
            std::cerr << "example-client: " << line << ": " << greeting.code_line() << "\n";
            return 3;
        }
        std::cout << greeting.content << "\n";
        for (const auto& text : updates) {
            s.update(200, "", text);
            const junction::packet echo = s.receive();
            if (echo.code != 200) {
                std::cerr << "example-client: update: " << echo.code_line() << "\n";
                return 3;
            }
            std::cout << echo.content << "\n";
        }
        s.end();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "example-client: " << e.what() << "\n";
        return 1;
    }
}
