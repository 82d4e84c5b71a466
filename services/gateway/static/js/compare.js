// The compare view: one question, the four modes side by side, with what each costs and gives.

import { postJson } from "./api.js";
import { MODE_INFO, answerCard, modeBadge } from "./answer.js";
import { fillAdapterSelect, subscribe } from "./catalog.js";
import { errorBox, fmtDelta, fmtInt, fmtMs, fmtUsd, h, setChildren } from "./dom.js";

const ALL_MODES = ["base", "rag", "ft", "hybrid"];
const GIVES = {
  base: { docs: false, voice: false },
  rag: { docs: true, voice: false },
  ft: { docs: false, voice: true },
  hybrid: { docs: true, voice: true },
};

/** The mode a compare result stands for. */
const modeOf = (result) => (result.requested_mode && result.requested_mode !== "auto" ? result.requested_mode : result.mode);

/** The per-mode results of a /v1/compare response, in the order asked for. */
function resultsOf(body, modes) {
  let results = body.results || body.modes || body;
  if (!Array.isArray(results)) {
    results = Object.entries(results)
      .filter(([, value]) => value && typeof value === "object" && "answer" in value)
      .map(([mode, value]) => ({ mode, ...value }));
  }
  const order = (r) => {
    const i = modes.indexOf(modeOf(r));
    return i < 0 ? modes.length : i;
  };
  return [...results].sort((a, b) => order(a) - order(b));
}

const TITLES = { base: "Base model", rag: "RAG", ft: "Fine-tuned", hybrid: "Hybrid (RAG + fine-tuned)" };

// `delta` names the field of the gateway's CompareDelta for this metric
const METRICS = [
  { key: "context", label: "Context tokens", delta: "context_tokens", get: (r) => r.usage?.context_tokens, fmt: fmtInt },
  { key: "tokens", label: "Total tokens", delta: "total_tokens", get: (r) => r.usage?.total_tokens, fmt: fmtInt },
  { key: "ttft", label: "First token", delta: "ttft_ms", get: (r) => r.latency_ms?.ttft, fmt: fmtMs },
  { key: "latency", label: "Latency", delta: "latency_ms", get: (r) => r.latency_ms?.total, fmt: fmtMs },
  { key: "cost", label: "Cost / answer", delta: "cost_usd", get: (r) => r.cost?.usd, fmt: fmtUsd },
];

/**
 * A table: one row per mode, each metric with a bar and its difference from the baseline
 * (the gateway's `deltas`, computed here when a gateway sends none).
 */
function summaryTable(results, deltas, baselineMode) {
  const baseline = baselineMode || (results.some((r) => modeOf(r) === "rag") ? "rag" : null);
  const reference = results.find((r) => modeOf(r) === baseline);
  const maxima = Object.fromEntries(METRICS.map((m) => [m.key, Math.max(...results.map((r) => m.get(r) || 0), 0)]));
  const deltaCell = (metric, result) => {
    if (!reference || result === reference) return h("span", { class: "delta ref" }, result === reference ? "baseline" : "");
    const fromGateway = deltas && deltas[modeOf(result)] ? deltas[modeOf(result)][metric.delta] : undefined;
    const diff = Number.isFinite(fromGateway) ? fromGateway : (metric.get(result) ?? NaN) - (metric.get(reference) ?? NaN);
    const cls = diff < 0 ? "delta down" : diff > 0 ? "delta up" : "delta";
    return h("span", { class: cls, title: `${metric.label} compared with ${baseline}` }, `${fmtDelta(diff, metric.fmt)} vs ${baseline}`);
  };
  return h("div", { class: "table-wrap" },
    h("table", { class: "compare-table" },
      h("caption", {}, "What each mode costs and gives",
        baseline ? [" (differences against ", h("code", {}, baseline), ")"] : null),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Mode"),
        h("th", { scope: "col" }, "Gives"),
        h("th", { scope: "col" }, "Sources"),
        METRICS.map((m) => h("th", { scope: "col" }, m.label)))),
      h("tbody", {}, results.map((r) => {
        const mode = modeOf(r);
        const gives = GIVES[mode] || {};
        return h("tr", { dataset: { mode } },
          h("th", { scope: "row" }, modeBadge(mode)),
          h("td", { class: "gives" },
            h("span", { class: gives.docs ? "yes" : "no" }, gives.docs ? "✓ documents" : "✗ documents"),
            h("span", { class: gives.voice ? "yes" : "no" }, gives.voice ? `✓ voice${r.adapter ? ` (${r.adapter})` : ""}` : "✗ brand voice")),
          h("td", { class: "num" }, fmtInt((r.citations || []).length)),
          METRICS.map((m) => {
            const value = m.get(r);
            const width = maxima[m.key] > 0 && Number.isFinite(value) ? (value / maxima[m.key]) * 100 : 0;
            return h("td", { class: "num" },
              h("div", { class: "cell-value" }, m.fmt(value)),
              h("div", { class: "minibar", "aria-hidden": "true" }, h("span", { class: `mode-fill-${mode}`, style: { width: `${width}%` } })),
              deltaCell(m, r));
          }));
      }))));
}

