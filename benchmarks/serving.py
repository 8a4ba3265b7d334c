"""Serving benchmark: our path vs the naive path, side by side in one run.

    TF_USE_LEGACY_KERAS=1 .venv/bin/python benchmarks/serving.py --sizes 10000,100000,1000000

For each catalog size (synthetic clustered 64-dim embeddings written as a real serving bundle, with
re-ranking files shaped like the served model's — 100 trees of 15 leaves over the 14 ranking
features, 100 item-item neighbours for each of the 6,000 most bought products, 20 purchases per
customer — so "ours" is the ranked model's request path: index search for the two-tower top 200, then
candidates from history, neighbours and popularity scored by the trees; ``--two-tower-only`` drops
the re-ranking files):

* batch: per-customer time of 1000 known customers — ours = ``recommend()`` (one matrix product,
  grouped exact top-k or the faiss index), plus the HTTP ``/recommend-batch`` round trip; naive =
  a tf-keras query model called per customer + numpy brute force (matmul + argpartition) over all
  products.
* HTTP: single ``/recommend`` latency p50/p99 under concurrent load from a separate load-generator
  process (closed loop, ``--concurrency`` threads, bounded by ``--requests`` and ``--duration``)
  against uvicorn on 127.0.0.1 — our app vs a minimal FastAPI app doing the naive path.

Modes used internally: ``--serve ours|naive`` (a server subprocess) and ``--load`` (the load generator).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

K = 10
N_CUSTOMERS = 20_000


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }


# --- load generator (separate process) --------------------------------------------------------
def run_load(url: str, customers: list[str], requests: int, concurrency: int, duration: float, rate: float) -> dict:
    """Paced load: ``concurrency`` keep-alive connections together offering ``rate`` requests/s
    (a connection that falls behind sends at once). Uses ``http.client`` so the generator's own
    CPU cost stays small next to the server's on this 2-core machine."""
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    per_thread = requests // concurrency
    interval = concurrency / rate

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        local: list[float] = []
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        next_at = time.monotonic() + rng.uniform(0, interval)
        for i in range(per_thread + 20):
            now = time.monotonic()
            if now > deadline:
                break
            if next_at > now:
                time.sleep(next_at - now)
            next_at += rng.exponential(interval)
            body = json.dumps({"customer_id": customers[int(rng.integers(len(customers)))], "k": K})
            started = time.perf_counter()
            conn.request("POST", "/recommend", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                with lock:
                    failures[0] += 1
            elif i >= 20:  # the first requests of each connection warm up
                local.append(elapsed)
        conn.close()
        with lock:
            latencies.extend(local)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return _percentiles(latencies) | {"failures": failures[0], "throughput_rps": len(latencies) / wall}


# --- naive path -------------------------------------------------------------------------------
def naive_query_model(customer_ids: list[str], dim: int = 64):  # noqa: ANN201 (tf-keras model)
    import tf_keras as keras

    model = keras.Sequential(
        [
            keras.layers.StringLookup(vocabulary=customer_ids, mask_token=None),
            keras.layers.Embedding(len(customer_ids) + 1, 32),
            keras.layers.Dense(dim),
        ]
    )
    model(np.array([customer_ids[0]]))
    return model


class Naive:
    """TF query model per request + brute force over every product (numpy matmul + argpartition)."""

    def __init__(self, candidates: np.ndarray, customer_ids: list[str]) -> None:
        import tensorflow as tf

        self.tf = tf
        self.candidates = candidates
        model = naive_query_model(customer_ids, candidates.shape[1])
        # A compiled graph, as a served SavedModel signature is (eager calls would be slower still).
        self.query = tf.function(lambda ids: model(ids, training=False))

    def recommend(self, customer_id: str, k: int = K) -> tuple[np.ndarray, np.ndarray]:
        query = self.query(self.tf.constant([customer_id])).numpy()[0]
        scores = self.candidates @ query
        top = np.argpartition(scores, -k)[-k:]
        top = top[np.argsort(-scores[top])]
        return top, scores[top]


def naive_app(naive: Naive):  # noqa: ANN201
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/recommend")
    def recommend(body: dict) -> dict:
        top, scores = naive.recommend(body["customer_id"], int(body.get("k", K)))
        return {"status": "success", "data": {"items": top.tolist(), "scores": scores.tolist()}}

    @app.get("/health")
    def health() -> dict:
        return {"status": "success"}

    return app


# --- servers ----------------------------------------------------------------------------------
def serve(kind: str, store_url: str, port: int, thresholds: tuple[int, int]) -> None:
    import uvicorn

    from b2brec.backends.storage import ObjectStore
    from b2brec.bundle import read_bundle
    from b2brec.settings import Settings
    from serving.app import create_app
    from serving.config import ServingSettings
    from serving.model.loader import BundleSource

    store = ObjectStore(store_url)
    if kind == "ours":
        settings = Settings(home=Path(tempfile.mkdtemp()))
        app = create_app(
            settings,
            ServingSettings(
                version="bench",
                log_level="WARNING",
                approx_threshold=thresholds[0],
                batch_approx_threshold=thresholds[1],
            ),
            source=BundleSource(store),
        )
    else:
        bundle = read_bundle(store, "bench")
        app = naive_app(Naive(bundle.candidate_embeddings, bundle.customers["customer_id"].to_pylist()))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(kind: str, store_url: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--store",
            store_url,
            "--port",
            str(port),
            "--approx-threshold",
            str(args.approx_threshold),
            "--batch-approx-threshold",
            str(args.batch_approx_threshold),
        ]
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"{kind} server did not become ready")


