#!/usr/bin/env python3
"""A QEMU-like vfio-user client for tests that run it as another uid.

Connects to the Unix socket given as the only argument, sends the VERSION
request QEMU 10.2's vfio-user-pci sends first (QEMU docs/interop/vfio-user.rst
"VFIO_USER_VERSION"; the proposal is test/support/vfio-user-msg.ts's
QEMU_VERSION_JSON) and reads the reply header. It is Python rather than Node
so that it runs as a uid that cannot read the checkout's node_modules.

Prints one line and exits:
  0  "ok <reply JSON>"      a reply to our message id without the error flag
  3  "EACCES ..."           connect() was refused for permission
  4  "ENOENT ..."           no such socket
  1  anything else          (a message saying what)
"""
import errno
import json
import socket
import struct
import sys

VFIO_USER_VERSION = 1
F_TYPE_MASK = 0xF
F_TYPE_REPLY = 1
F_ERROR = 0x20
HEADER = struct.Struct("<HHIII")  # msg_id, command, msg_size, flags, error_no
MSG_ID = 0x1234

PROPOSAL = json.dumps({
    "capabilities": {
        "max_msg_fds": 16, "max_data_xfer_size": 1048576, "pgsizes": 4096, "max_dma_maps": 65535,
        "write_multiple": True, "migration": {"pgsize": 4096, "max_bitmap_size": 268435456},
    },
}, separators=(",", ":")).encode() + b"\0"


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the server closed the connection after {len(data)} of {n} bytes")
        data += chunk
    return data


def main(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    try:
        sock.connect(path)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        print(f"{name} {e.strerror}")
        return {errno.EACCES: 3, errno.ENOENT: 4}.get(e.errno, 1)
    payload = struct.pack("<HH", 0, 0) + PROPOSAL
    sock.sendall(HEADER.pack(MSG_ID, VFIO_USER_VERSION, HEADER.size + len(payload), 0, 0) + payload)
    msg_id, command, size, flags, error_no = HEADER.unpack(read_exactly(sock, HEADER.size))
    if msg_id != MSG_ID or command != VFIO_USER_VERSION or flags & F_TYPE_MASK != F_TYPE_REPLY:
        print(f"unexpected reply header: id {msg_id:#x} command {command} flags {flags:#x}")
        return 1
    if flags & F_ERROR:
        print(f"error reply: errno {error_no}")
        return 1
    body = read_exactly(sock, size - HEADER.size)
    major, minor = struct.unpack_from("<HH", body)
    caps = body[4:].rstrip(b"\0").decode()
    print("ok " + json.dumps({"major": major, "minor": minor, "json": caps}))
    sock.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: vfio-user-version.py SOCKET")
        sys.exit(1)
    sys.exit(main(sys.argv[1]))
