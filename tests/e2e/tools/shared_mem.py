"""Bytes passed through memory two processes share, with no syscall that carries them.

  shared_mem.py sysv PATH OUT
      creates a System V segment (shmget, attached by both sides before PATH is read); a
      receiver in a session of its own attaches it; then PATH is read into the segment, and the
      receiver writes what appeared there to OUT
  shared_mem.py fork PATH OUT
      an anonymous shared mapping (mmap MAP_SHARED|MAP_ANONYMOUS), then fork: the child (the
      receiver, in a session of its own) waits for the bytes the parent reads from PATH into the
      mapping after the fork, and writes them to OUT
  shared_mem.py file PATH OUT
      a scratch file next to OUT mapped MAP_SHARED by a receiver of another session before PATH
      is read, then by this process, which reads PATH into its mapping; the receiver writes what
      its mapping holds to OUT
  shared_mem.py memfd PATH OUT
      as fork, through a memfd mapped MAP_SHARED (memfd_create: no path anywhere)
  shared_mem.py mprotect PATH OUT
      as file, but this process maps the scratch file read-only and makes the mapping writable
      with mprotect(2) before it copies PATH in
  shared_mem.py private PATH OUT
      a scratch file next to OUT mapped MAP_PRIVATE (read-only) by a receiver of another session
      before PATH is read; this process reads PATH, then opens the file and writes PATH's bytes
      into it with pwrite(2), which shows in every page of the receiver's mapping it never
      wrote; the receiver writes them to OUT

In every mode the receiver started before PATH was read (it inherited or mapped nothing of it),
the bytes are copied by memcpy only (private: by pwrite, then read by memory), and this process
exits when OUT is whole.
"""

import ctypes
import mmap
import os
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
HEADER = 8  # a ready flag, then the length of what follows


def fail(what):
    sys.exit(f"shared_mem: {what}: {os.strerror(ctypes.get_errno())}")


def wait_for(view, size, out):
    """The receiver: waits for the header to say `size` bytes are there, then writes them out."""
    for _ in range(2000):
        if int.from_bytes(view[:HEADER], "little") == size:
            break
        time.sleep(0.01)
    else:
        sys.exit("shared_mem: the bytes never appeared")
    data = bytes(view[HEADER:HEADER + size])
    with open(out, "wb") as f:
        f.write(data)


def fill(view, path):
    size = os.stat(path).st_size
    with open(path, "rb", buffering=0) as f:
        data = f.read()
    view[HEADER:HEADER + size] = data
    view[:HEADER] = size.to_bytes(HEADER, "little")


def await_out(out, size):
    for _ in range(2000):
        if os.path.exists(out) and os.stat(out).st_size == size:
            return
        time.sleep(0.01)
    sys.exit("shared_mem: the receiver wrote nothing")


def sysv(path, out):
    size = os.stat(path).st_size
    segment = libc.shmget(IPC_PRIVATE, HEADER + size, IPC_CREAT | 0o600)
    if segment < 0:
        fail("shmget")
    try:
        receiver = os.fork()
        if receiver == 0:
            os.setsid()
            address = libc.shmat(segment, None, 0)
            if address in (None, ctypes.c_void_p(-1).value):
                fail("shmat (receiver)")
            wait_for((ctypes.c_char * (HEADER + size)).from_address(address), size, out)
            os._exit(0)
        address = libc.shmat(segment, None, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            fail("shmat")
        time.sleep(0.3)  # the receiver attaches first
        view = memoryview((ctypes.c_char * (HEADER + size)).from_address(address)).cast("B")
        fill(view, path)
        await_out(out, size)
        os.waitpid(receiver, 0)
    finally:
        libc.shmctl(segment, IPC_RMID, None)


def forked(path, out, use_memfd=False):
    """The receiver is a child forked after the mapping was made (anonymous, or of a memfd)."""
    size = os.stat(path).st_size
    if use_memfd:
        fd = os.memfd_create("buffer")
        os.ftruncate(fd, HEADER + size)
        shared = mmap.mmap(fd, HEADER + size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(fd)
    else:
        shared = mmap.mmap(-1, HEADER + size)  # MAP_SHARED | MAP_ANONYMOUS
    receiver = os.fork()
    if receiver == 0:
        os.setsid()
        wait_for(shared, size, out)
        os._exit(0)
    time.sleep(0.3)
    fill(memoryview(shared), path)
    await_out(out, size)
    os.waitpid(receiver, 0)


def file_mapped(path, out, protect=False, private=False):
    size = os.stat(path).st_size
    scratch = f"{out}.map"
    with open(scratch, "wb") as f:
        f.write(b"\0" * (HEADER + size))
    receiver = os.fork()
    if receiver == 0:
        os.setsid()
        fd = os.open(scratch, os.O_RDONLY)  # a read-only mapping: it only sees
        view = mmap.mmap(fd, HEADER + size, mmap.MAP_PRIVATE if private else mmap.MAP_SHARED, mmap.PROT_READ)
        wait_for(view, size, out)
        os._exit(0)
    time.sleep(0.3)
    if private:  # no mapping on this side: PATH read, then a write(2) into the file
        with open(path, "rb", buffering=0) as f:
            data = f.read()
        fd = os.open(scratch, os.O_RDWR)
        os.pwrite(fd, data, HEADER)
        os.pwrite(fd, size.to_bytes(HEADER, "little"), 0)
        await_out(out, size)
        os.waitpid(receiver, 0)
        os.unlink(scratch)
        return
    fd = os.open(scratch, os.O_RDWR)
    if protect:
        # Mapped read-only, then made writable: the write side shows only at the mprotect.
        address = libc.mmap(None, HEADER + size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            fail("mmap")
        if libc.mprotect(address, HEADER + size, mmap.PROT_READ | mmap.PROT_WRITE):
            fail("mprotect")
        fill(memoryview((ctypes.c_char * (HEADER + size)).from_address(address)).cast("B"), path)
    else:
        view = mmap.mmap(fd, HEADER + size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        fill(memoryview(view), path)
    await_out(out, size)
    os.waitpid(receiver, 0)
    os.unlink(scratch)


MODES = {"sysv": sysv, "fork": forked, "file": file_mapped,
         "memfd": lambda path, out: forked(path, out, use_memfd=True),
         "mprotect": lambda path, out: file_mapped(path, out, protect=True),
         "private": lambda path, out: file_mapped(path, out, private=True)}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    MODES[sys.argv[1]](sys.argv[2], sys.argv[3])
