"""Prometheus metrics of one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from serving.model.state import ModelState

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "b2brec_serving_request_seconds",
            "Request latency by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "b2brec_serving_requests", "Requests by endpoint and outcome.", ["endpoint", "outcome"], registry=r
        )
        self.recommendations = Counter(
            "b2brec_serving_recommendations", "Customers answered, by how.", ["source"], registry=r
        )
        self.model = Info("b2brec_serving_model", "The model version serving now.", registry=r)
        self.model_loaded_at = Gauge(
            "b2brec_serving_model_loaded_timestamp_seconds", "When the serving version was loaded.", registry=r
        )
        self.catalog = Gauge("b2brec_serving_catalog_products", "Products in the serving model.", registry=r)
        self.recall = Gauge(
            "b2brec_serving_index_recall_at_100",
            "Recall@100 of the approximate index vs exact, measured at load (1 = exact index).",
            registry=r,
        )
        self.predictions_written = Counter(
            "b2brec_serving_predictions_logged", "Prediction rows written to the warehouse.", registry=r
        )
        self.predictions_dropped = Counter(
            "b2brec_serving_predictions_dropped",
            "Prediction rows dropped (warehouse down too long).",
            registry=r,
        )

    def model_changed(self, state: ModelState) -> None:
        approx = state.approximate
        self.model.info(
            {
                "version": state.version,
                "index": approx.kind if approx is not None else "exact",
                "trained_at": state.manifest.trained_at,
            }
        )
        self.model_loaded_at.set(state.loaded_at)
        self.catalog.set(state.n_products)
        self.recall.set(approx.recall_at_100 if approx is not None and approx.recall_at_100 is not None else 1.0)
