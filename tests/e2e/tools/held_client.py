"""A TCP client the test drives line by line, so a connection can be held open across a monitor
start or a summary period. Connects to HOST:PORT, prints "ready <socket inode>", then for each
line on stdin: "send N" sends N bytes, "close" closes; answers each with "ok <bytes sent>"."""

import os
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port))
    print(f"ready {os.fstat(sock.fileno()).st_ino}", flush=True)
    sent = 0
    for line in sys.stdin:
        command = line.split()
        if command[0] == "send":
            block = os.urandom(int(command[1]))
            sock.sendall(block)
            sent += len(block)
        elif command[0] == "close":
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
            sock.close()
            print(f"ok {sent}", flush=True)
            return
        print(f"ok {sent}", flush=True)


if __name__ == "__main__":
    main()
