// One answer as a card: the text with clickable citation markers, its sources, latency by stage,
// tokens by kind, cost, and feedback buttons. Used by the chat and the compare views.

import { postJson } from "./api.js";
import { fmtInt, fmtMs, fmtUsd, h, setChildren } from "./dom.js";

export const MODE_INFO = {
  auto: "ragtune decides per question whether to retrieve and which adapter to use.",
  base: "The base model alone: no documents, no adapter.",
  rag: "Retrieves your documents and cites them; base model voice.",
  ft: "The fine-tuned adapter (brand voice) without documents.",
  hybrid: "Retrieved documents + the fine-tuned adapter.",
};

const LATENCY_STAGES = [
  ["retrieval", "Retrieval"],
  ["prompt", "Prompt"],
  ["ttft", "First token"],
  ["generation", "Generation"],
];

/** A mode badge, e.g. <span class="badge mode-rag">rag</span>. */
export function modeBadge(mode) {
  return h("span", { class: `badge mode-${mode || "unknown"}` }, mode || "?");
}

/** Open the source dialog for one citation; focus returns to `trigger` when it closes. */
/** "p. 12", "pp. 12–13" (a chunk across a page end) or "" for a citation without pages. */
export function pageLabel(citation) {
  if (citation.page == null) return "";
  return citation.page_end != null && citation.page_end !== citation.page
    ? `pp. ${citation.page}–${citation.page_end}` : `p. ${citation.page}`;
}

export function showSource(citation) {
  const dialog = document.getElementById("source-dialog");
  const body = dialog.querySelector(".source-body");
  const title = citation.title || citation.doc_id || "Untitled document";
  dialog.querySelector("#source-title").textContent = `[${citation.marker}] ${title}`;
  const sourceLink = /^https?:\/\//.test(citation.source || "")
    ? h("a", { href: citation.source, target: "_blank", rel: "noopener noreferrer" }, citation.source)
    : citation.source || "–";
  setChildren(body,
    h("dl", { class: "facts" },
      h("dt", {}, "Document"), h("dd", {}, h("code", {}, citation.doc_id || "–")),
      h("dt", {}, "Chunk"), h("dd", {}, h("code", {}, citation.chunk_id ?? "–")),
      citation.section ? [h("dt", {}, "Section"), h("dd", {}, citation.section)] : null,
      citation.page != null ? [h("dt", {}, "Page"), h("dd", {}, pageLabel(citation).replace(/^pp?\. /, ""))] : null,
      h("dt", {}, "Source"), h("dd", { class: "break" }, sourceLink),
      h("dt", {}, "Score"), h("dd", {}, Number.isFinite(citation.score) ? citation.score.toFixed(3) : "–"),
    ),
    h("h3", { class: "chunk-heading" }, "Retrieved text"),
    h("blockquote", { class: "chunk-text" }, citation.text || "(no text)"),
  );
  dialog.showModal();
}

/** The answer text with each [n] that has a citation turned into a button. */
function answerWithMarkers(answer, citations) {
  const byMarker = new Map((citations || []).map((c) => [Number(c.marker), c]));
  const parts = [];
  const pattern = /\[(\d+)\]/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(answer)) !== null) {
    const citation = byMarker.get(Number(match[1]));
    if (!citation) continue;
    parts.push(answer.slice(last, match.index));
    parts.push(citationButton(citation, "cite"));
    last = match.index + match[0].length;
  }
  parts.push(answer.slice(last));
  return parts;
}

function citationButton(citation, className) {
  const title = citation.title || citation.doc_id || "source";
  return h("button", {
    type: "button",
    class: className,
    "aria-label": `Source ${citation.marker}: ${title}`,
    title: `${title} (${citation.doc_id || ""})`,
    onclick: () => showSource(citation),
  }, className === "cite" ? String(citation.marker) : `[${citation.marker}]`);
}

function sourcesList(citations) {
  if (!citations || citations.length === 0) return null;
  const anyCited = citations.some((c) => c.cited);
  return h("div", { class: "sources" },
    h("h4", {}, "Sources", h("span", { class: "muted small" }, ` · ${citations.length} retrieved${anyCited ? `, ${citations.filter((c) => c.cited).length} cited` : ""}`)),
    h("ol", {},
      citations.map((c) => h("li", { class: anyCited && !c.cited ? "source-uncited" : null },
        citationButton(c, "source-marker"),
        h("div", { class: "source-main" },
          h("span", { class: "source-title" }, c.title || c.doc_id || "Untitled"),
          c.cited ? h("span", { class: "cited-tag" }, " cited") : null,
          h("div", { class: "source-sub muted small" },
            c.section && c.section !== c.title ? `${c.section} · ` : "",
            c.page != null ? `${pageLabel(c)} · ` : "", h("code", {}, c.doc_id || ""))),
        Number.isFinite(c.score) ? h("span", { class: "score", title: "retrieval score" }, c.score.toFixed(2)) : null,
      )),
    ),
  );
}

