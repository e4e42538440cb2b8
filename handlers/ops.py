"""Operations routes: the health check for load balancers and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from bot.aggregates import BUCKETS
from bot.metrics import COUNTERS, PER_OUTBOX, Counters
from bot.service import Baton

WEBHOOKS = ("/twilio/sms", "/twilio/status", "/slack/events")


class StoreCollector(Collector):
    """Read the shared counters and gauges from Redis at each scrape."""

    def __init__(self, baton: Baton, counters: Counters) -> None:
        self.baton = baton
        self.counters = counters

    def collect(
        self,
    ) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        values = self.counters.read()
        for name, text in COUNTERS.items():
            yield CounterMetricFamily(f"baton_{name}", text, value=values[name])
        health = self.baton.delivery_health()
        per_outbox = self.counters.read_per_outbox(health)
        for name, text in PER_OUTBOX.items():
            counter = CounterMetricFamily(f"baton_{name}", text, labels=["outbox"])
            for outbox, value in per_outbox[name].items():
                counter.add_metric([outbox], value)
            yield counter
        oldest = GaugeMetricFamily(
            "baton_oldest_pending_seconds",
            "How long each outbox's oldest job not yet done has waited",
            labels=["outbox"],
        )
        kept = GaugeMetricFamily(
            "baton_dead_letters_kept",
            "Dead letters kept in each outbox's dead-letter stream (what /healthz shows)",
            labels=["outbox"],
        )
        for outbox, state in health.items():
            oldest.add_metric([outbox], state.oldest_pending)
            kept.add_metric([outbox], state.dead_letters)
        yield oldest
        yield kept
        yield from self.reports()
        yield GaugeMetricFamily(
            "baton_delivery_backlog",
            "Slack work entries waiting or in progress",
            value=self.baton.delivery.backlog(),
        )
        yield GaugeMetricFamily(
            "baton_open_conversations",
            "Conversations not closed",
            value=self.baton.reports.aggregates.open_now(lambda queue, person: True),
        )
        yield GaugeMetricFamily(
            "baton_reminders_scheduled",
            "Conversations with a response clock the sweep watches",
            value=self.baton.redis.zcard(self.baton.keys.wake),
        )

    def reports(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        """Yield the report histograms (all time, per queue) and the ratings per score."""
        aggregates = self.baton.reports.aggregates
        for kind, name, text in (
            (
                "first",
                "baton_first_response_seconds",
                "First response times (business hours when set)",
            ),
            ("resolution", "baton_resolution_seconds", "Times to resolution"),
        ):
            family = HistogramMetricFamily(name, text, labels=["queue"])
            for queue, histogram in sorted(aggregates.histograms(kind).items()):
                seen, buckets = 0, []
                for bound in BUCKETS[kind]:
                    seen += histogram.buckets.get(str(bound), 0)
                    buckets.append((str(float(bound)), seen))
                seen += histogram.buckets.get("+Inf", 0)
                buckets.append(("+Inf", seen))
                family.add_metric([queue], buckets, sum_value=histogram.total)
            yield family
        ratings = CounterMetricFamily("baton_ratings", "CSAT ratings, by score", labels=["score"])
        for score, count in aggregates.ratings().items():
            ratings.add_metric([score], count)
        yield ratings


def blueprint(baton: Baton, *, unhealthy_after: float = 600.0) -> Blueprint:
    """Return /healthz and /metrics, with hooks that time every webhook request of the app.

    Args:
        unhealthy_after: /healthz answers 503 once an outbox's oldest job not
            yet done has waited longer than this many seconds (0: never).
    """
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
        health = baton.delivery_health()
        stalled = unhealthy_after > 0 and any(
            state.oldest_pending > unhealthy_after for state in health.values()
        )
        body = {
            "store": "ok",
            "delivery_backlog": health[baton.delivery.name].backlog,
            "delivery": "stalled" if stalled else "ok",
            "unhealthy_after_seconds": unhealthy_after,
            "outboxes": {
                name: {
                    "backlog": state.backlog,
                    "oldest_pending_seconds": round(state.oldest_pending, 1),
                    "dead_letters": state.dead_letters,
                }
                for name, state in health.items()
            },
        }
        return jsonify(body), 503 if stalled else 200

    @routes.get("/metrics")
    def metrics() -> Response:
        if not baton.healthy():
            return Response("store unreachable\n", status=503, mimetype="text/plain")
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return routes
