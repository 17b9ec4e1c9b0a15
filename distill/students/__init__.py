"""Student networks: the paper's ConvLSTM and a fast temporal U-Net."""
