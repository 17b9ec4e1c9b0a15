"""Teachers: frames in, soft LV masks out (EchoNet DeepLabV3 checkpoint, ONNX, bundled, truth)."""
