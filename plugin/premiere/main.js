"use strict";
/**
 * The panel's wiring: form values <-> options (remembered in localStorage, the token in UXP's
 * secureStorage only: lib/secrets.js); the button runs lib/flow.js with the real host
 * (premierepro, fetch, UXP storage) and shows progress.
 * Everything with logic lives in lib/ and is tested under Node with a mocked host.
 */

const { runFoley, summaryText } = require("./lib/flow");
const { describe } = require("./lib/errors");
const { DEFAULT_SERVER, readOptions } = require("./lib/request");
const { tokenStore, withoutToken } = require("./lib/secrets");

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

/**
 * Bind the form in ``doc`` to ``run(options, onProgress)``; ``storage`` remembers the form but
 * never the token, which goes to ``secrets`` (lib/secrets.js). Returns the click handler; its
 * ``ready`` promise settles once the remembered token is in the form.
 */
function wire(doc, run, storage, secrets = tokenStore(null)) {
  const $ = (id) => doc.getElementById(id);
  const { rest: saved, token: plaintext } = withoutToken(load(storage));
  if (plaintext) storage.setItem(STORE_KEY, JSON.stringify(saved)); // scrub an old panel's copy
  $("server").value = saved.server || DEFAULT_SERVER;
  $("pass").value = saved.pass || "foley";
  $("prefix").value = saved.markerPrefix === undefined ? "SFX:" : saved.markerPrefix;
  $("guide").value = saved.guideAudio || "auto";
  $("confidence").value = saved.minConfidence === undefined ? "0" : String(saved.minConfidence);
  $("token").value = "";
  const ready = (async () => {
    if (plaintext) await secrets.save(plaintext);
    const token = await secrets.load();
    if (!$("token").value) $("token").value = token;
  })().catch(() => {});
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
        guideAudio: $("guide").value,
        minConfidence: $("confidence").value,
        token: $("token").value,
      };
      const options = readOptions(raw);
      const { rest } = withoutToken(raw);
      storage.setItem(STORE_KEY, JSON.stringify(rest));
      await secrets.save(options.token);
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
  onClick.ready = ready;
  return onClick;
}

function start() {
  const ppro = require("premierepro");
  const files = uxpFiles(require("uxp"));
  const run = (options, onProgress) =>
    runFoley({ ppro, fetch: (url, init) => fetch(url, init), files, onProgress }, options);
  const uxp = require("uxp");
  wire(document, run, window.localStorage, tokenStore(uxp.storage && uxp.storage.secureStorage));
}

if (typeof document !== "undefined" && typeof window !== "undefined") start();

if (typeof module !== "undefined") module.exports = { wire, uxpFiles, STORE_KEY };
