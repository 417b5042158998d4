// Live comment threads on a section page; the page works without this file (plain forms, 303).
// - Follows the section's feed (server-sent events, /sections/{id}/commentaires/flux): when a
//   thread or comment changes, or when the version shown is not the server's (a change missed
//   between rendering and subscribing, or during a reconnection), it fetches the section's lists
//   and swaps each question's block by id. What someone is typing in a comment form survives.
// - Posts the comment forms in place, as htmx requests (the server answers with the lists, and
//   `HX-Trigger-After-Settle` naming what to focus), keeping the other forms' drafts.
// - After each swap, tells the editor island (`commentaires:actualises`) so that its highlights
//   follow the threads.
(function () {
  "use strict";
  if (!window.fetch || !document.getElementById("commentaires-flux")) return;

  var fetching = false;
  var posting = 0; // forms being sent: the feed's refreshes wait for their answers
  var again = false;
  var pending = "";

  function feedElement() { return document.getElementById("commentaires-flux"); }
  function announce(text) {
    var region = document.getElementById("commentaires-annonce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  // --- Drafts: what is typed or chosen in the comment forms, kept across a swap --------------
  function saveDrafts(exceptId) {
    var drafts = [];
    document.querySelectorAll(".comments form[id]").forEach(function (form) {
      if (form.id === exceptId) return;
      var fields = [];
      form.querySelectorAll("textarea[name], input[name]").forEach(function (field) {
        if (field.name === "csrf_token" || field.name === "question") return;
        fields.push({ name: field.name, value: field.value, checked: field.checked });
      });
      var passage = form.querySelector("[data-passage]");
      var quote = form.querySelector("[data-passage-text]");
      var details = form.querySelector("details");
      var fold = form.parentElement && form.parentElement.closest("details");
      drafts.push({
        id: form.id, fields: fields,
        passage: passage ? !passage.hidden : false,
        quote: quote ? quote.textContent : "",
        open: details ? details.open : false,
        unfolded: fold ? fold.open : false
      });
    });
    var active = document.activeElement;
    var focus = null;
    var except = exceptId ? document.getElementById(exceptId) : null;
    if (active && active.id && active.closest && active.closest(".comments") &&
        !(except && except.contains(active))) {
      focus = { id: active.id, start: active.selectionStart, end: active.selectionEnd };
    }
    return { forms: drafts, focus: focus };
  }

  function restoreDrafts(saved) {
    saved.forms.forEach(function (draft) {
      var form = document.getElementById(draft.id);
      if (!form) return;
      var mentions = draft.fields.filter(function (f) { return f.name === "mentions"; });
      draft.fields.forEach(function (f) {
        if (f.name === "mentions") return;
        var field = form.querySelector('[name="' + f.name + '"]');
        if (field && field.type !== "checkbox" && f.value) field.value = f.value;
      });
      form.querySelectorAll('input[name="mentions"]').forEach(function (box) {
        var was = mentions.filter(function (f) { return f.value === box.value; })[0];
        if (was && was.checked) box.checked = true;
      });
      var passage = form.querySelector("[data-passage]");
      if (passage && draft.passage) {
        passage.hidden = false;
        form.querySelector("[data-passage-text]").textContent = draft.quote;
      }
      var details = form.querySelector("details");
      if (details && draft.open) details.open = true;
      var fold = form.parentElement && form.parentElement.closest("details");
      if (fold && draft.unfolded) fold.open = true;
    });
    if (saved.focus) {
      var element = document.getElementById(saved.focus.id);
      if (element) {
        element.focus({ preventScroll: true });
        if (typeof saved.focus.start === "number" && element.setSelectionRange) {
          element.setSelectionRange(saved.focus.start, saved.focus.end);
        }
      }
    }
  }

  // --- Swapping the lists -----------------------------------------------------------------
  // What a person would notice: each thread, its state and its comments.
  function signature(root) {
    return Array.prototype.map.call(root.querySelectorAll("article.thread"), function (thread) {
      return [thread.id, thread.dataset.resolved, thread.dataset.placement,
        thread.querySelectorAll(".comment").length,
        thread.querySelectorAll(".comment__deleted").length].join(":");
    }).join(" ");
  }

  /** Swap the answer's blocks in; true when the threads shown changed. */
  function swap(html, exceptId) {
    var drafts = saveDrafts(exceptId);
    var template = document.createElement("template");
    template.innerHTML = html;
    var changed = false;
    Array.prototype.forEach.call(template.content.children, function (fresh) {
      var current = fresh.id && document.getElementById(fresh.id);
      if (!current) return;
      if (signature(current) !== signature(fresh)) changed = true;
      current.replaceWith(fresh);
    });
    restoreDrafts(drafts);
    document.dispatchEvent(new CustomEvent("commentaires:actualises"));
    return changed;
  }

  /** Fetch and swap the lists; `message` (a string) is said instead of the usual notice. */
  function refresh(message) {
    var said = typeof message === "string" ? message : "";
    var feed = feedElement();
    if (!feed) return;
    if (fetching || posting > 0) { again = true; pending = said || pending; return; }
    fetching = true;
    fetch(feed.dataset.liste, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        // Our own changes are already shown (the answer to our post): only others' are told.
        var changed = html !== null && swap(html, null);
        if (said || changed) announce(said || "Les commentaires de la section ont été mis à jour.");
      })
      .catch(function () { /* offline: the next event or reconnection tries again */ })
      .then(function () {
        fetching = false;
        retry();
      });
  }

  function retry() {
    if (!again || fetching || posting > 0) return;
    var next = pending;
    again = false;
    pending = "";
    refresh(next);
  }

  // --- The feed ---------------------------------------------------------------------------
  if (window.EventSource) {
    var source = new EventSource(feedElement().dataset.flux);
    source.addEventListener("etat", function (event) {
      var feed = feedElement();
      var state = JSON.parse(event.data);
      if (feed && state.version !== feed.dataset.version) refresh();
    });
    source.addEventListener("commentaires", refresh);
  }
  // The island asks when its reading of a passage differs from the list's (an edit just stored).
  document.addEventListener("commentaires:rafraichir", refresh);

  // --- Posting the forms in place ---------------------------------------------------------
  function showAlert(form, text) {
    var alert = form.querySelector("[data-comment-alert]");
    if (!alert) {
      if (text === "") return;
      alert = document.createElement("p");  // one-button forms have none until needed
      alert.className = "thread__alert";
      alert.setAttribute("role", "alert");
      alert.setAttribute("data-comment-alert", "");
      form.appendChild(alert);
    }
    alert.textContent = text;
    alert.hidden = text === "";
  }

  function errorText(html, status) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var message = template.content.querySelector(".error-page .lead");
    var fallback = status === 403 ? "Vous n'avez pas le droit de faire cela." : "L'action n'a pas abouti : rechargez la page.";
    return message ? message.textContent.trim() : fallback;
  }

  function focusAfter(response, formId) {
    var target = null;
    if (response.status === 422) {
      var form = document.getElementById(formId);
      target = form && form.querySelector(".error-summary");
    } else {
      try {
        var header = JSON.parse(response.headers.get("HX-Trigger-After-Settle") || "{}");
        target = document.getElementById(header["commentaires:focus"] || "");
      } catch (e) { target = null; }
    }
    if (target) target.focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest(".comments") || event.defaultPrevented) return;
    event.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = "true";
    posting += 1;
    showAlert(form, "");
    var formId = form.id;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "HX-Request": "true" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.text().then(function (html) {
        if ((response.ok || response.status === 422) && html.indexOf("hx-swap-oob") >= 0) {
          swap(html, response.ok ? formId : null);
          focusAfter(response, formId);
        } else if (response.status === 404 || response.status === 409) {
          // The thread moved meanwhile (resolved, deleted…): say so, and show it as it is now.
          refresh(errorText(html, response.status));
        } else {
          showAlert(form, errorText(html, response.status));
        }
      });
    }).catch(function () {
      showAlert(form, "Le commentaire n'a pas pu être envoyé : vérifiez votre connexion, puis réessayez.");
    }).then(function () {
      delete form.dataset.busy;
      posting -= 1;
      retry();
    });
  });
})();
