// Referentiel's few behaviours on top of htmx. Loaded as a file (the Content-Security-Policy allows
// no inline script); every page works without it.
(function () {
  "use strict";

  // Lets the stylesheet hide what only browsers without JavaScript need (the "Apply filters" button).
  document.documentElement.classList.add("js");

  function isTyping(target) {
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // "/" focuses the global search box, as on most search-first tools.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    const box = document.getElementById("global-search");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  // Enter in a search box opens the exact trigram hit when there is one, instead of listing results.
  document.addEventListener("keydown", function (event) {
    const box = event.target;
    if (event.key !== "Enter" || !(box instanceof HTMLInputElement) || !box.matches("[data-search-box]")) return;
    const exact = document.querySelector("[data-exact-trigram]");
    if (exact && exact.getAttribute("data-exact-trigram") === box.value.trim().toUpperCase()) {
      event.preventDefault();
      window.location.assign(exact.getAttribute("href"));
    }
  });

  // Arrow keys move through the results (links marked data-result); Enter follows the focused one.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const target = event.target;
    const inBox = target instanceof HTMLInputElement && target.matches("[data-search-box]");
    if (!inBox && !(target instanceof HTMLElement && target.matches("[data-result]"))) return;
    const links = Array.from(document.querySelectorAll("[data-result]"));
    if (links.length === 0) return;
    event.preventDefault();
    const index = links.indexOf(target);
    const next = event.key === "ArrowDown" ? (index < 0 ? 0 : Math.min(index + 1, links.length - 1)) : index - 1;
    if (next < 0) {
      const box = document.querySelector("[data-search-box]");
      if (box) box.focus();
      return;
    }
    links[next].focus();
  });

  // Copy buttons: <button data-copy="text">. The label says "Copied" for a moment.
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy") || "").then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("aria-live", "polite");
      window.setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // A failed htmx request leaves the page as it was and says why in the status line at the top
  // (htmx swaps nothing on an error status, so no error page can land inside a table cell).
  function showRequestProblem(message) {
    const status = document.getElementById("request-status");
    if (!status) return;
    status.textContent = message;
    status.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (event) {
    const body = new DOMParser().parseFromString(event.detail.xhr.responseText || "", "text/html");
    const text = (body.body.textContent || "").replace(/\s+/g, " ").trim();
    showRequestProblem(text || "The request failed (" + event.detail.xhr.status + "). Try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showRequestProblem("The portal did not answer. Check your connection and try again.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const status = document.getElementById("request-status");
    if (status && event.detail.successful) status.hidden = true;
  });
})();
