"""What belongs to one player, recognized in raw text: feed lines, quarantined payloads, logs and reports.

Pure Python. The erasure (readiness_platform.erasure) finds a player's data in places that hold text
rather than typed columns, and this module decides, line by line, what is theirs:

- a feed line is the player's when it is a pitch they threw: its `pitcher_id`, or - for a damaged line
  that lost the id but kept the key - one of their pitch keys, or their name as the feed spells it.
  Damaged lines are matched on the raw text, since many do not parse as JSON;
- a line of someone else's pitch that names the player as the batter keeps the pitch (the pitcher's
  data) and loses the player's id (`batter_id` becomes null);
- free text (Dagster run logs, reports, quality-gate failure samples) mentions the player when it holds
  their id as a whole number, their name, or one of their pitch keys (`game_pk=.. at_bat_number=..
  pitch_number=..`, or the same as a dict). A whole-number match can be another number that happens to
  be equal (a game_pk); the places that use it hold derived copies, so the price is a regenerated
  report, never a lost measurement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

PitchKey = tuple[int, int, int]  # game_pk, at_bat_number, pitch_number

# a pitch key as the quality gates' samples and Dagster metadata write it: `game_pk=1 at_bat_number=2
# pitch_number=3`, `{'game_pk': 1, 'at_bat_number': 2, ...}` or the same inside escaped JSON
_KEY_IN_TEXT = re.compile(r"game_pk\W{1,6}(\d+)\W{1,6}at_bat_number\W{1,6}(\d+)\W{1,6}pitch_number\W{1,6}(\d+)")
# one failing row of a quality-gate sample (expectations.run.Failure.describe): up to the next row or the end
_SAMPLE_ROW = re.compile(r"game_pk=(\d+) at_bat_number=(\d+) pitch_number=(\d+)[^;\]]*?(?=; |\s\.\.\.\]|\])")
ERASED = "(erased)"


def _field(name: str) -> re.Pattern[str]:
    """A JSON field's integer value in raw text (quoted or not: a damaged line may carry either)."""
    return re.compile(rf'"{name}"\s*:\s*"?(\d+)"?')


_GAME_PK, _AT_BAT, _PITCH_NUMBER = _field("game_pk"), _field("at_bat_number"), _field("pitch_number")


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class LineVerdict:
    """What to do with one line: drop it (the player's), keep it as `line` (rewritten if it named them)."""

    line: str | None  # None: the line is the player's and goes
    batter_refs: int = 0  # the player's id removed as a batter of someone else's pitch

    @property
    def dropped(self) -> bool:
        return self.line is None


@dataclass(frozen=True)
class PlayerIdentity:
    """Everything that identifies one player's records: the id, the names the feed gave, their pitch keys."""

    pitcher_id: int
    names: frozenset[str] = field(default_factory=frozenset)
    pitch_keys: frozenset[PitchKey] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if isinstance(self.pitcher_id, bool) or not isinstance(self.pitcher_id, int) or self.pitcher_id <= 0:
            raise ValueError(f"a pitcher id is a positive integer (MLBAM id), got {self.pitcher_id!r}")

    def with_evidence(self, names: Iterable[str | None] = (), pitch_keys: Iterable[tuple] = ()) -> PlayerIdentity:
        """The same player, knowing more names and pitch keys (found in bronze, silver, the feed)."""
        keys: set[PitchKey] = set()
        for k in pitch_keys:
            g, a, p = (_as_int(v) for v in (*k, None, None, None)[:3])
            if g is not None and a is not None and p is not None:
                keys.add((g, a, p))
        return PlayerIdentity(self.pitcher_id, self.names | {n for n in names if n and n.strip()},
                              self.pitch_keys | keys)

    # -- feed records and lines ---------------------------------------------------------------------------
    def owns_record(self, record: dict) -> bool:
        """A parsed feed record is theirs: their id, their name, or (id lost) one of their pitch keys."""
        if _as_int(record.get("pitcher_id")) == self.pitcher_id:
            return True
        if record.get("pitcher_name") in self.names:
            return True
        key = tuple(_as_int(record.get(k)) for k in ("game_pk", "at_bat_number", "pitch_number"))
        return None not in key and key in self.pitch_keys

    def _owns_raw(self, line: str) -> bool:
        if re.search(rf'"pitcher_id"\s*:\s*"?{self.pitcher_id}(?![\d.])', line):
            return True
        if any(re.search(rf'"pitcher_name"\s*:\s*{re.escape(json.dumps(n))}', line) for n in self.names):
            return True
        g, a, p = (m.group(1) if (m := f.search(line)) else None for f in (_GAME_PK, _AT_BAT, _PITCH_NUMBER))
        return g is not None and a is not None and p is not None and (int(g), int(a), int(p)) in self.pitch_keys

    def judge_line(self, line: str) -> LineVerdict:
        """One raw feed line (or quarantined payload): drop it, keep it, or keep it without the batter id."""
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        owned = self.owns_record(record) if isinstance(record, dict) else self._owns_raw(line)
        if owned:
            return LineVerdict(None)
        pattern = re.compile(rf'("batter_id"\s*:\s*)"?{self.pitcher_id}"?(?![\d.])')
        rewritten, n = pattern.subn(r"\1null", line)
        return LineVerdict(rewritten, n)

    # -- free text --------------------------------------------------------------------------------------
    def mentioned_in(self, text: str) -> bool:
        """The text names the player: their id as a whole number, a name, or one of their pitch keys."""
        if re.search(rf"(?<![\d.]){self.pitcher_id}(?![\d.])", text):
            return True
        if any(n in text for n in self.names):
            return True
        return any((int(g), int(a), int(p)) in self.pitch_keys for g, a, p in _KEY_IN_TEXT.findall(text))

    def redact_samples(self, text: str) -> tuple[str, int]:
        """A quality-gate failure line with the player's sample rows replaced by "(erased)"; rows replaced."""
        count = 0

        def replace(m: re.Match[str]) -> str:
            nonlocal count
            if (int(m.group(1)), int(m.group(2)), int(m.group(3))) in self.pitch_keys:
                count += 1
                return ERASED
            return m.group(0)

        return _SAMPLE_ROW.sub(replace, text), count
