"""Pitch families: Statcast's pitch labels change over the years; per-family features use the family."""

from __future__ import annotations

from enum import StrEnum


class PitchFamily(StrEnum):
    """What a pitch is for the features: baselines and windows are kept per family."""

    FOUR_SEAM = "four_seam"
    SINKER = "sinker"
    CUTTER = "cutter"
    SLIDER = "slider"  # sliders, sweepers and slurves
    CURVE = "curve"
    CHANGE = "change"
    SPLITTER = "splitter"
    OTHER = "other"  # knuckleballs, eephus, pitch-outs, intentional balls, unknown labels
    UNKNOWN = "unknown"  # the feed gave no label (untracked pitch)


# Statcast pitch_type -> family. FT (two-seam) was split from SI until 2019; ST (sweeper) appears in 2023.
PITCH_TYPE_FAMILY: dict[str, PitchFamily] = {
    "FF": PitchFamily.FOUR_SEAM,
    "FA": PitchFamily.FOUR_SEAM,
    "SI": PitchFamily.SINKER,
    "FT": PitchFamily.SINKER,
    "FC": PitchFamily.CUTTER,
    "SL": PitchFamily.SLIDER,
    "ST": PitchFamily.SLIDER,
    "SV": PitchFamily.SLIDER,
    "CU": PitchFamily.CURVE,
    "KC": PitchFamily.CURVE,
    "CS": PitchFamily.CURVE,
    "CH": PitchFamily.CHANGE,
    "SC": PitchFamily.CHANGE,
    "FS": PitchFamily.SPLITTER,
    "FO": PitchFamily.SPLITTER,
    "KN": PitchFamily.OTHER,
    "EP": PitchFamily.OTHER,
    "PO": PitchFamily.OTHER,
    "IN": PitchFamily.OTHER,
    "AB": PitchFamily.OTHER,
}

FASTBALL_FAMILIES: frozenset[PitchFamily] = frozenset(
    {PitchFamily.FOUR_SEAM, PitchFamily.SINKER, PitchFamily.CUTTER}
)


def family_of(pitch_type: str | None) -> PitchFamily:
    """The family of a Statcast pitch label; no label means an untracked pitch."""
    if pitch_type is None or pitch_type.strip() in ("", "null", "NA"):
        return PitchFamily.UNKNOWN
    return PITCH_TYPE_FAMILY.get(pitch_type.strip().upper(), PitchFamily.OTHER)
