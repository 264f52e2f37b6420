"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const place = require("../lib/place");
const { fixture, makeHost } = require("./support/mock_host");

const TPS = 254016000000n;
/** Ticks for whole frames at num/den fps, computed here independently of lib/ticks.js. */
const at = (frames, num, den) => ((BigInt(frames) * TPS * BigInt(den)) / BigInt(num)).toString();

// A result as the server writes it, in OTIO JSON: our tracks (gaps and clips), cue markers.
function rt(value, rate) {
  return { OTIO_SCHEMA: "RationalTime.1", rate, value };
}
function range(start, duration, rate) {
  return { OTIO_SCHEMA: "TimeRange.1", start_time: rt(start, rate), duration: rt(duration, rate) };
}
function gap(frames, rate) {
  return { OTIO_SCHEMA: "Gap.1", metadata: {}, name: "", source_range: range(0, frames, rate) };
}
function clip(name, frames, rate, url) {
  return {
    OTIO_SCHEMA: "Clip.2",
    metadata: { sonicvision: { event: { cue_id: name } } },
    name,
    source_range: range(0, frames, rate),
    media_references: {
      DEFAULT_MEDIA: {
        OTIO_SCHEMA: "ExternalReference.1",
        metadata: { sonicvision: { channels: 2 } },
        target_url: url,
      },
    },
    active_media_reference_key: "DEFAULT_MEDIA",
  };
}
function synthetic(rate, start) {
  const timeline = {
    OTIO_SCHEMA: "Timeline.1",
    name: "cut",
    global_start_time: rt(start, rate),
    tracks: {
      OTIO_SCHEMA: "Stack.1",
      markers: [
        {
          OTIO_SCHEMA: "Marker.2",
          name: "SV CUE: door",
          comment: "door",
          color: "CYAN",
          metadata: { sonicvision: { cue: { cue_id: "s0e0", text: "door" } } },
          marked_range: range(1800, 12, rate),
        },
        { OTIO_SCHEMA: "Marker.2", name: "editor note", metadata: {}, marked_range: range(5, 1, rate) },
      ],
      children: [
        { OTIO_SCHEMA: "Track.1", name: "V1", kind: "Video", metadata: {}, children: [gap(4000, rate)] },
        {
          OTIO_SCHEMA: "Track.1",
          name: "SV On-screen Foley",
          kind: "Audio",
          metadata: { sonicvision: { kind: "onscreen", lane: 0 } },
          children: [
            gap(1800, rate),
            clip("door.wav", 12, rate, "file:///C:/Sounds/door%20slam.wav"),
            gap(100, rate),
            clip("step.wav", 7, rate, "file:///srv/sv/step.wav"),
          ],
        },
      ],
    },
  };
  return {
    job_id: "j",
    timeline: { text: JSON.stringify(timeline) },
    audio: [{ timeline_url: "file:///srv/sv/step.wav", server_path: "/srv/sv/step.wav", url: "/f/step" }],
  };
}

test("the recorded result reads as our tracks and cues in whole frames", () => {
  const read = place.resultTimeline(fixture("result.json"));
  assert.equal(read.rate, 23.976023976023978);
  assert.deepEqual(
    read.tracks.map((t) => [t.name, t.kind, t.clips.map((c) => [c.recordFrames, c.durationFrames])]),
    [
      ["SV On-screen Foley", "onscreen", [[23, 18], [59, 18], [123, 9], [172, 28], [222, 37]]],
      ["SV Off-screen", "offscreen", [[84, 96]]],
    ],
  );
  assert.deepEqual(
    read.markers.map((m) => [m.name, m.startFrames, m.durationFrames, m.comments]),
    [
      ["SV CUE: cup drop", 24, 5, "cup drop"],
      ["SV CUE: cup drop", 60, 5, "cup drop"],
      ["SV CUE: table knock", 124, 5, "table knock"],
      ["SV CUE: table knock", 172, 28, "table knock"],
      ["SV CUE: street pass", 222, 37, "street pass"],
    ],
  ); // the editor's own SFX marker is not among them
  const paths = new Set(fixture("result.json").audio.map((a) => a.server_path));
  for (const c of read.tracks.flatMap((t) => t.clips)) assert.ok(paths.has(c.path), c.path);
});

test("23.976 plan: exact ticks, new tracks after the existing ones", () => {
  const plan = place.planPlacement(fixture("result.json"), {
    sequenceRate: { num: 24000n, den: 1001n },
    audioTrackCount: 2,
  });
  assert.deepEqual(plan.tracks, [
    { index: 2, name: "SV On-screen Foley", kind: "onscreen" },
    { index: 3, name: "SV Off-screen", kind: "offscreen" },
  ]);
  assert.deepEqual(
    plan.overwrites.map((o) => [o.audioTrackIndex, o.startTicks, o.inTicks, o.outTicks]),
    [
      [2, at(23, 24000, 1001), "0", at(18, 24000, 1001)],
      [2, at(59, 24000, 1001), "0", at(18, 24000, 1001)],
      [2, at(123, 24000, 1001), "0", at(9, 24000, 1001)],
      [2, at(172, 24000, 1001), "0", at(28, 24000, 1001)],
      [2, at(222, 24000, 1001), "0", at(37, 24000, 1001)],
      [3, at(84, 24000, 1001), "0", at(96, 24000, 1001)],
    ],
  );
  assert.equal(plan.overwrites[0].startTicks, "243675432000"); // 23 x 10594584000
  assert.ok(plan.overwrites.every((o) => o.videoTrackIndex === 0));
  assert.equal(plan.imports.length, 6);
  assert.deepEqual(plan.markers[3], {
    name: "SV CUE: table knock",
    comments: "table knock",
    startTicks: at(172, 24000, 1001),
    durationTicks: at(28, 24000, 1001),
  });
});

