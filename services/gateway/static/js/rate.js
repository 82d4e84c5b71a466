// The rate view: blind pairwise (or n-way) judgements and the win rates they add up to.
// Before a judgement the page knows only opaque answer ids and texts (the gateway keeps which mode
// and adapter wrote each); the judgement's reply reveals them.

import { getJson, postJson } from "./api.js";
import { modeBadge } from "./answer.js";
import { subscribe } from "./catalog.js";
import { errorBox, h, setChildren, toast } from "./dom.js";

const LETTERS = "ABCDEFGH";
const ADAPTER_MODES = new Set(["ft", "hybrid"]);

const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–");

/** The win-rate table: one row per contestant, the expected win rate with its interval as a bar. */
function summaryView(summary) {
  if (!summary.contestants.length) {
    return h("p", { class: "empty" }, summary.tasks
      ? `No judgements yet: ${summary.tasks} comparison${summary.tasks === 1 ? "" : "s"} waiting.`
      : "No blind comparisons yet. Ask a question above to make one.");
  }
  const rows = summary.contestants.map((row) => {
    const [mode, adapter] = row.contestant.split(":");
    return h("tr", { dataset: { contestant: row.contestant } },
      h("th", { scope: "row" }, modeBadge(mode), adapter ? h("span", { class: "badge adapter" }, adapter) : null),
      h("td", { class: "num" }, String(row.games)),
      h("td", { class: "num" }, `${row.wins} / ${row.ties} / ${row.losses}`),
      h("td", { class: "num" }, pct(row.win_rate)),
      h("td", { class: "num ci-cell" },
        h("div", { class: "cell-value" }, `${pct(row.expected_win_rate)} `, h("span", { class: "muted small" }, `[${pct(row.ci_low)}, ${pct(row.ci_high)}]`)),
        h("div", { class: "ci-bar", role: "img", "aria-label": `${pct(row.ci_low)} to ${pct(row.ci_high)}` },
          h("span", { class: "ci-range", style: { left: `${row.ci_low * 100}%`, width: `${Math.max(0.5, (row.ci_high - row.ci_low) * 100)}%` } }),
          h("span", { class: "ci-point", style: { left: `${row.expected_win_rate * 100}%` } }),
          h("span", { class: "ci-even" }))));
  });
  return h("div", { class: "table-wrap" },
    h("table", { class: "compare-table rate-summary-table" },
      h("caption", {}, `Win rates from ${summary.judgements} blind judgement${summary.judgements === 1 ? "" : "s"} `,
        h("span", { class: "muted small" }, `(Bradley-Terry, ${Math.round(summary.confidence * 100)}% bootstrap interval)`)),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Mode and adapter"),
        h("th", { scope: "col" }, "Games"),
        h("th", { scope: "col" }, "Won / tied / lost"),
        h("th", { scope: "col" }, "Win rate"),
        h("th", { scope: "col" }, "Chance to beat the others"))),
      h("tbody", {}, rows)));
}

