"""Bytes taken out of another process's memory, with no channel between the two processes.

  mem_peek.py hold PATH READY
      writes "PID ADDRESS LENGTH" of a buffer to READY (atomically: a rename), then reads PATH
      into that buffer and sleeps until it is killed (SIGUSR1: writes the buffer to stdout, exits)
  mem_peek.py steal METHOD READY
      copies the buffer READY names out of that process's memory to stdout; METHOD:
      process_vm process_vm_readv(2)
      proc_mem   pread(2) of /proc/PID/mem
      ptrace     PTRACE_ATTACH, then PTRACE_PEEKDATA word by word, then PTRACE_DETACH
  mem_peek.py poke METHOD READY PATH
      writes PATH's bytes into the buffer READY names (process_vm: process_vm_writev(2), pwrite(2) of
      /proc/PID/mem, or PTRACE_POKEDATA), then signals the holder to write its buffer to stdout
"""

import ctypes
import os
import signal
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

PTRACE_PEEKDATA, PTRACE_POKEDATA, PTRACE_ATTACH, PTRACE_DETACH = 2, 5, 16, 17
WORD = ctypes.sizeof(ctypes.c_long)


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def fail(what):
    err = ctypes.get_errno()
    sys.exit(f"mem_peek: {what}: {os.strerror(err)}")


def hold(path, ready):
    # READY is written before PATH is read: it holds nothing of PATH, whose bytes stay in this
    # process's memory only (a stealer waits for them to appear there). Room to a whole word past
    # the end, so that word-sized pokes stay inside the buffer.
    length = os.stat(path).st_size
    buf = ctypes.create_string_buffer(length + WORD)

    def dump(*_):
        os.write(1, buf.raw[:length])
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    tmp = f"{ready}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()} {ctypes.addressof(buf)} {length}\n")
    os.rename(tmp, ready)
    with open(path, "rb", buffering=0) as f:
        f.readinto((ctypes.c_char * length).from_buffer(buf))
    while True:
        time.sleep(3600)


def target(ready):
    pid, address, length = (int(x) for x in open(ready).read().split())
    return pid, address, length


def vm(pid, address, length, data=None):
    local = ctypes.create_string_buffer(data if data is not None else length, length)
    lio = Iovec(ctypes.cast(local, ctypes.c_void_p), length)
    rio = Iovec(address, length)
    call = libc.process_vm_writev if data is not None else libc.process_vm_readv
    done = call(pid, ctypes.byref(lio), 1, ctypes.byref(rio), 1, 0)
    if done != length:
        fail("process_vm_writev" if data is not None else "process_vm_readv")
    return local.raw[:length]


def proc_mem(pid, address, length, data=None):
    fd = os.open(f"/proc/{pid}/mem", os.O_RDWR if data is not None else os.O_RDONLY)
    try:
        if data is not None:
            os.pwrite(fd, data, address)
            return data
        return os.pread(fd, length, address)
    finally:
        os.close(fd)


def ptraced(pid, address, length, data=None):
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        fail("PTRACE_ATTACH")
    os.waitpid(pid, 0)
    out = bytearray()
    try:
        for offset in range(0, length, WORD):
            at = ctypes.c_void_p(address + offset)
            if data is not None:
                word = data[offset:offset + WORD].ljust(WORD, b"\0")
                value = ctypes.c_long.from_buffer_copy(word).value
                if libc.ptrace(PTRACE_POKEDATA, pid, at, ctypes.c_void_p(value & (2**64 - 1))) != 0:
                    fail("PTRACE_POKEDATA")
                continue
            ctypes.set_errno(0)
            value = libc.ptrace(PTRACE_PEEKDATA, pid, at, None)
            if value == -1 and ctypes.get_errno():
                fail("PTRACE_PEEKDATA")
            out += ctypes.c_long(value).value.to_bytes(WORD, "little", signed=True)
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    return bytes(out[:length]) if data is None else data


METHODS = {"process_vm": vm, "proc_mem": proc_mem, "ptrace": ptraced}


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "hold":
        hold(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "steal" and sys.argv[2] in METHODS:
        pid, address, length = target(sys.argv[3])
        for _ in range(500):  # until the holder has read its file (its buffer starts zeroed)
            data = METHODS[sys.argv[2]](pid, address, length)
            if data[:1] != b"\0":
                break
            time.sleep(0.02)
        sys.stdout.buffer.write(data)
    elif len(sys.argv) == 5 and sys.argv[1] == "poke" and sys.argv[2] in METHODS:
        pid, address, length = target(sys.argv[3])
        while vm(pid, address, 1)[:1] == b"\0":  # until the holder has read its own file
            time.sleep(0.02)
        with open(sys.argv[4], "rb") as f:
            data = f.read()[:length]
        METHODS[sys.argv[2]](pid, address, len(data), data)
        os.kill(pid, signal.SIGUSR1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
