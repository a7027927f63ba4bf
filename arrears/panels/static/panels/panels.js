// Arrears panels: the few behaviours that need a script. Everything also works without it (plain forms and
// links); htmx adds partial updates where a page asks for them. No inline script anywhere (strict CSP).
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  // The sidebar's menu button on narrow screens.
  function bindMenu(root) {
    root.querySelectorAll("[data-menu-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var sidebar = document.getElementById(button.getAttribute("aria-controls")).closest(".sidebar");
        var open = sidebar.classList.toggle("open");
        button.setAttribute("aria-expanded", open ? "true" : "false");
      });
    });
  }

  // Messages stay until dismissed.
  function bindDismiss(root) {
    root.querySelectorAll("[data-dismiss]").forEach(function (button) {
      button.addEventListener("click", function () { button.closest(".message").remove(); });
    });
  }

  // Money-moving and destructive forms ask first, repeating what will happen (data-confirm on the form).
  var dialog, pendingForm, pendingSubmitter;
  function confirmDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-title");
    dialog.innerHTML = '<div class="dialog-body"><h2 id="confirm-title">Please confirm</h2><p data-text></p></div>' +
      '<div class="dialog-actions"><button type="button" data-no>Go back</button>' +
      '<button type="button" class="primary" data-yes>Confirm</button></div>';
    document.body.appendChild(dialog);
    dialog.querySelector("[data-no]").addEventListener("click", function () { dialog.close(); });
    dialog.querySelector("[data-yes]").addEventListener("click", function () {
      dialog.close();
      if (pendingForm) {
        pendingForm.dataset.confirmed = "yes";
        if (pendingForm.requestSubmit) pendingForm.requestSubmit(pendingSubmitter || undefined);
        else pendingForm.submit();
      }
    });
    return dialog;
  }
  function bindConfirm(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (form.dataset.confirmBound) return;
      form.dataset.confirmBound = "yes";
      form.addEventListener("submit", function (event) {
        if (form.dataset.confirmed === "yes") { delete form.dataset.confirmed; return; }
        event.preventDefault();
        pendingForm = form;
        pendingSubmitter = event.submitter;
        var d = confirmDialog();
        d.querySelector("[data-text]").textContent = form.getAttribute("data-confirm");
        d.querySelector("#confirm-title").textContent = form.getAttribute("data-confirm-title") || "Please confirm";
        d.showModal();
        d.querySelector("[data-yes]").focus();
      });
    });
  }

  // Selects that navigate (the reseller switcher submits its form on change).
  function bindAutoSubmit(root) {
    root.querySelectorAll("[data-autosubmit]").forEach(function (input) {
      input.addEventListener("change", function () { input.form.requestSubmit ? input.form.requestSubmit() : input.form.submit(); });
    });
  }

  // A secret shown once gets a Copy button (data-copyable names what it copies); without the script, or where the
  // clipboard is refused, the text is selected for the keyboard's copy.
  function selectText(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function bindCopy(root) {
    root.querySelectorAll("[data-copyable]").forEach(function (source) {
      if (source.dataset.copyBound) return;
      source.dataset.copyBound = "yes";
      var what = source.getAttribute("data-copyable") || "the text";
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy " + what);
      var status = document.createElement("span");
      status.className = "sr-only";
      status.setAttribute("role", "status");
      function done(copied) {
        button.textContent = copied ? "Copied" : "Press Ctrl+C";
        status.textContent = copied ? "Copied " + what + " to the clipboard." : "Selected " + what + ": copy it now.";
      }
      button.addEventListener("click", function () {
        var text = source.textContent.trim();
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, function () { selectText(source); done(false); });
        } else {
          selectText(source);
          done(false);
        }
      });
      source.insertAdjacentElement("afterend", button);
      button.insertAdjacentElement("afterend", status);
    });
  }

  function bindAll(root) { bindMenu(root); bindDismiss(root); bindConfirm(root); bindAutoSubmit(root); bindCopy(root); }

  onReady(function () {
    bindAll(document);
    // Content that htmx swaps in gets the same behaviours.
    document.body.addEventListener("htmx:afterSwap", function (event) { bindConfirm(event.target); bindDismiss(event.target); });
  });
})();
