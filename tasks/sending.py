"""The Prefect task that talks to the outside world: the outbox delivery.

It is the only task with retries (exponential backoff with jitter, in the decorator): a mail
server or Zalo that is briefly unreachable is worth waiting for. Retrying never sends a
message twice: ``notifications.delivery.deliver`` claims outbox rows with a lease and commits
each outcome on its own, so a retried run only finds what is still due. Per-message retries
are the outbox's own business (its backoff), so a retry of this task only covers errors of
the run itself (the database went away). Every message — reminders and the weekly report
alike — goes through the outbox.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from notifications.delivery import DeliveryReport, deliver
from tracking import db
from tracking.settings import get_settings

# 10 s, 20 s, 40 s (±50 %): a database or network hiccup, not an outage.
_DELIVERY_RETRIES = 3


@task(
    name="deliver-outbox",
    cache_policy=NO_CACHE,
    retries=_DELIVERY_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
)
def deliver_outbox_task(now: dt.datetime, max_messages: int | None = None) -> DeliveryReport:
    """Send everything in the outbox that is due at ``now``."""
    return deliver(db.default_engine(), get_settings(), now, max_messages=max_messages)
