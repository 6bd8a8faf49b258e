// The strength hint under a new password, while the person types, and a "show password" button.
// The server decides (idp/password_rules.py); this script only helps and checks what it can without the list of
// common passwords, which stays on the server: the length in characters after NFKC, too long, one character (or a
// short piece) repeated, a simple sequence. Without this script the form works the same.
(function () {
  "use strict";

  var SEPARATORS = /[ \-._\/]/g;
  var SEQUENCES = [  // as idp/password_rules.py SEQUENCES
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", "01234567890123456789",
    "qwertyuiopqwertyuiop", "asdfghjkl", "zxcvbnm", "azertyuiopazertyuiop", "qsdfghjklm", "wxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "&\u00e9\"'(\u00a7\u00e8!\u00e7\u00e0"
  ];
  var MAX_LENGTH = 64;
  var STRONG_LENGTH = 15;

  function characters(text) {
    return Array.from(text.normalize ? text.normalize("NFKC") : text);
  }

  function core(text) {
    return text.toLowerCase().replace(SEPARATORS, "");
  }

  function repeated(text) {
    var c = Array.from(core(text));
    if (c.length < 2) { return c.length === 1; }
    return [1, 2, 3].some(function (size) {
      if (c.length < 2 * size) { return false; }
      return c.every(function (ch, i) { return ch === c[i % size]; });
    });
  }

  function sequence(text) {
    var c = core(text);
    var chars = Array.from(c);
    if (chars.length < 3) { return false; }
    var steps = {};
    for (var i = 1; i < chars.length; i++) {
      steps[chars[i].codePointAt(0) - chars[i - 1].codePointAt(0)] = true;
    }
    var kinds = Object.keys(steps);
    if (kinds.length === 1 && (kinds[0] === "1" || kinds[0] === "-1")) { return true; }
    var backwards = chars.slice().reverse().join("");
    return SEQUENCES.some(function (run) { return run.indexOf(c) >= 0 || run.indexOf(backwards) >= 0; });
  }

  function count(words, one, many, n) {
    return n === 1 ? words[one] : words[many].replace("{n}", n);
  }

  // [level, why] for what is typed now; the level is weak, fair or strong.
  function judge(value, minimum, staffMinimum, words) {
    var length = characters(value).length;
    if (length > MAX_LENGTH) { return ["weak", words.long.replace("{n}", MAX_LENGTH)]; }
    if (length < minimum) { return ["weak", count(words, "short_one", "short", minimum - length)]; }
    if (repeated(value)) { return ["weak", words.repeated]; }
    if (sequence(value)) { return ["weak", words.sequence]; }
    if (staffMinimum && length < staffMinimum) {
      return ["fair", count(words, "staff_one", "staff", staffMinimum - length)];
    }
    if (length >= Math.max(STRONG_LENGTH, minimum)) { return ["strong", words.strong_why]; }
    return ["fair", words.fair_why];
  }

  function toggle(form, words) {
    var fields = Array.prototype.slice.call(form.querySelectorAll("input[type=password]"));
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = words.show;
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var showing = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", showing ? "true" : "false");
      fields.forEach(function (field) { field.type = showing ? "text" : "password"; });
    });
    var wrapper = document.createElement("p");
    wrapper.className = "show-password";
    wrapper.appendChild(button);
    return wrapper;
  }

  function setup(input) {
    var out = document.getElementById(input.getAttribute("data-strength"));
    if (!out) { return; }
    var words = JSON.parse(out.getAttribute("data-words"));
    var minimum = parseInt(input.getAttribute("data-minimum"), 10) || 8;
    var staffMinimum = parseInt(input.getAttribute("data-staff-minimum"), 10) || 0;
    var timer = null;
    function show() {
      if (!input.value) { out.textContent = ""; out.removeAttribute("data-level"); return; }
      var verdict = judge(input.value, minimum, staffMinimum > minimum ? staffMinimum : 0, words);
      out.setAttribute("data-level", verdict[0]);
      out.textContent = words[verdict[0]] + ": " + verdict[1] + ".";
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(show, 350);  // announced once the person pauses, not at every key
    });
    if (input.form) {  // under the last password field of the form: it shows them all
      var secrets = input.form.querySelectorAll("input[type=password]");
      var last = secrets[secrets.length - 1];
      var field = last.closest(".field") || last;
      field.parentNode.insertBefore(toggle(input.form, words), field.nextSibling);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-strength]"), setup);
})();
