// Gatehouse passkeys: runs the browser's WebAuthn ceremony and posts the
// result. Everything else on these pages works without JavaScript. Served
// from the controller's origin (CSP script-src 'self').
"use strict";

(function () {
  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // csrf is the browser session's token: the account pages' meta tag,
  // or the sign-in page form's hidden field.
  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    if (m) return m.content;
    const f = document.querySelector('input[name="csrf"]');
    return f ? f.value : "";
  }
  function status(msg) {
    const el = document.getElementById("passkey-status");
    if (el) el.textContent = msg;
  }
  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error(data.error || ("the controller answered " + res.status));
    return data;
  }
  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: b64uToBuf(c.id) }); });
  }

  // run begins a ceremony at path, has the browser answer it (ask), and
  // posts the credential (encoded by encode) to finish.
  async function run(ev, begin, body, ask, encode, finish, done, failed) {
    ev.preventDefault();
    status("Waiting for your authenticator…");
    try {
      const opts = await post(begin, body());
      const cred = await ask(opts.publicKey);
      const res = await post(finish, {
        id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
        response: encode(cred.response),
        clientExtensionResults: cred.getClientExtensionResults(),
      });
      status(done);
      window.location.assign(res.next);
    } catch (e) {
      status(failed + e.message);
    }
  }

  // signIn's form says where the sign-in goes (data-for): "device" on
  // the device flow's /login, "account" on /login/passkey.
  function signIn(ev) {
    const purpose = ev.currentTarget.dataset.for;
    return run(ev, "/login/passkey/begin",
      function () { return { user: (document.getElementById("passkey-user") || {}).value || "", for: purpose }; },
      function (pk) {
        pk.challenge = b64uToBuf(pk.challenge);
        pk.allowCredentials = ids(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      },
      function (r) {
        return {
          clientDataJSON: bufToB64u(r.clientDataJSON),
          authenticatorData: bufToB64u(r.authenticatorData),
          signature: bufToB64u(r.signature),
          userHandle: r.userHandle ? bufToB64u(r.userHandle) : "",
        };
      },
      "/login/passkey/finish", "Signed in.", "Passkey sign-in failed: ");
  }

  function add(ev) {
    return run(ev, "/account/passkeys/begin",
      function () { return { name: document.getElementById("passkey-name").value }; },
      function (pk) {
        pk.challenge = b64uToBuf(pk.challenge);
        pk.user.id = b64uToBuf(pk.user.id);
        pk.excludeCredentials = ids(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      },
      function (r) {
        return {
          clientDataJSON: bufToB64u(r.clientDataJSON),
          attestationObject: bufToB64u(r.attestationObject),
          transports: r.getTransports ? r.getTransports() : [],
        };
      },
      "/account/passkeys/finish", "Passkey added.", "Adding the passkey failed: ");
  }

  document.addEventListener("DOMContentLoaded", function () {
    const s = document.getElementById("passkey-signin");
    if (s) s.addEventListener("submit", signIn);
    const a = document.getElementById("passkey-add");
    if (a) a.addEventListener("submit", add);
  });
})();
