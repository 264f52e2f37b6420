"use strict";
/**
 * From the server's result to Premiere edits. ``resultTimeline`` reads the result OTIO (only
 * what SonicVision added: tracks and cue markers under metadata.sonicvision) in whole frames;
 * ``planPlacement`` turns it into tick positions and track indices; ``applyPlan`` performs the
 * plan as ONE undoable transaction (so a refused edit leaves the sequence as it was).
 */

const { framesToTicks, rateFraction, timeToFrames } = require("./ticks");

const NAMESPACE = "sonicvision";
const UNDO_LABEL = "SonicVision Foley";

/** A file:// URL as a native path ("file:///C:/a%20b.wav" -> "C:/a b.wav"). */
function urlToPath(url) {
  if (!/^file:/i.test(url)) return url;
  const parsed = new URL(url);
  let path = decodeURIComponent(parsed.pathname);
  if (/^\/[A-Za-z]:/.test(path)) path = path.slice(1);
  if (parsed.hostname && parsed.hostname !== "localhost") path = `//${parsed.hostname}${path}`;
  return path;
}

function mediaReference(clip) {
  if (clip.media_references) {
    return clip.media_references[clip.active_media_reference_key || "DEFAULT_MEDIA"] || null;
  }
  return clip.media_reference || null;
}

function schema(obj) {
  return String((obj && obj.OTIO_SCHEMA) || "").split(".")[0];
}

function timelineRate(timeline) {
  if (timeline.global_start_time) return timeline.global_start_time.rate;
  for (const track of timeline.tracks.children) {
    for (const item of track.children || []) {
      if (item.source_range) return item.source_range.duration.rate;
    }
  }
  return 24;
}

/**
 * What SonicVision added to the result timeline, in whole frames at ``rate`` (the sequence's
 * rate; the result's own when absent): tracks with their clips, and cue markers.
 */
function resultTimeline(result, rate) {
  const timeline =
    typeof result.timeline.text === "string" ? JSON.parse(result.timeline.text) : result.timeline;
  if (schema(timeline) !== "Timeline") throw new TypeError("the result is not an OTIO timeline");
  const fps = rate || timelineRate(timeline);
  const files = new Map((result.audio || []).map((a) => [a.timeline_url, a]));
  const tracks = [];
  for (const track of timeline.tracks.children) {
    const ours = track.metadata && track.metadata[NAMESPACE];
    if (!ours || track.kind !== "Audio") continue;
    const clips = [];
    let position = 0;
    for (const item of track.children) {
      const kind = schema(item);
      if (kind === "Transition") continue; // overlaps its neighbours; takes no track time
      const range = item.source_range;
      const duration = timeToFrames(range.duration, fps);
      if (kind === "Clip") {
        const ref = mediaReference(item);
        if (!ref || !ref.target_url) throw new TypeError(`result clip ${item.name} has no file`);
        const file = files.get(ref.target_url) || {};
        const meta = (ref.metadata && ref.metadata[NAMESPACE]) || {};
        clips.push({
          name: item.name,
          targetUrl: ref.target_url,
          path: file.server_path || urlToPath(ref.target_url),
          download: file.url || "",
          fileName: file.name || item.name,
          recordFrames: position,
          sourceInFrames: timeToFrames(range.start_time, fps),
          durationFrames: duration,
          channels: meta.channels || 2,
        });
      }
      position += duration;
    }
    tracks.push({ name: track.name, kind: ours.kind, lane: ours.lane || 0, clips });
  }
  const markers = [];
  for (const marker of timeline.tracks.markers || []) {
    const cue = marker.metadata && marker.metadata[NAMESPACE] && marker.metadata[NAMESPACE].cue;
    if (!cue) continue; // the editor's own marker: already in the sequence
    markers.push({
      name: marker.name,
      comments: marker.comment || cue.text || "",
      color: marker.color,
      cueId: cue.cue_id || "",
      startFrames: timeToFrames(marker.marked_range.start_time, fps),
      durationFrames: Math.max(1, timeToFrames(marker.marked_range.duration, fps)),
    });
  }
  return { rate: fps, tracks, markers };
}

/**
 * The edits, in ticks (as strings, for TickTime.createWithTicks) from the sequence's start:
 * each of our tracks goes on a new audio track after the ``audioTrackCount`` existing ones.
 * ``existingMarkers`` ({name, startTicks}) are not added twice. ``pathFor(clip)`` may point a
 * clip at a downloaded copy instead of the server's file.
 */
function planPlacement(result, { sequenceRate, audioTrackCount, existingMarkers = [], pathFor }) {
  rateFraction(sequenceRate); // refuse a bad rate before planning anything
  const read = resultTimeline(result, sequenceRate);
  const ticks = (frames) => framesToTicks(frames, sequenceRate).toString();
  const plan = { imports: [], tracks: [], overwrites: [], markers: [], notes: [] };
  read.tracks.forEach((track, i) => {
    const index = audioTrackCount + i;
    plan.tracks.push({ index, name: track.name, kind: track.kind });
    for (const clip of track.clips) {
      const path = pathFor ? pathFor(clip) : clip.path;
      if (!plan.imports.includes(path)) plan.imports.push(path);
      plan.overwrites.push({
        path,
        name: clip.name,
        audioTrackIndex: index,
        videoTrackIndex: 0, // the WAVs have no picture: no video track is touched
        startTicks: ticks(clip.recordFrames),
        inTicks: ticks(clip.sourceInFrames),
        outTicks: ticks(clip.sourceInFrames + clip.durationFrames),
      });
    }
  });
  const taken = new Set(existingMarkers.map((m) => `${m.name}@${m.startTicks}`));
  for (const marker of read.markers) {
    const startTicks = ticks(marker.startFrames);
    if (taken.has(`${marker.name}@${startTicks}`)) {
      plan.notes.push(`cue "${marker.name}" is already in the sequence`);
      continue;
    }
    taken.add(`${marker.name}@${startTicks}`);
    plan.markers.push({
      name: marker.name,
      comments: marker.comments,
      startTicks,
      durationTicks: ticks(marker.durationFrames),
    });
  }
  return plan;
}

/**
 * Perform the plan as one transaction: in/out points and an overwrite per clip, then the
 * markers. ``items`` maps each imported path to its ClipProjectItem; ``markers`` is the
 * sequence's Markers object. Returns what executeTransaction returns (false: nothing changed).
 */
function applyPlan(ppro, project, sequence, plan, items, markers) {
  const editor = ppro.SequenceEditor.getEditor(sequence);
  const at = (ticks) => ppro.TickTime.createWithTicks(ticks);
  let ok = false;
  project.lockedAccess(() => {
    ok = project.executeTransaction((compound) => {
      for (const edit of plan.overwrites) {
        const item = items.get(edit.path);
        if (!item) throw new Error(`no project item for ${edit.path}`);
        compound.addAction(item.createSetInOutPointsAction(at(edit.inTicks), at(edit.outTicks)));
        compound.addAction(
          editor.createOverwriteItemAction(
            item,
            at(edit.startTicks),
            edit.videoTrackIndex,
            edit.audioTrackIndex,
          ),
        );
      }
      for (const marker of plan.markers) {
        compound.addAction(
          markers.createAddMarkerAction(
            marker.name,
            ppro.Marker.MARKER_TYPE_COMMENT,
            at(marker.startTicks),
            at(marker.durationTicks),
            marker.comments,
          ),
        );
      }
    }, UNDO_LABEL);
  });
  return ok === true;
}

module.exports = { NAMESPACE, UNDO_LABEL, urlToPath, resultTimeline, planPlacement, applyPlan };
