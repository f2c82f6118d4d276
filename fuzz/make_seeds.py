#!/usr/bin/env python3
"""Writes the hand-made seed corpus of each fuzz target into fuzz/corpus/<target>/.

The targets read their input through libFuzzer's FuzzedDataProvider: integers are
taken from the END of the input (most significant byte first), byte strings from
the FRONT. `Input` below builds an input in that layout, so each seed spells out
one scenario of docs/protocol.md as the target will replay it. Run it again after
changing how a target reads its input; the fuzzers' own finds stay in
build-fuzz/corpus/.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


class Input:
    def __init__(self):
        self.front = bytearray()
        self.back = []  # bytes in the order the provider pops them

    def int_range(self, lo, hi, value):
        """ConsumeIntegralInRange(lo, hi) returning `value`."""
        rng = hi - lo
        assert lo <= value <= hi
        nbytes = 0
        while nbytes < 8 and (rng >> (8 * nbytes)) > 0:
            nbytes += 1
        v = value - lo
        # popped most significant first
        self.back.extend(((v >> (8 * (nbytes - 1 - i))) & 0xFF) for i in range(nbytes))
        return self

    def boolean(self, value):
        self.back.append(1 if value else 0)
        return self

    def u16(self, value):
        return self.int_range(0, 0xFFFF, value)

    def u32(self, value):
        return self.int_range(0, 0xFFFFFFFF, value)

    def raw(self, data):
        """ConsumeBytes: taken from the front."""
        self.front += data
        return self

    def string(self, s):
        """ConsumeRandomLengthString: ends at a backslash followed by another byte."""
        data = s.encode() if isinstance(s, str) else s
        self.front += data.replace(b"\\", b"\\\\") + b"\\x"
        return self

    def bytes(self):
        return bytes(self.front) + bytes(reversed(self.back))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def packet(ptype, pid, payload):
    return struct.pack(">BBHI", 1, ptype, len(payload), pid) + payload


# --- fuzz_frame_reader: chunks of a byte stream -----------------------------------

def frame_reader_seed(limit, chunks, stop_at=None):
    i = Input().u16(limit)
    for chunk in chunks:
        i.int_range(0, 300, len(chunk))
        i.boolean(stop_at is not None)
        if stop_at is not None:
            i.int_range(0, 3, stop_at)
        i.raw(chunk)
        i.boolean(False)  # shrink
    return i.bytes()


# docs/protocol.md §1 and §2.2 examples
echo_request = bytes.fromhex("01 02 00 05 00 00 03 e9 65 63 68 6f 21")
ok_response = bytes.fromhex("01 03 00 09 00 00 03 e9 32 30 30 20 4f 4b 0a 68 69")
write("fuzz_frame_reader", "spec-request", frame_reader_seed(65535, [echo_request]))
write("fuzz_frame_reader", "spec-two-frames-split",
      frame_reader_seed(65535, [echo_request[:3], echo_request[3:] + ok_response[:10], ok_response[10:]]))
write("fuzz_frame_reader", "byte-by-byte", frame_reader_seed(65535, [bytes([b]) for b in ok_response]))
write("fuzz_frame_reader", "bad-version", frame_reader_seed(65535, [b"\x02" + echo_request[1:]]))
write("fuzz_frame_reader", "over-limit", frame_reader_seed(4, [echo_request]))
write("fuzz_frame_reader", "reserved-type", frame_reader_seed(65535, [echo_request + packet(5, 7, b"relay")]))
write("fuzz_frame_reader", "empty-payload", frame_reader_seed(0, [packet(4, 1, b"") * 3]))
write("fuzz_frame_reader", "stop-early", frame_reader_seed(65535, [echo_request * 3, ok_response], stop_at=1))

# --- fuzz_request_line / fuzz_code_line: one payload -------------------------------

for name, payload in [
    ("echo", b"echo!"),
    ("hello-args", b"hello a b"),
    ("register-nul", b"register-service hello inner\x00"),
    ("tabs", b"\t svc\t\targ  two"),
    ("utf8-arg", "calc caf\u00e9 \u20ac \U0001f600".encode()),
    ("bad-control", b"svc a\x01b"),
    ("bad-name", b"-svc"),
    ("long-name", b"a" * 128 + b" x"),
]:
    write("fuzz_request_line", name, payload)

for name, payload in [
    ("ok-hi", b"200 OK\nhi"),
    ("done", b"103\n"),
    ("call", b'301 CLIENT CALL\n["add",2,40]'),
    ("ret", b'311 SERVER RET\n{"ret":42}'),
    ("no-newline", b"200"),
    ("not-digits", b"abc\n"),
    ("under-100", b"099\n"),
    ("fourth-byte", b"2000\n"),
    ("binary-content", b"200 \n\x00\xff\n\x00"),
]:
    write("fuzz_code_line", name, payload)

# --- fuzz_router: events -------------------------------------------------------------

VOCAB = ["echo", "receive-cmd", "register-service", "unregister-service", "list-services",
         "daemon-info", "session-info", "svc1", "svc2", "user.1000.a", "user.0.b", "shared.x",
         "secret1", "user.65534.z", "1", "2", "inner", "x\ty", "", "4294967296"]
CODES = [100, 102, 103, 200, 200, 200, 301, 302, 311, 312, 312, 400, 503, 504, 515, 599]


class RouterEvents(Input):
    def event(self, what, conn):
        return self.int_range(0, 15, what).int_range(1, 8, conn)

    def open(self, conn, identity):
        return self.event(0, conn).int_range(0, 3, identity)

    def close(self, conn):
        return self.event(1, conn)

    def tick(self, ms):
        return self.event(2, conn=1).int_range(0, 80, ms)

    def _head(self, conn, ptype, pid):
        self.event(4, conn)
        self.int_range(0, 15, 1).int_range(2, 4, ptype)  # make_type
        if pid == 0:
            self.int_range(0, 7, 0)
        else:
            self.int_range(0, 7, 2).int_range(1, 5, pid)  # make_id

    def request(self, conn, pid, words, nul=False):
        self._head(conn, 2, pid)
        self.int_range(0, 4, 1).int_range(1, 4, len(words))
        for k, w in enumerate(words):
            if k > 0:
                self.boolean(True)
            self.int_range(0, len(VOCAB) - 1, VOCAB.index(w))
        return self.boolean(nul)

    def code(self, conn, ptype, pid, code, command=None, content=b""):
        self._head(conn, ptype, pid)
        self.int_range(0, 4, 2).boolean(True).int_range(0, len(CODES) - 1, CODES.index(code))
        self.boolean(False)  # no message
        if command:
            self.boolean(True).int_range(0, 6, VOCAB.index(command[0]))
            self.int_range(7, len(VOCAB) - 1, VOCAB.index(command[1]))
        else:
            self.boolean(False).boolean(True).string(content)
        return self

    def update(self, conn, pid, code, **kw):
        return self.code(conn, 4, pid, code, **kw)

    def response(self, conn, pid, code, **kw):
        return self.code(conn, 3, pid, code, **kw)


# conn 1 is root, conn 2 is nobody (uid 65534) from the start.
write("fuzz_router", "echo", RouterEvents().request(2, 1, ["echo", "1", "2"]).update(2, 1, 200)
      .update(2, 1, 103).bytes())
write("fuzz_router", "register-call-done",
      RouterEvents().request(1, 1, ["register-service", "svc1"]).request(2, 2, ["svc1", "1"])
      .response(1, 1, 200, content=b"hi").update(2, 2, 312).response(1, 1, 302)
      .update(2, 2, 103).bytes())
write("fuzz_router", "receive-cmd",
      RouterEvents().request(1, 1, ["receive-cmd"]).update(1, 1, 200, command=("register-service", "svc2"))
      .update(1, 1, 200, command=("list-services", "svc2")).update(1, 1, 200, command=("echo", "1"))
      .update(1, 1, 103).bytes())
write("fuzz_router", "provider-goes-away",
      RouterEvents().open(3, 1).request(3, 1, ["register-service", "shared.x"])
      .request(2, 4, ["shared.x"]).request(1, 4, ["shared.x"]).close(3).bytes())
write("fuzz_router", "session-info",
      RouterEvents().request(1, 1, ["register-service", "svc1"]).request(2, 3, ["svc1"])
      .request(1, 2, ["session-info", "1"]).response(1, 1, 515).bytes())
write("fuzz_router", "policy-refusals",
      RouterEvents().open(4, 3).request(4, 1, ["register-service", "user.0.b"])
      .request(2, 2, ["register-service", "user.65534.z"]).request(1, 3, ["register-service", "secret1"])
      .request(4, 2, ["secret1"]).bytes())
write("fuzz_router", "idle-reap",
      RouterEvents().request(1, 1, ["register-service", "svc1"]).request(2, 5, ["svc1"])
      .tick(30).tick(30).tick(30).bytes())
write("fuzz_router", "id-reuse-and-zero",
      RouterEvents().request(2, 1, ["echo"]).request(2, 1, ["echo"]).request(2, 0, ["echo"])
      .update(2, 3, 200).response(2, 3, 103).bytes())
# With the fuzzer's max-payload of 64, two services make a list-services answer of
# several chunks: the client pulls them with 302, then ends the session.
write("fuzz_router", "chunked-list-services",
      RouterEvents().request(1, 1, ["register-service", "svc1"]).request(1, 2, ["register-service", "svc2"])
      .request(2, 3, ["list-services"]).update(2, 3, 302).update(2, 3, 302).update(2, 3, 103)
      .bytes())

# --- fuzz_searpc_gateway: client bytes and router frames ------------------------------

SERVICES = ["calc", "echo", "svc.2", "bad name", "", "-x", "user.1000.a", "\u00e9"]
GW_CODES = [200, 200, 311, 311, 312, 312, 302, 103, 102, 100, 511, 504, 515, 517]


class GatewayEvents(Input):
    def __init__(self):
        super().__init__()
        self.ids = 0  # sessions the gateway has opened so far (the seed knows its script)

    def call(self, service, big=0):
        self.int_range(0, 9, 1)  # a request
        self.int_range(0, 5, 2).boolean(big > 0)
        if big:
            self.int_range(0, 900, big)
        self.int_range(0, len(SERVICES) - 1, SERVICES.index(service))
        self.int_range(0, 31, 1)  # the length prefix is right
        return self.boolean(True)  # deliver all that is pending

    def frame(self, pid_index, code, content=b"", raw=None):
        self.int_range(0, 9, 5).int_range(0, 15, 1)  # a RESPONSE
        if self.ids:
            self.int_range(0, 7, 1).int_range(0, self.ids - 1, pid_index)
        else:
            self.int_range(0, 4, pid_index)
        self.int_range(0, 9, 1).int_range(0, len(GW_CODES) - 1, GW_CODES.index(code)).boolean(False)
        if raw is not None:
            self.int_range(0, 3, 2).boolean(True).string(raw)
        else:
            self.int_range(0, 3, 1 if content == "err" else 0)
            if content != "err":
                self.int_range(-(2 ** 31), 2 ** 31 - 1, 42)
        return self

    def tick(self, ms):
        return self.int_range(0, 9, 9).int_range(0, 150, ms)


g = GatewayEvents().call("calc")
g.ids = 1
write("fuzz_searpc_gateway", "call-result", g.frame(0, 200, raw=b"").frame(0, 311).bytes())
g = GatewayEvents().call("calc", big=500)
g.ids = 1
write("fuzz_searpc_gateway", "chunked-call-and-result",
      g.frame(0, 200, raw=b"").frame(0, 302, raw=b"").frame(0, 302, raw=b"")
      .frame(0, 312, raw=b'{"ret":').frame(0, 311, raw=b"1}").bytes())
g = GatewayEvents().call("calc").call("echo")
g.ids = 1
write("fuzz_searpc_gateway", "unknown-service-then-next", g.frame(0, 511, raw=b"").bytes())
write("fuzz_searpc_gateway", "bad-json",
      GatewayEvents().int_range(0, 9, 1).int_range(0, 5, 0).string(b"{not json").int_range(0, 31, 1)
      .boolean(True).bytes())
g = GatewayEvents().call("svc.2")
g.ids = 1
write("fuzz_searpc_gateway", "timeout", g.frame(0, 200, raw=b"").tick(150).bytes())
g = GatewayEvents().call("calc")
g.ids = 1
write("fuzz_searpc_gateway", "provider-down", g.frame(0, 200, raw=b"").frame(0, 515, raw=b"").bytes())
