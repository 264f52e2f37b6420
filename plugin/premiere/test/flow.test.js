"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const { runFoley, summaryText, progressOf } = require("../lib/flow");
const { PanelError, describe } = require("../lib/errors");
const { readOptions } = require("../lib/request");
const { fixture, makeHost, makeServer } = require("./support/mock_host");

const TPF = 10594584000n; // ticks per frame at 23.976
const OTIO_TEXT = '{"OTIO_SCHEMA": "Timeline.1", "name": "Reel 2"}';

function run(host, server, raw = {}) {
  const progress = [];
  const deps = {
    ppro: host.ppro,
    fetch: server.fetch,
    files: host.files,
    onProgress: (p) => progress.push(p),
  };
  return { progress, done: runFoley(deps, readOptions(raw)) };
}

async function rejects(promise, kind) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PanelError, String(err));
    assert.equal(err.kind, kind, err.message);
    return true;
  });
}

test("a whole run: export, submit, follow, import, one transaction", async () => {
  const host = makeHost({ otioText: OTIO_TEXT, audioTrackCount: 2 });
  const server = makeServer();
  const { progress, done } = run(host, server);
  const summary = await done;

  assert.deepEqual(summary, {
    jobId: server.submit.job_id,
    clips: 6,
    tracks: ["SV On-screen Foley", "SV Off-screen"],
    markers: 5,
    notes: ["name the new tracks by hand: SV On-screen Foley, SV Off-screen"],
  });
  // the sequence went out as OTIO, base64, asking for an OTIO result
  assert.deepEqual(host.state.exports, [["otio", "/tmp/uxp-temp/Reel 2.otio", true]]);
  const submit = server.calls.find((c) => c.method === "POST");
  assert.equal(submit.headers["Content-Type"], "application/json");
  const body = JSON.parse(submit.body);
  assert.equal(Buffer.from(body.upload.content, "base64").toString(), OTIO_TEXT);
  assert.equal(body.upload.format, "otio_json");
  assert.equal(body.job_pass, "PASS_FOLEY");
  assert.equal(body.options.output_format, "OUTPUT_FORMAT_OTIO");
  // events were asked for page after page, resuming where each ended
  const polls = server.calls.filter((c) => c.url.includes("/events"));
  assert.equal(polls.length, fixture("events.json").length);
  // the server's own files (this machine), imported into the SonicVision bin
  assert.equal(host.state.imports.length, 1);
  const [{ paths, suppressUI, bin }] = host.state.imports;
  assert.deepEqual([suppressUI, bin], [true, "SonicVision"]);
  assert.deepEqual([...paths].sort(), fixture("result.json").audio.map((a) => a.server_path).sort());
  // the bin, then ONE transaction with every clip and marker
  assert.deepEqual(host.state.transactions.map((t) => t.label), ["SonicVision: bin", "SonicVision Foley"]);
  const edit = host.state.transactions[1].actions;
  assert.equal(edit.filter((a) => a[0] === "overwrite").length, 6);
  assert.equal(edit.filter((a) => a[0] === "setInOut").length, 6);
  assert.equal(edit.filter((a) => a[0] === "addMarker").length, 5);
  const [onscreen, offscreen] = host.sequence.audioTracks.slice(2);
  assert.deepEqual(
    onscreen.clips.map((c) => c.start),
    [23n, 59n, 123n, 172n, 222n].map((f) => String(f * TPF)),
  );
  assert.deepEqual(offscreen.clips.map((c) => [c.start, c.in, c.out]), [[String(84n * TPF), "0", String(96n * TPF)]]);
  assert.deepEqual(host.sequence.markers[0], {
    name: "SV CUE: cup drop",
    type: "Comment",
    start: String(24n * TPF),
    duration: String(5n * TPF),
    comments: "cup drop",
  });
  // progress only goes forward, and ends done
  const fractions = progress.map((p) => p.fraction);
  assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b));
  assert.deepEqual(progress.at(-1), { fraction: 1, text: "done" });
  assert.match(summaryText(summary), /Added 6 sounds on 2 new audio tracks and 5 cue markers/);
});

test("tracks are named where Premiere allows it (26.3+)", async () => {
  const host = makeHost({ trackNaming: true, audioTrackCount: 1 });
  const summary = await run(host, makeServer()).done;
  assert.deepEqual(summary.notes, []);
  assert.deepEqual(host.sequence.audioTracks.map((t) => t.name), ["Audio 1", "SV On-screen Foley", "SV Off-screen"]);
  assert.equal(host.state.transactions.at(-1).label, "SonicVision: name tracks");
});

test("FCP XML when this Premiere cannot export OTIO", async () => {
  const host = makeHost({ otio: false });
  const server = makeServer();
  await run(host, server).done;
  const body = JSON.parse(server.calls.find((c) => c.method === "POST").body);
  assert.equal(body.upload.format, "fcp_xml");
  assert.equal(body.upload.filename, "Reel 2.xml");
  assert.match(Buffer.from(body.upload.content, "base64").toString(), /<xmeml/);
});

