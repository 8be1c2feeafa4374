#!/usr/bin/env python3
"""A stand-in for systemd's notification socket, for tests of virtbusd's
sd_notify messages: binds a datagram socket at PATH and appends each
message it receives to OUT, one message per line (newlines inside a
message become ';').  Runs until killed."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path + ".tmp")
# Appear under the final name only once bound, so that waiting for the
# file is waiting for the socket to listen.
os.rename(path + ".tmp", path)
with open(out, "a", buffering=1) as f:
    while True:
        msg = sock.recv(4096).decode("utf-8", "replace")
        f.write(msg.strip().replace("\n", ";") + "\n")
