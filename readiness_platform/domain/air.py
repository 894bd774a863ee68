"""Air density and the break adjustment: movement scales with air density (first order).

rho = p_d / (R_d T) + p_v / (R_v T), with the vapour pressure from relative humidity and the saturation
pressure (Tetens). Reference air: 21.1 C (70 F), 1013.25 hPa, 50 % humidity, the usual reference of
pitch-flight physics. Adjusted break = pfx * rho_ref / rho_game: what the pitch would have moved in
reference air (Coors Field's ~0.82 rho_ref makes observed break ~18-25 % smaller; this undoes it).
"""

from __future__ import annotations

import math

R_DRY = 287.058  # J/(kg K)
R_VAPOUR = 461.495  # J/(kg K)


def station_pressure_hpa(elevation_m: float) -> float:
    """Standard-atmosphere pressure at an elevation (ICAO barometric formula)."""
    return 1013.25 * (1.0 - 2.25577e-5 * elevation_m) ** 5.25588


def saturation_vapour_pressure_hpa(temperature_c: float) -> float:
    """Tetens' formula over water."""
    return 6.1078 * 10 ** (7.5 * temperature_c / (temperature_c + 237.3))


def air_density(temperature_c: float, relative_humidity_pct: float, pressure_hpa: float | None = None,
                elevation_m: float | None = None) -> float:
    """Moist-air density, kg/m^3; pressure from elevation when no station pressure was read."""
    if pressure_hpa is None:
        if elevation_m is None:
            raise ValueError("air density needs pressure_hpa or elevation_m")
        pressure_hpa = station_pressure_hpa(elevation_m)
    kelvin = temperature_c + 273.15
    vapour = relative_humidity_pct / 100.0 * saturation_vapour_pressure_hpa(temperature_c)
    return ((pressure_hpa - vapour) * 100.0 / (R_DRY * kelvin)) + (vapour * 100.0 / (R_VAPOUR * kelvin))


RHO_REF = air_density(21.1, 50.0, 1013.25)  # ~1.194 kg/m^3
# With no reading: the park's standard atmosphere at the reference temperature and humidity.
DEFAULT_TEMPERATURE_C = 21.1
DEFAULT_HUMIDITY_PCT = 50.0


def climatological_density(elevation_m: float) -> float:
    """The density used when a pitch has no environment reading: standard air at the park's elevation."""
    return air_density(DEFAULT_TEMPERATURE_C, DEFAULT_HUMIDITY_PCT, elevation_m=elevation_m)


def adjusted_break(pfx_in: float | None, rho_game: float) -> float | None:
    """Break in reference air, inches."""
    if pfx_in is None or (isinstance(pfx_in, float) and math.isnan(pfx_in)):
        return None
    return pfx_in * RHO_REF / rho_game
