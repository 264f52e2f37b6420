"""Start-up of a job with a model backend: the first job loads it, the ones after find it warm.

A real server in this process (port 0), a tiny AudioLDM-layout model saved to a temporary
folder (``server/testing/ldm.py``), and ``--jobs`` identical SFX-marker jobs with
``--generator ldm:DIR,steps=2``. Printed per job: start-up (from the job's RUNNING event to
its first ``render`` event, which is when the generator is in hand) and the whole job; then
the first job's start-up against the mean of the later ones. With ``--cold`` every job
gets a fresh backend, as before the cache (the server's cache is bypassed).

    python bench/warm_jobs.py [--jobs 4] [--device cpu] [--cold]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from service_support import sfx_timeline, wait_serving  # noqa: E402

from sonicvision.server import backends as registry  # noqa: E402
from sonicvision.server.service.app import run_server  # noqa: E402
from sonicvision.server.service.backends import BackendTable  # noqa: E402
from sonicvision.server.service.client import SonicVisionClient  # noqa: E402
from sonicvision.server.testing.ldm import save_audioldm  # noqa: E402
from sonicvision.v1 import jobs_pb2 as pb  # noqa: E402


def job_times(client: SonicVisionClient, options: pb.FoleyOptions, text: str) -> tuple[float, ...]:
    reply = client.submit(content=sfx_timeline(text), filename="cut.otio", options=options)
    events = list(client.watch(reply.job_id, timeout=600))
    if events[-1].state != pb.JOB_STATE_SUCCEEDED:
        raise SystemExit(f"job failed: {events[-1].error.code}: {events[-1].error.message}")
    seconds = [e.time.ToNanoseconds() / 1e9 for e in events]
    running = next(t for e, t in zip(events, seconds, strict=True) if e.state == 2)
    render = next(t for e, t in zip(events, seconds, strict=True) if e.stage == "render")
    return render - running, seconds[-1] - running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cold", action="store_true", help="no cache: every job builds anew")
    args = parser.parse_args()
    if args.cold:
        BackendTable.get = lambda self, kind, spec: registry.build(kind, spec)  # type: ignore
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "media"
        model = save_audioldm(root / "tiny-audioldm")
        options = pb.FoleyOptions(generator=f"ldm:{model},steps=2,device={args.device}")
        with run_server(data_dir=Path(tmp) / "data", media_roots=[root]) as port:
            address = f"127.0.0.1:{port}"
            wait_serving(address, timeout=120)
            with SonicVisionClient(address, timeout=120) as client:
                rows = [job_times(client, options, f"door slam {i}") for i in range(args.jobs)]
                resident = [b for b in client.backends() if b.name.startswith("ldm:")]
    print(f"{'job':>4} {'start-up s':>11} {'whole job s':>12}")
    for i, (start, whole) in enumerate(rows, 1):
        print(f"{i:>4} {start:11.3f} {whole:12.3f}")
    later = statistics.mean(r[0] for r in rows[1:]) if len(rows) > 1 else float("nan")
    print(
        f"first job start-up {rows[0][0]:.3f} s; later jobs {later:.3f} s "
        f"({rows[0][0] / later:.1f}x) [{'cold: no cache' if args.cold else 'warm cache'}]"
    )
    for b in resident:
        print(f"resident: {b.name.split(',')[0].rsplit('/', 1)[-1]} on {b.device}: {b.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
