#!/usr/bin/env python3
"""notify_listen.py SOCKET LOG - a stand-in for systemd's notification socket.

Binds a unix datagram socket at SOCKET (what NOTIFY_SOCKET names) and
appends each datagram a node sends with sd_notify to LOG as one line:
"<sender pid> <assignments separated by ' | '>". Runs until killed.
"""
import os
import socket
import struct
import sys

path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
# SO_PASSCRED: the kernel attaches the sender's pid, as systemd checks it
# (NotifyAccess=main).
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
with open(log, "a", buffering=1) as f:
    while True:
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = 0
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        f.write(f"{pid} {data.decode(errors='replace').strip().replace(chr(10), ' | ')}\n")
        os.fsync(f.fileno())
