"""wnnrec: the command line and the tools around the product (:mod:`wnn`, the model library, and :mod:`stream`, the
worker).

Data loading (:mod:`wnnrec.datasets`), the evaluation protocols and their baselines (:mod:`wnnrec.evaluation`,
:mod:`wnnrec.baselines`), the benchmarks (:mod:`wnnrec.bench`), the unlearning audit (:mod:`wnnrec.audit`), the
replayer, the main job and its report, and the ``wnnrec`` command (:mod:`wnnrec.cli`). They import the product; the
product never imports them.
"""
