package dev.readiness.state;

import java.time.LocalDate;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The window features of readiness_platform.domain.features, value for value: the same windows in the same
 * order through the same arithmetic (math.fsum is Python's exactly rounded sum, ported below), so the
 * stream's rows equal the Python batch recompute's (tests/spark_jobs/test_jvm_state.py). Only `x ** 2`
 * may differ, in the last bit of a rare square: Python's comes from the C library's pow, this one is x * x.
 */
final class Windows {
  static final int VELOCITY_WINDOW = 5;
  static final int SPIN_WINDOW = 20;
  static final int RELEASE_WINDOW = 25;
  static final int WORKLOAD_DAYS = 7;
  static final int REST_HORIZON_DAYS = 8;
  static final String UNKNOWN = "unknown";
  static final String[] FASTBALL_PREFERENCE = {"four_seam", "sinker", "cutter"};

  /** The names of the WindowFeatures fields, in their order (checked against the schema Python gives). */
  static final List<String> NAMES = List.of(
      "pitch_count_game", "primary_fastball", "fb_window_n", "fb_window_full", "fb_velo_mean5", "velo_delta_mph",
      "velo_z", "spin_window_n", "spin_window_full", "spin_cv", "release_window_n", "release_window_full",
      "release_height_sd_ft", "release_height_var_ft2", "pitches_last_1d", "pitches_last_3d", "pitches_last_7d",
      "days_since_prev_outing", "back_to_back", "third_straight_day", "missing_pitches", "late_fraction");

  private Windows() {}

  static boolean isFastball(String family) {
    return "four_seam".equals(family) || "sinker".equals(family) || "cutter".equals(family);
  }

  static boolean tracked(Double v) {
    return v != null && !v.isNaN();
  }

  /** A previous appearance: its day (days since the epoch), game and pitch count. */
  record Outing(int day, long game, int pitches) {}

  /** A pitcher's seasonal reference for one family: what the features read of domain.features.Baseline. */
  record Baseline(int n, Double veloMean, Double veloSd5) implements java.io.Serializable {}

  /** Python's math.fsum over values[from, to): CPython's msum with its half-even fix-up, step for step. */
  static double fsum(double[] values, int from, int to) {
    double[] partials = new double[Math.max(4, to - from)];
    int n = 0;
    for (int k = from; k < to; k++) {
      double x = values[k];
      int i = 0;
      for (int j = 0; j < n; j++) {
        double y = partials[j];
        if (Math.abs(x) < Math.abs(y)) {
          double t = x;
          x = y;
          y = t;
        }
        double hi = x + y;
        double lo = y - (hi - x);
        if (lo != 0.0) {
          partials[i++] = lo;
        }
        x = hi;
      }
      n = i;
      if (x != 0.0) {
        if (!Double.isFinite(x)) {
          throw new ArithmeticException("fsum of a non-finite value");  // tracked values are finite
        }
        if (n == partials.length) {
          partials = java.util.Arrays.copyOf(partials, 2 * n);
        }
        partials[n++] = x;
      }
    }
    double hi = 0.0;
    if (n > 0) {
      hi = partials[--n];
      double lo = 0.0;
      while (n > 0) {
        double x = hi;
        double y = partials[--n];
        hi = x + y;
        double yr = hi - x;
        lo = y - yr;
        if (lo != 0.0) {
          break;
        }
      }
      if (n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0))) {
        double y = lo * 2.0;
        double x = hi + y;
        double yr = x - hi;
        if (y == yr) {
          hi = x;
        }
      }
    }
    return hi;
  }

  /** statistics.fmean: fsum / n. */
  static double fmean(double[] values, int from, int to) {
    return fsum(values, from, to) / (to - from);
  }

  /** domain.features.sample_sd (n - 1). */
  static double sampleSd(double[] values, int from, int to) {
    int n = to - from;
    double mean = fsum(values, from, to) / n;
    double[] squares = new double[n];
    for (int k = 0; k < n; k++) {
      double d = values[from + k] - mean;
      squares[k] = d * d;
    }
    return Math.sqrt(fsum(squares, 0, n) / (n - 1));
  }

  /** A growable list of doubles: a family's tracked values of the outing so far. */
  static final class Values {
    double[] v = new double[16];
    int n;

    void add(double x) {
      if (n == v.length) {
        v = java.util.Arrays.copyOf(v, 2 * n);
      }
      v[n++] = x;
    }
  }

  /** domain.features._most_thrown: the most thrown fastball family, ties broken by FASTBALL_PREFERENCE. */
  static String mostThrown(Map<String, Integer> counts) {
    if (counts.isEmpty()) {
      return null;
    }
    int best = Integer.MIN_VALUE;
    for (int c : counts.values()) {
      best = Math.max(best, c);
    }
    for (String f : FASTBALL_PREFERENCE) {
      if (counts.getOrDefault(f, 0) == best) {
        return f;
      }
    }
    throw new IllegalStateException("no fastball family among " + counts.keySet());
  }

  /** domain.features.workload: as the values of its six fields, in WindowFeatures order. */
  static Object[] workload(int day, long game, List<Outing> outings) {
    long last1 = 0;
    long last3 = 0;
    long last7 = 0;
    Long daysSince = null;
    Set<Integer> pitched = new HashSet<>();
    for (Outing o : outings) {
      boolean before = o.day() < day || (o.day() == day && o.game() < game);
      int days = day - o.day();
      if (!before || days > REST_HORIZON_DAYS) {
        continue;
      }
      if (days <= 1) {  // an earlier game of the same day (a doubleheader) is day 0
        last1 += o.pitches();
      }
      if (days <= 3) {
        last3 += o.pitches();
      }
      if (days <= WORKLOAD_DAYS) {
        last7 += o.pitches();
      }
      daysSince = daysSince == null ? days : Math.min(daysSince, days);
      pitched.add(days);
    }
    return new Object[] {last1, last3, last7, daysSince, pitched.contains(0) || pitched.contains(1),
                         pitched.contains(1) && pitched.contains(2)};
  }

  /**
   * domain.features.outing_windows: the WindowFeatures values (NAMES order) of the pitches at `positions` of
   * one outing's pitches (in pitch order), in one pass.
   */
  static Map<Integer, Object[]> outingWindows(List<Pitch> outing, Set<Integer> positions, List<Outing> outings,
                                              Map<String, Baseline> baselines) {
    Map<Integer, Object[]> out = new HashMap<>();
    if (positions.isEmpty()) {
      return out;
    }
    Map<String, Integer> fixedFb = new HashMap<>();
    for (Map.Entry<String, Baseline> e : baselines.entrySet()) {
      if (isFastball(e.getKey())) {
        fixedFb.put(e.getKey(), e.getValue().n());
      }
    }
    Map<String, Integer> fbCounts = new HashMap<>();
    Map<String, Values[]> values = new HashMap<>();
    Map<Long, Long> last = new HashMap<>();
    long numbered = 0;
    // as domain.features.missing_in: the outing's first at-bat counts from his first pitch received
    long entered = outing.isEmpty() ? 0 : outing.get(0).number - 1;
    Map<Long, Object[]> works = new HashMap<>();
    int top = 0;
    for (int p : positions) {
      top = Math.max(top, p);
    }
    for (int i = 0; i <= top && i < outing.size(); i++) {
      Pitch q = outing.get(i);
      long before = last.getOrDefault(q.atBat, 0L);
      if (q.number > before) {
        numbered += q.number - before;
        last.put(q.atBat, q.number);
      }
      if (isFastball(q.family) && tracked(q.speed)) {
        fbCounts.merge(q.family, 1, Integer::sum);
      }
      Values[] own = values.computeIfAbsent(q.family, f -> new Values[] {new Values(), new Values(), new Values()});
      if (tracked(q.speed)) {
        own[0].add(q.speed);
      }
      if (tracked(q.spin)) {
        own[1].add(q.spin);
      }
      if (tracked(q.height)) {
        own[2].add(q.height);
      }
      if (!positions.contains(i)) {
        continue;
      }
      String fb = mostThrown(fixedFb.isEmpty() ? fbCounts : fixedFb);
      Values[] fbValues = fb == null ? null : values.get(fb);
      if (UNKNOWN.equals(q.family)) {
        own = null;
      }
      Object[] work = works.computeIfAbsent(q.game, g -> workload(q.day, q.game, outings));
      out.put(i, assemble(fb, fbValues == null ? null : fbValues[0], own == null ? null : own[1],
                          own == null ? null : own[2], i + 1, numbered - entered - (i + 1), work, baselines));
    }
    return out;
  }

  /** domain.features._assemble, from each window's values so far (the last `size` of them are the window). */
  static Object[] assemble(String fb, Values speeds, Values spins, Values heights, long received, long missing,
                           Object[] work, Map<String, Baseline> baselines) {
    int nFb = speeds == null ? 0 : Math.min(speeds.n, VELOCITY_WINDOW);
    int nSpin = spins == null ? 0 : Math.min(spins.n, SPIN_WINDOW);
    int nHeight = heights == null ? 0 : Math.min(heights.n, RELEASE_WINDOW);
    Double fbMean = nFb > 0 ? fmean(speeds.v, speeds.n - nFb, speeds.n) : null;
    Baseline base = fb == null ? null : baselines.get(fb);
    Double delta = fbMean != null && base != null && base.veloMean() != null ? fbMean - base.veloMean() : null;
    Double z = delta != null && base != null && base.veloSd5() != null && base.veloSd5() != 0.0
        ? delta / base.veloSd5() : null;
    Double spinCv = null;
    if (nSpin >= 2) {
      double mean = fmean(spins.v, spins.n - nSpin, spins.n);
      if (mean > 0) {
        spinCv = sampleSd(spins.v, spins.n - nSpin, spins.n) / mean;
      }
    }
    Double heightSd = nHeight >= 2 ? sampleSd(heights.v, heights.n - nHeight, heights.n) : null;
    return new Object[] {
        received, fb, (long) nFb, nFb == VELOCITY_WINDOW, fbMean, delta, z,
        (long) nSpin, nSpin == SPIN_WINDOW, spinCv,
        (long) nHeight, nHeight == RELEASE_WINDOW, heightSd, heightSd == null ? null : heightSd * heightSd,
        work[0], work[1], work[2], work[3], work[4], work[5],
        missing, received + missing > 0 ? (double) missing / (received + missing) : 0.0,
    };
  }

  static int season(int day) {
    return LocalDate.ofEpochDay(day).getYear();
  }
}
