"""A websocket the server closes ends with its close frame: nothing follows that a browser would read as a bad
frame (Chromium then drops the last messages it read with it, such as 'the meeting has ended')."""
from __future__ import annotations

import base64
import os
import socket
import struct


def frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Unmasked server frames as (opcode, payload), and whatever bytes are left that are no frame."""
    out, i = [], 0
    while i + 2 <= len(data):
        opcode, length, head = data[i] & 0x0F, data[i + 1] & 0x7F, 2
        if data[i] & 0x70 or data[i + 1] & 0x80 or opcode not in {0x1, 0x2, 0x8, 0x9, 0xA}:
            break  # reserved bits, a mask or an unknown opcode: not a frame a server may send
        if length == 126:
            length, head = struct.unpack("!H", data[i + 2:i + 4])[0], 4
        elif length == 127:
            length, head = struct.unpack("!Q", data[i + 2:i + 10])[0], 10
        if i + head + length > len(data):
            break
        out.append((opcode, data[i + head:i + head + length]))
        i += head + length
    return out, data[i:]


def test_a_socket_the_server_closes_ends_with_its_close_frame(live_server, demo_room):
    port = live_server.server.server_port
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sendall(f"GET /ws/m/demo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {live_server.url}\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    data = b""
    while b"</div>" not in data:  # told it has not joined
        data += conn.recv(65536)
    conn.sendall(b"\x81\x80" + os.urandom(4))  # an empty text frame: the server closes without waiting
    while chunk := conn.recv(65536):
        data += chunk
    conn.close()

    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    got, left = frames(rest)
    assert [op for op, _ in got] == [0x1, 0x8] and b"id=\"status\"" in got[0][1]
    assert struct.unpack("!H", got[1][1][:2])[0] == 1008
    assert left == b""  # no HTTP response written after the websocket's close frame
