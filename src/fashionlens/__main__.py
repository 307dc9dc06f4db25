"""`python -m fashionlens ...` (also what `accelerate launch -m fashionlens train ...` runs)."""

from fashionlens.cli import main

main()
