#!/usr/bin/python3
"""gen_deid_seeds.py: seeds for fuzz_deid with long multi-valued UI, CS and LO elements.

Each seed sits just inside a limit of lib/deid.c, so that one mutated byte crosses it:
- (0002,0003) holds one UID and separators whose mapped form fills the 64 bytes of the
  de-identifier's Media Storage SOP Instance UID exactly; turning the NUL pad into a separator
  needs one byte more;
- (0008,0018) holds short UIDs, then a run of separators, whose mapped form ends a few bytes
  short of the 4,096-byte buffer; any separator of the run turned into a digit adds one mapped
  UID of about 44 bytes;
- (0008,0008) CS and (0010,1000) LO hold many values, so that the same mutations reach the
  other multi-valued writers.
The UIDs are mapped with fuzz_deid's fixed key (1, 2, 3, then zeros), as lib/deid.c maps them:
2.25. and the first 16 bytes of HMAC-SHA-256 in decimal. Explicit and implicit VR little endian.
usage: fuzz/gen_deid_seeds.py  (writes fuzz/corpus/fuzz_deid/multivalue-*.dcm)
"""
import hashlib
import hmac
import os
import struct

KEY = bytes([1, 2, 3]) + bytes(29)
LABEL = b"medcrypt deid uid v1\0"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_deid")
EXPLICIT, IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def mapped_len(uid: bytes) -> int:
    n = int.from_bytes(hmac.new(KEY, LABEL + uid, hashlib.sha256).digest()[:16], "big")
    return len("2.25.") + len(str(n))


def even(v: bytes, pad: bytes) -> bytes:
    return v + pad if len(v) % 2 else v


def element(g: int, e: int, vr: bytes, v: bytes, explicit: bool) -> bytes:
    if explicit:
        return struct.pack("<HH", g, e) + vr + struct.pack("<H", len(v)) + v
    return struct.pack("<HHI", g, e, len(v)) + v


def meta(ts: str, sop: bytes) -> bytes:
    body = b"\x02\x00\x01\x00OB\0\0" + struct.pack("<I", 2) + b"\0\1"
    body += element(2, 2, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0", True)
    body += element(2, 3, b"UI", sop, True)
    body += element(2, 0x10, b"UI", even(ts.encode(), b"\0"), True)
    return b"\0" * 128 + b"DICM" + element(2, 0, b"UL", struct.pack("<I", len(body)), True) + body


def sop_meta() -> bytes:
    """One UID, then separators each followed by a space (an empty value), then a NUL: mapped,
    exactly 64 bytes. Any of those spaces turned into a separator needs one byte more."""
    uid = b"1.2.3"
    v = uid + b"\\ " * (64 - mapped_len(uid))
    return v + b"\0" if len(v) % 2 else v


def sop_instance() -> bytes:
    """Short UIDs, then separators: mapped, a few bytes under 4,096."""
    uids, used = [], 0
    i = 1
    while True:
        u = str(i).encode()
        m = mapped_len(u) + 1
        if used + m + 2 > 3960:
            break
        uids.append(u)
        used += m
        i += 1
    v = b"\\".join(uids)
    used -= 1
    v += b"\\" * (4090 - used)
    return even(v, b"\0")


def multivalue(explicit: bool) -> bytes:
    image_type = b"\\".join([b"ORIGINAL", b"PRIMARY", b"AXIAL"] * 60)
    other_ids = b"\\".join(b"OTHER-ID-%03d" % i for i in range(300))
    ds = element(0x08, 0x08, b"CS", even(image_type, b" "), explicit)
    ds += element(0x08, 0x16, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0", explicit)
    ds += element(0x08, 0x18, b"UI", sop_instance(), explicit)
    ds += element(0x10, 0x10, b"PN", b"Doe^Jane", explicit)
    ds += element(0x10, 0x20, b"LO", b"PID-4711", explicit)
    ds += element(0x10, 0x1000, b"LO", even(other_ids, b" "), explicit)
    ds += element(0x20, 0x0D, b"UI", even(b"1.2.3\\\\1.2.4\\ 1.2.5", b"\0"), explicit)
    return ds


def small(explicit: bool) -> bytes:
    """A few short elements, so that mutations land on the meta group's UID often."""
    ds = element(0x08, 0x18, b"UI", b"1.2.3.4\\ \\5.6\0", explicit)
    ds += element(0x10, 0x10, b"PN", b"Doe^Jane", explicit)
    return ds


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for name, ts, explicit in (("explicit", EXPLICIT, True), ("implicit", IMPLICIT, False)):
        seeds = {
            "multivalue-%s.dcm" % name: meta(ts, b"1.2.3.4\0") + multivalue(explicit),
            "multivalue-meta-%s.dcm" % name: meta(ts, sop_meta()) + small(explicit),
        }
        for file_name, data in seeds.items():
            with open(os.path.join(OUT, file_name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
