package dev.readiness.state;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.streaming.ExpiredTimerInfo;
import org.apache.spark.sql.streaming.OutputMode;
import org.apache.spark.sql.streaming.StatefulProcessor;
import org.apache.spark.sql.streaming.TTLConfig;
import org.apache.spark.sql.streaming.TimeMode;
import org.apache.spark.sql.streaming.TimerValues;
import org.apache.spark.sql.streaming.ValueState;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The stream's pitchers' state, keyed by pitcher: readiness_platform.transforms.features's processor
 * (PitcherFeatures, the reference, whose docstrings give the rules) in the JVM, with no Python round trip
 * per key and micro-batch. A pitch that arrives is answered at once with provisional features; when the
 * watermark passes its event time it is answered again, final, from the complete outing - by the pitcher's
 * own call if he has pitches in that batch, else when his event-time timer fires. A game's pitches are
 * summarized into an outing once the game is over or GAME_STATE_HOURS after its last pitch.
 */
public final class PitcherFeatures extends StatefulProcessor<Long, Row, Row> {
  static final long GAME_STATE_HOURS = 4;
  static final long HOUR_MS = 3_600_000L;

  /** (pitcher, season) -> family -> baseline. */
  private final Map<Long, Map<Integer, Map<String, Windows.Baseline>>> baselines;
  private transient ValueState<byte[]> state;

  PitcherFeatures(Map<Long, Map<Integer, Map<String, Windows.Baseline>>> baselines) {
    this.baselines = baselines;
  }

  /**
   * The operator over `pitches` (pitcher_id, then Pitch.COLUMNS: the date as days and the times as
   * microseconds since the epoch), under an event-time watermark; its rows are those columns, the window
   * features (`windowSchema`, JSON of a StructType) and is_final. `baselines`: one line per pitcher, season
   * and family, "pitcher\tseason\tfamily\tn\tvelo_mean\tvelo_sd5" (numbers as Python's repr, empty for None).
   */
  public static Dataset<Row> apply(Dataset<Row> pitches, String windowSchema, String baselines) {
    List<String> expected = new ArrayList<>(List.of("pitcher_id"));
    expected.addAll(Arrays.asList(Pitch.COLUMNS));
    if (!Arrays.asList(pitches.columns()).equals(expected)) {
      throw new IllegalArgumentException("the pitchers' state takes the columns " + expected + ", not "
          + Arrays.asList(pitches.columns()));
    }
    StructType window = (StructType) DataType.fromJson(windowSchema);
    if (!Arrays.asList(window.fieldNames()).equals(Windows.NAMES)) {
      throw new IllegalArgumentException("the window features are " + Windows.NAMES + ", not "
          + Arrays.asList(window.fieldNames()));
    }
    List<StructField> out = new ArrayList<>();
    for (StructField f : pitches.schema().fields()) {
      out.add(DataTypes.createStructField(f.name(), f.dataType(), true));
    }
    for (StructField f : window.fields()) {
      out.add(DataTypes.createStructField(f.name(), f.dataType(), true));
    }
    out.add(DataTypes.createStructField("is_final", DataTypes.BooleanType, true));
    return pitches.groupBy(pitches.col("pitcher_id"))
        .as(Encoders.LONG(), Encoders.row(pitches.schema()))
        .transformWithState(new PitcherFeatures(parseBaselines(baselines)), TimeMode.EventTime(),
                            OutputMode.Append(), Encoders.row(DataTypes.createStructType(out)));
  }

