"""Speed and memory of the synthetic study generator, against writing the same bytes raw.

Each run is a fresh process, so its peak RSS is its own. The raw baseline writes as many files
of the same size from one ready buffer, so ``generator / raw`` is what drawing the phantom and
building the DICOM datasets cost on top of the disk (goal: 500 CT slices in well under 20 s on
two cores, and peak RSS that does not grow with the instance count).

    python benchmarks/bench_fixtures.py --modality CT --count 100 --count 500 --count 2000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

from fixtures.studies import generate_study

MIB = 1 << 20


def _generate(modality: str, count: int, out: Path) -> tuple[float, int, float]:
    """Return (seconds, bytes written, peak RSS MiB) of generating one series."""
    start = time.perf_counter()
    paths = generate_study(modality, count, out)
    seconds = time.perf_counter() - start
    size = sum(path.stat().st_size for path in paths)
    return seconds, size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _raw(size: int, count: int, out: Path) -> float:
    """Return the seconds to write ``count`` files of ``size // count`` bytes each."""
    block = bytes(size // count)
    start = time.perf_counter()
    for index in range(count):
        (out / f"RAW{index:06d}").write_bytes(block)
    return time.perf_counter() - start


def _run(modality: str, count: int, queue: multiprocessing.Queue) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seconds, size, rss = _generate(modality, count, Path(tmp) / "gen")
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        queue.put((seconds, size, rss, _raw(size, count, raw_dir)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modality", default="CT", choices=["CT", "MR", "CR", "DX"])
    parser.add_argument("--count", type=int, action="append", help="instances (repeatable)")
    args = parser.parse_args()
    print(
        f"{'modality':>8} {'count':>6} {'MiB':>8} {'seconds':>8} {'MiB/s':>8} "
        f"{'files/s':>8} {'raw s':>7} {'gen/raw':>7} {'peak RSS MiB':>12}"
    )
    for count in args.count or [100, 500]:
        queue: multiprocessing.Queue = multiprocessing.Queue()
        process = multiprocessing.Process(target=_run, args=(args.modality, count, queue))
        process.start()
        seconds, size, rss, raw = queue.get()
        process.join()
        print(
            f"{args.modality:>8} {count:>6} {size / MIB:>8.1f} {seconds:>8.2f} "
            f"{size / MIB / seconds:>8.1f} {count / seconds:>8.1f} {raw:>7.2f} "
            f"{seconds / raw:>7.1f} {rss:>12.1f}"
        )


if __name__ == "__main__":
    main()
