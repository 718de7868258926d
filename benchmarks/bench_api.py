"""CPU the producer API spends per report, single and batched, against a baseline revision in the same run.

A script to run by hand, not a test. It starts an embedded broker, then in turn the API of each variant
(`python -m fraudwatch api` with the variant's code first on PYTHONPATH) and loads it from a separate
process as `fraudwatch bench` does: 8 clients sending single reports back to back, then 4 clients sending
batches of 500 simulated reports, `--duration` seconds each. The figure is the API process's CPU time
(/proc) per accepted report; the ratio to the baseline, measured minutes apart on the same machine, is
what carries over to another machine. Rounds alternate the variants, and the best round of each counts
(the one least disturbed by other processes).

Variants: the baseline revision's code with uvloop and httptools hidden (asyncio + h11, as the API ran
before they were dependencies), the same code with them, and this tree.

`--probe` also times, inside each API process, the garbage collector and the ingest path's steps
(benchmarks/api_probe): what the steps cost in the live process, and what is left for HTTP, Kafka
and the event loop.

`--steps` measures instead, without HTTP or Kafka, the API's batch path step by step (decode, sanitise,
partition, envelope bytes) in a child process per variant and round: thread CPU per report over the
same 2,000 simulated reports in batches of 500, the best of `--passes` passes; the figures are the best
round of each variant.

    python benchmarks/bench_api.py [--baseline 6f636ed] [--duration 10] [--rounds 2] [--no-h11] [--probe] [--json F]
        [--kinds batch]
    python benchmarks/bench_api.py --steps [--baseline 9470161] [--rounds 4] [--passes 12]
    BENCH_API_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no \\
        python benchmarks/bench_api.py --cycle [--requests 8] [--clients 1]

`--cycle` runs this tree's batch path in process without an HTTP server (the app's ASGI handler, the
envelope producer, aiokafka, the broker's answers) and prints the process CPU per report; under
callgrind (as above; one client at a time, or the 5 s send timeout can expire at valgrind's pace) it
counts the measured requests only.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
# A `--steps` child measures another revision's code: its packages come first.
sys.path.insert(0, os.environ.get("BENCH_API_SOURCE", str(ROOT)))

from fraudwatch.auth import new_token  # noqa: E402 (needs the sys.path entry above)
from fraudwatch.benchmark import (  # noqa: E402
    BATCH_PATH,
    REPORTS_PATH,
    ChildProcess,
    LoadSpec,
    free_port,
    run_load,
    spawn,
    usage,
)
from fraudwatch.broker import die_with_parent, ensure_topics, start_embedded_broker, wait_for_broker  # noqa: E402
from fraudwatch.settings import Settings  # noqa: E402
from fraudwatch.simulate import generate_reports  # noqa: E402

PROBE = Path(__file__).resolve().parent / "api_probe"
# Modules that make uvicorn fall back to asyncio's loop and h11 when they are first on sys.path.
HIDDEN = ("uvloop", "httptools")


@dataclass(frozen=True)
class Variant:
    name: str
    source: Path
    hide_fast_server: bool = False


def extract(revision: str, into: Path) -> Path:
    """The packages of `revision`, from git's object store (nothing in the working tree changes)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "fraudwatch", "streams", "sinks"],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def hiding_dir(into: Path) -> Path:
    for name in HIDDEN:
        (into / name).mkdir(parents=True, exist_ok=True)
        (into / name / "__init__.py").write_text(f'raise ImportError("{name} hidden by bench_api")\n')
    return into


