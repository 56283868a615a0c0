"""An observer loaded only in tests and the demo (``--include worker.probe``).

For every task the worker runs it appends one JSON line to the file named by
TRACE_PROBE_FILE, recording what Celery put on ``task.request`` -- in particular whether
AMQP application headers such as ``traceparent`` arrive as request attributes. Without
TRACE_PROBE_FILE it does nothing.
"""
import json
import os
import threading

from celery import signals

_lock = threading.Lock()


def _write(record):
    path = os.environ.get('TRACE_PROBE_FILE')
    if not path:
        return
    line = json.dumps(record, default=repr, sort_keys=True)
    with _lock, open(path, 'a', encoding='utf-8') as f:
        f.write(line + '\n')


@signals.task_prerun.connect
def _on_prerun(task_id=None, task=None, **_):
    request = task.request
    _write({
        'event': 'prerun',
        'task': task.name,
        'id': task_id,
        'parent_id': request.parent_id,
        'root_id': request.root_id,
        'traceparent': getattr(request, 'traceparent', None),
        'tracestate': getattr(request, 'tracestate', None),
        'headers': request.headers,
        'correlation_id': request.correlation_id,
        'reply_to': request.reply_to,
        'delivery_info': request.delivery_info,
        'properties': request.properties,
        'request_keys': sorted(vars(request)),
    })


@signals.task_postrun.connect
def _on_postrun(task_id=None, task=None, state=None, **_):
    _write({'event': 'postrun', 'task': task.name, 'id': task_id, 'state': state})
