"""Transfer learning: start from pretrained weights, replace the classifier head,
freeze or fine-tune, and measure which of these pays on the user's data.

* :mod:`~tuner.transfer.weights`: read a weights file (a tune checkpoint, a
  state_dict, a ``.safetensors`` file) or timm's hub weights;
* :mod:`~tuner.transfer.head`: which module is the head, which are the
  blocks, and the head swap;
* :mod:`~tuner.transfer.load`: load what fits into a fresh model, say what was
  loaded, skipped and re-initialised (:class:`~tuner.transfer.load.LoadReport`);
* :mod:`~tuner.transfer.groups`: ``freeze``/``backbone_lr``/``probe_epochs`` as
  the engine's parameter groups;
* :mod:`~tuner.transfer.verdict`: the similarity measure and the verdict rule
  (torch-free);
* :mod:`~tuner.transfer.compare`: ``tune transfer``, the four strategies
  trained side by side (:func:`~tuner.transfer.compare.compare_strategies`).

This package's ``__init__`` imports nothing: :mod:`tuner.experiment` uses the
lower modules, and :mod:`~tuner.transfer.compare` uses the experiment.
"""
