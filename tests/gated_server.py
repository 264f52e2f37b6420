"""A server process whose jobs hold at their first progress call until a file appears.

For tests that kill the server mid-job: ``python tests/gated_server.py DATA MEDIA PORT GATE``
prints ``{"port": N}`` once listening and serves until killed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from sonicvision.server.service.app import run_server
from sonicvision.server.service.spec import run_pipeline


def main() -> None:
    data, media, port, gate = sys.argv[1:5]

    def runner(spec, timeline, result_dir, progress, **kw):
        first = [True]

        def held(stage: str, done: int, total: int) -> None:
            progress(stage, done, total)
            if first[0]:
                first[0] = False
                while not Path(gate).exists():
                    time.sleep(0.05)

        return run_pipeline(spec, timeline, result_dir, held, **kw)

    with run_server(data_dir=data, port=int(port), media_roots=[media], runner=runner) as bound:
        print(json.dumps({"port": int(bound)}), flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
