"use strict";
/**
 * What the panel tells the editor when a run stops. One error type with a kind, so the flow
 * can react (e.g. roll back imports) and the panel shows one plain sentence.
 */

const DEFAULT_HTTP_PORT = 50052;

class PanelError extends Error {
  constructor(kind, message, detail) {
    super(message);
    this.name = "PanelError";
    this.kind = kind;
    this.detail = detail;
  }
}

function noProject() {
  return new PanelError(
    "no-project",
    "No project is open in Premiere Pro: open one, then run SonicVision Foley.",
  );
}

function noSequence() {
  return new PanelError(
    "no-sequence",
    "No sequence is active: open the cut in the Timeline panel, then run SonicVision Foley again.",
  );
}

function exportFailed(format) {
  return new PanelError(
    "export-failed",
    `Premiere did not export the sequence as ${format}; nothing was sent or changed.`,
  );
}

function serverDown(url, cause) {
  const why = cause && cause.message ? ` (${cause.message})` : "";
  return new PanelError(
    "server-down",
    `The SonicVision server at ${url} is not answering. Start it on this machine with ` +
      `"sonicvision serve --http-port ${DEFAULT_HTTP_PORT}", then run again${why}.`,
    cause,
  );
}

/** An HTTP error reply ({error: {code, message, field}}) as a sentence. */
function serverRefused(status, body) {
  const error = (body && body.error) || {};
  const code = error.code || `HTTP ${status}`;
  const text = error.message || "no reason given";
  if (status === 401) {
    return new PanelError(
      "unauthorized",
      `The SonicVision server wants a token (${text}): set it in the panel's options.`,
      body,
    );
  }
  return new PanelError("server-refused", `The SonicVision server refused: ${code}: ${text}`, body);
}

/** A final job state other than success (from the job or its last event). */
function jobFailed(jobId, state, error) {
  const what = String(state || "").replace(/^JOB_STATE_/, "").toLowerCase() || "failed";
  const why = error && error.message ? `: ${error.code || "ERROR"}: ${error.message}` : "";
  return new PanelError("job-failed", `The SonicVision job ${jobId} ${what}${why}.`, error);
}

function importFailed(paths) {
  return new PanelError(
    "import-failed",
    `Premiere did not import the rendered sounds (${paths.length} files); nothing was added.`,
    paths,
  );
}

function placeFailed(leftovers) {
  const left = leftovers && leftovers.length ? ` Remove by hand: ${leftovers.join(", ")}.` : "";
  return new PanelError(
    "place-failed",
    `Premiere refused the edit that places the sounds; the sequence is unchanged.${left}`,
  );
}

function badOption(field, message) {
  return new PanelError("options", `${field}: ${message}`);
}

/** One sentence for any error (ours in full, anything else by its message). */
function describe(err) {
  if (err instanceof PanelError) return err.message;
  const text = err && err.message ? err.message : String(err);
  return `SonicVision stopped on an unexpected error: ${text}`;
}

module.exports = {
  DEFAULT_HTTP_PORT,
  PanelError,
  noProject,
  noSequence,
  exportFailed,
  serverDown,
  serverRefused,
  jobFailed,
  importFailed,
  placeFailed,
  badOption,
  describe,
};
