"""Time our DICOMDIR build against dcmtk's dcmmkdir on the same laid-out CT instances.

Both index the same DICOM/ tree of one file set in the same run, after one untimed warm-up each
(so both read from the page cache); the runs alternate and the median of ``--repeats`` counts.
Ours runs in-process (how the library is used), dcmmkdir as its own process with its default
checks (STD-GEN-CD, consistency check, strict Type 1). Goal: ours / dcmmkdir <= 1.5.

    python benchmarks/bench_dicomdir.py --instances 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom import dcmread

from cloudpdi.container import Institution, build_file_set
from cloudpdi.dicomdir import write_dicomdir
from fixtures.studies import generate_study

GOAL = 1.5


def lay_out(instances: int, cache: Path) -> Path:
    """Return a file set of ``instances`` CT images under ``cache``, generating it once."""
    root = cache / f"ct{instances}"
    fileset = root / "fileset"
    if not (fileset / "DICOMDIR").exists():
        shutil.rmtree(root, ignore_errors=True)
        sources = generate_study("CT", instances, root / "src", seed=2000)
        build_file_set(sources, fileset, institution=Institution("Benchmark"))
        shutil.rmtree(root / "src")
    return fileset


def time_ours(fileset: Path) -> float:
    start = time.perf_counter()
    write_dicomdir(fileset, file_set_id="BENCH")
    return time.perf_counter() - start


def time_dcmmkdir(dcmmkdir: str, fileset: Path, out: Path) -> float:
    command = [dcmmkdir, "-q", "-nb", "-Pgp", "+r", "+id", str(fileset), "+D", str(out), "DICOM"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cloudpdi-bench-dicomdir",
        help="where the generated file set is kept between runs",
    )
    args = parser.parse_args()
    dcmmkdir = shutil.which("dcmmkdir")
    if dcmmkdir is None:
        print("dcmmkdir (dcmtk) is not installed", file=sys.stderr)
        return 2
    fileset = lay_out(args.instances, args.cache)
    theirs_path = args.cache / "DICOMDIR.dcmmkdir"
    time_ours(fileset)  # warm-up: both runs read the files from the page cache
    time_dcmmkdir(dcmmkdir, fileset, theirs_path)
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(time_ours(fileset))
        theirs.append(time_dcmmkdir(dcmmkdir, fileset, theirs_path))
    records = len(dcmread(fileset / "DICOMDIR").DirectoryRecordSequence)
    their_records = len(dcmread(theirs_path).DirectoryRecordSequence)
    ratio = statistics.median(ours) / statistics.median(theirs)
    size = sum(p.stat().st_size for p in (fileset / "DICOM").rglob("*") if p.is_file())
    print(f"instances:          {args.instances} CT ({size / 2**20:.0f} MiB)")
    print(f"directory records:  ours {records}, dcmmkdir {their_records}")
    print(f"cloudpdi (median):  {statistics.median(ours):.3f} s  runs {_runs(ours)}")
    print(f"dcmmkdir (median):  {statistics.median(theirs):.3f} s  runs {_runs(theirs)}")
    print(f"ratio ours/dcmmkdir: {ratio:.2f} (goal <= {GOAL})  {'OK' if ratio <= GOAL else 'OVER'}")
    return 0 if ratio <= GOAL else 1


def _runs(times: list[float]) -> str:
    return " ".join(f"{t:.3f}" for t in times)


if __name__ == "__main__":
    sys.exit(main())
