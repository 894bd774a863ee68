package dev.readiness.state;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Comparator;
import org.apache.spark.sql.Row;

/**
 * A pitch as the pitcher state holds it: the stream's pitch columns (PITCH_NAMES of
 * readiness_platform.transforms.features), with the game's date as days since the epoch and the times as
 * microseconds since the epoch (UTC) - the form the operator's input and output rows carry them in.
 */
final class Pitch {
  /** The input and output columns of a pitch, after `pitcher_id`, in this order. */
  static final String[] COLUMNS = {
      "game_pk", "at_bat_number", "pitch_number", "game_date", "event_time", "ingest_time", "pitch_family",
      "release_speed", "release_spin_rate", "release_pos_z", "pfx_x", "pfx_z", "tracking_system_id", "home_team"};

  /** PitchObs.order within one game, and across games. */
  static final Comparator<Pitch> IN_GAME = Comparator.<Pitch>comparingInt(p -> p.day)
      .thenComparingLong(p -> p.atBat).thenComparingLong(p -> p.number);
  static final Comparator<Pitch> IN_SEASON = Comparator.<Pitch>comparingInt(p -> p.day)
      .thenComparingLong(p -> p.game).thenComparingLong(p -> p.atBat).thenComparingLong(p -> p.number);

  record Key(long game, long atBat, long number) {}

  long game;
  long atBat;
  long number;
  int day;
  long time;
  Long ingest;
  String family;
  Double speed;
  Double spin;
  Double height;
  Double pfxX;
  Double pfxZ;
  String system;
  String home;

  Key key() {
    return new Key(game, atBat, number);
  }

  /** From an input row: pitcher_id, then COLUMNS. */
  static Pitch of(Row row) {
    Pitch p = new Pitch();
    p.game = row.getLong(1);
    p.atBat = row.getLong(2);
    p.number = row.getLong(3);
    p.day = row.getInt(4);
    p.time = row.getLong(5);
    p.ingest = row.isNullAt(6) ? null : row.getLong(6);
    p.family = row.isNullAt(7) ? null : row.getString(7);
    p.speed = row.isNullAt(8) ? null : row.getDouble(8);
    p.spin = row.isNullAt(9) ? null : row.getDouble(9);
    p.height = row.isNullAt(10) ? null : row.getDouble(10);
    p.pfxX = row.isNullAt(11) ? null : row.getDouble(11);
    p.pfxZ = row.isNullAt(12) ? null : row.getDouble(12);
    p.system = row.isNullAt(13) ? null : row.getString(13);
    p.home = row.isNullAt(14) ? null : row.getString(14);
    return p;
  }

  /** Its COLUMNS values into out[at..]. */
  void into(Object[] out, int at) {
    Object[] v = {game, atBat, number, day, time, ingest, family, speed, spin, height, pfxX, pfxZ, system, home};
    System.arraycopy(v, 0, out, at, v.length);
  }

  void write(DataOutputStream out) throws IOException {
    out.writeLong(game);
    out.writeLong(atBat);
    out.writeLong(number);
    out.writeInt(day);
    out.writeLong(time);
    writeLong(out, ingest);
    writeString(out, family);
    for (Double d : new Double[] {speed, spin, height, pfxX, pfxZ}) {
      out.writeBoolean(d != null);
      if (d != null) {
        out.writeDouble(d);  // NaN kept as NaN: the row carries what came in
      }
    }
    writeString(out, system);
    writeString(out, home);
  }

  static Pitch read(DataInputStream in) throws IOException {
    Pitch p = new Pitch();
    p.game = in.readLong();
    p.atBat = in.readLong();
    p.number = in.readLong();
    p.day = in.readInt();
    p.time = in.readLong();
    p.ingest = readLong(in);
    p.family = readString(in);
    p.speed = readDouble(in);
    p.spin = readDouble(in);
    p.height = readDouble(in);
    p.pfxX = readDouble(in);
    p.pfxZ = readDouble(in);
    p.system = readString(in);
    p.home = readString(in);
    return p;
  }

  static void writeLong(DataOutputStream out, Long v) throws IOException {
    out.writeBoolean(v != null);
    if (v != null) {
      out.writeLong(v);
    }
  }

  static Long readLong(DataInputStream in) throws IOException {
    return in.readBoolean() ? in.readLong() : null;
  }

  static Double readDouble(DataInputStream in) throws IOException {
    return in.readBoolean() ? in.readDouble() : null;
  }

  static void writeString(DataOutputStream out, String v) throws IOException {
    out.writeBoolean(v != null);
    if (v != null) {
      out.writeUTF(v);
    }
  }

  static String readString(DataInputStream in) throws IOException {
    return in.readBoolean() ? in.readUTF() : null;
  }
}