def _load(url: str, customers_file: str, args: argparse.Namespace, requests: int, rate: float) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            url,
            "--customers-file",
            customers_file,
            "--requests",
            str(requests),
            "--concurrency",
            str(args.concurrency),
            "--duration",
            str(args.duration),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- one catalog size --------------------------------------------------------------------------
def bench_size(n: int, args: argparse.Namespace, workdir: Path) -> dict:
    import httpx

    from b2brec.backends.storage import ObjectStore
    from b2brec.bundle import write_bundle
    from serving.model.state import FilterSpec, build_state
    from serving.recommend import recommend
    from serving.synthetic import synthetic_bundle

    print(f"\n== {n:,} products (load average {os.getloadavg()[0]:.2f}) ==", flush=True)
    bundle = synthetic_bundle(
        "bench",
        n_products=n,
        n_customers=N_CUSTOMERS,
        purchases_per_customer=20,
        seed=n,
        ranked=not args.two_tower_only,
    )
    store = ObjectStore((workdir / f"models-{n}").as_uri())
    write_bundle(store, bundle)
    customers = bundle.customers["customer_id"].to_pylist()
    customers_file = workdir / "customers.json"
    customers_file.write_text(json.dumps(customers[:5000]))
    rng = np.random.default_rng(1)
    batch = [customers[i] for i in rng.choice(len(customers), size=1000, replace=False)]
    result: dict = {"products": n, "load_average_1m": os.getloadavg()[0]}

    from threadpoolctl import threadpool_limits

    blas_limit = threadpool_limits(limits=1, user_api="blas")  # as the server does (serving/app.py)
    started = time.perf_counter()
    state = build_state(
        bundle, approx_threshold=args.approx_threshold, batch_approx_threshold=args.batch_approx_threshold, threads=2
    )
    result["ours_index"] = state.index_for(1).kind
    result["ours_batch_index"] = state.index_for(2).kind
    result["ours_load_s"] = round(time.perf_counter() - started, 2)
    if state.approximate is not None:
        result["ours_recall_at_100"] = state.approximate.recall_at_100
        result["ours_nprobe"] = state.approximate.nprobe
    recommend(state, batch[:50], K, FilterSpec())
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        recommend(state, batch, K, FilterSpec())
        times.append(time.perf_counter() - t0)
    result["ours_batch_ms_per_customer"] = statistics.median(times) * 1000 / len(batch)
    filtered = FilterSpec(exclude_categories=("paint",), exclude_purchased=True)
    t0 = time.perf_counter()
    recommend(state, batch, K, filtered)
    result["ours_batch_filtered_ms_per_customer"] = (time.perf_counter() - t0) * 1000 / len(batch)
    if state.batch_uses_approximate:  # the exact batch path at this size, for reference
        t0 = time.perf_counter()
        state.exact.search(state.customer_embeddings[:1000], K)
        result["exact_batch_ms_per_customer"] = time.perf_counter() - t0
    del state
    blas_limit.restore_original_limits()

    naive = Naive(bundle.candidate_embeddings, customers)
    subset = batch[: args.naive_batch]
    naive.recommend(subset[0])
    t0 = time.perf_counter()
    for cid in subset:
        naive.recommend(cid)
    result["naive_batch_ms_per_customer"] = (time.perf_counter() - t0) * 1000 / len(subset)
    del naive
    print(json.dumps(result), flush=True)

    proc, url = _start_server("ours", store.url(), args)
    try:
        http_times = []
        with httpx.Client(base_url=url, timeout=600) as http:
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                response = http.post("/recommend-batch", json={"customer_ids": batch, "k": K})
                http_times.append(time.perf_counter() - t0)
                response.raise_for_status()
            result["ours_http_batch_ms_per_customer"] = statistics.median(http_times) * 1000 / len(batch)
            result["ours_http_batch_server_compute_ms"] = response.json()["data"]["compute_ms"]
        result["ours_http"] = _load(url, str(customers_file), args, args.requests, args.rate)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(result["ours_http"]), flush=True)
    proc, url = _start_server("naive", store.url(), args)
    try:
        result["naive_http"] = _load(url, str(customers_file), args, args.naive_requests, args.rate)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(result["naive_http"]), flush=True)
    return result


