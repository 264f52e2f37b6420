"use strict";
/**
 * A mock of the premierepro UXP module, shaped after Adobe's types.d.ts (25.x/26.x): async
 * getters, actions created by create*Action and applied only inside
 * project.lockedAccess(() => project.executeTransaction(compound => ..., label)), which is
 * all-or-nothing. Creating an action outside lockedAccess throws, as Premiere 26.3 enforces.
 * And a mock fetch for the HTTP face, replaying pages recorded from the real server.
 */

const fs = require("node:fs");
const path = require("node:path");

const FIXTURES = path.join(__dirname, "..", "fixtures");

function fixture(name) {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), "utf8"));
}

class TickTime {
  constructor(ticks) {
    this.ticks = ticks;
  }
  get ticksNumber() {
    return Number(this.ticks);
  }
  get seconds() {
    return Number(this.ticks) / 254016000000;
  }
  equals(other) {
    return other.ticks === this.ticks;
  }
  static createWithTicks(ticks) {
    if (typeof ticks !== "string" || !/^-?\d+$/.test(ticks)) {
      throw new TypeError(`createWithTicks takes ticks as a string, got ${ticks}`);
    }
    return new TickTime(ticks);
  }
  static createWithSeconds(seconds) {
    return new TickTime(String(Math.round(seconds * 254016000000)));
  }
}
TickTime.TIME_ZERO = new TickTime("0");

function makeHost(opts = {}) {
  const state = {
    locked: false,
    transactions: [],
    refused: [],
    imports: [],
    exports: [],
    files: new Map(),
  };
  const action = (type, args, apply) => {
    if (!state.locked) throw new Error(`${type}: create actions inside project.lockedAccess()`);
    return { type, args, apply };
  };

  function clipItem(filePath) {
    const item = {
      kind: "clip",
      name: path.basename(filePath),
      path: filePath,
      inPoint: null,
      outPoint: null,
      getMediaFilePath: async () => filePath,
      createSetInOutPointsAction(inPoint, outPoint) {
        if (!(inPoint instanceof TickTime) || !(outPoint instanceof TickTime)) {
          throw new TypeError("in/out points are TickTime objects");
        }
        return action("setInOut", [item.name, inPoint.ticks, outPoint.ticks], () => {
          item.inPoint = inPoint.ticks;
          item.outPoint = outPoint.ticks;
        });
      },
    };
    return item;
  }

  function bin(name) {
    const folder = {
      kind: "bin",
      name,
      children: [],
      getItems: async () => [...folder.children],
      createBinAction(binName, makeUnique) {
        return action("createBin", [binName, makeUnique], () => folder.children.push(bin(binName)));
      },
      createRemoveItemAction(item) {
        return action("removeItem", [item.name], () => {
          folder.children = folder.children.filter((c) => c !== item);
        });
      },
    };
    return folder;
  }

  const root = bin("root");
  for (const name of opts.bins || []) root.children.push(bin(name));

  const sequence = {
    name: opts.sequenceName || "Reel 2",
    audioTracks: Array.from({ length: opts.audioTrackCount ?? 2 }, (_, i) => ({
      name: `Audio ${i + 1}`,
      clips: [],
    })),
    markers: (opts.existingMarkers || []).map((m) => ({ ...m })),
    getAudioTrackCount: async () => sequence.audioTracks.length,
    getTimebase: async () => opts.timebase || "10594584000",
    async getAudioTrack(index) {
      const track = sequence.audioTracks[index];
      if (!track) return null;
      const host = { name: track.name };
      if (opts.trackNaming) {
        host.createSetNameAction = (name) =>
          action("setTrackName", [index, name], () => {
            track.name = name;
          });
      }
      return host;
    },
  };

  const markers = {
    getMarkers: () =>
      sequence.markers.map((m) => ({
        getName: () => m.name,
        getStart: () => new TickTime(m.start),
        getComments: () => m.comments || "",
      })),
    createAddMarkerAction(name, type, start, duration, comments) {
      if (!(start instanceof TickTime) || !(duration instanceof TickTime)) {
        throw new TypeError("marker times are TickTime objects");
      }
      return action("addMarker", [name, type, start.ticks, duration.ticks, comments], () =>
        sequence.markers.push({ name, type, start: start.ticks, duration: duration.ticks, comments }),
      );
    },
  };

  const editor = {
    createOverwriteItemAction(item, time, videoTrackIndex, audioTrackIndex) {
      if (!(time instanceof TickTime)) throw new TypeError("time is a TickTime");
      if (!Number.isInteger(videoTrackIndex) || !Number.isInteger(audioTrackIndex)) {
        throw new TypeError("track indices are integers");
      }
      return action("overwrite", [item.name, time.ticks, videoTrackIndex, audioTrackIndex], () => {
        while (sequence.audioTracks.length <= audioTrackIndex) {
          sequence.audioTracks.push({ name: `Audio ${sequence.audioTracks.length + 1}`, clips: [] });
        }
        sequence.audioTracks[audioTrackIndex].clips.push({
          name: item.name,
          start: time.ticks,
          in: item.inPoint,
          out: item.outPoint,
        });
      });
    },
  };

  const project = {
    name: "Film",
    getActiveSequence: async () => (opts.noSequence ? null : sequence),
    getRootItem: async () => root,
    lockedAccess(callback) {
      state.locked = true;
      try {
        return callback();
      } finally {
        state.locked = false;
      }
    },
    executeTransaction(callback, label) {
      if (!state.locked) throw new Error("executeTransaction outside lockedAccess");
      const compound = {
        actions: [],
        addAction(a) {
          this.actions.push(a);
          return true;
        },
      };
      callback(compound);
      if (compound.actions.some((a) => opts.refuse && opts.refuse(a))) {
        state.refused.push({ label, actions: compound.actions });
        return false;
      }
      for (const a of compound.actions) a.apply();
      state.transactions.push({ label, actions: compound.actions.map((a) => [a.type, ...a.args]) });
      return true;
    },
    async importFiles(paths, suppressUI, targetBin, asNumberedStills) {
      state.imports.push({ paths: [...paths], suppressUI, bin: targetBin && targetBin.name });
      const folder = targetBin || root;
      const take = opts.importOnly ? paths.slice(0, opts.importOnly) : paths;
      for (const p of take) folder.children.push(clipItem(p));
      return !opts.importOnly;
    },
  };

  const converter = {};
  if (opts.otio !== false) {
    converter.exportAsOpenTimelineIO = async (seq, filePath, suppressUI) => {
      state.exports.push(["otio", filePath, suppressUI]);
      state.files.set(filePath, Buffer.from(opts.otioText ?? '{"OTIO_SCHEMA": "Timeline.1"}'));
      return true;
    };
  }
  if (opts.fcp !== false) {
    converter.exportAsFinalCutProXML = async (seq, filePath, suppressUI) => {
      state.exports.push(["fcp_xml", filePath, suppressUI]);
      state.files.set(filePath, Buffer.from("<xmeml version='4'></xmeml>"));
      return true;
    };
  }

  const ppro = {
    Project: { getActiveProject: async () => (opts.noProject ? null : project) },
    SequenceEditor: { getEditor: (seq) => (seq === sequence ? editor : null) },
    Markers: { getMarkers: async (owner) => (owner === sequence ? markers : null) },
    Marker: { MARKER_TYPE_COMMENT: "Comment", MARKER_TYPE_CHAPTER: "Chapter" },
    TickTime,
    ProjectConverter: converter,
    ClipProjectItem: { cast: (item) => (item && item.kind === "clip" ? item : null) },
    FolderItem: { cast: (item) => (item && item.kind === "bin" ? item : null) },
  };

  const files = {
    saved: [],
    async exportTarget(name) {
      const filePath = `/tmp/uxp-temp/${name}`;
      return { path: filePath, read: async () => new Uint8Array(state.files.get(filePath) || []) };
    },
    async saveDownload(name, bytes) {
      const filePath = `/plugin-data/${name}`;
      files.saved.push([filePath, bytes.length]);
      return filePath;
    },
  };

  return { ppro, project, sequence, root, state, files };
}

