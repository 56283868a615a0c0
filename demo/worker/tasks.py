"""The demo services' tasks: plain Celery tasks, unaware of proxies and tracing."""
import os
import time

from celery import group
from celery.exceptions import Reject

from worker.app import app


# Content ids starting with this stand for a moment the LLM provider is rate limited: the
# first attempt gets 429 Too Many Requests and retries after a countdown, as a real client
# would (DEMO_RETRY_COUNTDOWN seconds, default 2).
RATE_LIMITED_PREFIX = 'rl-'


class RateLimited(Exception):
    """The LLM provider answered 429 Too Many Requests."""


@app.task(name='llm.summarize', bind=True)
def summarize(self, content_id):
    """Summarise one piece of shared content; needs a transcript and an embedding first."""
    if str(content_id).startswith(RATE_LIMITED_PREFIX) and self.request.retries == 0:
        raise self.retry(exc=RateLimited('429 Too Many Requests'),
                         countdown=float(os.environ.get('DEMO_RETRY_COUNTDOWN', '2')))
    # The rpc:// backend declares this worker's reply queue only when its result consumer
    # starts, which group.apply_async does after sending the first sub-task (a worker's
    # pool skips the declare on send). A sub-task finishing before that has its result
    # published to no queue, and RabbitMQ drops it. Declaring first closes that window.
    with self.app.producer_or_acquire() as producer:
        self.app.backend.binding(producer.channel).declare()
    children = group(
        transcribe.s(content_id),
        embed.s(content_id),
    ).apply_async()
    return {'content_id': content_id, 'children': [r.id for r in children.results]}


@app.task(name='llm.fail')
def fail(content_id):
    raise RuntimeError(f'summary failed for {content_id}')


@app.task(name='llm.moderate', acks_late=True)
def moderate(content_id):
    """A poison message: the worker cannot handle it and rejects it without requeue, so the
    broker dead-letters it when the queue has a dead-letter exchange
    (DEMO_DEAD_LETTER_EXCHANGE). Reject needs late acks to reach the broker."""
    raise Reject(f'cannot moderate {content_id}', requeue=False)


@app.task(name='whisper.transcribe')
def transcribe(content_id, seconds=0.0):
    """Transcribe the audio; ``seconds`` stands in for the model's running time."""
    time.sleep(seconds)
    return f'transcript of {content_id}'


@app.task(name='vector.embed')
def embed(content_id):
    return [len(str(content_id)), 0.5]
