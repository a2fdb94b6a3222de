"""Run a command (sshd's SFTP server) behind a link of RATE bytes a second each way.

    python tests/slow_link.py RATE COMMAND...

sshd starts its SFTP subsystem with the SSH channel on stdin and stdout; this
relays both directions through pipes to COMMAND at no more than RATE bytes a
second, as a slow network would. On localhost a push is otherwise over before
a test can kill the server in the middle of it.
"""

import os
import subprocess
import sys
import threading
import time

CHUNK = 16 * 1024


def relay(source, sink, rate):
    """Copy file descriptor `source` to `sink` at `rate` bytes a second, until end of file; then close `sink`."""
    start, sent = time.monotonic(), 0
    while chunk := os.read(source, CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(sink, view) :]
        sent += len(chunk)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    os.close(sink)


def main():
    rate, command = int(sys.argv[1]), sys.argv[2:]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    upload = threading.Thread(target=relay, args=(sys.stdin.fileno(), child.stdin.fileno(), rate), daemon=True)
    upload.start()
    relay(child.stdout.fileno(), sys.stdout.fileno(), rate)
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
