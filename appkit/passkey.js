// Gatehouse app kit: passkeys (appkit.PasskeyScript). Served as a file
// under the app's CSP (script-src 'self'; connect-src 'self'); no inline
// code. Pages work without it: the passkey controls stay hidden.
//
// #passkey-login (login page) and #passkey-register (account page) carry
// data-options (where to POST for the ceremony's options), data-action
// (where to POST the credential) and data-origin (the origin the app
// names to its identity server; elsewhere, e.g. at 127.0.0.1 instead of
// localhost, #passkey-elsewhere is shown instead).
(function () {
  "use strict";

  function b64uEncode(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function b64uDecode(str) {
    str = str.replace(/-/g, "+").replace(/_/g, "/");
    while (str.length % 4) str += "=";
    var s = atob(str), bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes.buffer;
  }
  function withIds(list) {
    return (list || []).map(function (c) {
      var o = Object.assign({}, c);
      o.id = b64uDecode(c.id);
      return o;
    });
  }
  function creationOptions(j) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(j);
    }
    var o = Object.assign({}, j);
    o.challenge = b64uDecode(j.challenge);
    o.user = Object.assign({}, j.user, { id: b64uDecode(j.user.id) });
    o.excludeCredentials = withIds(j.excludeCredentials);
    return o;
  }
  function requestOptions(j) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(j);
    }
    var o = Object.assign({}, j);
    o.challenge = b64uDecode(j.challenge);
    if (j.allowCredentials) o.allowCredentials = withIds(j.allowCredentials);
    return o;
  }
  function credentialJSON(c) {
    if (typeof c.toJSON === "function") {
      try { return c.toJSON(); } catch (e) { /* fall through: by hand */ }
    }
    var r = c.response;
    var out = {
      id: c.id, rawId: b64uEncode(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: b64uEncode(r.clientDataJSON) }
    };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = b64uEncode(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = b64uEncode(r.authenticatorData);
      out.response.signature = b64uEncode(r.signature);
      if (r.userHandle) out.response.userHandle = b64uEncode(r.userHandle);
    }
    return out;
  }

  // post sends body as JSON and answers the JSON reply; a failure throws
  // the server's message (or a generic one).
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      // Anything but the kit's JSON (e.g. the login page after a session
      // ended) is a failure with a generic message.
      var json = (resp.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      return (json ? resp.json() : Promise.resolve({})).catch(function () { return {}; }).then(function (j) {
        if (!resp.ok || !json || resp.redirected) {
          var err = new Error(j.error || "Something went wrong. Reload the page and try again.");
          err.fromApp = true;
          throw err;
        }
        return j;
      });
    });
  }

  // messageOf is what to show for an error: the app's own message, else a
  // generic one (the browser's messages are technical).
  function messageOf(e, generic) {
    return e && e.fromApp ? e.message : generic;
  }

  function say(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }
  // cancelled: the user closed the browser's dialog, or a newer request
  // replaced this one. Nothing to report.
  function cancelled(e) {
    return e && (e.name === "AbortError" || e.name === "NotAllowedError");
  }

  function supported() {
    return window.PublicKeyCredential && navigator.credentials && window.fetch;
  }

  function atOrigin(box) {
    if (location.origin === box.dataset.origin) return true;
    var note = document.getElementById("passkey-elsewhere");
    if (note) note.hidden = false;
    return false;
  }

  function loginPage(box) {
    var button = box.querySelector("button");
    var message = document.getElementById("passkey-error");
    var nextField = document.querySelector("input[name=next]");
    var next = nextField ? nextField.value : "";
    var pending = null; // the conditional (autofill) request's controller

    function signIn(conditional) {
      var ac = new AbortController();
      if (conditional) pending = ac;
      return post(box.dataset.options).catch(function (e) {
        if (e && typeof e === "object") e.atOptions = true; // no options (e.g. throttled, WA-9)
        throw e;
      }).then(function (opts) {
        var req = { publicKey: requestOptions(opts), signal: ac.signal };
        if (conditional) req.mediation = "conditional";
        return navigator.credentials.get(req);
      }).then(function (cred) {
        if (!cred) throw new DOMException("No passkey was chosen.", "NotAllowedError");
        return post(box.dataset.action, { credential: credentialJSON(cred), next: next });
      }).then(function (j) {
        location.assign(j.redirect || "/");
      });
    }

    box.hidden = false;
    button.addEventListener("click", function () {
      if (pending) { pending.abort(); pending = null; }
      say(message, "");
      button.disabled = true;
      signIn(false).catch(function (e) {
        button.disabled = false;
        if (e && e.name === "NotAllowedError") {
          say(message, "No passkey was used. Try again, or sign in with your password.");
        } else if (!cancelled(e)) {
          say(message, messageOf(e, "That passkey did not work. Try again, or sign in with your password."));
        }
      });
    });
    // Autofill: the email field offers the site's passkeys where the
    // browser supports conditional mediation.
    if (typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        // Without options there is no autofill, silently: the page is
        // the password form's too.
        signIn(true).catch(function (e) {
          if (!cancelled(e) && !e.atOptions) say(message, messageOf(e, "That passkey did not work. Try again, or sign in with your password."));
        });
      }).catch(function () { /* no autofill */ });
    }
  }

  function accountPage(box) {
    var button = box.querySelector("button");
    var nameField = box.querySelector("input[name=name]");
    var message = document.getElementById("passkey-error");
    box.hidden = false;
    button.addEventListener("click", function () {
      say(message, "");
      button.disabled = true;
      post(box.dataset.options, { name: nameField ? nameField.value : "" }).then(function (opts) {
        return navigator.credentials.create({ publicKey: creationOptions(opts) });
      }).then(function (cred) {
        if (!cred) throw new DOMException("No passkey was created.", "NotAllowedError");
        return post(box.dataset.action, { credential: credentialJSON(cred) });
      }).then(function (j) {
        location.assign(j.redirect || location.pathname);
      }).catch(function (e) {
        button.disabled = false;
        if (e && e.name === "InvalidStateError") {
          say(message, "This device already has a passkey for your account.");
        } else if (e && e.name === "NotAllowedError") {
          say(message, "No passkey was added.");
        } else if (!cancelled(e)) {
          say(message, messageOf(e, "The passkey was not added. Try again."));
        }
      });
    });
  }

  function start() {
    if (!supported()) return;
    var login = document.getElementById("passkey-login");
    if (login && atOrigin(login)) loginPage(login);
    var register = document.getElementById("passkey-register");
    if (register && atOrigin(register)) accountPage(register);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
