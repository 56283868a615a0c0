"""The demo services' tasks: plain Celery tasks, unaware of proxies and tracing."""
import time

from celery import group

from worker.app import app


@app.task(name='llm.summarize', bind=True)
def summarize(self, content_id):
    """Summarise one piece of shared content; needs a transcript and an embedding first."""
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


@app.task(name='whisper.transcribe')
def transcribe(content_id, seconds=0.0):
    """Transcribe the audio; ``seconds`` stands in for the model's running time."""
    time.sleep(seconds)
    return f'transcript of {content_id}'


@app.task(name='vector.embed')
def embed(content_id):
    return [len(str(content_id)), 0.5]
