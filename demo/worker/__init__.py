"""Demo Celery workers standing in for the ADR's LLM, Whisper and Vector services.

Run with ``PYTHONPATH=demo /usr/bin/python3 -m celery -A worker.app worker ...``.
Nothing here knows about the proxy or about tracing.
"""
