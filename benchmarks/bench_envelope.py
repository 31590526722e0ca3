"""Throughput and memory of the aes256gcm-stream/1 envelope, against raw AES-GCM + SHA-256.

Each payload size runs in a fresh process, so its peak RSS is its own; the payload is a random
1 MiB block repeated, never held whole. The raw baseline does the same reads, AES-GCM calls and
SHA-256 updates with none of the envelope's logic, so ``envelope / raw`` is what the envelope
costs (goal: >= 0.8, and peak RSS < 150 MiB whatever the size).

    python benchmarks/bench_envelope.py --size 256MiB --size 2GiB
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import platform
import re
import resource
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloudpdi.envelope import (
    DEFAULT_CHUNK_SIZE,
    SCHEME_ID,
    decrypt_stream,
    decrypt_to_file,
    encrypt_stream,
)
from cloudpdi.envelope_aes256gcm import (
    COMMITMENT_LENGTH,
    HEADER_LENGTH,
    NONCE_PREFIX_LENGTH,
    TAG_LENGTH,
)
from cloudpdi.secret import Secret

try:
    import psutil
except ImportError:  # psutil is a test extra; ru_maxrss alone is enough
    psutil = None

MIB = 1 << 20
UNITS = {
    **{"": 1, "B": 1, "KIB": 1 << 10, "MIB": MIB, "GIB": 1 << 30},
    **{"KB": 10**3, "MB": 10**6, "GB": 10**9},
}
DOCUMENT_ID = "bench-document"


def parse_size(text: str) -> int:
    """Parse ``2GiB``, ``256MiB``, ``1GB`` or a plain byte count."""
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(match.group(1)) * UNITS[match.group(2).upper()]


class RepeatingSource(io.RawIOBase):
    """``size`` bytes made of one random block repeated: a fast source that costs no memory."""

    def __init__(self, size: int, block: bytes) -> None:
        self._left = size
        self._block = memoryview(block)
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._left, len(self._block) - self._offset)
        buffer[:count] = self._block[self._offset : self._offset + count]
        self._offset = (self._offset + count) % len(self._block)
        self._left -= count
        return count


class Discard:
    """A sink that drops everything, so only the envelope's own work is timed."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


class HashingSource:
    """A source that hashes what it hands out, as a downloader checking Content-Digest would."""

    def __init__(self, src: io.BufferedReader) -> None:
        self._src = src
        self.hash = hashlib.sha256()

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._src.readinto(buffer)
        self.hash.update(memoryview(buffer)[:count])
        return count


class PeakSampler:
    """Samples the process RSS with psutil (when installed) to back up ru_maxrss."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, process.memory_info().rss)

    def __enter__(self) -> PeakSampler:
        if psutil is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def raw_key(secret: Secret) -> AESGCM:
    """Derive the envelope key by the documented recipe, for the baseline's own AES-GCM calls."""
    kdf = HKDF(SHA256(), 32, salt=DOCUMENT_ID.encode(), info=SCHEME_ID.encode())
    return AESGCM(kdf.derive(secret.reveal()))


def raw_encrypt(size: int, block: bytes, aead: AESGCM) -> None:
    """Read, seal and hash the payload chunk by chunk: the floor for envelope encryption."""
    source, digest, header = RepeatingSource(size, block), hashlib.sha256(), bytes(HEADER_LENGTH)
    buffer = bytearray(DEFAULT_CHUNK_SIZE)
    view, prefix = memoryview(buffer), os.urandom(NONCE_PREFIX_LENGTH)
    counter = 0
    while count := source.readinto(view):
        nonce = prefix + struct.pack(">IB", counter, 0)
        digest.update(aead.encrypt(nonce, view[:count], header))
        counter += 1


def raw_decrypt(path: Path, aead: AESGCM) -> None:
    """Read, hash and open the envelope's chunks with no checks: the floor for decryption."""
    digest, full = hashlib.sha256(), DEFAULT_CHUNK_SIZE + TAG_LENGTH
    buffer = bytearray(full)
    view = memoryview(buffer)
    with path.open("rb") as src:
        header = src.read(HEADER_LENGTH)
        digest.update(header)
        prefix = header[-COMMITMENT_LENGTH - NONCE_PREFIX_LENGTH : -COMMITMENT_LENGTH]
        counter = 0
        while count := src.readinto(view):
            digest.update(view[:count])
            nonce = prefix + struct.pack(">IB", counter, int(count < full))
            aead.decrypt(nonce, view[:count], header)
            counter += 1


def envelope_encrypt(size: int, block: bytes, secret: Secret) -> None:
    """Encrypt with the public streaming API into a sink that drops the ciphertext."""
    encrypt_stream(RepeatingSource(size, block), Discard(), secret, DOCUMENT_ID)


def envelope_decrypt(path: Path, secret: Secret) -> None:
    """Decrypt with the public streaming API, hashing the ciphertext as it is read."""
    with path.open("rb") as src:
        for _ in decrypt_stream(HashingSource(src), secret, DOCUMENT_ID):
            pass


def envelope_decrypt_to_file(path: Path, dest: Path, secret: Secret) -> None:
    """Decrypt to a file on disk with the public API (temporary file, fsync, rename)."""
    with path.open("rb") as src:
        decrypt_to_file(src, dest, secret, DOCUMENT_ID)


