"""stream: the Faust shell around :mod:`wnn` — topics, tables, agents, web views and replay.

Business logic lives in plain functions and small classes (:mod:`stream.messages`, :mod:`stream.processor`) that the
agents call; the worker (:mod:`stream.worker`) only wires them to Kafka.
"""
