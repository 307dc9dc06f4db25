"""fashionlens: one vision-language model that describes clothing photos and finds clothing."""

__version__ = "0.1.0"
