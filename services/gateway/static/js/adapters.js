// The adapters view: the base model and each LoRA adapter with its training card
// (base model, training data, evaluation and style scores before/after training).

import { refreshCatalog } from "./catalog.js";
import { errorBox, fmtDate, fmtInt, fmtUsd, h, setChildren } from "./dom.js";

function fmtNumber(value, digits = 3) {
  if (!Number.isFinite(value)) return "–";
  return Number.isInteger(value) ? fmtInt(value) : value.toFixed(digits);
}

function fmtSeconds(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "–";
  return seconds < 120 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`;
}

function fmtValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return fmtNumber(value);
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function facts(rows) {
  const shown = rows.filter(([, value]) => value !== null && value !== undefined && value !== "" && value !== "–");
  if (!shown.length) return null;
  return h("dl", { class: "facts" }, shown.map(([label, value]) => [h("dt", {}, label), h("dd", { class: "break" }, value)]));
}

/** One before → after score row; `better` says which direction is an improvement. */
function scoreRow(label, before, after, better) {
  if (!Number.isFinite(before) && !Number.isFinite(after)) return null;
  let trend = null;
  if (Number.isFinite(before) && Number.isFinite(after) && before !== after) {
    const improved = better === "lower" ? after < before : after > before;
    const diff = after - before;
    trend = h("span", { class: `trend ${improved ? "better" : "worse"}` },
      `${diff > 0 ? "+" : "−"}${Math.abs(diff).toFixed(3)} ${improved ? "better" : "worse"}`);
  }
  return h("tr", {},
    h("th", { scope: "row", title: better === "lower" ? "lower is better" : "higher is better" }, label,
      h("span", { class: "direction", "aria-label": better === "lower" ? "lower is better" : "higher is better" }, better === "lower" ? " ↓" : " ↑")),
    h("td", { class: "num" }, fmtNumber(before)),
    h("td", { class: "num" }, h("strong", {}, fmtNumber(after))),
    h("td", {}, trend));
}

function evaluation(card) {
  const rows = [
    scoreRow("Eval loss", card.eval_loss_before, card.eval_loss_after, "lower"),
    scoreRow("Style score", card.style_score_before, card.style_score_after, "higher"),
  ].filter(Boolean);
  if (!rows.length) return h("p", { class: "muted small" }, "No evaluation scores recorded for this adapter.");
  return h("div", { class: "scores" },
    h("table", { class: "score-table" },
      h("caption", {}, "Evaluation on held-out examples (↓ lower is better, ↑ higher is better)"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Metric"), h("th", { scope: "col", class: "num" }, "Base"),
        h("th", { scope: "col", class: "num" }, "Adapter"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Change")))),
      h("tbody", {}, rows)));
}

function adapterCard(model) {
  const card = model.card || {};
  const hyper = card.hyperparameters || {};
  const hash = card.data_sha256 || card.data_hash;
  const examples = [card.train_examples, card.eval_examples].every(Number.isFinite)
    ? `${fmtInt(card.train_examples)} train · ${fmtInt(card.eval_examples)} held out`
    : null;
  return h("article", { class: "model-card adapter", "aria-labelledby": `card-${model.name}` },
    h("header", {},
      h("h3", { id: `card-${model.name}` }, model.name),
      h("span", { class: "badge adapter" }, card.method ? `adapter · ${card.method}` : "adapter")),
    model.card ? null : h("p", { class: "muted small" }, "This adapter has no training card."),
    facts([
      ["Base model", card.base_model || model.raw.parent],
      ["Training data", hash ? h("code", { title: `sha256 ${hash}` }, `sha256 ${String(hash).slice(0, 12)}…`) : null],
      ["Examples", examples],
      ["Training time", card.train_seconds ? fmtSeconds(card.train_seconds) : null],
      ["Training cost", card.train_cost_usd ? fmtUsd(card.train_cost_usd) : null],
      ["Created", card.created ? fmtDate(card.created) : null],
    ]),
    model.card ? evaluation(card) : null,
    Object.keys(hyper).length
      ? h("details", { class: "hyper" }, h("summary", {}, "Hyperparameters"),
        facts(Object.entries(hyper).map(([k, v]) => [k.replace(/_/g, " "), fmtValue(v)])))
      : null,
    card.serving && Object.keys(card.serving).length
      ? h("details", { class: "hyper" }, h("summary", {}, "Serving"),
        facts(Object.entries(card.serving).map(([k, v]) => [k.replace(/_/g, " "), fmtValue(v)])))
      : null);
}

function baseCard(model, adapterCount) {
  return h("article", { class: "model-card base", "aria-labelledby": `card-${model.name}` },
    h("header", {},
      h("h3", { id: `card-${model.name}` }, model.name),
      h("span", { class: "badge mode-base" }, "base model")),
    h("p", { class: "muted small" }, "Answers in modes base and rag; adapters are applied on top of it for ft and hybrid."),
    facts([
      ["Adapters on it", fmtInt(adapterCount)],
      ["Served since", model.raw.created ? fmtDate(model.raw.created) : null],
    ]));
}

/** Wire up the adapters view; returns a function that reloads it. */
export function initAdapters() {
  const area = document.getElementById("adapters-list");
  return async function reload() {
    area.setAttribute("aria-busy", "true");
    try {
      const { base, adapters } = await refreshCatalog();
      setChildren(area,
        base ? baseCard(base, adapters.length) : null,
        adapters.length
          ? adapters.map(adapterCard)
          : h("p", { class: "empty" }, "No adapters yet. Train one with ",
            h("code", {}, "ragtune train --data FILE --name NAME"), "; the gateway serves every adapter in RAGTUNE_HOME/adapters."));
    } catch (error) {
      setChildren(area, errorBox(error));
    } finally {
      area.setAttribute("aria-busy", "false");
    }
  };
}
