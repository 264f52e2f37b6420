"use strict";
/**
 * The panel's wiring: form values <-> options (remembered in localStorage); the button runs
 * lib/flow.js with the real host (premierepro, fetch, UXP storage) and shows progress.
 * Everything with logic lives in lib/ and is tested under Node with a mocked host.
 */

const { runFoley, summaryText } = require("./lib/flow");
const { describe } = require("./lib/errors");
const { DEFAULT_SERVER, readOptions } = require("./lib/request");

const STORE_KEY = "sonicvision.options";

/** File access through UXP storage: a temp file Premiere exports into, downloads kept. */
function uxpFiles(uxp) {
  const fs = uxp.storage.localFileSystem;
  const binary = { format: uxp.storage.formats.binary };
  async function folderFor(parts) {
    let folder = await fs.getDataFolder();
    for (const part of parts) {
      const entries = await folder.getEntries();
      folder = entries.find((e) => e.isFolder && e.name === part) || (await folder.createFolder(part));
    }
    return folder;
  }
  return {
    async exportTarget(name) {
      const folder = await fs.getTemporaryFolder();
      const file = await folder.createFile(name, { overwrite: true });
      return { path: file.nativePath, read: async () => new Uint8Array(await file.read(binary)) };
    },
    async saveDownload(name, bytes) {
      const parts = name.split("/");
      const leaf = parts.pop();
      const file = await (await folderFor(parts)).createFile(leaf, { overwrite: true });
      await file.write(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), binary);
      return file.nativePath;
    },
  };
}

function load(storage) {
  try {
    return JSON.parse(storage.getItem(STORE_KEY) || "{}");
  } catch (err) {
    return {};
  }
}

/** Bind the form in ``doc`` to ``run(options, onProgress)``; ``storage`` remembers the form. */
function wire(doc, run, storage) {
  const $ = (id) => doc.getElementById(id);
  const saved = load(storage);
  $("server").value = saved.server || DEFAULT_SERVER;
  $("pass").value = saved.pass || "foley";
  $("prefix").value = saved.markerPrefix === undefined ? "SFX:" : saved.markerPrefix;
  $("token").value = saved.token || "";
  let busy = false;
  async function onClick() {
    if (busy) return;
    busy = true;
    $("run").disabled = true;
    const show = ({ fraction, text }) => {
      $("progress").value = Math.round(fraction * 100);
      $("status").textContent = text;
    };
    try {
      const raw = {
        server: $("server").value,
        pass: $("pass").value,
        markerPrefix: $("prefix").value,
        token: $("token").value,
      };
      const options = readOptions(raw);
      storage.setItem(STORE_KEY, JSON.stringify(raw));
      show({ fraction: 0, text: "starting" });
      $("status").textContent = summaryText(await run(options, show));
    } catch (err) {
      $("progress").value = 0;
      $("status").textContent = describe(err);
    } finally {
      busy = false;
      $("run").disabled = false;
    }
  }
  $("run").addEventListener("click", onClick);
  return onClick;
}

function start() {
  const ppro = require("premierepro");
  const files = uxpFiles(require("uxp"));
  const run = (options, onProgress) =>
    runFoley({ ppro, fetch: (url, init) => fetch(url, init), files, onProgress }, options);
  wire(document, run, window.localStorage);
}

if (typeof document !== "undefined" && typeof window !== "undefined") start();

if (typeof module !== "undefined") module.exports = { wire, uxpFiles, STORE_KEY };