  static Map<Long, Map<Integer, Map<String, Windows.Baseline>>> parseBaselines(String text) {
    Map<Long, Map<Integer, Map<String, Windows.Baseline>>> out = new HashMap<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty()) {
        continue;
      }
      String[] f = line.split("\t", -1);
      out.computeIfAbsent(Long.parseLong(f[0]), k -> new HashMap<>())
          .computeIfAbsent(Integer.parseInt(f[1]), k -> new HashMap<>())
          .put(f[2], new Windows.Baseline(Integer.parseInt(f[3]), number(f[4]), number(f[5])));
    }
    return out;
  }

  private static Double number(String repr) {
    return switch (repr) {
      case "" -> null;
      case "nan" -> Double.NaN;
      case "inf" -> Double.POSITIVE_INFINITY;
      case "-inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(repr);
    };
  }

  @Override
  public void init(OutputMode outputMode, TimeMode timeMode) {
    state = getHandle().getValueState("pitcher", Encoders.BINARY(), TTLConfig.NONE());
  }

  @Override
  public Iterator<Row> handleInputRows(Long key, Iterator<Row> rows, TimerValues timerValues) {
    List<Pitch> arrived = new ArrayList<>();
    while (rows.hasNext()) {
      arrived.add(Pitch.of(rows.next()));
    }
    PitcherState st = PitcherState.load(state.exists() ? state.get() : null);
    return finish(st, call(key, st, arrived, timerValues.getCurrentWatermarkInMs()), false);
  }

  /** A pitcher with no pitch in this batch whose timer fired: the same work, if he is due. */
  @Override
  public Iterator<Row> handleExpiredTimer(Long key, TimerValues timerValues, ExpiredTimerInfo expired) {
    PitcherState st = PitcherState.load(state.exists() ? state.get() : null);
    boolean fired = st.timer != null && st.timer == expired.getExpiryTimeInMs();
    if (fired) {
      st.timer = null;  // a fired timer is gone
    }
    return finish(st, call(key, st, List.of(), timerValues.getCurrentWatermarkInMs()), fired);
  }

  /** His timer moved to his wake-up time, his state written if anything changed, his rows returned. */
  private Iterator<Row> finish(PitcherState st, List<Row> out, boolean changed) {
    Long wake = st.wakeAt();
    if (!java.util.Objects.equals(wake, st.timer)) {
      if (st.timer != null) {
        getHandle().deleteTimer(st.timer);
      }
      if (wake != null) {
        getHandle().registerTimer(wake);
      }
      st.timer = wake;
      changed = true;
    }
    if (out != null || changed) {
      state.update(st.dump());
    }
    return CollectionConverters.asScala(out == null ? List.<Row>of().iterator() : out.iterator());
  }

  /**
   * One pitcher's call: his new pitches answered (provisional), the pitches the watermark has passed
   * answered again (final), his wake-up times moved on. Null when there was nothing to do.
   */
  List<Row> call(long pitcher, PitcherState st, List<Pitch> arrived, long watermark) {
    List<Pitch> fresh = new ArrayList<>();
    if (!arrived.isEmpty()) {
      Set<Pitch.Key> known = new HashSet<>();
      for (Pitch p : st.pitches) {
        known.add(p.key());
      }
      for (Pitch p : arrived) {
        if (known.add(p.key())) {  // else a duplicate the pitcher's state has already seen
          fresh.add(p);
        }
      }
      st.pitches.addAll(fresh);
    }
    List<Pitch> due = due(st, watermark);
    Long wake = st.wakeAt();
    boolean woken = wake != null && wake <= watermark;
    if (fresh.isEmpty() && due.isEmpty() && !woken) {
      return null;
    }
    List<Pitch> targets = new ArrayList<>(fresh);
    targets.addAll(due);
    Map<Pitch.Key, Object[]> windows = windows(pitcher, st, targets);
    List<Row> out = rows(pitcher, fresh, windows, false);
    if (!due.isEmpty() || woken) {
      out.addAll(advance(pitcher, st, watermark, due, windows));
    }
    schedule(st, watermark);
    return out;
  }

  /**
   * His two wake-up times: one finalizes his pitches if he stops pitching, at the latest pitch not yet
   * final, kept while it is still to come; the other is the game expiry, rounded up to the hour.
   */
  static void schedule(PitcherState st, long watermark) {
    long limit = st.finalBefore();
    Long latestPending = null;
    Long latest = latest(st.pitches);
    for (Pitch p : st.pitches) {
      if (p.time >= limit) {
        latestPending = latestPending == null ? p.time : Math.max(latestPending, p.time);
      }
    }
    Long finalAt = null;
    if (latestPending != null) {
      finalAt = st.finalAt != null && st.finalAt > watermark ? st.finalAt : Math.floorDiv(latestPending, 1000L);
    }
    Long expiryAt = null;
    if (latest != null) {
      long quiet = Math.floorDiv(latest, 1000L) + GAME_STATE_HOURS * HOUR_MS;
      expiryAt = -Math.floorDiv(-quiet, HOUR_MS) * HOUR_MS;
    }
    st.finalAt = finalAt;
    st.expiryAt = expiryAt;
  }

  /** Stored outings, plus the other games still held in state (summarized the same way). */
  static List<Windows.Outing> outingsFor(List<Pitch> pitches, List<Windows.Outing> stored, long game) {
    Map<List<Long>, Set<List<Long>>> held = new LinkedHashMap<>();
    for (Pitch p : pitches) {
      if (p.game != game) {
        held.computeIfAbsent(List.of((long) p.day, p.game), k -> new HashSet<>()).add(List.of(p.atBat, p.number));
      }
    }
    List<Windows.Outing> out = new ArrayList<>(stored);
    held.forEach((dayGame, keys) -> out.add(new Windows.Outing(dayGame.get(0).intValue(), dayGame.get(1), keys.size())));
    return out;
  }

  /** The window features of each target pitch, from its game's pitches held: one pass per game and season. */
  Map<Pitch.Key, Object[]> windows(long pitcher, PitcherState st, List<Pitch> targets) {
    Map<List<Long>, List<Pitch>> groups = new LinkedHashMap<>();
    for (Pitch p : targets) {
      groups.computeIfAbsent(List.of(p.game, (long) Windows.season(p.day)), k -> new ArrayList<>()).add(p);
    }
    Map<Long, Game> games = new HashMap<>();  // each game sorted once; a pitch's features read its prefix
    Map<Pitch.Key, Object[]> out = new HashMap<>();
    Map<Integer, Map<String, Windows.Baseline>> own = baselines.getOrDefault(pitcher, Map.of());
    for (Map.Entry<List<Long>, List<Pitch>> e : groups.entrySet()) {
      long game = e.getKey().get(0);
      int season = e.getKey().get(1).intValue();
      Game held = games.computeIfAbsent(game, g -> Game.of(st.pitches, g));
      Map<Pitch.Key, Integer> at = held.at();
      Set<Integer> places = new HashSet<>();
      for (Pitch p : e.getValue()) {
        places.add(at.get(p.key()));
      }
      Map<Integer, Object[]> computed = Windows.outingWindows(held.pitches(), places, outingsFor(st.pitches, st.outings, game),
                                                              own.getOrDefault(season, Map.of()));
      for (Pitch p : e.getValue()) {
        out.put(p.key(), computed.get(at.get(p.key())));
      }
    }
    return out;
  }

  /** A game's held pitches in pitch order, and each one's place among them. */
  record Game(List<Pitch> pitches, Map<Pitch.Key, Integer> at) {
    static Game of(List<Pitch> held, long game) {
      List<Pitch> of = new ArrayList<>();
      for (Pitch q : held) {
        if (q.game == game) {
          of.add(q);
        }
      }
      of.sort(Pitch.IN_GAME);
      Map<Pitch.Key, Integer> at = new HashMap<>();
      for (int i = 0; i < of.size(); i++) {
        at.put(of.get(i).key(), i);
      }
      return new Game(of, at);
    }
  }

  /** The latest event time (us) among these pitches, null for none. */
  static Long latest(List<Pitch> pitches) {
    Long out = null;
    for (Pitch p : pitches) {
      out = out == null ? p.time : Math.max(out, p.time);
    }
    return out;
  }

  static List<Row> rows(long pitcher, List<Pitch> pitches, Map<Pitch.Key, Object[]> windows, boolean fin) {
    List<Row> out = new ArrayList<>(pitches.size());
    int n = Pitch.COLUMNS.length;
    for (Pitch p : pitches) {
      Object[] w = windows.get(p.key());
      Object[] values = new Object[2 + n + w.length];
      values[0] = pitcher;
      p.into(values, 1);
      System.arraycopy(w, 0, values, 1 + n, w.length);
      values[values.length - 1] = fin;
      out.add(RowFactory.create(values));
    }
    return out;
  }

  /** The pitches awaiting their final row that the watermark (ms) has passed. */
  static List<Pitch> due(PitcherState st, long watermark) {
    long first = st.finalBefore();
    long end = (watermark + 1) * 1000;
    List<Pitch> out = new ArrayList<>();
    for (Pitch p : st.pitches) {
      if (first <= p.time && p.time < end) {
        out.add(p);
      }
    }
    return out;
  }

  /** Final rows of the due pitches (their windows given); games quiet for GAME_STATE_HOURS summarized. */
  List<Row> advance(long pitcher, PitcherState st, long watermark, List<Pitch> due, Map<Pitch.Key, Object[]> windows) {
    List<Row> out = new ArrayList<>();
    if (!due.isEmpty()) {
      List<Pitch> ordered = new ArrayList<>(due);
      ordered.sort(Pitch.IN_SEASON);
      out = rows(pitcher, ordered, windows, true);
      st.finalized = watermark;
    }
    Long quietSince = latest(st.pitches);
    if (quietSince != null && Math.floorDiv(quietSince, 1000L) + GAME_STATE_HOURS * HOUR_MS <= watermark
        && quietSince < st.finalBefore()) {
      summarize(st, st.pitches);  // every game of his has been quiet for GAME_STATE_HOURS
      st.pitches = new ArrayList<>();
      st.finalized = -1;
    } else if (!due.isEmpty()) {
      Set<Long> over = over(st.pitches, st.finalBefore());
      if (!over.isEmpty()) {
        List<Pitch> done = new ArrayList<>();
        List<Pitch> kept = new ArrayList<>();
        for (Pitch p : st.pitches) {
          (over.contains(p.game) ? done : kept).add(p);
        }
        summarize(st, done);
        st.pitches = kept;
      }
    }
    return out;
  }

  /**
   * Games that are over: every pitch final, and the pitcher has since thrown a final pitch in another game
   * (a pitcher is in one game at a time, so no on-time pitch of such a game can come any more).
   */
  static Set<Long> over(List<Pitch> pitches, long finalBefore) {
    Long latest = null;
    Map<Long, long[]> games = new LinkedHashMap<>();  // game -> {its last pitch's time, all final (1/0)}
    for (Pitch p : pitches) {
      if (p.time < finalBefore) {
        latest = latest == null ? p.time : Math.max(latest, p.time);
      }
      long[] g = games.computeIfAbsent(p.game, k -> new long[] {p.time, 1});
      g[0] = Math.max(g[0], p.time);
      g[1] = g[1] == 1 && p.time < finalBefore ? 1 : 0;
    }
    Set<Long> out = new HashSet<>();
    if (latest == null || games.size() < 2) {
      return out;
    }
    for (Map.Entry<Long, long[]> e : games.entrySet()) {
      if (e.getValue()[1] == 1 && e.getValue()[0] < latest) {
        out.add(e.getKey());
      }
    }
    return out;
  }

  /** Fold these pitches' games into the pitcher's outings (those within REST_HORIZON_DAYS kept). */
  static void summarize(PitcherState st, List<Pitch> pitches) {
    List<Windows.Outing> outings = outingsFor(pitches, st.outings, -1);
    int newest = Integer.MIN_VALUE;
    for (Windows.Outing o : outings) {
      newest = Math.max(newest, o.day());
    }
    List<Windows.Outing> kept = new ArrayList<>();
    for (Windows.Outing o : outings) {
      if (newest - o.day() <= Windows.REST_HORIZON_DAYS) {
        kept.add(o);
      }
    }
    st.outings = kept;
  }
}
