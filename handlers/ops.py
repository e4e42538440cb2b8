"""Operations routes: the health check for load balancers and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.metrics import COUNTERS, Counters
from bot.service import Baton

WEBHOOKS = ("/twilio/sms", "/twilio/status", "/slack/events")


class StoreCollector(Collector):
    """Read the shared counters and gauges from Redis at each scrape."""

    def __init__(self, baton: Baton, counters: Counters) -> None:
        self.baton = baton
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self.counters.read()
        for name, text in COUNTERS.items():
            yield CounterMetricFamily(f"baton_{name}", text, value=values[name])
        yield GaugeMetricFamily(
            "baton_delivery_backlog",
            "Slack work entries waiting or in progress",
            value=self.baton.delivery.backlog(),
        )
        yield GaugeMetricFamily(
            "baton_open_conversations",
            "Conversations not closed",
            value=self.baton.redis.zcard(self.baton.keys.active),
        )
        yield GaugeMetricFamily(
            "baton_reminders_scheduled",
            "Conversations with a response clock the sweep watches",
            value=self.baton.redis.zcard(self.baton.keys.wake),
        )


def blueprint(baton: Baton) -> Blueprint:
    """Return /healthz and /metrics, with hooks that time every webhook request of the app."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(baton, baton.counters))
    latency = Histogram(
        "baton_webhook_seconds",
        "Time to answer a webhook (this process)",
        ["route"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    )
    routes = Blueprint("ops", __name__)

    @routes.before_app_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @routes.after_app_request
    def observe(response: Response) -> Response:
        if request.path in WEBHOOKS and "started" in g:
            latency.labels(route=request.path).observe(time.perf_counter() - g.started)
        return response

    @routes.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        if not baton.healthy():
            return jsonify(store="unreachable"), 503
        return jsonify(store="ok", delivery_backlog=baton.delivery.backlog())

    @routes.get("/metrics")
    def metrics() -> Response:
        if not baton.healthy():
            return Response("store unreachable\n", status=503, mimetype="text/plain")
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return routes
