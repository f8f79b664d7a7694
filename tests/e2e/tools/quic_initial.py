#!/usr/bin/python3
"""A QUIC client's first flight, built here (Debian 12 packages no QUIC client: no aioquic, no
ngtcp2 or quiche tools, curl without HTTP/3): a TLS 1.3 ClientHello with QUIC transport
parameters (x25519 key share from python3-cryptography, ALPN h3) in CRYPTO frames of genuine
RFC 9001 client Initial packets (initial secrets by HKDF-SHA256 from the DCID with the v1 or v2
salt, AES-128-GCM packet protection, AES-128-ECB header protection), padded to 1200 bytes. With
--split the ClientHello spans two Initials and its CRYPTO frames go out of order, as Chrome
sends them. Then the file given is sent as short-header datagrams of AES-GCM ciphertext under
a throwaway key, standing in for 1-RTT packets (no byte of it is on the wire in clear).

With --serve, a UDP receiver in this process counts what arrives; exits 0 once every datagram
did."""

import argparse
import os
import socket
import struct
import sys
import threading

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSIONS = {
    1: (0x00000001, bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic", 0),
    2: (0x6b3343cf, bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2", 1),
}
DATAGRAM = 1200


def hkdf_extract(salt, ikm):
    h = hmac.HMAC(salt, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def expand_label(secret, label, length):
    full = b"tls13 " + label
    h = hmac.HMAC(secret, hashes.SHA256())
    h.update(struct.pack("!HB", length, len(full)) + full + b"\x00\x01")
    return h.finalize()[:length]


def vec(width, body):
    return len(body).to_bytes(width, "big") + body


def extension(kind, body):
    return struct.pack("!H", kind) + vec(2, body)


def varint(value):
    if value < 0x40:
        return bytes([value])
    if value < 0x4000:
        return struct.pack("!H", 0x4000 | value)
    return struct.pack("!I", 0x80000000 | value)


def client_hello(sni, pad):
    key_share = X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    params = b"".join(varint(k) + vec(1, varint(v))
                      for k, v in ((0x04, 1 << 20), (0x05, 1 << 18), (0x08, 100), (0x09, 100)))
    params += varint(0x0f) + vec(1, os.urandom(8))  # initial_source_connection_id
    exts = [
        extension(0, vec(2, b"\x00" + vec(2, sni.encode()))),
        extension(10, vec(2, struct.pack("!H", 0x001d))),
        extension(13, vec(2, struct.pack("!HHH", 0x0403, 0x0804, 0x0401))),
        extension(16, vec(2, vec(1, b"h3"))),
        extension(43, vec(1, struct.pack("!H", 0x0304))),
        extension(51, vec(2, struct.pack("!H", 0x001d) + vec(2, key_share))),
        extension(0x39, params),
    ]
    if pad:
        exts.insert(0, extension(21, bytes(pad)))  # before server_name: the name is in packet 2
    body = (struct.pack("!H", 0x0303) + os.urandom(32) + vec(1, b"") +
            vec(2, struct.pack("!HHH", 0x1301, 0x1302, 0x1303)) + vec(1, b"\x00") +
            vec(2, b"".join(exts)))
    return b"\x01" + vec(3, body)


def crypto_frame(offset, data):
    return b"\x06" + varint(offset) + varint(len(data)) + data


def initial_packet(version, dcid, scid, packet_number, frames):
    number, salt, label, initial_type = VERSIONS[version]
    secret = expand_label(hkdf_extract(salt, dcid), b"client in", 32)
    key = expand_label(secret, label + b" key", 16)
    iv = expand_label(secret, label + b" iv", 12)
    hp = expand_label(secret, label + b" hp", 16)
    pn_len = 4
    head_len = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + pn_len
    payload = frames + bytes(max(0, DATAGRAM - head_len - 16 - len(frames)))  # PADDING frames
    first = 0xc0 | (initial_type << 4) | (pn_len - 1)
    header = (bytes([first]) + struct.pack("!I", number) + vec(1, dcid) + vec(1, scid) +
              varint(0) + struct.pack("!H", 0x4000 | (pn_len + len(payload) + 16)) +
              packet_number.to_bytes(pn_len, "big"))
    nonce = bytes(a ^ b for a, b in zip(iv, packet_number.to_bytes(12, "big")))
    sealed = AESGCM(key).encrypt(nonce, payload, header)
    pn_offset = len(header) - pn_len
    sample = sealed[4 - pn_len:4 - pn_len + 16]
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sample)
    protected = bytearray(header)
    protected[0] ^= mask[0] & 0x0f
    for i in range(pn_len):
        protected[pn_offset + i] ^= mask[1 + i]
    return bytes(protected) + sealed


def first_flight(version, sni, split):
    dcid, scid = os.urandom(8), os.urandom(8)
    hello = client_hello(sni, 1400 if split else 0)
    if not split:
        return [initial_packet(version, dcid, scid, 0, crypto_frame(0, hello))]
    cut = len(hello) // 2
    # Chrome-like: the later half first, and the second packet's frames out of order too.
    first = initial_packet(version, dcid, scid, 0, crypto_frame(cut, hello[cut:cut + 700]))
    quarter = cut // 2
    second = initial_packet(version, dcid, scid, 1,
                            crypto_frame(quarter, hello[quarter:cut]) +
                            crypto_frame(0, hello[:quarter]))
    rest = initial_packet(version, dcid, scid, 2, crypto_frame(cut + 700, hello[cut + 700:]))
    return [first, second, rest]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sni", required=True)
    parser.add_argument("--file", required=True, help="sent after the first flight")
    parser.add_argument("--version", type=int, choices=sorted(VERSIONS), default=1)
    parser.add_argument("--split", action="store_true")
    parser.add_argument("--serve", action="store_true", help="receive in this process")
    parser.add_argument("--dump", help="write the first flight to DUMP-N.bin and send nothing")
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    with open(args.file, "rb") as f:
        body = f.read()
    family = socket.AF_INET6 if ":" in args.address else socket.AF_INET
    datagrams = first_flight(args.version, args.sni, args.split)
    if args.dump:
        for i, datagram in enumerate(datagrams):
            with open(f"{args.dump}-{i}.bin", "wb") as f:
                f.write(datagram)
        return
    throwaway = AESGCM(AESGCM.generate_key(128))
    step = DATAGRAM - 9 - 16 - 12
    for i in range(0, len(body), step):
        nonce = os.urandom(12)
        datagrams.append(b"\x40" + os.urandom(8) + nonce +
                         throwaway.encrypt(nonce, body[i:i + step], None))
    received = []
    if args.serve:
        server = socket.socket(family, socket.SOCK_DGRAM)
        server.bind((args.address, args.port))
        server.settimeout(10)

        def serve():
            try:
                for _ in datagrams:
                    received.append(len(server.recv(65536)))
            except OSError:
                pass
        thread = threading.Thread(target=serve)
        thread.start()
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.connect((args.address, args.port))
    for datagram in datagrams:
        client.send(datagram)
    client.close()
    if args.serve:
        thread.join(15)
        if len(received) != len(datagrams):
            sys.exit(f"received {len(received)} of {len(datagrams)} datagrams")
    print(f"sent {len(datagrams)} datagrams")


if __name__ == "__main__":
    main()
