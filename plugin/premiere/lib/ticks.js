"use strict";
/**
 * Premiere time as exact integers. Premiere counts 254016000000 ticks per second, a number
 * every common frame rate divides (23.976 = 24000/1001 fps is 10594584000 ticks a frame), so
 * frames become ticks exactly with BigInt; floats would drift by the end of an hour-long reel.
 */

const TICKS_PER_SECOND = 254016000000n;
const NTSC = [
  [23.976, 24000n],
  [23.98, 24000n],
  [29.97, 30000n],
  [47.952, 48000n],
  [59.94, 60000n],
  [119.88, 120000n],
];

function gcd(a, b) {
  while (b) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

function reduce(num, den) {
  if (den <= 0n || num <= 0n) throw new RangeError(`not a frame rate: ${num}/${den}`);
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}

/** A frame rate as an exact fraction {num, den} of BigInts: 23.976, "29.97 DF", "30000/1001". */
function rateFraction(rate) {
  if (rate && typeof rate === "object" && "num" in rate) {
    return reduce(BigInt(rate.num), BigInt(rate.den));
  }
  if (typeof rate === "string") {
    const text = rate.trim().toUpperCase().replace(/\s*N?DF$/, "");
    const slash = text.match(/^(\d+)\s*\/\s*(\d+)$/);
    if (slash) return reduce(BigInt(slash[1]), BigInt(slash[2]));
    if (!/^\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a frame rate: ${rate}`);
    return rateFraction(Number(text));
  }
  if (typeof rate !== "number" || !Number.isFinite(rate) || rate <= 0) {
    throw new RangeError(`not a frame rate: ${rate}`);
  }
  for (const [decimal, num] of NTSC) {
    if (Math.abs(rate - decimal) < 1e-3) return { num, den: 1001n };
  }
  for (const den of [1, 1000, 1001, 100, 10000]) {
    const num = Math.round(rate * den);
    if (Math.abs(rate * den - num) < 1e-6 * den) return reduce(BigInt(num), BigInt(den));
  }
  throw new RangeError(`frame rate ${rate} has no exact fraction`);
}

/** a / b rounded half up, for BigInts with b > 0. */
function divRound(a, b) {
  const q = a / b;
  const r = a - q * b;
  if (a >= 0n) return 2n * r >= b ? q + 1n : q;
  return 2n * -r > b ? q - 1n : q;
}

function toBigInt(frames) {
  if (typeof frames === "bigint") return frames;
  if (!Number.isInteger(frames)) throw new RangeError(`frames must be whole: ${frames}`);
  return BigInt(frames);
}

/** Ticks in one frame; exact for every rate Premiere offers. */
function ticksPerFrame(rate) {
  const { num, den } = rateFraction(rate);
  return divRound(TICKS_PER_SECOND * den, num);
}

/** Whole frames at ``rate`` as ticks, computed from the exact rate (never via seconds). */
function framesToTicks(frames, rate) {
  const { num, den } = rateFraction(rate);
  return divRound(toBigInt(frames) * TICKS_PER_SECOND * den, num);
}

/** Ticks as the nearest whole frame at ``rate`` (half a frame rounds up). */
function ticksToFrames(ticks, rate) {
  const { num, den } = rateFraction(rate);
  return divRound(BigInt(ticks) * num, TICKS_PER_SECOND * den);
}

/** Seconds (a Number) as ticks, to the microsecond (254016 ticks each). */
function secondsToTicks(seconds) {
  if (!Number.isFinite(seconds)) throw new RangeError(`not a time: ${seconds}`);
  return BigInt(Math.round(seconds * 1e6)) * (TICKS_PER_SECOND / 1000000n);
}

/** The rate a Premiere timebase (ticks per frame, as ``sequence.getTimebase()`` gives it) means. */
function rateFromTimebase(ticksPerFrameText) {
  return reduce(TICKS_PER_SECOND, BigInt(String(ticksPerFrameText).trim()));
}

/**
 * An OTIO RationalTime ({value, rate}) as whole frames at ``rate``: a time already at that
 * rate (23.976 written as 23.976 or 23.976023976...) keeps its frame count; any other rate is
 * rescaled first. Returns a Number.
 */
function timeToFrames(time, rate) {
  const target = rateFraction(rate);
  const targetFps = Number(target.num) / Number(target.den);
  if (!(time.rate > 0)) throw new RangeError(`time has no rate: ${JSON.stringify(time)}`);
  if (Math.abs(time.rate - targetFps) < 1e-3) return Math.floor(time.value + 0.5);
  return Math.floor((time.value * targetFps) / time.rate + 0.5);
}

module.exports = {
  TICKS_PER_SECOND,
  rateFraction,
  ticksPerFrame,
  framesToTicks,
  ticksToFrames,
  secondsToTicks,
  rateFromTimebase,
  timeToFrames,
  divRound,
};