/** Wire up the rate view; returns its loader (run when the view is shown). */
export function initRate() {
  const form = document.getElementById("rate-new-form");
  const question = document.getElementById("rate-question");
  const adapterBox = document.getElementById("rate-adapters");
  const taskBox = document.getElementById("rate-task");
  const status = document.getElementById("rate-status");
  const summaryBox = document.getElementById("rate-summary");
  const create = form.querySelector("button[type=submit]");
  let shown = null; // the task on screen, until judged

  subscribe(({ adapters }) => {
    const checked = new Set([...adapterBox.querySelectorAll("input:checked")].map((i) => i.value));
    const first = !adapterBox.querySelector("input");
    setChildren(adapterBox, h("legend", {}, "Adapters for ft / hybrid"),
      adapters.length ? adapters.map((a, i) => h("label", {},
        h("input", { type: "checkbox", name: "rate-adapter", value: a.name, checked: checked.has(a.name) || (first && i === 0) }), ` ${a.name}`))
        : h("span", { class: "muted small" }, "none loaded"));
  });

  async function refreshSummary() {
    try {
      setChildren(summaryBox, summaryView(await getJson("/v1/ratings/summary")));
    } catch (error) {
      setChildren(summaryBox, errorBox(error));
    }
  }

  function showTask(task, pending) {
    shown = task;
    const reason = h("textarea", { class: "rate-reason", rows: 2, maxlength: 4000, placeholder: "e.g. more precise, friendlier, cites its source" });
    const choose = (choice) => judge(task, choice, reason.value.trim(), card);
    const card = h("article", { class: "card rate-card", "aria-labelledby": "rate-card-question" },
      h("h2", { id: "rate-card-question", class: "rate-question" }, h("span", { class: "muted" }, "Question: "), task.question),
      pending > 1 ? h("p", { class: "muted small" }, `${pending - 1} more waiting after this one.`) : null,
      h("div", { class: "columns", style: { "--cols": task.answers.length } },
        task.answers.map((answer, i) => h("section", { class: "rate-answer", dataset: { answerId: answer.id }, "aria-label": `Answer ${LETTERS[i]}` },
          h("h3", {}, `Answer ${LETTERS[i]}`),
          h("p", { class: "answer-text" }, answer.text),
          h("button", { type: "button", class: "primary rate-pick", dataset: { choice: answer.id }, onclick: () => choose(answer.id) }, `${LETTERS[i]} is better`)))),
      h("div", { class: "rate-actions" },
        h("button", { type: "button", class: "rate-tie", dataset: { choice: "tie" }, onclick: () => choose("tie") }, "Tie: neither is better"),
        h("label", { class: "field field-wide" }, h("span", {}, "Why (optional)"), reason)));
    setChildren(taskBox, card);
    status.textContent = `Rate: ${task.answers.length} answers to one question.`;
  }

  async function loadNext() {
    try {
      const next = await getJson("/v1/ratings/tasks/next");
      if (next.task) showTask(next.task, next.pending);
      else {
        shown = null;
        setChildren(taskBox, h("p", { class: "empty rate-empty" }, "Nothing waiting to be rated. Make a new blind comparison above."));
        status.textContent = "No comparisons waiting.";
      }
    } catch (error) {
      setChildren(taskBox, errorBox(error));
    }
  }

  async function judge(task, choice, reason, card) {
    const buttons = card.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    let stored;
    try {
      stored = await postJson(`/v1/ratings/tasks/${encodeURIComponent(task.task_id)}/judgement`, reason ? { choice, reason } : { choice });
    } catch (error) {
      buttons.forEach((b) => { b.disabled = false; });
      toast(`Could not save the judgement: ${error.message}`, "error");
      return;
    }
    shown = null;
    card.classList.add("judged");
    for (const answer of stored.answers) {
      const section = card.querySelector(`.rate-answer[data-answer-id="${CSS.escape(answer.id)}"]`);
      if (!section) continue;
      section.dataset.mode = answer.mode;
      if (answer.adapter) section.dataset.adapter = answer.adapter;
      section.classList.toggle("chosen", answer.chosen);
      section.querySelector(".rate-pick").replaceWith(h("p", { class: "reveal" },
        answer.chosen ? h("strong", {}, "Your pick · ") : null,
        modeBadge(answer.mode), answer.adapter ? h("span", { class: "badge adapter" }, `adapter ${answer.adapter}`) : null));
    }
    const next = h("button", { type: "button", class: "primary rate-next", onclick: () => loadNext() }, "Next comparison");
    card.querySelector(".rate-actions").replaceChildren(
      h("p", { class: "feedback-status ok", role: "status" }, choice === "tie" ? "Saved: a tie." : "Saved."), next);
    next.focus();
    status.textContent = "Judgement saved; the answers' modes are now shown.";
    refreshSummary();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text) {
      setChildren(taskBox, errorBox(new Error("Type a question to compare.")));
      question.focus();
      return;
    }
    const modes = [...form.querySelectorAll("input[name=rate-mode]:checked")].map((i) => i.value);
    const adapters = [...adapterBox.querySelectorAll("input:checked")].map((i) => i.value);
    const contestants = modes.flatMap((mode) => (ADAPTER_MODES.has(mode) && adapters.length
      ? adapters.map((adapter) => ({ mode, adapter }))
      : [{ mode }]));
    if (contestants.length < 2) {
      setChildren(taskBox, errorBox(new Error("Pick at least two ways to answer (modes, or one adapter mode with two adapters).")));
      return;
    }
    create.disabled = true;
    taskBox.setAttribute("aria-busy", "true");
    setChildren(taskBox, h("p", { class: "progress-note" }, `Answering in ${contestants.length} ways…`));
    try {
      showTask(await postJson("/v1/ratings/tasks", { question: text, contestants }), 1);
    } catch (error) {
      setChildren(taskBox, errorBox(error));
    } finally {
      create.disabled = false;
      taskBox.setAttribute("aria-busy", "false");
    }
  });

  return () => {
    if (!shown) loadNext();
    refreshSummary();
  };
}