test("no project, no sequence: a message, nothing sent, nothing changed", async () => {
  for (const [opts, kind] of [
    [{ noProject: true }, "no-project"],
    [{ noSequence: true }, "no-sequence"],
  ]) {
    const host = makeHost(opts);
    const server = makeServer();
    await rejects(run(host, server).done, kind);
    assert.equal(server.calls.length, 0);
    assert.deepEqual(host.state.exports, []);
    assert.deepEqual(host.state.transactions, []);
  }
  assert.match(describe(require("../lib/errors").noSequence()), /Timeline panel/);
});

test("server down: says how to start it, changes nothing", async () => {
  const host = makeHost();
  const server = makeServer({ down: true });
  const err = await run(host, server, { server: "127.0.0.1:50052" }).done.catch((e) => e);
  assert.equal(err.kind, "server-down");
  assert.match(err.message, /http:\/\/127\.0\.0\.1:50052 is not answering/);
  assert.match(err.message, /sonicvision serve --http-port 50052/);
  assert.deepEqual(host.state.imports, []);
  assert.deepEqual(host.state.transactions, []);
});

test("a failed job: its error, no import", async () => {
  const submit = fixture("submit.json");
  const failed = {
    job_id: submit.job_id,
    seq: 3,
    state: "JOB_STATE_FAILED",
    stage: "shots",
    done: 0,
    total: 0,
    final: true,
    error: { code: "NOT_FOUND", message: "media not found (clip 'A001')" },
  };
  const pages = [{ job_id: submit.job_id, events: [failed], final: true, next_after_seq: 3 }];
  const job = { ...submit.job, state: "JOB_STATE_FAILED", error: failed.error };
  const host = makeHost();
  const err = await run(host, makeServer({ pages, job })).done.catch((e) => e);
  assert.equal(err.kind, "job-failed");
  assert.match(err.message, /job [0-9a-f]+ failed: NOT_FOUND: media not found \(clip 'A001'\)/);
  assert.deepEqual(host.state.imports, []);
  assert.deepEqual(host.state.transactions, []);
});

test("a refused edit takes the import and the new bin back out", async () => {
  const host = makeHost({ refuse: (a) => a.type === "overwrite" });
  const err = await run(host, makeServer()).done.catch((e) => e);
  assert.equal(err.kind, "place-failed");
  assert.equal(host.root.children.length, 0); // no bin, no clips
  assert.deepEqual(host.state.transactions.map((t) => t.label), ["SonicVision: bin", "SonicVision: undo import"]);
  assert.equal(host.state.transactions[1].actions.length, 7); // 6 sounds + the bin
  assert.ok(host.sequence.audioTracks.every((t) => t.clips.length === 0));
  assert.equal(host.sequence.markers.length, 0);
});

test("a partial import is taken back; an existing bin stays", async () => {
  const host = makeHost({ importOnly: 2, bins: ["SonicVision"] });
  const err = await run(host, makeServer()).done.catch((e) => e);
  assert.equal(err.kind, "import-failed");
  const bin = host.root.children.find((c) => c.name === "SonicVision");
  assert.ok(bin, "the editor's bin stays");
  assert.equal(bin.children.length, 0);
  assert.deepEqual(host.state.transactions.map((t) => t.label), ["SonicVision: undo import"]);
});

test("cues already in the sequence are not doubled", async () => {
  const host = makeHost({ existingMarkers: [{ name: "SV CUE: street pass", start: String(222n * TPF) }] });
  const summary = await run(host, makeServer()).done;
  assert.equal(summary.markers, 4);
  assert.ok(summary.notes.includes('cue "SV CUE: street pass" is already in the sequence'));
  assert.equal(host.sequence.markers.length, 5);
});

test("a remote server's files are downloaded before import", async () => {
  const host = makeHost();
  const server = makeServer();
  await run(host, server, { server: "https://gpu.example:8443", token: "tok" }).done;
  const downloads = server.calls.filter((c) => c.url.includes("/files/"));
  assert.equal(downloads.length, 6);
  assert.ok(server.calls.every((c) => c.url.startsWith("https://gpu.example:8443/v1/")));
  assert.ok(server.calls.every((c) => c.headers.Authorization === "Bearer tok"));
  assert.equal(host.files.saved.length, 6);
  assert.ok(host.state.imports[0].paths.every((p) => p.startsWith("/plugin-data/")));
});

test("a server that wants a token says so", async () => {
  const err = await run(makeHost(), makeServer({ status: 401 })).done.catch((e) => e);
  assert.equal(err.kind, "unauthorized");
  assert.match(err.message, /token/);
});

test("progress maps stages onto one bar", () => {
  assert.deepEqual(progressOf({ stage: "", done: 0, total: 0 }), { fraction: 0.02, text: "queued" });
  assert.equal(progressOf({ stage: "render", done: 1, total: 2 }).fraction, 0.7);
  assert.equal(progressOf({ stage: "render", done: 1, total: 2 }).text, "render 1/2");
});
