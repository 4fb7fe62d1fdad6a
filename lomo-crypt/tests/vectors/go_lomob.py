#!/usr/bin/env python3
"""Independent implementation of the Go lomo-backup object encryption.

object = IV(16) | AES-256-CTR(plaintext), IV = SHA-256(plaintext)[:16] used
whole as the initial big-endian counter block; key = Argon2id(master key
UTF-8, salt=IV, t=1, m=64 MiB, p=4, v1.3, 32 bytes).
Uses argon2-cffi and cryptography.

usage: go_lomob.py encrypt MASTER_KEY_FILE IN OUT
"""
import hashlib, sys

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def main():
    _, mk_file, src, dst = sys.argv[1:5]
    master = open(mk_file, "rb").read()
    data = open(src, "rb").read()
    iv = hashlib.sha256(data).digest()[:16]
    key = hash_secret_raw(master, iv, time_cost=1, memory_cost=64 * 1024,
                          parallelism=4, hash_len=32, type=Type.ID, version=19)
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    open(dst, "wb").write(iv + enc.update(data) + enc.finalize())


if __name__ == "__main__":
    main()
