"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const ticks = require("../lib/ticks");

const TPS = 254016000000n;

test("ticks per frame are exact at the rates editors use", () => {
  assert.equal(ticks.TICKS_PER_SECOND, TPS);
  assert.equal(ticks.ticksPerFrame(23.976), 10594584000n);
  assert.equal(ticks.ticksPerFrame(24000 / 1001), 10594584000n);
  assert.equal(ticks.ticksPerFrame("23.976"), 10594584000n);
  assert.equal(ticks.ticksPerFrame(24), 10584000000n);
  assert.equal(ticks.ticksPerFrame(25), 10160640000n);
  assert.equal(ticks.ticksPerFrame("29.97 DF"), 8475667200n);
  assert.equal(ticks.ticksPerFrame(30), 8467200000n);
  assert.equal(ticks.ticksPerFrame(59.94), 4237833600n);
  for (const rate of [23.976, 24, 25, 29.97, 30, 50, 59.94, 60]) {
    const { num, den } = ticks.rateFraction(rate);
    assert.equal((TPS * den) % num, 0n, `${rate} fps divides the tick rate`);
  }
});

test("rates read from numbers, Resolve/Premiere strings and fractions", () => {
  assert.deepEqual(ticks.rateFraction("30000/1001"), { num: 30000n, den: 1001n });
  assert.deepEqual(ticks.rateFraction("29.97 NDF"), { num: 30000n, den: 1001n });
  assert.deepEqual(ticks.rateFraction("59.94DF"), { num: 60000n, den: 1001n });
  assert.deepEqual(ticks.rateFraction(25), { num: 25n, den: 1n });
  assert.deepEqual(ticks.rateFraction(12.5), { num: 25n, den: 2n });
  assert.deepEqual(ticks.rateFraction({ num: 48000, den: 2002 }), { num: 24000n, den: 1001n });
  for (const bad of [0, -24, NaN, "fast", "", null]) {
    assert.throws(() => ticks.rateFraction(bad), RangeError, String(bad));
  }
});

test("an hour of frames stays exact: no drift at 01:00:00:00", () => {
  // 01:00:00:00 non-drop at 23.976 is frame 86400; drop-frame 01:00:00;00 at 29.97 is 107892
  assert.equal(ticks.framesToTicks(86400, 23.976), 86400n * 10594584000n);
  assert.equal(ticks.framesToTicks(107892, "29.97 DF"), 107892n * 8475667200n);
  assert.equal(ticks.framesToTicks(90000, 25), 90000n * 10160640000n);
  // 107892 drop frames are 3599.9964 s: never a whole hour
  assert.equal(ticks.framesToTicks(107892, 29.97), 914456685542400n);
  assert.notEqual(ticks.framesToTicks(107892, 29.97), TPS * 3600n);
  // past Number's exact range (2^53) the math stays exact
  assert.equal(ticks.framesToTicks(10n ** 9n, 23.976), 10n ** 9n * 10594584000n);
});

test("frames and ticks round-trip; half a frame rounds up", () => {
  for (const rate of [23.976, 25, "29.97 DF", 59.94]) {
    for (const frame of [0, 1, 2, 1799, 1800, 17982, 107892, 215784]) {
      assert.equal(ticks.ticksToFrames(ticks.framesToTicks(frame, rate), rate), BigInt(frame));
    }
  }
  const half = ticks.ticksPerFrame(25) / 2n;
  assert.equal(ticks.ticksToFrames(10n * ticks.ticksPerFrame(25) + half, 25), 11n);
  assert.equal(ticks.ticksToFrames(10n * ticks.ticksPerFrame(25) + half - 1n, 25), 10n);
  assert.throws(() => ticks.framesToTicks(1.5, 25), RangeError);
  assert.equal(ticks.framesToTicks(3n, 25), 3n * 10160640000n);
});

test("seconds and timebases", () => {
  assert.equal(ticks.secondsToTicks(1), TPS);
  assert.equal(ticks.secondsToTicks(0.5), TPS / 2n);
  assert.equal(ticks.secondsToTicks(3600), TPS * 3600n);
  assert.deepEqual(ticks.rateFromTimebase("10594584000"), { num: 24000n, den: 1001n });
  assert.deepEqual(ticks.rateFromTimebase("8475667200"), { num: 30000n, den: 1001n });
  assert.deepEqual(ticks.rateFromTimebase("10160640000"), { num: 25n, den: 1n });
});

test("OTIO times become whole frames at the sequence rate", () => {
  assert.equal(ticks.timeToFrames({ value: 240, rate: 23.976 }, 23.976), 240);
  assert.equal(ticks.timeToFrames({ value: 240, rate: 23.976023976023978 }, "23.976"), 240);
  assert.equal(ticks.timeToFrames({ value: 10.5, rate: 25 }, 25), 11);
  assert.equal(ticks.timeToFrames({ value: 12.5, rate: 25 }, 25), 13); // up, not to even
  assert.equal(ticks.timeToFrames({ value: 48, rate: 48 }, 25), 25); // other rates rescale
  assert.equal(ticks.timeToFrames({ value: 1001, rate: 24000 }, { num: 24000, den: 1001 }), 1);
  assert.throws(() => ticks.timeToFrames({ value: 1, rate: 0 }, 25), RangeError);
});
