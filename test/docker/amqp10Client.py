"""An AMQP 1.0 client (Debian's python3-qpid-proton) for the RabbitMQ 4 tests.

  amqp10Client.py URL QUEUE send BODY [TRACEPARENT]   sends one message to /queues/QUEUE
  amqp10Client.py URL QUEUE receive                   prints the next message as JSON:
                                                      body, application properties, message annotations
  amqp10Client.py URL QUEUE send-twice BODY SECONDS    sends BODY 1, waits SECONDS on the open
                                                      connection, sends BODY 2
"""
import json
import sys
import time

from proton import Message
from proton.utils import BlockingConnection

url, queue, mode = sys.argv[1], sys.argv[2], sys.argv[3]
conn = BlockingConnection(url, timeout=10, allowed_mechs='PLAIN', user='guest', password='guest')
try:
    if mode == 'send':
        props = {'traceparent': sys.argv[5]} if len(sys.argv) > 5 else None
        conn.create_sender('/queues/' + queue).send(Message(body=sys.argv[4], properties=props))
        print(json.dumps({'sent': True}))
    elif mode == 'send-twice':
        sender = conn.create_sender('/queues/' + queue)
        sender.send(Message(body=sys.argv[4] + ' 1'))
        time.sleep(float(sys.argv[5]))
        sender.send(Message(body=sys.argv[4] + ' 2'))
        print(json.dumps({'sent': True}))
    else:
        receiver = conn.create_receiver('/queues/' + queue)
        msg = receiver.receive(timeout=10)
        receiver.accept()
        body = msg.body.decode('utf-8') if isinstance(msg.body, (bytes, memoryview)) else msg.body
        print(json.dumps({'body': str(bytes(body), 'utf-8') if isinstance(body, memoryview) else body,
                          'properties': {k: str(v) for k, v in (msg.properties or {}).items()},
                          'annotations': {str(k): str(v) for k, v in (msg.annotations or {}).items()}}))
finally:
    conn.close()
