/**
 * Flips each bit of a byte stream independently with probability `ber`.
 * Instead of a coin toss per bit it draws the gap to the next error from the
 * geometric distribution, so a realistic rate (1e-5) costs nothing per byte
 * and the errors are spread exactly as independent flips would be.
 */
export class BitErrorInjector {
  private readonly logKeep: number;
  private untilNext: number;
  /** Bits flipped so far. */
  flipped = 0;

  constructor(private readonly ber: number, private readonly random: () => number) {
    this.logKeep = ber > 0 && ber < 1 ? Math.log1p(-ber) : 0;
    this.untilNext = this.drawGap();
  }

  /** Number of error-free bits before the next flipped one. */
  private drawGap(): number {
    if (this.ber <= 0) return Number.POSITIVE_INFINITY;
    if (this.ber >= 1) return 0;
    // 1 - random() lies in (0, 1], so the logarithm is finite.
    return Math.floor(Math.log(1 - this.random()) / this.logKeep);
  }

  /** The bytes as they come out of a noisy link; the input is never modified. */
  apply(bytes: Buffer): Buffer {
    const bits = bytes.length * 8;
    if (this.untilNext >= bits) {
      this.untilNext -= bits;
      return bytes;
    }
    const out = Buffer.from(bytes);
    let position = this.untilNext;
    while (position < bits) {
      out[position >> 3] ^= 0x80 >> (position & 7);
      this.flipped++;
      position += 1 + this.drawGap();
    }
    this.untilNext = position - bits;
    return out;
  }
}
