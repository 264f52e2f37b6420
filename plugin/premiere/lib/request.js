"use strict";
/**
 * What the panel sends: its options checked, and the SubmitJobRequest JSON (proto field names,
 * the exported sequence as base64) that the HTTP face parses into the same proto message the
 * gRPC clients send.
 */

const { badOption, DEFAULT_HTTP_PORT } = require("./errors");

const DEFAULT_SERVER = `http://127.0.0.1:${DEFAULT_HTTP_PORT}`;
const PASSES = { foley: "PASS_FOLEY", analyze: "PASS_ANALYZE", render: "PASS_RENDER" };
// Production sound as a timing guide (the CLI's --guide-audio, the Resolve dialog's choice).
const GUIDE_AUDIO = { auto: "GUIDE_AUDIO_AUTO", off: "GUIDE_AUDIO_OFF", only: "GUIDE_AUDIO_ONLY" };
const FORMATS = {
  otio: { suffix: ".otio", adapter: "otio_json" },
  fcp_xml: { suffix: ".xml", adapter: "fcp_xml" },
};
const DECIMAL = /^(\d+\.?\d*|\.\d+)$/; // 0.5, .5, 1 (no signs, exponents or hex)
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 of bytes; UXP has no Buffer, and btoa wants a binary string. */
function toBase64(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const out = [];
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out.push(ALPHABET[n >> 18], ALPHABET[(n >> 12) & 63], ALPHABET[(n >> 6) & 63], ALPHABET[n & 63]);
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    out.push(ALPHABET[n >> 18], ALPHABET[(n >> 12) & 63], "==");
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    out.push(ALPHABET[n >> 18], ALPHABET[(n >> 12) & 63], ALPHABET[(n >> 6) & 63], "=");
  }
  return out.join("");
}

/** The server's base URL; plain http only to this machine (the server refuses it elsewhere). */
function normalizeServerUrl(text) {
  const raw = String(text || "").trim() || DEFAULT_SERVER;
  let url;
  try {
    url = new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch (err) {
    throw badOption("Server", `${JSON.stringify(raw)} is not a URL like ${DEFAULT_SERVER}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw badOption("Server", `use http:// or https://, not ${url.protocol}`);
  }
  if (url.protocol === "http:" && !LOOPBACK.has(url.hostname)) {
    throw badOption(
      "Server",
      `plain http only reaches this machine (127.0.0.1); use https:// for ${url.hostname}`,
    );
  }
  if (url.pathname !== "/" || url.search || url.hash) {
    throw badOption("Server", "give only scheme, host and port, e.g. " + DEFAULT_SERVER);
  }
  return `${url.protocol}//${url.host}`;
}

function isLoopback(serverUrl) {
  return LOOPBACK.has(new URL(serverUrl).hostname);
}

/**
 * The "Least confidence" field as a number in [0, 1] (the CLI's --min-confidence): impact cues
 * less likely than this are left out. Empty is 0, every impact cue.
 */
function readConfidence(value) {
  const text = value === undefined || value === null ? "" : String(value).trim();
  const number = text === "" ? 0 : DECIMAL.test(text) ? Number(text) : NaN;
  if (!(number >= 0 && number <= 1)) {
    throw badOption(
      "Least confidence",
      `${JSON.stringify(text)} is not a number from 0 to 1 (0 keeps every impact cue)`,
    );
  }
  return number;
}

/**
 * The panel's form values, checked:
 * {serverUrl, jobPass, markerPrefix, guideAudio, minConfidence, token}.
 */
function readOptions(raw) {
  const pass = String(raw.pass || "foley").toLowerCase();
  if (!(pass in PASSES)) {
    throw badOption("Pass", `choose one of ${Object.keys(PASSES).join(", ")}`);
  }
  const prefix = raw.markerPrefix === undefined ? "SFX:" : String(raw.markerPrefix);
  if (prefix.length > 40) throw badOption("Marker prefix", "keep it under 40 characters");
  const guide = String(raw.guideAudio || "auto").toLowerCase();
  if (!(guide in GUIDE_AUDIO)) {
    throw badOption("Guide audio", `choose one of ${Object.keys(GUIDE_AUDIO).join(", ")}`);
  }
  return {
    serverUrl: normalizeServerUrl(raw.server),
    jobPass: pass,
    markerPrefix: prefix,
    guideAudio: guide,
    minConfidence: readConfidence(raw.minConfidence),
    token: String(raw.token || "").trim(),
  };
}

/** A file name the server accepts: no folders, not hidden, no control characters. */
function uploadName(sequenceName, format) {
  const spec = FORMATS[format];
  if (!spec) throw new RangeError(`unknown export format ${format}`);
  const stem =
    String(sequenceName || "")
      .replace(/[\\/\u0000-\u001f]+/g, "_")
      .replace(/^[.\s]+/, "")
      .trim()
      .slice(0, 120) || "sequence";
  return stem + spec.suffix;
}

/** SubmitJobRequest as JSON. The result always comes back as OTIO, which the panel reads. */
function buildSubmit({ bytes, format, sequenceName, options, idempotencyKey = "" }) {
  if (!bytes || !bytes.length) throw new RangeError("the exported sequence is empty");
  return {
    upload: {
      filename: uploadName(sequenceName, format),
      format: FORMATS[format].adapter,
      content: toBase64(bytes),
    },
    job_pass: PASSES[options.jobPass],
    options: {
      marker_rule: { prefix: options.markerPrefix },
      guide_audio: GUIDE_AUDIO[options.guideAudio || "auto"],
      // Always sent, as a JSON number: the proto field is optional, and 0 reads as unset does.
      min_confidence: options.minConfidence || 0,
      output_format: "OUTPUT_FORMAT_OTIO",
    },
    idempotency_key: idempotencyKey,
  };
}

function headers(token, json = true) {
  const out = json ? { "Content-Type": "application/json" } : {};
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

module.exports = {
  DEFAULT_SERVER,
  PASSES,
  GUIDE_AUDIO,
  FORMATS,
  toBase64,
  normalizeServerUrl,
  isLoopback,
  readConfidence,
  readOptions,
  uploadName,
  buildSubmit,
  headers,
};
