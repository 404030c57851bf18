// Whassap's one script: live timelines from the SSE firehose, the "push
// saved" counter, local times and the status form's character counter.
// Text is only ever inserted with textContent, never parsed as HTML.
"use strict";

(function () {
  const MAX_CHARS_DEFAULT = 280;
  const STATS_EVERY_MS = 60 * 1000;

  // --- Times: "5 min ago", with the full local time as a tooltip. ---

  function relative(date) {
    const secs = Math.round((Date.now() - date.getTime()) / 1000);
    if (secs < 45) return "just now";
    const mins = Math.round(secs / 60);
    if (mins < 60) return mins + " min ago";
    const hours = Math.round(mins / 60);
    if (hours < 24) return hours + " h ago";
    return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  }

  function showTime(el) {
    const date = new Date(el.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    el.textContent = relative(date);
    el.title = date.toLocaleString();
  }

  function refreshTimes() {
    document.querySelectorAll("time[datetime]").forEach(showTime);
  }

  // --- Statuses, built like the server's markup. ---

  function userPath(username) {
    return "/" + encodeURIComponent(username);
  }

  function statusPath(s) {
    return userPath(s.author.username) + "/statuses/" + encodeURIComponent(s.id);
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function timeElement(s) {
    const t = el("time", null, s.created_at);
    t.setAttribute("datetime", s.created_at);
    showTime(t);
    return t;
  }

  function statusItem(s) {
    const li = el("li", "status new");
    li.id = "s-" + s.id;
    li.dataset.id = s.id;
    const author = el("a", "author");
    author.href = userPath(s.author.username);
    author.append(el("strong", "name", s.author.display_name), " ", el("span", "jid", s.author.jid));
    const meta = el("p", "meta");
    const when = el("a", "when");
    when.href = statusPath(s);
    when.append(timeElement(s));
    meta.append(when, " · via ", el("span", "source", s.source));
    li.append(author, el("p", "text", s.text), meta);
    return li;
  }

  function toggleEmpty(list) {
    const empty = list.nextElementSibling;
    if (empty && empty.classList.contains("empty")) {
      empty.hidden = list.children.length > 0;
    }
  }

  // A user page's "current status" box.
  function showCurrent(s) {
    const box = document.querySelector("[data-current]");
    if (!box) return;
    const quote = el("blockquote", "current-text", s.text);
    quote.dataset.id = s.id;
    const meta = el("p", "meta", "Current status · ");
    const when = el("a", "when");
    when.href = statusPath(s);
    when.append(timeElement(s));
    meta.append(when);
    box.replaceChildren(quote, meta);
  }

  function forgetCurrent(id) {
    const quote = document.querySelector("[data-current] .current-text");
    if (quote && quote.dataset.id === id) {
      quote.parentElement.replaceChildren(el("p", "muted", "That status was just deleted."));
    }
  }

  // --- The "push saved" counter. ---

  const stats = document.querySelector("[data-stats]");
  let statsTimer = null;

  function formatNumber(n) {
    return Number(n).toLocaleString("en-US");
  }

  function refreshStats() {
    if (!stats) return;
    fetch(stats.dataset.stats, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        stats.querySelectorAll("[data-stat]").forEach(function (dd) {
          const value = data[dd.dataset.stat];
          if (value === undefined) return;
          const text = formatNumber(value);
          if (dd.textContent !== text) {
            dd.textContent = text;
            dd.classList.remove("bump");
            void dd.offsetWidth; // restart the animation
            dd.classList.add("bump");
          }
        });
      })
      .catch(function () { /* try again later */ });
  }

  // After a status event, once its deliveries have gone out.
  function refreshStatsSoon() {
    if (statsTimer) return;
    statsTimer = setTimeout(function () {
      statsTimer = null;
      refreshStats();
    }, 800);
  }

  // --- Live lists from the firehose. ---

  function follow(list) {
    if (!("EventSource" in window)) return;
    const live = document.querySelector(".live");
    const source = new EventSource(list.dataset.stream);
    source.addEventListener("open", function () { if (live) live.hidden = false; });
    source.addEventListener("error", function () { if (live) live.hidden = true; });
    source.addEventListener("status", function (e) {
      const s = JSON.parse(e.data);
      if (!document.getElementById("s-" + s.id)) {
        list.prepend(statusItem(s));
        toggleEmpty(list);
        showCurrent(s);
      }
      refreshStatsSoon();
    });
    source.addEventListener("delete", function (e) {
      const id = JSON.parse(e.data).id;
      const item = document.getElementById("s-" + id);
      if (item) item.remove();
      toggleEmpty(list);
      forgetCurrent(id);
      refreshStatsSoon();
    });
  }

  // --- The status form's counter (characters after NFC, as the server counts). ---

  function counter(textarea) {
    const out = document.getElementById(textarea.getAttribute("aria-describedby"));
    if (!out) return;
    const max = Number(textarea.dataset.max) || MAX_CHARS_DEFAULT;
    const update = function () {
      const n = Array.from(textarea.value.normalize("NFC")).length;
      out.textContent = n + " / " + max;
      out.classList.toggle("over", n > max);
    };
    textarea.addEventListener("input", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes();
    setInterval(refreshTimes, 60 * 1000);
    document.querySelectorAll("[data-stream]").forEach(follow);
    document.querySelectorAll("textarea[data-max]").forEach(counter);
    if (stats) setInterval(refreshStats, STATS_EVERY_MS);
  });
})();