def write_to_file(size: int, block: bytes, path: Path) -> None:
    """Write the plaintext payload to disk and make it durable: the disk's own floor."""
    with path.open("wb") as sink:
        source = RepeatingSource(size, block)
        while data := source.read(MIB):
            sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    path.unlink()


def encrypt_to_file(size: int, block: bytes, secret: Secret, path: Path) -> None:
    """Encrypt the payload into a file on disk and make it durable."""
    with path.open("wb") as sink:
        encrypt_stream(RepeatingSource(size, block), sink, secret, DOCUMENT_ID)
        sink.flush()
        os.fsync(sink.fileno())


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_size(size: int, directory: str | None, repeat: int, disk: bool) -> dict[str, object]:
    """Run every phase for one payload size; return the best timings and peak memory.

    CPU-bound phases run ``repeat`` times, raw and envelope interleaved so that drift in the
    machine's speed hits both, and keep the fastest run; disk phases run once.
    """
    block, secret = os.urandom(MIB), Secret.generate()
    aead = raw_key(secret)
    with tempfile.TemporaryDirectory(dir=directory) as scratch, PeakSampler() as sampler:
        envelope = Path(scratch) / "payload.cpdi"
        on_disk = {
            "raw write -> disk (fsync)": seconds(
                partial(write_to_file, size, block, Path(scratch) / "raw.bin")
            ),
            "envelope encrypt -> disk (fsync)": seconds(
                partial(encrypt_to_file, size, block, secret, envelope)
            ),
        }
        cpu_bound = {
            "raw encrypt": partial(raw_encrypt, size, block, aead),
            "envelope encrypt": partial(envelope_encrypt, size, block, secret),
            "raw decrypt": partial(raw_decrypt, envelope, aead),
            "envelope decrypt": partial(envelope_decrypt, envelope, secret),
        }
        best = dict.fromkeys(cpu_bound, float("inf"))
        for _ in range(repeat):
            for name, work in cpu_bound.items():
                best[name] = min(best[name], seconds(work))
        if disk:
            on_disk["envelope decrypt_to_file (fsync)"] = seconds(
                partial(envelope_decrypt_to_file, envelope, Path(scratch) / "out.zip", secret)
            )
    # ru_maxrss is in KiB on Linux.
    return {
        "size": size,
        "phases": [*best.items(), *on_disk.items()],
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "psutil_peak": sampler.peak or None,
    }


def _child(
    size: int, directory: str | None, repeat: int, disk: bool, queue: multiprocessing.Queue
) -> None:
    queue.put(run_size(size, directory, repeat, disk))


def in_fresh_process(
    size: int, directory: str | None, repeat: int, disk: bool
) -> dict[str, object]:
    """Run one size in a spawned interpreter so that its peak RSS is not inherited."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(size, directory, repeat, disk, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def print_report(result: dict[str, object]) -> None:
    size = result["size"]
    timings = dict(result["phases"])

    def rate(name: str) -> float:
        return size / MIB / timings[name]

    print(f"\npayload {size / MIB:,.0f} MiB, chunk {DEFAULT_CHUNK_SIZE // 1024} KiB")
    print(f"{'phase':<36}{'seconds':>9}{'MiB/s':>10}{'vs raw':>9}")
    for name, seconds in result["phases"]:
        baseline = {"envelope encrypt": "raw encrypt", "envelope decrypt": "raw decrypt"}
        ratio = f"{rate(name) / rate(baseline[name]):.3f}" if name in baseline else ""
        print(f"{name:<36}{seconds:>9.2f}{rate(name):>10,.0f}{ratio:>9}")
    psutil_peak = result["psutil_peak"]
    sampled = f"{psutil_peak / MIB:.1f} MiB" if psutil_peak else "n/a (psutil missing)"
    print(f"peak RSS: ru_maxrss {result['ru_maxrss'] / MIB:.1f} MiB, psutil sampled {sampled}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=parse_size, action="append", help="payload size (repeatable)"
    )
    parser.add_argument("--dir", help="scratch directory for the on-disk phases")
    parser.add_argument("--repeat", type=int, default=3, help="runs per CPU-bound phase")
    parser.add_argument(
        "--no-decrypt-to-file",
        dest="disk",
        action="store_false",
        help="skip the decrypt_to_file phase (saves writing the plaintext to disk)",
    )
    args = parser.parse_args()
    sizes = args.size or [parse_size("2GiB")]
    print(
        f"{SCHEME_ID}: Python {platform.python_version()}, cryptography {cryptography.__version__}"
    )
    print(f"{backend.openssl_version_text()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print("raw = the same reads, AES-256-GCM calls and SHA-256 updates, no envelope logic")
    print("disk phases run once and show the disk as much as the envelope (raw write = floor)")
    results = [in_fresh_process(size, args.dir, args.repeat, args.disk) for size in sizes]
    for result in results:
        print_report(result)
    print("\npeak RSS by payload size (each size in its own process):")
    for result in results:
        print(f"  {result['size'] / MIB:>8,.0f} MiB payload: {result['ru_maxrss'] / MIB:6.1f} MiB")


if __name__ == "__main__":
    main()
