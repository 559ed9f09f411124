"""Compiled kernels of the model's hot paths: numba functions over plain arrays, called once per prediction, list or
batch, never once per neuron or item.

Each kernel computes exactly what its numpy reference in the module that calls it computes: the same floating-point
operations in the same order, integer sums where the reference has them, numpy's own summation order where the
reference reduces floats (:func:`wnn.kernels.sums.pairwise_sum`), and the C library's ``exp`` where the reference
calls :func:`math.exp`. A property (``tests/wnn/test_kernels.py``) runs random streams through both and compares
states, predictions and lists bit for bit.

Kernels are compiled on first use and cached on disk (``cache=True``; numba's cache folder is ``__pycache__`` beside
this package, or ``$NUMBA_CACHE_DIR``), so only the first start of a fresh install pays for the compile. numba checks
a cached kernel against its own source file only: after editing a kernel that kernels of other files call, remove
``wnn/kernels/__pycache__`` so that they compile again. They are
compiled without ``fastmath``: IEEE semantics, no reassociation, no fused multiply-add.

:func:`wnn.kernels.mode.reference` (or ``WNNREC_REFERENCE=1`` for a whole process) runs the numpy reference instead.
"""
