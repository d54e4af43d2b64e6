"""Concept-Centric Transformers (Hong, Park, Pavlic, WACV 2024) on CPU-sized data.

An interpretable image classifier: a small ViT backbone writes C concept slots into a shared
workspace by slot attention (SA, ISA or BO-QSA); image tokens read the workspace back by
cross-attention whose weights *are* the explanation. Baselines on the same backbone: the Concept
Transformer (learned, input-independent concept embeddings) and a plain classifier.

Files, one idea each: config (settings), data_digits / data_shapes / data_scenes (data with exact
concept ground truth), backbone, slots, models, losses, train, metrics, consistency (explanation
consistency), diagnose (attention ablations), checkpoint, explain, figures, bench (sample efficiency),
bench_settings / bench_report (settings benchmark), cli.
"""

from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig

__all__ = ["DataConfig", "ModelConfig", "TrainConfig"]