def start_api(
    variant: Variant, settings: Settings, hidden: Path, workdir: Path, probe: Path | None = None
) -> ChildProcess:
    env = settings.child_environment()
    paths = [str(hidden)] if variant.hide_fast_server else []
    if probe is not None:
        env["BENCH_API_PROBE"] = str(probe)
        paths.append(str(PROBE))
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(variant.source)])
    api = spawn("api", [sys.executable, "-m", "fraudwatch", "api"], env, workdir, workdir / f"api-{variant.name}.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not api.alive():
            raise RuntimeError(f"the API of {variant.name} exited:\n{api.tail()}")
        try:
            if httpx.get(f"http://{settings.host}:{settings.api_port}/health", timeout=1).status_code == 200:
                return api
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API of {variant.name} did not start:\n{api.tail()}")


def probed(probe: Path | None) -> dict[str, Any] | None:
    """The probe's figures as the API last wrote them (it writes every half second)."""
    if probe is None:
        return None
    time.sleep(0.7)
    return dict(json.loads(probe.read_text()))


def probe_shares(before: dict[str, Any], after: dict[str, Any], reports: int) -> dict[str, float]:
    """µs of API CPU per accepted report: each probed step, the collector, and the rest."""
    spent = {
        name: (seconds - before["steps"].get(name, [0, 0.0])[1]) / reports * 1e6
        for name, (_, seconds) in after["steps"].items()
    }
    total = (after["process_cpu_s"] - before["process_cpu_s"]) / reports * 1e6
    return {**{k: v for k, v in spent.items() if v}, "rest": total - sum(spent.values()), "total": total}


def measure(
    loads: ProcessPoolExecutor, api: ChildProcess, settings: Settings, token: str, kind: str, bodies: list[bytes],
    duration: float, probe: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    batch = kind == "batch"
    spec = LoadSpec(
        "closed", settings.host, settings.api_port, token, BATCH_PATH if batch else REPORTS_PATH, bodies, duration,
        4 if batch else 8, batch=batch,
    )  # fmt: skip
    probe_before = probed(probe)
    before = usage(api.pid)
    load = loads.submit(run_load, spec).result()
    after = usage(api.pid)
    if before is None or after is None or not load.accepted_reports:
        raise RuntimeError(f"{kind}: nothing accepted ({load.errors}):\n{api.tail()}")
    cpu = after.cpu_s - before.cpu_s
    probe_after = probed(probe)
    inside = {}
    if probe_before is not None and probe_after is not None:
        inside = {"probe_us_per_report": probe_shares(probe_before, probe_after, load.accepted_reports)}
    return {
        **inside,
        "reports_per_s": load.accepted_reports / load.elapsed_s,
        "requests_per_s": load.requests / load.elapsed_s,
        "api_cpu_us_per_report": cpu / load.accepted_reports * 1e6,
        "api_cpu_utilisation": cpu / load.elapsed_s,
        "waited_for_cpu_s": after.waiting_s - before.waiting_s,
        "errors": load.errors,
    }


STEPS = ("decode", "sanitise", "partition", "envelope")


def batch_bodies() -> tuple[list[bytes], list[bytes]]:
    """The simulated reports as single bodies and as batches of 500."""
    reports = generate_reports(2000, seed=20_241_128)
    singles = [json.dumps(r.body, ensure_ascii=False).encode() for r in reports]
    return singles, [b'{"reports":[' + b",".join(singles[i : i + 500]) + b"]}" for i in range(0, len(singles), 500)]


def pure_path_steps(passes: int) -> dict[str, float]:
    """µs of thread CPU per report for each step of the API's batch path in this process, best of `passes`."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import fraudwatch.reports as reports_module
    from fraudwatch.producer import partition_for
    from streams.envelope import encode_envelope

    wire = getattr(reports_module, "sanitise_for_wire", None)  # before api-perf4: sanitise to SanitisedReport
    sanitise: Any = wire or reports_module.sanitise
    batch: Any = getattr(reports_module, "sanitise_batch_for_wire", None)  # api-perf6: a batch in one call
    report_id: Any = (lambda r: r["report_id"]) if wire else (lambda r: r.report_id)
    _, batches = batch_bodies()
    key, zone, clock = b"k" * 32, ZoneInfo("Asia/Shanghai"), time.thread_time
    best = dict.fromkeys(STEPS, float("inf"))
    for _ in range(passes):
        spent = dict.fromkeys(STEPS, 0.0)
        for body in batches:
            started = clock()
            items = reports_module.decode_batch(body) or []
            decoded = clock()
            now, fresh, hashes = datetime.now(zone), reports_module.fresh_report_ids(len(items)), {}
            if batch is not None:
                sanitised = batch(items, fresh, key=key, zone=zone, now=now, submitter="bench", default_channel=None)
            else:
                sanitised = [
                    sanitise(item, key=key, zone=zone, now=now, submitter="bench", fresh_id=fresh[i], hashes=hashes)
                    for i, item in enumerate(items)
                ]
            done = clock()
            partitions: dict[int, list[Any]] = {}
            for report in sanitised:
                partitions.setdefault(partition_for(report_id(report), 4), []).append(report)
            partitioned = clock()
            for envelope in partitions.values():
                encode_envelope("bench", envelope)
            ended = clock()
            times = (decoded - started, done - decoded, partitioned - done, ended - partitioned)
            for step, seconds in zip(STEPS, times, strict=True):
                spent[step] += seconds
        best = {step: min(best[step], spent[step] / 2000 * 1e6) for step in STEPS}
    return best


def compare_steps(baseline: str, rounds: int, passes: int) -> None:
    """`--steps`: the pure path of the baseline revision and of this tree, alternating child processes."""
    with tempfile.TemporaryDirectory(prefix="bench-api-") as temp:
        variants = {baseline: extract(baseline, Path(temp)), "this tree": ROOT}
        best: dict[str, dict[str, float]] = {name: {} for name in variants}
        for round_number in range(1, rounds + 1):
            for name, source in variants.items():
                child = subprocess.run(
                    [sys.executable, __file__, "--steps-child", "--passes", str(passes)],
                    env={**os.environ, "BENCH_API_SOURCE": str(source)},
                    capture_output=True,
                    check=True,
                    text=True,
                )
                figures = json.loads(child.stdout)
                figures["total"] = sum(figures.values())
                print(f"round {round_number} {name:<12} " + "  ".join(f"{k} {v:6.1f}" for k, v in figures.items()))
                best[name] = {k: min(v, best[name].get(k, v)) for k, v in figures.items()}
    print(f"\nbest of {rounds} rounds ({passes} passes each), µs of thread CPU per report")
    print(f"{'step':<10} " + " ".join(f"{name:>12}" for name in variants) + "   ratio")
    for step in (*STEPS, "total"):
        old, new = (best[name][step] for name in variants)
        print(f"{step:<10} {old:>12.1f} {new:>12.1f}   {old / new:.2f}x")


def bench_settings(workdir: Path, token: str) -> Settings:
    return Settings(
        data_dir=workdir,
        broker_port=free_port(),
        api_port=free_port(),
        dev_token=token,
        topic_prefix="benchapi",
        clickhouse_url="http://127.0.0.1:9",  # none: the API's rejection counter fails quietly
        log_level="WARNING",
    )


def callgrind_counting(on: bool) -> None:
    """Starts or stops callgrind's counting in this process, if it runs under callgrind (BENCH_API_CALLGRIND)."""
    if os.environ.get("BENCH_API_CALLGRIND"):
        command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
        subprocess.run(command, capture_output=True, check=True)


async def run_cycles(settings: Settings, token: str, batches: list[bytes], requests: int, clients: int) -> None:
    """Batch requests straight into this tree's ASGI app (as uvicorn would call it, the body in 64 KiB
    messages), `clients` at a time; prints the process CPU per report, and starts and stops callgrind's
    counting around the measured requests when run under it."""
    import resource

    from fraudwatch.api import create_app

    app = create_app(settings)
    lifespan_in: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan_in.get, lifespan_out.put)
    )
    await lifespan_in.put({"type": "lifespan.startup"})
    if (await lifespan_out.get())["type"] != "lifespan.startup.complete":
        raise RuntimeError("the API did not start")
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
    sent = iter(range(1 << 62))

    async def request(body: bytes) -> None:
        chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        messages = iter(
            [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        )
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": BATCH_PATH.decode(), "raw_path": BATCH_PATH, "query_string": b"", "root_path": "", "state": {},
            "headers": [*headers, (b"content-length", b"%d" % len(body))], "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", settings.api_port),
        }  # fmt: skip
        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"answered {status}")

    async def client(count: int) -> None:
        for _ in range(count):
            await request(batches[next(sent) % len(batches)])

    await asyncio.gather(*(client(2) for _ in range(clients)))  # warm: the producer's connections, caches
    callgrind_counting(True)  # blocks the loop on purpose: counting starts before the measured requests
    faults, cpu = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    cpu, faults = time.process_time() - cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    callgrind_counting(False)
    reports = requests // clients * clients * 500
    print(f"{reports:,} reports in batches of 500, {clients} at a time: {cpu / reports * 1e6:.1f} µs of process CPU "
          f"per report, {faults / reports:.2f} page faults per report")  # fmt: skip
    await lifespan_in.put({"type": "lifespan.shutdown"})
    await lifespan


