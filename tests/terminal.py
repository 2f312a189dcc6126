"""Run a command on a real pseudo-terminal and read back the screen it leaves, as a terminal would draw it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

_CSI = re.compile(rb"\x1b\[(\??)([0-9;]*)([A-Za-z])")


def run_on_terminal(
    argv: list[str], cwd: Path, env: dict[str, str], cols: int = 160, rows: int = 50, timeout: float = 300
) -> tuple[int, bytes]:
    """``argv`` with stdin, stdout and stderr on a new pseudo-terminal of ``cols`` x ``rows``; its exit status and
    every byte it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the last writer closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
    finally:
        os.close(master)
    return proc.wait(timeout=30), bytes(out)


def screen(data: bytes, cols: int = 160) -> list[str]:
    """The lines ``data`` leaves on a terminal ``cols`` wide that never scrolls off its top: carriage return, line
    feed, cursor up and down (CSI A / B), erase in line (CSI K), a character past the last column wrapping to the next
    line; other escape sequences are dropped."""
    lines: list[list[str]] = [[]]
    row = col = 0
    i = 0
    text = data
    while i < len(text):
        m = _CSI.match(text, i)
        if m:
            n = int(m.group(2) or b"1") if m.group(2).isdigit() else 1
            code = m.group(3)
            if code == b"A":
                row = max(0, row - n)
            elif code == b"B":
                row += n
            elif code == b"K":
                del lines[row][col:]
            i = m.end()
            continue
        ch = text[i : i + 1]
        if ch == b"\r":
            col = 0
        elif ch == b"\n":
            row += 1
        elif ch == b"\x1b":
            pass
        else:
            # a UTF-8 character: its bytes whole (tqdm's bar blocks are three bytes)
            width = 1 if ch[0] < 0x80 else (2 if ch[0] >= 0xC0 and ch[0] < 0xE0 else 3 if ch[0] < 0xF0 else 4)
            char = text[i : i + width].decode("utf-8", "replace")
            i += width - 1
            if col >= cols:
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
        while len(lines) <= row:
            lines.append([])
        i += 1
    shown = ["".join(line).rstrip() for line in lines]
    while shown and not shown[-1]:  # the cursor's empty line below the last output
        shown.pop()
    return shown
