// ragtune's web page: routing between the views, the API key dialog and the gateway status.

import { applyAccess, hiddenByRole } from "./js/access.js";
import { getApiKey, getJson, onUnauthorized, setApiKey } from "./js/api.js";
import { initAdapters } from "./js/adapters.js";
import { refreshCatalog } from "./js/catalog.js";
import { initChat } from "./js/chat.js";
import { initCompare } from "./js/compare.js";
import { initDocuments } from "./js/documents.js";
import { initKpi } from "./js/kpi.js";
import { initRate } from "./js/rate.js";
import { h, toast } from "./js/dom.js";

const VIEWS = ["chat", "compare", "documents", "adapters", "rate", "kpi"];
const loaders = {};

/** Show the view named in the URL hash (#chat by default). */
function route() {
  const wanted = location.hash.slice(1);
  const name = VIEWS.includes(wanted) && !hiddenByRole(document.getElementById(`view-${wanted}`)) ? wanted : "chat";
  for (const view of VIEWS) {
    document.getElementById(`view-${view}`).hidden = view !== name;
    const link = document.querySelector(`nav a[href="#${view}"]`);
    if (view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `ragtune · ${name === "kpi" ? "KPIs" : `${name[0].toUpperCase()}${name.slice(1)}`}`;
  // a role-gated view loads once GET /v1/whoami has answered (no 403 before the page knows the roles)
  const gate = document.getElementById(`view-${name}`).dataset.needs;
  const known = !gate || document.body.dataset[`can${gate[0].toUpperCase()}${gate.slice(1)}`] !== undefined;
  if (loaders[name] && known) loaders[name]();
}

/** The API key dialog: opened from the header, or by any 401 answer. */
function initKeyDialog() {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const reason = document.getElementById("key-reason");
  const button = document.getElementById("key-button");
  const showState = () => {
    button.textContent = getApiKey() ? "API key ✓" : "API key";
    button.setAttribute("aria-label", getApiKey() ? "API key (set): change it" : "API key (none): enter one");
  };
  const open = (why) => {
    reason.textContent = why || "Enter the key your gateway administrator gave you. It is kept in this browser only.";
    input.value = getApiKey();
    if (!dialog.open) dialog.showModal();
    input.focus();
  };
  button.addEventListener("click", () => open());
  dialog.querySelector("form").addEventListener("submit", (event) => {
    const action = event.submitter ? event.submitter.value : "save";
    if (action === "cancel") return;
    setApiKey(action === "clear" ? "" : input.value.trim());
    showState();
    toast(action === "clear" ? "API key removed from this browser." : "API key saved in this browser.", "ok");
    refreshCatalog().catch(() => {});
    applyAccess().then(route);
  });
  let lastPrompt = 0;
  onUnauthorized((error) => {
    if (Date.now() - lastPrompt < 1500 || dialog.open) return;
    lastPrompt = Date.now();
    open(`This gateway requires an API key. ${error.message}`);
  });
  showState();
}

/** Poll /healthz and show it in the header (200 ok, 503 degraded; both carry the same body). With
 * `detail=true` an admin key (or the keyless local user) gets the engine and index detail; any
 * other caller gets the ready flags only. */
async function updateHealth() {
  const pill = document.getElementById("health");
  let body;
  try {
    const key = getApiKey();
    const headers = { Accept: "application/json", ...(key ? { Authorization: `Bearer ${key}` } : {}) };
    let response = await fetch("/healthz?detail=true", { headers });
    if (response.status === 401) response = await fetch("/healthz", { headers: { Accept: "application/json" } });
    body = await response.json();
  } catch {
    pill.className = "health bad";
    pill.textContent = "gateway unreachable";
    pill.title = "The page cannot reach the gateway.";
    return;
  }
  const engine = body.engine || {};
  const index = body.index || {};
  const ok = body.status === "ok";
  pill.className = `health ${ok ? "ok" : "warn"}`;
  const detail = [engine.kind, engine.base_model, Number.isFinite(index.documents) ? `${index.documents} docs` : null]
    .filter(Boolean).join(" · ");
  pill.replaceChildren(h("span", {}, ok ? "ready" : "degraded"), detail ? h("span", { class: "health-detail" }, `\u00a0· ${detail}`) : "");
  const problems = [engine.ready === false ? `engine: ${engine.detail || "not ready"}` : null,
    index.ready === false ? `index: ${index.detail || "not ready"}` : null].filter(Boolean);
  pill.title = problems.length ? problems.join("\n") : `engine ${engine.kind || "?"} ready; index ready`;
}

function initDialogs() {
  for (const dialog of document.querySelectorAll("dialog.closable")) {
    dialog.querySelector(".dialog-close")?.addEventListener("click", () => dialog.close());
    // a click on the backdrop closes the dialog
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
  }
}

function main() {
  initDialogs();
  initKeyDialog();
  initChat();
  initCompare();
  loaders.documents = initDocuments();
  loaders.adapters = initAdapters();
  loaders.rate = initRate();
  loaders.kpi = initKpi();
  window.addEventListener("hashchange", route);
  route();
  applyAccess().then(route); // hide what this key may not do (GET /v1/whoami)
  refreshCatalog().catch((error) => {
    if (error.status !== 401) toast(`Could not load the models: ${error.message}`, "error");
  });
  updateHealth();
  setInterval(updateHealth, 30000);
  document.body.dataset.ready = "true";
}

main();