def compare_indexes(n: int, queries: int = 200) -> dict:
    """Serving's index (IVF + PQ fast-scan + exact re-rank) vs IVF-Flat vs HNSW at ``n`` products:
    build time, one-query latency and recall@100 against exact, each at the smallest search effort
    reaching 95% recall."""
    import faiss

    from serving.model.index import ApproximateIndex, ExactIndex
    from serving.synthetic import synthetic_bundle

    bundle = synthetic_bundle("cmp", n_products=n, n_customers=queries, seed=n)
    data, q = bundle.candidate_embeddings, bundle.customer_embeddings
    exact = ExactIndex(data, threads=2)
    truth = exact.search(q, 100).indices
    faiss.omp_set_num_threads(1)  # one query per request, as in serving

    def recall(ids: np.ndarray) -> float:
        return float(np.mean([len(np.intersect1d(t, f)) / 100 for t, f in zip(truth, ids, strict=True)]))

    def latency(search) -> float:  # noqa: ANN001
        started = time.perf_counter()
        for row in q[:100]:
            search(row[None, :])
        return (time.perf_counter() - started) * 1000 / 100

    out: dict = {"products": n}
    t0 = time.perf_counter()
    ours = ApproximateIndex(data, threads=2)
    ours.tune(q, exact, 0.95)
    faiss.omp_set_num_threads(1)
    out[ours.kind] = {
        "build_s": time.perf_counter() - t0,
        "nlist": ours.nlist,
        "nprobe": ours.nprobe,
        "recall_at_100": ours.recall_at_100,
        "query_ms": latency(lambda x: ours.search(x, 10)),
    }
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    flat = faiss.IndexIVFFlat(faiss.IndexFlatIP(data.shape[1]), data.shape[1], ours.nlist, faiss.METRIC_INNER_PRODUCT)
    flat.train(data[: ours.nlist * 40])
    flat.add(data)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    for nprobe in (32, 64, 128, 256, 512, 1024):
        flat.nprobe = nprobe
        r = recall(flat.search(q, 100)[1])
        if r >= 0.95:
            break
    out["ivf_flat"] = {
        "build_s": build,
        "nprobe": nprobe,
        "recall_at_100": r,
        "query_ms": latency(lambda x: flat.search(x, 10)),
    }
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(data.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(data)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    for ef in (64, 128, 256, 512, 1024):
        hnsw.hnsw.efSearch = ef
        r = recall(hnsw.search(q, 100)[1])
        if r >= 0.95:
            break
    out["hnsw_flat"] = {
        "build_s": build,
        "efSearch": ef,
        "recall_at_100": r,
        "query_ms": latency(lambda x: hnsw.search(x, 10)),
    }
    return out


def _table(results: list[dict]) -> str:
    lines = [
        "| products | index single / batch (recall@100) | batch ms/customer ours (HTTP) | naive "
        "| HTTP p50 / p99 ms ours | naive | rps ours / naive |",
        "|---:|---|---|---:|---|---|---|",
    ]
    for r in results:
        recall = f"{r['ours_index']} / {r['ours_batch_index']} ({r.get('ours_recall_at_100', 1.0):.3f})"
        o, nv = r["ours_http"], r["naive_http"]
        lines.append(
            f"| {r['products']:,} | {recall} | {r['ours_batch_ms_per_customer']:.3f} "
            f"({r['ours_http_batch_ms_per_customer']:.3f}) | {r['naive_batch_ms_per_customer']:.3f} | "
            f"{o['p50_ms']:.2f} / {o['p99_ms']:.2f} | {nv['p50_ms']:.2f} / {nv['p99_ms']:.2f} | "
            f"{o['throughput_rps']:.0f} / {nv['throughput_rps']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Comma-separated catalog sizes.")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests per load run (ours).")
    parser.add_argument("--naive-requests", type=int, default=600, help="HTTP requests per load run (naive).")
    parser.add_argument("--naive-batch", type=int, default=300, help="Customers timed on the naive batch path.")
    parser.add_argument("--concurrency", type=int, default=4, help="Concurrent connections of the load generator.")
    parser.add_argument("--duration", type=float, default=60.0, help="Upper bound (s) of one load run.")
    parser.add_argument("--rate", type=float, default=200.0, help="Requests/s the load generator offers.")
    parser.add_argument("--repeats", type=int, default=5, help="Timed repeats of the batch of 1000.")
    from serving.config import ServingSettings

    defaults = ServingSettings()
    parser.add_argument(
        "--approx-threshold",
        type=int,
        default=defaults.approx_threshold,
        help="Catalog size from which single requests use the faiss index.",
    )
    parser.add_argument(
        "--batch-approx-threshold",
        type=int,
        default=defaults.batch_approx_threshold,
        help="Catalog size from which batches use the faiss index.",
    )
    parser.add_argument(
        "--two-tower-only",
        action="store_true",
        help="Bundle without re-ranking files (the two-tower retrieval path alone, as before the ranked model).",
    )
    parser.add_argument("--output", type=Path, help="Write the results as JSON here.")
    parser.add_argument("--compare-indexes", type=int, metavar="N", help="Only compare IVF-Flat vs HNSW at N products.")
    parser.add_argument("--serve", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--customers-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.store, args.port, (args.approx_threshold, args.batch_approx_threshold))
        return
    if args.load:
        customers = json.loads(Path(args.customers_file).read_text())
        print(json.dumps(run_load(args.load, customers, args.requests, args.concurrency, args.duration, args.rate)))
        return
    if args.compare_indexes:
        print(json.dumps(compare_indexes(args.compare_indexes), indent=1))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 100:
        parser.error("--sizes needs catalog sizes of at least 100, e.g. 10000,100000")
    from threadpoolctl import threadpool_info

    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
        for info in threadpool_info()
        if info["user_api"] == "blas"
    ]
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(json.dumps({"cores": os.cpu_count(), "blas": blas, "env": env}, indent=1), flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results.append(bench_size(n, args, Path(tmp)))
    print("\n" + _table(results))
    if args.output:
        args.output.write_text(json.dumps({"blas": blas, "env": env, "results": results}, indent=2))


if __name__ == "__main__":
    main()