/** Wire up the compare view. */
export function initCompare() {
  const form = document.getElementById("compare-form");
  const question = document.getElementById("compare-question");
  const adapter = document.getElementById("compare-adapter");
  const output = document.getElementById("compare-output");
  const status = document.getElementById("compare-status");
  const run = form.querySelector("button[type=submit]");
  fillAdapterSelect(adapter);
  // ft and hybrid need an adapter: pick the first one when the list arrives
  let chosenByUser = false;
  adapter.addEventListener("change", () => { chosenByUser = true; });
  subscribe(({ adapters }) => {
    if (!chosenByUser && !adapter.value && adapters.length) adapter.value = adapters[0].name;
  });

  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    const modes = [...form.querySelectorAll("input[name=modes]:checked")].map((i) => i.value);
    if (!text) {
      setChildren(output, errorBox(new Error("Type a question to compare.")));
      question.focus();
      return;
    }
    if (modes.length === 0) {
      setChildren(output, errorBox(new Error("Pick at least one mode.")));
      return;
    }
    const body = { question: text, modes };
    if (adapter.value) body.adapter = adapter.value;
    run.disabled = true;
    const cards = modes.map((m) => answerCard(m));
    setChildren(output,
      h("p", { class: "progress-note" }, `Running ${modes.length} modes on the same retrieved context…`),
      h("div", { class: "columns", style: { "--cols": modes.length } }, cards.map((c) => c.el)));
    output.setAttribute("aria-busy", "true");
    status.textContent = `Comparing ${modes.length} modes…`;
    try {
      const response = await postJson("/v1/compare", body);
      const results = resultsOf(response, modes);
      const columns = results.map((result) => {
        const mode = modeOf(result);
        const card = answerCard(mode);
        card.finish(result);
        return h("section", { class: `column column-${mode}`, "aria-labelledby": `column-${mode}` },
          h("header", { class: "column-head" },
            h("h3", { id: `column-${mode}` }, TITLES[mode] || mode),
            h("p", { class: "muted small" }, MODE_INFO[mode] || "")),
          card.el);
      });
      const skipped = Object.entries(response.skipped || {});
      setChildren(output,
        h("h2", { class: "compare-question" }, h("span", { class: "muted" }, "Question: "), text),
        skipped.length
          ? h("p", { class: "skipped", role: "note" }, "Not run: ",
            skipped.map(([mode, why], i) => [i ? "; " : "", h("strong", {}, mode), ` (${why})`]))
          : null,
        summaryTable(results, response.deltas, response.baseline),
        h("div", { class: "columns", style: { "--cols": columns.length } }, columns));
      status.textContent = `Comparison ready: ${results.length} modes.`;
    } catch (error) {
      setChildren(output, errorBox(error));
      status.textContent = "";
    } finally {
      run.disabled = false;
      output.setAttribute("aria-busy", "false");
    }
  });
}
