"""stream: the worker product around :mod:`wnn`: the topics' contracts, the stream processor, the faust worker
(agents, tables, web views) and the Kafka administration it needs.

Business logic lives in plain functions and small classes (:mod:`stream.messages`, :mod:`stream.processor`) that the
agents call; the worker (:mod:`stream.worker`) only wires them to Kafka. The tools around it (replay, benchmarks,
the command line) are in :mod:`wnnrec`.
"""
