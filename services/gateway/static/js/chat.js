// The chat view: pick a mode and adapter, ask, watch the answer stream in with its sources and costs.

import { streamChat } from "./api.js";
import { MODE_INFO, answerCard } from "./answer.js";
import { catalog, fillAdapterSelect, subscribe } from "./catalog.js";
import { h, toast } from "./dom.js";

const NO_ADAPTER = new Set(["base", "rag"]);

/** Wire up the chat view's form and conversation log. */
export function initChat() {
  const form = document.getElementById("chat-form");
  const question = document.getElementById("chat-question");
  const mode = document.getElementById("chat-mode");
  const adapter = document.getElementById("chat-adapter");
  const modeHelp = document.getElementById("chat-mode-help");
  const log = document.getElementById("chat-log");
  const empty = document.getElementById("chat-empty");
  const send = form.querySelector("button[type=submit]");
  const stop = document.getElementById("chat-stop");
  let busy = false;
  let controller = null;
  stop.addEventListener("click", () => controller?.abort());

  fillAdapterSelect(adapter);
  // base and rag run without an adapter; ft and hybrid use the chosen one (or the gateway's default)
  const describeMode = () => {
    modeHelp.textContent = MODE_INFO[mode.value] || "";
    const usesAdapter = !NO_ADAPTER.has(mode.value);
    adapter.disabled = !usesAdapter;
    const none = adapter.querySelector("option[value='']");
    if (none) {
      none.textContent = !usesAdapter ? "not used in this mode" : catalog().adapters.length ? "gateway default" : "none available";
    }
    if (!usesAdapter) adapter.value = "";
  };
  mode.addEventListener("change", describeMode);
  subscribe(describeMode);

  document.querySelectorAll("[data-sample-question]").forEach((button) => {
    button.addEventListener("click", () => {
      question.value = button.dataset.sampleQuestion;
      question.focus();
    });
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
    if (!text) {
      toast("Type a question first.", "info");
      question.focus();
      return;
    }
    if (busy) return;
    busy = true;
    send.disabled = true;
    send.hidden = true;
    stop.hidden = false;
    controller = new AbortController();
    empty.hidden = true;
    const body = { question: text, mode: mode.value };
    if (adapter.value && !NO_ADAPTER.has(mode.value)) body.adapter = adapter.value;
    const topK = Number(document.getElementById("chat-top-k").value);
    const maxTokens = Number(document.getElementById("chat-max-tokens").value);
    const namespace = document.getElementById("chat-namespace").value.trim();
    if (topK) body.top_k = topK;
    if (maxTokens) body.max_tokens = maxTokens;
    if (namespace) body.namespace = namespace;
    const style = document.getElementById("chat-style").value.trim();
    if (style) body.style = style;

    const card = answerCard(mode.value);
    const turn = h("li", { class: "turn" },
      h("div", { class: "question-bubble" }, h("span", { class: "visually-hidden" }, "You asked: "), text),
      card.el);
    log.append(turn);
    question.value = "";
    turn.scrollIntoView({ block: "end", behavior: "smooth" });
    try {
      const result = await streamChat(body, { onDelta: (d) => card.appendDelta(d), signal: controller.signal });
      card.finish(result);
    } catch (error) {
      if (error.name === "AbortError") card.stopped();
      else card.fail(error);
    } finally {
      busy = false;
      controller = null;
      stop.hidden = true;
      send.hidden = false;
      send.disabled = false;
      turn.scrollIntoView({ block: "nearest" });
      question.focus();
    }
  });
}