test("29.97 DF and 25 plans: frames from the sequence start, never from timecode", () => {
  const df = place.planPlacement(synthetic(30000 / 1001, 107892), {
    sequenceRate: "29.97 DF",
    audioTrackCount: 1,
  });
  // 00:01:00;02 drop-frame is frame 1800; the 01:00:00;00 start is not added (ticks count
  // from the sequence's first frame)
  assert.deepEqual(
    df.overwrites.map((o) => [o.name, o.audioTrackIndex, o.startTicks, o.outTicks]),
    [
      ["door.wav", 1, at(1800, 30000, 1001), at(12, 30000, 1001)],
      ["step.wav", 1, at(1912, 30000, 1001), at(7, 30000, 1001)],
    ],
  );
  assert.deepEqual(df.imports, ["C:/Sounds/door slam.wav", "/srv/sv/step.wav"]);
  assert.deepEqual(df.markers.map((m) => [m.name, m.startTicks]), [["SV CUE: door", at(1800, 30000, 1001)]]);

  const pal = place.planPlacement(synthetic(25, 90000), { sequenceRate: 25, audioTrackCount: 3 });
  assert.deepEqual(
    pal.overwrites.map((o) => [o.audioTrackIndex, o.startTicks]),
    [
      [3, at(1800, 25, 1)],
      [3, at(1912, 25, 1)],
    ],
  );
  assert.equal(pal.overwrites[0].startTicks, String(1800n * 10160640000n));
});

test("markers already in the sequence are not added twice", () => {
  const plan = place.planPlacement(fixture("result.json"), {
    sequenceRate: 23.976,
    audioTrackCount: 0,
    existingMarkers: [{ name: "SV CUE: cup drop", startTicks: at(24, 24000, 1001) }],
  });
  assert.equal(plan.markers.length, 4);
  assert.deepEqual(plan.notes, ['cue "SV CUE: cup drop" is already in the sequence']);
});

test("file URLs become native paths", () => {
  assert.equal(place.urlToPath("file:///Users/ed/a%20b.wav"), "/Users/ed/a b.wav");
  assert.equal(place.urlToPath("file:///D:/Media/x.wav"), "D:/Media/x.wav");
  assert.equal(place.urlToPath("file://nas/share/x.wav"), "//nas/share/x.wav");
  assert.equal(place.urlToPath("/plain/path.wav"), "/plain/path.wav");
});

test("applyPlan performs one all-or-nothing transaction", () => {
  const host = makeHost({ audioTrackCount: 2 });
  const plan = place.planPlacement(fixture("result.json"), { sequenceRate: 23.976, audioTrackCount: 2 });
  const items = new Map(plan.imports.map((p) => [p, hostClip(host, p)]));
  const refused = makeHost({ refuse: (a) => a.type === "addMarker" });
  const refusedItems = new Map(plan.imports.map((p) => [p, hostClip(refused, p)]));
  return (async () => {
    const seqMarkers = await host.ppro.Markers.getMarkers(host.sequence);
    assert.equal(place.applyPlan(host.ppro, host.project, host.sequence, plan, items, seqMarkers), true);
    assert.equal(host.state.transactions.length, 1);
    const [{ label, actions }] = host.state.transactions;
    assert.equal(label, "SonicVision Foley");
    assert.deepEqual(
      actions.map((a) => a[0]),
      [...Array(6).fill(["setInOut", "overwrite"]).flat(), ...Array(5).fill("addMarker")],
    );
    assert.equal(host.sequence.audioTracks.length, 4);
    assert.equal(host.sequence.audioTracks[3].clips[0].start, at(84, 24000, 1001));
    assert.equal(host.sequence.markers.length, 5);

    const refusedMarkers = await refused.ppro.Markers.getMarkers(refused.sequence);
    const ok = place.applyPlan(refused.ppro, refused.project, refused.sequence, plan, refusedItems, refusedMarkers);
    assert.equal(ok, false);
    assert.equal(refused.sequence.audioTracks.length, 2);
    assert.equal(refused.sequence.markers.length, 0);
    assert.equal(refused.sequence.audioTracks[0].clips.length, 0);
  })();
});

/** A ClipProjectItem as the mock's importFiles makes it (it adds the item synchronously). */
function hostClip(host, filePath) {
  host.project.importFiles([filePath], true, host.root, false);
  return host.root.children.at(-1);
}
