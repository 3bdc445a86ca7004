"""The canonical emotion labels and each dataset's map onto them.

Canonical order (alphabetical, as the FER2013 Kaggle folders): angry, disgust, fear, happy, neutral,
sad, surprise. Contempt (FER+, CK+) is an optional 8th class appended at the end, so a 7-class index
never changes meaning when contempt is kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CONTEMPT = "contempt"
EMOTIONS_WITH_CONTEMPT: tuple[str, ...] = EMOTIONS + (CONTEMPT,)

# Spellings found in dataset folders, papers and other toolkits -> canonical name.
SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "neutral": "neutral",
    "calm": "neutral",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "contempt": CONTEMPT,
}

# FER2013 CSV `emotion` column (Goodfellow et al. 2013).
FER2013_CSV_INDEX: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}

# RAF-DB basic emotion ids (Li et al. 2017), used by its release and by the Kaggle layout's folders.
RAFDB_INDEX: dict[int, str] = {
    1: "surprise",
    2: "fear",
    3: "disgust",
    4: "happy",
    5: "sad",
    6: "angry",
    7: "neutral",
}

# FER+ label.csv vote columns after the file name and face box (Barsoum et al. 2016).
FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)


def get_classes(include_contempt: bool = False) -> tuple[str, ...]:
    """The class list a dataset is read into: the 7 emotions, plus contempt when asked."""
    return EMOTIONS_WITH_CONTEMPT if include_contempt else EMOTIONS


def canonical_emotion(name: str) -> str:
    """Map a dataset's spelling (``"Happiness"``, ``"surprised"``) to the canonical name.

    Raises ValueError naming the bad value and the closest known spellings.
    """
    key = name.strip().lower()
    if key in SYNONYMS:
        return SYNONYMS[key]
    close = difflib.get_close_matches(key, list(SYNONYMS), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown emotion label {name!r}.{hint} Known labels: {', '.join(get_classes(True))} "
        f"(and synonyms {', '.join(sorted(k for k in SYNONYMS if k not in EMOTIONS_WITH_CONTEMPT))})."
    )


def is_emotion(name: str) -> bool:
    """True when ``name`` is a known emotion spelling (used to recognise class folders)."""
    return name.strip().lower() in SYNONYMS


def label_index(name: str, classes: tuple[str, ...] = EMOTIONS) -> int:
    """Index of an emotion (any known spelling) in ``classes``; ValueError if it is not among them."""
    canon = canonical_emotion(name)
    if canon not in classes:
        raise ValueError(
            f"Emotion {canon!r} is not among the classes {list(classes)}; "
            "pass include_contempt=True to keep contempt as an 8th class."
        )
    return classes.index(canon)


def map_classes(classes: Sequence[str], model_labels: Sequence[str]) -> np.ndarray:
    """Dataset class index -> model class index, matched by canonical name (-1 where the model lacks the class).

    The one place a dataset's classes meet a model's labels (evaluation with and without face detection).
    """
    model_idx = {canonical_emotion(name): i for i, name in enumerate(model_labels)}
    return np.array([model_idx.get(canonical_emotion(c), -1) for c in classes], dtype=np.int64)
