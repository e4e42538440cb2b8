"""Operations: Prometheus metrics and the health check, as a scraper and a load balancer see them."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from tests.dialog import eventually


def scrape(client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            key = sample.name + (
                "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
                if sample.labels
                else ""
            )
            values[key] = sample.value
    return values


def test_metrics_count_texts_in_and_out_posts_and_latency(
    client, customer, alex, baton, fake_twilio, fake_slack
):
    before = scrape(client)
    assert before["baton_texts_in_total"] == 0
    customer.texts("hello")
    customer.post("/twilio/sms", customer.sms_params("again", sid="SM" + "1" * 32))
    customer.post(
        "/twilio/sms", customer.sms_params("again", sid="SM" + "1" * 32)
    )  # a retry counts once
    alex.card_of(1)
    alex.clicks("claim", "1")
    eventually(lambda: baton.conversations.get(1).owner == "U0ALEX")
    alex.says(1, "Hi!")
    fake_twilio.wait_for("messages.create")
    after = eventually(
        lambda: (
            (m := scrape(client))["baton_slack_posts_total"] >= 3
            and m["baton_texts_out_total"] >= 1
            and m
        )
    )
    assert after["baton_texts_in_total"] == 2
    assert after["baton_texts_out_total"] == 1
    assert after["baton_open_conversations"] == 1
    assert after["baton_webhook_seconds_count{route=/twilio/sms}"] == 3
    assert "baton_delivery_backlog" in after and "baton_reminders_scheduled" in after


def test_metrics_count_delivery_retries(client, customer, alex, fake_slack):
    fake_slack.fail_next("chat.postMessage", 500)
    customer.texts("hi")
    alex.card_of(1)
    assert eventually(lambda: scrape(client)["baton_delivery_retries_total"] >= 1)


def test_healthz_reports_store_and_backlog(client, fake_slack, customer):
    fake_slack.set_down(True)
    customer.texts("while Slack is down")
    health = eventually(
        lambda: (h := client.get("/healthz").get_json())["delivery_backlog"] >= 1 and h
    )
    assert health["store"] == "ok"


def test_healthz_turns_unhealthy_while_a_job_waits_too_long_and_healthy_once_it_goes_out(
    client, fake_slack, customer, clock
):
    fake_slack.set_down(True)
    customer.texts("while Slack is down")
    # Work entries are stamped with Redis's wall clock: the injected clock moves to it...
    clock.advance(time.time() - clock.now())
    assert client.get("/healthz").status_code == 200
    # ...and on, eleven minutes, while Slack stays down.
    clock.advance(11 * 60)
    response = client.get("/healthz")
    assert response.status_code == 503
    health = response.get_json()
    assert (health["store"], health["delivery"], health["unhealthy_after_seconds"]) == (
        "ok",
        "stalled",
        600,
    )
    slack = health["outboxes"]["slack"]
    assert slack["backlog"] >= 1 and slack["oldest_pending_seconds"] > 600
    assert health["delivery_backlog"] == slack["backlog"]
    assert health["outboxes"]["sms"]["oldest_pending_seconds"] == 0
    assert scrape(client)["baton_oldest_pending_seconds{outbox=slack}"] > 600
    fake_slack.set_down(False)
    healthy = eventually(lambda: (h := client.get("/healthz")).status_code == 200 and h, 40)
    assert healthy.get_json()["delivery"] == "ok"
    assert scrape(client)["baton_oldest_pending_seconds{outbox=slack}"] == 0
