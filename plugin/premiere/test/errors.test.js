"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const errors = require("../lib/errors");

test("each stop reads as one sentence for the editor", () => {
  assert.match(errors.noProject().message, /No project is open/);
  assert.match(errors.noSequence().message, /No sequence is active/);
  const down = errors.serverDown("http://127.0.0.1:50052", new TypeError("Network request failed"));
  assert.equal(down.kind, "server-down");
  assert.match(down.message, /not answering.*sonicvision serve --http-port 50052.*Network request failed/);
  const refused = errors.serverRefused(400, {
    error: { code: "INVALID_ARGUMENT", message: "bad prefix (field 'options.marker_rule.prefix')" },
  });
  assert.equal(refused.message, "The SonicVision server refused: INVALID_ARGUMENT: bad prefix (field 'options.marker_rule.prefix')");
  assert.equal(errors.serverRefused(502, null).message, "The SonicVision server refused: HTTP 502: no reason given");
  assert.equal(errors.serverRefused(401, { error: { message: "missing token" } }).kind, "unauthorized");
  assert.equal(
    errors.jobFailed("abc", "JOB_STATE_CANCELLED", { code: "CANCELLED", message: "cancelled on request" }).message,
    "The SonicVision job abc cancelled: CANCELLED: cancelled on request.",
  );
  assert.match(errors.importFailed(["/a.wav"]).message, /1 files\); nothing was added/);
  assert.match(errors.placeFailed(["3 sounds in the SonicVision bin"]).message, /Remove by hand: 3 sounds/);
  assert.equal(errors.placeFailed([]).message.includes("Remove by hand"), false);
});

test("describe: ours in full, anything else marked unexpected", () => {
  assert.equal(errors.describe(errors.noProject()), errors.noProject().message);
  assert.equal(errors.describe(new Error("boom")), "SonicVision stopped on an unexpected error: boom");
  assert.equal(errors.describe("plain"), "SonicVision stopped on an unexpected error: plain");
});
