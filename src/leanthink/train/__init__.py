"""Training recipes that produce Hugging Face checkpoint directories."""
