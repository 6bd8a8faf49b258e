// Passkeys (WebAuthn): log in with one, or add one in Mijn leerID. No library and no CDN: the options come from
// leerID as JSON with base64url fields, the browser's answer goes back as JSON in an ordinary form field.
//
//   <div data-passkey="login" data-options="..." data-action="..." data-csrf="...">  a button [data-passkey-start]
//   <form data-passkey="register" data-options="..." data-csrf="...">               a name field and [name=credential]
//
// Every message comes from the page (data-msg-*), in the page's language; a [data-passkey-message] box shows it.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var raw = atob(base64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && navigator.credentials.create &&
              window.isSecureContext);
  }

  function withBytes(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withBytes(json.excludeCredentials)
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, { challenge: toBytes(json.challenge), allowCredentials: withBytes(json.allowCredentials) });
  }

  function answer(credential) {
    var r = credential.response, out = {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      out.response.userHandle = r.userHandle ? toText(r.userHandle) : null;
    }
    return JSON.stringify(out);
  }

  function say(root, name) {
    var box = root.querySelector("[data-passkey-message]") || document.querySelector("[data-passkey-message]");
    if (!box) return;
    box.querySelector("p").textContent = root.getAttribute("data-msg-" + name) || "";
    box.hidden = false;
  }

  function problem(root, error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "AbortError") say(root, "cancelled");
    else if (name === "InvalidStateError") say(root, "known");
    else say(root, "failed");
  }

  function options(root) {
    return fetch(root.getAttribute("data-options"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": root.getAttribute("data-csrf"), "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) throw new Error("options " + response.status);
      return response.json();
    });
  }

  function post(action, csrf, credential) {
    var form = document.createElement("form"), fields = [["csrf_token", csrf], ["credential", credential]];
    var shared = document.querySelector("input[name=shared_device]");  // the login form's "Dit is een gedeeld toestel"
    if (shared && shared.checked) fields.push(["shared_device", shared.value]);
    form.method = "post";
    form.action = action;
    form.hidden = true;
    fields.forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function login(root) {
    var button = root.querySelector("[data-passkey-start]");
    if (!supported()) {
      if (root.hasAttribute("data-msg-unsupported")) { root.hidden = false; say(root, "unsupported"); }
      if (button) button.disabled = true;
      return;
    }
    root.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      options(root).then(function (json) {
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      }).then(function (credential) {
        post(root.getAttribute("data-action"), root.getAttribute("data-csrf"), answer(credential));
      }).catch(function (error) {
        button.disabled = false;
        problem(root, error);
      });
    });
  }

  function register(form) {
    form.addEventListener("submit", function (event) {
      if (form.elements.namedItem("credential").value) return;
      event.preventDefault();
      if (!supported()) { say(form, "unsupported"); return; }
      if (!form.elements.namedItem("name").value.trim()) { say(form, "name"); form.elements.namedItem("name").focus(); return; }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      options(form).then(function (json) {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }).then(function (credential) {
        form.elements.namedItem("credential").value = answer(credential);
        form.submit();
      }).catch(function (error) {
        button.disabled = false;
        problem(form, error);
      });
    });
  }

  document.querySelectorAll("[data-passkey=login]").forEach(login);
  document.querySelectorAll("form[data-passkey=register]").forEach(register);
})();
