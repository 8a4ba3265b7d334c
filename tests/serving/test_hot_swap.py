"""Deploys and rollbacks under concurrent load on a real uvicorn server: no request fails, and
each response's products are exactly what the version it names would recommend."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import read_bundle

CUSTOMERS = [f"c{i}" for i in range(20)]
K = 5


def expected_top_k(store: ObjectStore) -> dict[str, dict[str, list[str]]]:
    """Per version, per customer: the K products with the largest dot product (computed here)."""
    expected = {}
    for version in ("v1", "v2"):
        bundle = read_bundle(store, version)
        scores = bundle.customer_embeddings[: len(CUSTOMERS)] @ bundle.candidate_embeddings.T
        expected[version] = {c: [f"p{i}" for i in np.argsort(-scores[row])[:K]] for row, c in enumerate(CUSTOMERS)}
    return expected


def test_swap_under_concurrent_requests(live_server: str, models_store: ObjectStore) -> None:
    expected = expected_top_k(models_store)
    assert expected["v1"] != expected["v2"]  # the versions are distinguishable by their answers
    stop = threading.Event()
    failures: list[str] = []
    seen: list[str] = []
    lock = threading.Lock()

    def hammer(worker: int) -> None:
        with httpx.Client(base_url=live_server, timeout=10) as http:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 5 == 0:
                        response = http.post("/recommend-batch", json={"customer_ids": CUSTOMERS, "k": K})
                        data = response.json()["data"]
                        answers = {r["customer_id"]: [x["product_id"] for x in r["items"]] for r in data["results"]}
                    else:
                        customer = CUSTOMERS[(worker + i) % len(CUSTOMERS)]
                        response = http.post("/recommend", json={"customer_id": customer, "k": K})
                        data = response.json()["data"]
                        answers = {customer: [x["product_id"] for x in data["items"]]}
                    version = data["model_version"]
                    wrong = [c for c, products in answers.items() if products != expected[version][c]]
                    with lock:
                        seen.append(version)
                        if response.status_code != 200 or wrong:
                            failures.append(f"{response.status_code} {version} wrong for {wrong[:3]}")
                except Exception as exc:  # a failed request is exactly what this test counts
                    with lock:
                        failures.append(repr(exc))

    workers = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    for thread in workers:
        thread.start()
    try:
        with httpx.Client(base_url=live_server, timeout=60) as admin:
            for step in range(6):
                time.sleep(0.15)
                response = (
                    admin.post("/admin/deploy", json={"version": "v2"})
                    if step % 2 == 0
                    else admin.post("/admin/rollback")
                )
                assert response.status_code == 200, response.text
                assert response.json()["data"]["model_version"] == ("v2" if step % 2 == 0 else "v1")
            time.sleep(0.15)
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=30)
    assert failures == []
    assert len(seen) > 50 and {"v1", "v2"} <= set(seen)
