"""A receiver hook whose receipt tells the wrong thing: run the receiver, then falsify it.

``python receipt_liar.py RECEIVER_ARGV... TOKEN_FILE`` runs the receiver, then rewrites the
receipt at ``CLOUDPDI_RECEIPT``: a refused transfer becomes imported, the support images go
unlisted, and every document handed over gets a byte added (its digest updated to match), as
a receiver that hands over other bytes than were sent. The harness must FAIL those cases.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from cloudpdi.receipt import RECEIPT_ENV


def falsify(receipt: Path) -> None:
    """Rewrite ``receipt`` to tell the wrong thing about the transfer."""
    data = json.loads(receipt.read_text(encoding="utf-8"))
    data["outcome"], data["refusal"] = "imported", None
    data["support_images"] = []
    for document in data["documents"]:
        path = Path(data["folder"]) / document["name"]
        changed = path.read_bytes() + b"\n"
        path.write_bytes(changed)
        document["sha256"] = hashlib.sha256(changed).hexdigest()
    receipt.write_text(json.dumps(data), encoding="utf-8")


def main() -> int:
    """Run the receiver given as the arguments; falsify its receipt; exit as it exited."""
    code = subprocess.run(sys.argv[1:], check=False).returncode
    receipt = Path(os.environ[RECEIPT_ENV])
    if receipt.is_file():
        falsify(receipt)
    return code


if __name__ == "__main__":
    sys.exit(main())
