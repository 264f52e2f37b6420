"use strict";
/**
 * One run of the panel, top to bottom: export the active sequence, submit it to the HTTP face,
 * follow the job's events, import the sounds into a "SonicVision" bin, and place them and the
 * cue markers in ONE transaction. The host (premierepro), fetch and file access are passed in,
 * so the whole flow runs under Node against a mocked host. A failure after the import takes
 * the imported items (and a bin it made) back out.
 */

const errors = require("./errors");
const { applyPlan, planPlacement, resultTimeline } = require("./place");
const { buildSubmit, headers, isLoopback, uploadName } = require("./request");
const { rateFromTimebase } = require("./ticks");

const BIN_NAME = "SonicVision";
const POLL_WAIT_S = 10;
const SUCCEEDED = "JOB_STATE_SUCCEEDED";
const STAGES = { shots: [0.05, 0.45], render: [0.5, 0.9], done: [0.9, 0.9] };

/** A host path compared the way the file system does (Windows paths: any case, any slash). */
function samePath(a, b) {
  const norm = (p) => {
    const s = String(p || "").replace(/\\/g, "/");
    return /^[A-Za-z]:\//.test(s) ? s.toLowerCase() : s;
  };
  return norm(a) === norm(b);
}

async function api(deps, options, method, path, body) {
  let response;
  try {
    response = await deps.fetch(options.serverUrl + path, {
      method,
      headers: headers(options.token, method === "POST"),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw errors.serverDown(options.serverUrl, err);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) throw errors.serverRefused(response.status, data);
  return data;
}

async function download(deps, options, url) {
  let response;
  try {
    response = await deps.fetch(options.serverUrl + url, { headers: headers(options.token, false) });
  } catch (err) {
    throw errors.serverDown(options.serverUrl, err);
  }
  if (!response.ok) throw errors.serverRefused(response.status, null);
  return new Uint8Array(await response.arrayBuffer());
}

/** The sequence as OTIO where this Premiere can (26.x), as FCP XML otherwise. */
async function exportSequence(ppro, sequence, files) {
  const converter = ppro.ProjectConverter || {};
  const ways = [
    ["otio", "exportAsOpenTimelineIO"],
    ["fcp_xml", "exportAsFinalCutProXML"],
  ].filter(([, method]) => typeof converter[method] === "function");
  if (!ways.length) throw errors.exportFailed("OTIO or FCP XML (this Premiere has neither)");
  for (const [format, method] of ways) {
    const target = await files.exportTarget(uploadName(sequence.name, format));
    if (await converter[method](sequence, target.path, true)) {
      const bytes = await target.read();
      if (bytes && bytes.length) return { format, bytes };
    }
  }
  throw errors.exportFailed(ways.map(([f]) => f).join(" or "));
}

function progressOf(event) {
  const [from, to] = STAGES[event.stage] || [0.02, 0.02];
  const part = event.total ? event.done / event.total : 0;
  const text = event.total ? `${event.stage} ${event.done}/${event.total}` : event.stage || "queued";
  return { fraction: from + (to - from) * part, text };
}

async function followJob(deps, options, jobId, onProgress) {
  let after = 0;
  let last = null;
  let reached = 0;
  for (;;) {
    const page = await api(
      deps,
      options,
      "GET",
      `/v1/jobs/${jobId}/events?after_seq=${after}&wait=${POLL_WAIT_S}`,
    );
    for (const event of page.events) {
      last = event;
      const step = progressOf(event);
      reached = Math.max(reached, step.fraction); // the bar never runs backwards
      onProgress({ fraction: reached, text: step.text });
    }
    after = page.next_after_seq;
    if (page.final) break;
  }
  if (!last || last.state !== SUCCEEDED) {
    const job = await api(deps, options, "GET", `/v1/jobs/${jobId}`);
    if (job.state !== SUCCEEDED) throw errors.jobFailed(jobId, job.state, job.error);
  }
}

async function findBin(ppro, root) {
  for (const item of await root.getItems()) {
    const folder = ppro.FolderItem.cast(item);
    if (folder && item.name === BIN_NAME) return folder;
  }
  return null;
}

function transact(project, label, build) {
  let ok = false;
  project.lockedAccess(() => {
    ok = project.executeTransaction(build, label);
  });
  return ok === true;
}

async function ensureBin(ppro, project) {
  const root = await project.getRootItem();
  const found = await findBin(ppro, root);
  if (found) return { root, bin: found, created: false };
  transact(project, "SonicVision: bin", (c) => c.addAction(root.createBinAction(BIN_NAME, false)));
  const bin = await findBin(ppro, root);
  if (!bin) throw new errors.PanelError("import-failed", `Premiere would not create the bin ${BIN_NAME}.`);
  return { root, bin, created: true };
}

async function clipsIn(ppro, bin) {
  const clips = [];
  for (const item of await bin.getItems()) {
    const clip = ppro.ClipProjectItem.cast(item);
    if (clip) clips.push({ item, clip, path: await clip.getMediaFilePath() });
  }
  return clips;
}

/** Import into the bin; returns path -> ClipProjectItem, and the items this import added. */
async function importSounds(ppro, project, target, paths) {
  const before = await clipsIn(ppro, target.bin);
  const imported = await project.importFiles(paths, true, target.bin, false);
  const after = await clipsIn(ppro, target.bin);
  const added = after.filter((c) => !before.some((b) => b.item === c.item || samePath(b.path, c.path)));
  const items = new Map();
  for (const path of paths) {
    const hit = after.find((c) => samePath(c.path, path));
    if (hit) items.set(path, hit.clip);
  }
  if (!imported || items.size !== paths.length) {
    await takeBack(project, target, added.map((c) => c.item));
    throw errors.importFailed(paths.filter((p) => !items.has(p)));
  }
  return { items, added: added.map((c) => c.item) };
}

/** Remove what this run imported (and the bin, if this run made it). */
async function takeBack(project, target, added) {
  const { root, bin, created } = target;
  if (!added.length && !created) return [];
  const ok = transact(project, "SonicVision: undo import", (c) => {
    for (const item of added) c.addAction(bin.createRemoveItemAction(item));
    if (created) c.addAction(root.createRemoveItemAction(bin));
  });
  return ok ? [] : [`${added.length} sounds in the ${BIN_NAME} bin`];
}

async function sequenceRate(sequence, fallback) {
  if (typeof sequence.getTimebase === "function") {
    const base = await sequence.getTimebase();
    if (base && /^\d+$/.test(String(base).trim())) return rateFromTimebase(base);
  }
  return fallback;
}

async function nameTracks(project, sequence, plan) {
  const named = [];
  for (const track of plan.tracks) {
    const host = await sequence.getAudioTrack(track.index);
    if (host && typeof host.createSetNameAction === "function") named.push([host, track.name]);
  }
  if (!named.length) return false; // Premiere before 26.3 cannot name tracks from a plugin
  return transact(project, "SonicVision: name tracks", (c) => {
    for (const [host, name] of named) c.addAction(host.createSetNameAction(name));
  });
}

/**
 * The whole run. ``deps``: {ppro, fetch, files: {exportTarget(name), saveDownload(name,
 * bytes)}, onProgress({fraction, text})}. ``options``: readOptions() output. Resolves to a
 * summary; rejects with a PanelError whose message is for the editor.
 */
async function runFoley(deps, options) {
  const { ppro, files } = deps;
  const onProgress = deps.onProgress || (() => {});
  // 1. What to work on.
  const project = await ppro.Project.getActiveProject();
  if (!project) throw errors.noProject();
  const sequence = await project.getActiveSequence();
  if (!sequence) throw errors.noSequence();
  // 2. The sequence out, to the server.
  onProgress({ fraction: 0.01, text: "exporting the sequence" });
  const exported = await exportSequence(ppro, sequence, files);
  const request = buildSubmit({ ...exported, sequenceName: sequence.name, options });
  const submitted = await api(deps, options, "POST", "/v1/jobs", request);
  const jobId = submitted.job_id;
  // 3. The job, followed to its end.
  await followJob(deps, options, jobId, onProgress);
  const result = await api(deps, options, "GET", `/v1/jobs/${jobId}/result`);
  // 4. The sounds where Premiere can read them: the server's files on this machine, else copies.
  onProgress({ fraction: 0.92, text: "bringing the sounds in" });
  const local = new Map();
  if (!isLoopback(options.serverUrl)) {
    for (const clip of resultTimeline(result).tracks.flatMap((t) => t.clips)) {
      if (!local.has(clip.targetUrl)) {
        const bytes = await download(deps, options, clip.download);
        local.set(clip.targetUrl, await files.saveDownload(`${jobId}/${clip.fileName}`, bytes));
      }
    }
  }
  const rate = await sequenceRate(sequence, resultTimeline(result).rate);
  const markers = await ppro.Markers.getMarkers(sequence);
  const plan = planPlacement(result, {
    sequenceRate: rate,
    audioTrackCount: await sequence.getAudioTrackCount(),
    existingMarkers: (markers.getMarkers() || []).map((m) => ({
      name: m.getName(),
      startTicks: String(m.getStart().ticks),
    })),
    pathFor: local.size ? (clip) => local.get(clip.targetUrl) : undefined,
  });
  // 5. Import, then place everything in one transaction; a refusal takes the import back.
  const target = await ensureBin(ppro, project);
  let imported = { items: new Map(), added: [] };
  if (plan.imports.length) imported = await importSounds(ppro, project, target, plan.imports);
  let placed = false;
  try {
    placed = applyPlan(ppro, project, sequence, plan, imported.items, markers);
  } catch (err) {
    placed = false;
  }
  if (!placed) throw errors.placeFailed(await takeBack(project, target, imported.added));
  const notes = [...plan.notes];
  if (plan.tracks.length && !(await nameTracks(project, sequence, plan))) {
    notes.push(`name the new tracks by hand: ${plan.tracks.map((t) => t.name).join(", ")}`);
  }
  onProgress({ fraction: 1, text: "done" });
  return {
    jobId,
    clips: plan.overwrites.length,
    tracks: plan.tracks.map((t) => t.name),
    markers: plan.markers.length,
    notes,
  };
}

function summaryText(summary) {
  const lines = [
    `Added ${summary.clips} sounds on ${summary.tracks.length} new audio tracks and ` +
      `${summary.markers} cue markers (job ${summary.jobId}).`,
  ];
  for (const note of summary.notes) lines.push(`Note: ${note}`);
  return lines.join("\n");
}

module.exports = { BIN_NAME, runFoley, exportSequence, progressOf, summaryText, samePath };
