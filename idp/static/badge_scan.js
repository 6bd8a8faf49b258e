/* The badge page: reads a badge's secret from the address (a camera app opened {issuer}/badge#<secret>) or from
   the device's camera (jsQR), and posts it with the page's CSRF token. The secret never goes into a URL that is
   sent anywhere: only the fragment held it, and it is removed from the address bar at once. Without JavaScript,
   or without a camera, the form for the short code does the same. */
(function () {
  "use strict";
  var scanner = document.getElementById("badge-scanner");
  var form = document.getElementById("badge-secret-form");
  if (!scanner || !form) {
    return;
  }
  var prefix = scanner.getAttribute("data-prefix");
  var status = document.getElementById("badge-status");
  var video = document.getElementById("badge-video");
  var secret = /^[A-Za-z0-9_-]{43}$/;
  var stream = null;
  var sent = false;

  function say(key) {
    status.textContent = status.getAttribute(key);
  }

  function send(value) {
    if (sent) {
      return;
    }
    sent = true;
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
    }
    form.elements.secret.value = value;
    form.submit();
  }

  var fragment = window.location.hash.slice(1);
  if (fragment) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
    if (secret.test(fragment)) {
      scanner.hidden = false;
      say("data-found");
      send(fragment);
      return;
    }
  }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof jsQR !== "function") {
    return;  // no camera here: the form for the short code stays
  }
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });

  function look() {
    if (sent) {
      return;
    }
    if (video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        var value = found.data.indexOf(prefix) === 0 ? found.data.slice(prefix.length) : "";
        if (secret.test(value)) {
          say("data-found");
          send(value);
          return;
        }
        say("data-not-ours");
      }
    }
    window.setTimeout(look, 150);
  }

  navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
    .then(function (camera) {
      stream = camera;
      scanner.hidden = false;
      video.srcObject = camera;
      return video.play();
    })
    .then(look)
    .catch(function () {
      scanner.hidden = false;
      video.hidden = true;
      say("data-no-camera");
    });
}());
