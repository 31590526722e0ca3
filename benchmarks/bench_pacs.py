"""C-STORE and C-MOVE throughput of the PACS simulator and the DICOM client, against dcmtk.

The baseline is dcmtk to dcmtk (storescu into storescp) over the same loopback, so the ratios
say what pynetdicom and our store cost on top of the wire. dcmtk runs with TCP_NODELAY=1 in
its environment (dcmtk 3.6 leaves Nagle's algorithm on otherwise: the "Nagle" row shows what
that costs). dcmtk's tools are taken from --dcmtk-bin, because pynetdicom installs apps with
the same names that may come first on PATH.

    python benchmarks/bench_pacs.py --count 300
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudpdi import dimse
from fixtures.studies import generate_study
from simulators.pacs import PacsConfig, PacsSimulator

MIB = 1 << 20
TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(nodelay: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TCP_NODELAY", None)
    if nodelay:
        env["TCP_NODELAY"] = "1"
    return env


@contextmanager
def _storescp(bin_dir: Path, out: Path, *, nodelay: bool = True) -> Iterator[dimse.DicomPeer]:
    """Run dcmtk's storescp (bit-preserving) into ``out``."""
    out.mkdir(parents=True)
    port = _free_port()
    command = [str(bin_dir / "storescp"), "+B", "-aet", "STORESCP", "-od", str(out), str(port)]
    process = subprocess.Popen(command, env=_env(nodelay), stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield dimse.DicomPeer("STORESCP", "127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _storescu(bin_dir: Path, peer: dimse.DicomPeer, files: list[Path], *, nodelay: bool) -> None:
    command = [str(bin_dir / "storescu"), "-aec", peer.ae_title, peer.host, str(peer.port)]
    subprocess.run(
        [*command, *map(str, files)],
        check=True,
        timeout=TIMEOUT,
        env=_env(nodelay),
        stderr=subprocess.DEVNULL,
    )


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="CT instances (512 x 512)")
    parser.add_argument("--dcmtk-bin", type=Path, default=Path("/usr/bin"))
    args = parser.parse_args()
    bin_dir: Path = args.dcmtk_bin

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = generate_study("CT", args.count, root / "ct", seed=5)
        mib = sum(path.stat().st_size for path in files) / MIB
        rows: list[tuple[str, float]] = []

        with _storescp(bin_dir, root / "base") as peer:
            rows.append(
                (
                    "storescu -> storescp",
                    _timed(lambda: _storescu(bin_dir, peer, files, nodelay=True)),
                )
            )
        with _storescp(bin_dir, root / "nagle", nodelay=False) as peer:
            rows.append(
                (
                    "storescu -> storescp (Nagle)",
                    _timed(lambda: _storescu(bin_dir, peer, files, nodelay=False)),
                )
            )
        with PacsSimulator(PacsConfig(storage_dir=root / "pacs1")) as pacs:
            rows.append(
                (
                    "storescu -> PACS",
                    _timed(lambda: _storescu(bin_dir, pacs.peer, files, nodelay=True)),
                )
            )
        with PacsSimulator(PacsConfig(storage_dir=root / "pacs2")) as pacs:
            rows.append(
                (
                    "storescu -> PACS (Nagle)",
                    _timed(lambda: _storescu(bin_dir, pacs.peer, files, nodelay=False)),
                )
            )
        with PacsSimulator(PacsConfig(storage_dir=root / "pacs3")) as pacs:
            rows.append(
                ("store_files -> PACS", _timed(lambda: dimse.store_files(pacs.peer, files)))
            )
            with _storescp(bin_dir, root / "moved") as peer:
                pacs.config.destinations[peer.ae_title] = (peer.host, peer.port)
                study = pacs.instances()[0].study_instance_uid
                rows.append(
                    (
                        "PACS C-MOVE -> storescp",
                        _timed(lambda: dimse.move_study(pacs.peer, study, peer.ae_title)),
                    )
                )
            rows.append(
                (
                    "PACS C-GET -> get_study",
                    _timed(lambda: dimse.get_study(pacs.peer, study, root / "got")),
                )
            )
        with _storescp(bin_dir, root / "ours") as peer:
            rows.append(("store_files -> storescp", _timed(lambda: dimse.store_files(peer, files))))

    baseline = rows[0][1]
    print(f"{args.count} CT instances, {mib:.0f} MiB")
    print(f"{'path':<30} {'seconds':>8} {'inst/s':>8} {'MiB/s':>8} {'x dcmtk':>8}")
    for name, seconds in rows:
        print(
            f"{name:<30} {seconds:>8.2f} {args.count / seconds:>8.0f} {mib / seconds:>8.1f}"
            f" {seconds / baseline:>8.1f}"
        )


if __name__ == "__main__":
    main()
