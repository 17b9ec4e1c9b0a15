"""Data-free knowledge distillation for LV segmentation (torch, no Qt).

Holds the synthetic-echo simulator, teachers, students, training, evaluation and ONNX export;
the viewer never imports it (the distillation wizard runs it in a child process).
"""