/** "self_hosted" / "per_model:NAME" in words. */
export function describePriceSource(source) {
  if (!source) return null;
  if (source === "self_hosted") return "self-hosted estimate (engine time × machine $/hour)";
  if (source.startsWith("per_model:")) return `configured price for ${source.slice(10)} ($ per 1M tokens)`;
  return source;
}

/** A stacked bar: segments [{key, label, value}], each labelled in a legend. */
function stackedBar(segments, formatter, ariaLabel) {
  const total = segments.reduce((sum, s) => sum + Math.max(s.value || 0, 0), 0);
  const bar = h("div", { class: "stack", role: "img", "aria-label": ariaLabel },
    segments.map((s) => h("span", {
      class: `seg seg-${s.key}`,
      style: { width: total > 0 ? `${(Math.max(s.value || 0, 0) / total) * 100}%` : "0%" },
      title: `${s.label}: ${formatter(s.value)}`,
    })));
  const legend = h("ul", { class: "legend" },
    segments.map((s) => h("li", {},
      h("span", { class: `dot seg-${s.key}`, "aria-hidden": "true" }),
      `${s.label} `, h("strong", {}, formatter(s.value)))));
  return [bar, legend];
}

/** Latency by stage, tokens by kind and cost of one response. */
export function metricsPanel(result) {
  const latency = result.latency_ms || {};
  const usage = result.usage || {};
  const cost = result.cost || {};
  const template = Math.max((usage.prompt_tokens || 0) - (usage.question_tokens || 0) - (usage.context_tokens || 0), 0);
  const latencySegments = LATENCY_STAGES.map(([key, label]) => ({ key, label, value: latency[key] }))
    .filter((s) => Number.isFinite(s.value));
  const tokenSegments = [
    { key: "question", label: "Question", value: usage.question_tokens },
    { key: "context", label: "Context", value: usage.context_tokens },
    { key: "template", label: "Template", value: template },
    { key: "completion", label: "Answer", value: usage.completion_tokens },
  ];
  return h("div", { class: "metrics" },
    h("section", { class: "metric", "aria-label": "Latency by stage" },
      h("h4", {}, "Latency ", h("span", { class: "metric-total" }, fmtMs(latency.total))),
      stackedBar(latencySegments, fmtMs, `Latency: total ${fmtMs(latency.total)}`)),
    h("section", { class: "metric", "aria-label": "Tokens by kind" },
      h("h4", {}, "Tokens ", h("span", { class: "metric-total" }, fmtInt(usage.total_tokens))),
      stackedBar(tokenSegments, fmtInt, `Tokens: total ${fmtInt(usage.total_tokens)}`)),
    h("section", { class: "metric", "aria-label": "Cost" },
      h("h4", {}, "Cost ", h("span", { class: "metric-total" }, fmtUsd(cost.usd))),
      h("ul", { class: "legend" },
        h("li", {}, "Input ", h("strong", {}, fmtUsd(cost.input_usd))),
        h("li", {}, "Output ", h("strong", {}, fmtUsd(cost.output_usd))),
        h("li", {}, "Per 1,000 answers ", h("strong", {}, fmtUsd((cost.usd || 0) * 1000))),
      ),
      cost.price_source ? h("p", { class: "muted small" }, `Price: ${describePriceSource(cost.price_source)}`) : null),
  );
}

const SVG_NS = "http://www.w3.org/2000/svg";
const THUMB_PATH = "M7 10v11H3V10h4zm2 11h8.3a2 2 0 0 0 2-1.6l1.6-7A2 2 0 0 0 19 10h-5.2l.8-3.9A2 2 0 0 0 12.7 4L9 10v11z";

/** A thumbs-up (or, flipped, thumbs-down) icon; no emoji font needed. */
function thumbIcon(down) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", `icon${down ? " flip" : ""}`);
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", THUMB_PATH);
  svg.append(path);
  return svg;
}

