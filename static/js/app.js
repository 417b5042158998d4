// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // An error summary takes the focus so that screen readers and keyboard users land on it.
  function focusErrors(root) {
    var summary = root.querySelector && root.querySelector(".error-summary");
    if (summary) summary.focus();
  }
  document.addEventListener("DOMContentLoaded", function () { focusErrors(document); });
  document.addEventListener("htmx:afterSwap", function (event) { focusErrors(event.target); });
})();
