"""Training: recipes (config), image-text pair mixing (data) and the accelerate loop (loop)."""
