"""Data-free knowledge distillation for LV segmentation (torch, no Qt).

Holds the synthetic-echo simulator (``synth``), the datasets, the networks (``networks``), the
segmenters that teach or are scored (``segmenters``) and one module per command (training,
evaluation, ONNX export, ...); the viewer never imports it (the distillation wizard runs it in a
child process).
"""
