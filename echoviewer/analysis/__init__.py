"""The GUI-free analysis of a cine: LV masks, the area curve, ED/ES events and measurements."""
