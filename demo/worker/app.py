"""The Celery application shared by the three demo services.

Configuration comes from the environment so tests can point it at the broker or at the
proxy, and give every test run its own queues:

  CELERY_BROKER_URL   broker URL (default: the proxy on 127.0.0.1:5673)
  DEMO_QUEUE_LLM      queue for ``llm.*`` tasks      (default ``llm``)
  DEMO_QUEUE_WHISPER  queue for ``whisper.*`` tasks  (default ``whisper``)
  DEMO_QUEUE_VECTOR   queue for ``vector.*`` tasks   (default ``vector``)
  DEMO_ACKS_LATE      ``1``: acknowledge after the task ran instead of before
  DEMO_ACKS_ON_FAILURE ``0``: with late acks, reject (not ack) a task that raised
  DEMO_DEAD_LETTER_EXCHANGE  declare the queues with this dead-letter exchange, so a
                      rejected message can be observed
  DEMO_QUEUE_TYPE     ``quorum``: quorum queues (Celery 5.5 then delays countdowns with
                      Kombu's native delayed delivery, given a topic or fanout exchange)
  DEMO_EXCHANGE_TYPE  the service exchanges' type (default ``direct``, Celery's own)
  DEMO_RETRY_COUNTDOWN  seconds a rate-limited llm.summarize waits before its retry (2)
"""
import os

from celery import Celery
from kombu import Exchange, Queue

SERVICES = ('llm', 'whisper', 'vector')


def queue_name(service):
    return os.environ.get(f'DEMO_QUEUE_{service.upper()}', service)


def _queue(service):
    name = queue_name(service)
    arguments = {}
    dlx = os.environ.get('DEMO_DEAD_LETTER_EXCHANGE')
    if dlx:
        arguments['x-dead-letter-exchange'] = dlx
    queue_type = os.environ.get('DEMO_QUEUE_TYPE')
    if queue_type:
        arguments['x-queue-type'] = queue_type
    # Celery's own default for a routed queue: a direct exchange named like the queue.
    exchange_type = os.environ.get('DEMO_EXCHANGE_TYPE', 'direct')
    return Queue(name, Exchange(name, type=exchange_type), routing_key=name,
                 queue_arguments=arguments or None)


app = Celery(
    'demo',
    broker=os.environ.get('CELERY_BROKER_URL', 'amqp://guest:guest@127.0.0.1:5673//'),
    backend='rpc://',
    include=['worker.tasks'],
)
app.conf.update(
    task_queues=[_queue(s) for s in SERVICES],
    task_routes={f'{s}.*': {'queue': queue_name(s)} for s in SERVICES},
    task_default_queue=queue_name('llm'),
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    task_acks_late=os.environ.get('DEMO_ACKS_LATE') == '1',
    task_acks_on_failure_or_timeout=os.environ.get('DEMO_ACKS_ON_FAILURE', '1') != '0',
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
