"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const request = require("../lib/request");
const { PanelError } = require("../lib/errors");

test("base64 matches the standard encoding at every padding length", () => {
  for (let n = 0; n <= 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n * 31) & 255);
    assert.equal(request.toBase64(bytes), Buffer.from(bytes).toString("base64"), `length ${n}`);
  }
  const big = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 7919) & 255);
  assert.equal(request.toBase64(big), Buffer.from(big).toString("base64"));
  assert.equal(request.toBase64(big.buffer), Buffer.from(big).toString("base64"));
});

test("server URLs: loopback over http, anything else only over https", () => {
  assert.equal(request.normalizeServerUrl(""), "http://127.0.0.1:50052");
  assert.equal(request.normalizeServerUrl("127.0.0.1:50052"), "http://127.0.0.1:50052");
  assert.equal(request.normalizeServerUrl("http://localhost:8080/"), "http://localhost:8080");
  assert.equal(request.normalizeServerUrl("https://gpu.example:443"), "https://gpu.example");
  assert.equal(request.isLoopback("http://localhost:1"), true);
  assert.equal(request.isLoopback("https://gpu.example"), false);
  for (const bad of ["http://gpu.example:50052", "ftp://127.0.0.1", "http://127.0.0.1/v1/jobs", "::"]) {
    assert.throws(() => request.normalizeServerUrl(bad), PanelError, bad);
  }
});

test("options are checked", () => {
  const options = request.readOptions({ server: "", pass: "Render", markerPrefix: "FX:", token: " t " });
  assert.deepEqual(options, {
    serverUrl: "http://127.0.0.1:50052",
    jobPass: "render",
    markerPrefix: "FX:",
    guideAudio: "auto",
    minConfidence: 0,
    token: "t",
  });
  assert.equal(request.readOptions({}).markerPrefix, "SFX:");
  assert.equal(request.readOptions({ markerPrefix: "" }).markerPrefix, ""); // prefixes off
  assert.throws(() => request.readOptions({ pass: "mix" }), /Pass: choose one of foley/);
  assert.equal(request.readOptions({ guideAudio: "Only" }).guideAudio, "only");
  assert.throws(() => request.readOptions({ guideAudio: "loud" }), /Guide audio: choose one of auto, off, only/);
});

test("least confidence is a number from 0 to 1, empty is 0", () => {
  for (const [typed, value] of [["", 0], [" 0.5 ", 0.5], [".25", 0.25], ["1", 1], ["0", 0], [0.7, 0.7]]) {
    assert.equal(request.readOptions({ minConfidence: typed }).minConfidence, value, JSON.stringify(typed));
  }
  assert.equal(request.readOptions({}).minConfidence, 0);
  for (const bad of ["1.5", "-0.1", "half", "0,5", "0x1", "1e-1", "NaN", "Infinity"]) {
    assert.throws(
      () => request.readOptions({ minConfidence: bad }),
      (err) => err instanceof PanelError && err.message === `Least confidence: "${bad}" is not a number from 0 to 1 (0 keeps every impact cue)`,
      bad,
    );
  }
});

test("the submit JSON mirrors SubmitJobRequest", () => {
  const bytes = new TextEncoder().encode('{"OTIO_SCHEMA": "Timeline.1"}');
  const options = request.readOptions({ pass: "analyze", markerPrefix: "SFX:" });
  const body = request.buildSubmit({ bytes, format: "otio", sequenceName: "Reel 2", options });
  assert.deepEqual(body, {
    upload: {
      filename: "Reel 2.otio",
      format: "otio_json",
      content: Buffer.from(bytes).toString("base64"),
    },
    job_pass: "PASS_ANALYZE",
    options: {
      marker_rule: { prefix: "SFX:" },
      guide_audio: "GUIDE_AUDIO_AUTO",
      min_confidence: 0,
      output_format: "OUTPUT_FORMAT_OTIO",
    },
    idempotency_key: "",
  });
  const surer = request.readOptions({ minConfidence: "0.5" });
  assert.equal(request.buildSubmit({ bytes, format: "otio", options: surer }).options.min_confidence, 0.5);
  for (const [mode, name] of Object.entries(request.GUIDE_AUDIO)) {
    const guided = request.readOptions({ guideAudio: mode });
    assert.equal(request.buildSubmit({ bytes, format: "otio", options: guided }).options.guide_audio, name);
  }
  // The names are the proto's GuideAudio values, as the HTTP face parses them.
  const proto = require("node:fs").readFileSync(
    require("node:path").join(__dirname, "../../../proto/sonicvision/v1/jobs.proto"),
    "utf8",
  );
  const guideEnum = proto.slice(proto.indexOf("enum GuideAudio"), proto.indexOf("}", proto.indexOf("enum GuideAudio")));
  for (const name of Object.values(request.GUIDE_AUDIO)) assert.match(guideEnum, new RegExp(`\\b${name} = \\d+;`));
  assert.match(proto, /GuideAudio guide_audio = \d+;/);
  // min_confidence: a JSON number the HTTP face parses into FoleyOptions' optional double.
  const foley = proto.slice(proto.indexOf("message FoleyOptions"), proto.indexOf("\n}", proto.indexOf("message FoleyOptions")));
  assert.match(foley, /\boptional double min_confidence = \d+;/);
  const xml = request.buildSubmit({ bytes, format: "fcp_xml", sequenceName: "A/B", options });
  assert.equal(xml.upload.filename, "A_B.xml");
  assert.equal(xml.upload.format, "fcp_xml");
  assert.throws(() => request.buildSubmit({ bytes: new Uint8Array(), format: "otio", options }));
});

test("upload names are ones the server accepts", () => {
  assert.equal(request.uploadName("..hidden", "otio"), "hidden.otio");
  assert.equal(request.uploadName("", "otio"), "sequence.otio");
  assert.equal(request.uploadName("a\\b\u0001c", "fcp_xml"), "a_b_c.xml");
  assert.equal(request.uploadName("x".repeat(300), "otio").length, 125);
  assert.throws(() => request.uploadName("x", "edl"), RangeError);
});

test("headers carry JSON and the token", () => {
  assert.deepEqual(request.headers("", true), { "Content-Type": "application/json" });
  assert.deepEqual(request.headers("abc", false), { Authorization: "Bearer abc" });
});
