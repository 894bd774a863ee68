package dev.readiness.state;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * What the processor keeps per pitcher (one binary value): the pitches of the games in play, the summaries
 * of recent outings, his two wake-up times, the event-time timer registered and `finalized`. Lossless.
 */
final class PitcherState {
  static final int VERSION = 1;

  List<Pitch> pitches = new ArrayList<>();
  List<Windows.Outing> outings = new ArrayList<>();
  Long finalAt;  // ms at which to finalize his pitches
  Long expiryAt;  // ms at which to summarize his quiet games
  Long timer;  // the timer registered (ms), if any
  // A pitch is final once its event time is at or behind `finalized`, the watermark of the last
  // finalization. Spark drops rows behind the previous watermark before they reach the processor, so no
  // pitch can arrive at or behind `finalized`.
  long finalized = -1;

  /** A held pitch is final when its time (us) is below this. */
  long finalBefore() {
    return (finalized + 1) * 1000;
  }

  /** When he must be called back if he has no pitch by then (ms): the earlier of his two times. */
  Long wakeAt() {
    if (finalAt == null) {
      return expiryAt;
    }
    return expiryAt == null ? finalAt : Math.min(finalAt, expiryAt);
  }

  byte[] dump() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + 96 * pitches.size());
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(VERSION);
      out.writeLong(finalized);
      Pitch.writeLong(out, finalAt);
      Pitch.writeLong(out, expiryAt);
      Pitch.writeLong(out, timer);
      out.writeInt(outings.size());
      for (Windows.Outing o : outings) {
        out.writeInt(o.day());
        out.writeLong(o.game());
        out.writeInt(o.pitches());
      }
      out.writeInt(pitches.size());
      for (Pitch p : pitches) {
        p.write(out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static PitcherState load(byte[] raw) {
    PitcherState st = new PitcherState();
    if (raw == null) {
      return st;
    }
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(raw))) {
      int version = in.readInt();
      if (version != VERSION) {
        throw new IllegalStateException("pitcher state of version " + version + ", this build reads " + VERSION);
      }
      st.finalized = in.readLong();
      st.finalAt = Pitch.readLong(in);
      st.expiryAt = Pitch.readLong(in);
      st.timer = Pitch.readLong(in);
      for (int i = in.readInt(); i > 0; i--) {
        st.outings.add(new Windows.Outing(in.readInt(), in.readLong(), in.readInt()));
      }
      for (int i = in.readInt(); i > 0; i--) {
        st.pitches.add(Pitch.read(in));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return st;
  }
}
