/* Calls the "calc" test service through junctiond's libsearpc gateway with
 * Debian's libsearpc (its named-pipe client), as a C program using libsearpc
 * would, and prints one line per call:
 *
 *   <name> ret <value>            the result (JSON values compact, keys sorted)
 *   <name> error <code> <message> the GError libsearpc set
 *
 * tests/integration/rpc_interop_test.cpp compiles it at run time with
 *   cc searpc_client.c $(pkg-config --cflags --libs libsearpc)
 * runs it and checks every line.
 *
 * usage: searpc_client <searpc socket path>
 */
#include <stdio.h>
#include <stdlib.h>

#include <searpc-client.h>
#include <searpc-named-pipe-transport.h>

static int report_error(const char *name, GError *error) {
    printf("%s error %d %s\n", name, error->code, error->message);
    g_error_free(error);
    return 0;
}

static void print_int(const char *name, int ret, GError *error) {
    if (error) {
        report_error(name, error);
        return;
    }
    printf("%s ret %d\n", name, ret);
}

static void print_json(const char *name, json_t *ret, GError *error) {
    if (error) {
        report_error(name, error);
        return;
    }
    char *text = json_dumps(ret, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    printf("%s ret %s\n", name, text ? text : "(null)");
    free(text);
    json_decref(ret);
}

static SearpcClient *connect_to(const char *path, const char *service) {
    SearpcNamedPipeClient *pipe = searpc_create_named_pipe_client(path);
    if (searpc_named_pipe_client_connect(pipe) < 0) {
        fprintf(stderr, "cannot connect to %s\n", path);
        exit(2);
    }
    return searpc_client_with_named_pipe_transport(pipe, service);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <searpc socket path>\n", argv[0]);
        return 2;
    }
    SearpcClient *calc = connect_to(argv[1], "calc");
    GError *error = NULL;
    int n;

    n = searpc_client_call__int(calc, "add", &error, 2, "int", 2, "int", 40);
    print_int("add", n, error);

    error = NULL;
    char *s = searpc_client_call__string(calc, "greet", &error, 1, "string", "libsearpc");
    if (error) {
        report_error("greet", error);
    } else {
        printf("greet ret %s\n", s);
        g_free(s);
    }

    error = NULL;
    gint64 len = searpc_client_call__int64(calc, "length", &error, 1, "string", "0123456789");
    if (error) {
        report_error("length", error);
    } else {
        printf("length ret %lld\n", (long long)len);
    }

    error = NULL;
    json_t *j = searpc_client_call__json(calc, "info", &error, 0);
    print_json("info", j, error);

    error = NULL;
    j = searpc_client_call__json(calc, "users", &error, 0);
    print_json("users", j, error);

    error = NULL;
    n = searpc_client_call__int(calc, "fail", &error, 0);
    print_int("fail", n, error);

    error = NULL;
    n = searpc_client_call__int(calc, "deny", &error, 0);
    print_int("deny", n, error);

    error = NULL;
    n = searpc_client_call__int(calc, "no_such", &error, 0);
    print_int("no_such", n, error);

    error = NULL;
    n = searpc_client_call__int(calc, "add", &error, 2, "int", 1, "int", 1);
    print_int("add_again", n, error);

    SearpcClient *nosuch = connect_to(argv[1], "nosuch");
    error = NULL;
    n = searpc_client_call__int(nosuch, "add", &error, 2, "int", 1, "int", 2);
    print_int("unknown_service", n, error);

    searpc_free_client_with_pipe_transport(nosuch);
    searpc_free_client_with_pipe_transport(calc);
    return 0;
}
