#!/usr/bin/env python3
"""Independent filecrypt-format implementation for lomo-crypt's tests.

PyNaCl (libsodium) for the secretbox and XChaCha20-Poly1305, Python's
hashlib.scrypt for the key. Blob: salt(32) | nonce(24) | tag(16) | ciphertext.

usage: pynacl_box.py seal|open xsalsa|xchacha LOG_N PASSPHRASE_FILE IN OUT
"""
import hashlib, os, sys

import nacl.bindings as b
import nacl.secret


def key(passphrase, salt, log_n):
    return hashlib.scrypt(passphrase, salt=salt, n=1 << log_n, r=8, p=1,
                          dklen=32, maxmem=(1 << 31) - 1)


def main():
    op, cipher, log_n, pw_file, src, dst = sys.argv[1:7]
    passphrase = open(pw_file, "rb").read()
    data = open(src, "rb").read()
    if op == "seal":
        salt, nonce = os.urandom(32), os.urandom(24)
        k = key(passphrase, salt, int(log_n))
        if cipher == "xsalsa":
            # crypto_secretbox_easy: tag first, then ciphertext
            boxed = nacl.secret.SecretBox(k).encrypt(data, nonce).ciphertext
        else:
            ct = b.crypto_aead_xchacha20poly1305_ietf_encrypt(data, None, nonce, k)
            boxed = ct[-16:] + ct[:-16]  # lomob's layout puts the tag first too
        out = salt + nonce + boxed
    else:
        salt, nonce, boxed = data[:32], data[32:56], data[56:]
        k = key(passphrase, salt, int(log_n))
        if cipher == "xsalsa":
            out = nacl.secret.SecretBox(k).decrypt(boxed, nonce)
        else:
            out = b.crypto_aead_xchacha20poly1305_ietf_decrypt(boxed[16:] + boxed[:16], None, nonce, k)
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
