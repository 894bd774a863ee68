"""Ballparks and their tracking systems: one Hawk-Eye (earlier TrackMan) installation per home park.

Elevations are approximate field elevations in metres (public park data), used only for the air-density
adjustment of break when an environment reading carries no station pressure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Venue:
    """A home park: the team code Statcast uses, its tracking system, elevation and time zone."""

    home_team: str
    name: str
    tracking_system_id: str
    elevation_m: float
    timezone: str


_VENUES = (
    Venue("ARI", "Chase Field", "chase_field", 330.0, "America/Phoenix"),
    Venue("ATL", "Truist Park", "truist_park", 320.0, "America/New_York"),
    Venue("BAL", "Oriole Park at Camden Yards", "camden_yards", 10.0, "America/New_York"),
    Venue("BOS", "Fenway Park", "fenway_park", 6.0, "America/New_York"),
    Venue("CHC", "Wrigley Field", "wrigley_field", 181.0, "America/Chicago"),
    Venue("CWS", "Guaranteed Rate Field", "rate_field", 181.0, "America/Chicago"),
    Venue("CIN", "Great American Ball Park", "great_american", 168.0, "America/New_York"),
    Venue("CLE", "Progressive Field", "progressive_field", 199.0, "America/New_York"),
    Venue("COL", "Coors Field", "coors_field", 1580.0, "America/Denver"),
    Venue("DET", "Comerica Park", "comerica_park", 183.0, "America/Detroit"),
    Venue("HOU", "Minute Maid Park", "minute_maid", 13.0, "America/Chicago"),
    Venue("KC", "Kauffman Stadium", "kauffman", 229.0, "America/Chicago"),
    Venue("LAA", "Angel Stadium", "angel_stadium", 49.0, "America/Los_Angeles"),
    Venue("LAD", "Dodger Stadium", "dodger_stadium", 157.0, "America/Los_Angeles"),
    Venue("MIA", "loanDepot park", "loandepot_park", 2.0, "America/New_York"),
    Venue("MIL", "American Family Field", "amfam_field", 194.0, "America/Chicago"),
    Venue("MIN", "Target Field", "target_field", 248.0, "America/Chicago"),
    Venue("NYM", "Citi Field", "citi_field", 3.0, "America/New_York"),
    Venue("NYY", "Yankee Stadium", "yankee_stadium", 17.0, "America/New_York"),
    Venue("OAK", "Oakland Coliseum", "oakland_coliseum", 8.0, "America/Los_Angeles"),
    Venue("PHI", "Citizens Bank Park", "citizens_bank", 6.0, "America/New_York"),
    Venue("PIT", "PNC Park", "pnc_park", 223.0, "America/New_York"),
    Venue("SD", "Petco Park", "petco_park", 5.0, "America/Los_Angeles"),
    Venue("SF", "Oracle Park", "oracle_park", 3.0, "America/Los_Angeles"),
    Venue("SEA", "T-Mobile Park", "tmobile_park", 5.0, "America/Los_Angeles"),
    Venue("STL", "Busch Stadium", "busch_iii", 142.0, "America/Chicago"),
    Venue("TB", "Tropicana Field", "tropicana_field", 13.0, "America/New_York"),
    Venue("TEX", "Globe Life Field", "globe_life", 166.0, "America/Chicago"),
    Venue("TOR", "Rogers Centre", "rogers_centre", 82.0, "America/Toronto"),
    Venue("WSH", "Nationals Park", "nationals_park", 8.0, "America/New_York"),
)

VENUES: dict[str, Venue] = {v.home_team: v for v in _VENUES}
# Statcast has used more than one code for a few clubs.
VENUES["AZ"] = VENUES["ARI"]
VENUES["CHW"] = VENUES["CWS"]
VENUES["WSN"] = VENUES["WSH"]
VENUES["ATH"] = VENUES["OAK"]


def venue_of(home_team: str) -> Venue:
    """The venue of a home team code; an unknown code gets its own system, at sea level."""
    code = home_team.strip().upper()
    return VENUES.get(code) or Venue(code, code, f"park_{code.lower()}", 0.0, "America/New_York")
