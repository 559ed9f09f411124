"""wnn: per-user weightless neural networks (RAM-neuron lookup tables) for streaming recommendation.

The library is free of Kafka and Faust: a stream worker, a notebook and the evaluation all use the same objects.

>>> from wnn import ItemSpace, UserWNN, WNNConfig
>>> space = ItemSpace(WNNConfig())
>>> space.add_item("toy-story", genres=("Animation", "Comedy"), year=1995)
0
>>> user = UserWNN(space)
>>> user.learn_one("toy-story", 5.0, ts=0, event_id=1).duplicate
False
>>> round(user.predict_one("toy-story").rating, 2) > 3.5
True
"""

from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnn.network import Prediction, StateError, UserWNN

__all__ = ["ItemSpace", "Prediction", "StateError", "UserWNN", "WNNConfig"]
