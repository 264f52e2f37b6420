"use strict";
/**
 * Where the panel keeps the server token: UXP's secureStorage (encrypted by the OS keychain),
 * never localStorage, which is a plaintext file in the plugin's data folder. Without
 * secureStorage the token lives only as long as the panel is open.
 */

const TOKEN_KEY = "sonicvision.token";

/** ``{load, save}`` over UXP's ``secureStorage`` (Promise API), or memory when there is none. */
function tokenStore(secureStorage) {
  let memory = "";
  if (!secureStorage) {
    return {
      persistent: false,
      async load() { return memory; },
      async save(token) { memory = token || ""; },
    };
  }
  return {
    persistent: true,
    async load() {
      try {
        const value = await secureStorage.getItem(TOKEN_KEY);
        if (value == null) return "";
        return typeof value === "string" ? value : new TextDecoder().decode(value);
      } catch (err) {
        return "";
      }
    },
    async save(token) {
      if (token) await secureStorage.setItem(TOKEN_KEY, token);
      else await secureStorage.removeItem(TOKEN_KEY);
    },
  };
}

/** The remembered form without its token (an older panel stored it in plaintext). */
function withoutToken(saved) {
  const { token, ...rest } = saved || {};
  return { rest, token: token || "" };
}

module.exports = { TOKEN_KEY, tokenStore, withoutToken };