function response(status, body) {
  const bytes = body instanceof Uint8Array ? body : null;
  return {
    ok: status < 400,
    status,
    json: async () => {
      if (bytes) throw new SyntaxError("not JSON");
      return JSON.parse(JSON.stringify(body));
    },
    arrayBuffer: async () => (bytes ? bytes.buffer : new ArrayBuffer(0)),
  };
}

/**
 * The HTTP face, replaying recorded pages: submit, event pages (each must be asked for with
 * the previous page's next_after_seq), the job, the result, file bytes. ``down``: every call
 * rejects the way fetch does when nothing listens.
 */
function makeServer(opts = {}) {
  const submit = opts.submit || fixture("submit.json");
  const pages = opts.pages || fixture("events.json");
  const result = opts.result || fixture("result.json");
  const job = opts.job || { ...submit.job, state: "JOB_STATE_SUCCEEDED" };
  const calls = [];
  let page = 0;
  async function fetch(url, init = {}) {
    const method = init.method || "GET";
    calls.push({ url, method, headers: init.headers || {}, body: init.body });
    if (opts.down) throw new TypeError("Network request failed");
    const { pathname, searchParams } = new URL(url);
    if (opts.status) return response(opts.status, { error: { code: "UNAUTHENTICATED", message: "missing token" } });
    if (method === "POST" && pathname === "/v1/jobs") return response(201, submit);
    const id = submit.job_id;
    if (pathname === `/v1/jobs/${id}/events`) {
      const expected = page === 0 ? 0 : pages[page - 1].next_after_seq;
      if (Number(searchParams.get("after_seq")) !== expected) {
        return response(400, { error: { code: "INVALID_ARGUMENT", message: "wrong after_seq" } });
      }
      return response(200, pages[Math.min(page++, pages.length - 1)]);
    }
    if (pathname === `/v1/jobs/${id}`) return response(200, job);
    if (pathname === `/v1/jobs/${id}/result`) return response(200, result);
    if (pathname.startsWith(`/v1/jobs/${id}/files/`)) return response(200, new Uint8Array([82, 73, 70, 70]));
    return response(404, { error: { code: "NOT_FOUND", message: `no route ${pathname}` } });
  }
  return { fetch, calls, submit, result };
}

module.exports = { TickTime, makeHost, makeServer, fixture };
