"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const { wire, STORE_KEY } = require("../main");

function fakeDocument(values = {}) {
  const elements = {};
  for (const id of ["run", "progress", "status", "server", "pass", "prefix", "guide", "confidence", "token"]) {
    elements[id] = { value: values[id] ?? "", textContent: "", disabled: false, listeners: [] };
    elements[id].addEventListener = (type, fn) => elements[id].listeners.push([type, fn]);
  }
  return { elements, getElementById: (id) => elements[id] };
}

function fakeStorage(initial) {
  const data = new Map(initial ? [[STORE_KEY, JSON.stringify(initial)]] : []);
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, v), data };
}

test("the form starts from the remembered options", () => {
  const doc = fakeDocument();
  wire(doc, async () => ({}), fakeStorage({ server: "http://localhost:9000", pass: "render", markerPrefix: "", guideAudio: "off", minConfidence: "0.4" }));
  assert.equal(doc.elements.server.value, "http://localhost:9000");
  assert.equal(doc.elements.pass.value, "render");
  assert.equal(doc.elements.prefix.value, ""); // an empty prefix is a choice, kept
  assert.equal(doc.elements.guide.value, "off");
  assert.equal(doc.elements.confidence.value, "0.4");
  const fresh = fakeDocument();
  wire(fresh, async () => ({}), fakeStorage());
  assert.equal(fresh.elements.server.value, "http://127.0.0.1:50052");
  assert.equal(fresh.elements.prefix.value, "SFX:");
  assert.equal(fresh.elements.guide.value, "auto");
  assert.equal(fresh.elements.confidence.value, "0");
});

test("the button runs with the form's options, shows progress and the summary", async () => {
  const doc = fakeDocument();
  const storage = fakeStorage();
  const seen = [];
  const click = wire(
    doc,
    async (options, onProgress) => {
      seen.push(options);
      onProgress({ fraction: 0.5, text: "render 1/2" });
      assert.equal(doc.elements.progress.value, 50);
      assert.equal(doc.elements.run.disabled, true);
      return { jobId: "j1", clips: 2, tracks: ["SV Off-screen"], markers: 0, notes: [] };
    },
    storage,
  );
  doc.elements.pass.value = "analyze";
  doc.elements.prefix.value = "FX:";
  doc.elements.guide.value = "only";
  doc.elements.confidence.value = "0.5";
  await click();
  assert.deepEqual(seen, [
    {
      serverUrl: "http://127.0.0.1:50052",
      jobPass: "analyze",
      markerPrefix: "FX:",
      guideAudio: "only",
      minConfidence: 0.5,
      token: "",
    },
  ]);
  assert.match(doc.elements.status.textContent, /Added 2 sounds on 1 new audio tracks/);
  assert.equal(doc.elements.run.disabled, false);
  assert.equal(JSON.parse(storage.data.get(STORE_KEY)).pass, "analyze");
  assert.equal(JSON.parse(storage.data.get(STORE_KEY)).guideAudio, "only");
  assert.equal(JSON.parse(storage.data.get(STORE_KEY)).minConfidence, "0.5");
});

test("a bad option or a failed run shows one sentence and re-enables the button", async () => {
  const doc = fakeDocument();
  let runs = 0;
  const storage = fakeStorage();
  const click = wire(doc, async () => { runs += 1; throw new Error("boom"); }, storage);
  doc.elements.server.value = "http://gpu.example:50052";
  await click();
  assert.equal(runs, 0);
  assert.match(doc.elements.status.textContent, /^Server: plain http only reaches this machine/);
  doc.elements.server.value = "";
  doc.elements.confidence.value = "2";
  await click();
  assert.equal(runs, 0);
  assert.match(doc.elements.status.textContent, /^Least confidence: "2" is not a number from 0 to 1/);
  assert.equal(storage.data.get(STORE_KEY), undefined); // a refused form is not remembered
  doc.elements.confidence.value = "";
  await click();
  assert.equal(runs, 1);
  assert.equal(doc.elements.status.textContent, "SonicVision stopped on an unexpected error: boom");
  assert.equal(doc.elements.progress.value, 0);
  assert.equal(doc.elements.run.disabled, false);
});

function fakeSecrets(initial = "") {
  const box = { value: initial, saves: [] };
  return {
    box,
    async load() { return box.value; },
    async save(token) { box.saves.push(token); box.value = token; },
  };
}

test("the token goes to secure storage, never into localStorage", async () => {
  const doc = fakeDocument();
  const storage = fakeStorage();
  const secrets = fakeSecrets("remembered-token");
  const click = wire(doc, async () => ({ jobId: "j", clips: 0, tracks: [], markers: 0, notes: [] }), storage, secrets);
  await click.ready;
  assert.equal(doc.elements.token.value, "remembered-token");
  doc.elements.token.value = "new-secret";
  await click();
  assert.deepEqual(secrets.box.saves, ["new-secret"]);
  assert.ok(!storage.data.get(STORE_KEY).includes("new-secret"));
  assert.equal(JSON.parse(storage.data.get(STORE_KEY)).token, undefined);
});

test("a token an older panel left in localStorage is moved out of it", async () => {
  const storage = fakeStorage({ server: "http://localhost:50052", token: "old-plaintext" });
  const secrets = fakeSecrets();
  const doc = fakeDocument();
  const click = wire(doc, async () => ({}), storage, secrets);
  await click.ready;
  assert.ok(!storage.data.get(STORE_KEY).includes("old-plaintext"));
  assert.equal(secrets.box.value, "old-plaintext");
  assert.equal(doc.elements.token.value, "old-plaintext");
});

test("the secure store reads UXP's secureStorage and keeps nothing without it", async () => {
  const { tokenStore } = require("../lib/secrets");
  const items = new Map();
  const uxpLike = {
    async getItem(k) { return items.has(k) ? new TextEncoder().encode(items.get(k)) : null; },
    async setItem(k, v) { items.set(k, v); },
    async removeItem(k) { items.delete(k); },
  };
  const store = tokenStore(uxpLike);
  assert.equal(await store.load(), "");
  await store.save("abc");
  assert.equal(await store.load(), "abc");
  await store.save("");
  assert.equal(items.size, 0);
  const memory = tokenStore(null);
  await memory.save("xyz");
  assert.equal(await memory.load(), "xyz");
  assert.equal(memory.persistent, false);
});