/** Good/bad and resolved controls that store feedback for `requestId` through /v1/feedback. */
export function feedbackControls(requestId) {
  let rating = null;
  const status = h("span", { class: "feedback-status", role: "status", "aria-live": "polite" });
  const good = h("button", { type: "button", class: "fb fb-good", "aria-pressed": "false" }, thumbIcon(false), "Good");
  const bad = h("button", { type: "button", class: "fb fb-bad", "aria-pressed": "false" }, thumbIcon(true), "Bad");
  const resolvedBox = h("input", { type: "checkbox", class: "fb-resolved" });
  const resolvedLabel = h("label", { class: "fb-resolved-label" }, resolvedBox, " Resolved my question");
  // a better answer written by the rater (kept as training data where the tenant keeps exchanges)
  const correctionBox = h("textarea", { class: "fb-correction", rows: "3", maxlength: "8000", "aria-label": "A better answer" });
  const correctionSave = h("button", { type: "button", class: "fb fb-correction-save" }, "Send correction");
  const correction = h("details", { class: "fb-correction-box" }, h("summary", {}, "Suggest a better answer"), correctionBox, correctionSave);

  async function submit() {
    good.setAttribute("aria-pressed", String(rating === 1));
    bad.setAttribute("aria-pressed", String(rating === -1));
    status.textContent = "Saving…";
    status.className = "feedback-status";
    try {
      const body = { request_id: requestId, rating, resolved: resolvedBox.checked };
      if (correctionBox.value.trim()) body.correction = correctionBox.value.trim();
      await postJson("/v1/feedback", body);
      status.textContent = "Feedback saved";
      status.classList.add("ok");
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
      status.classList.add("bad");
    }
  }
  good.addEventListener("click", () => { rating = 1; submit(); });
  bad.addEventListener("click", () => { rating = -1; submit(); });
  resolvedBox.addEventListener("change", () => {
    if (rating === null) rating = resolvedBox.checked ? 1 : -1;
    submit();
  });
  correctionSave.addEventListener("click", () => {
    if (!correctionBox.value.trim()) return;
    if (rating === null) rating = -1;
    submit();
  });
  return h("div", { class: "feedback", role: "group", "aria-label": "Feedback on this answer" },
    h("span", { class: "muted small" }, "Was this helpful?"), good, bad, resolvedLabel, correction, status);
}

/** The header line of an answer: mode (and what auto chose), adapter. */
function answerHeader(result, requestedMode) {
  const asked = result.requested_mode || requestedMode;
  return h("div", { class: "answer-head" },
    asked === "auto" ? [h("span", { class: "badge mode-auto" }, "auto"), h("span", { class: "muted", "aria-label": "chose" }, "→")] : null,
    modeBadge(result.mode),
    result.adapter ? h("span", { class: "badge adapter" }, `adapter ${result.adapter}`) : null,
    result.model && !result.adapter ? h("span", { class: "muted small" }, result.model) : null,
  );
}

/**
 * A card for a streamed or finished answer. Returns {el, appendDelta(text), finish(result), fail(error)}.
 * `options.feedback` (default true) adds the feedback controls once the answer is complete.
 */
export function answerCard(requestedMode, options = {}) {
  const head = h("div", { class: "answer-head" }, modeBadge(requestedMode), h("span", { class: "muted small" }, "thinking…"));
  const text = h("div", { class: "answer-text", "aria-live": "polite", "aria-busy": "true" });
  const el = h("article", { class: "answer pending", "aria-label": `Answer (${requestedMode})` }, head, text);
  let streamed = "";
  return {
    el,
    appendDelta(delta) {
      streamed += delta;
      text.textContent = streamed;
    },
    finish(result) {
      el.classList.remove("pending");
      el.dataset.mode = result.mode || requestedMode;
      el.dataset.requestId = result.id || "";
      head.replaceWith(answerHeader(result, requestedMode));
      const answer = result.answer ?? streamed;
      setChildren(text, answer ? answerWithMarkers(answer, result.citations) : h("em", { class: "muted" }, "(empty answer)"));
      text.setAttribute("aria-busy", "false");
      if (result.refused) {
        el.append(h("p", { class: "refused-note" }, "Nothing relevant was found in the documents, so ragtune said it does not know instead of guessing."));
      }
      el.append(sourcesList(result.citations) || h("p", { class: "muted small no-sources" },
        result.mode === "rag" || result.mode === "hybrid" ? "No relevant sources found." : "No documents used in this mode."));
      el.append(metricsPanel(result));
      if (options.feedback !== false && result.id) el.append(feedbackControls(result.id));
    },
    stopped() {
      el.classList.remove("pending");
      head.querySelector(".muted")?.remove();
      text.setAttribute("aria-busy", "false");
      if (!streamed) setChildren(text, h("em", { class: "muted" }, "(stopped before the first word)"));
      el.append(h("p", { class: "muted small" }, "Stopped. A stopped answer has no sources, timing or cost."));
    },
    fail(error) {
      el.classList.remove("pending");
      el.classList.add("failed");
      head.querySelector(".muted")?.remove();
      text.setAttribute("aria-busy", "false");
      setChildren(text, h("div", { class: "error-box", role: "alert" }, h("strong", {}, "Error: "), error.message));
    },
  };
}
