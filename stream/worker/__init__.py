"""The stream worker: a faust app whose agent keeps every user's network up to date from the ratings topic.

    create_worker(Settings()).app.main()    # what ``wnnrec worker`` runs, with the settings of its flags

:func:`create_worker` builds it (:mod:`stream.worker.app`); each module here is one part of it, registered on the
faust app, and all of them share one :class:`Worker` (:mod:`stream.worker.context`). The work itself is done by
:class:`stream.processor.StreamProcessor`: the worker only moves bytes between Kafka and it.
"""

from stream.worker.app import create_worker
from stream.worker.context import Worker

__all__ = ["Worker", "create_worker"]