def ingest_cycles(requests: int, clients: int) -> None:
    """`--cycle`: the whole batch path of this tree (the app's handler, sanitising, the envelope producer,
    aiokafka and the broker's answer) without an HTTP server, in this process, so that callgrind can count
    it: `BENCH_API_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no python bench_api.py --cycle`."""
    import uvloop

    _, batches = batch_bodies()
    token = new_token()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as temp:
        settings = bench_settings(Path(temp), token)
        broker = start_embedded_broker(settings, Path(temp) / "broker.log")
        try:
            asyncio.run(wait_for_broker(settings.bootstrap_servers))
            asyncio.run(ensure_topics(settings))
            uvloop.run(run_cycles(settings, token, batches, requests, clients))
        finally:
            broker.terminate()
            broker.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="6f636ed", help="git revision to compare with (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--no-h11", action="store_true", help="leave out the baseline on asyncio + h11 (shorter runs)")
    parser.add_argument("--probe", action="store_true", help="also time GC and the ingest steps inside the API")
    parser.add_argument(
        "--kinds", default="single,batch", help="loads to run, of single and batch (default: %(default)s)"
    )
    parser.add_argument("--steps", action="store_true", help="the batch path step by step, in process (see above)")
    parser.add_argument("--passes", type=int, default=12, help="--steps: passes per child (default: %(default)s)")
    parser.add_argument("--steps-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cycle", action="store_true", help="the batch path in process, for callgrind (see above)")
    parser.add_argument("--requests", type=int, default=40, help="--cycle: measured requests (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="--cycle: requests at a time (default: %(default)s)")
    args = parser.parse_args()
    if args.steps_child:
        print(json.dumps(pure_path_steps(args.passes)))
        return
    if args.steps:
        compare_steps(args.baseline, args.rounds, args.passes)
        return
    if args.cycle:
        ingest_cycles(args.requests, args.clients)
        return

    singles, batches = batch_bodies()
    token = new_token()
    kinds = args.kinds.split(",")

    with tempfile.TemporaryDirectory(prefix="bench-api-") as temp:
        workdir = Path(temp)
        old = extract(args.baseline, workdir / "baseline")
        hidden = hiding_dir(workdir / "hidden")
        variants = [
            *([] if args.no_h11 else [Variant(f"{args.baseline}, asyncio + h11", old, hide_fast_server=True)]),
            Variant(f"{args.baseline}, uvloop + httptools", old),
            Variant("this tree", ROOT),
        ]
        settings = bench_settings(workdir, token)
        broker = start_embedded_broker(settings, workdir / "broker.log")
        loads = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)
        results: dict[str, dict[str, list[dict[str, Any]]]] = {v.name: {"single": [], "batch": []} for v in variants}
        try:
            asyncio.run(wait_for_broker(settings.bootstrap_servers))
            asyncio.run(ensure_topics(settings))
            for round_number in range(1, args.rounds + 1):
                for variant in variants:
                    probe = workdir / "probe.json" if args.probe else None
                    api = start_api(variant, settings, hidden, workdir, probe)
                    try:
                        for kind, bodies in (("single", singles), ("batch", batches)):
                            if kind not in kinds:
                                continue
                            figures = measure(loads, api, settings, token, kind, bodies, args.duration, probe)
                            results[variant.name][kind].append(figures)
                            print(
                                f"round {round_number} {variant.name:<32} {kind:<6} "
                                f"{figures['reports_per_s']:>8,.0f} reports/s  "
                                f"{figures['api_cpu_us_per_report']:>7,.1f} µs API CPU/report  "
                                f"(API CPU {figures['api_cpu_utilisation']:.2f}, "
                                f"waited {figures['waited_for_cpu_s']:.1f} s)",
                                flush=True,
                            )
                            if "probe_us_per_report" in figures:
                                steps = figures["probe_us_per_report"].items()
                                print("    inside, µs/report: " + "  ".join(f"{k} {v:.1f}" for k, v in steps))
                    finally:
                        api.stop()
        finally:
            loads.shutdown(cancel_futures=True)
            broker.terminate()
            broker.wait(15)

    print()
    print(f"best of {args.rounds} rounds, {args.duration:.0f} s each; ratio = baseline CPU / this variant's CPU")
    print(
        f"{'variant':<34} {'kind':<7} {'reports/s':>10} {'API CPU/report':>15} {'one core':>10} {'ratio':>6} "
        f"{'mean of rounds':>15}"
    )
    first = variants[0].name
    for variant in variants:
        for kind in kinds:
            best = min(results[variant.name][kind], key=lambda f: f["api_cpu_us_per_report"])
            base = min(f["api_cpu_us_per_report"] for f in results[first][kind])
            cpu = best["api_cpu_us_per_report"]
            mean = sum(f["api_cpu_us_per_report"] for f in results[variant.name][kind]) / args.rounds
            print(
                f"{variant.name:<34} {kind:<7} {best['reports_per_s']:>10,.0f} {cpu:>12,.1f} µs "
                f"{1e6 / cpu:>8,.0f}/s {base / cpu:>5.2f}x {mean:>12,.1f} µs"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
