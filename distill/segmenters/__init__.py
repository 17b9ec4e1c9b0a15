"""Segmenters, the teachers and the students under evaluation: frames in, soft LV masks out.

``base.Segmenter`` is the interface; its kinds are ``onnx`` (any ONNX model with its sidecar, the
bundled ones included), ``checkpoint`` (a ``distill train`` checkpoint), ``echonet`` (EchoNet-Dynamic's
DeepLabV3-ResNet50) and ``truth`` (the simulator's masks); ``registry.load_segmenter`` resolves a
``--teacher`` / ``--student`` argument.
"""
