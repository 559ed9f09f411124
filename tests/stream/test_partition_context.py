"""The one place that sets faust's current event: tables must see the event we name, and the old one after."""

from types import SimpleNamespace

from faust.streams import current_event

from stream.partition_context import acting_for


class Event:
    """Stands in for a faust event: faust keeps a weak reference to it and tables read ``message.partition``."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


def test_acting_for_sets_and_restores_the_current_event():
    outer, inner = Event(1), Event(3)
    with acting_for(outer):
        assert current_event() is outer
        with acting_for(inner):
            assert current_event().message.partition == 3
        assert current_event() is outer
    assert current_event() is None


def test_acting_for_restores_after_an_error():
    event = Event(2)
    try:
        with acting_for(event):
            raise KeyError("x")
    except KeyError:
        pass
    assert current_event() is None
