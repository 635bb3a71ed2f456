"""What only the chapters use: plots, widgets, the anatomy report and the padding study."""
