"""The benchmarks: the model against River (:mod:`~wnnrec.bench.model`), the pipeline on a real broker against
faust's own ceiling (:mod:`~wnnrec.bench.pipeline`, :mod:`~wnnrec.bench.ceiling`), the processor alone
(:mod:`~wnnrec.bench.in_process`) and a worker's growth with users (:mod:`~wnnrec.bench.scale`)."""
