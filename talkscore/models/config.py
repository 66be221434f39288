"""`ModelConfig`: every size and switch of the advanced multi-task model, stored in checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from talkscore.settings import Settings
from talkscore.tasks import MODALITIES, OVERALL_TASK, SCORE_MAX, SCORE_MIN, TASKS


@dataclass(frozen=True)
class ModelConfig(Settings):
    """Sizes and switches of `TalkingFaceQualityModel`.

    Modalities and tasks are lists: adding one is a config change, and Path B's token count,
    Path A's width, the heads and the task-weighting parameters follow from them.
    """

    # ordered modality names; the model reads these keys from its feature dict
    modalities: tuple[str, ...] = MODALITIES
    # ordered task names; one head (score + log-variance) each
    tasks: tuple[str, ...] = TASKS
    # width D of every per-modality sequence and pooled vector
    encoder_dim: int = 256
    # attention heads in the temporal, cross-modal and fusion blocks
    num_heads: int = 4
    # (Linear -> LayerNorm -> GELU -> Dropout) + residual layers per modality encoder
    encoder_layers: int = 3
    # TransformerEncoder layers of Path B (fusion over modality tokens)
    fusion_layers: int = 2
    # hidden width of Path A's MLP over the concatenated modality vectors
    d_ff: int = 1024
    # dropout everywhere
    dropout: float = 0.1
    # learned per-sample sigmoid gates on the pooled modality vectors
    gating: bool = True
    # frame-level audio-visual cross attention before pooling
    cross_modal: bool = True
    # modality pairs (a, b) whose frames attend to each other, both ways
    cross_modal_pairs: tuple[tuple[str, str], ...] = (("audio", "keypoint"), ("audio", "visual"))
    # cross attention reaches +-this many frames (learned bias per relative lag and head)
    cross_modal_window: int = 15
    # score scale: each head's sigmoid is mapped onto [score_min, score_max]
    score_min: float = SCORE_MIN
    score_max: float = SCORE_MAX
    # predicted log-variances are clamped to this range (in squared score units)
    log_var_range: tuple[float, float] = (-10.0, 4.0)
    # input sizes to create adaptive projections for at construction (others appear on first use)
    input_dims: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the field to fix when the config cannot build a model."""
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities must be unique and non-empty, got {self.modalities}")
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks must be unique and non-empty, got {self.tasks}")
        if self.num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {self.num_heads}")
        if self.encoder_dim <= 0 or self.encoder_dim % self.num_heads:
            raise ValueError(
                f"encoder_dim ({self.encoder_dim}) must be positive and divisible by "
                f"num_heads ({self.num_heads})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.score_max <= self.score_min:
            raise ValueError("score_max must be greater than score_min")
        for a, b in self.cross_modal_pairs if self.cross_modal else ():
            if a not in self.modalities or b not in self.modalities or a == b:
                raise ValueError(f"cross_modal_pairs entry ({a}, {b}) must name two modalities")
        unknown = set(self.input_dims) - set(self.modalities)
        if unknown:
            raise ValueError(f"input_dims names unknown modalities: {sorted(unknown)}")

    @property
    def consistency_tasks(self) -> tuple[str, ...]:
        """Tasks the consistency regulariser compares (all but overall)."""
        return tuple(t for t in self.tasks if t != OVERALL_TASK)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists)."""
        data = asdict(self)
        data["input_dims"] = {m: list(d) for m, d in self.input_dims.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        values = dict(data)
        for key in ("modalities", "tasks", "log_var_range"):
            if key in values:
                values[key] = tuple(values[key])
        if "cross_modal_pairs" in values:
            values["cross_modal_pairs"] = tuple(tuple(p) for p in values["cross_modal_pairs"])
        if "input_dims" in values:
            values["input_dims"] = {m: tuple(d) for m, d in values["input_dims"].items()}
        return super().from_dict(values)
