"""Loaded into a test's Celery worker (``--include``): its rpc:// result consumer starts
RESULT_CONSUMER_DELAY seconds late (default 1), as on a loaded machine.

Celery's rpc:// backend declares a worker's reply queue only when that consumer starts, and
``group.apply_async`` starts it after sending the first sub-task. A task that does not
declare the queue first loses the results that come back before it (RabbitMQ drops a
message routed to no queue); with this delay it loses them every time instead of now and
then.
"""
import os
import time

from celery.backends import rpc

_DELAY = float(os.environ.get('RESULT_CONSUMER_DELAY', '1'))
_start = rpc.ResultConsumer.start


def _late_start(self, *args, **kwargs):
    time.sleep(_DELAY)
    return _start(self, *args, **kwargs)


rpc.ResultConsumer.start = _late_start
