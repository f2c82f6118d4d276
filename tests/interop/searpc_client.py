#!/usr/bin/python3
# Calls the "calc" test service through junctiond's libsearpc gateway with
# Debian's python3-searpc, exactly as a Seafile-era client would, and prints
# one JSON object with what each call returned (or the SearpcError it raised).
# tests/integration/rpc_interop_test.cpp runs it (with /usr/bin/python3, where
# Debian's modules are) and checks every entry.
#
# usage: searpc_client.py <searpc socket path>
import json
import sys

from pysearpc import NamedPipeClient, SearpcError, searpc_func


class CalcClient(NamedPipeClient):
    def __init__(self, path, service="calc"):
        NamedPipeClient.__init__(self, path, service)

    # The method name is the function name; the bodies are never run.
    @searpc_func("int", ["int", "int"])
    def add(self, a, b):
        pass

    @searpc_func("string", ["string"])
    def greet(self, who):
        pass

    @searpc_func("int", ["int"])
    def is_even(self, n):
        pass

    @searpc_func("object", [])
    def info(self):
        pass

    @searpc_func("objlist", [])
    def users(self):
        pass

    @searpc_func("json", ["json"])
    def echo(self, value):
        pass

    @searpc_func("int", ["string"])
    def length(self, s):
        pass

    @searpc_func("string", ["int"])
    def big(self, n):
        pass

    @searpc_func("int", [])
    def fail(self):
        pass

    @searpc_func("int", [])
    def deny(self):
        pass

    @searpc_func("int", [])
    def no_such(self):
        pass


def outcome(call):
    try:
        return {"ret": call()}
    except SearpcError as e:
        return {"error": str(e)}


def main():
    path = sys.argv[1]
    calc = CalcClient(path)
    results = {
        "add": outcome(lambda: calc.add(2, 40)),
        "greet": outcome(lambda: calc.greet("searpc")),
        "is_even": outcome(lambda: calc.is_even(10)),
        "info": outcome(lambda: calc.info()._dict),
        "users": outcome(lambda: [u.name for u in calc.users()]),
        "echo": outcome(lambda: calc.echo({"a": [1, None, "x"]})),
        "length": outcome(lambda: calc.length("x" * 200000)),
        "big": outcome(lambda: len(calc.big(3 * 1024 * 1024))),
        "fail": outcome(lambda: calc.fail()),
        "deny": outcome(lambda: calc.deny()),
        "no_such": outcome(lambda: calc.no_such()),
        "unknown_service": outcome(lambda: CalcClient(path, "nosuch").add(1, 2)),
    }
    # The same connection again after errors (NamedPipeClient pools it).
    results["add_again"] = outcome(lambda: calc.add(1, 1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
